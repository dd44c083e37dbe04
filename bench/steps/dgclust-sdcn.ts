// One SDCN training step with dgclust's building blocks (lib/nn Linear and GraphConv, lib/ops, lib/optim Adam),
// the same computation as bench/steps/tfjs-sdcn.ts and bench/torch/bench_torch.py (SDCN's sdcn.py):
//   AE d-500-500-2000-10 (ReLU), GCN branch act(Â H W) d-500-500-2000-10-K mixing in the AE's activations with
//   σ = 0.5, pred = softmax(H5); Q = Student-t(Z, μ); P = target(Q) detached;
//   L = 0.1 KL(P‖Q) + 0.01 KL(P‖pred) + mse(X̄, X); backward; Adam.
import * as dg from '../../lib';
import type { StepInputs, StepModel } from './types';

const SIGMA = 0.5;

class SdcnAe extends dg.Module {
  readonly enc: dg.Linear[];
  readonly zLayer: dg.Linear;
  readonly dec: dg.Linear[];
  readonly xBarLayer: dg.Linear;
  constructor(nInput: number, nZ: number, hidden: number[], gen: dg.Generator) {
    super();
    const [h1, h2, h3] = hidden;
    const o = { generator: gen };
    this.enc = [[nInput, h1], [h1, h2], [h2, h3]].map(([i, j], l) => this.registerModule(`enc_${l + 1}`, new dg.Linear(i, j, o)));
    this.zLayer = this.registerModule('z_layer', new dg.Linear(h3, nZ, o));
    this.dec = [[nZ, h3], [h3, h2], [h2, h1]].map(([i, j], l) => this.registerModule(`dec_${l + 1}`, new dg.Linear(i, j, o)));
    this.xBarLayer = this.registerModule('x_bar_layer', new dg.Linear(h1, nInput, o));
  }
}

class Sdcn extends dg.Module {
  readonly ae: SdcnAe;
  readonly gnn: dg.GraphConv[];
  readonly mu: dg.Tensor;
  constructor(nInput: number, nClusters: number, nZ: number, hidden: number[], gen: dg.Generator) {
    super();
    this.ae = this.registerModule('ae', new SdcnAe(nInput, nZ, hidden, gen));
    const dims = [nInput, ...hidden, nZ, nClusters];
    this.gnn = [0, 1, 2, 3, 4].map((l) =>
      this.registerModule(`gnn_${l + 1}`, new dg.GraphConv(dims[l], dims[l + 1], { activation: l < 4 ? dg.relu : null, generator: gen })));
    this.mu = this.registerParameter('cluster_layer', gen.normal([nClusters, nZ]));
  }

  /** The loss of one forward pass (P from this pass's Q, detached). */
  loss(x: dg.Tensor, adj: dg.SparseMatrix): dg.Tensor {
    const a = this.ae;
    const h1 = dg.relu(a.enc[0].forward(x));
    const h2 = dg.relu(a.enc[1].forward(h1));
    const h3 = dg.relu(a.enc[2].forward(h2));
    const z = a.zLayer.forward(h3);
    let d = dg.relu(a.dec[0].forward(z));
    d = dg.relu(a.dec[1].forward(d));
    d = dg.relu(a.dec[2].forward(d));
    const xBar = a.xBarLayer.forward(d);
    const mix = (h: dg.Tensor, t: dg.Tensor) => dg.axpby(1 - SIGMA, h, SIGMA, t);
    let h = this.gnn[0].forward(x, adj);
    h = this.gnn[1].forward(mix(h, h1), adj);
    h = this.gnn[2].forward(mix(h, h2), adj);
    h = this.gnn[3].forward(mix(h, h3), adj);
    h = this.gnn[4].forward(mix(h, z), adj);
    const logPred = dg.logSoftmax(h);
    const n = x.shape[0];
    // 0.1 · KL(P‖Q), batchmean, with P = target(Q) of this forward pass (detached): one fused call.
    const { loss: kl, p } = dg.klStudentTSelf(z, this.mu, { weight: 0.1 });
    const pLogP = dg.noGrad(() => dg.sum(dg.mul(p, dg.log(p))).item());
    // 0.01 · KL(P‖pred) = 0.01 · (Σ p log p − Σ p log pred) / N
    const ce = dg.affine(dg.sum(dg.mul(p, logPred)), -0.01 / n, (0.01 * pLogP) / n);
    return dg.add(dg.add(kl, ce), dg.mse(xBar, x));
  }
}

export function createDgclustSdcnStep(inp: StepInputs, hidden: number[] = [500, 500, 2000], nZ = 10): StepModel {
  const model = new Sdcn(inp.nInput, inp.nClusters, nZ, hidden, new dg.Generator(0));
  const state = new Map<string, dg.Tensor>();
  for (const [name, w] of inp.weights) state.set(name, dg.tensor(w.data, w.shape));
  model.loadStateDict(state, { strict: true });
  for (const t of state.values()) t.dispose();
  const adj = dg.SparseMatrix.fromCsr(inp.n, inp.n, inp.adj.indptr, inp.adj.indices, inp.adj.values);
  const x = dg.keep(dg.tensor(inp.x, [inp.n, inp.nInput]));
  const opt = new dg.Adam(model.parameters(), { lr: inp.lr });
  return {
    step: () =>
      dg.tidy(() => {
        const loss = model.loss(x, adj);
        const value = loss.item();
        dg.backward(loss);
        opt.step();
        opt.zeroGrad();
        return value;
      }),
    lossAndGrads: () =>
      dg.tidy(() => {
        const loss = model.loss(x, adj);
        const value = loss.item();
        dg.backward(loss);
        const grads = new Map<string, Float32Array>();
        for (const [name, p] of model.namedParameters()) grads.set(name, p.grad ? p.grad.dataF32() : new Float32Array(p.size));
        opt.zeroGrad();
        return { loss: value, grads };
      }),
    dispose: () => {
      opt.dispose();
      model.dispose();
      x.dispose();
      adj.dispose();
    },
  };
}
