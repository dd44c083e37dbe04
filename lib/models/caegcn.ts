// CaEGCN — Cross-Attention Fusion based Enhanced Graph Convolutional Network for clustering (Huo et al.,
// IEEE TKDE 2023), as its official code (huogy/CaEGCN, built on SDCN's code) runs it. The paper's variants are
// options; the defaults follow the code, which produced the paper's numbers.
//
// Content auto-encoder (CAE) = SDCN's autoencoder d-500-500-2000-10-2000-500-500-d (paper eq. 3), pretrained as
// SDCN's data/pretrain.py and shared with SDCN, AGCN and AE + k-means (same generator, same cache key).
// Graph auto-encoder (GAE) d-500-10-K-2000-500-d, GCN layers act(Â H U) (eq. 12, 13), fused with the CAE:
//   g1 = ReLU(Â X U1)                                  (eq. 13: the first layer takes X itself)
//   r1 = MHA_500(g1 + a2)                              (eq. 5–11; a2 = the CAE's second encoder layer)
//   g2 = ReLU(Â r1 U3)
//   r2 = MHA_10(g2 + z)                                (z = the CAE's bottleneck)
//   h  = Â r2 U5                                       (Z_{L/2}: the clustering layer, no activation)
//   g6 = ReLU(Â h U6);  g7 = ReLU(Â (g6 + e1) U7);  Z_L = ReLU(Â (g7 + e3) U9)
//                                                      (decoder side: plain sums with the CAE's dec_1 / dec_3)
// MHA_e is 8-head "wide" self-attention over all N nodes (each head e wide, logits scaled by 1/√e, a linear
// output layer with bias; no mask, residual or norm), through the fused `attention` op: no N×N matrix, forward
// or backward. Fusion input: the code adds the two (Y = Z_l + H_l); the paper's eq. 6 weighs them
// (Y = γ Z_l + (1−γ) H_l, γ = 0.5): `fusion: 'weighted'`.
// Self-supervision: Q = Student-t(z, μ) (eq. 17, on the CAE's bottleneck), P = target(Q) (eq. 18) refreshed
// every epoch from that epoch's forward pass, prediction ŷ = softmax(h) (eq. 20; final labels argmax ŷ).
// Loss (eq. 21 with the code's reductions):
//   L = 0.1·KL(P‖Q) + 0.01·KL(P‖ŷ) + 1·MSE(X̂, X) + 0.01·BCE(σ(Z_L Z_Lᵀ), Â) + 0.01·MSE(Z_L, X)
// KL 'batchmean' (÷N), MSE means over N·d, BCE the mean over N² of PyTorch's BCELoss against the row-normalized
// Â (logs clamped at −100; computed tile by tile against sparse Â by `gramSigmoidBce`). The paper writes the
// graph loss as ‖A − σ(Z_L Z_Lᵀ)‖²_F (eq. 15): `graphLoss: 'frobenius'` (mean over N², as the code's
// reductions, against the same Â). Ablations of the paper's Table 2: `attention: false` (R = Y: the fusion sum
// goes to the next GCN layer without attention), `graphLoss: 'none'`, `gaeContentLoss: false`.
// Â = D⁻¹(A + I) (the code; `normalization: 'sym'` for the paper's eq. 12). Adam over every parameter (AE, GAE,
// attention, μ), 700 epochs, lr 5e-4 (DBLP 1e-4, Citeseer 5e-5; the paper says 1e-3).
import { Module } from '../nn/module';
import { Linear } from '../nn/linear';
import { Generator, xavierUniform } from '../random';
import { Autoencoder } from './ae';
import { StudentTHead, softmaxKl } from './blocks';
import {
  SDCN_AE_OPTIONS, SDCN_GRAPH_OPTIONS, prepareSdcnInput, sdcnAePretrainStage, sdcnAutoencoder,
} from './sdcn';
import type { SdcnFamilySettings, SdcnInput } from './sdcn';
import * as ops from '../ops';
import { noGrad, record } from '../autograd/tape';
import { native } from '../native';
import { DgcError, Tensor, tidy, wrap } from '../tensor';
import type { Device } from '../tensor';
import type { SparseMatrix } from '../sparse';
import type { NativeTensor } from '../../types/native';
import type {
  ClusteringData, ClusteringModel, Inference, LossResult, ModelSpec, OptionSpec, PaperRow, PaperTable, TargetContext,
} from './types';

export interface CaegcnSettings extends SdcnFamilySettings {
  epochs: number;
  /** Heads of each attention fusion (8); each head is as wide as its input (a "wide" head). */
  heads: number;
  /** 'sum': Y = Z_l + H_l (the code); 'weighted': Y = γ Z_l + (1−γ) H_l (paper eq. 6). */
  fusion: 'sum' | 'weighted';
  /** γ of the weighted fusion (0.5). */
  fusionGamma: number;
  /** Ablation "w/o attention" (false): the fused Y goes to the next GCN layer as it is. */
  attention: boolean;
  /** 'bce': the code's BCE against Â; 'frobenius': the paper's eq. 15 (mean squared error); 'none': ablation. */
  graphLoss: 'bce' | 'frobenius' | 'none';
  /** Ablation "w/o GAE content loss" (false). */
  gaeContentLoss: boolean;
  /** λ4, λ5, λ3, λ1, λ2 of eq. 21 (code: 0.1, 0.01, 1, 0.01, 0.01). */
  klQ: number;
  klZ: number;
  reconWeight: number;
  graphWeight: number;
  gaeContentWeight: number;
  /** Multiplies the features before anything else (COIL-20's 0..255 pixels: 1/255). */
  inputScale: number;
  /**
   * 'store': each attention fusion keeps its N × heads·e projections Q, K, V and output for the backward pass
   * (fastest); 'recompute': it keeps nothing but its input and recomputes them head by head in the backward pass
   * (the same gradients, one more attention forward per step, ~heads× less attention memory: large graphs).
   */
  attentionMemory: 'store' | 'recompute';
  /**
   * Rows per block in the backward pass of the layers whose 2,000-wide activations are remade rather than kept
   * (a3, e1, g6): a few block × 2,000 tensors at a time (at most four) instead of N × 2,000 ones; 0: all rows at once.
   * The same gradients up to the order of the per-block sums (~1e-6 of a gradient's largest entry, N = 300 in blocks of 64).
   */
  rowBlock: number;
  /**
   * Not in the paper or the code: R = Y + MHA(Y). With a re-pretrained AE the code's attention is near-uniform
   * over all N nodes at the start, so R (and the prediction) is almost the same for every node (docs/MODELS.md);
   * the residual keeps each node's own Y.
   */
  attentionResidual: boolean;
  /** Attention logits: 'sqrt' q·k/√e (the code) or 'none' q·k (paper eq. 7 as written). */
  attentionScaling: 'sqrt' | 'none';
}

