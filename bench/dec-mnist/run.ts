// `npx ts-node --transpile-only bench/dec-mnist/run.ts [--pretrain-epochs 1] [--iterations 280] [--threads 2] [--no-torch]`
//
// DEC and IDEC on MNIST (70,000 × 784): samples per second of training in dgclust (`lib/models/dec.ts` on the
// shared trainer, the MNIST preset) and in a faithful PyTorch version of DEC-keras's / IDEC's steps
// (bench/dec-mnist/dec_torch.py, /usr/bin/python3 with Debian's python3-torch, python3-sklearn, python3-scipy),
// one after the other in one run, the same thread count on both sides, the same data and initial weights:
//   - pretraining: the autoencoder, MSE, SGD(1, 0.9), shuffled batches of 256 — samples/s of whole epochs;
//   - clustering phase, batches of 256 in order, P refreshed every 140 iterations from all 70,000 rows:
//     samples/s of the optimizer steps alone, and of the whole phase (steps + refreshes with their evaluation,
//     three refreshes for 280 iterations: before the first step, at 140, and the final one).
// The tolerance stop is disabled (tol = 0) so both sides run the same iterations. Each side's clustering phase
// starts from its own one-epoch pretraining and its own k-means μ (the values do not change the work).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as dg from '../../lib';
import { decModelSpec, idecModelSpec } from '../../lib/models/dec';
import type { DecSettings } from '../../lib/models/dec';
import { fromDataset } from '../../lib/models/types';
import type { ModelSpec } from '../../lib/models/types';
import type { DecInput } from '../../lib/models/dec';
import { fit } from '../../lib/train/trainer';
import { Generator } from '../../lib/random';
import { writeNpy } from '../../lib/data/npy';
import { machine, markdownTable, writeResults } from '../harness';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const preEpochs = Number(opt('pretrain-epochs', '1'));
const iterations = Number(opt('iterations', '280'));
const threads = Number(opt('threads', '2'));
const seed = Number(opt('seed', '0'));
const withTorch = !args.includes('--no-torch');
const dataDir = process.env.DGCLUST_DATA ?? opt('data-dir', path.resolve(__dirname, '..', '..', '..', 'shared', 'data'));
dg.setNumThreads(threads);

const statusBytes = (field: string): number => {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
};
const resetHwm = (): boolean => {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
};
const loads: number[] = [os.loadavg()[0]];

const ds = dg.loadDataset('mnist', { dataDir });
const data = fromDataset(ds);
const base: DecSettings = { ...decModelSpec.presets.mnist!, pretrainEpochs: preEpochs, maxIterations: iterations, tol: 0 };
const input = decModelSpec.prepare(data, base, { device: 'cpu' });
const n = input.x.shape[0];
const BATCH = base.batchSize;

// The initial weights (the same for DEC and IDEC: the autoencoder comes from a generator derived from the seed).
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dec-mnist-'));
{
  const run = decModelSpec.create(input, base, new Generator(seed));
  fs.mkdirSync(path.join(dir, 'w'));
  for (const [name, t] of run.module.namedParameters()) if (name.startsWith('ae.')) writeNpy(path.join(dir, 'w', `${name}.npy`), t.dataF32(), t.shape);
  run.module.dispose();
}
writeNpy(path.join(dir, 'x.npy'), input.x.dataF32(), [n, input.x.shape[1]]);
writeNpy(path.join(dir, 'labels.npy'), input.labels!, [n]);

interface Side { pretrainSps: number; stepSps: number; phaseSps: number; finalAcc: number; peakGrowthBytes: number | null }
function dgclustSide(spec: ModelSpec<DecInput, DecSettings>): Side & { pretrainEpochMs: number[]; stepMs: number; phaseMs: number } {
  const pre: number[] = [];
  let stepMs = 0;
  let tPhase = NaN;
  let rss0 = NaN;
  let hwm = false;
  const r = fit(spec, input, base, {
    seed,
    keepEmbedding: false,
    callbacks: {
      onPhase: (phase) => {
        if (phase !== 'train') return;
        dg.releaseCachedMemory();
        hwm = resetHwm();
        rss0 = statusBytes('VmRSS');
        tPhase = performance.now();
      },
      onEpoch: (e) => {
        if (e.phase === 'pretrain-ae') pre.push(e.trainMs);
        else if (e.phase === 'train') stepMs += e.trainMs;
      },
    },
  });
  const phaseMs = performance.now() - tPhase;
  const preMs = pre.reduce((a, b) => a + b, 0);
  return {
    pretrainEpochMs: pre, stepMs, phaseMs,
    pretrainSps: (n * pre.length) / (preMs / 1000),
    stepSps: (iterations * BATCH) / (stepMs / 1000),
    phaseSps: (iterations * BATCH) / (phaseMs / 1000),
    finalAcc: r.final.metrics?.acc ?? NaN,
    peakGrowthBytes: hwm ? statusBytes('VmHWM') - rss0 : null,
  };
}

