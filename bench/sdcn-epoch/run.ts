// `npx ts-node --transpile-only bench/sdcn-epoch/run.ts [--epochs 8] [--threads 2] [--seed 0] [--no-torch]`
//
// One SDCN training epoch on USPS with its per-epoch evaluation, timed in dgclust (`lib/models/sdcn.ts` on the
// shared trainer, exactly what `dgclust train --model sdcn --dataset usps` runs per epoch) and in a faithful
// plain-PyTorch script of the official sdcn.py loop (bench/sdcn-epoch/sdcn_torch.py, run by /usr/bin/python3 with
// Debian's python3-torch, python3-sklearn and python3-scipy), on identical inputs — the same features, the same
// Â (dgclust's CSR handed over), the same initial weights and μ — one after the other in one run, with the same
// thread count on both sides (OMP_NUM_THREADS / OPENBLAS_NUM_THREADS and torch.set_num_threads for PyTorch).
//
// What one epoch is on each side (both train the same model from the same state; the losses are printed side by
// side as a check):
//   PyTorch (official): an extra forward pass with autograd on → P = target(Q); argmax Q, Z, P each evaluated
//     (ACC, F1, NMI, ARI); then the training forward, loss, backward, Adam.
//   dgclust: one forward (P from this pass's Q: the official extra pass computes the same Q at the same
//     weights), loss, backward, Adam; then argmax Z and argmax Q evaluated (ACC, NMI, ARI, F1).
// Times are medians over epochs 2..E (the first epoch warms caches). Peak memory: the growth of the peak RSS
// (VmHWM, reset through /proc/self/clear_refs when training starts) over the RSS at that point, in each
// process; for dgclust also the allocator's peak of live tensor bytes.
// Also reports the GEMM FLOPs of an epoch on each side and the GFLOP/s they imply.
// The autoencoder is not pretrained here (timing only): its weights are the seeded initial ones on both sides.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as dg from '../../lib';
import { sdcnSpec } from '../../lib/models/sdcn';
import type { SdcnSettings } from '../../lib/models/sdcn';
import { fromDataset } from '../../lib/models/types';
import { fitSteps } from '../../lib/train/trainer';
import type { RunResult } from '../../lib/train/trainer';
import { Generator } from '../../lib/random';
import { writeNpy } from '../../lib/data/npy';
import { machine, markdownTable, median, optionReader, resetHwm, statusBytes, writeResults } from '../harness';
import { startTorchServer } from '../torch-side';

const args = process.argv.slice(2);
const opt = optionReader(args);
const epochs = Number(opt('epochs', '8'));
const threads = Number(opt('threads', '2'));
const seed = Number(opt('seed', '0'));
const withTorch = !args.includes('--no-torch');
const dataDir = process.env.DGCLUST_DATA ?? opt('data-dir', path.resolve(__dirname, '..', '..', '..', 'shared', 'data'));
dg.setNumThreads(threads);

const loadAvg = (): number => os.loadavg()[0];
const mb = (b: number | null | undefined): string => (b == null || !Number.isFinite(b) ? 'n/a' : (b / 2 ** 20).toFixed(0));

// ---- the input, as `dgclust train --model sdcn --dataset usps` prepares it ----
const ds = dg.loadDataset('usps', { dataDir });
const data = fromDataset(ds);
const settings: SdcnSettings = { ...sdcnSpec.presets.usps!, epochs, aeEpochs: 0 };
const input = sdcnSpec.prepare(data, settings, { device: 'cpu' });
const n = input.x.shape[0];
const nIn = input.x.shape[1];
const k = input.nClusters;
const adj = input.adj!;
const csr = adj.toArrays();

// ---- the starting state: the model fit() builds for this seed, μ as fit() computes it ----
// fit() creates the model from Generator(seed) and takes μ from k-means (20 restarts, seed·1000 + 999) on the
// embedding; the same calls here give the same weights and μ, which PyTorch loads by the official names.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdcn-epoch-'));
{
  const run = sdcnSpec.create(input, settings, new Generator(seed));
  dg.tidy(() => {
    const inf = run.infer(input);
    const km = dg.kmeans(inf.embedding, k, { nInit: 20, seed: seed * 1000 + 999 });
    fs.mkdirSync(path.join(dir, 'w'));
    for (const [name, t] of run.module.namedParameters()) {
      const torchName = name === 'head.cluster_layer' ? 'cluster_layer' : name;
      const value = name === 'head.cluster_layer' ? km.centers : t;
      writeNpy(path.join(dir, 'w', `${torchName}.npy`), value.dataF32(), value.shape);
    }
  });
  run.module.dispose();
  run.dispose?.();
}
writeNpy(path.join(dir, 'x.npy'), input.x.dataF32(), [n, nIn]);
writeNpy(path.join(dir, 'adj_indptr.npy'), csr.indptr, [csr.indptr.length]);
writeNpy(path.join(dir, 'adj_indices.npy'), csr.indices, [csr.indices.length]);
writeNpy(path.join(dir, 'adj_values.npy'), csr.values, [csr.values.length]);
writeNpy(path.join(dir, 'labels.npy'), input.labels!, [n]);

