// `npx ts-node --transpile-only bench/sparse-inputs.ts [--threads 1] [--runs 9] [--densities 0.01,0.05,...]
//   [--models agcn,sdcn] [--datasets acm,dblp,cite] [--epochs 6] [--rounds 3] [--data-dir DIR]`
//
// Products with a sparse constant input (ops.attachRowSparse; native/cpu/gemm.cc sgemmSparse) against the dense
// products on the same data, through the addon, side by side in one process (dense and indexed timed alternately,
// medians): the four products a first layer takes with a row-sparse X (N×d) and a weight of h = 500 columns —
//   X·Wᵀ (nn.Linear's forward, W h×d), X·W (a GCN weight d×h), Xᵀ·G (a GCN weight's gradient, G N×h) and
//   Gᵀ·X (nn.Linear's weight gradient) —
// on ACM's own features (3025 × 1870, 4.5% nonzero) and its ÂX (20%), and on random matrices of the same shape
// over a range of densities (where the index stops paying: the choice of ops.ROW_SPARSE_MAX_DENSITY). Then whole
// training epochs of the graph models on the bag-of-words datasets, with the index (the default) and without it
// (DGCLUST_SPARSE_INPUTS=0), alternating fits round by round in this process (median of epochs 2..E per fit, median
// over rounds). Both sides give the same values bit for bit (test/sparse-inputs.test.ts); this measures only time.
// DBLP and Citeseer come from --data-dir (default $DGCLUST_DATA, then ../shared/data) and are skipped, saying so,
// when absent. Writes bench/results/sparse-inputs-<machine>-<date>.json.
import * as dg from '../lib';
import { native } from '../lib/native';
import * as path from 'path';
import { agcnSpec } from '../lib/models/agcn';
import { getModel, resolveSettings } from '../lib/models/registry';
import type { ClusteringData, ResolvedOptions } from '../lib/models/types';
import { fit } from '../lib/train/trainer';
import { fmt, machine, markdownTable, median, optionReader, writeResults } from './harness';

const opt = optionReader(process.argv.slice(2));
const threads = Number(opt('threads', '1'));
const runs = Number(opt('runs', '9'));
const densities = opt('densities', '0.01,0.05,0.1,0.2,0.3,0.4').split(',').map(Number);
dg.setNumThreads(threads);

let seed = 12345;
const rand = () => {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 4294967296;
};
const randomSparse = (rows: number, cols: number, density: number) =>
  Float32Array.from({ length: rows * cols }, () => (rand() < density ? rand() * 2 - 1 || 0.5 : 0));
const randomDense = (n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1 || 0.5);

interface Row { input: string; density: number; product: string; denseMs: number; indexedMs: number }
const rows: Row[] = [];

function measure(label: string, values: Float32Array, n: number, d: number, h: number): void {
  const dense = dg.tensor(values, [n, d]);
  const indexed = dg.tensor(values, [n, d]);
  const info = native.attachRowSparse(indexed.handle, 1);
  const wOutIn = dg.tensor(randomDense(h * d), [h, d]);
  const wInOut = dg.tensor(randomDense(d * h), [d, h]);
  const g = dg.tensor(randomDense(n * h), [n, h]);
  const products: [string, (x: dg.Tensor) => dg.Tensor][] = [
    ['X·Wᵀ (Linear forward)', (x) => dg.matmul(x, wOutIn, { transB: true })],
    ['X·W (GCN forward)', (x) => dg.matmul(x, wInOut)],
    ['Xᵀ·G (GCN weight gradient)', (x) => dg.matmul(x, g, { transA: true })],
    ['Gᵀ·X (Linear weight gradient)', (x) => dg.matmul(g, x, { transA: true })],
  ];
  for (const [name, f] of products) {
    const t: Record<'dense' | 'indexed', number[]> = { dense: [], indexed: [] };
    for (let r = 0; r < runs + 1; r++) {
      for (const side of ['dense', 'indexed'] as const) {
        const t0 = process.hrtime.bigint();
        const out = f(side === 'dense' ? dense : indexed);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        out.dispose();
        if (r > 0) t[side].push(ms);  // the first round warms up
      }
    }
    rows.push({ input: label, density: info.density, product: name, denseMs: median(t.dense), indexedMs: median(t.indexed) });
  }
  for (const x of [dense, indexed, wOutIn, wInOut, g]) x.dispose();
}

