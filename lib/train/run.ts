// Training a registry model on data over one or more seeds: settings resolved from the paper's preset (or the
// documented defaults) and the user's options, the input prepared once, one trainer run per seed. The CLI's
// `train` and `reproduce`, and the estimator API (lib/estimator.ts), all go through trainModel().
import * as os from 'os';
import { getModel, resolveSettings } from '../models/registry';
import type { ClusteringData, ModelSpec, PaperRow } from '../models/types';
import { fit } from './trainer';
import type { RunResult } from './trainer';
import { meanStd } from './loop';
import type { TrainCallbacks } from './loop';
import { native } from '../native';
import { DgcError } from '../tensor';
import type { Device, Tensor } from '../tensor';
import type { Evaluation } from '../cluster/metrics';

export interface TrainModelRequest {
  model: string;
  data: ClusteringData;
  /** The dataset name whose preset applies (default: data.name). */
  preset?: string;
  /** The model's options (validated by name against the model's option table). */
  options?: Record<string, unknown>;
  /** Seeds, one run each (default [0]). */
  seeds?: number[];
  device?: Device;
  /** Starting weights instead of pretraining (e.g. DFCN's official checkpoints). */
  init?: { label: string; load: (device: Device) => Map<string, Tensor>; strict?: boolean };
  /** A folder for the pretraining cache (runs with the same stage settings and seed reuse the weights). */
  pretrainCache?: string;
  saveFinal?: (seed: number) => string | undefined;
  callbacks?: TrainCallbacks & {
    /** The settings resolved and the input prepared, before any training: what the report's settingsNote and
     * input.notes will say (a note on the features' scale, say, is worth reading before a long run). */
    onPrepared?: (p: { settingsNote: string; notes: string[] }) => void;
    onSeed?: (seed: number, index: number, count: number) => void;
    onRun?: (r: RunResult) => void;
  };
  signal?: AbortSignal;
  keepModel?: boolean;
  /** Checkpoint each seed's run to file(seed) every `every` epochs. */
  checkpoint?: { file: (seed: number) => string; every: number };
  /** Continue the run in this checkpoint (seeds must then be the checkpoint's one seed). */
  resume?: string;
}

export interface TrainModelReport {
  model: string;
  title: string;
  settings: Record<string, unknown>;
  /** Which preset (or the defaults) and what the user changed. */
  settingsNote: string;
  preset: string | null;
  init: string;
  input: { notes: string[]; timings: Record<string, number> };
  dataset: { name: string; n: number; d: number; k: number; hasLabels: boolean; edges: number | null; source?: string };
  runs: RunResult[];
  seconds: number;
  /** The backend the runs computed on. */
  device: Device;
}

export function trainModel(req: TrainModelRequest): TrainModelReport {
  const spec = getModel(req.model);
  const data = req.data;
  const { settings, preset, note } = resolveSettings(spec, req.preset ?? data.name, req.options ?? {});
  const seeds = req.seeds ?? [0];
  for (const s of seeds) if (!Number.isInteger(s) || s < 0) throw new DgcError('DGC_ARG', `seeds must be non-negative integers, got ${s}`);
  const device = req.device ?? 'cpu';
  const t0 = performance.now();
  const input = spec.prepare(data, settings, { device });
  const runs: RunResult[] = [];
  try {
    req.callbacks?.onPrepared?.({ settingsNote: note, notes: input.notes });
    seeds.forEach((seed, i) => {
      req.callbacks?.onSeed?.(seed, i, seeds.length);
      const init = req.init?.load(device);
      try {
        const r = fit(spec, input, settings, {
          seed,
          callbacks: req.callbacks,
          signal: req.signal,
          init,
          initStrict: req.init?.strict,
          pretrainCache: req.pretrainCache,
          saveFinal: req.saveFinal?.(seed),
          keepModel: req.keepModel,
          checkpoint: req.checkpoint ? { file: req.checkpoint.file(seed), every: req.checkpoint.every } : undefined,
          resume: req.resume,
        });
        runs.push(r);
        req.callbacks?.onRun?.(r);
      } finally {
        if (init) for (const t of init.values()) t.dispose();
      }
    });
  } finally {
    input.dispose();
  }
  return {
    model: spec.name,
    title: spec.title,
    settings: { ...settings },
    settingsNote: note,
    preset,
    init: req.init?.label ?? 'own pretraining',
    input: { notes: input.notes, timings: input.timings },
    dataset: {
      name: data.name, n: data.features.rows, d: data.features.cols, k: data.nClusters, hasLabels: data.labels !== null,
      edges: data.edges ? data.edges.src.length : null, source: data.source,
    },
    runs,
    seconds: (performance.now() - t0) / 1000,
    device,
  };
}

