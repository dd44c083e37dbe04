// CaEGCN training step: dgclust (fused attention and BCE, no N×N) against a faithful plain-PyTorch version of the
// official code's step (bench/caegcn/caegcn_torch.py: dense 8×N×N attention matrices, dense σ(Z_L Z_Lᵀ) and BCE
// target, two forward passes per epoch as the code does), on the same machine in one run.
//
//   npx ts-node --transpile-only bench/caegcn/bench.ts [--cases acm,usps,synth20k] [--epochs 3] [--threads N]
//        [--attention-memory store|recompute] [--keep-intermediates] [--torch] [--torch-ld-path DIR] [--out bench/results/caegcn-<date>.json]
//   npx ts-node --transpile-only bench/caegcn/bench.ts --cases synth20k --write-files DIR   (the case as CLI input files)
//
// Per case: the median epoch time (forward, loss, backward, Adam: what the trainer does per epoch, P refreshed
// from the epoch's own Q) after one warm-up epoch, and the peak of dgclust's native allocator (every tensor:
// parameters, Adam state, activations, gradients) and of the process (VmHWM). Weights are random (PyTorch's
// default init, k-means replaced by centres drawn from z): speed and memory do not depend on them.
// PyTorch is run on the same case in a child process (`--torch`), with the same thread count; for cases it cannot
// hold, its memory is estimated from the dense tensors the code materializes (printed with the formula).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { execFileSync } from 'child_process';
import * as dg from '../../lib';
import { caegcnSpec } from '../../lib/models/caegcn';
import type { CaegcnSettings } from '../../lib/models/caegcn';
import { makeOptimizer } from '../../lib/train/trainer';
import { loadDatasetAsync } from '../../lib/data/registry';
import { fromDataset } from '../../lib/models/types';
import { writeNpy } from '../../lib/data/npy';
import type { ClusteringData } from '../../lib/models/types';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const cases = arg('cases', 'acm,usps,synth20k').split(',');
const epochs = Number(arg('epochs', '3'));
const threads = Number(arg('threads', process.env.DGCLUST_NUM_THREADS ?? '2'));
const withTorch = args.includes('--torch');
const dataDir = arg('data-dir', '/work/shared/data');
// 'store' (default, fastest) or 'recompute' (the attention keeps only its input; large graphs).
const attentionMemory = arg('attention-memory', 'store') as 'store' | 'recompute';
// As the trainer: each intermediate is freed as soon as the backward pass is done with it. --keep-intermediates:
// all of them live until the step ends (the tape's default; for comparison).
const freeIntermediates = !args.includes('--keep-intermediates');
dg.setNumThreads(threads);

function vmHwmMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** An attributed graph of n nodes (synth20k: 20,000): 10 clusters, 64 non-negative features, ~10 random edges per node, 80% inside. */
function synthetic(n: number, d: number, k: number): ClusteringData {
  let s = 12345;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const labels = Int32Array.from({ length: n }, (_, i) => i % k);
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = Math.max(0, (j % k === labels[i] ? 0.8 : 0) + rand() - 0.5);
  const src: number[] = [];
  const dst: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let e = 0; e < 5; e++) {
      let j = Math.floor(rand() * n);
      if (rand() < 0.8) j = j - (j % k) + labels[i];
      if (j >= n || j === i) continue;
      src.push(i);
      dst.push(j);
    }
  }
  return { name: `synth${n}`, features: { rows: n, cols: d, data: x }, labels, nClusters: k, edges: { src: Int32Array.from(src), dst: Int32Array.from(dst) } };
}

async function loadCase(name: string): Promise<{ data: ClusteringData; settings: CaegcnSettings }> {
  const m = /^synth(\d+)(k?)$/.exec(name);
  if (m) return { data: synthetic(Number(m[1]) * (m[2] ? 1000 : 1), 64, 10), settings: { ...caegcnSpec.defaults, attentionMemory } };
  const settings = { ...(caegcnSpec.presets[name] ?? caegcnSpec.defaults), attentionMemory };
  const ds = await loadDatasetAsync(name, { dataDir, knnK: settings.knnK });
  return { data: fromDataset(ds), settings };
}

