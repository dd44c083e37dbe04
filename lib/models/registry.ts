// The model registry: every model the library trains, by name, and the resolution of a run's settings
// (the paper's preset for the dataset, or the documented defaults, then the user's options, each validated).
import { DgcError } from '../tensor';
import type { ModelInput, ModelSpec, OptionSpec, ResolvedOptions } from './types';
import { dfcnSpec } from './dfcn';
import { aeSpec, sdcnSpec } from './sdcn';
import { decModelSpec, idecModelSpec } from './dec';
import { dccfSpec } from './dccf';
import { agcnSpec } from './agcn';
import { caegcnSpec } from './caegcn';
import { cdcSpec } from './cdc';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnySpec = ModelSpec<any, any>;

const MODELS: AnySpec[] = [dfcnSpec, sdcnSpec, aeSpec, decModelSpec, idecModelSpec, dccfSpec, agcnSpec, caegcnSpec, cdcSpec];

/** Adds a model to the registry (the built-in models register themselves here; a user's model may too). */
export function registerModel<I extends ModelInput, P extends ResolvedOptions>(spec: ModelSpec<I, P>): void {
  if (MODELS.some((m) => m.name === spec.name)) throw new DgcError('DGC_ARG', `registerModel: a model named '${spec.name}' is already registered`);
  // 'all' names every model in `dgclust reproduce all --tables-only`.
  if (spec.name === 'all') throw new DgcError('DGC_ARG', "registerModel: the name 'all' is reserved (dgclust reproduce all)");
  MODELS.push(spec as AnySpec);
}

export function modelNames(): string[] {
  return MODELS.map((m) => m.name);
}

export function models(): readonly AnySpec[] {
  return MODELS;
}

export function getModel(name: string): AnySpec {
  const m = MODELS.find((s) => s.name === name);
  if (!m) throw new DgcError('DGC_ARG', `unknown model '${name}' (known: ${modelNames().join(', ')})`);
  return m;
}

/** Checks one option value against its spec; returns the value converted (CLI strings → numbers/booleans). */
export function checkOption(model: string, name: string, spec: OptionSpec, value: unknown): unknown {
  const bad = (what: string) => new DgcError('DGC_ARG', `${model}: option '${name}' ${what}, got ${JSON.stringify(value)}`);
  let v = value;
  if (spec.type === 'number' || spec.type === 'integer') {
    if (typeof v === 'string' && v.trim() !== '') v = Number(v);
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad('must be a number');
    if (spec.type === 'integer' && !Number.isInteger(v)) throw bad('must be an integer');
    if (spec.min !== undefined && (spec.exclusiveMin ? !(v > spec.min) : !(v >= spec.min))) throw bad(`must be ${spec.exclusiveMin ? '>' : '>='} ${spec.min}`);
    if (spec.max !== undefined && !(v <= spec.max)) throw bad(`must be <= ${spec.max}`);
    return v;
  }
  if (spec.type === 'boolean') {
    if (v === 'true' || v === '1' || v === 'yes') return true;
    if (v === 'false' || v === '0' || v === 'no') return false;
    if (typeof v !== 'boolean') throw bad('must be true or false');
    return v;
  }
  if (typeof v !== 'string') throw bad('must be a string');
  if (spec.choices && !spec.choices.includes(v)) throw bad(`must be one of ${spec.choices.join(', ')}`);
  return v;
}

export interface ResolvedSettings<P> {
  settings: P;
  /** The dataset whose preset was used, or null when the model's documented defaults applied. */
  preset: string | null;
  /** Said to the user: which preset or defaults, and what was overridden. */
  note: string;
}

/** The preset for `dataset` (or the defaults) with `overrides` applied, every override validated by name. */
export function resolveSettings<P extends ResolvedOptions>(spec: ModelSpec<ModelInput, P>, dataset: string,
                                                          overrides: Record<string, unknown> = {}): ResolvedSettings<P> {
  const preset = Object.prototype.hasOwnProperty.call(spec.presets, dataset) ? dataset : null;
  const base = preset ? spec.presets[preset] : spec.defaults;
  const settings = { ...base } as P;
  const changed: string[] = [];
  // In the order of the model's option table, whatever order the options came in.
  const order = Object.keys(spec.options);
  const entries = Object.entries(overrides).sort(([a], [b]) => order.indexOf(a) - order.indexOf(b));
  for (const [name, value] of entries) {
    if (value === undefined) continue;
    const o = spec.options[name];
    if (!o) {
      throw new DgcError('DGC_ARG', `${spec.name}: no option '${name}' (its options: ${Object.keys(spec.options).join(', ')})`);
    }
    (settings as Record<string, unknown>)[name] = checkOption(spec.name, name, o, value);
    changed.push(`${name} = ${JSON.stringify((settings as Record<string, unknown>)[name])}`);
  }
  const note = (preset ? `${spec.name}'s preset for '${preset}'` : `no ${spec.name} preset for '${dataset}': the documented defaults`) +
    (changed.length ? `, with ${changed.join(', ')}` : '');
  return { settings, preset, note };
}
