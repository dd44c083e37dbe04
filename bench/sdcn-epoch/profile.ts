// `npx ts-node --transpile-only bench/sdcn-epoch/profile.ts [--epochs 3] [--threads 1]`
//
// Where an SDCN epoch on USPS spends its time in dgclust: every native call made during the training epochs is
// timed (process CPU time, which a loaded machine disturbs far less than wall time; with --threads 1 it is the
// work done) and grouped by op and shapes, with GFLOP/s for the GEMMs. Also counts the bytes allocated per
// epoch and the allocator's peak. Epoch 1 is left out (warm-up). A development tool, not a benchmark.
import * as path from 'path';
import * as dg from '../../lib';
import { native } from '../../lib/native';
import { sdcnSpec } from '../../lib/models/sdcn';
import { decModelSpec, idecModelSpec } from '../../lib/models/dec';
import type { ModelInput, ModelSpec, ResolvedOptions } from '../../lib/models/types';
import { fromDataset } from '../../lib/models/types';
import { fit } from '../../lib/train/trainer';
import { optionReader } from '../harness';

const args = process.argv.slice(2);
const opt = optionReader(args);
const epochs = Number(opt('epochs', '3'));
dg.setNumThreads(Number(opt('threads', '1')));
const dataDir = process.env.DGCLUST_DATA ?? path.resolve(__dirname, '..', '..', '..', 'shared', 'data');

// --model dec|idec: MNIST, no pretraining, `--epochs` × 10 clustering iterations (a refresh every 140 is left
// out of the first 10 timed ones only if --epochs stays below 14).
const modelName = opt('model', 'sdcn');
const isDec = modelName === 'dec' || modelName === 'idec';
const spec = (modelName === 'dec' ? decModelSpec : modelName === 'idec' ? idecModelSpec : sdcnSpec) as unknown as ModelSpec<ModelInput, ResolvedOptions>;
const ds = dg.loadDataset(isDec ? 'mnist' : 'usps', { dataDir });
const settings = (isDec
  ? { ...decModelSpec.presets.mnist!, pretrainEpochs: 0, maxIterations: 10 * epochs, updateInterval: 10, tol: 0 }
  : { ...sdcnSpec.presets.usps!, epochs, aeEpochs: 0 }) as unknown as ResolvedOptions;
const input = spec.prepare(fromDataset(ds), settings, { device: 'cpu' });

interface Stat { calls: number; cpuMs: number; wallMs: number; flops: number }
const stats = new Map<string, Stat>();
let active = false;
const shapeOf = (a: unknown): string => {
  if (a && typeof a === 'object' && 'shape' in (a as object)) return `[${(a as { shape: number[] }).shape.join('x')}]`;
  if (typeof a === 'boolean' || typeof a === 'string') return String(a);
  return '';
};
const nat = native as unknown as Record<string, unknown>;
for (const name of Object.keys(nat)) {
  const f = nat[name];
  if (typeof f !== 'function' || ['memory', 'resetPeakMemory', 'setNumThreads', 'numThreads'].includes(name)) continue;
  nat[name] = function (this: unknown, ...a: unknown[]) {
    if (!active) return (f as (...x: unknown[]) => unknown).apply(this, a);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = (f as (...x: unknown[]) => unknown).apply(this, a);
    const wall = performance.now() - t0;
    const c = process.cpuUsage(c0);
    let key = `${name} ${a.map(shapeOf).filter(Boolean).join(' ')}`;
    let flops = 0;
    if (name === 'matmul') {
      const [A, B, ta, tb] = a as [{ shape: number[] }, { shape: number[] }, boolean, boolean];
      const m = ta ? A.shape[1] : A.shape[0];
      const kk = ta ? A.shape[0] : A.shape[1];
      const nn = tb ? B.shape[0] : B.shape[1];
      flops = 2 * m * kk * nn;
      key = `matmul ${m}x${kk}x${nn} ${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`;
    }
    if (name === 'matmulBiasAct') {
      const [A, B, ta, tb, bias, act] = a as [{ shape: number[] }, { shape: number[] }, boolean, boolean, unknown, string];
      const m = ta ? A.shape[1] : A.shape[0];
      const kk = ta ? A.shape[0] : A.shape[1];
      const nn = tb ? B.shape[0] : B.shape[1];
      flops = 2 * m * kk * nn;
      key = `matmul ${m}x${kk}x${nn} ${ta ? 'T' : 'N'}${tb ? 'T' : 'N'} + ${bias ? 'bias + ' : ''}${act}`;
    }
    if (name === 'unary' || name === 'unaryGrad' || name === 'binary') key = `${name}:${a[0]} ${a.slice(1).map(shapeOf).filter(Boolean).join(' ')}`;
    const s = stats.get(key) ?? { calls: 0, cpuMs: 0, wallMs: 0, flops: 0 };
    s.calls++;
    s.cpuMs += (c.user + c.system) / 1000;
    s.wallMs += wall;
    s.flops += flops;
    stats.set(key, s);
    return r;
  };
}

let epochCpu0 = process.cpuUsage();
const epochCpu: number[] = [];
fit(spec, input, settings, {
  seed: 0,
  keepEmbedding: false,
  callbacks: {
    onPhase: (phase) => {
      if (phase === 'train') epochCpu0 = process.cpuUsage();
    },
    onEpoch: (e) => {
      if (e.phase !== 'train') return;
      const c = process.cpuUsage(epochCpu0);
      epochCpu.push((c.user + c.system) / 1000);
      epochCpu0 = process.cpuUsage();
      if (e.epoch === 1) {
        stats.clear();
        dg.resetPeakMemory();
        active = true;
      }
    },
  },
});
active = false;
const timed = epochs - 1;
const rows = [...stats.entries()].sort((a, b) => b[1].cpuMs - a[1].cpuMs);
const total = rows.reduce((s, [, v]) => s + v.cpuMs, 0);
console.log(`process CPU per epoch (ms): ${epochCpu.map((c) => c.toFixed(0)).join(', ')}; native calls per epoch: ${(total / timed).toFixed(0)} ms CPU`);
console.log('| op | calls/epoch | CPU ms/epoch | wall ms/epoch | % | GFLOP/s (CPU time) |\n|---|---|---|---|---|---|');
for (const [k, v] of rows) {
  if (v.cpuMs / timed < 0.5) continue;
  console.log(`| ${k} | ${v.calls / timed} | ${(v.cpuMs / timed).toFixed(1)} | ${(v.wallMs / timed).toFixed(1)} | ${((100 * v.cpuMs) / total).toFixed(1)} | ${v.flops ? (v.flops / (v.cpuMs * 1e6)).toFixed(1) : ''} |`);
}
const byOp = new Map<string, number>();
for (const [k, v] of rows) byOp.set(k.split(' ')[0], (byOp.get(k.split(' ')[0]) ?? 0) + v.cpuMs / timed);
console.log('\nby op:', [...byOp.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', '));
const gemm = rows.filter(([k]) => k.startsWith('matmul')).reduce((s, [, v]) => ({ f: s.f + v.flops, c: s.c + v.cpuMs }), { f: 0, c: 0 });
console.log(`GEMM: ${(gemm.f / timed / 1e9).toFixed(1)} GFLOP/epoch at ${(gemm.f / (gemm.c * 1e6)).toFixed(1)} GFLOP/s of CPU time`);
console.log(`allocator peak of live tensors: ${(dg.memory().peakBytes / 2 ** 20).toFixed(0)} MiB`);
input.dispose();
