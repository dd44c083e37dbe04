// SparseMatrix: a CSR matrix in native memory, typically the normalized adjacency Â of a graph.
// Built once; its transpose (needed by the backward of Â·H, since the row-normalized Â is not symmetric)
// is built on first use and kept with it. Not tracked by tidy(): dispose() it when done.
import { native } from './native';
import { DgcError, Device, Tensor } from './tensor';
import { spmm } from './ops';
import { isInt32Array } from './util/typed';
import type { NativeCsr } from '../types/native';

export type Normalization = 'none' | 'row' | 'sym';

export interface FromEdgesOptions {
  /** Weights per edge (default: all 1). Duplicate edges merge by max. */
  weights?: Float32Array;
  /** A := max(A, Aᵀ). Default true. */
  symmetrize?: boolean;
  /** A := A + I. Default true. */
  selfLoops?: boolean;
  /** 'row': D⁻¹(A+I) (SDCN/DFCN/AGCN code), 'sym': D^-½(A+I)D^-½ (GCN paper), 'none'. Default 'row'. */
  normalization?: Normalization;
  device?: Device;
}

export class SparseMatrix {
  /** @internal */
  readonly handle: NativeCsr;

  private constructor(handle: NativeCsr) {
    this.handle = handle;
  }

  /** An n×n graph from directed edges src[e] → dst[e] (0-based ids). */
  static fromEdges(n: number, src: Int32Array | number[], dst: Int32Array | number[], options: FromEdgesOptions = {}): SparseMatrix {
    const s = isInt32Array(src) ? src : Int32Array.from(src);
    const d = isInt32Array(dst) ? dst : Int32Array.from(dst);
    const { weights, device, ...rest } = options;
    return new SparseMatrix(native.csrFromEdges(n, s, d, weights ?? null, rest, device));
  }

  /** A CSR matrix from its arrays (checked: monotone indptr, indices in range, sorted, unique per row). */
  static fromCsr(rows: number, cols: number, indptr: Int32Array, indices: Int32Array, values: Float32Array, device?: Device): SparseMatrix {
    return new SparseMatrix(native.csrFromArrays(rows, cols, indptr, indices, values, device));
  }

  get rows(): number {
    return this.handle.rows;
  }
  get cols(): number {
    return this.handle.cols;
  }
  get nnz(): number {
    return this.handle.nnz;
  }
  get device(): Device {
    return this.handle.device;
  }
  get disposed(): boolean {
    return this.handle.disposed;
  }

  /** this · h (or thisᵀ · h), differentiable in h. */
  matmul(h: Tensor, transpose = false): Tensor {
    return spmm(this, h, transpose);
  }

  /** Copies of the CSR arrays (of the transpose, if asked). */
  toArrays(transposed = false): { rows: number; cols: number; indptr: Int32Array; indices: Int32Array; values: Float32Array } {
    return this.handle.toArrays(transposed);
  }

  /** Dense copy, for tests and small graphs only. */
  toDense(): Float32Array {
    if (this.rows * this.cols > 1 << 26) {
      throw new DgcError('DGC_SHAPE', `toDense: ${this.rows}x${this.cols} is too large for a dense copy`);
    }
    const { indptr, indices, values } = this.toArrays();
    const out = new Float32Array(this.rows * this.cols);
    for (let i = 0; i < this.rows; i++) for (let e = indptr[i]; e < indptr[i + 1]; e++) out[i * this.cols + indices[e]] = values[e];
    return out;
  }

  dispose(): void {
    this.handle.dispose();
  }
}