interface CaseResult {
  case: string; attentionMemory: string; freeIntermediates: boolean; n: number; d: number; k: number; nnz: number; epochs: number; epochMs: number[]; medianMs: number;
  /** CPU time (user + system, all threads) per epoch: robust to other processes sharing the cores. */
  epochCpuMs: number[]; medianCpuMs: number;
  peakNativeMb: number; vmHwmMb: number; params: number;
}

function runCase(name: string, data: ClusteringData, s: CaegcnSettings): CaseResult {
  const input = caegcnSpec.prepare(data, s, { device: 'cpu' });
  const run = caegcnSpec.create(input, s, new dg.Generator(0));
  // μ: rows of z (no k-means: not timed, and irrelevant to speed).
  dg.tidy(() => {
    const z = run.infer(input).embedding.dataF32();
    const mu = new Float32Array(data.nClusters * 10);
    for (let j = 0; j < data.nClusters; j++) mu.set(z.subarray(j * 37 * 10, j * 37 * 10 + 10), j * 10);
    dg.native.copyInto(run.centres!.handle, dg.tensor(mu, [data.nClusters, 10]).handle);
  });
  const params = run.module.parameters();
  const opt = makeOptimizer(params, caegcnSpec.optimizer(s));
  let p: dg.Tensor | null = null;
  const ctx: dg.TargetContext = {
    refresh: true,
    target: () => p,
    setTarget: (t) => {
      p?.dispose();
      p = dg.keep(dg.detach(t));
      return p;
    },
  };
  dg.releaseCachedMemory();
  dg.resetPeakMemory();
  const times: number[] = [];
  const cpu: number[] = [];
  for (let e = 0; e <= epochs; e++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    dg.tidy(() => {
      opt.zeroGrad();
      const r = run.loss(input, null, ctx);
      r.total.item();
      dg.backward(r.total, undefined, { freeIntermediates });
      opt.step();
    });
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const cpuMs = (c.user + c.system) / 1000;
    if (e > 0 || epochs === 0) {
      // epoch 0 warms the allocator cache and the kernels (with --epochs 0 it is the only one: a memory run)
      times.push(ms);
      cpu.push(cpuMs);
    }
    console.error(`${name}: epoch ${e} ${ms.toFixed(0)} ms wall, ${cpuMs.toFixed(0)} ms CPU`);
  }
  const peak = dg.memory().peakBytes / 2 ** 20;
  const nParams = params.reduce((a, t) => a + t.size, 0);
  const nnz = input.adj!.nnz;
  (p as dg.Tensor | null)?.dispose();
  opt.dispose();
  run.module.dispose();
  input.dispose();
  const sorted = [...times].sort((a, b) => a - b);
  return {
    case: name, attentionMemory: s.attentionMemory, freeIntermediates, n: data.features.rows, d: data.features.cols, k: data.nClusters, nnz, epochs, epochMs: times,
    medianMs: sorted[Math.floor(sorted.length / 2)], epochCpuMs: cpu, medianCpuMs: [...cpu].sort((a, b) => a - b)[Math.floor(cpu.length / 2)], peakNativeMb: peak, vmHwmMb: vmHwmMb(), params: nParams,
  };
}

/**
 * What the official code's dense N×N float32 tensors need at the peak of an epoch, a lower bound (everything
 * N × width is left out). Each forward keeps, for backward, the softmax of 2 layers × 8 heads and σ(Z_L Z_Lᵀ)
 * plus the dense BCE target (18 N²); the code's first forward (for P) is still alive during the second (×2);
 * the backward of one attention layer adds the gradients of its 8 softmax and logit matrices (16 N²).
 */
function torchEstimateGb(n: number): { gb: number; formula: string } {
  return { gb: (52 * n * n * 4) / 2 ** 30, formula: '(2 forwards × (2 layers × 8 heads + 2) + 2 × 8 backward) × N² × 4 B = 52·N²·4 B, a lower bound' };
}

/**
 * --write-files DIR: write each synthetic case as the files `dgclust train --features … --labels … --graph …` reads
 * (DIR/<case>.features.npy, .labels.txt, .graph.txt) and exit, so that the whole CLI run can be measured on it
 * (process peak RSS with /usr/bin/time -v; bench/RESULTS.md).
 */