// ---- FLOPs of one epoch (GEMMs only: SpMM, elementwise and the clustering head are < 1% of them) ----
// Forward: every Linear / GNN weight product, 2·N·in·out. Backward: the weight gradient always, the input gradient
// for every layer but the two that read X (X needs no gradient): enc_1 and gnn_1.
const aeDims = [nIn, 500, 500, 2000, 10, 2000, 500, 500, nIn];
const gnnDims = [nIn, 500, 500, 2000, 10, k];
const layerFlops = (dims: number[]) => dims.slice(1).map((o, i) => 2 * n * dims[i] * o);
const fwd = [...layerFlops(aeDims), ...layerFlops(gnnDims)].reduce((a, b) => a + b, 0);
const firstLayers = 2 * (2 * n * nIn * 500);
const stepFlops = fwd + fwd + (fwd - firstLayers);
const torchEpochFlops = stepFlops + fwd; // + the official extra forward pass

// ---- the two sides, epoch by epoch, interleaved ----
// dgclust's trainer yields after every epoch (fitSteps); PyTorch runs in a child process that does one epoch per
// request. Alternating them means a load that drifts over the run slows both sides alike, and each epoch's
// PyTorch ÷ dgclust ratio compares two runs a few seconds apart. The medians below are over epochs 2..E.
interface TorchEpoch { cpuMs: number; refreshMs: number; evalMs: number; stepMs: number; loss: number; accQZP: number[] }
interface TorchSummary { peakGrowthBytes: number | null; peakRssBytes: number; rssBeforeBytes: number; torch: string; torchThreads: number; threadpools: unknown }

async function main(): Promise<void> {
  const loads: number[] = [loadAvg()];
  const torchSide = withTorch ? startTorchServer(path.join(__dirname, 'sdcn_torch.py'), [dir, '0', String(threads), String(settings.lr)], threads) : null;
  if (torchSide) await torchSide.next(''); // {ready}: inputs loaded, model built
  let rssBefore = NaN;
  let hwmReset = false;
  const events: dg.EpochEvent[] = [];
  const torchEpochs: TorchEpoch[] = [];
  const steps = fitSteps(sdcnSpec, input, settings, {
    seed,
    keepEmbedding: false,
    callbacks: {
      onPhase: (phase) => {
        if (phase !== 'train') return;
        // Cached blocks from the setup (k-means, the first inference) would hide the training's own growth.
        dg.releaseCachedMemory();
        dg.resetPeakMemory();
        hwmReset = resetHwm();
        rssBefore = statusBytes('VmRSS');
      },
      onEpoch: (e) => {
        if (e.phase === 'train') events.push(e);
      },
    },
  });
  let result: RunResult | null = null;
  // Process CPU time of each dgclust epoch (both threads' work; the setup before epoch 1 is in the first one).
  const dgCpuMs: number[] = [];
  for (;;) {
    const c0 = process.cpuUsage();
    const r = steps.next();
    const c = process.cpuUsage(c0);
    if (!r.done) dgCpuMs.push((c.user + c.system) / 1000);
    if (r.done) {
      result = r.value;
      break;
    }
    if (torchSide && torchEpochs.length < events.length) torchEpochs.push(await torchSide.next<TorchEpoch>('epoch'));
    if (events.length % 2 === 0) loads.push(loadAvg());
  }
  const dgPeakGrowth = hwmReset ? statusBytes('VmHWM') - rssBefore : NaN;
  const dgLivePeak = dg.memory().peakBytes;
  const torch = torchSide ? await torchSide.next<TorchSummary>('done') : null;
  loads.push(loadAvg());
  input.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
  report(events, torchEpochs, torch, { dgPeakGrowth, dgLivePeak, loads, final: result.final.readouts, dgCpuMs });
}

