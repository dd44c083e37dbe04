// `npm run bench:ops [-- --quick] [-- --threads N] [-- --no-openblas] [-- --only REGEX]` (also `npm run bench -- --ops`)
//
// Times every op of the CPU op table through the addon (median of repeated runs after warm-up) at the
// models' shapes, prints a markdown table and writes JSON to bench/results/. GEMM is also compared side by
// side with Debian's OpenBLAS in one process by bench/gemm/run.sh (which installs libopenblas-dev if missing).
// --only REGEX times only the rows whose op name matches (e.g. `--only attentionFusion`), to compare two binaries
// (DGCLUST_NATIVE_PATH) on a few ops.
import { spawnSync } from 'child_process';
import * as path from 'path';
import * as fs from 'fs';
import * as dg from '../lib';
import { fmt, machine, markdownTable, time, writeResults } from './harness';
import { randomOutEdges } from './random-graph';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const threadsArg = args.indexOf('--threads');
const threads = threadsArg >= 0 ? Number(args[threadsArg + 1]) : 2;
dg.setNumThreads(threads);

interface Row {
  op: string;
  shape: string;
  medianMs: number;
  minMs: number;
  maxMs: number;
  runs: number;
  /** GFLOP/s for compute-bound ops, GB/s (bytes read + written) for memory-bound ones. */
  rate: number;
  unit: 'GFLOP/s' | 'GB/s';
}

const onlyArg = args.indexOf('--only');
const only = onlyArg >= 0 ? new RegExp(args[onlyArg + 1]) : null;

const rows: Row[] = [];
const budgetMs = quick ? 400 : 3000;

function bench(op: string, shape: string, work: number, unit: Row['unit'], fn: () => void): void {
  if (only && !only.test(op)) return;
  // The result is disposed at once: left to the garbage collector, each call's output was a fresh allocation (page
  // faults on first touch) and the collector's pauses landed in random runs (an AGCN-S fusion forward measured
  // 66–890 ms before this).
  const t = time(() => dg.dispose(dg.tidy(fn as () => unknown)), { warmup: quick ? 1 : 2, runs: quick ? 5 : 15, budgetMs });
  const rate = work / (t.medianMs / 1e3) / 1e9;
  rows.push({ op, shape, ...t, rate, unit });
  process.stderr.write(`  ${op} ${shape}: ${fmt(t.medianMs)} ms\n`);
}

const gen = new dg.Generator(1);
const keep = <T extends dg.Tensor>(t: T) => dg.keep(t);

// ---- GEMM at the model shapes (M×K×N), every transpose form ------------------------------------------
const gemmShapes: [number, number, number][] = quick
  ? [[3025, 1870, 500]]
  : [[3025, 1870, 500], [10000, 500, 2000], [10000, 2000, 10]];
for (const [m, k, n] of gemmShapes) {
  for (const form of ['NN', 'TN', 'NT'] as const) {
    const transA = form[0] === 'T';
    const transB = form[1] === 'T';
    const a = keep(gen.uniform(transA ? [k, m] : [m, k], -1, 1));
    const b = keep(gen.uniform(transB ? [n, k] : [k, n], -1, 1));
    bench(`matmul ${form}`, `${m}x${k}x${n}`, 2 * m * n * k, 'GFLOP/s', () => dg.matmul(a, b, { transA, transB }));
    a.dispose();
    b.dispose();
  }
}

// ---- SpMM: a random graph with ~10 nonzeros per row, narrow and wide H --------------------------------
{
  const n = quick ? 10000 : 100000;
  const { src, dst } = randomOutEdges(gen, n, 5);
  const adj = dg.SparseMatrix.fromEdges(n, src, dst, { normalization: 'row' });
  for (const d of quick ? [20, 256] : [10, 20, 256, 500]) {
    const h = keep(gen.uniform([n, d], -1, 1));
    const bytes = adj.nnz * 8 + (n + 1) * 4 + adj.nnz * d * 4 + n * d * 4;
    bench('spmm Â·H', `N=${n} nnz=${adj.nnz} d=${d}`, bytes, 'GB/s', () => adj.matmul(h));
    bench('spmm Âᵀ·H', `N=${n} nnz=${adj.nnz} d=${d}`, bytes, 'GB/s', () => adj.matmul(h, true));
    h.dispose();
  }
  adj.dispose();
}