// ---- layers that keep only what their backward reads ---------------------------------------------------------
// Written as single taped ops so that an activation costs one N × width tensor instead of three (the product,
// the bias sum and the ReLU output would each stay alive until the step ends): the ReLU's derivative is read off
// its output (1[out > 0] = 1[pre > 0]), the product before the bias or the propagation is never needed again, and
// ÂH (cheap: nnz · width) is recomputed in the backward pass rather than kept. Same values and gradients as the
// composed ops (checked by the dense reference and finite differences in test/caegcn.test.ts).

/** act(x Wᵀ + b), nn.Linear's [out, in] weight. Backward: G = dOut ∘ 1[out > 0]; dx = G W, dW = Gᵀ x, db = Σ_rows G. */
function linearAct(layer: Linear, x: Tensor, relu: boolean): Tensor {
  const w = layer.weight;
  const b = layer.bias;
  const prod = native.matmul(x.handle, w.handle, false, true);
  let outH = prod;
  if (b) {
    outH = native.addRowVector(prod, b.handle);
    prod.dispose();
  }
  if (relu) {
    const pre = outH;
    outH = native.unary('relu', pre, 0);
    pre.dispose();
  }
  const out = wrap(outH);
  return record(out, relu ? 'linearRelu' : 'linear', b ? [x, w, b] : [x, w], (g) => {
    const gp = relu ? native.unaryGrad('relu', out.handle, g.handle, 0) : g.handle;
    const grads = [
      x.requiresGrad ? wrap(native.matmul(gp, w.handle, false, false)) : null,
      w.requiresGrad ? wrap(native.matmul(gp, x.handle, true, false)) : null,
      ...(b ? [b.requiresGrad ? wrap(native.colSum(gp)) : null] : []),
    ];
    if (relu) gp.dispose();
    return grads;
  });
}

// ---- row blocks: the remade 2,000-wide activations' backward, a block of rows at a time ---------------------
// A backward that remakes a 2,000-wide activation H needs H, its incoming gradient and the masked gradient at once:
// three N × 2,000 tensors (460 MiB at 20,000 nodes). Taken `rowBlock` rows at a time they are B × 2,000 ones (at most four at once);
// the weight gradients are summed over the blocks in block order (deterministic for a given rowBlock; ~1e-6
// relative from the one-block sums), and the per-row gradients are stacked back.

/** Calls fn for each block [r0, r1) of n rows, at most `block` rows (0: one block), with the rows' int32 index (null for one block). */
function forRowBlocks(n: number, block: number, device: Device, fn: (idx: NativeTensor | null) => void): void {
  if (block <= 0 || n <= block) return fn(null);
  for (let r0 = 0; r0 < n; r0 += block) {
    const r1 = Math.min(n, r0 + block);
    const idx = native.fromTypedArray(Int32Array.from({ length: r1 - r0 }, (_, i) => r0 + i), [r1 - r0], device);
    try {
      fn(idx);
    } finally {
      idx.dispose();
    }
  }
}

/** The rows idx of x (a new handle), or x itself for idx null (then `own` is false: the caller must not free it). */
function rowsOf(x: NativeTensor, idx: NativeTensor | null): [NativeTensor, boolean] {
  return idx ? [native.gatherRows(x, idx), true] : [x, false];
}

/** Sums into an accumulator handle (null: the first part), freeing the parts. */
function accumulate(acc: NativeTensor | null, part: NativeTensor): NativeTensor {
  if (!acc) return part;
  const sum = native.binary('add', acc, part);
  acc.dispose();
  part.dispose();
  return sum;
}

/** Per-block row results stacked back into one N-row tensor (the blocks in order), freeing the parts. */
function stackRows(parts: NativeTensor[]): NativeTensor {
  if (parts.length === 1) return parts[0];
  const cols = parts.map((p) => {
    const t = native.transpose(p);
    p.dispose();
    return t;
  });
  const cat = native.concatCols(cols);
  cols.forEach((c) => c.dispose());
  const out = native.transpose(cat);
  cat.dispose();
  return out;
}

/** relu(x Wᵀ + b) of an nn.Linear layer, as a native handle the caller frees (the recomputed activations below). */
function reluLayer(layer: Linear, x: NativeTensor): NativeTensor {
  const prod = native.matmul(x, layer.weight.handle, false, true);
  const pre = native.addRowVector(prod, layer.bias!.handle);
  prod.dispose();
  const h = native.unary('relu', pre, 0);
  pre.dispose();
  return h;
}

/**
 * Two layers as one taped op that keeps only its input: out = act(relu(x Aᵀ + a) Bᵀ + b), act = ReLU with
 * `outRelu`, else none. The hidden activation H is recomputed in the backward pass instead of kept — activation
 * checkpointing. Used where H is 2,000 wide and cheap to remake: the CAE's a3 (from a2: one more N × 500 × 2,000
 * product per step, ~0.4% of an epoch's arithmetic on ACM) and e1 (from z: N × 10 × 2,000); 153 MiB each at
 * 20,000 nodes. Backward with H recomputed (bit-identical: the same deterministic products) and
 * G = dOut (∘ 1[out > 0] with `outRelu`): dB = Gᵀ H, db = Σ_rows G, dH = (G B) ∘ 1[H > 0], dA = dHᵀ x,
 * da = Σ_rows dH, dx = dH A.
 */
