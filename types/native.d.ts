// The native module (build/Release/dgclust.node or prebuilds/<platform>/*.node), as seen from TypeScript.
// Every function validates its arguments and throws an Error with a `code` ("DGC_SHAPE", "DGC_ARG", ...).

export type NativeDevice = 'cpu' | 'cuda';
export type NativeDType = 'float32' | 'int32';
export type UnaryName = 'relu' | 'leakyRelu' | 'tanh' | 'sigmoid' | 'exp' | 'log' | 'square';
/** Activations the fused layer ops apply (leakyRelu: slope ≥ 0). */
export type ActivationName = 'none' | 'relu' | 'leakyRelu';
export type BinaryName = 'add' | 'sub' | 'mul' | 'div';

export interface NativeTensor {
  readonly shape: number[];
  readonly dtype: NativeDType;
  readonly device: NativeDevice;
  readonly disposed: boolean;
  readonly nbytes: number;
  toTypedArray(): Float32Array | Int32Array;
  dispose(): void;
}

export interface NativeCsr {
  readonly rows: number;
  readonly cols: number;
  readonly nnz: number;
  readonly disposed: boolean;
  readonly device: NativeDevice;
  toArrays(transposed?: boolean): {
    rows: number;
    cols: number;
    indptr: Int32Array;
    indices: Int32Array;
    values: Float32Array;
  };
  dispose(): void;
}

export interface GraphBuildOptions {
  symmetrize?: boolean;
  selfLoops?: boolean;
  normalization?: 'none' | 'row' | 'sym';
}

export interface AdamOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  step?: number;
  decoupled?: boolean;
}

/** A fused loss: the loss value and, when asked for, its gradients (scaled like the loss). */
export interface NativeLoss {
  loss: NativeTensor;
  dzs: (NativeTensor | null)[];
  dmu: NativeTensor | null;
}

export interface BackendInfo {
  name: NativeDevice;
  available: boolean;
  reason?: string;
  threads?: number;
  /**
   * CPU only: the SIMD kernel set each kernel family runs ("avx512", "avx2", or the portable "generic" / "portable"),
   * the fastest this CPU supports unless DGCLUST_{GEMM,ATTENTION,RECON}_KERNEL names another. Results are
   * bit-identical across thread counts but not across kernel sets (the rounding differs), so a run records them.
   */
  kernels?: { gemm: string; attention: string; recon: string; spmm: string };
  /** CUDA only: the GPU's name and index, its memory, compute capability ("9.0") and SM count. */
  device?: string;
  ordinal?: number;
  memoryBytes?: number;
  computeCapability?: string;
  multiprocessors?: number;
  /** CUDA only: driver and runtime versions ("12.4"), when known. */
  driverVersion?: string;
  runtimeVersion?: string;
  /** CUDA only: which GEMM runs, once one has: cuBLAS loaded at run time, or dgclust's own kernel. */
  gemm?: 'cublas' | 'dgclust';
}

export interface MemoryInfo {
  tensors: number;
  bytes: number;
  peakBytes: number;
  /** Freed CPU blocks kept by the caching allocator for reuse (not counted in `bytes`). */
  cachedBytes: number;
}

export interface NativeModule {
  readonly abiVersion: number;

  fromTypedArray(data: Float32Array | Int32Array, shape: number[], device?: NativeDevice): NativeTensor;
  full(shape: number[], value: number, dtype: NativeDType, device?: NativeDevice): NativeTensor;
  reshape(x: NativeTensor, shape: number[]): NativeTensor;
  clone(x: NativeTensor): NativeTensor;
  to(x: NativeTensor, device: NativeDevice): NativeTensor;
  copyInto(dst: NativeTensor, src: NativeTensor): void;
  /**
   * Marks a constant float32 matrix as sparse: when at most maxDensity of its entries are nonzero, the index of its
   * nonzeros is built and kept with it, and the CPU products that read it (matmul, matmulBiasAct) skip its zeros with
   * the dense product's values bit for bit. In-place writes into it are refused from then on. Other devices: no index.
   */
  attachRowSparse(x: NativeTensor, maxDensity: number): { density: number; attached: boolean; indexBytes: number };

  matmul(a: NativeTensor, b: NativeTensor, transA?: boolean, transB?: boolean, alpha?: number): NativeTensor;
  transpose(x: NativeTensor): NativeTensor;