// ---- elementwise, reductions, softmax, losses, optimizer, RNG -----------------------------------------
{
  const n = quick ? 3025 : 10000;
  const d = 500;
  const x = keep(gen.uniform([n, d], -2, 2));
  const y = keep(gen.uniform([n, d], -2, 2));
  const v = keep(gen.uniform([d], -1, 1));
  const shape = `${n}x${d}`;
  const el = n * d;
  bench('add', shape, 12 * el, 'GB/s', () => dg.add(x, y));
  bench('mul', shape, 12 * el, 'GB/s', () => dg.mul(x, y));
  bench('affine', shape, 8 * el, 'GB/s', () => dg.affine(x, 0.5, 1));
  bench('relu', shape, 8 * el, 'GB/s', () => dg.relu(x));
  bench('leakyRelu', shape, 8 * el, 'GB/s', () => dg.leakyRelu(x, 0.2));
  bench('tanh', shape, 8 * el, 'GB/s', () => dg.tanh(x));
  bench('sigmoid', shape, 8 * el, 'GB/s', () => dg.sigmoid(x));
  bench('biasAdd', shape, 8 * el, 'GB/s', () => dg.biasAdd(x, v));
  bench('rowSum', shape, 4 * el, 'GB/s', () => dg.rowSum(x));
  bench('colSum', shape, 4 * el, 'GB/s', () => dg.colSum(x));
  bench('sum', shape, 4 * el, 'GB/s', () => dg.sum(x));
  bench('softmax rows', shape, 8 * el, 'GB/s', () => dg.softmax(x));
  bench('logSoftmax rows', shape, 8 * el, 'GB/s', () => dg.logSoftmax(x));
  bench('argmax rows', shape, 4 * el, 'GB/s', () => dg.argmaxRows(x));
  bench('concatCols', `2x ${shape}`, 16 * el, 'GB/s', () => dg.concatCols([x, y]));
  bench('sliceCols', `${shape}[:, 100:300]`, 8 * n * 200, 'GB/s', () => dg.sliceCols(x, 100, 300));
  const idx = dg.keep(dg.tensor(gen.permutation(n)));
  bench('gatherRows', shape, 8 * el, 'GB/s', () => dg.gatherRows(x, idx));
  bench('mse', shape, 8 * el, 'GB/s', () => dg.mse(x, y));
  bench('bceWithLogits', shape, 8 * el, 'GB/s', () => dg.bceWithLogits(x, y));
  bench('transpose', shape, 8 * el, 'GB/s', () => dg.transpose(x));
  bench('random normal', shape, 4 * el, 'GB/s', () => gen.normal([n, d]));
  // Fused Adam: reads param, grad, m, v and writes param, m, v.
  const p = dg.parameter(gen.uniform([n, d], -1, 1));
  p.grad = dg.keep(gen.uniform([n, d], -1, 1));
  const opt = new dg.Adam([p], { lr: 1e-3 });
  bench('adam step (fused)', shape, 28 * el, 'GB/s', () => opt.step());
  opt.dispose();
  p.dispose();
  // Fused SGD with momentum: reads param, grad, velocity and writes param, velocity.
  const ps = dg.parameter(gen.uniform([n, d], -1, 1));
  ps.grad = dg.keep(gen.uniform([n, d], -1, 1));
  const sgd = new dg.SGD([ps], { lr: 1e-2, momentum: 0.9 });
  bench('sgd step, momentum (fused)', shape, 20 * el, 'GB/s', () => sgd.step());
  sgd.dispose();
  ps.dispose();
  for (const t of [x, y, v, idx]) t.dispose();
}

// ---- AGCN's attention fusion at its USPS shapes (N = 9298): AGCN-H (2 blocks, sum) and AGCN-S (5 blocks, concat) ----
{
  const n = quick ? 3025 : 9298;
  const cases: [string, number[], 'sum' | 'concat'][] = [
    ['AGCN-H', [2000, 2000], 'sum'],
    ['AGCN-S', [500, 500, 2000, 10, 10], 'concat'],
  ];
  for (const [name, widths, mode] of cases) {
    const total = widths.reduce((a, b) => a + b, 0);
    const xs = widths.map((d) => dg.parameter(gen.uniform([n, d], -1, 1)));
    const w = dg.parameter(gen.uniform([widths.length, total], -0.05, 0.05));
    const b = dg.parameter(gen.uniform([widths.length], -0.1, 0.1));
    const outWidth = mode === 'sum' ? widths[0] : total;
    const g = keep(gen.uniform([n, outWidth], -1, 1));
    const shape = `${name} ${n}x[${widths.join(',')}] ${mode}`;
    // Forward: reads every block, writes the output. Backward: reads the blocks twice (row pass, dW pass) and G,
    // writes every block's gradient.
    bench('attentionFusion', shape, 4 * n * (total + outWidth), 'GB/s', () => dg.noGrad(() => dg.attentionFusion(xs, w, b, { mode }).out));
    bench('attentionFusion fwd+bwd', shape, 4 * n * (total + outWidth + 3 * total + outWidth), 'GB/s', () => {
      dg.backward(dg.attentionFusion(xs, w, b, { mode }).out, g);
      dg.zeroGrad([...xs, w, b]);
    });
    for (const t of [...xs, w, b, g]) t.dispose();
  }
}

