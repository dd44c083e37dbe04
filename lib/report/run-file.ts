// The JSON that `dgclust train --json FILE` writes (a "run"), as the report reads it.
//
// Required: what every trainer has written so far (command, model, settings, runs with their epochs and their
// final and best epochs). Optional, and degraded gracefully when absent: version, machine, dataset, summary,
// preprocessing, truth, and per run initial, timings, predicted (final-epoch cluster labels) and embedding
// (a float32 .npy N×d beside the JSON). The checks are written out here rather than with a schema library: they
// are a dozen fields, and every message names the file and the field's path (runs[1].final.epoch).
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { DgcError } from '../tensor';
import { readNpy } from '../data/npy';

export const METRICS = ['acc', 'nmi', 'ari', 'f1'] as const;
export type MetricName = (typeof METRICS)[number];
export type Metrics = Record<MetricName, number>;

export interface RunEpoch {
  phase: string;
  /** 1-based within its phase. */
  epoch: number;
  /** Loss terms; null where the value was not finite (JSON has no NaN). */
  losses: Record<string, number | null>;
  metrics?: Metrics;
  trainMs?: number;
  evalMs?: number;
}

export interface RunRecord {
  seed: number;
  /** The evaluation before the first training epoch (k-means on the starting embedding). */
  initial?: Metrics;
  /** The final epoch; its metrics only when the data has labels (a label-free run has none). */
  final: { epoch: number; metrics?: Metrics };
  /** The best epoch by ACC: only when the data has labels. */
  best?: { epoch: number; metrics: Metrics };
  /** Why training stopped before its last epoch, when a rule stopped it (DEC's and DCCF's label-change tolerance). */
  stopped?: string;
  timings?: { pretrainMs?: number; trainMs?: number; epochTrainMs?: number; epochEvalMs?: number };
  epochs: RunEpoch[];
  /** Final-epoch cluster of each node, 0-based. */
  predicted?: number[];
  /** The learned embedding: a float32 .npy (rows × cols), the path relative to the JSON's folder. */
  embedding?: { file: string; rows: number; cols: number };
}

export interface RunReport {
  command: 'train';
  model: string;
  version?: string;
  settings: Record<string, unknown>;
  machine?: Record<string, unknown>;
  dataset?: { name?: string; n?: number; d?: number; k?: number; hasLabels?: boolean; edges?: number | null };
  preprocessing?: Record<string, unknown>;
  summary?: {
    final?: Record<string, { mean: number; std: number }>;
    best?: Record<string, { mean: number; std: number }>;
    /** The paper's numbers: [mean, std], std null where the paper gives none. */
    paper?: Record<string, [number, number | null]> | null;
    paperProtocol?: { rule?: string } | null;
  };
  runs: RunRecord[];
  /** True class of each node, 0-based, when the dataset has labels. */
  truth?: number[];
  seconds?: number;
}

function fail(source: string, message: string): DgcError {
  return new DgcError('DGC_DATA', `${source}: ${message}`);
}

