// The one trainer every model runs on (the model interface: lib/models/types.ts).
//
// A run, for any model:
//   1. build the model from a seeded Generator;
//   2. pretraining stages (full batch or shuffled mini-batches), or weights given by the caller, or weights
//      from the pretraining cache (a stage with a cache key, same seed: identical to pretraining again);
//   3. μ ← k-means on the embedding of the starting weights (the 'initial' evaluation: e.g. AE + k-means);
//   4. the main training, in one of two modes:
//      - full batch: one step per epoch; P refreshed every `targetEvery` epochs from that epoch's own forward
//        pass; the epoch's evaluation is of the state before its step (as DFCN/SDCN/AGCN/CaEGCN's code does);
//      - mini-batch: P refreshed from a full-data inference every `targetEvery` iterations (or epochs), each
//        refresh also an evaluation; optional label-change stopping rule (DEC's tol); a final evaluation
//        after the last step unless the model reports its last refresh (CDC);
//   5. results: the final evaluation (label-free: the headline), the best evaluation by ACC and the per-metric
//      maxima (both select with the labels), and the paper's own protocol among those, each named as such.
// Every loss term is checked each step: a NaN or Inf stops the run with a DGC_VALUE error naming the phase,
// the epoch and the term (and parameters at each evaluation), instead of training on NaN.
import * as fs from 'fs';
import * as path from 'path';
import { Adam } from '../optim/adam';
import { SGD } from '../optim/sgd';
import type { Optimizer } from '../optim/optimizer';
import { backward, noGrad } from '../autograd/tape';
import * as ops from '../ops';
import { Generator } from '../random';
import { DgcError, Tensor, keep, tidy } from '../tensor';
import { native } from '../native';
import { evaluate } from '../cluster/metrics';
import type { Evaluation } from '../cluster/metrics';
import { loadState, saveState } from '../io/state';
import { readCheckpoint, writeCheckpoint } from '../io/checkpoint';
import type { Checkpoint } from '../io/checkpoint';
import type { Module } from '../nn/module';
import type {
  ClusteringModel, Inference, MetricName, ModelInput, ModelSpec, OptimizerSpec, PaperProtocol, PretrainStage,
  ResolvedOptions, TargetContext,
} from '../models/types';
import type { EpochEvent, TrainCallbacks } from './loop';

export interface FitOptions {
  seed?: number;
  callbacks?: TrainCallbacks;
  /** Aborts between steps with a DGC_ABORTED error. */
  signal?: AbortSignal;
  /** Starting weights (a state dict): pretraining is skipped. */
  init?: Map<string, Tensor>;
  /** Load `init` strictly (every parameter named, none unexpected). Default true. */
  initStrict?: boolean;
  /** A folder where pretraining stages with a cache key save their weights and later runs reuse them. */
  pretrainCache?: string;
  /** Save the final model's state here (DGCSTATE file). */
  saveFinal?: string;
  /** Save the state at the best-ACC evaluation here (after that epoch's step, as DFCN's code saves it). */
  saveBest?: string;
  /** Keep the final embedding (host copy) and the predicted labels in the result (default true). */
  keepEmbedding?: boolean;
  /** Return the trained model in the result (`trained`; the caller disposes its module) instead of freeing it. */
  keepModel?: boolean;
  /** Write the run's whole state to `file` every `every` epochs (pretraining and training epochs alike; mini-batch
   * models: every `every` refreshes), atomically: a crash leaves the previous checkpoint or the new one. */
  checkpoint?: { file: string; every: number };
  /** Continue the run saved in this checkpoint (same model, data and settings but the training length). */
  resume?: string;
}

/** One evaluation: the primary readout's metrics and every readout's. */
export interface EvalRecord {
  /** Full batch: the epoch (1-based). Mini-batch: the index of the refresh (0 = before the first step). */
  epoch: number;
  /** Mini-batch: optimizer steps taken before this evaluation. */
  iteration?: number;
  /** The primary readout's metrics (absent without labels). */
  metrics?: Evaluation;
  readouts: Record<string, Evaluation>;
}

