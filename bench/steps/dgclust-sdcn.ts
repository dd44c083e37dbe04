// One SDCN training step with the library's own model (`SdcnModule` of lib/models/sdcn.ts: SDCN's autoencoder,
// GCN branch and loss, exactly what `dgclust train --model sdcn` runs), the same computation as
// bench/steps/tfjs-sdcn.ts and bench/torch/bench_torch.py (SDCN's sdcn.py):
//   AE d-500-500-2000-10 (ReLU), GCN branch act(Â H W) d-500-500-2000-10-K mixing in the AE's activations with
//   σ = 0.5, pred = softmax(H5); Q = Student-t(Z, μ); P = target(Q) of this forward pass, detached;
//   L = 0.1 KL(P‖Q) + 0.01 KL(P‖pred) + mse(X̄, X); backward; Adam.
import * as dg from '../../lib';
import { SdcnModule } from '../../lib/models/sdcn';
import type { TargetContext } from '../../lib/models/types';
import { adamStepModel } from './dgclust-common';
import type { StepInputs, StepModel } from './types';

const SETTINGS = { sigma: 0.5, klQ: 0.1, klZ: 0.01 };
// The library names μ 'head.cluster_layer'; the official checkpoints (and the step inputs) 'cluster_layer'.
const toLib = (name: string) => (name === 'cluster_layer' ? 'head.cluster_layer' : name);
const toOfficial = (name: string) => (name === 'head.cluster_layer' ? 'cluster_layer' : name);

export function createDgclustSdcnStep(inp: StepInputs, hidden: [number, number, number] = [500, 500, 2000], nZ = 10): StepModel {
  const model = new SdcnModule(inp.nInput, inp.nClusters, new dg.Generator(0), 'cpu', { hidden, nZ });
  const state = new Map<string, dg.Tensor>();
  for (const [name, w] of inp.weights) state.set(toLib(name), dg.tensor(w.data, w.shape));
  model.loadStateDict(state, { strict: true });
  for (const t of state.values()) t.dispose();
  const adj = dg.SparseMatrix.fromCsr(inp.n, inp.n, inp.adj.indptr, inp.adj.indices, inp.adj.values);
  const x = dg.keep(dg.tensor(inp.x, [inp.n, inp.nInput]));
  const opt = new dg.Adam(model.parameters(), { lr: inp.lr });
  // Every step refreshes P from its own forward pass (SDCN's update interval is 1); the step keeps no P.
  const loss = (): dg.Tensor => {
    let p: dg.Tensor | null = null;
    const ctx: TargetContext = { refresh: true, target: () => p, setTarget: (t) => (p = t) };
    return model.loss(x, adj, SETTINGS, ctx).total;
  };
  return adamStepModel(model, opt, loss, toOfficial, () => {
    x.dispose();
    adj.dispose();
  });
}
