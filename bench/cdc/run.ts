// `npx ts-node --transpile-only bench/cdc/run.ts [--threads 1] [--epochs 2] [--iters 300] [--rows 70000] [--no-torch]`
//
// CDC on Fashion-MNIST (70,000 × 784, pixels / 255): one pretraining epoch (L_AE on shuffled batches of 64, SGD with
// momentum), one fine-tuning iteration (L_DC on a batch of 64: encoder, decoder, Q, L_c, L_a, both L_cr, SGD) and one
// target refresh (Q on all rows, P), timed in dgclust (the model's own loss functions, the trainer's per-step work)
// and in a faithful plain-PyTorch port of the official Keras code (bench/cdc/cdc_torch.py, /usr/bin/python3 with
// Debian's python3-torch; Keras/TF is not installable here), on the same data, one after the other, same thread
// count. The PyTorch side runs twice: pair distances by explicit differences as the official code, and from the
// Gram matrix. Needs ../shared/data (or DGCLUST_DATA) for Fashion-MNIST; without it, random data of that shape.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as dg from '../../lib';
import { cdcSpec } from '../../lib/models/cdc';
import type { CdcRun, CdcSettings } from '../../lib/models/cdc';
import { SGD } from '../../lib/optim/sgd';
import { writeNpy } from '../../lib/data/npy';
import { machine, markdownTable, median, optionReader, writeResults } from '../harness';

const args = process.argv.slice(2);
const opt = optionReader(args);
const threads = Number(opt('threads', '1'));
const epochs = Number(opt('epochs', '2'));
const iters = Number(opt('iters', '300'));
const rowsWanted = Number(opt('rows', '70000'));
const withTorch = !args.includes('--no-torch');
dg.setNumThreads(threads);

// ---- data ----
let data: dg.ClusteringData;
let source: string;
try {
  const dir = process.env.DGCLUST_DATA ?? path.resolve(__dirname, '..', '..', '..', 'shared', 'data');
  data = dg.fromDataset(dg.loadDataset('fmnist', { dataDir: dir }));
  source = 'Fashion-MNIST (shared data)';
} catch {
  const rng = new dg.Generator(1);
  const t = rng.uniform([70000, 784], 0, 255, 'cpu');
  data = { name: 'fmnist-shaped', features: { rows: 70000, cols: 784, data: t.dataF32() }, labels: null, nClusters: 10, edges: null };
  t.dispose();
  source = 'random data of Fashion-MNIST\'s shape (the shared data folder was not found)';
}
if (rowsWanted < data.features.rows) {
  data = { ...data, features: { rows: rowsWanted, cols: data.features.cols, data: data.features.data.subarray(0, rowsWanted * data.features.cols) }, labels: data.labels?.subarray(0, rowsWanted) ?? null };
}
const s: CdcSettings = { ...cdcSpec.presets.fmnist };
const input = cdcSpec.prepare(data, s, { device: 'cpu' });
const n = input.x.shape[0];
const run = cdcSpec.create(input, s, new dg.Generator(0)) as CdcRun;
const gen = new dg.Generator(5);

// ---- dgclust: pretraining epochs (what the trainer's stage does per batch) ----
const pretrainEpochMs: number[] = [];
{
  const optim = new SGD(run.module.ae.parameters(), { lr: s.pretrainLr, momentum: s.pretrainMomentum });
  for (let e = 0; e < epochs; e++) {
    const t0 = performance.now();
    const order = gen.permutation(n);
    for (let b = 0; b < n; b += s.pretrainBatchSize) {
      dg.tidy(() => {
        const rows = dg.tensor(order.subarray(b, Math.min(n, b + s.pretrainBatchSize)));
        const l = run.pretrainLoss(dg.gatherRows(input.x, rows));
        for (const v of Object.values(l.parts)) if (typeof v !== 'number') v.item();
        dg.backward(l.total, undefined, { freeIntermediates: true });
        optim.step();
        optim.zeroGrad();
      });
    }
    pretrainEpochMs.push(performance.now() - t0);
  }
  optim.dispose();
}

