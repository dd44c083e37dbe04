// `dgclust train --model X (--dataset NAME | --features FILE [--labels FILE] [--graph FILE]) [model options]`:
// any registry model on a registry dataset or the user's files, over one or more seeds; a table of ACC / NMI /
// ARI / F1 (final epoch: label-free; best epoch and the paper's protocol: selected with labels) beside the
// paper's numbers, and optionally a JSON report (README: "RUN.json") with each run's embedding as .npy.
// `dgclust models`: the registry (models, the datasets each has presets for, the paper's rows).
import * as fs from 'fs';
import * as path from 'path';
import { loadDatasetAsync, dataDirs } from '../data/registry';
import { loadUserData } from '../data/user';
import { writeNpy } from '../data/npy';
import { writeFileAtomic } from '../io/files';
import { fromDataset } from '../models/types';
import type { ClusteringData, OptionSpec } from '../models/types';
import { getModel, models, modelNames, resolveSettings } from '../models/registry';
import { loadNpyCheckpoint } from '../io/npy-checkpoint';
import { loadState } from '../io/state';
import { readCheckpointMeta } from '../io/checkpoint';
import { trainModel, reportJson, summarize } from '../train/run';
import { runFileContent, runJsonText } from '../report/run-file';
import type { TrainModelRequest } from '../train/run';
import { native, packageRoot } from '../native';
import type { Device, Tensor } from '../tensor';
import * as ops from '../ops';

export class CliError extends Error {}

/** camelCase model option → its --kebab-case flag. */
export const flagOf = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The model options of every registry model, by flag: one flag may serve several models. */
export function modelOptionFlags(): Map<string, { option: string; spec: OptionSpec; models: string[] }> {
  const out = new Map<string, { option: string; spec: OptionSpec; models: string[] }>();
  for (const m of models()) {
    for (const [name, spec] of Object.entries(m.options)) {
      const flag = flagOf(name);
      const e = out.get(flag);
      if (e) e.models.push(m.name);
      else out.set(flag, { option: name, spec, models: [m.name] });
    }
  }
  return out;
}

/**
 * A library message with a model's options named as the command line spells them: the registry and the trainer
 * say "option 'knnK'" / "setting 'knnK'" (the API's names); on the command line that is option '--knn-k'.
 */
export function withFlagNames(message: string, options: Record<string, OptionSpec>): string {
  return message.replace(/(?:option|setting) '([A-Za-z0-9]+)'/g, (all, name: string) => (name in options ? `option '--${flagOf(name)}'` : all));
}

/** A model's refusal of an option value, as a usage error naming the flag. */
export function optionError(e: unknown, options: Record<string, OptionSpec>): CliError {
  return new CliError(withFlagNames((e as Error).message, options));
}

/** The train command's own (non-model) options. */
export const TRAIN_FLAGS = [
  'model', 'dataset', 'data-dir', 'features', 'labels', 'graph', 'clusters', 'member', 'preset', 'seeds', 'seed', 'init',
  'backend', 'threads', 'json', 'save', 'pretrain-cache', 'checkpoint', 'checkpoint-every', 'resume',
] as const;

export type TrainCliOptions = Record<string, string | number | undefined>;

/** The folder of a dataset's official DFCN pretrained weights in the data folders, or null. */
export function officialWeightsDir(dataset: string, dataDir?: string): string | null {
  for (const dir of dataDirs({ dataDir })) {
    const p = path.join(dir, 'pretrained', 'dfcn', dataset, 'pretrain');
    if (fs.existsSync(path.join(p, 'manifest.json'))) return p;
  }
  return null;
}

export function pickDevice(backend: string): Device {
  const cudaInfo = native.backends().find((b) => b.name === 'cuda');
  if (backend === 'cpu') return 'cpu';
  if (backend === 'cuda') {
    if (!cudaInfo?.available) throw new CliError(`--backend cuda: CUDA is not available (${cudaInfo?.reason ?? 'unknown reason'})`);
    return 'cuda';
  }
  if (backend === 'auto') return cudaInfo?.available ? 'cuda' : 'cpu';
  throw new CliError(`option '--backend' must be cpu, cuda or auto, got '${backend}'`);
}