const dgc = { dec: dgclustSide(decModelSpec), idec: dgclustSide(idecModelSpec) };
loads.push(os.loadavg()[0]);
input.dispose();

interface TorchClustering { iterations: number; stepMsTotal: number; refreshMs: number[]; wallMs: number; finalAcc: number; peakGrowthBytes: number | null }
interface TorchOut { torch: string; torchThreads: number; threadpools: unknown; dec: { pretrainEpochMs: number[]; clustering: TorchClustering }; idec: { pretrainEpochMs: number[]; clustering: TorchClustering } }
let torch: TorchOut | null = null;
if (withTorch) {
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };
  const py = spawnSync('/usr/bin/python3', [path.join(__dirname, 'dec_torch.py'), dir, String(threads), String(preEpochs), String(iterations)],
    { encoding: 'utf8', env, maxBuffer: 1 << 26 });
  if (py.status === 0) torch = JSON.parse(py.stdout.trim().split('\n').pop()!) as TorchOut;
  else process.stderr.write(`PyTorch side failed (${py.status}): ${py.stderr.slice(-800)}\n(install: apt-get install python3-torch python3-sklearn python3-scipy)\n`);
  loads.push(os.loadavg()[0]);
}
fs.rmSync(dir, { recursive: true, force: true });

const torchSide = (name: 'dec' | 'idec'): Side | null => {
  if (!torch) return null;
  const t = torch[name];
  const preMs = t.pretrainEpochMs.reduce((a, b) => a + b, 0);
  return {
    pretrainSps: (n * t.pretrainEpochMs.length) / (preMs / 1000),
    stepSps: (t.clustering.iterations * BATCH) / (t.clustering.stepMsTotal / 1000),
    phaseSps: (t.clustering.iterations * BATCH) / (t.clustering.wallMs / 1000),
    finalAcc: t.clustering.finalAcc,
    peakGrowthBytes: t.clustering.peakGrowthBytes,
  };
};
const rows: (string | number)[][] = [];
const f0 = (x: number) => x.toFixed(0);
const ratio = (a: number | undefined, b: number) => (a === undefined ? 'n/a' : (b / a).toFixed(2));
for (const name of ['dec', 'idec'] as const) {
  const d = dgc[name];
  const t = torchSide(name);
  rows.push([name.toUpperCase(), 'pretraining (AE, SGD, batch 256)', f0(d.pretrainSps), t ? f0(t.pretrainSps) : 'n/a', ratio(t?.pretrainSps, d.pretrainSps)]);
  rows.push([name.toUpperCase(), `clustering steps (batch ${BATCH})`, f0(d.stepSps), t ? f0(t.stepSps) : 'n/a', ratio(t?.stepSps, d.stepSps)]);
  rows.push([name.toUpperCase(), `clustering phase incl. 3 refreshes of ${n} rows`, f0(d.phaseSps), t ? f0(t.phaseSps) : 'n/a', ratio(t?.phaseSps, d.phaseSps)]);
}
console.log(`DEC / IDEC on MNIST (N = ${n}), ${threads} threads both sides, ${preEpochs} pretraining epoch(s), ${iterations} clustering iterations; ${machine().cpu}; load average (1 min) ${loads.map((l) => l.toFixed(1)).join(' → ')}\n`);
console.log(markdownTable(['model', 'part', 'dgclust samples/s', 'PyTorch samples/s', 'dgclust ÷ PyTorch'], rows));
if (torch) console.log(`\nPyTorch ${torch.torch}, torch threads ${torch.torchThreads}, thread pools ${JSON.stringify(torch.threadpools)}`);
const mbs = (b: number | null | undefined) => (b == null ? 'n/a' : `${(b / 2 ** 20).toFixed(0)} MiB`);
for (const name of ['dec', 'idec'] as const) console.log(`${name}: clustering-phase peak RSS growth dgclust ${mbs(dgc[name].peakGrowthBytes)}, PyTorch ${mbs(torchSide(name)?.peakGrowthBytes)}`);
const file = writeResults('dec-mnist', { threads, preEpochs, iterations, seed, machine: machine(), loadAverage: loads, dgclust: dgc, torch });
console.log(`\nwrote ${file}`);
