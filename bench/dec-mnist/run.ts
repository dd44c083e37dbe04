// `npx ts-node --transpile-only bench/dec-mnist/run.ts [--pretrain-epochs 1] [--iterations 280] [--threads 2] [--no-torch]`
//
// DEC and IDEC on MNIST (70,000 × 784): samples per second of training in dgclust (`lib/models/dec.ts` on the
// shared trainer, the MNIST preset) and in a faithful PyTorch version of DEC-keras's / IDEC's steps
// (bench/dec-mnist/dec_torch.py, /usr/bin/python3 with Debian's python3-torch, python3-sklearn, python3-scipy),
// interleaved chunk by chunk in one run, the same thread count on both sides, the same data and initial weights:
//   - pretraining: the autoencoder, MSE, SGD(1, 0.9), shuffled batches of 256 — samples/s of whole epochs;
//   - clustering phase, batches of 256 in order, P refreshed every 140 iterations from all 70,000 rows:
//     samples/s of the optimizer steps alone, and of the intervals (140 steps + the refresh that follows, with its
//     evaluation: the last one is the final prediction). μ's k-means and the first refresh are not timed.
//   Also the process CPU time of each side (both threads' work: less sensitive to the machine's load).
// The tolerance stop is disabled (tol = 0) so both sides run the same iterations. Each side's clustering phase
// starts from its own one-epoch pretraining and its own k-means μ (the values do not change the work).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as dg from '../../lib';
import { decModelSpec, idecModelSpec } from '../../lib/models/dec';
import type { DecSettings } from '../../lib/models/dec';
import { fromDataset } from '../../lib/models/types';
import type { ModelSpec } from '../../lib/models/types';
import type { DecInput } from '../../lib/models/dec';
import { fitSteps } from '../../lib/train/trainer';
import type { RunResult } from '../../lib/train/trainer';
import { Generator } from '../../lib/random';
import { writeNpy } from '../../lib/data/npy';
import { machine, markdownTable, optionReader, resetHwm, statusBytes, writeResults } from '../harness';
import { startTorchServer } from '../torch-side';

const args = process.argv.slice(2);
const opt = optionReader(args);
const preEpochs = Number(opt('pretrain-epochs', '1'));
const iterations = Number(opt('iterations', '280'));
const threads = Number(opt('threads', '2'));
const seed = Number(opt('seed', '0'));
const withTorch = !args.includes('--no-torch');
const dataDir = process.env.DGCLUST_DATA ?? opt('data-dir', path.resolve(__dirname, '..', '..', '..', 'shared', 'data'));
dg.setNumThreads(threads);

const loads: number[] = [os.loadavg()[0]];

const ds = dg.loadDataset('mnist', { dataDir });
const data = fromDataset(ds);
const base: DecSettings = { ...decModelSpec.presets.mnist!, pretrainEpochs: preEpochs, maxIterations: iterations, tol: 0 };
const input = decModelSpec.prepare(data, base, { device: 'cpu' });
const n = input.x.shape[0];
const BATCH = base.batchSize;

// The initial weights (the same for DEC and IDEC: the autoencoder comes from a generator derived from the seed).
// Each side then pretrains them itself (its own shuffles) and takes μ from its own k-means: the values differ
// between the sides after that, the work does not.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dec-mnist-'));
{
  const run = decModelSpec.create(input, base, new Generator(seed));
  fs.mkdirSync(path.join(dir, 'w'));
  for (const [name, t] of run.module.namedParameters()) if (name.startsWith('ae.')) writeNpy(path.join(dir, 'w', `${name}.npy`), t.dataF32(), t.shape);
  run.module.dispose();
}
writeNpy(path.join(dir, 'x.npy'), input.x.dataF32(), [n, input.x.shape[1]]);
writeNpy(path.join(dir, 'labels.npy'), input.labels!, [n]);

// ---- the two sides, chunk by chunk, interleaved ----
// dgclust's trainer yields after every pretraining epoch and at every target refresh (fitSteps); the PyTorch child
// runs the same chunks on request (a pretraining epoch; μ by k-means and the first refresh; 140 steps and a
// refresh). Alternating them means a load that drifts over the run slows both sides alike.
interface Chunk { kind: 'pretrain' | 'start' | 'interval'; wallMs: number; cpuMs: number; stepMs?: number; refreshMs?: number }
interface SideResult { chunks: Chunk[]; finalAcc: number; peakGrowthBytes: number | null; done?: Record<string, unknown> }

