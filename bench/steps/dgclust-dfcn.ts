// The dgclust DFCN training step: the library's own model (lib/models/dfcn.ts), loaded at run time when the file
// exists, with the step lib/train/dfcn.ts runs each epoch: forward; P = target(Q(Z̃)) under noGrad;
// L = L_AE + L_w + γ L_a + λ L_KL; backward; Adam; zeroGrad.
//
// What it needs from lib/models/dfcn: a class `Dfcn` constructed with { nInput, nClusters, igaeActivation,
// igaeLayout, generator }, with loadStateDict (official parameter names), parameters(), namedParameters(),
// forward(x, adj) → { zTilde, … }, softAssign(zTilde) and losses(f, x, adj, adjX, p) → { total }. When the file is
// missing or does not offer this, the step reports why ("pending: …") instead of a time.
import * as fs from 'fs';
import * as path from 'path';
import * as dg from '../../lib';
import { adamStepModel } from './dgclust-common';
import type { PendingStep, StepInputs, StepModel } from './types';

const MODEL_FILE = path.join(__dirname, '..', '..', 'lib', 'models', 'dfcn');

interface DfcnLike {
  loadStateDict(state: Map<string, dg.Tensor>, options?: { strict?: boolean }): void;
  parameters(): dg.Tensor[];
  namedParameters(): [string, dg.Tensor][];
  forward(x: dg.Tensor, adj: dg.SparseMatrix): { zTilde: dg.Tensor };
  softAssign(z: dg.Tensor): dg.Tensor;
  losses(f: unknown, x: dg.Tensor, adj: dg.SparseMatrix, adjX: dg.Tensor, p: dg.Tensor | null): { total: dg.Tensor };
  dispose(): void;
}

/** Loads the library's DFCN model class, or says why it cannot. */
export function loadDfcnModel(): { Dfcn: new (options: Record<string, unknown>) => DfcnLike } | PendingStep {
  if (!['.ts', '.js'].some((ext) => fs.existsSync(MODEL_FILE + ext))) return { pending: 'pending: lib/models/dfcn.ts not found' };
  let mod: Record<string, unknown>;
  try {
    mod = require(MODEL_FILE);
  } catch (err) {
    return { pending: `pending: lib/models/dfcn.ts does not load (${(err as Error).message.split('\n')[0]})` };
  }
  const Dfcn = mod.Dfcn as (new (options: Record<string, unknown>) => DfcnLike) | undefined;
  if (typeof Dfcn !== 'function') return { pending: `pending: lib/models/dfcn.ts exports no Dfcn class (exports: ${Object.keys(mod).join(', ')})` };
  const missing = ['loadStateDict', 'parameters', 'namedParameters', 'forward', 'softAssign', 'losses'].filter((m) => typeof (Dfcn.prototype as Record<string, unknown>)[m] !== 'function');
  if (missing.length) return { pending: `pending: lib/models/dfcn.ts's Dfcn lacks ${missing.join(', ')}` };
  return { Dfcn };
}

export function createDgclustDfcnStep(inp: StepInputs): StepModel | PendingStep {
  const loaded = loadDfcnModel();
  if ('pending' in loaded) return loaded;
  const model = new loaded.Dfcn({ nInput: inp.nInput, nClusters: inp.nClusters, igaeActivation: 'tanh', igaeLayout: 'in-out', generator: new dg.Generator(0) });
  const state = new Map<string, dg.Tensor>();
  for (const [name, w] of inp.weights) state.set(name, dg.tensor(w.data, w.shape));
  try {
    model.loadStateDict(state, { strict: true });
  } catch (err) {
    model.dispose();
    return { pending: `pending: lib/models/dfcn.ts's parameters differ from the official names (${(err as Error).message.split('\n')[0]})` };
  } finally {
    for (const t of state.values()) t.dispose();
  }
  const { indptr, indices, values } = inp.adj;
  const adj = dg.SparseMatrix.fromCsr(inp.n, inp.n, indptr, indices, values);
  const x = dg.keep(dg.tensor(inp.x, [inp.n, inp.nInput]));
  const adjX = dg.keep(dg.noGrad(() => adj.matmul(x)));
  const opt = new dg.Adam(model.parameters(), { lr: inp.lr });

  const forwardLoss = (): dg.Tensor => {
    const f = model.forward(x, adj);
    const p = dg.noGrad(() => dg.targetDistribution(model.softAssign(f.zTilde)));
    return model.losses(f, x, adj, adjX, p).total;
  };

  return adamStepModel(model, opt, forwardLoss, (name) => name, () => {
    x.dispose();
    adjX.dispose();
    adj.dispose();
  });
}