  csrFromEdges(
    n: number,
    src: Int32Array,
    dst: Int32Array,
    weights: Float32Array | null,
    options: GraphBuildOptions,
    device?: NativeDevice,
  ): NativeCsr;
  csrFromArrays(
    rows: number,
    cols: number,
    indptr: Int32Array,
    indices: Int32Array,
    values: Float32Array,
    device?: NativeDevice,
  ): NativeCsr;
  /** a·h (aᵀ·h with transpose); with an activation, act(a·h) in one pass. */
  spmm(a: NativeCsr, h: NativeTensor, transpose?: boolean, activation?: ActivationName, param?: number): NativeTensor;

  unary(name: UnaryName, x: NativeTensor, param?: number): NativeTensor;
  unaryGrad(name: UnaryName, xy: NativeTensor, dy: NativeTensor, param?: number): NativeTensor;
  binary(name: BinaryName, a: NativeTensor, b: NativeTensor): NativeTensor;
  affine(x: NativeTensor, alpha: number, beta: number): NativeTensor;
  axpby(alpha: number, a: NativeTensor, beta: number, b: NativeTensor): NativeTensor;
  mulScalar(x: NativeTensor, s: NativeTensor): NativeTensor;
  addRowVector(x: NativeTensor, v: NativeTensor): NativeTensor;
  mulRowVector(x: NativeTensor, v: NativeTensor): NativeTensor;
  mulColVector(x: NativeTensor, v: NativeTensor): NativeTensor;
  expandRows(v: NativeTensor, rows: number): NativeTensor;
  expandCols(v: NativeTensor, cols: number): NativeTensor;
  expandScalar(s: NativeTensor, shape: number[]): NativeTensor;

  rowSum(x: NativeTensor): NativeTensor;
  colSum(x: NativeTensor): NativeTensor;
  sumAll(x: NativeTensor): NativeTensor;
  argmaxRows(x: NativeTensor): NativeTensor;
  softmaxRows(x: NativeTensor, log?: boolean): NativeTensor;
  softmaxRowsGrad(y: NativeTensor, dy: NativeTensor, log?: boolean): NativeTensor;

  concatCols(xs: NativeTensor[]): NativeTensor;
  sliceCols(x: NativeTensor, start: number, end: number): NativeTensor;
  padCols(src: NativeTensor, start: number, cols: number): NativeTensor;
  gatherRows(x: NativeTensor, idx: NativeTensor): NativeTensor;
  scatterAddRows(src: NativeTensor, idx: NativeTensor, rows: number): NativeTensor;

  mse(a: NativeTensor, b: NativeTensor): NativeTensor;
  mseGrad(a: NativeTensor, b: NativeTensor, g: NativeTensor): NativeTensor;
  bceWithLogits(logits: NativeTensor, target: NativeTensor): NativeTensor;
  bceWithLogitsGrad(logits: NativeTensor, target: NativeTensor, g: NativeTensor): NativeTensor;

  adamStep(param: NativeTensor, grad: NativeTensor, m: NativeTensor, v: NativeTensor, options: AdamOptions): void;
  sgdStep(
    param: NativeTensor,
    grad: NativeTensor,
    velocity: NativeTensor | null,
    lr: number,
    momentum: number,
    weightDecay: number,
  ): void;

