// The reproduction tables of docs/RESULTS.md, made from the JSON files of runs (one generator for every model).
//
// Input: every RUN.json under a folder (recursively): the per-(dataset, seed) files `dgclust reproduce` writes,
// and the files of `dgclust train --json`, however named and however many seeds each holds (sdcn-acm-s0.json with
// seeds 0–4, dccf-usps-both-s1-1.json, …), including DFCN's files from before the model layer (no per-run
// paperProtocol; `settings.init` 'official' / 'own'; `settings.preset` the preset's values).
//
// Runs are grouped by (model, dataset, variant). The variant is what a run did differently from the paper's
// preset: its start (DFCN's official weights or own pretraining; a weights file) and every model option whose
// value differs from the preset (or the documented defaults for a dataset without one), e.g. `contractive=false`
// or `epochs=2`. So an ablation is a row of its own and a dataset split over several files merges into one row.
// A seed found twice in a group (the same model, dataset, variant and seed in two files) is counted once: the
// copy in the first file by path order is used, and the section says which files held it.
//
// Per group: mean ± sample std over seeds of the paper's protocol (each run's `paperProtocol.metrics`: the
// best-ACC epoch, each metric's maximum over epochs, or the final epoch, named per model), of the final epoch
// (label-free) and of the initial evaluation (k-means on the starting embedding, e.g. AE + k-means), beside the
// paper's row; the gap in ACC; time per epoch; the machine.
//
// The section replaces the text between `<!-- results:<model>:begin -->` and `<!-- results:<model>:end -->`
// in RESULTS.md, so the prose around the markers survives; without the markers, a `## <Model>` section holding
// them is appended.
import * as fs from 'fs';
import * as path from 'path';
import { getModel, modelNames } from '../models/registry';
import { datasetNames, FEATURES_NOT_PUBLIC } from '../data/registry';
import type { ModelSpec, PaperProtocol, PaperRow, PaperVariant } from '../models/types';
import { meanStd } from '../train/loop';
import { upperMedian } from '../train/run';
import { readRunText, validateRun, METRICS } from './run-file';
import type { Metrics, RunRecord } from './run-file';

/** One run (one seed) read from a results file. */
export interface RunEntry {
  model: string;
  dataset: string;
  seed: number;
  variant: Variant;
  /** The number under the paper's protocol, and where it came from. */
  paperProtocol: { rule: PaperProtocol | null; metrics: Metrics | null; derived: boolean };
  final: Metrics | null;
  /** The epoch with the highest ACC of the primary readout (chosen with the labels), its four metrics. */
  best: Metrics | null;
  /** The model's other readouts (argmax Q beside SDCN's argmax Z): final epoch and per-metric maxima, where recorded. */
  secondary: Record<string, { final: Metrics | null; perMetricMax: Metrics | null }>;
  initial: Metrics | null;
  epochTrainMs: number | null;
  epochEvalMs: number | null;
  /**
   * The time the run's epochs took, pretraining included: the sum of every recorded epoch's training and evaluation
   * time (not k-means, loading or preparation). A run resumed from a checkpoint keeps the times of the epochs done
   * before the stop. Null where no epoch recorded a time.
   */
  epochsMs: number | null;
  /** The epoch (or evaluation step) of the final result. */
  finalEpoch: number | null;
  /** Why training stopped early, when a rule stopped it. */
  stopped: string | null;
  /** How many distinct clusters the final labels use, and the data's K, where the file records them. */
  clustersUsed: number | null;
  k: number | null;
  threads: number | null;
  machine: string | null;
  /** The file, relative to the folder read. */
  file: string;
  /** Written before runs carried paperProtocol (DFCN's first files). */
  oldFormat: boolean;
}

export interface Variant {
  /** 'official' (DFCN's published weights), 'own' (pretraining by dgclust), 'file' (a weights file). */
  init: 'official' | 'own' | 'file';
  /** The weights file's name, for init 'file'. */
  initFile?: string;
  /** Options whose value differs from the preset: option name → value. */
  changed: Record<string, unknown>;
  /** A stable key for grouping. */
  key: string;
  /** For people: 'own pretraining, contractive=false'; '' for the preset as the paper runs it. */
  label: string;
}

export interface SkippedFile {
  file: string;
  reason: string;
}

export interface ResultSet {
  runs: RunEntry[];
  skipped: SkippedFile[];
  /** Files read (relative), in the order read. */
  files: string[];
}

const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b || Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b));
  if (typeof a === 'object' || typeof b === 'object') return JSON.stringify(a) === JSON.stringify(b);
  return a === b;
}

/** The start a run's `settings.init` names: 'official' / 'own' (old files), or the label train writes. */
export function parseInit(init: unknown): { init: Variant['init']; initFile?: string } {
  if (init === undefined || init === null) return { init: 'own' };
  const s = String(init);
  if (/^official\b/.test(s)) return { init: 'official' };
  if (/^own\b/.test(s)) return { init: 'own' };
  const m = /^weights from (.*)$/.exec(s);
  return { init: 'file', initFile: path.basename(m ? m[1] : s) };
}

/** The start a model uses when none is asked for (DFCN: its official weights; every other model: its own pretraining). */
export const defaultInit = (model: string): Variant['init'] => (model === 'dfcn' ? 'official' : 'own');

