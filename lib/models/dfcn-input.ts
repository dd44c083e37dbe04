// DFCN's preprocessing, as main.py does it (DFCN code; paper §3.1): PCA of the raw features to the preset
// width (scikit-learn 0.21's u-based signs), the graph (the data's natural graph, or the heat-kernel k = 5 kNN
// graph rebuilt on the PCA features, as for USPS/HHAR/Reuters), Â = D⁻¹(max(A, Aᵀ) + I), and the constant
// reconstruction target ÂX of the IGAE.
import { DgcError, Tensor } from '../tensor';
import * as ops from '../ops';
import { pca } from '../data/pca';
import type { Dataset } from '../data/embedded';
import type { Device } from '../tensor';
import type { SparseMatrix } from '../sparse';
import { fromDataset } from './types';
import type { ClusteringData, ModelInput } from './types';
import { buildAdjacency, dataKey } from './graph';

export interface DfcnInput extends ModelInput {
  /** N × n PCA features. */
  x: Tensor;
  /** Â, row-normalized with self-loops. */
  adj: SparseMatrix;
  /** ÂX, the IGAE's reconstruction target. */
  adjX: Tensor;
}

export interface DfcnInputSettings {
  pcaDim: number;
  /** 'natural': the data's graph; 'knn': the heat-kernel kNN graph rebuilt on the PCA features. */
  graph: 'natural' | 'knn';
  /** k of that kNN graph (DFCN: 5). */
  knnK?: number;
}

export function prepareDfcnInput(data: ClusteringData | Dataset, settings: DfcnInputSettings, options: { device?: Device } = {}): DfcnInput {
  const d: ClusteringData = 'nClusters' in data ? data : fromDataset(data);
  const device = options.device ?? 'cpu';
  const n = d.features.rows;
  let t0 = performance.now();
  const comps = Math.min(settings.pcaDim, n, d.features.cols);
  const p = pca(d.features, { components: comps, signRule: 'u' });
  const pcaMs = performance.now() - t0;
  t0 = performance.now();
  const x = ops.tensor(p.scores, [n, p.components], { device });
  const notes = [`PCA: ${d.features.cols} → ${p.components} columns (u-based signs)`];
  let adj: SparseMatrix;
  try {
    if (settings.graph === 'natural' && !d.edges) {
      throw new DgcError('DGC_DATA', `DFCN on '${d.name}' needs the dataset's graph file (<name>_graph.txt), which was not found ` +
        "(or use the preset-less defaults, which build a kNN graph: give no graph and a dataset without a DFCN preset)");
    }
    // top-(k+1) by exp(−‖xi − xj‖²/2) on the PCA features, self dropped (DFCN main.py).
    const g = buildAdjacency(d, x, { knnK: settings.knnK ?? 5, knnMetric: 'heat', normalization: 'row' }, settings.graph === 'knn');
    adj = g.adj;
    notes.push(g.note);
  } catch (e) {
    x.dispose();
    throw e;
  }
  const adjX = adj.matmul(x);
  const graphMs = performance.now() - t0;
  return {
    x,
    adj,
    adjX,
    labels: d.labels,
    nClusters: d.nClusters,
    key: `${dataKey(d)}-pca${p.components}-${settings.graph}${settings.graph === 'knn' ? settings.knnK ?? 5 : ''}`,
    notes,
    timings: { pcaMs, graphMs },
    dispose() {
      x.dispose();
      adjX.dispose();
      adj.dispose();
    },
  };
}