function linearReluLinear(first: Linear, second: Linear, x: Tensor, outRelu: boolean, rowBlock: number): Tensor {
  const [wa, ba, wb, bb] = [first.weight, first.bias, second.weight, second.bias];
  if (!ba || !bb) throw new DgcError('DGC_INTERNAL', 'linearReluLinear: both layers need a bias');
  const h = reluLayer(first, x.handle);
  const prod = native.matmul(h, wb.handle, false, true);
  h.dispose();
  let outH = native.addRowVector(prod, bb.handle);
  prod.dispose();
  if (outRelu) {
    const pre = outH;
    outH = native.unary('relu', pre, 0);
    pre.dispose();
  }
  const out = wrap(outH);
  return record(out, outRelu ? 'linearReluLinearRelu' : 'linearReluLinear', [x, wa, ba, wb, bb], (dOut) => {
    const g = outRelu ? native.unaryGrad('relu', out.handle, dOut.handle, 0) : dOut.handle;
    let dWa: NativeTensor | null = null;
    let dba: NativeTensor | null = null;
    let dWb: NativeTensor | null = null;
    let dbb: NativeTensor | null = null;
    const dx: NativeTensor[] = [];
    forRowBlocks(x.shape[0], rowBlock, x.device, (idx) => {
      const [xb, ownX] = rowsOf(x.handle, idx);
      const [gb, ownG] = rowsOf(g, idx);
      const hh = reluLayer(first, xb);
      if (wb.requiresGrad) dWb = accumulate(dWb, native.matmul(gb, hh, true, false));
      if (bb.requiresGrad) dbb = accumulate(dbb, native.colSum(gb));
      const dh = native.matmul(gb, wb.handle, false, false);
      if (ownG) gb.dispose();
      const gp = native.unaryGrad('relu', hh, dh, 0);
      hh.dispose();
      dh.dispose();
      if (x.requiresGrad) dx.push(native.matmul(gp, wa.handle, false, false));
      if (wa.requiresGrad) dWa = accumulate(dWa, native.matmul(gp, xb, true, false));
      if (ba.requiresGrad) dba = accumulate(dba, native.colSum(gp));
      gp.dispose();
      if (ownX) xb.dispose();
    });
    if (outRelu) g.dispose();
    const w = (h: NativeTensor | null) => (h ? wrap(h) : null);
    return [dx.length ? wrap(stackRows(dx)) : null, w(dWa), w(dba), w(dWb), w(dbb)];
  });
}

/**
 * The GAE decoder's first two propagations with the CAE's e1 added, as one taped op that keeps only its small
 * inputs (the logits, N × K, and z, N × 10):
 *   g6 = relu(Â (logits) U6)   (gnn_6, K → 2,000),   e1 = relu(z W_d1ᵀ + b_d1)   (the CAE decoder's first layer),
 *   out = relu(Â (g6 + e1) U7)   (gnn_7, 2,000 → 500, eq. 12 with the decoder-side sum).
 * g6 and e1 (2,000 wide each: 306 MiB at 20,000 nodes) are never kept: forward and backward make them a row block
 * at a time from products 2,000 × K and 2,000 × 10 wide (cheap next to gnn_7's own 2,000 × 500). The same values as
 * gnn_6, the CAE layer and gnn_7 applied in turn; the CAE's e2 gets e1 through linearReluLinear(…, outRelu), which
 * remakes it too. Backward with G = dOut ∘ 1[out > 0], M = Âᵀ G, D = M U7ᵀ (the gradient of g6 + e1):
 *   dU7 = (g6 + e1)ᵀ M;  dE1 = D ∘ 1[e1 > 0]: dW_d1 = dE1ᵀ z, db_d1 = Σ_rows dE1, dz = dE1 W_d1;
 *   dG6 = D ∘ 1[g6 > 0]: dU6 = (Â logits)ᵀ dG6, d(logits) = Âᵀ (dG6 U6ᵀ).
 */
function gaeDecoderEntry(logits: Tensor, u6: Tensor, z: Tensor, dec1: Linear, u7: Tensor, adj: SparseMatrix, rowBlock: number): Tensor {
  const [w1, b1] = [dec1.weight, dec1.bias!];
  // (g6 + e1)'s rows of a block, remade: g6 from (Â logits)'s rows, e1 from z's. Returns [g6, e1] (caller frees).
  const inputsOf = (alb: NativeTensor, zb: NativeTensor): [NativeTensor, NativeTensor] => {
    const pre = native.matmul(alb, u6.handle, false, false);
    const g6 = native.unary('relu', pre, 0);
    pre.dispose();
    return [g6, reluLayer(dec1, zb)];
  };
  const al = native.spmm(adj.handle, logits.handle, false);
  const huParts: NativeTensor[] = [];
  forRowBlocks(z.shape[0], rowBlock, z.device, (idx) => {
    const [alb, ownA] = rowsOf(al, idx);
    const [zb, ownZ] = rowsOf(z.handle, idx);
    const [g6, e1] = inputsOf(alb, zb);
    if (ownA) alb.dispose();
    if (ownZ) zb.dispose();
    const sum = native.binary('add', g6, e1);
    g6.dispose();
    e1.dispose();
    huParts.push(native.matmul(sum, u7.handle, false, false));
    sum.dispose();
  });
  al.dispose();
  const hu = stackRows(huParts);
  const pre = native.spmm(adj.handle, hu, false);
  hu.dispose();
  const out = wrap(native.unary('relu', pre, 0));
  pre.dispose();
  return record(out, 'gaeDecoderEntry', [logits, u6, z, w1, b1, u7], (dOut) => {
    const gp = native.unaryGrad('relu', out.handle, dOut.handle, 0);
    const m = native.spmm(adj.handle, gp, true);
    gp.dispose();
    const al = native.spmm(adj.handle, logits.handle, false);
    const wantE1 = z.requiresGrad || w1.requiresGrad || b1.requiresGrad;
    const wantG6 = logits.requiresGrad || u6.requiresGrad;
    let dU7: NativeTensor | null = null;
    let dW1: NativeTensor | null = null;
    let db1: NativeTensor | null = null;
    let dU6: NativeTensor | null = null;
    const dz: NativeTensor[] = [];
    const dal: NativeTensor[] = [];
    forRowBlocks(z.shape[0], rowBlock, z.device, (idx) => {
      const [mb, ownM] = rowsOf(m, idx);
      const [alb, ownA] = rowsOf(al, idx);
      const [zb, ownZ] = rowsOf(z.handle, idx);
      const [g6, e1] = inputsOf(alb, zb);
      if (u7.requiresGrad) {
        const sum = native.binary('add', g6, e1);
        dU7 = accumulate(dU7, native.matmul(sum, mb, true, false));
        sum.dispose();
      }
      // d(g6 + e1) = M U7ᵀ, shared by both branches; each masks it with its own ReLU.
      const d = wantE1 || wantG6 ? native.matmul(mb, u7.handle, false, true) : null;
      if (ownM) mb.dispose();
      if (d && wantE1) {
        const de1 = native.unaryGrad('relu', e1, d, 0);
        if (z.requiresGrad) dz.push(native.matmul(de1, w1.handle, false, false));
        if (w1.requiresGrad) dW1 = accumulate(dW1, native.matmul(de1, zb, true, false));
        if (b1.requiresGrad) db1 = accumulate(db1, native.colSum(de1));
        de1.dispose();
      }
      e1.dispose();
      if (d && wantG6) {
        const dg6 = native.unaryGrad('relu', g6, d, 0);
        if (u6.requiresGrad) dU6 = accumulate(dU6, native.matmul(alb, dg6, true, false));
        if (logits.requiresGrad) dal.push(native.matmul(dg6, u6.handle, false, true));
        dg6.dispose();
      }
      g6.dispose();
      d?.dispose();
      if (ownA) alb.dispose();
      if (ownZ) zb.dispose();
    });
    m.dispose();
    al.dispose();
    let dLogits: Tensor | null = null;
    if (dal.length) {
      const d = stackRows(dal);
      dLogits = wrap(native.spmm(adj.handle, d, true));
      d.dispose();
    }
    const w = (h: NativeTensor | null) => (h ? wrap(h) : null);
    return [dLogits, w(dU6), dz.length ? wrap(stackRows(dz)) : null, w(dW1), w(db1), w(dU7)];
  });
}

