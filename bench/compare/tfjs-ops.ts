// The comparison's computations written in TensorFlow.js, as a tfjs user would write them.
//
// Backends: 'cpu' (@tensorflow/tfjs-backend-cpu, plain JavaScript) and 'wasm' (@tensorflow/tfjs-backend-wasm,
// XNNPACK + SIMD). In Node the wasm backend runs its single-threaded build whatever setThreadsCount says (the
// threaded build needs cross-origin-isolated SharedArrayBuffer workers, a browser feature), and the cpu backend
// is single-threaded JavaScript. tfjs-node (libtensorflow bindings) is not used: its install downloads
// libtensorflow, which this machine cannot do.
//
// tfjs has no sparse × dense product. The general recipe is gather + unsortedSegmentSum, but
//   - tfjs-backend-cpu implements UnsortedSegmentSum with one mask, one product and one reduction per segment
//     (O(N·nnz·d) time, and it keeps every per-segment product until the end: O(N·nnz·d) memory — ACM at d = 20
//     would need ~7 GB), and tf.gather's gradient is that kernel;
//   - tfjs-backend-wasm has no UnsortedSegmentSum kernel at all.
// So SpMM here is gather → scale by the edge values → tf.sparse.sparseSegmentSum over the (sorted) CSR row ids,
// which both backends implement in O(nnz·d), with the gradient supplied through tf.customGrad as Âᵀ·G (the
// transpose CSR), since neither sparseSegmentSum nor (usably) gather has a gradient.
import * as tf from '@tensorflow/tfjs';
import type { CsrArrays } from './store';
import { csrRowIds } from './store';

export type TfBackend = 'cpu' | 'wasm';

let wasmLoaded = false;

