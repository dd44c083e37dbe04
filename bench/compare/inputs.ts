// Builds the inputs of a plan once, in the parent process, and stores them for the children (store.ts):
//   graph/acm       ACM's natural graph (embedded dataset), Â = D⁻¹(max(A, Aᵀ) + I), and its transpose
//   graph/usps      the heat-kernel k = 5 kNN graph of USPS (SDCN/DFCN's rule, dg.knnGraph) on the real
//                   features when the shared data folder has them, else on random features of the same shape
//   graph/rand100k  100,000 nodes, 5 random out-edges each (~1.1 M nonzeros after symmetrization + I)
//   dfcn/x, dfcn/w/<name>   ACM-shaped DFCN input (N×100, standing in for the PCA scores) and weights
//   sdcn/x, sdcn/w/<name>   USPS-shaped SDCN input (N×256 in [0, 1)) and weights
import * as fs from 'fs';
import * as path from 'path';
import * as dg from '../../lib';
import { ArrayStore, putCsr } from './store';
import type { Case } from './plan';
import { graphsNeeded } from './plan';
import { dfcnParamSpecs, drawWeights, sdcnParamSpecs } from '../steps/weights';
import { randomOutEdges } from '../random-graph';

function csrOf(adj: dg.SparseMatrix, transposed: boolean) {
  const a = adj.toArrays(transposed);
  return { n: a.rows, nnz: a.indices.length, indptr: a.indptr, indices: a.indices, values: a.values };
}

function storeGraph(store: ArrayStore, name: string, adj: dg.SparseMatrix, source: string): void {
  putCsr(store, `graph/${name}`, csrOf(adj, false));
  putCsr(store, `graph/${name}/T`, csrOf(adj, true));
  store.manifest.info[`graph/${name}`] = { n: adj.rows, nnz: adj.nnz, source };
}

/** The shared data folder (features of USPS), if this checkout sits next to one. */
function sharedDataDir(): string | undefined {
  const candidates = [process.env.DGCLUST_DATA, path.join(__dirname, '..', '..', '..', 'shared', 'data')];
  return candidates.find((d) => d && fs.existsSync(d));
}

export function buildGraph(name: string, log: (s: string) => void): { adj: dg.SparseMatrix; source: string } {
  const gen = new dg.Generator(7);
  if (name === 'acm') {
    const ds = dg.loadDataset('acm');
    const e = ds.edges!;
    return { adj: dg.SparseMatrix.fromEdges(ds.features.rows, e.src, e.dst, { normalization: 'row' }), source: 'ACM natural graph (embedded data/acm)' };
  }
  if (name === 'usps') {
    let x: dg.Tensor | null = null;
    let source = 'kNN (heat, k=5) on random 9298×256 features';
    const dir = sharedDataDir();
    if (dir) {
      try {
        const ds = dg.loadDataset('usps', { dataDir: dir, knnK: 5 });
        x = dg.tensor(ds.features.data, [ds.features.rows, ds.features.cols]);
        source = `kNN (heat, k=5, dg.knnGraph) on the real USPS features (${dir})`;
      } catch (err) {
        log(`  USPS features not loaded (${(err as Error).message.split('\n')[0]}); using random features`);
      }
    }
    if (!x) x = gen.uniform([9298, 256], 0, 1);
    const t0 = Date.now();
    const nb = dg.knnGraph(x, 5, { metric: 'heat' });
    const { src, dst } = dg.knnEdges(nb);
    nb.dispose();
    x.dispose();
    log(`  USPS kNN graph: ${Date.now() - t0} ms`);
    return { adj: dg.SparseMatrix.fromEdges(9298, src, dst, { normalization: 'row' }), source };
  }
  if (name === 'rand100k') {
    const n = 100000;
    const { src, dst } = randomOutEdges(gen, n, 5);
    return { adj: dg.SparseMatrix.fromEdges(n, src, dst, { normalization: 'row' }), source: '100,000 nodes, 5 random out-edges each' };
  }
  throw new Error(`unknown bench graph '${name}'`);
}

/** Writes every input the plan needs into dir (reusing what is already there). */
export function prepareInputs(dir: string, plan: Case[], log: (s: string) => void): ArrayStore {
  const store = new ArrayStore(dir, true);
  for (const g of graphsNeeded(plan)) {
    if (store.has(`graph/${g}/indptr`)) continue;
    const t0 = Date.now();
    const { adj, source } = buildGraph(g, log);
    storeGraph(store, g, adj, source);
    log(`  graph ${g}: N=${adj.rows} nnz=${adj.nnz} (${Date.now() - t0} ms)`);
    adj.dispose();
  }
  // One generator per input, so the inputs do not depend on which cases the plan holds (--only).
  if (plan.some((c) => c.kernel === 'dfcn') && !store.has('dfcn/x')) {
    const x = new dg.Generator(3).normal([3025, 100], 0, 1);
    store.put('dfcn/x', x.dataF32(), [3025, 100]);
    x.dispose();
    for (const [name, w] of drawWeights(dfcnParamSpecs(100, 3), 11)) store.put(`dfcn/w/${name}`, w.data, w.shape);
  }
  if (plan.some((c) => c.kernel === 'sdcn') && !store.has('sdcn/x')) {
    const x = new dg.Generator(4).uniform([9298, 256], 0, 1);
    store.put('sdcn/x', x.dataF32(), [9298, 256]);
    x.dispose();
    for (const [name, w] of drawWeights(sdcnParamSpecs(256, 10), 12)) store.put(`sdcn/w/${name}`, w.data, w.shape);
  }
  store.save();
  return store;
}

/** The weights stored under a prefix ('dfcn/w/'), by parameter name. */
export function storedWeights(store: ArrayStore, prefix: string): Map<string, { data: Float32Array; shape: number[] }> {
  const out = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const k of store.keys(prefix)) out.set(k.slice(prefix.length), store.getF32(k));
  return out;
}