const pct = (x: number): string => (100 * x).toFixed(2);

function summaryRow(label: string, runs: ({ acc: number; nmi: number; ari: number; f1: number } | undefined)[]): string | null {
  const s = summarize(runs);
  if (!s) return null;
  const cell = (k: 'acc' | 'nmi' | 'ari' | 'f1') => (runs.length > 1 ? `${pct(s[k].mean)} ± ${pct(s[k].std)}` : pct(s[k].mean));
  return `| ${label} | ${cell('acc')} | ${cell('nmi')} | ${cell('ari')} | ${cell('f1')} |`;
}

export interface TrainCliHooks {
  /** Progress: epochs done and total over the whole command (all seeds, all phases). */
  progress?: (done: number, total: number, text: string) => void;
  writeJson?: (file: string, text: string) => void;
  /** Each seed's final embedding, in memory (for the report of a run without --json, which writes no .npy). */
  embeddings?: (bySeed: Map<number, { rows: number; cols: number; data: Float32Array }>) => void;
}

/** The data of a train command: a registry dataset, or the user's files. */
export async function cliData(o: TrainCliOptions, modelName: string): Promise<ClusteringData> {
  const spec = getModel(modelName);
  if (o.features !== undefined) {
    if (o.dataset !== undefined) throw new CliError("give either '--dataset' or '--features', not both");
    try {
      return loadUserData({
        features: String(o.features), labels: o.labels as string | undefined, graph: o.graph as string | undefined,
        clusters: o.clusters as number | undefined, member: o.member as string | undefined,
      });
    } catch (e) {
      // A missing or contradictory --clusters is a usage error; file problems stay DGC_DATA errors.
      if ((e as { code?: string }).code === 'DGC_ARG') throw new CliError((e as Error).message);
      throw e;
    }
  }
  for (const f of ['labels', 'graph', 'clusters', 'member']) {
    if (o[f] !== undefined) throw new CliError(`option '--${f}' goes with '--features' (the user's files), not with '--dataset'`);
  }
  const name = String(o.dataset ?? 'acm');
  // SDCN's kNN datasets come with graphs for k = 1, 3, 5, 10; a model's preset says which it uses.
  const preset = (spec.presets[name] ?? spec.defaults) as Record<string, unknown>;
  const k = typeof preset.datasetKnnK === 'number' ? preset.datasetKnnK : typeof preset.knnK === 'number' && [1, 3, 5, 10].includes(preset.knnK) ? preset.knnK : 3;
  const ds = await loadDatasetAsync(name, { dataDir: o['data-dir'] as string | undefined, knnK: k });
  return fromDataset(ds);
}

/**
 * Model options given on the command line, by option name (only those the chosen model has). `commandFlags` are
 * the command's own options, which are not model options.
 */
export function modelOverrides(o: TrainCliOptions, modelName: string, commandFlags: readonly string[] = TRAIN_FLAGS): Record<string, unknown> {
  const spec = getModel(modelName);
  const flags = modelOptionFlags();
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(o)) {
    if (value === undefined || commandFlags.includes(key)) continue;
    const f = flags.get(key);
    if (!f) throw new CliError(`unknown option '--${key}'`);
    if (!(f.option in spec.options)) {
      throw new CliError(`option '--${key}' does not apply to model '${modelName}' (it is for ${f.models.join(', ')}); ` +
        `${modelName}'s options: ${Object.keys(spec.options).map((n) => `--${flagOf(n)}`).join(' ')}`);
    }
    out[f.option] = value;
  }
  return out;
}

