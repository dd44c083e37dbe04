// The graph a graph model trains on: the data's own edges, or — when the data has none — a kNN graph built on
// the features by SDCN's rule (calcu_graph.py): the top-(k+1) most similar rows of each row, the row itself
// dropped, then union-symmetrised with self-loops added and normalized like a natural graph.
import * as ops from '../ops';
import { SparseMatrix } from '../sparse';
import type { Normalization } from '../sparse';
import { DgcError, Tensor, tidy } from '../tensor';
import type { ClusteringData } from './types';

export interface GraphChoice {
  /** Neighbours per row when a kNN graph must be built. */
  knnK: number;
  /** 'heat': exp(−‖xi − xj‖²/t) (SDCN's default, DFCN's); 'cosine'; 'dot' (SDCN's 'ncos' on binarised rows). */
  knnMetric?: 'heat' | 'cosine' | 'dot';
  normalization: Normalization;
}

/** Â of the data (its edges) or of a kNN graph on `x`; says which in `note`. */
export function buildAdjacency(data: ClusteringData, x: Tensor, g: GraphChoice, forceKnn = false): { adj: SparseMatrix; note: string; ms: number } {
  const t0 = performance.now();
  const n = x.shape[0];
  let src: Int32Array;
  let dst: Int32Array;
  let note: string;
  if (data.edges && !forceKnn) {
    ({ src, dst } = data.edges);
    note = `graph: the data's own (${src.length} edge entries), union-symmetrised, self-loops, ${g.normalization}-normalized`;
  } else {
    if (!Number.isInteger(g.knnK) || g.knnK < 1 || g.knnK >= n) {
      throw new DgcError('DGC_ARG', `kNN graph: k must be an integer in [1, ${n - 1}], got ${g.knnK}`);
    }
    const metric = g.knnMetric ?? 'heat';
    ({ src, dst } = tidy(() => ops.knnEdges(ops.knnGraph(x, g.knnK, { metric }))));
    note = `graph: ${forceKnn ? '' : 'none given, so '}kNN k = ${g.knnK} (${metric}) on the ${x.shape[1]}-column input, top-(k+1) minus self, ` +
      `union-symmetrised, self-loops, ${g.normalization}-normalized`;
  }
  const adj = SparseMatrix.fromEdges(n, src, dst, { symmetrize: true, selfLoops: true, normalization: g.normalization, device: x.device });
  return { adj, note, ms: performance.now() - t0 };
}

/** A short stable name for a data matrix: its name, shape and a hash of its values (for the pretraining cache). */
export function dataKey(data: ClusteringData): string {
  const { rows, cols, data: values } = data.features;
  const h = require('crypto').createHash('sha256').update(Buffer.from(values.buffer, values.byteOffset, values.byteLength)).digest('hex');
  return `${data.name}-${rows}x${cols}-${h.slice(0, 12)}`;
}