async function runModel(spec: ModelSpec<DecInput, DecSettings>): Promise<{ dg: SideResult; torch: SideResult | null }> {
  const torchSide = withTorch ? startTorchServer(path.join(__dirname, 'dec_torch.py'), [dir, String(threads), spec.name], threads) : null;
  if (torchSide) await torchSide.next('');
  const dgChunks: Chunk[] = [];
  const torchChunks: Chunk[] = [];
  const trainEvents: dg.EpochEvent[] = [];
  let rss0 = NaN;
  let hwm = false;
  const steps = fitSteps(spec, input, base, {
    seed,
    keepEmbedding: false,
    callbacks: {
      onPhase: (phase) => {
        if (phase !== 'train') return;
        dg.releaseCachedMemory();
        hwm = resetHwm();
        rss0 = statusBytes('VmRSS');
      },
      onEpoch: (e) => {
        if (e.phase === 'train') trainEvents.push(e);
      },
    },
  });
  let result: RunResult | null = null;
  let torchFinalAcc = NaN;
  const interval = base.updateInterval;
  for (let chunk = 0; !result; chunk++) {
    const kind: Chunk['kind'] = chunk < preEpochs ? 'pretrain' : chunk === preEpochs ? 'start' : 'interval';
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = steps.next();
    const wallMs = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (r.done) result = r.value;
    const ev = trainEvents[trainEvents.length - 1];
    const stepMs = kind === 'interval' ? ev.trainMs : undefined;
    dgChunks.push({ kind, wallMs, cpuMs: (c.user + c.system) / 1000, stepMs, refreshMs: stepMs !== undefined ? wallMs - stepMs : undefined });
    if (torchSide) {
      const cmd = kind === 'interval' ? `interval ${Math.min(interval, iterations - (chunk - preEpochs - 1) * interval)}` : kind;
      const t = await torchSide.next(cmd);
      torchChunks.push({ kind, wallMs: t.wallMs as number, cpuMs: t.cpuMs as number, stepMs: t.stepMs as number | undefined, refreshMs: t.refreshMs as number | undefined });
      torchFinalAcc = t.acc as number;
    }
    loads.push(os.loadavg()[0]);
  }
  const dgSide: SideResult = { chunks: dgChunks, finalAcc: result.final.metrics?.acc ?? NaN, peakGrowthBytes: hwm ? statusBytes('VmHWM') - rss0 : null };
  let torchResult: SideResult | null = null;
  if (torchSide) {
    const done = await torchSide.next('done');
    torchResult = { chunks: torchChunks, finalAcc: torchFinalAcc, peakGrowthBytes: done.peakGrowthBytes as number | null, done };
  }
  return { dg: dgSide, torch: torchResult };
}

/** Samples per second of a side: pretraining epochs; clustering steps alone; clustering intervals (steps + refresh). */
function rates(s: SideResult) {
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  const pre = s.chunks.filter((c) => c.kind === 'pretrain');
  const iv = s.chunks.filter((c) => c.kind === 'interval');
  return {
    pretrainSps: (n * pre.length) / (sum(pre.map((c) => c.wallMs)) / 1000),
    stepSps: (iterations * BATCH) / (sum(iv.map((c) => c.stepMs!)) / 1000),
    intervalSps: (iterations * BATCH) / (sum(iv.map((c) => c.wallMs)) / 1000),
    pretrainCpuMs: sum(pre.map((c) => c.cpuMs)),
    intervalCpuMs: sum(iv.map((c) => c.cpuMs)),
    refreshMs: iv.map((c) => c.refreshMs!),
  };
}

async function main(): Promise<void> {
  const out: Record<string, { dg: SideResult; torch: SideResult | null }> = {};
  for (const spec of [decModelSpec, idecModelSpec]) out[spec.name] = await runModel(spec);
  input.dispose();
  fs.rmSync(dir, { recursive: true, force: true });

  const rows: (string | number)[][] = [];
  const f0 = (x: number) => x.toFixed(0);
  for (const name of ['dec', 'idec']) {
    const d = rates(out[name].dg);
    const t = out[name].torch ? rates(out[name].torch!) : null;
    const r = (a: number, b: number | undefined) => (b === undefined ? 'n/a' : (a / b).toFixed(2));
    rows.push([name.toUpperCase(), `pretraining (AE, SGD, batch ${base.pretrainBatchSize}), ${preEpochs} epoch(s)`, f0(d.pretrainSps), t ? f0(t.pretrainSps) : 'n/a', r(d.pretrainSps, t?.pretrainSps), t ? r(t.pretrainCpuMs, d.pretrainCpuMs) : 'n/a']);
    rows.push([name.toUpperCase(), `clustering steps alone (batch ${BATCH})`, f0(d.stepSps), t ? f0(t.stepSps) : 'n/a', r(d.stepSps, t?.stepSps), '']);
    rows.push([name.toUpperCase(), `clustering: ${iterations} steps + ${out[name].dg.chunks.filter((c) => c.kind === 'interval').length} refreshes of all ${n} rows`, f0(d.intervalSps), t ? f0(t.intervalSps) : 'n/a', r(d.intervalSps, t?.intervalSps), t ? r(t.intervalCpuMs, d.intervalCpuMs) : 'n/a']);
  }
  console.log(`DEC / IDEC on MNIST (N = ${n}), ${threads} threads both sides, chunks interleaved; ${machine().cpu}; load average (1 min) during the run ${loads.map((l) => l.toFixed(1)).join(', ')}\n`);
  console.log(markdownTable(['model', 'part', 'dgclust samples/s', 'PyTorch samples/s', 'dgclust ÷ PyTorch', 'CPU time PyTorch ÷ dgclust'], rows));
  for (const name of ['dec', 'idec']) {
    const d = rates(out[name].dg);
    const t = out[name].torch ? rates(out[name].torch!) : null;
    const mbs = (b: number | null | undefined) => (b == null ? 'n/a' : `${(b / 2 ** 20).toFixed(0)} MiB`);
    console.log(`${name}: refresh (inference of ${n} rows + P + metrics) ms dgclust ${d.refreshMs.map(f0).join(', ')} | PyTorch ${t ? t.refreshMs.map(f0).join(', ') : 'n/a'}; ` +
      `clustering-phase peak RSS growth dgclust ${mbs(out[name].dg.peakGrowthBytes)}, PyTorch ${mbs(out[name].torch?.peakGrowthBytes)}; final ACC ${(out[name].dg.finalAcc * 100).toFixed(2)} | ${out[name].torch ? (out[name].torch!.finalAcc * 100).toFixed(2) : 'n/a'}`);
  }
  const t0 = out.dec.torch?.done;
  if (t0) console.log(`PyTorch ${t0.torch}, torch threads ${t0.torchThreads}, thread pools ${JSON.stringify(t0.threadpools)}`);
  const file = writeResults('dec-mnist', { threads, preEpochs, iterations, seed, machine: machine(), loadAverage: loads, results: out });
  console.log(`\nwrote ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