export interface RunResult {
  model: string;
  seed: number;
  /** The primary readout (the model's own prediction), e.g. 'z' for SDCN, 'kmeans' for DFCN. */
  readout: string;
  /** After pretraining and μ initialisation: k-means on the embedding (e.g. AE + k-means). */
  initial?: EvalRecord;
  /** The last evaluation: label-free, the headline. */
  final: EvalRecord;
  /** The evaluation with the highest ACC of the primary readout (selected with the labels). */
  best?: EvalRecord;
  /** Each metric's maximum over evaluations, taken separately (selected with the labels; may mix epochs). */
  perMetricMax?: Record<string, Evaluation>;
  /** The paper's protocol applied to this run. */
  paperProtocol: { rule: PaperProtocol; metrics?: Evaluation };
  /** Why training stopped early, if it did (DEC's tolerance rule). */
  stopped?: string;
  events: EpochEvent[];
  /** Final labels of the primary readout, 0-based. */
  predicted: Int32Array;
  /** Host copy of the final embedding (rows × cols), when kept. */
  embedding?: { data: Float32Array; rows: number; cols: number };
  /** The trained model, when FitOptions.keepModel was set (dispose its module when done). */
  trained?: ClusteringModel;
  timings: {
    pretrainMs: number;
    trainMs: number;
    /** Medians over the main training's evaluations: optimisation per epoch (or per interval) and evaluation. */
    epochTrainMs: number;
    epochEvalMs: number;
  };
}

// ---- helpers -----------------------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
}

export function makeOptimizer(params: Tensor[], spec: OptimizerSpec): Optimizer {
  if (!(spec.lr > 0)) throw new DgcError('DGC_ARG', `optimizer: lr must be > 0, got ${spec.lr}`);
  return spec.kind === 'sgd' ? new SGD(params, { lr: spec.lr, momentum: spec.momentum ?? 0 }) : new Adam(params, { lr: spec.lr });
}

/**
 * What to try when a loss turns NaN or Inf after steps were taken: the usual cause is a step size too large for
 * the features' scale (e.g. the presets' SGD rates, made for features in [0, 1], on raw values). Says the rate in use.
 */
export function divergenceHint(opt: OptimizerSpec | null | undefined): string {
  if (!opt) return '';
  const how = opt.kind === 'sgd' ? `SGD at lr ${opt.lr}${opt.momentum ? `, momentum ${opt.momentum}` : ''}` : `Adam at lr ${opt.lr}`;
  return ` — the steps (${how}) probably diverged: a smaller learning rate, or features scaled to about [0, 1], usually cures it`;
}

/**
 * Reads every term to a number and refuses NaN/Inf, naming the term; `hint` (after steps were taken: the
 * divergence hint) and `context` (the last good checkpoint) are appended to the message.
 */
function lossNumbers(total: Tensor, parts: Record<string, Tensor | number>, where: string, context = '', hint = ''): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, t] of Object.entries(parts)) out[k] = typeof t === 'number' ? t : t.item();
  if (!('total' in out)) out.total = total.item();
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isFinite(v)) throw new DgcError('DGC_VALUE', `${where}: loss term '${k}' is ${v}; training stopped${hint}${context}`);
  }
  return out;
}

/**
 * Runs part of a training step; a native op that refuses a non-finite input inside it (what a diverged step leaves
 * upstream of a loss) is reported as the loss check reports it: where, the op's own message, the hint.
 */
function inStep<T>(where: string, hint: string, context: () => string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === 'DGC_VALUE' && /non-finite/.test(e.message) && !e.message.startsWith(where)) {
      throw new DgcError('DGC_VALUE', `${where}: ${e.message}; training stopped${hint}${context()}`);
    }
    throw err;
  }
}

/** Refuses parameters holding NaN or Inf (one reduction per parameter), naming the first at fault. */
function checkParameters(module: Module, where: string, context = ''): void {
  tidy(() => {
    for (const [name, p] of module.namedParameters()) {
      const s = native.sumAll(p.handle);
      const v = (s.toTypedArray() as Float32Array)[0];
      s.dispose();
      if (!Number.isFinite(v)) throw new DgcError('DGC_VALUE', `${where}: parameter '${name}' holds NaN or Inf; training stopped${context}`);
    }
  });
}

function checkAbort(signal: AbortSignal | undefined, where: string): void {
  if (signal?.aborted) throw new DgcError('DGC_ABORTED', `${where}: aborted`);
}

function keepInference(inf: Inference): Inference {
  const assignments: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(inf.assignments)) assignments[k] = keep(t);
  return { embedding: keep(inf.embedding), assignments };
}

function disposeInference(inf: Inference | null): void {
  if (!inf) return;
  inf.embedding.dispose();
  for (const t of Object.values(inf.assignments)) t.dispose();
}

/** Labels of every readout of an inference: argmax of an assignment, or k-means on the embedding ('kmeans'). */
function readoutLabels(inf: Inference, readouts: string[], k: number, kmeansRestarts: number, kmeansSeed: number,
                       where: string): Record<string, Int32Array> {
  const out: Record<string, Int32Array> = {};
  for (const r of readouts) {
    if (r === 'kmeans') {
      out[r] = tidy(() => ops.kmeans(inf.embedding, k, { nInit: kmeansRestarts, seed: kmeansSeed }).labels);
    } else {
      const a = inf.assignments[r];
      if (!a) throw new DgcError('DGC_INTERNAL', `${where}: the model's inference has no assignment '${r}'`);
      out[r] = tidy(() => ops.argmaxRows(a).data() as Int32Array);
    }
  }
  return out;
}