const kind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`.slice(0, 60));
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The text of a run file: the same JSON as JSON.stringify(value), laid out so that it stays small and readable.
 * The top level and each run put one field per line; an array of objects (runs, epochs) puts one element per line;
 * everything else (metrics, losses, label arrays) is written on its line without spaces. The files are ~40% smaller
 * than in an indented layout (which puts every number of every epoch on a line of its own; 28 → 16 MB for the
 * committed results), and a diff of two runs still lines up epoch by epoch. Values are normalised exactly as
 * JSON.stringify does (toJSON, undefined fields dropped, non-finite numbers as null).
 */
export function runJsonText(value: unknown): string {
  const normal: unknown = JSON.parse(JSON.stringify(value) ?? 'null');
  const layout = (v: unknown, depth: number, indent: string): string => {
    const inner = `${indent} `;
    if (Array.isArray(v) && v.length > 0 && v.every(isObject)) {
      return `[\n${v.map((e) => inner + layout(e, depth, inner)).join(',\n')}\n${indent}]`;
    }
    if (isObject(v) && depth < 2 && Object.keys(v).length > 0) {
      const fields = Object.entries(v).map(([k, x]) => `${inner}${JSON.stringify(k)}: ${layout(x, depth + 1, inner)}`);
      return `{\n${fields.join(',\n')}\n${indent}}`;
    }
    return JSON.stringify(v);
  };
  return layout(normal, 0, '');
}

/**
 * Run files whose name ends in .gz are gzip-compressed (`dgclust reproduce` writes RUN.json.gz: its per-seed files
 * are 4–5× smaller so, and the committed results stay small enough to travel with the tree). `zcat FILE | jq .`
 * reads one by hand; every reader here takes either form.
 */
export const isGzipName = (file: string): boolean => /\.gz$/i.test(file);

/** The bytes of a run file named `file`: the text as it is, or gzip-compressed when the name ends in .gz. */
export function runFileContent(file: string, text: string): string | Buffer {
  // Level 9 and Node's fixed gzip header (no name, mtime 0) make the bytes a function of the text alone on a given
  // platform (the header's OS byte is zlib's build platform: 3, Unix, here).
  return isGzipName(file) ? zlib.gzipSync(Buffer.from(text, 'utf8'), { level: 9 }) : text;
}

/** The text of a run file (gunzipped when the name ends in .gz). Errors are DGC_DATA naming the file. */
export function readRunText(file: string): string {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw fail(file, code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a RUN.json file' : `cannot read the file (${code ?? (err as Error).message})`);
  }
  if (!isGzipName(file)) return bytes.toString('utf8');
  try {
    return zlib.gunzipSync(bytes).toString('utf8');
  } catch (err) {
    throw fail(file, `not gzip data, or cut short (${(err as Error).message}); a name ending in .gz is read as a gzip-compressed RUN.json`);
  }
}

/** Checks the shape of a parsed run; throws DGC_DATA naming `source` and the field. Returns it typed. */
export function validateRun(value: unknown, source: string): RunReport {
  const need = (ok: boolean, field: string, what: string, got: unknown): void => {
    if (!ok) throw fail(source, got === undefined ? `${field} is missing (it must be ${what})` : `${field} must be ${what}, got ${kind(got)}`);
  };
  const num = (v: unknown, field: string): void => need(typeof v === 'number' && Number.isFinite(v), field, 'a number', v);
  const metrics = (v: unknown, field: string): void => {
    need(isObject(v), field, 'an object with acc, nmi, ari, f1', v);
    for (const m of METRICS) num((v as Record<string, unknown>)[m], `${field}.${m}`);
  };
  const labels = (v: unknown, field: string): void => {
    need(Array.isArray(v), field, 'an array of 0-based labels', v);
    const a = v as unknown[];
    for (let i = 0; i < a.length; i++) {
      if (!Number.isInteger(a[i]) || (a[i] as number) < 0) throw fail(source, `${field}[${i}] must be an integer >= 0, got ${kind(a[i])}`);
    }
  };

  need(isObject(value), 'the file', 'a JSON object (the output of dgclust train --json)', value);
  const r = value as Record<string, unknown>;
  if (r.command !== 'train') {
    throw fail(source, `not the result of dgclust train --json (command is ${kind(r.command)}${r.command === 'pretrain' ? ': dgclust pretrain results have no clustering to report' : ''})`);
  }
  need(typeof r.model === 'string', 'model', 'a string', r.model);
  need(isObject(r.settings), 'settings', 'an object', r.settings);
  need(Array.isArray(r.runs) && r.runs.length > 0, 'runs', 'a non-empty array', r.runs);
  (r.runs as unknown[]).forEach((run, i) => {
    const f = `runs[${i}]`;
    need(isObject(run), f, 'an object', run);
    const x = run as Record<string, unknown>;
    num(x.seed, `${f}.seed`);
    // A run on data without labels has a final epoch without metrics and no best epoch.
    need(isObject(x.final), `${f}.final`, 'an object with epoch (and metrics, with labels)', x.final);
    const fin = x.final as Record<string, unknown>;
    num(fin.epoch, `${f}.final.epoch`);
    const labelled = fin.metrics !== undefined && fin.metrics !== null;
    if (labelled) metrics(fin.metrics, `${f}.final.metrics`);
    else need(r.truth === undefined, `${f}.final.metrics`, 'an object with acc, nmi, ari, f1 (the run has labels)', fin.metrics);
    if (x.best !== undefined && x.best !== null) {
      need(isObject(x.best), `${f}.best`, 'an object with epoch and metrics', x.best);
      const b = x.best as Record<string, unknown>;
      num(b.epoch, `${f}.best.epoch`);
      metrics(b.metrics, `${f}.best.metrics`);
    } else {
      need(!labelled, `${f}.best`, 'an object with epoch and metrics (the run has labels)', x.best);
    }
    // An earlier trainer (CaEGCN's two diagnostic files in docs/results) wrote the initial evaluation as
    // { epoch, metrics, … }: read as its metrics.
    if (isObject(x.initial) && isObject(x.initial.metrics) && x.initial.acc === undefined) x.initial = x.initial.metrics;
    if (x.initial !== undefined) metrics(x.initial, `${f}.initial`);
    need(Array.isArray(x.epochs), `${f}.epochs`, 'an array', x.epochs);
    (x.epochs as unknown[]).forEach((ep, j) => {
      const g = `${f}.epochs[${j}]`;
      need(isObject(ep), g, 'an object', ep);
      const y = ep as Record<string, unknown>;
      need(typeof y.phase === 'string', `${g}.phase`, 'a string', y.phase);
      num(y.epoch, `${g}.epoch`);
      need(isObject(y.losses), `${g}.losses`, 'an object of loss terms', y.losses);
      for (const [k, v] of Object.entries(y.losses as Record<string, unknown>)) {
        need(v === null || (typeof v === 'number' && Number.isFinite(v)), `${g}.losses.${k}`, 'a number or null', v);
      }
      if (y.metrics !== undefined && y.metrics !== null) metrics(y.metrics, `${g}.metrics`);
    });
    if (x.predicted !== undefined) labels(x.predicted, `${f}.predicted`);
    if (x.embedding !== undefined) {
      need(isObject(x.embedding), `${f}.embedding`, 'an object with file, rows, cols', x.embedding);
      const e = x.embedding as Record<string, unknown>;
      need(typeof e.file === 'string' && e.file !== '', `${f}.embedding.file`, 'a file name', e.file);
      num(e.rows, `${f}.embedding.rows`);
      num(e.cols, `${f}.embedding.cols`);
    }
  });
  if (r.truth !== undefined) labels(r.truth, 'truth');
  const runs = r.runs as RunRecord[];
  for (let i = 0; i < runs.length; i++) {
    const p = runs[i].predicted;
    if (p && r.truth && p.length !== (r.truth as number[]).length) {
      throw fail(source, `runs[${i}].predicted has ${p.length} labels but truth has ${(r.truth as number[]).length}`);
    }
  }
  return value as RunReport;
}

/** Reads and checks a RUN.json (or RUN.json.gz). Every problem is a DGC_DATA error naming the file and what is wrong. */
export function readRunFile(file: string): RunReport {
  const text = readRunText(file);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw fail(file, `not JSON (${(err as Error).message})`);
  }
  return validateRun(value, file);
}

export interface Embedding {
  file: string;
  rows: number;
  cols: number;
  data: Float32Array;
}

/**
 * A run's embedding, read from its .npy (relative to baseDir, the JSON's folder), or null when the run saved none.
 * A named file that is missing, unreadable, not float, or not of the stated shape is a DGC_DATA error.
 */
export function loadEmbedding(run: RunRecord, baseDir: string, source: string): Embedding | null {
  if (!run.embedding) return null;
  const file = path.resolve(baseDir, run.embedding.file);
  if (!fs.existsSync(file)) {
    throw fail(source, `the embedding of seed ${run.seed} (${run.embedding.file}) was not found: sought ${file}`);
  }
  const a = readNpy(file);
  if (a.shape.length !== 2) throw new DgcError('DGC_DATA', `${file}: the embedding must be a 2-D array (rows × cols), got shape [${a.shape.join(', ')}]`);
  if (!(a.data instanceof Float32Array)) throw new DgcError('DGC_DATA', `${file}: the embedding must hold floats, got dtype ${a.descr}`);
  const [rows, cols] = a.shape;
  if (rows !== run.embedding.rows || cols !== run.embedding.cols) {
    throw new DgcError('DGC_DATA', `${file}: the embedding is ${rows} × ${cols} but ${source} says ${run.embedding.rows} × ${run.embedding.cols}`);
  }
  if (run.predicted && run.predicted.length !== rows) {
    throw new DgcError('DGC_DATA', `${file}: the embedding has ${rows} rows but seed ${run.seed} has ${run.predicted.length} predicted labels`);
  }
  return { file, rows, cols, data: a.data };
}
