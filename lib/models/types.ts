// The model interface every paper's model implements, and the shared trainer (lib/train/trainer.ts) runs.
//
// A model is two things:
//   - a ModelSpec: what the paper prescribes, as data and small functions — its presets per dataset, its
//     result rows, how the input is prepared (PCA, graph normalisation, scaling), how the model is built, its
//     pretraining stages, the main training schedule (full batch or mini-batches, how often the target
//     distribution P is refreshed, a stopping rule), and which readouts give cluster labels;
//   - a ClusteringModel: the module built for one run — its parameters, a loss on a batch (the total and its
//     named parts), and a full-data inference (embedding and soft assignments) that the trainer evaluates and
//     refreshes P from.
// Adding a paper's model is one file that exports a ModelSpec, plus a line in lib/models/registry.ts.
import type { Module } from '../nn/module';
import type { Generator } from '../random';
import type { SparseMatrix } from '../sparse';
import type { Device, Tensor } from '../tensor';
import type { Dataset } from '../data/embedded';
import type { DenseMatrix, EdgeList } from '../data/text';

/**
 * What a model trains on: a registry dataset or the user's own files. Labels are optional (without them only
 * label-free results are reported); the graph is optional (graph models then build a kNN graph).
 */
export interface ClusteringData {
  name: string;
  features: DenseMatrix;
  /** 0-based class ids, or null. */
  labels: Int32Array | null;
  nClusters: number;
  /** Graph edges (0-based, as listed in the file; symmetrised by the models), or null. */
  edges: EdgeList | null;
  /** Where the data came from (files, registry), for reports. */
  source?: string;
}

/** A registry Dataset (which always has labels) as ClusteringData. */
export function fromDataset(ds: Dataset): ClusteringData {
  return { name: ds.name, features: ds.features, labels: ds.labels.labels, nClusters: ds.labels.k, edges: ds.edges, source: `dataset '${ds.name}'` };
}

export type MetricName = 'acc' | 'nmi' | 'ari' | 'f1';

/** A paper's reported numbers for one dataset, in percent: [mean, std] (std null when the paper gives none). */
export type PaperRow = Partial<Record<MetricName, [number, number | null]>>;

export interface PaperTable {
  /** e.g. "SDCN, WWW 2020, Table 2 (mean ± std of 10 runs)". */
  source: string;
  /** How the paper selects its number, in words (e.g. "the maximum of each metric over 200 epochs"). */
  protocol: string;
  /**
   * True where the paper says neither how its number was selected (final or best epoch) nor over how many runs
   * (CaEGCN, DCCF): the model's `paperProtocol` is then dgclust's reading, and the tables say so.
   */
  protocolNotStated?: boolean;
  rows: Record<string, PaperRow>;
  /**
   * Where the paper also reports the upper median of its trials (the ⌊n/2⌋-th of the n sorted values, 0-based;
   * CDC's Table 2): that median per dataset. The tables then add a median row beside the mean.
   */
  medians?: Record<string, PaperRow>;
  /**
   * The paper's ablation rows: each a set of option values that makes the variant (as run settings record them)
   * and its numbers per dataset. A group of runs whose changed options include a variant's (the most specific one
   * that fits) is compared with that row instead of the full model's.
   */
  variants?: PaperVariant[];
  /**
   * Where the paper reports k-means on the embedding its pretraining gives (CDC's "AE + L_AE", SDCN's AE column):
   * the runs' "initial" rows (k-means on the starting embedding) are compared with it — those of the preset and of
   * the paper's variants that keep its pretraining (every `variants` entry whose `compare` is not 'initial').
   */
  initial?: { name: string; rows: Record<string, PaperRow> };
}

export interface PaperVariant {
  /** The paper's name for the row, with its table: "AE* + L_c (Table 3)". */
  name: string;
  /** The option values that make it, e.g. { eta: 0, beta: 0 }. */
  options: Record<string, unknown>;
  rows: Record<string, PaperRow>;
  /**
   * 'initial': the paper's number is k-means after the variant's pretraining (CDC's "AE + L_r", `--lambda 0`), so
   * only the runs' initial row is compared with it (their training after it has no row in the paper).
   * Default 'final': the paper's number is the trained model's, compared as the full model's is.
   */
  compare?: 'final' | 'initial';
}

