// CaEGCN (lib/models/caegcn.ts): the whole loss against a dense float64 reference written from the official
// code's definitions (8-head wide attention with its N×N matrices, σ(Z_L Z_Lᵀ) with PyTorch's BCE, both KLs, both
// MSEs), its gradient through both attention fusions and the graph term by finite differences, options refused
// by name, and a training run on an attributed graph where CaEGCN must beat AE + k-means on the same (cached)
// autoencoder.
//
// Why the training run is synthetic and not ACM: one CaEGCN epoch on ACM costs ~4 s on this 2-core machine (the
// e = 500 attention alone is 8 heads × N² × 500 multiply-adds four times over, forward and backward) plus a
// 30-epoch AE pretraining, so even a 50-epoch ACM run would take most of the suite's time budget. The ACM runs
// are the reproduction (docs/RESULTS.md); here a 240-node graph exercises the same code in seconds.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as dg from '../lib';
import { caegcnSpec } from '../lib/models/caegcn';
import type { CaegcnSettings } from '../lib/models/caegcn';
import { aeSpec } from '../lib/models/sdcn';
import { resolveSettings } from '../lib/models/registry';
import { fit } from '../lib/train/trainer';
import { attributedSbm, gaussian, prng } from './helpers/data';
import { expectGradOk, gradcheckParams } from './helpers/gradcheck';

dg.setNumThreads(2);

// ---- a dense float64 reference of the official code's loss ---------------------------------------------------

type M = { r: number; c: number; a: Float64Array };
const mat = (t: dg.Tensor): M => ({ r: t.shape[0], c: t.shape.length > 1 ? t.shape[1] : 1, a: Float64Array.from(t.dataF32()) });
function mm(x: M, y: M, transB = false): M {
  const n = x.r;
  const k = x.c;
  const m = transB ? y.r : y.c;
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let l = 0; l < k; l++) s += x.a[i * k + l] * (transB ? y.a[j * k + l] : y.a[l * m + j]);
      out[i * m + j] = s;
    }
  }
  return { r: n, c: m, a: out };
}
const map = (x: M, f: (v: number, i: number) => number): M => ({ r: x.r, c: x.c, a: x.a.map(f) });
const addM = (x: M, y: M): M => map(x, (v, i) => v + y.a[i]);
const relu = (x: M): M => map(x, (v) => Math.max(0, v));
/** nn.Linear: x Wᵀ + b, W stored [out, in]. */
function linear(x: M, w: dg.Tensor, b: dg.Tensor | null): M {
  const y = mm(x, mat(w), true);
  if (!b) return y;
  const bv = b.dataF32();
  return map(y, (v, i) => v + bv[i % y.c]);
}
function cols(x: M, start: number, width: number): M {
  const out = new Float64Array(x.r * width);
  for (let i = 0; i < x.r; i++) for (let j = 0; j < width; j++) out[i * width + j] = x.a[i * x.c + start + j];
  return { r: x.r, c: width, a: out };
}
/** former's SelfAttentionWide: per head, softmax(Q_m K_mᵀ / √e) V_m with the dense N×N matrix; heads concatenated. */
function wideAttention(y: M, att: dg.WideSelfAttention): M {
  const e = att.emb;
  const h = att.heads;
  const q = linear(y, att.toqueries.weight, null);
  const k = linear(y, att.tokeys.weight, null);
  const v = linear(y, att.tovalues.weight, null);
  const n = y.r;
  const cat = new Float64Array(n * h * e);
  for (let m = 0; m < h; m++) {
    const s = mm(cols(q, m * e, e), cols(k, m * e, e), true);
    const vm = cols(v, m * e, e);
    for (let i = 0; i < n; i++) {
      let mx = -Infinity;
      for (let j = 0; j < n; j++) mx = Math.max(mx, s.a[i * n + j] / Math.sqrt(e));
      let z = 0;
      const p = new Float64Array(n);
      for (let j = 0; j < n; j++) z += (p[j] = Math.exp(s.a[i * n + j] / Math.sqrt(e) - mx));
      for (let c = 0; c < e; c++) {
        let acc = 0;
        for (let j = 0; j < n; j++) acc += (p[j] / z) * vm.a[j * e + c];
        cat[i * h * e + m * e + c] = acc;
      }
    }
  }
  return linear({ r: n, c: h * e, a: cat }, att.unifyheads.weight, att.unifyheads.bias);
}