/**
 * act(Â H U) (paper eq. 12; the code's GNNLayer), U [in, out]; with `extra`, H = h + extra (the decoder-side
 * sums), formed here and again in the backward pass instead of being kept. The SpMM runs on the narrower side:
 * Â(HU) when out ≤ in, (ÂH)U otherwise (the same product, associated differently). Backward with
 * G = dOut ∘ 1[out > 0]: M = ÂᵀG; dU = Hᵀ M, dH = M Uᵀ (out ≤ in); or dU = (ÂH)ᵀ G, dH = Âᵀ(G Uᵀ) (out > in);
 * d(extra) = dH.
 */
function graphConvAct(h: Tensor, u: Tensor, adj: SparseMatrix, relu: boolean, extra: Tensor | null = null): Tensor {
  const narrowOut = u.shape[1] <= u.shape[0];
  /** H as a native handle, and whether it was made here (then the caller frees it). */
  const input = (): [NativeTensor, boolean] => (extra ? [native.binary('add', h.handle, extra.handle), true] : [h.handle, false]);
  let preH: NativeTensor;
  {
    const [hh, own] = input();
    if (narrowOut) {
      const hu = native.matmul(hh, u.handle, false, false);
      preH = native.spmm(adj.handle, hu, false);
      hu.dispose();
    } else {
      const ah = native.spmm(adj.handle, hh, false);
      preH = native.matmul(ah, u.handle, false, false);
      ah.dispose();
    }
    if (own) hh.dispose();
  }
  let outH = preH;
  if (relu) {
    outH = native.unary('relu', preH, 0);
    preH.dispose();
  }
  const out = wrap(outH);
  const inputs = extra ? [h, extra, u] : [h, u];
  return record(out, relu ? 'graphConvRelu' : 'graphConv', inputs, (g) => {
    const gp = relu ? native.unaryGrad('relu', out.handle, g.handle, 0) : g.handle;
    const wantH = h.requiresGrad || (extra?.requiresGrad ?? false);
    let dh: Tensor | null = null;
    let du: Tensor | null = null;
    if (narrowOut) {
      const m = native.spmm(adj.handle, gp, true);
      if (relu) gp.dispose();
      if (u.requiresGrad) {
        const [hh, own] = input();
        du = wrap(native.matmul(hh, m, true, false));
        if (own) hh.dispose();
      }
      if (wantH) dh = wrap(native.matmul(m, u.handle, false, true));
      m.dispose();
    } else {
      if (u.requiresGrad) {
        const [hh, own] = input();
        const ah = native.spmm(adj.handle, hh, false);
        if (own) hh.dispose();
        du = wrap(native.matmul(ah, gp, true, false));
        ah.dispose();
      }
      if (wantH) {
        const gu = native.matmul(gp, u.handle, false, true);
        dh = wrap(native.spmm(adj.handle, gu, true));
        gu.dispose();
      }
      if (relu) gp.dispose();
    }
    // The same tensor is the gradient of h and of extra (the tape counts references).
    return extra ? [h.requiresGrad ? dh : null, extra.requiresGrad ? dh : null, du] : [dh, du];
  });
}

/** One of the code's SelfAttentionWide modules: Q, K, V = Y W (e × heads·e each, no bias), 8 heads of width e. */
export class WideSelfAttention extends Module {
  readonly toqueries: Linear;
  readonly tokeys: Linear;
  readonly tovalues: Linear;
  readonly unifyheads: Linear;
  constructor(readonly emb: number, readonly heads: number, gen: Generator, device: Device, readonly scale = 1 / Math.sqrt(emb)) {
    super();
    // PyTorch's nn.Linear default init (the paper's "Xavier" holds only for the GCN weights).
    const o = { generator: gen, device, bias: false };
    this.tokeys = this.registerModule('tokeys', new Linear(emb, emb * heads, o));
    this.toqueries = this.registerModule('toqueries', new Linear(emb, emb * heads, o));
    this.tovalues = this.registerModule('tovalues', new Linear(emb, emb * heads, o));
    this.unifyheads = this.registerModule('unifyheads', new Linear(emb * heads, emb, { generator: gen, device }));
  }