/**
 * How a run's reported number is selected:
 *  - 'best-acc-epoch': the evaluation with the highest ACC (all its metrics; selects with the labels; DFCN);
 *  - 'per-metric-max': each metric's maximum over evaluations, taken separately (may mix epochs; SDCN, AGCN);
 *  - 'final': the last evaluation (label-free; DEC, IDEC, CDC, DCCF).
 */
export type PaperProtocol = 'best-acc-epoch' | 'per-metric-max' | 'final';

/**
 * What every prepared input has. Models extend it (DFCN adds ÂX; graph models need `adj`). Tensors are on the
 * run's device; dispose() frees everything the input owns.
 */
export interface ModelInput {
  /** N × d features after the model's preprocessing (PCA, scaling). */
  x: Tensor;
  /** The normalized graph, for graph models. */
  adj: SparseMatrix | null;
  /** 0-based class ids, or null (then only label-free results are reported). */
  labels: Int32Array | null;
  nClusters: number;
  /** Names the data and its preprocessing (for the pretraining cache): e.g. "acm-3f2a…-pca100". */
  key: string;
  /** What preprocessing did, in words and milliseconds (reported with the run). */
  notes: string[];
  timings: Record<string, number>;
  dispose(): void;
}

/** Soft assignments and the embedding of all N rows, computed without the tape (constants). */
export interface Inference {
  /** The embedding μ is initialised from by k-means, and the 'kmeans' readout clusters. */
  embedding: Tensor;
  /** Named N×K row-stochastic assignments, e.g. { q: Student-t Q, z: SDCN's softmax prediction }. */
  assignments: Record<string, Tensor>;
}

/**
 * What a model's loss sees of the trainer's target distribution P.
 * Full batch: when `refresh` is true, the model computes P from this step's forward pass (detached) and hands
 * it over with setTarget(); otherwise target() returns the P kept from the last refresh.
 * Mini-batch: P is computed by the trainer from a full-data inference at each refresh; target() returns the
 * rows of this batch.
 */
export interface TargetContext {
  readonly refresh: boolean;
  target(): Tensor | null;
  /** Full batch only: the refreshed N×K target (detached); returns it. The trainer keeps a copy. */
  setTarget(p: Tensor): Tensor;
}

export interface LossResult {
  total: Tensor;
  /**
   * Named terms as reported per epoch: each paper's unweighted L_x (the total holds the weights), as a tensor
   * or as a number the model already read.
   */
  parts: Record<string, Tensor | number>;
  /** Full batch: detached outputs of this same forward pass, evaluated as this epoch's (pre-step) state. */
  inference?: Inference;
}

/** The module built for one run. */
export interface ClusteringModel<I extends ModelInput = ModelInput> {
  readonly module: Module;
  /** μ (K × embedding width), set from k-means before the main training; null for models without centres. */
  readonly centres: Tensor | null;
  /** The loss on rows `rows` (an int32 index tensor) or on all rows (null). */
  loss(input: I, rows: Tensor | null, ctx: TargetContext): LossResult;
  /** Full-data inference without the tape. */
  infer(input: I): Inference;
  /** Embeds new rows (models that can: AE, DEC, IDEC, CDC, DCCF). Returns the embedding and assignments. */
  embedRows?(x: Tensor): Inference;
  /** Frees what the model holds outside its module's parameters (the module is freed by the trainer). */
  dispose?(): void;
}

export interface OptimizerSpec {
  kind: 'adam' | 'sgd';
  lr: number;
  /** SGD: classic momentum (v ← m·v − lr·g as Keras, or PyTorch's form: the same iterates). */
  momentum?: number;
}