/** Selects a tfjs backend (loading the wasm one on first use); prod mode (no debug checks, no console banner). */
export async function useBackend(backend: TfBackend): Promise<void> {
  if (backend === 'wasm' && !wasmLoaded) {
    require('@tensorflow/tfjs-backend-wasm');
    wasmLoaded = true;
  }
  tf.enableProdMode();
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs: backend '${backend}' failed to initialise`);
  await tf.ready();
}

export async function backendInfo(): Promise<Record<string, unknown>> {
  const info: Record<string, unknown> = { tfjs: tf.version.tfjs, backend: tf.getBackend() };
  if (tf.getBackend() === 'wasm') {
    const wasm = require('@tensorflow/tfjs-backend-wasm') as { getThreadsCount(): number };
    info.threads = wasm.getThreadsCount();
    info.simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    info.multithread = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  } else {
    info.threads = 1;
  }
  return info;
}

// ---- sparse Â·H ------------------------------------------------------------------------------------------

export interface TfCsr {
  n: number;
  /** Row id of every nonzero (ascending: CSR order), column ids, and values as an nnz×1 column. */
  rows: tf.Tensor1D;
  cols: tf.Tensor1D;
  vals: tf.Tensor2D;
  /** 0..nnz−1: sparseSegmentSum's 'indices' (the gathered, scaled rows are summed in place). */
  ids: tf.Tensor1D;
}

export function tfCsr(c: CsrArrays): TfCsr {
  return {
    n: c.n,
    rows: tf.tensor1d(csrRowIds(c), 'int32'),
    cols: tf.tensor1d(c.indices, 'int32'),
    vals: tf.tensor2d(c.values, [c.nnz, 1]),
    ids: tf.range(0, c.nnz, 1, 'int32') as tf.Tensor1D,
  };
}

export function disposeCsr(a: TfCsr): void {
  tf.dispose([a.rows, a.cols, a.vals, a.ids]);
}

/** Â·H: gather the neighbours' rows, scale by the edge values, sum per row (segment sum over sorted row ids). */
export function spmmSegment(a: TfCsr, h: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.sparse.sparseSegmentSum(tf.mul(tf.gather(h, a.cols), a.vals), a.ids, a.rows) as tf.Tensor2D);
}

/** The textbook tfjs recipe, gather + unsortedSegmentSum (cpu backend only; O(N·nnz·d): tiny graphs only). */
export function spmmUnsortedSegment(a: TfCsr, h: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.unsortedSegmentSum(tf.mul(tf.gather(h, a.cols), a.vals), a.rows, a.n) as tf.Tensor2D);
}

/** A differentiable Â·H for training: forward spmmSegment(Â), backward spmmSegment(Âᵀ) (tf.customGrad). */
export function makeSpmm(a: TfCsr, aT: TfCsr): (h: tf.Tensor2D) => tf.Tensor2D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const h = args[0] as tf.Tensor2D;
    return { value: spmmSegment(a, h), gradFunc: (dy: tf.Tensor) => spmmSegment(aT, dy as tf.Tensor2D) };
  });
  return (h) => op(h) as tf.Tensor2D;
}

/** Dense N×N copy of a CSR matrix (only where it fits). */
export function denseOf(c: CsrArrays): tf.Tensor2D {
  const d = new Float32Array(c.n * c.n);
  for (let i = 0; i < c.n; i++) for (let e = c.indptr[i]; e < c.indptr[i + 1]; e++) d[i * c.n + c.indices[e]] = c.values[e];
  return tf.tensor2d(d, [c.n, c.n]);
}

// ---- DFCN / SDCN building blocks ---------------------------------------------------------------------------

/**
 * A Bᵀ, spelled matMul(A, transpose(B)): tfjs-wasm runs matMul's transpose flags on a slow path (the GEMM rows
 * show ~2 GFLOP/s against ~30 for NN; for Z Zᵀ at N = 3,025, d = 20: 390 ms with the flag, 26 ms this way), and
 * tfjs-cpu is faster this way too. tfjs's own gradients of matMul still use the flags.
 */
export function matMulNT(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.matMul(a, tf.transpose(b)));
}

/** DFCN's self-correlation softmax(Z Zᵀ) Z (SAIF steps ③–④, no 1/√d scaling), dense N×N as tfjs computes it. */
export function selfCorrelation(z: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.matMul(tf.softmax(matMulNT(z, z)), z));
}

/** Student-t soft assignment q_ij ∝ (1 + ‖z_i − μ_j‖²/ν)^(−(ν+1)/2), rows normalised (DEC/SDCN code). */
export function studentT(z: tf.Tensor2D, mu: tf.Tensor2D, nu = 1): tf.Tensor2D {
  return tf.tidy(() => {
    const dist = tf.sum(tf.square(tf.sub(tf.expandDims(z, 1), tf.expandDims(mu, 0))), 2);
    let q = tf.div(1, tf.add(1, tf.div(dist, nu)));
    if (nu !== 1) q = tf.pow(q, (nu + 1) / 2);
    return tf.div(q, tf.sum(q, 1, true)) as tf.Tensor2D;
  });
}

/** DEC's target distribution p_ij ∝ q_ij² / Σ_i q_ij. */
export function targetDistribution(q: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const w = tf.div(tf.square(q), tf.sum(q, 0));
    return tf.div(w, tf.sum(w, 1, true)) as tf.Tensor2D;
  });
}

/** KL(P‖Q) with 'batchmean' reduction: Σ p (log p − log q) / N (F.kl_div(q.log(), p, reduction='batchmean')). */
export function klBatchMean(p: tf.Tensor2D, logQ: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.div(tf.sum(tf.mul(p, tf.sub(tf.log(p), logQ))), p.shape[0]) as tf.Scalar);
}

/** A constant copy (no gradient flows back through it): tfjs has no stopGradient, so copy the values. */
export function detach<T extends tf.Tensor>(t: T): T {
  return tf.tensor(t.dataSync(), t.shape, t.dtype as 'float32') as T;
}

/** Mean squared error, F.mse_loss. */
export function mse(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.squaredDifference(a, b)) as tf.Scalar);
}

export { tf };