  /** R = Concat_m(softmax(Q_m K_mᵀ/√e) V_m) W_o + b_o (paper eq. 7–11; head m = columns m·e … m·e + e − 1). */
  forward(y: Tensor, memory: 'store' | 'recompute' = 'store'): Tensor {
    if (memory === 'recompute') return this.forwardRecomputed(y);
    const o = ops.attention(this.toqueries.forward(y), this.tokeys.forward(y), this.tovalues.forward(y),
      { heads: this.heads, scale: this.scale });
    return linearAct(this.unifyheads, o, false);
  }

  /**
   * The same R as one taped op that keeps only its input Y: the forward pass runs head by head without the tape
   * (Q_m = Y W_qmᵀ, K_m, V_m, O_m = attention, R += O_m W_omᵀ, each head's tensors freed before the next), and the
   * backward pass recomputes each head's Q_m, K_m, V_m, O_m and its log-sum-exp, then (spec of the fused op)
   *   dO_m = dR W_om,  [dQ_m, dK_m, dV_m] = attentionBackward(…, dO_m),
   *   dY = Σ_m dQ_m W_qm + dK_m W_km + dV_m W_vm,  dW_qm = dQ_mᵀ Y (likewise K, V),  dW_om = dRᵀ O_m,  db_o = Σ_rows dR.
   * Peak attention memory: a few N × e tensors instead of 4 · N × heads·e; cost: one more attention forward.
   */
  private forwardRecomputed(y: Tensor): Tensor {
    const e = this.emb;
    const h = this.heads;
    const scale = this.scale;
    const wq = this.toqueries.weight;
    const wk = this.tokeys.weight;
    const wv = this.tovalues.weight;
    const wo = this.unifyheads.weight;
    const bo = this.unifyheads.bias!;
    // W stored [heads·e, e] (PyTorch's [out, in]): head m's e × e block of Wᵀ is columns m·e … of the transpose.
    const headProjections = (wT: Tensor[], m: number) => wT.map((w) => ops.matmul(y, ops.sliceCols(w, m * e, (m + 1) * e)));
    const out = noGrad(() => tidy(() => {
      const wT = [wq, wk, wv].map((w) => ops.transpose(w));
      let r: Tensor | null = null;
      for (let m = 0; m < h; m++) {
        const prev: Tensor | null = r;
        r = tidy((): Tensor => {
          const [q, k, v] = headProjections(wT, m);
          const o = ops.attention(q, k, v, { heads: 1, scale });
          const part = ops.matmul(o, ops.sliceCols(wo, m * e, (m + 1) * e), { transB: true });
          return prev ? ops.add(prev, part) : part;
        });
        prev?.dispose();
      }
      return ops.biasAdd(r!, bo);
    }));
    return record(out, 'wideSelfAttentionRecomputed', [y, wq, wk, wv, wo, bo], (dR) => {
      // Native handles freed the moment they are used up: one head's N × e tensors at a time (q, k, v, o, dO,
      // then dq, dk, dv, each turned into its dW block and its share of dY and freed), never all heads', and no
      // partial sum of dY left behind (a tidy() would keep every head's until the end: ~14 N × e tensors).
      const live = new Set<NativeTensor>();
      const own = (h: NativeTensor): NativeTensor => (live.add(h), h);
      const free = (...hs: NativeTensor[]) => hs.forEach((h) => (live.delete(h), h.dispose()));
      try {
        const wT = [wq, wk, wv].map((w) => own(native.transpose(w.handle)));
        let dy: NativeTensor | null = null;
        const dwT: NativeTensor[][] = [[], [], []];
        const dwo: NativeTensor[] = [];
        for (let m = 0; m < h; m++) {
          const blocks = wT.map((w) => own(native.sliceCols(w, m * e, (m + 1) * e)));
          const [q, k, v] = blocks.map((b) => own(native.matmul(y.handle, b, false, false)));
          const [o, lse] = native.attention(q, k, v, 1, scale).map(own);
          const woM = own(native.sliceCols(wo.handle, m * e, (m + 1) * e));
          const dO = own(native.matmul(dR.handle, woM, false, false));
          dwo.push(own(native.matmul(dR.handle, o, true, false)));
          const d = native.attentionBackward(q, k, v, o, lse, dO, 1, scale).map(own);
          free(q, k, v, o, lse, dO, woM);
          for (let i = 0; i < 3; i++) {
            dwT[i].push(own(native.matmul(y.handle, d[i], true, false)));
            const part = own(native.matmul(d[i], blocks[i], false, true));
            free(d[i], blocks[i]);
            if (dy) {
              const sum = own(native.binary('add', dy, part));
              free(dy, part);
              dy = sum;
            } else dy = part;
          }
        }
        free(...wT);
        const joinT = (parts: NativeTensor[]) => {
          const cat = native.concatCols(parts);
          free(...parts);
          const t = own(native.transpose(cat));
          cat.dispose();
          return t;
        };
        const grads: NativeTensor[] = [dy!, ...dwT.map(joinT), own(native.concatCols(dwo)), own(native.colSum(dR.handle))];
        free(...dwo);
        for (const g of grads) live.delete(g);
        return grads.map((g, i) => ([y, wq, wk, wv, wo, bo][i].requiresGrad ? wrap(g) : (g.dispose(), null)));
      } finally {
        for (const hnd of live) hnd.dispose();
      }
    });
  }
}

/** A GCN weight U (in × out, Xavier-uniform, no bias, as the code's GNNLayer). */
class GcnWeight extends Module {
  readonly weight: Tensor;
  constructor(readonly inFeatures: number, readonly outFeatures: number, gen: Generator, device: Device) {
    super();
    this.weight = this.registerParameter('weight', xavierUniform(gen, [inFeatures, outFeatures], inFeatures, outFeatures, 1, device));
  }

