// The tiny problem of AGCN's golden test (test/agcn.test.ts): a 60-node graph, 20 features, K = 3, USPS's λ
// (1000 / 1000, so both KL terms weigh in), the model built from Generator(1). Run as a script it dumps the inputs,
// Â and the initial weights for test/fixtures/agcn-golden.py, which computes the official forward, loss and
// gradients in PyTorch (float64) and writes test/fixtures/agcn-golden.json:
//   npx ts-node --transpile-only test/helpers/agcn-golden.ts /tmp/agcn-dump.json
//   python3 test/fixtures/agcn-golden.py /tmp/agcn-dump.json test/fixtures/agcn-golden.json
import * as fs from 'fs';
import * as dg from '../../lib';
import { agcnSpec } from '../../lib/models/agcn';
import type { AgcnSettings } from '../../lib/models/agcn';
import { gaussian, prng } from './data';

export function goldenProblem(): { data: dg.ClusteringData; settings: AgcnSettings; seed: number } {
  const n = 60;
  const d = 20;
  const normal = gaussian(prng(3));
  const x = Float32Array.from({ length: n * d }, () => normal());
  const src: number[] = [];
  const dst: number[] = [];
  for (let i = 0; i < n; i++) for (let e = 0; e < 3; e++) { src.push(i); dst.push((i * 7 + e * 13 + 1) % n); }
  return {
    data: { name: 'golden', features: { rows: n, cols: d, data: x }, labels: null, nClusters: 3, edges: { src: Int32Array.from(src), dst: Int32Array.from(dst) } },
    settings: { ...agcnSpec.presets.usps },
    seed: 1,
  };
}

if (require.main === module) {
  const { data, settings, seed } = goldenProblem();
  const input = agcnSpec.prepare(data, settings, { device: 'cpu' });
  const run = agcnSpec.create(input, settings, new dg.Generator(seed));
  const n = data.features.rows;
  const { indptr, indices, values } = input.adj!.toArrays();
  const adj = new Array(n * n).fill(0);
  for (let i = 0; i < n; i++) for (let e = indptr[i]; e < indptr[i + 1]; e++) adj[i * n + indices[e]] = values[e];
  const out: Record<string, { shape: number[]; data: number[] }> = {
    x: { shape: [n, data.features.cols], data: Array.from(data.features.data) },
    adj: { shape: [n, n], data: adj },
    lambdas: { shape: [2], data: [settings.lambda1, settings.lambda2] },
  };
  for (const [k, t] of run.module.namedParameters()) out[`param:${k}`] = { shape: t.shape.slice(), data: Array.from(t.dataF32()) };
  fs.writeFileSync(process.argv[2], JSON.stringify(out));
  run.module.dispose();
  input.dispose();
}
