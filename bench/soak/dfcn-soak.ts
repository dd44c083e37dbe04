// A soak, not a test: 10,000 DFCN training steps on the embedded ACM data, as lib/train/dfcn.ts runs one step
// (forward; P = target(Q(Z̃)) detached; L = L_AE + L_w + γ·L_a + λ·L_KL; backward; Adam step), with the process's
// resident memory (RSS) and the native counters sampled every 500 steps. After warm-up RSS must stay within 5%
// (max / min − 1 over the samples from --warmup on); the run exits 1 when it does not. A leak of one 3025×20
// float tensor per step would add 2.4 GB over the run; one small tensor per step (~100 bytes) still shows in the
// live-tensor count, which must not move at all.
//
//   npx ts-node --transpile-only bench/soak/dfcn-soak.ts [--steps 10000] [--every 500] [--warmup 1000]
//       [--threads 1] [--record]
//
// Starts from the official pretrained weights shipped in data/pretrained/dfcn/acm/pretrain, μ from one k-means
// (as train.py), the ACM preset (PCA 100, lr 5e-5). Writes bench/results/dfcn-soak-<machine>-<date>.json; with
// --record it also prints the curve as a markdown table for bench/RESULTS.md.
import * as os from 'os';
import * as path from 'path';
import * as dg from '../../lib';
import { Dfcn, DFCN_GAMMA, DFCN_LAMBDA, DFCN_PRESETS } from '../../lib/models/dfcn';
import { prepareDfcnInput } from '../../lib/models/dfcn-input';
import { loadNpyCheckpoint } from '../../lib/io/npy-checkpoint';
import { machine, markdownTable, optionReader, writeResults } from '../harness';

const args = process.argv.slice(2);
const opt = optionReader(args);
const steps = Number(opt('steps', '10000'));
const every = Number(opt('every', '500'));
const warmup = Number(opt('warmup', '1000'));
const threads = Number(opt('threads', '1'));
dg.setNumThreads(threads);

interface Sample {
  step: number;
  /** Seconds since the first step. */
  s: number;
  rssMiB: number;
  heapUsedMiB: number;
  externalMiB: number;
  nativeTensors: number;
  nativeLiveMiB: number;
  nativeCachedMiB: number;
  loss: number;
  /** The machine's 1-minute load average when the sample was taken. */
  load1: number;
}

const MiB = 2 ** 20;
const preset = DFCN_PRESETS.acm;
const ds = dg.loadDataset('acm');
const input = prepareDfcnInput(ds, preset);
const model = new Dfcn({ nInput: preset.pcaDim, nClusters: input.nClusters, igaeActivation: preset.igaeActivation, igaeLayout: preset.igaeLayout });
const init = loadNpyCheckpoint(path.resolve(__dirname, '..', '..', 'data', 'pretrained', 'dfcn', 'acm', 'pretrain'));
model.loadStateDict(init);
dg.dispose([...init.values()]);
// μ ← k-means centres of Z̃ from a forward pass of the starting weights (train.py).
dg.tidy(() => {
  const z = dg.noGrad(() => model.forward(input.x, input.adj).zTilde);
  const km = dg.kmeans(z, input.nClusters, { nInit: 20, seed: 999 });
  dg.native.copyInto(model.clusterLayer.handle, km.centers.handle);
});
const opt_ = new dg.Adam(model.parameters(), { lr: preset.lr });
const weights = { lambda: DFCN_LAMBDA, gamma: DFCN_GAMMA };

function step(): number {
  return dg.tidy(() => {
    const f = model.forward(input.x, input.adj);
    const p = dg.noGrad(() => dg.targetDistribution(model.softAssign(f.zTilde)));
    const l = model.losses(f, input.x, input.adj, input.adjX, p, weights);
    dg.backward(l.total, undefined, { freeIntermediates: true });
    opt_.step();
    opt_.zeroGrad();
    return l.total.item();
  });
}

const samples: Sample[] = [];
const t0 = Date.now();
const sample = (k: number, loss: number): void => {
  const m = process.memoryUsage();
  const n = dg.memory();
  const s: Sample = {
    step: k,
    s: Math.round((Date.now() - t0) / 100) / 10,
    rssMiB: +(m.rss / MiB).toFixed(1),
    heapUsedMiB: +(m.heapUsed / MiB).toFixed(1),
    externalMiB: +(m.external / MiB).toFixed(1),
    nativeTensors: n.tensors,
    nativeLiveMiB: +(n.bytes / MiB).toFixed(1),
    nativeCachedMiB: +(n.cachedBytes / MiB).toFixed(1),
    loss,
    load1: +os.loadavg()[0].toFixed(2),
  };
  samples.push(s);
  process.stderr.write(`step ${k}: RSS ${s.rssMiB} MiB, heap ${s.heapUsedMiB} MiB, native ${s.nativeTensors} tensors / ${s.nativeLiveMiB} MiB live / ${s.nativeCachedMiB} MiB cached, loss ${loss.toFixed(5)}, ${s.s} s, load ${s.load1}\n`);
};

let loss = NaN;
sample(0, loss);
dg.resetPeakMemory();
for (let k = 1; k <= steps; k++) {
  loss = step();
  if (!Number.isFinite(loss)) throw new Error(`step ${k}: the loss is ${loss}`);
  if (k % every === 0) sample(k, loss);
}
const peakStepMiB = +(dg.memory().peakBytes / MiB).toFixed(1);

const after = samples.filter((s) => s.step >= warmup);
const rss = after.map((s) => s.rssMiB);
const spread = Math.max(...rss) / Math.min(...rss) - 1;
const tensorsMove = new Set(after.map((s) => s.nativeTensors)).size > 1;
const ok = spread <= 0.05 && !tensorsMove;
const verdict = `RSS after step ${warmup}: ${Math.min(...rss)}–${Math.max(...rss)} MiB (spread ${(100 * spread).toFixed(2)}%, limit 5%); live native tensors ${tensorsMove ? 'MOVED' : `constant at ${after[0].nativeTensors}`}; peak live native memory of the steps ${peakStepMiB} MiB; ${ok ? 'PASS' : 'FAIL'}`;
const result = {
  machine: machine(),
  date: new Date().toISOString(),
  settings: { steps, every, warmup, threads, cacheLimitMiB: dg.cacheLimit() / MiB, dataset: 'acm', preset },
  seconds: (Date.now() - t0) / 1000,
  msPerStep: (Date.now() - t0) / steps,
  peakStepMiB,
  spread,
  ok,
  samples,
};
const file = writeResults('dfcn-soak', result);
console.log(verdict);
console.log(`${steps} steps in ${result.seconds.toFixed(0)} s (${result.msPerStep.toFixed(1)} ms/step, ${threads} thread${threads > 1 ? 's' : ''}); results: ${path.relative(process.cwd(), file)}`);
if (args.includes('--record')) {
  console.log(markdownTable(
    ['step', 'RSS MiB', 'V8 heap MiB', 'native live MiB', 'native cached MiB', 'native tensors', 'loss', 'load (1 min)'],
    samples.map((s) => [s.step, s.rssMiB, s.heapUsedMiB, s.nativeLiveMiB, s.nativeCachedMiB, s.nativeTensors, Number.isFinite(s.loss) ? s.loss.toFixed(5) : '—', s.load1]),
  ));
}
opt_.dispose();
model.dispose();
input.dispose();
process.exitCode = ok ? 0 : 1;