function writeFiles(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const c of cases) {
    const m = /^synth(\d+)(k?)$/.exec(c);
    if (!m) throw new Error(`--write-files: '${c}' is not a synthetic case (synthN or synthNk)`);
    const data = synthetic(Number(m[1]) * (m[2] ? 1000 : 1), 64, 10);
    const base = path.join(dir, c);
    writeNpy(`${base}.features.npy`, data.features.data, [data.features.rows, data.features.cols]);
    fs.writeFileSync(`${base}.labels.txt`, Array.from(data.labels!).join('\n') + '\n');
    const e = data.edges!;
    fs.writeFileSync(`${base}.graph.txt`, Array.from(e.src, (u, i) => `${u} ${e.dst[i]}`).join('\n') + '\n');
    console.log(`wrote ${base}.features.npy, .labels.txt, .graph.txt (${data.features.rows} nodes, ${e.src.length} edges)`);
  }
}

async function main() {
  const filesDir = args.indexOf('--write-files') >= 0 ? arg('write-files', '') : null;
  if (filesDir) return writeFiles(filesDir);
  const out: Record<string, unknown> = {
    machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadavg: os.loadavg(), threads }, started: new Date().toISOString(), cases: [],
  };
  const results: Record<string, unknown>[] = [];
  for (const c of cases) {
    const { data, settings } = await loadCase(c);
    const r = runCase(c, data, settings);
    const row: Record<string, unknown> = { ...r, torchEstimate: torchEstimateGb(r.n) };
    if (withTorch) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'caegcn-bench-'));
      try {
        // Inputs for the PyTorch child: features and the edge list as raw arrays.
        fs.writeFileSync(path.join(dir, 'x.f32'), Buffer.from(data.features.data.buffer, data.features.data.byteOffset, data.features.data.byteLength));
        const src = data.edges!.src;
        const dst = data.edges!.dst;
        fs.writeFileSync(path.join(dir, 'src.i32'), Buffer.from(src.buffer, src.byteOffset, src.byteLength));
        fs.writeFileSync(path.join(dir, 'dst.i32'), Buffer.from(dst.buffer, dst.byteOffset, dst.byteLength));
        const est = torchEstimateGb(r.n).gb;
        const memGb = os.totalmem() / 2 ** 30;
        if (est > 0.6 * memGb) {
          row.torch = { skipped: `needs ~${est.toFixed(1)} GB (estimate) of the machine's ${memGb.toFixed(0)} GB` };
        } else {
          // --torch-ld-path: a folder holding an optimized libblas.so.3 (e.g. OpenBLAS) for PyTorch: Debian's
          // python3-torch calls the system libblas.so.3, which is the reference BLAS unless another is installed.
          const ld = arg('torch-ld-path', '');
          const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads),
            ...(ld ? { LD_LIBRARY_PATH: `${ld}${process.env.LD_LIBRARY_PATH ? `:${process.env.LD_LIBRARY_PATH}` : ''}` } : {}) };
          const text = execFileSync('/usr/bin/python3', [path.join(__dirname, 'caegcn_torch.py'), '--dir', dir, '--n', String(r.n), '--d', String(r.d),
            '--k', String(r.k), '--epochs', String(epochs), '--threads', String(threads)], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
          const line = text.split('\n').find((l) => l.startsWith('@@RESULT '));
          row.torch = line ? JSON.parse(line.slice(9)) : { error: text.slice(-2000) };
        }
      } catch (e) {
        row.torch = { error: String((e as Error).message).slice(0, 2000) };
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      const t = row.torch as { medianMs?: number; medianCpuMs?: number };
      if (t.medianMs) row.speedup = t.medianMs / r.medianMs;
      if (t.medianCpuMs) row.speedupCpu = t.medianCpuMs / r.medianCpuMs;
    }
    results.push(row);
    console.log(JSON.stringify(row));
  }
  out.cases = results;
  out.loadavgAfter = os.loadavg();
  const file = arg('out', `bench/results/caegcn-${new Date().toISOString().slice(0, 10)}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(out, null, 2));
  console.log(`wrote ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