type Summary = Record<string, { mean: number; std: number }>;

export function summarize(ms: (Evaluation | undefined)[]): Summary | null {
  const xs = ms.filter((m): m is Evaluation => !!m);
  if (!xs.length) return null;
  const out: Summary = {};
  for (const k of ['acc', 'nmi', 'ari', 'f1'] as const) out[k] = meanStd(xs.map((m) => m[k]));
  return out;
}

/** The upper median: element ⌊n/2⌋ (0-based) of the sorted values, the 6th of 10 (CDC's median of 10 trials). */
export function upperMedian(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
}

/** The machine a run was made on. `device`: the backend the run computed on (recorded since 2026-12-07; older run
 * files ran on the CPU), beside the backends the machine has (`backends`: on CUDA, the GPU's name and memory). */
export function machineInfo(device?: Device) {
  return {
    ...(device ? { device } : {}),
    cpu: os.cpus()[0]?.model, cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.platform()}-${os.arch()}`, node: process.version, threads: native.numThreads(), backends: native.backends(),
  };
}

/** The paper's row for this dataset, if the model's paper reports one. */
export function paperRow(spec: ModelSpec, dataset: string): PaperRow | null {
  return spec.paper?.rows[dataset] ?? null;
}

/**
 * The JSON report of a training command (documented in README "RUN.json"): settings, machine, dataset, per-seed
 * results with every epoch, the summaries named by how they select. `embeddingFile(seed)` names the .npy the
 * caller writes each run's final embedding to (relative to the JSON's folder), or null.
 */
export function reportJson(rep: TrainModelReport, extra: { version?: string; embeddingFile?: (seed: number) => string | null; truth?: Int32Array | null }) {
  const spec = getModel(rep.model);
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    command: 'train',
    model: rep.model,
    version: extra.version,
    // `start` repeats `init` because a model option may also be named init (DEC's weight initialisation), which
    // the spread of the settings writes over it.
    settings: { dataset: rep.dataset.name, seeds: rep.runs.map((r) => r.seed), preset: rep.preset, note: rep.settingsNote, init: rep.init, start: rep.init, ...rep.settings },
    machine: machineInfo(rep.device),
    dataset: rep.dataset,
    preprocessing: rep.input,
    readouts: spec.readouts,
    summary: {
      final: summarize(rep.runs.map((r) => r.final.metrics)),
      best: summarize(rep.runs.map((r) => r.best?.metrics)),
      paperProtocol: { rule: spec.paperProtocol, metrics: summarize(rep.runs.map((r) => r.paperProtocol.metrics)) },
      initial: summarize(rep.runs.map((r) => r.initial?.metrics)),
      paper: paperRow(spec, rep.dataset.name),
      paperSource: spec.paper?.source ?? null,
    },
    runs: rep.runs.map((r) => {
      const file = extra.embeddingFile?.(r.seed) ?? null;
      return {
        seed: r.seed,
        // k-means on the starting embedding (e.g. AE + k-means), as the metrics (readouts: initialReadouts).
        initial: r.initial?.metrics,
        final: r.final,
        best: r.best,
        perMetricMax: r.perMetricMax,
        paperProtocol: r.paperProtocol,
        stopped: r.stopped,
        timings: r.timings,
        epochs: r.events.map((e) => ({ ...e, trainMs: round(e.trainMs), evalMs: round(e.evalMs) })),
        predicted: Array.from(r.predicted),
        ...(file && r.embedding ? { embedding: { file, rows: r.embedding.rows, cols: r.embedding.cols } } : {}),
      };
    }),
    ...(extra.truth ? { truth: Array.from(extra.truth) } : {}),
    seconds: rep.seconds,
  };
}