// ---- one training step of a small AE + GCN model (forward, backward, Adam) -----------------------------
{
  const n = 3025;
  const nIn = 1870;
  const x = keep(gen.uniform([n, nIn], 0, 1));
  const e = 26256;
  const src = new Int32Array(e);
  const dst = new Int32Array(e);
  for (let i = 0; i < e; i++) {
    src[i] = Math.floor(gen.random() * n);
    dst[i] = Math.floor(gen.random() * n);
  }
  const adj = dg.SparseMatrix.fromEdges(n, src, dst);
  const enc1 = new dg.Linear(nIn, 500, { generator: gen });
  const enc2 = new dg.Linear(500, 10, { generator: gen });
  const dec = new dg.Linear(10, nIn, { generator: gen });
  const gcn = new dg.GraphConv(nIn, 10, { activation: dg.relu, generator: gen });
  const params = [...enc1.parameters(), ...enc2.parameters(), ...dec.parameters(), ...gcn.parameters()];
  const opt = new dg.Adam(params, { lr: 1e-3 });
  bench('train step AE+GCN (fwd+bwd+Adam)', `ACM-sized N=${n} in=${nIn}`, 1, 'GFLOP/s', () => {
    const h = enc2.forward(dg.relu(enc1.forward(x)));
    const z = dg.add(h, gcn.forward(x, adj));
    const loss = dg.mse(dec.forward(z), x);
    dg.backward(loss);
    opt.step();
    opt.zeroGrad();
  });
  const last = rows[rows.length - 1];
  if (last?.op.startsWith('train step')) last.rate = NaN;  // no meaningful rate for a whole step
  opt.dispose();
  for (const m of [enc1, enc2, dec, gcn]) m.dispose();
  adj.dispose();
  x.dispose();
}

// ---- report ---------------------------------------------------------------------------------------------
const m = machine();
console.log(`\n## dgclust CPU ops — ${m.cpu}, ${m.cores} cores, ${threads} threads, node ${m.node}${quick ? ' (quick)' : ''}\n`);
console.log(
  markdownTable(
    ['op', 'shape', 'median ms', 'min–max ms', 'runs', 'rate'],
    rows.map((r) => [r.op, r.shape, fmt(r.medianMs), `${fmt(r.minMs)}–${fmt(r.maxMs)}`, r.runs, Number.isNaN(r.rate) ? '' : `${fmt(r.rate)} ${r.unit}`]),
  ),
);

// ---- GEMM side by side with OpenBLAS (same process, interleaved) --------------------------------------
let gemm: unknown = null;
if (!args.includes('--no-openblas')) {
  const script = path.join(__dirname, 'gemm', 'run.sh');
  const r = spawnSync('bash', [script, ...(quick ? ['--quick'] : []), '--threads', String(threads)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(r.stdout ?? '');
  if (r.status !== 0) console.log(`\n(GEMM vs OpenBLAS comparison failed: exit ${r.status}; see the messages above)`);
  const jsonLine = (r.stdout ?? '').split('\n').find((l) => l.startsWith('RESULTS_JSON='));
  if (jsonLine) {
    const file = jsonLine.slice('RESULTS_JSON='.length).trim();
    if (fs.existsSync(file)) gemm = JSON.parse(fs.readFileSync(file, 'utf8'));
  }
}

const out = writeResults(only ? 'ops-only' : quick ? 'ops-quick' : 'ops', { machine: m, threads, quick, only: only?.source ?? null, date: new Date().toISOString(), rows, gemmVsOpenblas: gemm });
console.log(`\nwrote ${path.relative(process.cwd(), out)}`);