  /** act(Â (h + extra) U) (eq. 12; `extra`: the decoder-side sum with a CAE layer). */
  forward(h: Tensor, adj: SparseMatrix, relu: boolean, extra: Tensor | null = null): Tensor {
    return graphConvAct(h, this.weight, adj, relu, extra);
  }
}

interface CaegcnForward {
  z: Tensor;
  xBar: Tensor;
  /** h = Z_{L/2}: the clustering layer's logits. */
  logits: Tensor;
  /** Z_L: the GAE's reconstruction of X (ReLU'd, as the code). */
  zl: Tensor;
}

export class CaegcnModule extends Module {
  readonly ae: Autoencoder;
  readonly aeGen: Generator;
  readonly gnn: Record<'gnn_1' | 'gnn_3' | 'gnn_5' | 'gnn_6' | 'gnn_7' | 'gnn_9', GcnWeight>;
  readonly attn3: WideSelfAttention | null;
  readonly attn5: WideSelfAttention | null;
  readonly head: StudentTHead;

  constructor(nInput: number, nClusters: number, readonly s: CaegcnSettings, gen: Generator, device: Device) {
    super();
    // The AE first, from its own derived generator: the same weights and shuffles as SDCN's for this seed.
    const { ae, aeGen } = sdcnAutoencoder(nInput, gen, device);
    this.ae = this.registerModule('ae', ae);
    this.aeGen = aeGen;
    const g = (name: string, i: number, o: number) => this.registerModule(name, new GcnWeight(i, o, gen, device));
    // The code's layer names (gnn_2, gnn_4, gnn_8 are commented out there). GAE: d-500-10-K-2000-500-d.
    this.gnn = {
      gnn_1: g('gnn_1', nInput, 500),
      gnn_3: g('gnn_3', 500, 10),
      gnn_5: g('gnn_5', 10, nClusters),
      gnn_6: g('gnn_6', nClusters, 2000),
      gnn_7: g('gnn_7', 2000, 500),
      gnn_9: g('gnn_9', 500, nInput),
    };
    // The code also builds attn1, attn2, attn4, which never run (no gradient, so Adam leaves them): not built.
    const scale = (e: number) => (s.attentionScaling === 'none' ? 1 : 1 / Math.sqrt(e));
    this.attn3 = s.attention ? this.registerModule('attn3', new WideSelfAttention(500, s.heads, gen, device, scale(500))) : null;
    this.attn5 = s.attention ? this.registerModule('attn5', new WideSelfAttention(10, s.heads, gen, device, scale(10))) : null;
    this.head = this.registerModule('head', new StudentTHead(nClusters, 10, 1, { generator: gen, device }));
  }

  /** Y: Z_l + H_l (code) or γ Z_l + (1−γ) H_l (paper eq. 6); Z_l from the GAE, H_l from the CAE. */
  private fuse(gae: Tensor, cae: Tensor): Tensor {
    return this.s.fusion === 'weighted' ? ops.axpby(this.s.fusionGamma, gae, 1 - this.s.fusionGamma, cae) : ops.add(gae, cae);
  }

  private attend(att: WideSelfAttention, y: Tensor): Tensor {
    const r = att.forward(y, this.s.attentionMemory);
    return this.s.attentionResidual ? ops.add(y, r) : r;
  }

  forward(x: Tensor, adj: SparseMatrix): CaegcnForward {
    const ae = this.ae;
    // CAE (paper eq. 3): the encoder's activations a1, a2, (a3), z; the decoder's (e1), e2, e3 and X̂ (in
    // parentheses: the 2,000-wide ones, never kept but remade in the backward pass).
    // (SDCN's AE layer by layer, as MlpAutoencoder computes it, with the lean layers.)
    const a1 = linearAct(ae.encoderLayers[0], x, true);
    const a2 = linearAct(ae.encoderLayers[1], a1, true);
    const rb = this.s.rowBlock;
    const z = linearReluLinear(ae.encoderLayers[2], ae.zLayer, a2, false, rb); // a3 (2,000 wide) remade in backward
    // e1 (2,000 wide) is never kept: remade from z inside the two ops that read it (see gaeDecoderEntry).
    const e2 = linearReluLinear(ae.decoderLayers[0], ae.decoderLayers[1], z, true, rb);
    const e3 = linearAct(ae.decoderLayers[2], e2, true);
    const xBar = linearAct(ae.xBarLayer, e3, false);
    // GAE with the two attention fusions (encoder side) and the two plain sums (decoder side).
    const n = this.gnn;
    const g1 = n.gnn_1.forward(x, adj, true);
    const y1 = this.fuse(g1, a2);
    const r1 = this.attn3 ? this.attend(this.attn3, y1) : y1;
    const g2 = n.gnn_3.forward(r1, adj, true);
    const y2 = this.fuse(g2, z);
    const r2 = this.attn5 ? this.attend(this.attn5, y2) : y2;
    const logits = n.gnn_5.forward(r2, adj, false);
    const g7 = gaeDecoderEntry(logits, n.gnn_6.weight, z, ae.decoderLayers[0], n.gnn_7.weight, adj, rb); // gnn_6, + e1, gnn_7
    const zl = n.gnn_9.forward(g7, adj, true, e3);
    return { z, xBar, logits, zl };
  }
}

class CaegcnRun implements ClusteringModel<SdcnInput> {
  readonly module: CaegcnModule;
  readonly centres: Tensor;
  constructor(input: SdcnInput, readonly s: CaegcnSettings, gen: Generator) {
    if (!input.adj) throw new DgcError('DGC_INTERNAL', 'CaEGCN needs a graph');
    this.module = new CaegcnModule(input.x.shape[1], input.nClusters, s, gen, input.x.device);
    this.centres = this.module.head.mu;
  }