/** One pretraining stage: some parameters, an optimizer, a loss, full batch or shuffled mini-batches. */
export interface PretrainStage<I extends ModelInput = ModelInput> {
  /** Event phase name, e.g. 'pretrain-ae'. */
  name: string;
  epochs: number;
  params: Tensor[];
  optimizer: OptimizerSpec;
  /** null: one full-batch step per epoch. */
  batchSize: number | null;
  loss(input: I, rows: Tensor | null): { total: Tensor; parts: Record<string, Tensor | number> };
  /**
   * A key naming what this stage produces (model family, data, settings), for the pretraining cache: runs with
   * the same key and seed reuse the saved weights instead of pretraining again. Omit to never cache. Models
   * that share a stage (SDCN, AGCN and CaEGCN pretrain the same autoencoder) use the same key and a generator
   * derived for it, so the cached weights equal what each would have pretrained.
   */
  cacheKey?: string;
  /** The generator of this stage's shuffles (default: the run's). */
  generator?: Generator;
  /** The module whose state the cache saves and restores (default: the whole model). */
  cacheModule?: Module;
}

/** The main training schedule. */
export type TrainSchedule =
  | {
      mode: 'full-batch';
      /** One optimizer step per epoch. */
      epochs: number;
      /** Refresh P every this many epochs (1 = every epoch, from that epoch's forward pass). */
      targetEvery: number;
    }
  | {
      mode: 'mini-batch';
      batchSize: number;
      /** Length: a number of optimizer steps (iterations) or of passes over the data (epochs). */
      iterations?: number;
      epochs?: number;
      /** Refresh P (and evaluate) every this many iterations, or every this many epochs. */
      targetEvery: { iterations: number } | { epochs: number };
      /** 'shuffle': a new seeded permutation each pass (default); 'sequential': rows in order (DEC-keras). */
      order?: 'shuffle' | 'sequential';
      /** Stop when the fraction of labels that changed between two refreshes is below tol (DEC's rule). */
      stopTol?: number;
      /** Evaluate once more after the last step ('end', default) or report the last refresh ('last-refresh', CDC). */
      finalEvaluation?: 'end' | 'last-refresh';
    };

/** A model's resolved settings for one run: the preset merged with the user's options. */
export interface ResolvedOptions {
  [key: string]: unknown;
  lr: number;
}

export interface OptionSpec {
  type: 'number' | 'integer' | 'boolean' | 'string';
  description: string;
  /** Inclusive bounds for numbers; `exclusiveMin` for strictly positive values. */
  min?: number;
  max?: number;
  exclusiveMin?: boolean;
  choices?: readonly string[];
}

export interface ModelSpec<I extends ModelInput = ModelInput, P extends ResolvedOptions = ResolvedOptions> {
  name: string;
  /** One line: paper, venue, what it is. */
  title: string;
  /** Whether the model needs a graph (built by kNN when the data has none). */
  needsGraph: boolean;
  /** Per-dataset settings from the paper or its official code. */
  presets: Record<string, P>;
  /** What applies to a dataset without a preset (the run says it used them). */
  defaults: P;
  /** The model's options a user may set (CLI --name value / API), validated by name. */
  options: Record<string, OptionSpec>;
  paper: PaperTable | null;
  paperProtocol: PaperProtocol;
  /** Readouts that give labels, the first being the model's own prediction ('kmeans' = k-means on the embedding). */
  readouts: string[];
  /** k-means restarts for μ and for the 'kmeans' readout (default 20). */
  kmeansRestarts?: number;
  /** New rows as the model's input (its scaling / projection), for predict() (default: the features as given). */
  prepareRows?(features: DenseMatrix, options: P, device: Device): Tensor;
  /** Builds the input (features, graph: the data's own or a kNN graph, P's shape) on the device. */
  prepare(data: ClusteringData, options: P, ctx: { device: Device }): I;
  create(input: I, options: P, gen: Generator): ClusteringModel<I>;
  pretrain(model: ClusteringModel<I>, input: I, options: P): PretrainStage<I>[];
  schedule(options: P, input: I): TrainSchedule;
  optimizer(options: P): OptimizerSpec;
  /** Parameters the main training updates (default: all the module's). */
  trainParams?(model: ClusteringModel<I>, options: P): Tensor[];
  /** The module that weights given by the caller (FitOptions.init) load into (default: the whole model; SDCN,
   * AGCN, CaEGCN: the pretrained autoencoder, as their code loads the AE's .pkl). */
  initTarget?(model: ClusteringModel<I>): Module;
}