function evalRecord(labels: Record<string, Int32Array>, truth: Int32Array | null, primary: string, epoch: number,
                    iteration?: number): EvalRecord {
  const readouts: Record<string, Evaluation> = {};
  if (truth) for (const [k, l] of Object.entries(labels)) readouts[k] = evaluate(truth, l);
  return { epoch, ...(iteration !== undefined ? { iteration } : {}), ...(truth ? { metrics: readouts[primary] } : {}), readouts };
}

/** A cache file name for a stage: the key made filesystem-safe, plus the seed. */
function cacheFile(dir: string, key: string, seed: number): string {
  return path.join(dir, `${key.replace(/[^A-Za-z0-9._=-]+/g, '_')}.seed${seed}.dgcstate`);
}

// ---- the trainer ------------------------------------------------------------------------------------

/** Trains synchronously (see fitSteps) and returns the run's results. */
export function fit<I extends ModelInput, P extends ResolvedOptions>(
  spec: ModelSpec<I, P>, input: I, options: P, fitOptions: FitOptions = {},
): RunResult {
  const steps = fitSteps(spec, input, options, fitOptions);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * Trains like fit() but gives the event loop a turn after every epoch (and every refresh interval of a mini-batch
 * model): timers, I/O, progress output and an AbortSignal fired from elsewhere all run while it trains.
 */
export async function fitAsync<I extends ModelInput, P extends ResolvedOptions>(
  spec: ModelSpec<I, P>, input: I, options: P, fitOptions: FitOptions = {},
): Promise<RunResult> {
  const steps = fitSteps(spec, input, options, fitOptions);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** A checkpoint's position in the schedule (JSON). */
type Position =
  | { phase: 'pretrain'; stage: number; epoch: number }
  | { phase: 'train'; epoch: number; iteration: number; evalIndex: number; pos: number; steps: number; sums: Record<string, number>; trainMs: number };

/** Everything of a run but its tensors, as a checkpoint stores it. */
interface RunMeta {
  format: 'dgclust-checkpoint';
  model: string;
  inputKey: string;
  settings: Record<string, unknown>;
  seed: number;
  position: Position;
  generators: Record<string, number>;
  events: EpochEvent[];
  evalRecords: EvalRecord[];
  bestIndex: number;
  initial: EvalRecord | null;
  lastLabels: number[] | null;
  order: number[] | null;
  optimizer: Record<string, unknown> | null;
  pretrainMs: number;
  trainMs: number;
  lastCheckpoint: { file: string; where: string } | null;
}

/** Settings that only say how long to train: a resumed run may extend them. */
const LENGTH_SETTINGS = new Set(['epochs', 'maxIterations', 'iterations']);

function sameSettings(a: Record<string, unknown>, b: Record<string, unknown>): string | null {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) {
    if (LENGTH_SETTINGS.has(key)) continue;
    if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) return `setting '${key}' is ${JSON.stringify(a[key])} in the checkpoint but ${JSON.stringify(b[key])} now`;
  }
  return null;
}

/**
 * The run as a generator that yields between epochs, outside every tidy() scope (the only points where other
 * work may interleave with it). fit() drives it straight through; fitAsync() with an event-loop turn per yield.
 * Checkpoints (FitOptions.checkpoint) are written at these points too, and a run resumed from one
 * (FitOptions.resume) continues from its position with the same weights, optimizer state, target, random
 * generators and history: its results are bit-identical on the CPU to a run that was never interrupted.
 */
