// dgclust: deep graph clustering for TypeScript on a native (C++ CPU / CUDA) backend.
export { native, packageRoot, nativeSelection, cudaPackageName } from './native';
export type { NativeSelection, NativeAttempt } from './native';
export { Tensor, DgcError, tidy, keep, dispose, memory, resetPeakMemory, releaseCachedMemory, synchronize, cacheLimit, setCacheLimit } from './tensor';
export type { DType, Device, GradNode } from './tensor';
export * from './ops';
export { backward, noGrad, isRecording, zeroGrad, record } from './autograd/tape';
export { Generator, xavierUniform, xavierNormal, linearDefault } from './random';
export { SparseMatrix } from './sparse';
export type { FromEdgesOptions, Normalization } from './sparse';
export { Module, parameter } from './nn/module';
export { Linear } from './nn/linear';
export type { LinearOptions } from './nn/linear';
export { GraphConv } from './nn/gcn';
export type { GraphConvOptions, Activation } from './nn/gcn';
export { Optimizer } from './optim/optimizer';
export { Adam } from './optim/adam';
export type { AdamOptions } from './optim/adam';
export { SGD } from './optim/sgd';
export type { SgdOptions } from './optim/sgd';
export { saveState, loadState } from './io/state';
export { loadDataset, loadDatasetAsync, datasetNames, dataDirs } from './data/registry';
export { pca } from './data/pca';
export type { PcaOptions, PcaResult } from './data/pca';
export { readNpy, parseNpy } from './data/npy';
export { readNpz, listZip } from './data/zip';
export { readHdf5, listHdf5 } from './data/hdf5';
export type { Hdf5Array } from './data/hdf5';
export { loadNpyCheckpoint } from './io/npy-checkpoint';
export { Dfcn, DFCN_PRESETS, dfcnSpec } from './models/dfcn';
export { prepareDfcnInput } from './models/dfcn-input';
export { MlpAutoencoder, StudentTHead, softmaxKl } from './models/blocks';
export { caegcnSpec, CaegcnModule, WideSelfAttention } from './models/caegcn';
export type { CaegcnSettings } from './models/caegcn';
export type { MlpAutoencoderOptions, AutoencoderOutput } from './models/blocks';
export { fromDataset } from './models/types';
export { dccfSpec, DCCF_PAPER, DCCF_ABLATION } from './models/dccf';
export type { DccfSettings } from './models/dccf';
export type {
  ClusteringData, ClusteringModel, ModelSpec, ModelInput, Inference, LossResult, PretrainStage, TrainSchedule, PaperTable,
  TargetContext, OptimizerSpec, ResolvedOptions, OptionSpec, PaperProtocol,
} from './models/types';
export { getModel, modelNames, registerModel, resolveSettings } from './models/registry';
export { fit, fitAsync, fitSteps } from './train/trainer';
export { createModel, ClusteringEstimator } from './estimator';
export type { EstimatorOptions, FitCallOptions, FitOutcome } from './estimator';
export type { FitOptions, RunResult, EvalRecord } from './train/trainer';
export { trainModel } from './train/run';
export type { TrainModelRequest, TrainModelReport } from './train/run';
export type { EpochEvent, TrainCallbacks } from './train/loop';
export { loadUserData } from './data/user';
export type { UserDataFiles } from './data/user';
export { writeNpy } from './data/npy';
export type { LoadDatasetOptions } from './data/registry';
export type { Dataset } from './data/embedded';
export { accuracy, nmi, ari, f1Macro, evaluate, modularity, conductance } from './cluster/metrics';
export { linearSumAssignment } from './cluster/hungarian';
export type { Evaluation, LabelArray, GraphInput } from './cluster/metrics';

import { native } from './native';
import type { BackendInfo } from '../types/native';

/** The compute backends of this build, and why one is unavailable. */
export function backends(): BackendInfo[] {
  return native.backends();
}

/** Threads the CPU backend uses (default: DGCLUST_NUM_THREADS, else all cores). */
export function numThreads(): number {
  return native.numThreads();
}

export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}
export { renderReport, buildReport } from './report/html';
export type { ReportOptions, BuiltReport } from './report/html';
export { readRunFile, readRunText, runFileContent, runJsonText, validateRun, loadEmbedding } from './report/run-file';
export type { RunReport, RunRecord, RunEpoch, Metrics } from './report/run-file';
export { embeddingMap, subsample } from './report/embedding-map';
export type { EmbeddingMap, MapOptions } from './report/embedding-map';
export { figuresToPng } from './report/png';
export type { Figure } from './report/figures';
