// `npx ts-node --transpile-only bench/dccf/run.ts [--threads 1] [--reps 7] [--steps 12] [--no-torch]`
//
// DCCF's cost, side by side in one run:
//   1. The contractive penalty (ops.contractivePenalty) per batch of m = 256: forward and forward + backward, both
//      exact forms, for MNIST (d = 784, d′ = 10), USPS (256, 10) and Reuters-10K (2000, 4) encoders
//      d-500-500-1000-d′. FLOPs are counted from the GEMM chain (contractive.h); the rate is compared with the
//      rate of one plain GEMM of the chain's largest shape (2560×1000 · 1000×500) timed in the same process.
//   2. One joint-training step on MNIST (70,000 × 784, batch 256: gather, encoder, decoder, L_rec, λ·L_J, β·(KL +
//      focal), backward, Adam) in dgclust, and in plain PyTorch (bench/dccf/dccf_torch.py) with the Jacobian as the
//      explicit batched product and with torch.autograd.functional.jacobian, same rows, same thread count. An
//      epoch is ⌈70,000/256⌉ = 274 steps; the epoch column is 274 × the median step (projected, said so).
// Needs ../shared/data (or DGCLUST_DATA) for MNIST; /usr/bin/python3 with python3-torch for the PyTorch side, and
// libopenblas0-pthread (Debian's torch otherwise runs its GEMMs on the reference BLAS, ~25× slower here).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as dg from '../../lib';
import { dccfSpec } from '../../lib/models/dccf';
import type { DccfSettings } from '../../lib/models/dccf';
import { machine, markdownTable, median, optionReader, writeResults } from '../harness';
import { PENALTY_ENCODERS, withPenaltyCase } from './cases';

const args = process.argv.slice(2);
const opt = optionReader(args);
const threads = Number(opt('threads', '1'));
const reps = Number(opt('reps', '7'));
const steps = Number(opt('steps', '12'));
const withTorch = !args.includes('--no-torch');
dg.setNumThreads(threads);

function timeIt(fn: () => void, n: number): number {
  fn(); // warm-up (allocator cache, pool)
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return median(t);
}

/** FLOPs of contractivePenalty for widths n_0 … n_L and m samples (contractive.h). */
function penaltyFlops(widths: number[], m: number, gram: boolean): { fwd: number; bwd: number } {
  const L = widths.length - 1;
  const R = m * widths[L];
  let chain = 0;
  for (let l = 2; l <= L - 1; l++) chain += 2 * R * widths[l] * widths[l - 1];
  const [d, n1] = [widths[0], widths[1]];
  const firstFwd = gram ? 2 * n1 * n1 * d + 2 * R * n1 * n1 : 2 * R * n1 * d;
  const firstBwd = gram ? 2 * R * n1 * n1 + 2 * n1 * n1 * d : 4 * R * n1 * d;
  return { fwd: chain + firstFwd, bwd: 2 * chain + firstBwd };
}

// ---- 1. the penalty per batch ----
const m = 256;
const gemmRate = (() => {
  const g = new dg.Generator(5);
  const a = g.uniform([2560, 1000], -1, 1);
  const b = g.uniform([1000, 500], -1, 1);
  const ms = timeIt(() => dg.tidy(() => { dg.matmul(a, b).dispose(); }), reps);
  a.dispose();
  b.dispose();
  return (2 * 2560 * 1000 * 500) / (ms * 1e6);
})();
const penaltyRows: (string | number)[][] = [];
const penaltyResults: unknown[] = [];
for (const [name, d, dz] of PENALTY_ENCODERS) withPenaltyCase(d, dz, m, ({ ae, weights, hidden }) => {
  for (const form of ['direct', 'gram'] as const) {
    const fwdMs = timeIt(() => dg.tidy(() => dg.noGrad(() => { dg.contractivePenalty(weights, hidden, { scale: 1e-7 / m, form }); })), reps);
    const allMs = timeIt(() => {
      dg.tidy(() => dg.backward(dg.contractivePenalty(weights, hidden, { scale: 1e-7 / m, form })));
      dg.zeroGrad(ae.parameters());
    }, reps);
    const f = penaltyFlops([d, 500, 500, 1000, dz], m, form === 'gram');
    const fwdRate = f.fwd / (fwdMs * 1e6);
    const allRate = (f.fwd + f.bwd) / (allMs * 1e6);
    penaltyRows.push([`${name} ${d}-500-500-1000-${dz}`, form, (f.fwd / 1e9).toFixed(2), fwdMs.toFixed(1), fwdRate.toFixed(1),
      ((f.fwd + f.bwd) / 1e9).toFixed(2), allMs.toFixed(1), allRate.toFixed(1), `${((100 * allRate) / gemmRate).toFixed(0)}%`]);
    penaltyResults.push({ dataset: name, d, dz, m, form, flopsFwd: f.fwd, flopsBwd: f.bwd, fwdMs, fwdBwdMs: allMs, fwdGflops: fwdRate, fwdBwdGflops: allRate });
  }
});
console.log(`contractivePenalty per batch (m = ${m}), ${threads} thread(s), median of ${reps}; GEMM 2560×1000·1000×500 in the same process: ${gemmRate.toFixed(1)} GFLOP/s\n`);
console.log(markdownTable(['encoder', 'form', 'fwd GFLOP', 'fwd ms', 'fwd GFLOP/s', 'fwd+bwd GFLOP', 'fwd+bwd ms', 'fwd+bwd GFLOP/s', 'of GEMM rate'], penaltyRows));

