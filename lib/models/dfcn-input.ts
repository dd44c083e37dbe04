// DFCN's preprocessing, as main.py does it (dfcn.md §1.0–§1.1): PCA of the raw features to the preset width
// (u-based signs), the graph (natural, or the heat-kernel k = 5 kNN graph rebuilt on the PCA features),
// Â = D⁻¹(max(A, Aᵀ) + I), and the constant reconstruction target ÂX.
import { DgcError, Tensor, tidy } from '../tensor';
import * as ops from '../ops';
import { SparseMatrix } from '../sparse';
import { pca } from '../data/pca';
import type { Dataset } from '../data/embedded';
import type { Device } from '../tensor';
import type { DfcnPreset } from './dfcn';

export interface DfcnInput {
  /** N × n PCA features. */
  x: Tensor;
  /** Â, row-normalized with self-loops. */
  adj: SparseMatrix;
  /** ÂX, the IGAE's reconstruction target. */
  adjX: Tensor;
  /** 0-based class ids (for evaluation only). */
  labels: Int32Array;
  nClusters: number;
  /** Milliseconds spent in PCA and in building the graph. */
  timings: { pcaMs: number; graphMs: number };
  dispose(): void;
}

export function prepareDfcnInput(ds: Dataset, preset: DfcnPreset, options: { device?: Device; knnK?: number } = {}): DfcnInput {
  const device = options.device ?? 'cpu';
  const n = ds.features.rows;
  let t0 = Date.now();
  const p = pca(ds.features, { components: Math.min(preset.pcaDim, n, ds.features.cols), signRule: 'u' });
  const pcaMs = Date.now() - t0;
  t0 = Date.now();
  const x = ops.tensor(p.scores, [n, p.components], { device });
  let src: Int32Array;
  let dst: Int32Array;
  if (preset.graph === 'knn') {
    // top-(k+1) by exp(−‖xi − xj‖²/2) on the PCA features, self dropped (dfcn.md §1.1).
    ({ src, dst } = tidy(() => ops.knnEdges(ops.knnGraph(x, options.knnK ?? 5, { metric: 'heat' }))));
  } else {
    if (!ds.edges) {
      x.dispose();
      throw new DgcError('DGC_DATA', `DFCN on '${ds.name}' needs the dataset's graph file (<name>_graph.txt), which was not found`);
    }
    ({ src, dst } = ds.edges);
  }
  const adj = SparseMatrix.fromEdges(n, src, dst, { symmetrize: true, selfLoops: true, normalization: 'row', device });
  const adjX = adj.matmul(x);
  const graphMs = Date.now() - t0;
  return {
    x,
    adj,
    adjX,
    labels: ds.labels.labels,
    nClusters: ds.labels.k,
    timings: { pcaMs, graphMs },
    dispose() {
      x.dispose();
      adjX.dispose();
      adj.dispose();
    },
  };
}