const INIT_LABEL: Record<Variant['init'], string> = { official: 'official weights', own: 'own pretraining', file: 'weights file' };

/**
 * The variant of a run from its settings as RUN.json records them (`preset`: the preset's name or, in old files,
 * its values; `start` / `init`; every model option). A model not in this registry is grouped by its start only.
 */
export function describeVariant(model: string, dataset: string, settings: Record<string, unknown>): Variant {
  const changed: Record<string, unknown> = {};
  let spec: ModelSpec | null = null;
  try {
    spec = getModel(model) as ModelSpec;
  } catch {
    spec = null;
  }
  // The start: `settings.start`; files without it have it in `init`, unless the model has an option of that name
  // (DEC's weight initialisation), whose value then took its place: such files started from own pretraining unless
  // the run was given weights, which they cannot tell.
  const startText = 'start' in settings ? settings.start : spec && 'init' in spec.options ? undefined : settings.init;
  const { init, initFile } = parseInit(startText);
  if (spec) {
    const p = settings.preset;
    const base = (typeof p === 'string' ? spec.presets[p] ?? spec.defaults
      : p === null ? spec.defaults
        : spec.presets[dataset] ?? spec.defaults) as Record<string, unknown>;
    for (const name of Object.keys(spec.options)) {
      if (!(name in settings) || !(name in base)) continue;
      if (!sameValue(settings[name], base[name])) changed[name] = settings[name];
    }
  }
  const parts: string[] = [];
  if (init !== 'own' || defaultInit(model) !== 'own') parts.push(init === 'file' ? `weights ${initFile}` : INIT_LABEL[init]);
  for (const [k, v] of Object.entries(changed)) parts.push(`${kebab(k)}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const key = JSON.stringify([init, initFile ?? null, Object.entries(changed)]);
  return { init, initFile, changed, key, label: parts.join(', ') };
}

/** A file-name fragment for a variant: 'own-pretraining-epochs-2'. */
export function variantSlug(v: Variant): string {
  return v.label.toLowerCase().replace(/[^a-z0-9.]+/g, '-').replace(/^-+|-+$/g, '');
}

/** The machine a run names, as one line. Runs on the CPU name the GEMM's SIMD kernel set (recorded since 2026-12-07): two
 * machines with the same CPU name but other kernel sets round differently, so their runs are not bit-identical. Runs
 * on CUDA (machine.device, recorded since 2026-12-07) lead with the GPU. */
export function machineLine(m: Record<string, unknown> | undefined): string | null {
  if (!m) return null;
  const backends = Array.isArray(m.backends) ? (m.backends as { name?: string; device?: string; kernels?: { gemm?: string } }[]) : [];
  const onGpu = m.device === 'cuda';
  const gpu = onGpu ? `${backends.find((b) => b.name === 'cuda')?.device ?? 'GPU not named'} (CUDA backend)` : null;
  const gemm = onGpu ? undefined : backends.find((b) => b.name === 'cpu')?.kernels?.gemm;
  const parts = [gpu, m.cpu, m.cores !== undefined ? `${m.cores} cores` : null, m.memoryGiB !== undefined ? `${m.memoryGiB} GiB` : null, m.platform,
    m.node ? `Node ${m.node}` : null, gemm ? `${gemm === 'generic' ? 'portable' : gemm.toUpperCase()} GEMM` : null].filter((x) => x !== undefined && x !== null);
  return parts.length ? parts.join(', ') : null;
}

function isMetrics(v: unknown): v is Metrics {
  return typeof v === 'object' && v !== null && METRICS.every((k) => typeof (v as Record<string, unknown>)[k] === 'number');
}

/** The paper's protocol of one run: as recorded, or (old files) derived from what the run recorded. */
function protocolOf(model: string, run: RunRecord & { paperProtocol?: { rule?: PaperProtocol; metrics?: Metrics }; perMetricMax?: Record<string, Metrics> }):
  RunEntry['paperProtocol'] {
  if (run.paperProtocol && run.paperProtocol.rule) {
    return { rule: run.paperProtocol.rule, metrics: isMetrics(run.paperProtocol.metrics) ? run.paperProtocol.metrics : null, derived: false };
  }
  let rule: PaperProtocol | null = null;
  try {
    rule = getModel(model).paperProtocol;
  } catch {
    rule = null;
  }
  if (rule === 'best-acc-epoch') return { rule, metrics: run.best?.metrics ?? null, derived: true };
  if (rule === 'final') return { rule, metrics: run.final?.metrics ?? null, derived: true };
  if (rule === 'per-metric-max' && run.perMetricMax) {
    const first = Object.values(run.perMetricMax)[0];
    return { rule, metrics: isMetrics(first) ? first : null, derived: true };
  }
  return { rule, metrics: null, derived: true };
}

/** The run files under dir (recursively, in name order): *.json and gzip-compressed *.json.gz, not hidden ones. */
function listRunFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  let names: fs.Dirent[];
  try {
    names = fs.readdirSync(path.join(dir, rel), { withFileTypes: true });
  } catch {
    return out;
  }
  for (const d of names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const r = rel ? path.join(rel, d.name) : d.name;
    if (d.isDirectory()) out.push(...listRunFiles(dir, r));
    else if (d.isFile() && /\.json(\.gz)?$/i.test(d.name) && !d.name.startsWith('.')) out.push(r);
  }
  return out;
}

/** Reads one parsed RUN.json into entries (one per run). Throws DGC_DATA naming the file and field when malformed. */
export function entriesOf(value: unknown, file: string): RunEntry[] {
  const r = validateRun(value, file);
  const s = r.settings as Record<string, unknown>;
  const dataset = String(s.dataset ?? r.dataset?.name ?? '?');
  const variant = describeVariant(r.model, dataset, s);
  const machine = machineLine(r.machine);
  const threads = typeof (r.machine as Record<string, unknown> | undefined)?.threads === 'number'
    ? (r.machine as Record<string, number>).threads : typeof s.threads === 'number' ? s.threads : null;
  // The readouts the file names (the first is the primary one, the paper's); older files name none.
  const named = (r as { readouts?: unknown }).readouts;
  const readouts = Array.isArray(named) ? named.filter((x): x is string => typeof x === 'string') : [];
  return r.runs.map((run) => {
    type Extra = { paperProtocol?: { rule?: PaperProtocol; metrics?: Metrics }; perMetricMax?: Record<string, Metrics> };
    const x = run as RunRecord & Extra;
    const finalReadouts = (run.final as { readouts?: Record<string, unknown> } | undefined)?.readouts;
    const secondary: RunEntry['secondary'] = {};
    for (const ro of readouts.slice(1)) {
      const f = finalReadouts?.[ro];
      const m = x.perMetricMax?.[ro];
      secondary[ro] = { final: isMetrics(f) ? f : null, perMetricMax: isMetrics(m) ? m : null };
    }
    return {
      model: r.model,
      dataset,
      seed: run.seed,
      variant,
      paperProtocol: protocolOf(r.model, x),
      final: run.final?.metrics ?? null,
      best: isMetrics(run.best?.metrics) ? run.best.metrics : null,
      secondary,
      initial: isMetrics(run.initial) ? run.initial : null,
      epochTrainMs: typeof run.timings?.epochTrainMs === 'number' ? run.timings.epochTrainMs : null,
      epochEvalMs: typeof run.timings?.epochEvalMs === 'number' ? run.timings.epochEvalMs : null,
      epochsMs: epochsTime(run.epochs),
      finalEpoch: typeof run.final?.epoch === 'number' ? run.final.epoch : null,
      stopped: typeof run.stopped === 'string' ? run.stopped : null,
      clustersUsed: Array.isArray(run.predicted) ? new Set(run.predicted).size : null,
      k: typeof r.dataset?.k === 'number' ? r.dataset.k : null,
      threads,
      machine,
      file,
      oldFormat: x.paperProtocol === undefined,
    };
  });
}

/** The sum of the epochs' recorded training and evaluation times; null when none recorded one. */
function epochsTime(epochs: RunRecord['epochs']): number | null {
  let sum = 0;
  let any = false;
  for (const e of epochs) {
    for (const t of [e.trainMs, e.evalMs]) {
      if (typeof t === 'number' && Number.isFinite(t)) {
        sum += t;
        any = true;
      }
    }
  }
  return any ? sum : null;
}

/**
 * Every run in the JSON files under `dirs` (recursively; a folder listed twice, or inside another listed one, is
 * read once). Files that are not runs of `dgclust train`/`reproduce` (pretrain results, benchmark JSON, broken
 * files) are listed in `skipped` with the reason.
 */
export function loadResults(dirs: string[]): ResultSet {
  const set: ResultSet = { runs: [], skipped: [], files: [] };
  const seen = new Set<string>();
  for (const dir of dirs) {
    if (!fs.existsSync(dir)) continue;
    for (const rel of listRunFiles(dir)) {
      const abs = path.resolve(dir, rel);
      if (seen.has(abs)) continue;
      seen.add(abs);
      const r = path.relative(process.cwd(), abs);
      const name = r && !r.startsWith('..') ? r : abs;
      let text: string;
      try {
        text = readRunText(abs);
      } catch (e) {
        set.skipped.push({ file: name, reason: (e as Error).message.replace(`${abs}: `, '') });
        continue;
      }
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (e) {
        set.skipped.push({ file: name, reason: `not JSON (${(e as Error).message})` });
        continue;
      }
      const cmd = (value as { command?: unknown } | null)?.command;
      if (cmd !== 'train') {
        set.skipped.push({ file: name, reason: cmd === undefined ? 'not a run of dgclust train or reproduce' : `a '${String(cmd)}' result, not a clustering run` });
        continue;
      }
      try {
        set.runs.push(...entriesOf(value, name));
        set.files.push(name);
      } catch (e) {
        set.skipped.push({ file: name, reason: (e as Error).message });
      }
    }
  }
  return set;
}

export interface RunGroup {
  model: string;
  dataset: string;
  variant: Variant;
  /** One entry per seed, in seed order. */
  runs: RunEntry[];
  /** Seeds found in more than one file: the file used and the ones not used. */
  duplicates: { seed: number; used: string; ignored: string[] }[];
}

/** Groups runs by (model, dataset, variant), one entry per seed (the first file in path order wins). */
export function groupRuns(runs: RunEntry[]): RunGroup[] {
  const groups = new Map<string, RunGroup>();
  const sorted = [...runs].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  for (const r of sorted) {
    const key = JSON.stringify([r.model, r.dataset, r.variant.key]);
    let g = groups.get(key);
    if (!g) {
      g = { model: r.model, dataset: r.dataset, variant: r.variant, runs: [], duplicates: [] };
      groups.set(key, g);
    }
    const have = g.runs.find((x) => x.seed === r.seed);
    if (!have) {
      g.runs.push(r);
      continue;
    }
    const d = g.duplicates.find((x) => x.seed === r.seed);
    if (d) d.ignored.push(r.file);
    else g.duplicates.push({ seed: r.seed, used: have.file, ignored: [r.file] });
  }
  for (const g of groups.values()) g.runs.sort((a, b) => a.seed - b.seed);
  return [...groups.values()];
}

// ---- rendering ---------------------------------------------------------------------------------------------

const pct = (x: number): string => (100 * x).toFixed(2);

/** A span of time for people: '42 s', '17 min', '3.4 h'. */
export function duration(ms: number): string {
  const s = ms / 1000;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 2 * 3600) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** A readout for people: 'argmax Q', or k-means on the embedding (DFCN's). */
const readoutWords = (r: string): string => (r === 'kmeans' ? 'k-means on the embedding' : `argmax ${r.toUpperCase()}`);

/** '0–9', '0–2, 5, 7–8'. */
export function seedRanges(seeds: number[]): string {
  const s = [...seeds].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length;) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j] + 1) j++;
    parts.push(j === i ? `${s[i]}` : `${s[i]}–${s[j]}`);
    i = j + 1;
  }
  return parts.join(', ');
}

function statCells(ms: (Metrics | null)[]): { cells: string[]; acc: number | null; n: number } {
  const xs = ms.filter((m): m is Metrics => !!m);
  if (!xs.length) return { cells: METRICS.map(() => '–'), acc: null, n: 0 };
  const cells = METRICS.map((k) => {
    const { mean, std } = meanStd(xs.map((m) => m[k]));
    return xs.length > 1 ? `${pct(mean)} ± ${pct(std)}` : pct(mean);
  });
  return { cells, acc: meanStd(xs.map((m) => m.acc)).mean, n: xs.length };
}

/** Per metric, the upper median over the runs that have the result (as statCells, for papers that report one). */
function medianCells(ms: (Metrics | null)[]): { cells: string[]; acc: number | null; n: number } {
  const xs = ms.filter((m): m is Metrics => !!m);
  if (!xs.length) return { cells: METRICS.map(() => '–'), acc: null, n: 0 };
  return { cells: METRICS.map((k) => pct(upperMedian(xs.map((m) => m[k])))), acc: upperMedian(xs.map((m) => m.acc)), n: xs.length };
}

export const PROTOCOL_WORDS: Record<PaperProtocol, string> = {
  'best-acc-epoch': 'best epoch by ACC (labels select the epoch)',
  'per-metric-max': 'max of each metric over epochs (labels; may mix epochs)',
  final: 'final epoch (no labels)',
};

const PROTOCOL_EXPLAINED: Record<PaperProtocol, string> = {
  'best-acc-epoch': 'per run, the evaluation with the highest ACC and its NMI / ARI / F1 (the labels select the epoch)',
  'per-metric-max': 'per run, the maximum of each metric over the evaluations, each taken separately (the labels select; the four may come from different epochs)',
  final: 'per run, the clustering at the end of training (no labels involved; the same as the final-epoch row)',
};

/** A paper's row as printed there: one decimal where every number of the row has at most one, else two. */
function paperCells(row: PaperRow | undefined): string[] {
  const all = METRICS.flatMap((k) => (row?.[k] ? row[k]!.filter((x): x is number => x !== null) : []));
  const oneDecimal = all.every((x) => Math.abs(x * 10 - Math.round(x * 10)) < 1e-9);
  const f = (x: number) => x.toFixed(oneDecimal ? 1 : 2);
  return METRICS.map((k) => {
    const v = row?.[k];
    if (!v) return '–';
    return v[1] !== null ? `${f(v[0])} ± ${f(v[1])}` : f(v[0]);
  });
}

/**
 * The paper's ablation row a variant group is compared with: among the paper's variants whose options the group
 * changed to the same values, the one naming the most options; null when none fits (or the group's start is not the
 * model's default), so the group is compared with the full model's row.
 */
export function paperVariantOf(spec: ModelSpec, g: RunGroup): PaperVariant | null {
  if (g.variant.init !== defaultInit(g.model)) return null;
  let best: PaperVariant | null = null;
  for (const v of spec.paper?.variants ?? []) {
    const keys = Object.keys(v.options);
    if (!keys.length || !keys.every((k) => k in g.variant.changed && sameValue(g.variant.changed[k], v.options[k]))) continue;
    if (!best || keys.length > Object.keys(best.options).length) best = v;
  }
  return best;
}

export interface SectionOptions {
  /** Lines said under the tables. */
  notes?: string[];
  /** Datasets not run, with the reason (said once, instead of "no runs yet"). */
  skipped?: Record<string, string>;
  /** How the section was made, for its first line (e.g. the command). */
  command?: string;
  /** What the files were read from, in words (e.g. 'docs/results/'). */
  source?: string;
}

/** Whether the model trains in mini-batches under its default settings (its schedule asked without an input: a
 * schedule that needs one counts as mini-batch, so the time table keeps its note on evaluation time). */
function trainsInMiniBatches(spec: ModelSpec): boolean {
  try {
    return spec.schedule(spec.defaults, undefined as never).mode === 'mini-batch';
  } catch {
    return true;
  }
}

/** The generated text of one model's section (what goes between its markers). */
export function renderModelSection(model: string, set: ResultSet, options: SectionOptions = {}): string {
  const spec = getModel(model) as ModelSpec;
  const groups = groupRuns(set.runs.filter((r) => r.model === model));
  const paperRows = spec.paper?.rows ?? {};
  const order = [...Object.keys(paperRows), ...Object.keys(spec.presets)];
  for (const g of groups) if (!order.includes(g.dataset)) order.push(g.dataset);
  const datasets = order.filter((d, i) => order.indexOf(d) === i);
  const byDataset = (d: string) => groups.filter((g) => g.dataset === d)
    .sort((a, b) => (a.variant.label === '' ? -1 : b.variant.label === '' ? 1 : a.variant.label < b.variant.label ? -1 : 1));
  const rule = spec.paperProtocol;
  const lines: string[] = [];
  const nRuns = groups.reduce((a, g) => a + g.runs.length, 0);
  const nFiles = new Set(groups.flatMap((g) => g.runs.map((r) => r.file))).size;
  lines.push(`Generated by \`${options.command ?? `dgclust reproduce ${model} --tables-only`}\` from ${nRuns} run${nRuns === 1 ? '' : 's'} in ` +
    `${nFiles} JSON file${nFiles === 1 ? '' : 's'}${options.source ? ` under \`${options.source}\`` : ''}; edit the prose outside the ` +
    '`results` markers, not the text between them.');
  lines.push('');
  if (spec.paper) lines.push(`Paper: ${spec.paper.source}; its protocol: ${spec.paper.protocol}.`);
  else lines.push('Paper: no result table in the registry for this model.');
  lines.push('');
  lines.push(`Rows per dataset and variant (mean ± sample std over the seeds, percent):`);
  lines.push(`* **paper's protocol** — ${PROTOCOL_WORDS[rule]}: ${PROTOCOL_EXPLAINED[rule]};`);
  if (spec.paper?.medians) {
    lines.push("* **upper median** — the paper also reports the upper median of its trials (the 6th of 10 sorted values): the same statistic of the paper's-protocol numbers over the seeds, per metric;");
  }
  if (rule === 'per-metric-max') {
    lines.push('* **best epoch by ACC** — per run, the one evaluation with the highest ACC and its NMI / ARI / F1 (the labels select the epoch);');
  }
  lines.push('* **final epoch** — the clustering after the last epoch; uses no labels;');
  const initialNote = spec.paper?.initial || spec.paper?.variants?.some((v) => v.compare === 'initial')
    ? ` (compared with the paper's number for k-means after the same pretraining: ${[spec.paper?.initial?.name, ...(spec.paper?.variants ?? [])
      .filter((v) => v.compare === 'initial').map((v) => v.name)].filter(Boolean).join('; ')})`
    : '';
  lines.push(`* **initial** — k-means on the embedding the training starts from (after pretraining or loading weights), where the run recorded it${initialNote};`);
  const primary = spec.readouts[0];
  if (spec.readouts.length > 1) {
    lines.push(`* rows that name no readout are the paper's (${readoutWords(primary)}); ${spec.readouts.slice(1).map(readoutWords).join(', ')} rows are the ` +
      'same runs read out another way (where the runs recorded it);');
  }
  lines.push("* **variant** — what differs from the paper's preset (blank: the preset itself); ACC − paper compares with the paper's ACC" +
    (spec.paper?.variants?.length ? ", or, for a variant that is one of the paper's ablation rows (its 'paper:' line above it), with that row's." : '.'));
  lines.push('');
  lines.push('| dataset | variant | seeds | result | ACC | NMI | ARI | F1 | ACC − paper |');
  lines.push('|---|---|---|---|---|---|---|---|---|');
  const notRun: string[] = [];
  for (const d of datasets) {
    const gs = byDataset(d);
    const paper = paperRows[d];
    if (!gs.length) {
      if (paper) notRun.push(d);
      continue;
    }
    const paperAcc = paper?.acc?.[0];
    const paperMedian = spec.paper?.medians?.[d];
    const paperMedianAcc = paperMedian?.acc?.[0];
    if (paper) lines.push(`| ${d} | paper | | as the paper reports it${paperMedian ? ' (mean)' : ''} | ${paperCells(paper).join(' | ')} | |`);
    if (paperMedian) lines.push(`| | paper | | upper median of its trials | ${paperCells(paperMedian).join(' | ')} | |`);
    gs.forEach((g, gi) => {
      const seeds = `${g.runs.length} (${seedRanges(g.runs.map((r) => r.seed))})`;
      const first = !paper && gi === 0 ? d : '';
      // An ablation the paper reports: its row above the group's, and the gaps against it.
      const pv = paperVariantOf(spec, g);
      const initialOnly = pv?.compare === 'initial';
      const against = initialOnly ? undefined : pv ? pv.rows[d]?.acc?.[0] : paperAcc;
      if (pv && pv.rows[d]) {
        lines.push(`| | paper: ${pv.name} | | ${initialOnly ? 'k-means after its pretraining, ' : ''}as the paper reports it | ${paperCells(pv.rows[d]).join(' | ')} | |`);
      }
      // k-means on the starting embedding, against the paper's number for the same pretraining where it has one: an
      // 'initial' variant's own, or, for the preset's group, the paper's for the preset's pretraining.
      const initialPaper = initialOnly ? pv!.rows[d] : !g.variant.label ? spec.paper?.initial?.rows[d] : undefined;
      if (initialPaper && !initialOnly && g.runs.some((r) => r.initial)) {
        lines.push(`| | paper: ${spec.paper!.initial!.name} | | k-means after pretraining, as the paper reports it | ${paperCells(initialPaper).join(' | ')} | |`);
      }
      // Each row: its label, the per-run metrics, the statistic, and the paper's ACC it is compared with (if any).
      type Row = [string, (Metrics | null)[], typeof statCells, number | undefined];
      const protocol = g.runs.map((r) => r.paperProtocol.metrics);
      const rows: Row[] = [[`paper's protocol: ${PROTOCOL_WORDS[rule]}`, protocol, statCells, against]];
      if (paperMedian && !pv) rows.push(["paper's protocol, upper median over the seeds", protocol, medianCells, paperMedianAcc]);
      if (rule === 'per-metric-max') rows.push(['best epoch by ACC (labels select one epoch)', g.runs.map((r) => r.best), statCells, undefined]);
      rows.push(['final epoch (label-free)', g.runs.map((r) => r.final), statCells, against]);
      for (const ro of spec.readouts.slice(1)) {
        const at = (pick: (x: RunEntry['secondary'][string]) => Metrics | null) => g.runs.map((r) => (r.secondary[ro] ? pick(r.secondary[ro]) : null));
        if (rule === 'per-metric-max' && at((x) => x.perMetricMax).some((m) => m)) {
          rows.push([`${readoutWords(ro)}: max of each metric over epochs (labels)`, at((x) => x.perMetricMax), statCells, undefined]);
        }
        if (at((x) => x.final).some((m) => m)) rows.push([`${readoutWords(ro)}: final epoch (label-free)`, at((x) => x.final), statCells, undefined]);
      }
      if (g.runs.some((r) => r.initial)) rows.push(['initial: k-means on the starting embedding', g.runs.map((r) => r.initial), statCells, initialPaper?.acc?.[0]]);
      rows.forEach(([label, ms, stat, against], i) => {
        const st = stat(ms);
        const gap = st.acc !== null && against !== undefined ? (100 * st.acc - against).toFixed(2) : '';
        const n = st.n && st.n !== g.runs.length ? ` (${st.n} of ${g.runs.length} runs)` : '';
        lines.push(`| ${i === 0 ? first : ''} | ${i === 0 ? g.variant.label || '(preset)' : ''} | ${i === 0 ? seeds : ''} | ${label}${n} | ${st.cells.join(' | ')} | ${gap} |`);
      });
    });
  }
  lines.push('');
  // Time and machine.
  const machines = [...new Set(groups.flatMap((g) => g.runs.map((r) => r.machine ?? 'not recorded')))];
  const mIndex = (m: string | null) => machines.indexOf(m ?? 'not recorded') + 1;
  if (groups.length) {
    // The note on evaluation time concerns the models that refresh their target from all rows between mini-batches.
    const evalNote = trainsInMiniBatches(spec)
      ? '; the evaluation includes the inference on all rows that refreshes the target in runs made after 2026-12-07, before ' +
        'that only the metrics'
      : '';
    lines.push('Time per epoch (each run\'s median over its epochs, averaged over the runs; training step and evaluation apart' +
      evalNote + '), ' +
      'the time of a run\'s epochs (pretraining included where the run pretrained; the sum of every epoch\'s recorded time, ' +
      'not k-means or loading; the median run, and all runs together) and the machine:');
    lines.push('');
    lines.push('| dataset | variant | seeds | ms per training epoch | ms per evaluation | epochs\' time per run | all runs | threads | machine |');
    lines.push('|---|---|---|---|---|---|---|---|---|');
    for (const d of datasets) {
      for (const g of byDataset(d)) {
        const avg = (xs: (number | null)[]) => {
          const v = xs.filter((x): x is number => x !== null);
          return v.length ? (v.reduce((a, b) => a + b, 0) / v.length).toFixed(0) : '–';
        };
        const threads = [...new Set(g.runs.map((r) => r.threads ?? '?'))].join(', ');
        const ms = [...new Set(g.runs.map((r) => mIndex(r.machine)))].map((i) => `M${i}`).join(', ');
        const spans = g.runs.map((r) => r.epochsMs).filter((x): x is number => x !== null);
        const partial = spans.length && spans.length < g.runs.length ? ` (${spans.length} of ${g.runs.length} runs)` : '';
        lines.push(`| ${d} | ${g.variant.label || '(preset)'} | ${g.runs.length} | ${avg(g.runs.map((r) => r.epochTrainMs))} | ` +
          `${avg(g.runs.map((r) => r.epochEvalMs))} | ${spans.length ? duration(upperMedian(spans)) : '–'} | ` +
          `${spans.length ? duration(spans.reduce((a, b) => a + b, 0)) + partial : '–'} | ${threads} | ${ms} |`);
      }
    }
    lines.push('');
    for (let i = 0; i < machines.length; i++) lines.push(`${i === 0 ? '' : '\n'}M${i + 1}: ${machines[i]}.`);
    lines.push('');
    lines.push('Times from runs that shared the machine with other jobs are not speed claims; bench/RESULTS.md has the measured comparisons.');
  } else {
    lines.push('No runs of this model in the results files yet.');
  }
  // Notes.
  const notes: string[] = [];
  const skipped = options.skipped ?? {};
  const pending = notRun.filter((d) => !(d in skipped));
  for (const d of Object.keys(skipped)) notes.push(`${d}: not run — ${skipped[d]}.`);
  if (pending.length) notes.push(`No runs yet for ${pending.join(', ')} (datasets of the paper's table).`);
  const old = groups.filter((g) => g.runs.some((r) => r.oldFormat && r.paperProtocol.derived));
  if (old.length) {
    const files = [...new Set(old.flatMap((g) => g.runs.filter((r) => r.oldFormat).map((r) => r.file)))];
    notes.push(`${files.length} file${files.length > 1 ? 's' : ''} from before runs recorded the paper's protocol (${files.map((f) => path.basename(f)).join(', ')}): ` +
      `their paper's-protocol number is derived from what each run recorded (${rule === 'best-acc-epoch' ? 'its best-ACC epoch' : rule === 'final' ? 'its final epoch' : 'its per-metric maxima'}).`);
  }
  // Early stops (a label-change tolerance): how many runs a rule stopped, and the epochs the runs ended at.
  for (const d of datasets) {
    for (const g of byDataset(d)) {
      const stoppedRuns = g.runs.filter((r) => r.stopped);
      if (!stoppedRuns.length) continue;
      const ends = g.runs.map((r) => r.finalEpoch).filter((x): x is number => x !== null);
      notes.push(`${d}${g.variant.label ? ` (${g.variant.label})` : ''}: ${stoppedRuns.length} of ${g.runs.length} runs stopped early by the model's rule ` +
        `(e.g. seed ${stoppedRuns[0].seed}: ${stoppedRuns[0].stopped}); the runs ended at evaluation ${Math.min(...ends)}–${Math.max(...ends)} ` +
        '(an evaluation per epoch, or per target refresh where the schedule counts iterations).');
    }
  }
  // Collapse: final labels that leave clusters empty (a low ACC alone does not say so).
  for (const d of datasets) {
    for (const g of byDataset(d)) {
      const short = g.runs.filter((r) => r.clustersUsed !== null && r.k !== null && r.clustersUsed < r.k);
      if (!short.length) continue;
      notes.push(`${d}${g.variant.label ? ` (${g.variant.label})` : ''}: ${short.length} of ${g.runs.length} runs left clusters empty in the final ` +
        `labels (${short.map((r) => `seed ${r.seed}: ${r.clustersUsed} of ${r.k} used`).join(', ')}).`);
    }
  }
  for (const g of groups) {
    for (const d of g.duplicates) {
      notes.push(`${g.dataset}${g.variant.label ? ` (${g.variant.label})` : ''}, seed ${d.seed}: found in ${[d.used, ...d.ignored].join(' and ')}; counted once, from ${d.used}.`);
    }
  }
  for (const n of options.notes ?? []) notes.push(n);
  if (notes.length) {
    lines.push('');
    lines.push('Notes:');
    for (const n of notes) lines.push(`* ${n}`);
  }
  return lines.join('\n');
}