/** The starting weights of `--init` (undefined: own pretraining; DFCN without --init: its official weights when found). */
export function resolveInit(o: TrainCliOptions, modelName: string, dataset: string): TrainModelRequest['init'] | undefined {
  const arg = o.init as string | undefined;
  if (arg === undefined || arg === 'own') {
    if (arg === undefined && modelName === 'dfcn') {
      // DFCN's default start: the official pretrained weights when the data folders hold them.
      const dir = officialWeightsDir(dataset, o['data-dir'] as string | undefined);
      if (dir) return { label: `official pretrained weights (${dir})`, load: (device) => loadNpyCheckpoint(dir, device), strict: o['learnable-alpha'] === undefined || String(o['learnable-alpha']) === 'false' };
      console.error(`no official DFCN weights for '${dataset}' in the data folders: pretraining instead (--init own)`);
    }
    return undefined;
  }
  if (arg === 'official') {
    if (modelName !== 'dfcn') throw new CliError(`--init official: only DFCN has official pretrained weights here; use --init own or a weights file`);
    const dir = officialWeightsDir(dataset, o['data-dir'] as string | undefined);
    if (!dir) throw new CliError(`--init official: no official DFCN weights for '${dataset}' (sought pretrained/dfcn/${dataset}/pretrain/manifest.json in ${dataDirs({ dataDir: o['data-dir'] as string | undefined }).join(', ')})`);
    return { label: `official pretrained weights (${dir})`, load: (device) => loadNpyCheckpoint(dir, device), strict: o['learnable-alpha'] === undefined || String(o['learnable-alpha']) === 'false' };
  }
  const p = path.resolve(arg);
  if (fs.existsSync(path.join(p, 'manifest.json'))) return { label: `weights from ${p}`, load: (device) => loadNpyCheckpoint(p, device) };
  if (fs.existsSync(p) && fs.statSync(p).isFile()) {
    return {
      label: `weights from ${p}`,
      load: (device) => {
        const st = loadState(p);
        if (device === 'cpu') return st;
        const moved = new Map([...st].map(([k, t]) => [k, ops.to(t, device)] as [string, Tensor]));
        for (const t of st.values()) t.dispose();
        return moved;
      },
    };
  }
  throw new CliError(`--init ${arg}: neither a state file nor a folder with manifest.json (give own, official, a .dgcstate file or a folder of .npy files with manifest.json)`);
}

/**
 * `dgclust train`: trains, prints the table, writes --json (and each seed's embedding beside it) when asked, and
 * returns the run as the JSON holds it (what `dgclust report` draws; without --json it has no embedding files).
 */