// ---- report ----
function report(events: dg.EpochEvent[], te: TorchEpoch[], torch: TorchSummary | null,
                m: { dgPeakGrowth: number; dgLivePeak: number; loads: number[]; final: unknown; dgCpuMs: number[] }): void {
  const later = (xs: number[]) => xs.slice(1);
  const dgTrain = median(later(events.map((e) => e.trainMs)));
  const dgEval = median(later(events.map((e) => e.evalMs)));
  const dgEpoch = median(later(events.map((e) => e.trainMs + e.evalMs)));
  const gf = (flops: number, ms: number) => (flops / (ms * 1e6)).toFixed(1);
  const rows: (string | number)[][] = [
    ['dgclust', `${dgTrain.toFixed(0)} (one forward, P from it)`, dgEval.toFixed(1), dgEpoch.toFixed(0), '', mb(m.dgPeakGrowth), `${(stepFlops / 1e9).toFixed(1)} GFLOP, ${gf(stepFlops, dgTrain)} GFLOP/s`],
  ];
  let ratios: number[] = [];
  let stepRatios: number[] = [];
  if (torch && te.length) {
    const tRefresh = median(later(te.map((e) => e.refreshMs)));
    const tStep = median(later(te.map((e) => e.stepMs)));
    const tEval = median(later(te.map((e) => e.evalMs)));
    const tEpoch = median(later(te.map((e) => e.refreshMs + e.evalMs + e.stepMs)));
    ratios = te.map((e, i) => (e.refreshMs + e.evalMs + e.stepMs) / (events[i].trainMs + events[i].evalMs));
    stepRatios = te.map((e, i) => e.stepMs / events[i].trainMs);
    rows.push(['PyTorch', `${(tRefresh + tStep).toFixed(0)} (extra forward ${tRefresh.toFixed(0)} + step ${tStep.toFixed(0)})`,
      tEval.toFixed(1), tEpoch.toFixed(0), median(later(ratios)).toFixed(2), mb(torch.peakGrowthBytes),
      `${(torchEpochFlops / 1e9).toFixed(1)} GFLOP, ${gf(torchEpochFlops, tRefresh + tStep)} GFLOP/s`]);
  }
  console.log(`SDCN epoch on USPS (N = ${n}, d = ${nIn}, K = ${k}, nnz(Â) = ${csr.indices.length}), ${threads} threads both sides, epochs interleaved, medians of epochs 2..${epochs}; ${machine().cpu}; load average (1 min) during the run ${m.loads.map((l) => l.toFixed(1)).join(', ')}\n`);
  console.log(markdownTable(['', 'forward/backward/Adam ms', 'evaluation ms', 'epoch ms', 'PyTorch ÷ dgclust (median of per-epoch ratios)', 'peak RSS growth MiB', 'GEMM work'], rows));
  console.log(`\ndgclust: allocator peak of live tensors ${mb(m.dgLivePeak)} MiB`);
  if (torch) {
    console.log(`PyTorch ${torch.torch}, torch threads ${torch.torchThreads}, thread pools ${JSON.stringify(torch.threadpools)}; peak RSS ${mb(torch.peakRssBytes)} MiB (${mb(torch.rssBeforeBytes)} before the loop)`);
    const cpuRatio = median(later(te.map((e, i) => e.cpuMs / m.dgCpuMs[i])));
    console.log(`process CPU time per epoch (both threads' work; less sensitive to the load than wall time): dgclust ${median(later(m.dgCpuMs)).toFixed(0)} ms, PyTorch ${median(later(te.map((e) => e.cpuMs))).toFixed(0)} ms, ratio ${cpuRatio.toFixed(2)}`);
    console.log(`per-epoch ratios PyTorch ÷ dgclust, whole epoch: ${ratios.map((r) => r.toFixed(2)).join(' ')}; step only (no refresh pass, no evaluation): ${stepRatios.map((r) => r.toFixed(2)).join(' ')} (median ${median(later(stepRatios)).toFixed(2)})`);
    console.log('loss per epoch (dgclust | PyTorch):');
    events.forEach((e, i) => console.log(`  ${i + 1}: ${e.losses.total.toPrecision(7)} | ${te[i]?.loss.toPrecision(7)}   ACC Z ${(e.readouts!.z.acc * 100).toFixed(2)} | ${(te[i]?.accQZP[1] * 100).toFixed(2)}   ACC Q ${(e.readouts!.q.acc * 100).toFixed(2)} | ${(te[i]?.accQZP[0] * 100).toFixed(2)}`));
  }
  const file = writeResults('sdcn-epoch-usps', {
    threads, epochs, seed, machine: machine(), loadAverage: m.loads, flops: { forward: fwd, dgclustEpoch: stepFlops, torchEpoch: torchEpochFlops },
    medianRatio: ratios.length ? median(later(ratios)) : null, medianStepRatio: stepRatios.length ? median(later(stepRatios)) : null,
    dgclust: {
      trainMs: dgTrain, evalMs: dgEval, epochMs: dgEpoch, peakRssGrowthBytes: m.dgPeakGrowth, livePeakBytes: m.dgLivePeak,
      epochs: events.map((e, i) => ({ trainMs: +e.trainMs.toFixed(2), evalMs: +e.evalMs.toFixed(2), cpuMs: +m.dgCpuMs[i].toFixed(1), loss: e.losses.total })), final: m.final,
    },
    torch: torch ? { ...torch, epochs: te } : null,
  });
  console.log(`\nwrote ${file}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