const acm = dg.loadDataset('acm');
const { rows: n, cols: d } = acm.features;
measure('ACM features X', acm.features.data, n, d, 500);
{
  // ÂX as AGCN prepares it (its preset's graph and normalisation)
  const input = agcnSpec.prepare(dg.fromDataset(acm), agcnSpec.presets.acm, { device: 'cpu' });
  try {
    measure("ACM ÂX (AGCN's input)", input.ax.dataF32().slice(), n, d, 500);
  } finally {
    input.dispose();
  }
}
for (const density of densities) measure('random', randomSparse(n, d, density), n, d, 500);

// ---- whole epochs -------------------------------------------------------------------------------------
const models = opt('models', 'agcn,sdcn').split(',');
const datasets = opt('datasets', 'acm,dblp,cite').split(',');
const epochs = Number(opt('epochs', '6'));
const rounds = Number(opt('rounds', '3'));
const dataDir = opt('data-dir', process.env.DGCLUST_DATA ?? path.resolve(__dirname, '..', '..', 'shared', 'data'));
interface EpochRow { model: string; dataset: string; density: number; indexedMs: number; denseMs: number }
const epochRows: EpochRow[] = [];
for (const name of datasets) {
  let data: ClusteringData;
  try {
    data = dg.fromDataset(name === 'acm' ? dg.loadDataset('acm') : dg.loadDataset(name, { dataDir }));
  } catch (e) {
    console.log(`skipped ${name}: ${(e as Error).message.split('\n')[0]}`);
    continue;
  }
  let nonzero = 0;
  for (const v of data.features.data) nonzero += v !== 0 ? 1 : 0;
  for (const model of models) {
    const spec = getModel(model);
    const settings = { ...resolveSettings(spec, name, { aeEpochs: 1, epochs }).settings } as ResolvedOptions;
    const epochMs = (indexed: boolean): number => {
      if (indexed) delete process.env.DGCLUST_SPARSE_INPUTS;
      else process.env.DGCLUST_SPARSE_INPUTS = '0';
      const input = spec.prepare(data, settings, { device: 'cpu' });
      try {
        const r = fit(spec, input, settings, { seed: 0 });
        return median(r.events.filter((e) => e.phase === 'train').slice(1).map((e) => e.trainMs + e.evalMs));
      } finally {
        input.dispose();
        delete process.env.DGCLUST_SPARSE_INPUTS;
      }
    };
    const t = { indexed: [] as number[], dense: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      t.indexed.push(epochMs(true));
      t.dense.push(epochMs(false));
    }
    epochRows.push({ model, dataset: name, density: nonzero / data.features.data.length, indexedMs: median(t.indexed), denseMs: median(t.dense) });
    console.log(`${model} on ${name}: epoch ${fmt(median(t.dense))} ms dense, ${fmt(median(t.indexed))} ms indexed`);
  }
}

const table = markdownTable(['input', 'nonzero', 'product', 'dense ms', 'indexed ms', 'dense ÷ indexed'],
  rows.map((r) => [r.input, `${(100 * r.density).toFixed(1)}%`, r.product, fmt(r.denseMs), fmt(r.indexedMs), (r.denseMs / r.indexedMs).toFixed(2)]));
const m = machine();
console.log(`${m.cpu}, ${threads} thread(s), median of ${runs} alternating runs; ${n} × ${d} input, 500 output columns\n`);
console.log(table);
if (epochRows.length) {
  console.log(`\nTraining epochs (step + evaluation), median of epochs 2..${epochs} per fit, median of ${rounds} alternating rounds:\n`);
  console.log(markdownTable(['model', 'dataset', 'features nonzero', 'dense epoch ms', 'indexed epoch ms', 'dense ÷ indexed'],
    epochRows.map((r) => [r.model, r.dataset, `${(100 * r.density).toFixed(1)}%`, fmt(r.denseMs), fmt(r.indexedMs), (r.denseMs / r.indexedMs).toFixed(2)])));
}
// A run narrowed by --models / --datasets / --densities writes sparse-inputs-only-*.json, never replacing a full run's file.
const narrowed = ['--models', '--datasets', '--densities'].some((a) => process.argv.includes(a));
console.log(`\nwrote ${writeResults(narrowed ? 'sparse-inputs-only' : 'sparse-inputs', { machine: m, threads, runs, rows, epochs, rounds, epochRows })}`);