function referenceLoss(module: dg.CaegcnModule, x: M, adjDense: Float64Array, p: Float64Array, s: CaegcnSettings) {
  const n = x.r;
  const ae = module.ae;
  const a1 = relu(linear(x, ae.encoderLayers[0].weight, ae.encoderLayers[0].bias));
  const a2 = relu(linear(a1, ae.encoderLayers[1].weight, ae.encoderLayers[1].bias));
  const a3 = relu(linear(a2, ae.encoderLayers[2].weight, ae.encoderLayers[2].bias));
  const z = linear(a3, ae.zLayer.weight, ae.zLayer.bias);
  const e1 = relu(linear(z, ae.decoderLayers[0].weight, ae.decoderLayers[0].bias));
  const e2 = relu(linear(e1, ae.decoderLayers[1].weight, ae.decoderLayers[1].bias));
  const e3 = relu(linear(e2, ae.decoderLayers[2].weight, ae.decoderLayers[2].bias));
  const xBar = linear(e3, ae.xBarLayer.weight, ae.xBarLayer.bias);
  const A: M = { r: n, c: n, a: adjDense };
  const gcn = (h: M, w: dg.Tensor, act: boolean) => { const o = mm(A, mm(h, mat(w))); return act ? relu(o) : o; };
  const g1 = gcn(x, module.gnn.gnn_1.weight, true);
  const r1 = wideAttention(addM(g1, a2), module.attn3!);
  const g2 = gcn(r1, module.gnn.gnn_3.weight, true);
  const r2 = wideAttention(addM(g2, z), module.attn5!);
  const hLogits = gcn(r2, module.gnn.gnn_5.weight, false);
  const g6 = gcn(hLogits, module.gnn.gnn_6.weight, true);
  const g7 = gcn(addM(g6, e1), module.gnn.gnn_7.weight, true);
  const zl = gcn(addM(g7, e3), module.gnn.gnn_9.weight, true);
  // Q = Student-t(z, μ), ν = 1; KL(P‖Q) and KL(P‖softmax(h)), 'batchmean'.
  const mu = mat(module.head.mu);
  const k = mu.r;
  let klQ = 0;
  let klZ = 0;
  for (let i = 0; i < n; i++) {
    const w = new Float64Array(k);
    let ws = 0;
    for (let j = 0; j < k; j++) {
      let d2 = 0;
      for (let c = 0; c < z.c; c++) d2 += (z.a[i * z.c + c] - mu.a[j * mu.c + c]) ** 2;
      ws += (w[j] = 1 / (1 + d2));
    }
    let mx = -Infinity;
    for (let j = 0; j < k; j++) mx = Math.max(mx, hLogits.a[i * k + j]);
    let se = 0;
    for (let j = 0; j < k; j++) se += Math.exp(hLogits.a[i * k + j] - mx);
    for (let j = 0; j < k; j++) {
      const pv = p[i * k + j];
      if (pv === 0) continue;
      klQ += pv * (Math.log(pv) - Math.log(w[j] / ws));
      klZ += pv * (Math.log(pv) - (hLogits.a[i * k + j] - mx - Math.log(se)));
    }
  }
  klQ /= n;
  klZ /= n;
  let re = 0;
  let gc = 0;
  for (let i = 0; i < x.a.length; i++) {
    re += (xBar.a[i] - x.a[i]) ** 2;
    gc += (zl.a[i] - x.a[i]) ** 2;
  }
  re /= x.a.length;
  gc /= x.a.length;
  // PyTorch BCELoss(σ(Z_L Z_Lᵀ), Â dense), logs clamped at −100, mean over N².
  const sMat = mm(zl, zl, true);
  let bce = 0;
  for (let i = 0; i < n * n; i++) {
    const a = 1 / (1 + Math.exp(-sMat.a[i]));
    const t = adjDense[i];
    bce += -(t * Math.max(Math.log(a), -100) + (1 - t) * Math.max(Math.log(1 - a), -100));
  }
  bce /= n * n;
  const total = s.klQ * klQ + s.klZ * klZ + s.reconWeight * re + s.graphWeight * bce + s.gaeContentWeight * gc;
  return { total, klQ, klZ, re, bce, gc };
}