export async function trainCommand(o: TrainCliOptions, hooks: TrainCliHooks = {}): Promise<ReturnType<typeof reportJson>> {
  const modelName = String(o.model ?? 'dfcn');
  if (!modelNames().includes(modelName)) throw new CliError(`option '--model' must be one of: ${modelNames().join(', ')} (got '${modelName}')`);
  const spec = getModel(modelName);
  for (const [opt, file] of [['json', o.json], ['save', o.save]] as const) {
    if (file && file !== '-' && !fs.existsSync(path.dirname(path.resolve(String(file))))) throw new CliError(`option '--${opt}': the folder of ${file} does not exist`);
  }
  const overrides = modelOverrides(o, modelName);
  if (o.threads !== undefined) native.setNumThreads(Number(o.threads));
  const device = pickDevice(String(o.backend ?? 'auto'));
  let seeds = Number(o.seeds ?? 1);
  let seed0 = Number(o.seed ?? 0);
  if (o['checkpoint-every'] !== undefined && o.checkpoint === undefined) throw new CliError("option '--checkpoint-every' needs '--checkpoint FILE'");
  const every = o.checkpoint !== undefined ? Number(o['checkpoint-every'] ?? 1) : 0;
  if (o.checkpoint !== undefined && !fs.existsSync(path.dirname(path.resolve(String(o.checkpoint))))) {
    throw new CliError(`option '--checkpoint': the folder of ${o.checkpoint} does not exist`);
  }
  if (o.resume !== undefined) {
    // The checkpoint says which seed it is; the model, data and settings are checked against it when it loads.
    const meta = readCheckpointMeta(String(o.resume));
    if (o.seeds !== undefined && seeds !== 1) throw new CliError("option '--resume' continues one run: give no '--seeds' (or 1)");
    if (o.seed !== undefined && Number(o.seed) !== meta.seed) throw new CliError(`option '--seed' is ${o.seed} but ${o.resume} holds the run of seed ${meta.seed}`);
    seed0 = Number(meta.seed);
    seeds = 1;
  }
  // Everything that can be refused without reading data is checked first: the model's options (by name, with
  // their bounds) and the starting weights.
  const expectedName = String(o.preset ?? (o.features !== undefined ? path.basename(String(o.features)).replace(/\.(gz)$/i, '').replace(/\.[^.]+$/, '') : o.dataset ?? 'acm'));
  try {
    resolveSettings(spec, expectedName, overrides);
  } catch (e) {
    throw optionError(e, spec.options);
  }
  const init = resolveInit(o, modelName, expectedName);
  const data = await cliData(o, modelName);
  const presetName = String(o.preset ?? data.name);
  console.error(`${modelName} on ${data.name}: ${data.features.rows} rows, ${data.features.cols} features, ${data.nClusters} clusters` +
    `${data.labels ? '' : ' (no labels: label-free results only)'}; ${device}, ${native.numThreads()} threads; start: ${init?.label ?? 'own pretraining'}`);

  // Progress over the whole command: the first seed's phases give the length of one run.
  let done = 0;
  let perSeed = 0;
  let seedIndex = 0;
  let total = 0;
  const seedList = Array.from({ length: seeds }, (_, i) => seed0 + i);
  const save = o.save ? String(o.save) : undefined;
  let rep: ReturnType<typeof trainModel>;
  try {
    rep = trainModel({
      model: modelName,
      data,
      preset: presetName,
      options: overrides,
      seeds: seedList,
      device,
      init,
      pretrainCache: o['pretrain-cache'] as string | undefined,
      saveFinal: (seed) => (save ? (seeds > 1 ? `${save}.seed${seed}` : save) : undefined),
      checkpoint: o.checkpoint !== undefined ? { file: (seed) => (seeds > 1 ? `${o.checkpoint}.seed${seed}` : String(o.checkpoint)), every } : undefined,
      resume: o.resume as string | undefined,
      callbacks: {
        onPrepared: ({ settingsNote, notes }) => {
          console.error(`settings: ${settingsNote}`);
          for (const note of notes) console.error(`input: ${note}`);
          if (!spec.needsGraph && (o.graph !== undefined || (o.features === undefined && data.edges))) {
            console.error(`input: graph: ${o.graph !== undefined ? String(o.graph) : `${data.name}'s graph`} not used (${modelName} clusters the features alone)`);
          }
        },
        onSeed: (_seed, i, count) => {
          seedIndex = i;
          if (i === 1) total = perSeed * count;
        },
        onPhase: (_phase, epochs) => {
          if (seedIndex === 0) {
            perSeed += epochs;
            total = perSeed * seeds;
          }
        },
        onEpoch: (e) => {
          done++;
          const m = e.metrics ? ` ACC ${pct(e.metrics.acc)}` : '';
          hooks.progress?.(done, Math.max(total, done), `${e.phase} ${e.epoch}/${e.epochs} loss ${(e.losses.total ?? 0).toFixed(4)}${m}`);
        },
        onCheckpoint: (file, where) => console.error(`checkpoint: wrote ${file} (after ${where})`),
        onRun: (r) => {
          const b = r.best ? `, best ACC ${pct(r.best.metrics!.acc)} (epoch ${r.best.epoch})` : '';
          const f = r.final.metrics ? `final ACC ${pct(r.final.metrics.acc)} (epoch ${r.final.epoch})` : `final epoch ${r.final.epoch} (no labels)`;
          console.error(`seed ${r.seed}: ${f}${b}${r.stopped ? `; stopped: ${r.stopped}` : ''}; ` +
            `${r.timings.epochTrainMs.toFixed(0)} ms/epoch + ${r.timings.epochEvalMs.toFixed(0)} ms evaluation`);
        },
      },
    });
  } catch (e) {
    // A checkpoint refused for its settings names them by their API names; here they are the flags typed.
    const err = e as Error & { code?: string };
    if (err.code === 'DGC_DATA' && err.message.startsWith('resume:')) err.message = withFlagNames(err.message, spec.options);
    throw err;
  }

  // The table.
  const runs = rep.runs;
  const readoutName = (r: string) => (r === 'kmeans' ? 'k-means on the embedding' : `argmax ${r.toUpperCase()}`);
  console.log(`${spec.name.toUpperCase()} on ${data.name}, ${runs.length} seed${runs.length > 1 ? 's' : ''} (${seedList[0]}..${seedList[seedList.length - 1]}); ` +
    `${rep.settingsNote}; start: ${rep.init}`);
  console.log('');
  console.log('| result | ACC | NMI | ARI | F1 |');
  console.log('|---|---|---|---|---|');
  const lines: (string | null)[] = [];
  const used = (r: (typeof runs)[number]) => new Set(r.predicted).size;
  if (data.labels) {
    lines.push(summaryRow('initial: k-means on the starting embedding', runs.map((r) => r.initial?.metrics)));
    spec.readouts.forEach((ro: string, i: number) => {
      const tag = i === 0 ? readoutName(ro) : `${readoutName(ro)} (secondary readout)`;
      lines.push(summaryRow(`final epoch, ${tag} (label-free)`, runs.map((r) => r.final.readouts[ro])));
      lines.push(summaryRow(`best epoch by ACC, ${tag} (selected with labels)`, runs.map((r) => r.best?.readouts[ro])));
      if (spec.paperProtocol === 'per-metric-max') {
        lines.push(summaryRow(`max of each metric over epochs, ${tag} (labels; may mix epochs)`, runs.map((r) => r.perMetricMax?.[ro])));
      }
    });
    const paper = spec.paper?.rows[presetName];
    if (paper) {
      const c = (k: 'acc' | 'nmi' | 'ari' | 'f1') => (paper[k] ? `${paper[k]![0].toFixed(2)}${paper[k]![1] !== null ? ` ± ${paper[k]![1]!.toFixed(2)}` : ''}` : '–');
      lines.push(`| paper (${spec.paper!.source}; ${spec.paper!.protocol}) | ${c('acc')} | ${c('nmi')} | ${c('ari')} | ${c('f1')} |`);
    }
  } else {
    // Without labels, the one check left: how many of the K clusters the final labels use.
    lines.push(`| final epoch: ${runs.map((r) => `${r.predicted.length} rows in ${used(r)} of the ${data.nClusters} clusters`).join('; ')} | – | – | – | – |`);
  }
  // Fewer clusters used than asked for is a collapse (e.g. a prediction head that puts every row in one cluster):
  // said in words, with or without labels, not left to be read off a low ACC.
  const collapsed = runs.filter((r) => used(r) < data.nClusters);
  if (collapsed.length) {
    lines.push('', `Fewer clusters than the ${data.nClusters} asked for in the final labels (seed${collapsed.length > 1 ? 's' : ''} ` +
      `${collapsed.map((r) => `${r.seed}: ${used(r)}`).join(', ')}): some clusters are empty at the end of training.`);
  }
  for (const l of lines) if (l !== null) console.log(l);
  console.log('');
  const ms = (f: (r: (typeof runs)[number]) => number) => runs.reduce((a, r) => a + f(r), 0) / Math.max(1, runs.length);
  console.log(`time: ${rep.seconds.toFixed(1)} s in all; ${ms((r) => r.timings.epochTrainMs).toFixed(0)} ms per training epoch ` +
    `+ ${ms((r) => r.timings.epochEvalMs).toFixed(0)} ms per evaluation`);

  const file = o.json ? String(o.json) : null;
  const dir = file === null || file === '-' ? null : path.dirname(path.resolve(file));
  const base = dir === null ? null : path.basename(file!).replace(/\.json(\.gz)?$/i, '');
  const embeddingFile = (seed: number) => (base ? `${base}.seed${seed}.embedding.npy` : null);
  const version = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version as string;
  const json = reportJson(rep, { version, embeddingFile, truth: data.labels });
  hooks.embeddings?.(new Map(runs.flatMap((r) => (r.embedding ? [[r.seed, { rows: r.embedding.rows, cols: r.embedding.cols, data: r.embedding.data }] as const] : []))));
  if (file !== null) {
    if (dir !== null) {
      for (const r of runs) if (r.embedding) writeNpy(path.join(dir, embeddingFile(r.seed)!), r.embedding.data, [r.embedding.rows, r.embedding.cols]);
    }
    // A name ending in .gz gets gzip-compressed JSON; the file is written whole or not at all.
    const write = hooks.writeJson ?? ((f: string, t: string) => (f === '-' ? process.stdout.write(`${t}\n`) : writeFileAtomic(f, runFileContent(f, t))));
    write(file, runJsonText(json));
    if (file !== '-') console.error(`wrote ${file}`);
  }
  return json;
}

/** An option's value as a flag takes it (numbers as written, e.g. 0.00392 for 1/255). */
function showValue(v: unknown): string {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  return v === undefined ? '–' : String(v);
}

/** `dgclust models MODEL`: every option of one model, its bounds, the default and where presets differ from it. */
function modelPage(name: string): void {
  if (!modelNames().includes(name)) throw new CliError(`unknown model '${name}' (known: ${modelNames().join(', ')})`);
  const m = getModel(name);
  console.log(`${m.name}: ${m.title}`);
  console.log(`presets: ${Object.keys(m.presets).join(', ') || '(none)'}; other data: the defaults below (the run says so)`);
  console.log('');
  for (const [key, o] of Object.entries(m.options)) {
    const bounds = o.choices ? o.choices.join('|')
      : o.type === 'boolean' ? 'true|false'
      : [o.type, o.min !== undefined ? `${o.exclusiveMin ? '>' : '>='} ${o.min}` : null, o.max !== undefined ? `<= ${o.max}` : null].filter(Boolean).join(', ');
    const dflt = (m.defaults as Record<string, unknown>)[key];
    // Presets that differ from the default, grouped by value: "0.00392: fmnist, mnist".
    const byValue = new Map<string, string[]>();
    for (const [ds, p] of Object.entries(m.presets)) {
      const v = (p as Record<string, unknown>)[key];
      if (showValue(v) === showValue(dflt)) continue;
      byValue.set(showValue(v), [...(byValue.get(showValue(v)) ?? []), ds]);
    }
    const presets = [...byValue].map(([v, ds]) => `${v} (${ds.join(', ')})`).join('; ');
    console.log(`  --${flagOf(key)} <${bounds}>`);
    console.log(`      ${o.description}`);
    console.log(`      default ${showValue(dflt)}${presets ? `; presets: ${presets}` : ''}`);
  }
}

/** `dgclust models`: every model, its presets and its paper's rows; `dgclust models MODEL`: that model's options. */
export function modelsCommand(name?: string): void {
  if (name !== undefined) {
    modelPage(name);
    return;
  }
  for (const m of models()) {
    console.log(`${m.name}: ${m.title}`);
    console.log(`  presets: ${Object.keys(m.presets).join(', ') || '(none)'}; other data: documented defaults${m.needsGraph ? ' (kNN graph when the data has none)' : ''}`);
    console.log(`  readouts: ${m.readouts.join(', ')}; paper protocol: ${m.paperProtocol}`);
    console.log(`  options (dgclust models ${m.name}: defaults, bounds, presets): ${Object.keys(m.options).map((n) => `--${flagOf(n)}`).join(' ')}`);
    if (m.paper) {
      console.log(`  paper: ${m.paper.source} (${m.paper.protocol})`);
      for (const [ds, row] of Object.entries(m.paper.rows)) {
        const cell = (k: 'acc' | 'nmi' | 'ari' | 'f1') => (row[k] ? `${k.toUpperCase()} ${row[k]![0]}${row[k]![1] !== null ? `±${row[k]![1]}` : ''}` : null);
        console.log(`    ${ds.padEnd(8)} ${(['acc', 'nmi', 'ari', 'f1'] as const).map(cell).filter(Boolean).join('  ')}`);
      }
    }
  }
}