export function* fitSteps<I extends ModelInput, P extends ResolvedOptions>(
  spec: ModelSpec<I, P>, input: I, options: P, fitOptions: FitOptions = {},
): globalThis.Generator<void, RunResult, void> {
  const resume = fitOptions.resume ? readCheckpoint(fitOptions.resume) : null;
  const seed = resume ? Number(resume.meta.seed) : fitOptions.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0) throw new DgcError('DGC_ARG', `${spec.name}: seed must be a non-negative integer, got ${seed}`);
  const cb = fitOptions.callbacks ?? {};
  const gen = new Generator(seed);
  const k = input.nClusters;
  const restarts = spec.kmeansRestarts ?? 20;
  const primary = spec.readouts[0];
  const truth = input.labels;
  const n = input.x.shape[0];
  const model = spec.create(input, options, gen);
  const stages = spec.pretrain(model, input, options);
  let target: Tensor | null = null;
  let optimizer: Optimizer | null = null;
  /** The latest evaluated inference (embedding and assignments), kept for the result; freed here if a step throws. */
  let lastInference: Inference | null = null;
  let handedOver = false;
  const ck = fitOptions.checkpoint;
  if (ck && !(Number.isInteger(ck.every) && ck.every >= 1)) throw new DgcError('DGC_ARG', `${spec.name}: checkpoint every must be a positive integer, got ${ck.every}`);
  // The run's state outside tensors; written into checkpoints as it is.
  const meta: RunMeta = {
    format: 'dgclust-checkpoint', model: spec.name, inputKey: input.key, settings: { ...options }, seed,
    position: { phase: 'pretrain', stage: 0, epoch: 0 }, generators: {}, events: [], evalRecords: [], bestIndex: -1,
    initial: null, lastLabels: null, order: null, optimizer: null, pretrainMs: 0, trainMs: 0, lastCheckpoint: null,
  };
  let yields = 0;
  /** The generators whose positions a checkpoint holds: the run's and each stage's own. */
  const generators = (): Record<string, Generator> => {
    const g: Record<string, Generator> = { main: gen };
    stages.forEach((st, i) => {
      if (st.generator) g[`stage${i}`] = st.generator;
    });
    return g;
  };
  const checkpointNow = (where: string) => {
    if (!ck || ++yields % ck.every !== 0) return;
    meta.generators = Object.fromEntries(Object.entries(generators()).map(([name, g]) => [name, g.streamsDrawn]));
    const tensors: [string, Tensor][] = model.module.namedParameters().map(([name, t]) => [`param/${name}`, t] as [string, Tensor]);
    if (model.centres && !model.module.parameters().includes(model.centres)) tensors.push(['centres', model.centres]);
    if (target) tensors.push(['target', target]);
    meta.optimizer = null;
    if (optimizer) {
      const st = optimizer.exportState();
      meta.optimizer = st.meta;
      for (const [name, t] of st.tensors) tensors.push([`opt/${name}`, t]);
    }
    writeCheckpoint(ck.file, meta as unknown as Record<string, unknown>, tensors);
    meta.lastCheckpoint = { file: ck.file, where };
    cb.onCheckpoint?.(ck.file, where);
  };
  const nanContext = () => (meta.lastCheckpoint ? ` (last good checkpoint: ${meta.lastCheckpoint.file}, ${meta.lastCheckpoint.where})` : '');

  try {
    // ---- resuming: check the checkpoint belongs to this run, then restore it ----
    if (resume) {
      const m = resume.meta as unknown as RunMeta;
      const file = fitOptions.resume!;
      const refuse = (why: string): never => {
        throw new DgcError('DGC_DATA', `resume: ${file} ${why}`);
      };
      if (m.format !== 'dgclust-checkpoint') refuse('is not a training checkpoint');
      if (m.model !== spec.name) refuse(`is a checkpoint of model '${m.model}', not '${spec.name}'`);
      if (m.inputKey !== input.key) refuse(`was written for other data (${m.inputKey}); this run's data is ${input.key}`);
      const diff = sameSettings(m.settings, options as Record<string, unknown>);
      if (diff) refuse(`does not match this run's settings: ${diff}`);
      const params = new Map<string, Tensor>();
      for (const [name, t] of resume.tensors) if (name.startsWith('param/')) params.set(name.slice(6), t);
      try {
        model.module.loadStateDict(params);
      } catch (e) {
        refuse(`does not fit the model: ${(e as Error).message}`);
      }
      const centres = resume.tensors.get('centres');
      if (centres && model.centres) native.copyInto(model.centres.handle, centres.handle);
      const gens = generators();
      for (const [name, drawn] of Object.entries(m.generators)) {
        if (!gens[name]) refuse(`holds the position of a generator '${name}' this run does not have`);
        gens[name].restore(drawn);
      }
      const t = resume.tensors.get('target');
      if (t) target = keep(ops.clone(t));
      Object.assign(meta, { ...m, settings: { ...options }, lastCheckpoint: { file, where: 'resumed from here' } });
    }

    // ---- 2. pretraining, given weights, or the cache ----
    const t0 = performance.now();
    if (meta.position.phase === 'pretrain') {
      if (fitOptions.init && !resume) {
        (spec.initTarget?.(model) ?? model.module).loadStateDict(fitOptions.init, { strict: fitOptions.initStrict ?? true });
      } else {
        const from = meta.position as Extract<Position, { phase: 'pretrain' }>;
        const startStage = from.stage;
        const startEpoch = from.epoch;
        for (let si = startStage; si < stages.length; si++) {
          meta.position = { phase: 'pretrain', stage: si, epoch: si === startStage ? startEpoch : 0 };
          yield* runStage(spec.name, model, stages[si], input, gen, seed, fitOptions, cb, meta, (opt) => {
            optimizer = opt;
          }, si === startStage ? resume : null, checkpointNow, nanContext);
          optimizer = null;
        }
      }
      meta.pretrainMs += performance.now() - t0;

      // ---- 3. μ from k-means on the starting embedding ----
      const inf = noGrad(() => tidy(() => keepInference(model.infer(input))));
      try {
        const km = tidy(() => {
          const r = ops.kmeans(inf.embedding, k, { nInit: restarts, seed: seed * 1000 + 999 });
          return { labels: r.labels, centers: keep(r.centers) };
        });
        if (model.centres) {
          if (km.centers.shape.join() !== model.centres.shape.join()) {
            km.centers.dispose();
            throw new DgcError('DGC_INTERNAL', `${spec.name}: centres are [${model.centres.shape}] but k-means gave [${km.centers.shape}]`);
          }
          native.copyInto(model.centres.handle, km.centers.handle);
        }
        km.centers.dispose();
        meta.initial = evalRecord({ kmeans: km.labels }, truth, 'kmeans', 0);
      } finally {
        disposeInference(inf);
      }
      meta.position = { phase: 'train', epoch: 0, iteration: 0, evalIndex: 0, pos: 0, steps: 0, sums: {}, trainMs: 0 };
    }

    // ---- 4. the main training ----
    const schedule = spec.schedule(options, input);
    const params = spec.trainParams ? spec.trainParams(model, options) : model.module.parameters();
    const evalRecords = meta.evalRecords;
    let stopped: string | undefined;
    let lastLabels: Int32Array | null = meta.lastLabels ? Int32Array.from(meta.lastLabels) : null;
    const keepEmbedding = fitOptions.keepEmbedding ?? true;
    const t1 = performance.now();
    const pos = meta.position as Extract<Position, { phase: 'train' }>;

    let pendingSaveBest = false;
    const recordEvaluation = (inf: Inference, epoch: number, iteration: number | undefined): EvalRecord => {
      const where = `${spec.name} evaluation ${epoch}`;
      const labels = readoutLabels(inf, spec.readouts, k, restarts, seed * 1000 + epoch, where);
      const rec = evalRecord(labels, truth, primary, epoch, iteration);
      evalRecords.push(rec);
      lastLabels = labels[primary];
      meta.lastLabels = Array.from(lastLabels);
      const best = meta.bestIndex >= 0 ? evalRecords[meta.bestIndex] : null;
      if (truth && (!best || rec.metrics!.acc > best.metrics!.acc)) {
        meta.bestIndex = evalRecords.length - 1;
        // The evaluated state is the pre-step one; the file holds the state after this epoch's step, as
        // DFCN's code saves it (saved once the step is done: flushSaveBest).
        pendingSaveBest = true;
      }
      return rec;
    };
    const flushSaveBest = () => {
      if (pendingSaveBest && fitOptions.saveBest) saveState(fitOptions.saveBest, model.module.stateDict());
      pendingSaveBest = false;
    };
    const replaceLast = (inf: Inference) => {
      disposeInference(lastInference);
      lastInference = inf;
    };
    const emitEvent = (e: EpochEvent) => {
      meta.events.push(e);
      cb.onEpoch?.(e);
    };

    const optimizerSpec = params.length ? spec.optimizer(options) : null;
    optimizer = optimizerSpec ? makeOptimizer(params, optimizerSpec) : null;
    const trainHint = divergenceHint(optimizerSpec);
    if (resume && (resume.meta as unknown as RunMeta).position.phase === 'train' && optimizer) {
      const om = (resume.meta as unknown as RunMeta).optimizer;
      const ot = new Map<string, Tensor>();
      for (const [name, t] of resume.tensors) if (name.startsWith('opt/')) ot.set(name.slice(4), t);
      if (om) optimizer.importState(ot, om);
    }
    if (schedule.mode === 'full-batch') {
      const epochs = schedule.epochs;
      if (!Number.isInteger(epochs) || epochs < 0) throw new DgcError('DGC_ARG', `${spec.name}: epochs must be a non-negative integer, got ${epochs}`);
      if (epochs > pos.epoch) cb.onPhase?.('train', epochs);
      for (let epoch = pos.epoch + 1; epoch <= epochs; epoch++) {
        checkAbort(fitOptions.signal, `${spec.name} epoch ${epoch}`);
        const where = `${spec.name} training, epoch ${epoch}`;
        const ta = performance.now();
        const refresh = (epoch - 1) % schedule.targetEvery === 0;
        const ctx: TargetContext = {
          refresh,
          target: () => target,
          setTarget: (p) => {
            if (!refresh) throw new DgcError('DGC_INTERNAL', `${where}: setTarget outside a refresh`);
            target?.dispose();
            target = keep(p);
            return p;
          },
        };
        const step = tidy(() => {
          const hint = epoch > 1 ? trainHint : '';
          const l = inStep(where, hint, nanContext, () => model.loss(input, null, ctx));
          if (refresh && !target) throw new DgcError('DGC_INTERNAL', `${where}: the model did not set the refreshed target`);
          const losses = lossNumbers(l.total, l.parts, where, nanContext(), hint);
          // The evaluated state is the one before this step: the model's own detached outputs when it gives
          // them, else a separate inference now (before the step).
          const inf = keepInference(l.inference ?? noGrad(() => model.infer(input)));
          inStep(where, hint, nanContext, () => backward(l.total, undefined, { freeIntermediates: true }));
          optimizer?.step();
          optimizer?.zeroGrad();
          return { losses, inf };
        });
        const trainMs = performance.now() - ta;
        const tb = performance.now();
        checkParameters(model.module, where, nanContext());
        const rec = recordEvaluation(step.inf, epoch, undefined);
        flushSaveBest();
        if (epoch === epochs && keepEmbedding) replaceLast(step.inf);
        else disposeInference(step.inf);
        const evalMs = performance.now() - tb;
        emitEvent({ phase: 'train', epoch, epochs, losses: step.losses, metrics: rec.metrics, readouts: rec.readouts, trainMs, evalMs });
        pos.epoch = epoch;
        checkpointNow(`training epoch ${epoch}`);
        yield;
      }
      if (epochs === 0) {
        // Nothing to train (AE + k-means): the final evaluation is k-means on the pretrained embedding.
        const inf = noGrad(() => tidy(() => keepInference(model.infer(input))));
        recordEvaluation(inf, 0, undefined);
        replaceLast(inf);
      }
    } else {
      const s = schedule;
      const bs = s.batchSize;
      if (!Number.isInteger(bs) || bs < 1) throw new DgcError('DGC_ARG', `${spec.name}: batch size must be a positive integer, got ${bs}`);
      const perPass = Math.ceil(n / bs);
      const total = s.iterations ?? (s.epochs ?? 0) * perPass;
      const every = 'iterations' in s.targetEvery ? s.targetEvery.iterations : s.targetEvery.epochs * perPass;
      if (!Number.isInteger(total) || total < 0) throw new DgcError('DGC_ARG', `${spec.name}: the training length must be a non-negative integer, got ${total}`);
      if (!Number.isInteger(every) || every < 1) throw new DgcError('DGC_ARG', `${spec.name}: the target refresh interval must be a positive integer, got ${every}`);
      const evaluations = Math.floor((total - 1) / every) + 1;
      cb.onPhase?.('train', evaluations);
      let order: Int32Array | null = meta.order ? Int32Array.from(meta.order) : null;
      const nextRows = (): Int32Array => {
        if (!order || pos.pos >= n) {
          order = (s.order ?? 'shuffle') === 'shuffle' ? gen.permutation(n) : Int32Array.from({ length: n }, (_, i) => i);
          meta.order = Array.from(order);
          pos.pos = 0;
        }
        const rows = order.subarray(pos.pos, Math.min(n, pos.pos + bs));
        pos.pos += rows.length;
        return rows;
      };
      // inferMs: the full-data inference the evaluation reads (and the refreshed target comes from), counted in the
      // evaluation's time: it is most of it (5 s of a Fashion-MNIST refresh; the metrics are milliseconds).
      const emit = (inf: Inference, inferMs: number) => {
        const tb = performance.now();
        const prevLabels = lastLabels;
        const where = `${spec.name} training, iteration ${pos.iteration}`;
        checkParameters(model.module, where, nanContext());
        const rec = recordEvaluation(inf, pos.evalIndex, pos.iteration);
        flushSaveBest();
        const losses: Record<string, number> = {};
        for (const [key, v] of Object.entries(pos.sums)) losses[key] = v / Math.max(1, pos.steps);
        let changed: number | undefined;
        if (prevLabels) {
          let c = 0;
          for (let i = 0; i < n; i++) if (prevLabels[i] !== lastLabels![i]) c++;
          changed = c / n;
        }
        emitEvent({
          phase: 'train', epoch: pos.evalIndex, epochs: evaluations, iteration: pos.iteration, losses, metrics: rec.metrics, readouts: rec.readouts,
          trainMs: pos.trainMs, evalMs: inferMs + performance.now() - tb, ...(changed !== undefined ? { labelChange: changed } : {}),
        });
        pos.sums = {};
        pos.steps = 0;
        pos.trainMs = 0;
        pos.evalIndex++;
        return changed;
      };
      // A run resumed at a refresh point has already done that refresh (the checkpoint is written after it).
      let refreshedAt = resume && (resume.meta as unknown as RunMeta).position.phase === 'train' ? pos.iteration : -1;
      for (;;) {
        checkAbort(fitOptions.signal, `${spec.name} iteration ${pos.iteration}`);
        if (pos.iteration % every === 0 && pos.iteration < total && refreshedAt !== pos.iteration) {
          refreshedAt = pos.iteration;
          // Refresh P from all rows (no tape), and evaluate this state.
          const ti = performance.now();
          const inf = noGrad(() => tidy(() => keepInference(model.infer(input))));
          const q = inf.assignments.q;
          if (!q) throw new DgcError('DGC_INTERNAL', `${spec.name}: mini-batch training needs the inference's 'q' assignment`);
          target?.dispose();
          target = keep(tidy(() => ops.targetDistribution(q)));
          const changed = emit(inf, performance.now() - ti);
          replaceLast(inf);
          if (s.stopTol !== undefined && changed !== undefined && changed < s.stopTol) {
            stopped = `label change ${(100 * changed).toFixed(3)}% < tol ${(100 * s.stopTol).toFixed(3)}% at iteration ${pos.iteration}`;
            break;
          }
          checkpointNow(`training iteration ${pos.iteration}`);
          yield;
        }
        if (pos.iteration >= total) break;
        const ta = performance.now();
        const where = `${spec.name} training, iteration ${pos.iteration + 1}`;
        const rowsHost = nextRows();
        const losses = tidy(() => {
          const rows = ops.tensor(rowsHost, undefined, { device: input.x.device });
          const ctx: TargetContext = {
            refresh: false,
            target: () => (target ? ops.gatherRows(target, rows) : null),
            setTarget: () => {
              throw new DgcError('DGC_INTERNAL', `${where}: mini-batch models do not set the target`);
            },
          };
          const hint = pos.iteration > 0 ? trainHint : '';
          const l = inStep(where, hint, nanContext, () => model.loss(input, rows, ctx));
          const v = lossNumbers(l.total, l.parts, where, nanContext(), hint);
          inStep(where, hint, nanContext, () => backward(l.total, undefined, { freeIntermediates: true }));
          optimizer?.step();
          optimizer?.zeroGrad();
          return v;
        });
        for (const [key, v] of Object.entries(losses)) pos.sums[key] = (pos.sums[key] ?? 0) + v;
        pos.steps++;
        pos.iteration++;
        pos.trainMs += performance.now() - ta;
      }
      if (((s.finalEvaluation ?? 'end') === 'end' && pos.steps > 0) || evalRecords.length === 0) {
        // Also when no refresh ran (zero iterations: AE + k-means), so that a run always has a final evaluation.
        const ti = performance.now();
        const inf = noGrad(() => tidy(() => keepInference(model.infer(input))));
        emit(inf, performance.now() - ti);
        replaceLast(inf);
      }
    }
    meta.trainMs += performance.now() - t1;

    // ---- 5. results ----
    if (!lastInference && keepEmbedding) replaceLast(noGrad(() => tidy(() => keepInference(model.infer(input)))));
    const final = evalRecords[evalRecords.length - 1];
    const best = meta.bestIndex >= 0 ? evalRecords[meta.bestIndex] : undefined;
    let perMetricMax: Record<string, Evaluation> | undefined;
    if (truth) {
      perMetricMax = {};
      for (const r of spec.readouts) {
        const m: Evaluation = { acc: -Infinity, nmi: -Infinity, ari: -Infinity, f1: -Infinity };
        for (const rec of evalRecords) for (const key of ['acc', 'nmi', 'ari', 'f1'] as MetricName[]) m[key] = Math.max(m[key], rec.readouts[r][key]);
        perMetricMax[r] = m;
      }
    }
    const rule = spec.paperProtocol;
    const paperMetrics = !truth ? undefined
      : rule === 'best-acc-epoch' ? best!.metrics
      : rule === 'per-metric-max' ? perMetricMax![primary]
      : final.metrics;
    if (fitOptions.saveFinal) saveState(fitOptions.saveFinal, model.module.stateDict());
    const main = meta.events.filter((e) => e.phase === 'train');
    let embedding: RunResult['embedding'];
    const lastInf = lastInference as Inference | null;
    if (lastInf && keepEmbedding) {
      embedding = { data: lastInf.embedding.data() as Float32Array, rows: lastInf.embedding.shape[0], cols: lastInf.embedding.shape[1] };
    }
    disposeInference(lastInf);
    lastInference = null;
    handedOver = fitOptions.keepModel ?? false;
    return {
      model: spec.name,
      seed,
      readout: primary,
      initial: meta.initial ?? undefined,
      final,
      best,
      perMetricMax,
      paperProtocol: { rule, metrics: paperMetrics },
      ...(stopped ? { stopped } : {}),
      events: meta.events,
      predicted: lastLabels ?? new Int32Array(0),
      embedding,
      ...(handedOver ? { trained: model as unknown as ClusteringModel } : {}),
      timings: { pretrainMs: meta.pretrainMs, trainMs: meta.trainMs, epochTrainMs: median(main.map((e) => e.trainMs)), epochEvalMs: median(main.map((e) => e.evalMs)) },
    };
  } finally {
    if (resume) for (const t of resume.tensors.values()) t.dispose();
    optimizer?.dispose();
    (target as Tensor | null)?.dispose();
    disposeInference(lastInference);
    if (!handedOver) {
      model.module.dispose();
      model.dispose?.();
    }
  }
}

