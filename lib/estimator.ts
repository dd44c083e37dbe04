// The estimator-style API: create a model with options, fit it to data, predict clusters of new rows.
//
//   const model = dg.createModel('idec', { preset: 'mnist', seed: 0, maxIterations: 5000 });
//   const { labels, embedding, history } = await model.fit(data, { onEpoch: (e) => …, signal });
//   const more = model.predict(newRows);   // AE, DEC, IDEC (and the models that embed rows: CDC, DCCF)
//   model.dispose();
//
// fit() trains on the calling thread and yields to the event loop between epochs (and between refresh intervals
// of mini-batch models), so timers, progress output and an AbortSignal work while it runs.
import { getModel, resolveSettings } from './models/registry';
import { fromDataset } from './models/types';
import type { ClusteringData, ClusteringModel, ModelInput, ResolvedOptions } from './models/types';
import { fitAsync } from './train/trainer';
import type { FitOptions, RunResult } from './train/trainer';
import type { EpochEvent } from './train/loop';
import type { Dataset } from './data/embedded';
import type { DenseMatrix } from './data/text';
import { loadUserData } from './data/user';
import type { UserDataFiles } from './data/user';
import * as ops from './ops';
import { DgcError, Tensor, tidy } from './tensor';
import type { Device } from './tensor';

export interface EstimatorOptions {
  /** Which dataset's preset to start from (default: the data's name; without a preset, the documented defaults). */
  preset?: string;
  seed?: number;
  device?: Device;
  /** Starting weights instead of pretraining (loaded as the model's spec says). */
  init?: Map<string, Tensor>;
  pretrainCache?: string;
  /** The model's own options (lr, epochs, …), validated by name. */
  [option: string]: unknown;
}

export interface FitCallOptions {
  /** Called once the settings are resolved and the input prepared, before any training: which preset or defaults
   * apply, and the input's notes (its preparation; a warning when the features are far from unit size). */
  onPrepared?: (p: { settingsNote: string; notes: string[] }) => void;
  onEpoch?: (e: EpochEvent) => void;
  onPhase?: (phase: string, epochs: number) => void;
  signal?: AbortSignal;
}

export interface FitOutcome {
  /** Cluster labels of the data's rows (the model's own readout, final state). */
  labels: Int32Array;
  /** The final embedding, rows × cols (host copy). */
  embedding: { data: Float32Array; rows: number; cols: number } | null;
  /** Every epoch's event (losses, metrics when labels were given, timings). */
  history: EpochEvent[];
  /** The full run: initial / final / best evaluations, the paper's protocol, timings. */
  result: RunResult;
  /** Which preset or defaults applied. */
  settings: { values: Record<string, unknown>; note: string };
  /** What preparing the input did or noticed (as onPrepared received them). */
  notes: string[];
}

const RESERVED = new Set(['preset', 'seed', 'device', 'init', 'pretrainCache']);

export class ClusteringEstimator {
  private trained: ClusteringModel | null = null;
  private settings: ResolvedOptions | null = null;
  /** Columns of the data the model was fitted on: predict() takes rows of this width. */
  private cols = 0;
  constructor(readonly modelName: string, private readonly options: EstimatorOptions = {}) {
    const spec = getModel(modelName); // refuses an unknown model now, not at fit()
    resolveSettings(spec, options.preset ?? '', this.modelOptions()); // and bad options
  }

  private modelOptions(): Record<string, unknown> {
    return Object.fromEntries(Object.entries(this.options).filter(([k]) => !RESERVED.has(k)));
  }

  /** Trains on a registry Dataset, prepared ClusteringData, or the user's files; resolves when training ends. */
  async fit(data: Dataset | ClusteringData | UserDataFiles, call: FitCallOptions = {}): Promise<FitOutcome> {
    const spec = getModel(this.modelName);
    const d: ClusteringData = 'features' in data && typeof data.features === 'string' ? loadUserData(data as UserDataFiles)
      : 'nClusters' in data ? (data as ClusteringData) : fromDataset(data as Dataset);
    const { settings, note } = resolveSettings(spec, this.options.preset ?? d.name, this.modelOptions());
    this.disposeTrained();
    const input: ModelInput = spec.prepare(d, settings, { device: this.options.device ?? 'cpu' });
    try {
      call.onPrepared?.({ settingsNote: note, notes: [...input.notes] });
      const fitOptions: FitOptions = {
        seed: this.options.seed ?? 0, init: this.options.init, pretrainCache: this.options.pretrainCache,
        callbacks: { onEpoch: call.onEpoch, onPhase: call.onPhase }, signal: call.signal, keepModel: true,
      };
      const result = await fitAsync(spec, input, settings, fitOptions);
      this.trained = result.trained ?? null;
      this.settings = settings;
      this.cols = d.features.cols;
      return { labels: result.predicted, embedding: result.embedding ?? null, history: result.events, result, settings: { values: { ...settings }, note }, notes: [...input.notes] };
    } finally {
      input.dispose();
    }
  }

  /** Cluster labels of new rows (same columns as the training data), for models that can embed unseen rows. */
  predict(rows: DenseMatrix | Float32Array, cols?: number): Int32Array {
    const spec = getModel(this.modelName);
    if (!this.trained || !this.settings) throw new DgcError('DGC_ARG', `${this.modelName}.predict: the model is not fitted yet`);
    const m = this.trained;
    if (!m.embedRows) {
      throw new DgcError('DGC_ARG', `${this.modelName}.predict: ${this.modelName} cannot embed unseen rows (it needs them in its graph); ` +
        'the models that can: ae, dec, idec, cdc, dccf');
    }
    const matrix: DenseMatrix = rows instanceof Float32Array
      ? { rows: cols ? rows.length / cols : NaN, cols: cols ?? NaN, data: rows }
      : rows;
    if (!Number.isInteger(matrix.rows) || !Number.isInteger(matrix.cols) || matrix.rows * matrix.cols !== matrix.data.length) {
      throw new DgcError('DGC_SHAPE', `${this.modelName}.predict: rows must be a DenseMatrix or a Float32Array with its column count`);
    }
    if (matrix.cols !== this.cols) {
      throw new DgcError('DGC_SHAPE', `${this.modelName}.predict: rows have ${matrix.cols} columns; the model was fitted on ${this.cols}`);
    }
    const readout = spec.readouts[0];
    return tidy(() => {
      const x = spec.prepareRows ? spec.prepareRows(matrix, this.settings!, m.centres?.device ?? 'cpu')
        : ops.tensor(matrix.data, [matrix.rows, matrix.cols], { device: m.centres?.device ?? 'cpu' });
      const inf = m.embedRows!(x);
      const a = inf.assignments[readout];
      if (!a) throw new DgcError('DGC_INTERNAL', `${this.modelName}.predict: no '${readout}' assignment`);
      return ops.argmaxRows(a).data() as Int32Array;
    });
  }

  private disposeTrained(): void {
    if (this.trained) {
      this.trained.module.dispose();
      this.trained.dispose?.();
      this.trained = null;
    }
  }

  dispose(): void {
    this.disposeTrained();
  }
}

/** A registry model with options, ready to fit (see ClusteringEstimator). */
export function createModel(name: string, options: EstimatorOptions = {}): ClusteringEstimator {
  return new ClusteringEstimator(name, options);
}