/** Short words for a protocol, for the overview's narrow column. */
const PROTOCOL_SHORT: Record<PaperProtocol, string> = {
  'best-acc-epoch': 'best epoch by ACC (labels)',
  'per-metric-max': 'max of each metric over epochs (labels)',
  final: 'final epoch (no labels)',
};

/** The name of the overview's markers in RESULTS.md (`<!-- results:overview:begin -->` … `end -->`). */
export const OVERVIEW_SECTION = 'overview';

/**
 * The overview at the top of RESULTS.md: per model (registry order) and dataset (its paper's table first, then any
 * other dataset with runs of the preset), the paper's ACC beside ours under the paper's protocol and at the final
 * epoch (label-free), each with its gap, and how many seeds the numbers stand on. Only the preset itself counts
 * here (the variants and the other metrics are in each model's section); a dataset of a paper's table with no runs
 * is listed as not run, so what is missing shows as plainly as what is done.
 */
export function renderOverview(set: ResultSet, options: { command?: string; source?: string; seedsExpected?: number } = {}): string {
  const expected = options.seedsExpected ?? 10;
  // The preset as the model runs it by default: no option changed, the model's default start (DFCN: its official
  // weights, named in the model column; every other model: its own pretraining).
  const groups = groupRuns(set.runs).filter((g) => !Object.keys(g.variant.changed).length && g.variant.init === defaultInit(g.model));
  const accCell = (ms: (Metrics | null)[]) => {
    const xs = ms.filter((m): m is Metrics => !!m).map((m) => m.acc);
    if (!xs.length) return { text: '–', mean: null as number | null };
    const { mean, std } = meanStd(xs);
    return { text: xs.length > 1 ? `${pct(mean)} ± ${pct(std)}` : pct(mean), mean };
  };
  const gap = (mean: number | null, paper: number | undefined) => (mean !== null && paper !== undefined ? (100 * mean - paper).toFixed(2) : '');
  const unstated = modelNames().filter((m) => (getModel(m) as ModelSpec).paper?.protocolNotStated).map(modelHeading);
  const lines: string[] = [];
  lines.push(`Generated by \`${options.command ?? 'dgclust reproduce <model> --tables-only'}\` (any model's, or \`all\`) from the JSON files` +
    `${options.source ? ` under \`${options.source}\`` : ''}; edit the prose outside the \`results\` markers, not the text between them.`);
  lines.push('');
  lines.push("ACC in percent, mean ± sample std over the seeds, of each paper's preset as dgclust runs it (variants, NMI, ARI, F1, " +
    "times and notes are in each model's section below). **paper's protocol**: the number selected as the paper selects it " +
    `(named per model; where it uses the labels, it says so); **final epoch**: the clustering after the last epoch, no labels. ` +
    `A row is complete at ${expected} seeds (the papers' ${expected} runs, where they say how many they average` +
    `${unstated.length ? `; ${unstated.join(' and ')} do not` : ''}): one with fewer says so. ` +
    "Not run: no run file yet; *features not public*: the registry's dataset, whose feature file no public source holds; " +
    "*your own files*: features the paper made (e.g. from a ResNet) that the registry does not hold — `dgclust train --features FILE` runs them.");
  lines.push('');
  lines.push("| model | paper's protocol | dataset | paper ACC | seeds | ACC, paper's protocol | − paper | ACC, final epoch (label-free) | − paper |");
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const name of modelNames()) {
    const spec = getModel(name) as ModelSpec;
    const paperRows = spec.paper?.rows ?? {};
    const mine = groups.filter((g) => g.model === name);
    const datasets = [...Object.keys(paperRows)];
    for (const g of mine) if (!datasets.includes(g.dataset)) datasets.push(g.dataset);
    datasets.forEach((d, i) => {
      const start = defaultInit(name) === 'own' ? '' : ` (${INIT_LABEL[defaultInit(name)]})`;
      const rule = `${PROTOCOL_SHORT[spec.paperProtocol]}${spec.paper?.protocolNotStated ? ' — the paper states none: ours' : ''}`;
      const first = i === 0 ? [`${modelHeading(name)}${start}`, rule] : ['', ''];
      const paper = paperRows[d]?.acc;
      const paperText = paperCells(paperRows[d])[0];
      const g = mine.find((x) => x.dataset === d);
      if (!g) {
        const why = d in FEATURES_NOT_PUBLIC ? ' (features not public)' : datasetNames.includes(d) ? '' : ' (your own files)';
        lines.push(`| ${first.join(' | ')} | ${d} | ${paperText} | not run${why} | | | | |`);
        return;
      }
      const n = g.runs.length;
      const seeds = n < expected ? `${n} of ${expected}` : `${n}`;
      const protocol = accCell(g.runs.map((r) => r.paperProtocol.metrics));
      const final = accCell(g.runs.map((r) => r.final));
      lines.push(`| ${first.join(' | ')} | ${d} | ${paperText} | ${seeds} | ${protocol.text} | ${gap(protocol.mean, paper?.[0])} | ` +
        `${final.text} | ${gap(final.mean, paper?.[0])} |`);
    });
  }
  return lines.join('\n');
}