  loss(input: SdcnInput, rows: Tensor | null, ctx: TargetContext): LossResult {
    if (rows) throw new DgcError('DGC_INTERNAL', 'CaEGCN trains full batch');
    const s = this.s;
    const adj = input.adj!;
    const f = this.module.forward(input.x, adj);
    // Self-supervision (eq. 19, 20): P from this forward's Q (detached), KL(P‖Q) and KL(P‖softmax(h)).
    const kq = this.module.head.selfTrainingKl(f.z, ctx, s.klQ);
    const kz = softmaxKl(f.logits, ctx.target()!, s.klZ);
    const re = ops.mse(f.xBar, input.x);
    let total = ops.add(ops.add(kq.loss, kz), s.reconWeight === 1 ? re : ops.scale(re, s.reconWeight));
    const parts: Record<string, Tensor | number> = { klQ: kq.loss.item() / s.klQ, klZ: kz.item() / s.klZ, reconstruction: re };
    if (s.graphLoss !== 'none') {
      // Eq. 14–15: σ(Z_L Z_Lᵀ) against Â, tile by tile (the N×N reconstruction is never formed).
      const gl = s.graphLoss === 'bce' ? ops.gramSigmoidBce(adj, f.zl) : ops.gramSigmoidMse(adj, f.zl);
      total = ops.add(total, ops.scale(gl, s.graphWeight));
      parts.graph = gl;
    }
    if (s.gaeContentLoss) {
      const gc = ops.mse(f.zl, input.x); // eq. 16 (a mean, as the code's F.mse_loss)
      total = ops.add(total, ops.scale(gc, s.gaeContentWeight));
      parts.gaeContent = gc;
    }
    const q = kq.q ?? noGrad(() => this.module.head.softAssign(f.z));
    return {
      total,
      parts,
      inference: { embedding: ops.detach(f.z), assignments: { z: noGrad(() => ops.softmax(f.logits)), q } },
    };
  }

  infer(input: SdcnInput): Inference {
    return noGrad(() => {
      const f = this.module.forward(input.x, input.adj!);
      return { embedding: f.z, assignments: { z: ops.softmax(f.logits), q: this.module.head.softAssign(f.z) } };
    });
  }
}

/** Table 2's ablation rows (ACC / NMI / ARI / F1, percent), for the reproduction report. */
export const CAEGCN_ABLATION_PAPER: Record<string, Record<'noAttention' | 'noGraphLoss' | 'noGaeContent', [number, number, number, number]>> = {
  acm: { noAttention: [88.83, 64.15, 69.94, 88.79], noGraphLoss: [88.6, 63.91, 69.89, 88.77], noGaeContent: [88.69, 63.94, 69.61, 88.66] },
  dblp: { noAttention: [67.66, 32.61, 35.15, 65.81], noGraphLoss: [66.28, 31.27, 32.57, 65.3], noGaeContent: [67.32, 32.49, 34.22, 66.2] },
  cite: { noAttention: [64.11, 35.5, 37.06, 59.75], noGraphLoss: [66.16, 39.05, 38.98, 57.44], noGaeContent: [62.67, 35.33, 34.63, 54.06] },
  hhar: { noAttention: [86.37, 80.9, 73.2, 85.95], noGraphLoss: [86.93, 82.31, 75.99, 86.24], noGaeContent: [86.5, 82.24, 75.59, 85.68] },
  usps: { noAttention: [76.23, 77.12, 69.02, 75.52], noGraphLoss: [76.98, 77.46, 69.84, 75.66], noGaeContent: [77.04, 77.94, 70.19, 75.78] },
  coil20: { noAttention: [67.94, 79.57, 63.62, 65.26], noGraphLoss: [66.25, 78.5, 61.85, 64.15], noGaeContent: [67.36, 78.5, 61.68, 64.57] },
};

/** Paper Table 1, CaEGCN column (single numbers: no std, run count or epoch-selection rule given), percent. */
export const CAEGCN_PAPER: PaperTable = {
  source: 'CaEGCN (Huo et al., IEEE TKDE 2023), Table 1 (single numbers; no std, run count or selection rule given)',
  protocol: 'not stated; the code prints every epoch and selects none. Reported here: the best epoch by ACC (labels) beside the final epoch',
  protocolNotStated: true,
  rows: {
    acm: { acc: [90.12, null], nmi: [67.03, null], ari: [73.0, null], f1: [90.09, null] },
    dblp: { acc: [68.23, null], nmi: [33.88, null], ari: [36.17, null], f1: [66.69, null] },
    cite: { acc: [68.02, null], nmi: [40.0, null], ari: [42.4, null], f1: [61.38, null] },
    hhar: { acc: [87.42, null], nmi: [82.56, null], ari: [76.27, null], f1: [87.24, null] },
    usps: { acc: [77.55, null], nmi: [79.23, null], ari: [71.07, null], f1: [76.34, null] },
    coil20: { acc: [69.89, null], nmi: [82.66, null], ari: [68.03, null], f1: [68.45, null] },
  },
  // Table 1's AE column (the paper's own AE + k-means runs), what the runs' initial rows compare with.
  initial: {
    name: "AE + k-means (CaEGCN's Table 1, AE column)",
    rows: {
      acm: { acc: [82.78, null], nmi: [50.2, null], ari: [55.53, null], f1: [82.95, null] },
      dblp: { acc: [54.35, null], nmi: [22.2, null], ari: [16.51, null], f1: [53.25, null] },
      cite: { acc: [59.09, null], nmi: [30.66, null], ari: [31.34, null], f1: [54.83, null] },
      hhar: { acc: [46.21, null], nmi: [36.1, null], ari: [22.57, null], f1: [41.82, null] },
      usps: { acc: [44.02, null], nmi: [48.5, null], ari: [30.82, null], f1: [36.65, null] },
      coil20: { acc: [61.81, null], nmi: [67.6, null], ari: [49.18, null], f1: [60.3, null] },
    },
  },
  // Table 2's ablation rows, each the options that remove one part.
  variants: ([
    ['noAttention', 'w/o attention (Table 2)', { attention: false }],
    ['noGraphLoss', 'w/o graph loss (Table 2)', { graphLoss: 'none' }],
    ['noGaeContent', 'w/o GAE content loss (Table 2)', { gaeContentLoss: false }],
  ] as const).map(([key, name, options]) => ({
    name,
    options,
    rows: Object.fromEntries(Object.entries(CAEGCN_ABLATION_PAPER).map(([d, r]) => {
      const [acc, nmi, ari, f1] = r[key];
      return [d, { acc: [acc, null], nmi: [nmi, null], ari: [ari, null], f1: [f1, null] }];
    })) as Record<string, PaperRow>,
  })),
};