// ---- dgclust: refresh (Q on all rows, P) and fine-tuning iterations ----
const refreshMs: number[] = [];
let target: dg.Tensor | null = null;
for (let r = 0; r < 3; r++) {
  const t0 = performance.now();
  target?.dispose();
  target = dg.tidy(() => dg.keep(dg.targetDistribution(run.infer(input).assignments.q)));
  target.dataF32(); // wait for it (a no-op on the CPU)
  refreshMs.push(performance.now() - t0);
}
const stepMs: number[] = [];
{
  const optim = new SGD(run.module.parameters(), { lr: s.lr, momentum: s.momentum });
  const order = gen.permutation(n);
  for (let it = 0; it < iters; it++) {
    const t0 = performance.now();
    dg.tidy(() => {
      const start = (it * s.batchSize) % n;
      const rows = dg.tensor(order.subarray(start, Math.min(n, start + s.batchSize)));
      const ctx: dg.TargetContext = { refresh: false, target: () => dg.gatherRows(target!, rows), setTarget: () => { throw new Error('no refresh'); } };
      const l = run.loss(input, rows, ctx);
      for (const v of Object.values(l.parts)) if (typeof v !== 'number') v.item();
      dg.backward(l.total, undefined, { freeIntermediates: true });
      optim.step();
      optim.zeroGrad();
    });
    stepMs.push(performance.now() - t0);
  }
  optim.dispose();
}
target?.dispose();
const dgclust = { pretrainEpochMs, finetuneIterMs: median(stepMs.slice(5)), refreshMs: median(refreshMs) };
const x = input.x.dataF32();
run.module.dispose();
input.dispose();

// ---- PyTorch ----
interface TorchResult { pretrainEpochMs: number[]; finetuneIterMs: number; refreshMs: number; torch: string; gram: boolean }
const torch: TorchResult[] = [];
if (withTorch) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdc-bench-'));
  const file = path.join(dir, 'x.npy');
  writeNpy(file, x, [n, data.features.cols]);
  for (const gram of [false, true]) {
    const py = spawnSync('/usr/bin/python3', [path.join(__dirname, 'cdc_torch.py'), file, String(data.nClusters), String(threads), String(epochs), String(iters), ...(gram ? ['--gram'] : [])],
      { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) }, maxBuffer: 1 << 24 });
    if (py.status === 0) torch.push(JSON.parse(py.stdout.trim().split('\n').pop()!));
    else process.stderr.write(`PyTorch side failed (${py.status}): ${py.stderr.slice(-600)}\n(install: apt-get install python3-torch)\n`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

// ---- report ----
const last = (v: number[]) => v[v.length - 1];
const rows: (string | number)[][] = [
  ['pretraining epoch (s)', (last(pretrainEpochMs) / 1000).toFixed(2), ...torch.map((t) => (last(t.pretrainEpochMs) / 1000).toFixed(2)), ...torch.map((t) => (last(t.pretrainEpochMs) / last(pretrainEpochMs)).toFixed(2))],
  ['fine-tuning iteration (ms)', dgclust.finetuneIterMs.toFixed(2), ...torch.map((t) => t.finetuneIterMs.toFixed(2)), ...torch.map((t) => (t.finetuneIterMs / dgclust.finetuneIterMs).toFixed(2))],
  ['refresh: Q and P on all rows (ms)', dgclust.refreshMs.toFixed(1), ...torch.map((t) => t.refreshMs.toFixed(1)), ...torch.map((t) => (t.refreshMs / dgclust.refreshMs).toFixed(2))],
];
const header = ['step', 'dgclust', ...torch.map((t) => `PyTorch ${t.torch}${t.gram ? ' (Gram distances)' : ' (explicit differences)'}`), ...torch.map((t) => `speed-up vs ${t.gram ? 'Gram' : 'explicit'}`)];
const table = markdownTable(header, rows);
const m = machine();
console.log(`CDC steps on ${source}, ${n} × ${data.features.cols}; ${threads} thread(s); ${m.cpu}; load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
console.log(`pretraining: epoch ${epochs} of ${epochs} (each side's last); fine-tuning: median of iterations 6..${iters}; refresh: median of 3\n`);
console.log(table);
const file = writeResults('cdc-steps', { machine: m, source, n, d: data.features.cols, threads, epochs, iters, loadavg: os.loadavg(), dgclust, torch, table });
console.log(`\nwrote ${file}`);