  attention(q: NativeTensor, k: NativeTensor, v: NativeTensor, heads: number, scale: number): [NativeTensor, NativeTensor];
  attentionBackward(
    q: NativeTensor,
    k: NativeTensor,
    v: NativeTensor,
    out: NativeTensor,
    lse: NativeTensor,
    dout: NativeTensor,
    heads: number,
    scale: number,
  ): [NativeTensor, NativeTensor, NativeTensor];
  selfCorrelation(z: NativeTensor): [NativeTensor, NativeTensor];
  selfCorrelationBackward(z: NativeTensor, out: NativeTensor, lse: NativeTensor, dout: NativeTensor): NativeTensor;
  gramSigmoidMseLoss(a: NativeCsr, z1: NativeTensor, z2: NativeTensor | null, wantGrads: boolean): NativeLoss;
  gramSigmoidBceLoss(t: NativeCsr, z: NativeTensor, wantGrads: boolean): NativeLoss;
  kmeans(
    x: NativeTensor,
    options: { k: number; nInit?: number; maxIter?: number; tol?: number; seed?: number },
  ): { centers: NativeTensor; labels: NativeTensor; inertia: number; iterations: number };
  knnGraph(x: NativeTensor, k: number, metric: 'heat' | 'cosine' | 'dot', sdcnOrder: boolean): NativeTensor;
  studentT(z: NativeTensor, mu: NativeTensor, nu: number): NativeTensor;
  studentTBackward(
    z: NativeTensor,
    mu: NativeTensor,
    nu: number,
    q: NativeTensor,
    dq: NativeTensor,
    wantZ: boolean,
    wantMu: boolean,
  ): [NativeTensor | null, NativeTensor | null];
  targetDistribution(q: NativeTensor): NativeTensor;
  klStudentT(zs: NativeTensor[], mu: NativeTensor, nu: number, p: NativeTensor, scale: number, wantGrads: boolean): NativeLoss;
  klStudentTSelf(zs: NativeTensor[], mu: NativeTensor, nu: number, scale: number, wantGrads: boolean): NativeLoss & { q: NativeTensor; p: NativeTensor };
  focalStudentT(z: NativeTensor, mu: NativeTensor, nu: number, p: NativeTensor, gamma: number, scale: number, wantGrads: boolean): NativeLoss;
  /** DCCF's contractive penalty scale·Σ_s ‖J_s‖²_F through a ReLU MLP encoder; dzs = one gradient per weight. form 0 auto, 1 direct, 2 gram. */
  contractivePenalty(weights: NativeTensor[], hidden: NativeTensor[], rows: number, scale: number, form: number, wantGrads: boolean): NativeLoss;
  pairAffinity(y: NativeTensor, nu: number): NativeTensor;
  pairAffinityBackward(y: NativeTensor, nu: number, dc: NativeTensor): NativeTensor;
  cdcCorrelationLoss(ya: NativeTensor, yb: NativeTensor, nu: number, scale: number, wantA: boolean, wantB: boolean): NativeLoss;
  /** AGCN's attention-weighted fusion: [out, u, t] (native/core/backend.h). */
  attentionFusion(xs: NativeTensor[], w: NativeTensor, b: NativeTensor, slope: number, concat: boolean): [NativeTensor, NativeTensor, NativeTensor];
  /** [dx_0, …, dx_{m−1}, dw, db]. */
  attentionFusionBackward(xs: NativeTensor[], w: NativeTensor, u: NativeTensor, t: NativeTensor, slope: number, concat: boolean, dout: NativeTensor): NativeTensor[];
  rowKlClipped(a: NativeTensor, b: NativeTensor, scale: number, wantA: boolean, wantB: boolean): NativeLoss;
  cdcPairLoss(
    ya: NativeTensor,
    yb: NativeTensor,
    nu: number,
    scale: number,
    normalization: 'row' | 'global',
    sharpen: boolean,
    wantA: boolean,
    wantB: boolean,
  ): NativeLoss;

  randomUniform(shape: number[], low: number, high: number, seed: number, stream: number, device?: NativeDevice): NativeTensor;
  randomNormal(shape: number[], mean: number, std: number, seed: number, stream: number, device?: NativeDevice): NativeTensor;

  memory(device?: NativeDevice): MemoryInfo;
  resetPeakMemory(device?: NativeDevice): void;
  releaseCachedMemory(): void;
  synchronize(device?: NativeDevice): void;
  cacheLimit(): number;
  setCacheLimit(bytes: number): void;
  numThreads(): number;
  setNumThreads(n: number): void;
  backends(): BackendInfo[];

  /** act(op(a)·op(b) + bias) in one op: the bias (one value per output column) and activation fused in. */
  matmulBiasAct(a: NativeTensor, b: NativeTensor, transA: boolean, transB: boolean, bias: NativeTensor | null,
                activation: ActivationName, param?: number): NativeTensor;
  /** The backward of matmulBiasAct / spmm with an activation, from the output y: [dy·act'(y), its column sums or null]. */
  activationGrad(activation: ActivationName, y: NativeTensor, dy: NativeTensor, param: number, wantBias: boolean): [NativeTensor, NativeTensor | null];
}