export const beginMarker = (model: string): string => `<!-- results:${model}:begin -->`;
export const endMarker = (model: string): string => `<!-- results:${model}:end -->`;

/**
 * `doc` with the text between the model's markers replaced by `body` (the markers kept). Without the markers, a
 * section `## <heading>` holding them is appended. Markers out of order, or twice, are refused.
 */
export function spliceSection(doc: string, model: string, body: string, heading: string): string {
  const b = beginMarker(model);
  const e = endMarker(model);
  const i = doc.indexOf(b);
  const j = doc.indexOf(e);
  if (i < 0 && j < 0) {
    const base = doc.replace(/\s*$/, '');
    return `${base}${base ? '\n\n' : ''}## ${heading}\n\n${b}\n${body}\n${e}\n`;
  }
  if (i < 0 || j < 0 || j < i || doc.indexOf(b, i + 1) >= 0 || doc.indexOf(e, j + 1) >= 0) {
    throw Object.assign(new Error(`the markers ${b} … ${e} must appear once each, in that order`), { code: 'DGC_DATA' });
  }
  return `${doc.slice(0, i + b.length)}\n${body}\n${doc.slice(j)}`;
}

/** A model's short name, for a new section's heading and the overview: its title up to the dash or colon ('DFCN', 'AE + k-means'). */
export function modelHeading(model: string): string {
  if (!modelNames().includes(model)) return model;
  const t = getModel(model).title;
  return t.split(/ — |: /)[0] || model;
}