// ---- a small attributed graph -----------------------------------------------------------------------------

function tinyGraph(n: number, d: number, k: number, seed: number): dg.ClusteringData {
  const normal = gaussian(prng(seed));
  const x = Float32Array.from({ length: n * d }, () => Math.abs(normal()));
  const src: number[] = [];
  const dst: number[] = [];
  for (let i = 0; i < n; i++) {
    src.push(i);
    dst.push((i + 1) % n);
    src.push(i);
    dst.push((i * 5 + 2) % n);
  }
  // Node 0 links to a few more nodes: degrees differ, so the row-normalized Â is not symmetric (and differs from
  // the symmetric normalization).
  for (const j of [3, 4, 6]) {
    src.push(0);
    dst.push(j);
  }
  return { name: 'tiny', features: { rows: n, cols: d, data: x }, labels: null, nClusters: k, edges: { src: Int32Array.from(src), dst: Int32Array.from(dst) } };
}

describe('CaEGCN', () => {
  test('loss equals a dense float64 reference of the official code (8-head N×N attention, BCE on σ(Z_L Z_Lᵀ)); its gradient by finite differences', () => {
    const n = 12;
    const k = 3;
    const data = tinyGraph(n, 6, k, 7);
    // Weights of 1 so that every term is visible to the finite differences.
    const s: CaegcnSettings = { ...caegcnSpec.defaults, klQ: 1, klZ: 1, graphWeight: 1, gaeContentWeight: 1 };
    const before = dg.memory().tensors;
    const input = caegcnSpec.prepare(data, s, { device: 'cpu' });
    const run = caegcnSpec.create(input, s, new dg.Generator(3));
    const module = run.module as dg.CaegcnModule;
    const normal = gaussian(prng(9));
    const p = dg.tidy(() => dg.keep(dg.softmax(dg.tensor(Float32Array.from({ length: n * k }, () => normal()), [n, k]))));
    const ctx: dg.TargetContext = { refresh: false, target: () => p, setTarget: () => { throw new Error('no refresh'); } };
    try {
      // Spread μ over z's range so that Q is not uniform.
      dg.tidy(() => {
        const z = module.ae.encode(input.x).z.dataF32();
        const mu = new Float32Array(k * 10);
        for (let j = 0; j < k; j++) for (let c = 0; c < 10; c++) mu[j * 10 + c] = z[(j * 4) * 10 + c];
        dg.native.copyInto(module.head.mu.handle, dg.tensor(mu, [k, 10]).handle);
      });
      const adj = input.adj!.toArrays();
      const dense = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let q = adj.indptr[i]; q < adj.indptr[i + 1]; q++) dense[i * n + adj.indices[q]] = adj.values[q];
      // The target is Â row-normalized and asymmetric (the backward needs G + Gᵀ, not 2G).
      expect(dense.some((v, i) => Math.abs(v - dense[(i % n) * n + Math.floor(i / n)]) > 1e-3)).toBe(true);
      const ref = referenceLoss(module, mat(input.x), dense, Float64Array.from(p.dataF32()), s);
      const got = dg.tidy(() => {
        const r = run.loss(input, null, ctx);
        const num = (v: dg.Tensor | number) => (typeof v === 'number' ? v : v.item());
        return { total: r.total.item(), graph: num(r.parts.graph), gaeContent: num(r.parts.gaeContent), klZ: num(r.parts.klZ), klQ: num(r.parts.klQ) };
      });
      expect(ref.bce).toBeGreaterThan(0.1);
      expect(got.graph).toBeCloseTo(ref.bce, 4);
      expect(got.gaeContent).toBeCloseTo(ref.gc, 4);
      expect(got.klQ).toBeCloseTo(ref.klQ, 4);
      expect(got.klZ).toBeCloseTo(ref.klZ, 4);
      expect(Math.abs(got.total - ref.total)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ref.total)));

      // Every parameter, including both attention fusions' Q/K/V/output weights and μ.
      const named = module.namedParameters();
      expect(named.map(([name]) => name)).toEqual(expect.arrayContaining([
        'attn3.toqueries.weight', 'attn3.tokeys.weight', 'attn3.tovalues.weight', 'attn3.unifyheads.weight', 'attn3.unifyheads.bias',
        'attn5.toqueries.weight', 'attn5.unifyheads.bias', 'gnn_1.weight', 'gnn_7.weight', 'gnn_9.weight', 'ae.enc_2.weight',
        // enc_3 → z_layer and dec_1 → dec_2 are taped ops whose 2,000-wide hidden layer is remade in backward, and
        // gnn_6 → (+ dec_1's e1) → gnn_7 is one op that keeps neither 2,000-wide input.
        'ae.enc_3.weight', 'ae.enc_3.bias', 'ae.z_layer.weight', 'ae.z_layer.bias', 'ae.dec_1.weight', 'ae.dec_1.bias',
        'ae.dec_2.weight', 'gnn_6.weight', 'head.cluster_layer',
      ]));
      const r = gradcheckParams('caegcn', named.map(([, t]) => t), () => run.loss(input, null, ctx).total, { maxChecks: 4, stepScale: 1e-3, skipKinks: true });
      expectGradOk(r);
      expect(r.skipped).toBeLessThanOrEqual(0.1 * r.checked);
    } finally {
      p.dispose();
      run.module.dispose();
      input.dispose();
    }
    expect(dg.memory().tensors).toBe(before);
  }, 600000);

  test("attentionMemory 'recompute' (head by head, projections recomputed in backward) and row blocks (rowBlock 7 of 20 rows: the remade 2,000-wide layers' backward in 3 blocks) give the stored, one-block mode's loss and gradients", () => {
    const n = 20;
    const k = 3;
    const data = tinyGraph(n, 7, k, 13);
    const before = dg.memory().tensors;
    const normal = gaussian(prng(4));
    const p = dg.tidy(() => dg.keep(dg.softmax(dg.tensor(Float32Array.from({ length: n * k }, () => normal()), [n, k]))));
    const ctx: dg.TargetContext = { refresh: false, target: () => p, setTarget: () => { throw new Error('no refresh'); } };
    const results: { loss: number; grads: Map<string, Float32Array> }[] = [];
    try {
      const configs = [['store', 0], ['recompute', 0], ['store', 7], ['recompute', 7]] as const;
      for (const [attentionMemory, rowBlock] of configs) {
        const s: CaegcnSettings = { ...caegcnSpec.defaults, klQ: 1, klZ: 1, graphWeight: 1, gaeContentWeight: 1, attentionMemory, rowBlock };
        const input = caegcnSpec.prepare(data, s, { device: 'cpu' });
        const run = caegcnSpec.create(input, s, new dg.Generator(8));
        try {
          const named = run.module.namedParameters();
          dg.zeroGrad(named.map(([, t]) => t));
          const loss = dg.tidy(() => {
            const l = run.loss(input, null, ctx).total;
            dg.backward(l);
            return l.item();
          });
          results.push({ loss, grads: new Map(named.map(([name, t]) => [name, Float32Array.from(t.grad!.dataF32())])) });
          dg.zeroGrad(named.map(([, t]) => t));
        } finally {
          run.module.dispose();
          input.dispose();
        }
      }
    } finally {
      p.dispose();
    }
    expect(dg.memory().tensors).toBe(before);
    const [a, ...others] = results;
    for (const b of others) {
      expect(b.loss).toBeCloseTo(a.loss, 5);
      expect([...b.grads.keys()]).toEqual([...a.grads.keys()]);
      for (const [name, ga] of a.grads) {
        const gb = b.grads.get(name)!;
        const scale = ga.reduce((m, v) => Math.max(m, Math.abs(v)), 1e-6);
        let worst = 0;
        for (let i = 0; i < ga.length; i++) worst = Math.max(worst, Math.abs(ga[i] - gb[i]) / scale);
        if (worst > 1e-4) throw new Error(`${name}: gradients differ by ${worst.toExponential(2)} of their largest entry`);
      }
    }
  }, 120000);

  test('features wider than 500 (as ACM\'s 1,870): the last GCN layer propagates first, (Â(g7 + e3))U9; its gradients by finite differences', () => {
    const n = 9;
    const data = tinyGraph(n, 520, 2, 21);
    const s: CaegcnSettings = { ...caegcnSpec.defaults, klQ: 0, klZ: 0, reconWeight: 0, graphWeight: 1, gaeContentWeight: 1 };
    const input = caegcnSpec.prepare(data, s, { device: 'cpu' });
    const run = caegcnSpec.create(input, s, new dg.Generator(5));
    const p = dg.tidy(() => dg.keep(dg.full([n, 2], 0.5)));
    const ctx: dg.TargetContext = { refresh: false, target: () => p, setTarget: () => { throw new Error('no refresh'); } };
    try {
      const named = new Map(run.module.namedParameters());
      // gnn_9 (500 → 520), the CAE layer fused into its input (dec_3) and the layers before it (gnn_7, dec_1).
      const params = ['gnn_9.weight', 'ae.dec_3.weight', 'ae.dec_3.bias', 'gnn_7.weight', 'ae.dec_1.weight', 'gnn_1.weight'].map((k) => named.get(k)!);
      const r = gradcheckParams('caegcn-wide', params, () => run.loss(input, null, ctx).total, { maxChecks: 10, stepScale: 1e-3, skipKinks: true });
      expectGradOk(r);
      console.log(`wide GCN gradcheck: ${r.checked} elements, ${r.skipped} at ReLU kinks`);
      // 520 ReLU outputs per row at small N put more elements within ±h of a kink than the narrow case; the
      // checked remainder (~80%) still covers every tensor.
      expect(r.skipped).toBeLessThanOrEqual(0.2 * r.checked);
    } finally {
      p.dispose();
      run.module.dispose();
      input.dispose();
    }
  }, 300000);

  test('graph BCE at saturated pairs (official code, PyTorch BCE): σ(s) = 1.0f adds 100·(1 − t) to the loss and no gradient', () => {
    // Rows 0–2 are large and live in columns 0–1 (their pairs have s ≥ 30: σ rounds to 1 in float32); rows 3–9
    // are small and live in columns 2–3 (|s| ≤ 2); the two groups are orthogonal (s = 0, σ = ½ exactly).
    const n = 10;
    const d = 4;
    const z = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      if (i < 3) { z[i * d] = 5 + i; z[i * d + 1] = 4 - i; } else { z[i * d + 2] = 0.3 * (i - 6); z[i * d + 3] = 0.1 * i; }
    }
    const src = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 0]);
    const dst = Int32Array.from([1, 2, 3, 4, 5, 6, 7, 9]);
    const t = dg.SparseMatrix.fromEdges(n, src, dst, { symmetrize: true, selfLoops: true, normalization: 'row' });
    try {
      const arr = t.toArrays();
      const T = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let q = arr.indptr[i]; q < arr.indptr[i + 1]; q++) T[i * n + arr.indices[q]] = arr.values[q];
      let loss = 0;
      const G = new Float64Array(n * n);
      let saturated = 0;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          let sij = 0;
          for (let c = 0; c < d; c++) sij += z[i * d + c] * z[j * d + c];
          const a = Math.fround(1 / (1 + Math.exp(-sij)));
          const tij = T[i * n + j];
          if (a === 1) {
            saturated++;
            loss += 100 * (1 - tij); // −[t·max(ln 1, −100) + (1 − t)·max(ln 0, −100)]
          } else {
            loss += -(tij * Math.max(Math.log(a), -100) + (1 - tij) * Math.max(Math.log(1 - a), -100));
            G[i * n + j] = (a - tij) / (n * n); // κ = 1; 0 where a == 1
          }
        }
      }
      loss /= n * n;
      expect(saturated).toBe(9);
      const zt = dg.parameter(dg.tensor(z, [n, d]));
      const got = dg.tidy(() => {
        const l = dg.gramSigmoidBce(t, zt);
        dg.backward(l);
        return l.item();
      });
      expect(got).toBeCloseTo(loss, 5);
      const grad = zt.grad!.dataF32();
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < d; c++) {
          let want = 0;
          for (let j = 0; j < n; j++) want += (G[i * n + j] + G[j * n + i]) * z[j * d + c];
          expect(Math.abs(grad[i * d + c] - want)).toBeLessThan(1e-6 + 1e-4 * Math.abs(want));
        }
      }
      // The large rows' only non-saturated pairs are with the small rows (s = 0): their gradient is what those give.
      zt.dispose();
    } finally {
      t.dispose();
    }
  });

  test('the graph term alone: its gradient flows to every GAE layer and not to the AE decoder it does not reach', () => {
    const data = tinyGraph(10, 5, 2, 3);
    const s: CaegcnSettings = { ...caegcnSpec.defaults, klQ: 0, klZ: 0, reconWeight: 0, gaeContentLoss: false, graphWeight: 1 };
    const input = caegcnSpec.prepare(data, s, { device: 'cpu' });
    const run = caegcnSpec.create(input, s, new dg.Generator(1));
    const p = dg.tidy(() => dg.keep(dg.full([10, 2], 0.5)));
    const ctx: dg.TargetContext = { refresh: false, target: () => p, setTarget: () => { throw new Error('no refresh'); } };
    try {
      const params = run.module.namedParameters();
      dg.zeroGrad(params.map(([, t]) => t));
      dg.tidy(() => dg.backward(run.loss(input, null, ctx).total));
      const norm = (name: string) => {
        const g = params.find(([n]) => n === name)![1].grad;
        return g ? g.dataF32().reduce((a, v) => a + Math.abs(v), 0) : 0;
      };
      for (const name of ['gnn_9.weight', 'gnn_6.weight', 'attn5.tovalues.weight', 'attn3.toqueries.weight', 'gnn_1.weight', 'ae.enc_1.weight']) {
        expect(norm(name)).toBeGreaterThan(0);
      }
      // x_bar_layer feeds only X̂, which no term here sees.
      expect(norm('ae.x_bar_layer.weight')).toBe(0);
    } finally {
      p.dispose();
      run.module.dispose();
      input.dispose();
    }
  }, 120000);

  test('presets and options: USPS uses SDCN\'s k = 10 graph, DBLP/Citeseer the code\'s rates; bad options are refused by name', () => {
    expect(caegcnSpec.presets.usps.knnK).toBe(10);
    expect(caegcnSpec.presets.hhar.knnK).toBe(5);
    expect(caegcnSpec.presets.acm.lr).toBe(5e-4);
    expect(caegcnSpec.presets.dblp.lr).toBe(1e-4);
    expect(caegcnSpec.presets.cite.lr).toBe(5e-5);
    expect(caegcnSpec.presets.acm.epochs).toBe(700);
    const bad = (o: Record<string, unknown>, re: RegExp) => {
      let err: (Error & { code?: string }) | null = null;
      try {
        resolveSettings(caegcnSpec, 'acm', o);
      } catch (e) {
        err = e as Error & { code?: string };
      }
      expect(err).not.toBeNull();
      expect(err!.code).toBe('DGC_ARG');
      expect(err!.message).toMatch(re);
    };
    bad({ fusion: 'mean' }, /'fusion'.*sum, weighted/);
    bad({ graphLoss: 'l2' }, /'graphLoss'.*bce, frobenius, none/);
    bad({ fusionGamma: 1.5 }, /'fusionGamma'.*<= 1/);
    bad({ heads: 0 }, /'heads'.*>= 1/);
    bad({ heads: 2.5 }, /'heads'.*integer/);
    bad({ rowBlock: -1 }, /'rowBlock'.*>= 0/);
    bad({ rowBlock: 10.5 }, /'rowBlock'.*integer/);
    bad({ attention: 'maybe' }, /'attention'.*true or false/);
    bad({ lr: 0 }, /'lr'.*> 0/);
    bad({ normalization: 'none' }, /'normalization'/);
    bad({ gama: 0.5 }, /no option 'gama'/);
    bad({ attentionMemory: 'disk' }, /'attentionMemory'.*store, recompute/);
    bad({ attentionScaling: 'log' }, /'attentionScaling'.*sqrt, none/);
    const ok = resolveSettings(caegcnSpec, 'usps', { attention: 'false', graphLoss: 'none', fusion: 'weighted' });
    expect(ok.settings).toMatchObject({ attention: false, graphLoss: 'none', fusion: 'weighted', knnK: 10 });
  });

  test('ablations and paper variants build and give finite losses (no attention modules without attention)', () => {
    const data = tinyGraph(16, 5, 2, 5);
    const p = dg.tidy(() => dg.keep(dg.full([16, 2], 0.5)));
    const ctx: dg.TargetContext = { refresh: false, target: () => p, setTarget: () => { throw new Error('no refresh'); } };
    try {
      const losses: number[] = [];
      for (const o of [{}, { attention: false }, { graphLoss: 'none' }, { gaeContentLoss: false }, { graphLoss: 'frobenius' }, { fusion: 'weighted' }, { normalization: 'sym' }, { attentionScaling: 'none' }, { attentionResidual: true }] as Partial<CaegcnSettings>[]) {
        const s = { ...caegcnSpec.defaults, ...o } as CaegcnSettings;
        const input = caegcnSpec.prepare(data, s, { device: 'cpu' });
        const run = caegcnSpec.create(input, s, new dg.Generator(2));
        try {
          const names = run.module.namedParameters().map(([n]) => n);
          expect(names.some((n) => n.startsWith('attn3.'))).toBe(s.attention);
          const r = dg.tidy(() => {
            const l = run.loss(input, null, ctx);
            return { total: l.total.item(), hasGraph: 'graph' in l.parts, hasGc: 'gaeContent' in l.parts };
          });
          expect(Number.isFinite(r.total)).toBe(true);
          expect(r.hasGraph).toBe(s.graphLoss !== 'none');
          expect(r.hasGc).toBe(s.gaeContentLoss);
          losses.push(r.total);
        } finally {
          run.module.dispose();
          input.dispose();
        }
      }
      // Each variant changes the objective.
      expect(new Set(losses.map((v) => v.toPrecision(7))).size).toBe(losses.length);
    } finally {
      p.dispose();
    }
  }, 120000);

  test('on an attributed graph whose edges carry the clusters, CaEGCN beats AE + k-means on the same autoencoder', () => {
    // As test/sdcn.test.ts: 4 clusters of 60 nodes, a weak feature signal under noise, 8 edges per node, 90%
    // inside the cluster. Features are made non-negative (Z_L is ReLU'd, as in the code, and reconstructs X).
    const k = 4;
    const data: dg.ClusteringData = attributedSbm(11, { k, nonNegative: true });
    // The code's learning rate (5e-4) and 200 of its 700 epochs (40 epochs at 1e-3 before: +0.046 on an AVX2 machine,
    // under the margin; with these there: 0.579 → 0.850). Two attention heads, not the code's eight: the 500-wide heads'
    // projections are most of an epoch's arithmetic at this size (this test: 79 s with eight, 27 s with two, on the
    // 2-core development machine; two heads: 0.563 → 0.963). The loss and gradient tests above check the eight-head
    // model, and the reproduction trains it.
    const s: CaegcnSettings = { ...caegcnSpec.defaults, epochs: 200, aeEpochs: 30, aeBatchSize: 32, heads: 2 };
    const before = dg.memory().tensors;
    const input = caegcnSpec.prepare(data, s, { device: 'cpu' });
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'dgc-caegcn-'));
    try {
      const r = fit(caegcnSpec, input, s, { seed: 1, pretrainCache: cache });
      // AE + k-means from the cache: CaEGCN's AE is SDCN's (same key, same derived generator).
      const ae = fit(aeSpec, input, { ...aeSpec.defaults, aeEpochs: 30, aeBatchSize: 32 }, { seed: 1, pretrainCache: cache });
      expect(ae.events.filter((e) => e.phase === 'pretrain-ae')).toHaveLength(0);
      expect(r.initial!.metrics).toEqual(ae.final.metrics);
      const predicted = new Set(r.predicted);
      console.log(`SBM: AE + k-means ACC ${ae.final.metrics!.acc.toFixed(3)}, CaEGCN final argmax softmax(h) ${r.final.readouts.z.acc.toFixed(3)} ` +
        `(${predicted.size} clusters used), argmax Q ${r.final.readouts.q.acc.toFixed(3)}`);
      expect(predicted.size).toBe(k); // no collapse
      expect(r.final.readouts.z.acc).toBeGreaterThan(ae.final.metrics!.acc + 0.05);
      expect(r.best!.metrics!.acc).toBeGreaterThanOrEqual(r.final.readouts.z.acc);
      expect(r.paperProtocol.metrics).toEqual(r.best!.metrics);
    } finally {
      input.dispose();
      fs.rmSync(cache, { recursive: true, force: true });
    }
    expect(dg.memory().tensors).toBe(before);
  }, 600000);
});