// ---- 2. one joint-training step on MNIST ----
const dataDir = process.env.DGCLUST_DATA ?? path.resolve(__dirname, '..', '..', '..', 'shared', 'data');
let stepResult: unknown = null;
try {
  const ds = dg.loadDataset('mnist', { dataDir });
  const data = dg.fromDataset(ds);
  const s: DccfSettings = { ...(dccfSpec.presets.mnist as DccfSettings) };
  const input = dccfSpec.prepare(data, s, { device: 'cpu' });
  const n = input.x.shape[0];
  const k = input.nClusters;
  const gen = new dg.Generator(3);
  const run = dccfSpec.create(input, s, gen);
  const order = gen.permutation(n);
  // A fixed target T (rows of a softmax of noise): the step's cost does not depend on its values.
  const pHost = dg.tidy(() => dg.softmax(gen.normal([n, k], 0, 2)).dataF32());
  const p = dg.keep(dg.tensor(pHost, [n, k]));
  const optimizer = new dg.Adam(run.module.parameters(), { lr: 1e-3 });
  let pos = 0;
  const stepTimes: number[] = [];
  for (let i = 0; i < steps + 2; i++) {
    const rowsHost = order.subarray(pos, pos + m);
    pos = (pos + m) % (n - m);
    const t0 = performance.now();
    dg.tidy(() => {
      const rows = dg.tensor(rowsHost);
      const ctx: dg.TargetContext = { refresh: false, target: () => dg.gatherRows(p, rows), setTarget: () => { throw new Error('no refresh'); } };
      const l = run.loss(input, rows, ctx);
      dg.backward(l.total, undefined, { freeIntermediates: true });
      optimizer.step();
      optimizer.zeroGrad();
    });
    if (i >= 2) stepTimes.push(performance.now() - t0);
  }
  const dgStep = median(stepTimes);
  optimizer.dispose();
  run.module.dispose();

  const torch: Record<string, { stepMs: number; torch: string } | null> = { explicit: null, jacobian: null };
  if (withTorch) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dccf-bench-'));
    const npy = (file: string, arr: Float32Array | Int32Array, shape: number[]) => {
      const descr = arr instanceof Float32Array ? '<f4' : '<i4';
      let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
      header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
      const pre = Buffer.alloc(10);
      Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(pre);
      pre.writeUInt16LE(header.length, 8);
      fs.writeFileSync(path.join(dir, file), Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength)]));
    };
    npy('x.npy', input.x.dataF32(), [n, input.x.shape[1]]);
    npy('p.npy', pHost, [n, k]);
    npy('order.npy', order, [n]);
    for (const mode of ['explicit', 'jacobian']) {
      const py = spawnSync('/usr/bin/python3', [path.join(__dirname, 'dccf_torch.py'), dir, String(mode === 'jacobian' ? Math.max(3, Math.ceil(steps / 3)) : steps), String(threads), mode],
        { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) } });
      if (py.status === 0) torch[mode] = JSON.parse(py.stdout.trim().split('\n').pop()!);
      else process.stderr.write(`PyTorch (${mode}) failed (${py.status}): ${py.stderr.slice(-400)}\n(install: apt-get install python3-torch)\n`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  p.dispose();
  input.dispose();
  const perEpoch = Math.ceil(n / m);
  const rows: (string | number)[][] = [['dgclust (fused exact penalty, auto = gram form)', dgStep.toFixed(0), ((perEpoch * dgStep) / 1000).toFixed(1), '1.00']];
  for (const [mode, label] of [['explicit', 'PyTorch, explicit product (bmm)'], ['jacobian', 'PyTorch, autograd.functional.jacobian']]) {
    const t = torch[mode];
    rows.push([label, t ? t.stepMs.toFixed(0) : 'n/a', t ? ((perEpoch * t.stepMs) / 1000).toFixed(1) : 'n/a', t ? (t.stepMs / dgStep).toFixed(2) : 'n/a']);
  }
  console.log(`\nDCCF joint-training step on MNIST (${n} × ${input.x.shape[1]}, batch ${m}), ${threads} thread(s), median of ${steps} steps after 2 warm-up steps\n`);
  console.log(markdownTable(['implementation', 'step ms', 'epoch s (274 steps, projected)', 'time / dgclust'], rows));
  stepResult = { n, m, steps, dgclustStepMs: dgStep, torch };
} catch (e) {
  process.stderr.write(`MNIST step skipped: ${(e as Error).message}\n`);
}
console.log(`\nwrote ${writeResults('dccf', { threads, reps, machine: machine(), load: os.loadavg(), gemmGflops: gemmRate, penalty: penaltyResults, step: stepResult })}`);