/** One pretraining stage (or its cached result): shuffled mini-batches or full-batch steps. */
function* runStage<I extends ModelInput>(
  modelName: string, model: ClusteringModel<I>, stage: PretrainStage<I>, input: I, gen: Generator, seed: number,
  fitOptions: FitOptions, cb: TrainCallbacks, meta: RunMeta, setOptimizer: (o: Optimizer) => void, resume: Checkpoint | null,
  checkpointNow: (where: string) => void, nanContext: () => string,
): globalThis.Generator<void, void, void> {
  const n = input.x.shape[0];
  const target = stage.cacheModule ?? model.module;
  const file = stage.cacheKey && fitOptions.pretrainCache ? cacheFile(fitOptions.pretrainCache, stage.cacheKey, seed) : null;
  const g = stage.generator ?? gen;
  const pos = meta.position as Extract<Position, { phase: 'pretrain' }>;
  if (pos.epoch === 0 && file && fs.existsSync(file)) {
    const st = loadState(file);
    const dev = input.x.device;
    const moved = new Map([...st].map(([key, t]) => [key, t.device === dev ? t : ops.to(t, dev)] as [string, Tensor]));
    try {
      target.loadStateDict(moved);
    } finally {
      for (const t of st.values()) t.dispose();
      for (const t of moved.values()) if (!t.disposed) t.dispose();
    }
    // Draw what the stage would have drawn, so that what follows is the same as after a fresh pretraining.
    if (stage.batchSize !== null) for (let e = 0; e < stage.epochs; e++) g.nextStream();
    cb.onPhase?.(stage.name, 0);
    return;
  }
  const opt = makeOptimizer(stage.params, stage.optimizer);
  const stageHint = divergenceHint(stage.optimizer);
  setOptimizer(opt);
  if (resume && pos.epoch > 0 && (resume.meta as unknown as RunMeta).optimizer) {
    const ot = new Map<string, Tensor>();
    for (const [name, t] of resume.tensors) if (name.startsWith('opt/')) ot.set(name.slice(4), t);
    opt.importState(ot, (resume.meta as unknown as RunMeta).optimizer!);
  }
  cb.onPhase?.(stage.name, stage.epochs);
  try {
    for (let epoch = pos.epoch + 1; epoch <= stage.epochs; epoch++) {
      checkAbort(fitOptions.signal, `${modelName} ${stage.name} epoch ${epoch}`);
      const where = `${modelName} ${stage.name}, epoch ${epoch}`;
      const t0 = performance.now();
      const sums: Record<string, number> = {};
      let batches = 0;
      const step = (rows: Tensor | null) => {
        const v = tidy(() => {
          const hint = epoch > 1 || batches > 0 ? stageHint : '';
          const l = inStep(where, hint, nanContext, () => stage.loss(input, rows));
          const nums = lossNumbers(l.total, l.parts, where, nanContext(), hint);
          inStep(where, hint, nanContext, () => backward(l.total, undefined, { freeIntermediates: true }));
          opt.step();
          opt.zeroGrad();
          return nums;
        });
        for (const [key, x] of Object.entries(v)) sums[key] = (sums[key] ?? 0) + x;
        batches++;
      };
      if (stage.batchSize === null) {
        step(null);
      } else {
        const order = g.permutation(n);
        for (let s = 0; s < n; s += stage.batchSize) {
          tidy(() => step(ops.tensor(order.subarray(s, Math.min(n, s + stage.batchSize!)), undefined, { device: input.x.device })));
        }
      }
      const losses: Record<string, number> = {};
      for (const [key, v] of Object.entries(sums)) losses[key] = v / batches;
      const e: EpochEvent = { phase: stage.name, epoch, epochs: stage.epochs, losses, trainMs: performance.now() - t0, evalMs: 0 };
      meta.events.push(e);
      cb.onEpoch?.(e);
      pos.epoch = epoch;
      checkpointNow(`${stage.name} epoch ${epoch}`);
      yield;
    }
    checkParameters(target, `${modelName} ${stage.name}`, nanContext());
  } finally {
    opt.dispose();
  }
  if (file) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    saveState(file, target.stateDict());
  }
}