const caegcnPreset = (o: Partial<CaegcnSettings> = {}): CaegcnSettings => ({
  // SDCN's AE pretraining (30 epochs, Adam 1e-3, batch 256) and graph construction.
  knnK: 3, knnMetric: 'heat', normalization: 'row', aeEpochs: 30, aeLr: 1e-3, aeBatchSize: 256,
  lr: 5e-4, epochs: 700, heads: 8, fusion: 'sum', fusionGamma: 0.5, attention: true, graphLoss: 'bce', gaeContentLoss: true,
  klQ: 0.1, klZ: 0.01, reconWeight: 1, graphWeight: 0.01, gaeContentWeight: 0.01, inputScale: 1, attentionMemory: 'store', rowBlock: 4096, attentionScaling: 'sqrt', attentionResidual: false,
  ...o,
});

export const CAEGCN_OPTIONS: Record<string, OptionSpec> = {
  lr: { type: 'number', min: 0, exclusiveMin: true, description: 'learning rate (Adam; code: 5e-4, DBLP 1e-4, Citeseer 5e-5)' },
  epochs: { type: 'integer', min: 1, description: 'training epochs (700)' },
  heads: { type: 'integer', min: 1, description: 'heads of each attention fusion (8), each as wide as its input' },
  fusion: { type: 'string', choices: ['sum', 'weighted'], description: "attention input: 'sum' Z_l + H_l (code) or 'weighted' γZ_l + (1−γ)H_l (paper eq. 6)" },
  fusionGamma: { type: 'number', min: 0, max: 1, description: "γ of the 'weighted' fusion (0.5)" },
  attention: { type: 'boolean', description: 'the attention fusions (false: ablation w/o attention, the fused sum goes on as it is)' },
  graphLoss: { type: 'string', choices: ['bce', 'frobenius', 'none'], description: "graph reconstruction: 'bce' (code), 'frobenius' (paper eq. 15, as a mean), 'none' (ablation)" },
  gaeContentLoss: { type: 'boolean', description: 'the GAE content loss MSE(Z_L, X) (false: ablation)' },
  klQ: { type: 'number', min: 0, description: 'λ4, weight of KL(P‖Q) (0.1)' },
  klZ: { type: 'number', min: 0, description: 'λ5, weight of KL(P‖softmax(h)) (0.01)' },
  reconWeight: { type: 'number', min: 0, description: 'λ3, weight of the CAE content loss MSE(X̂, X) (1)' },
  graphWeight: { type: 'number', min: 0, description: 'λ1, weight of the graph loss (0.01)' },
  gaeContentWeight: { type: 'number', min: 0, description: 'λ2, weight of the GAE content loss (0.01)' },
  inputScale: { type: 'number', min: 0, exclusiveMin: true, description: 'multiplies the features first (COIL-20: 1/255)' },
  attentionResidual: { type: 'boolean', description: 'not in the paper or code: R = Y + attention(Y), which keeps each node\'s own input (see docs/MODELS.md on the collapse of the prediction)' },
  attentionScaling: { type: 'string', choices: ['sqrt', 'none'], description: "attention logits q·k/√e ('sqrt', the code) or q·k ('none', paper eq. 7 as written)" },
  attentionMemory: { type: 'string', choices: ['store', 'recompute'], description: "attention backward: 'store' the projections (fast) or 'recompute' them head by head (less memory, one more attention forward)" },
  rowBlock: { type: 'integer', min: 0, description: 'rows per block in the backward pass of the 2,000-wide layers that are remade instead of kept (4096; 0: all rows at once; smaller: less memory)' },
  ...SDCN_GRAPH_OPTIONS,
  ...SDCN_AE_OPTIONS,
};

/** The features times `scale` (a new ClusteringData; its values, hence its cache key, differ from the raw ones). */
function scaled(data: ClusteringData, scale: number): ClusteringData {
  if (scale === 1) return data;
  const src = data.features.data;
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i] * scale;
  return { ...data, features: { ...data.features, data: out } };
}

export const caegcnSpec: ModelSpec<SdcnInput, CaegcnSettings> = {
  name: 'caegcn',
  title: 'CaEGCN — Cross-Attention Fusion based Enhanced GCN (Huo et al., IEEE TKDE 2023): SDCN\'s AE + a graph auto-encoder fused by 8-head self-attention over all nodes',
  needsGraph: true,
  presets: {
    acm: caegcnPreset(),
    dblp: caegcnPreset({ lr: 1e-4 }),
    cite: caegcnPreset({ lr: 5e-5 }),
    // The code loads SDCN's usps10_graph.txt / hhar5_graph.txt (paper §4.3: K = 10 and 5).
    usps: caegcnPreset({ knnK: 10 }),
    hhar: caegcnPreset({ knnK: 5 }),
    // Not in the code; the paper gives no k: the middle of its range {3, 5, 10}, heat kernel (eq. 1), pixels ÷255.
    coil20: caegcnPreset({ knnK: 5, knnMetric: 'heat', inputScale: 1 / 255 }),
  },
  defaults: caegcnPreset(),
  options: CAEGCN_OPTIONS,
  paper: CAEGCN_PAPER,
  paperProtocol: 'best-acc-epoch',
  readouts: ['z', 'q'],
  prepare: (data, s, ctx) => {
    const input = prepareSdcnInput(scaled(data, s.inputScale), s, ctx.device);
    if (s.inputScale !== 1) input.notes.push(`features multiplied by ${s.inputScale.toPrecision(6)} (inputScale)`);
    return input;
  },
  create: (input, s, gen) => new CaegcnRun(input, s, gen),
  pretrain: (run, input, s) => [sdcnAePretrainStage((run as CaegcnRun).module.ae, (run as CaegcnRun).module.aeGen, input, s)],
  schedule: (s) => ({ mode: 'full-batch', epochs: s.epochs, targetEvery: 1 }),
  optimizer: (s) => ({ kind: 'adam', lr: s.lr }),
  initTarget: (run) => (run as CaegcnRun).module.ae,
};
