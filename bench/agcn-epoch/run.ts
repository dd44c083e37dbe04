// `npx ts-node --transpile-only bench/agcn-epoch/run.ts [--epochs 6] [--threads 1] [--datasets acm,usps] [--reps 2]`
//
// One AGCN training epoch (forward, backward, Adam) and its evaluation, timed in dgclust and in a faithful plain-
// PyTorch script of the official step (bench/agcn-epoch/agcn_torch.py, /usr/bin/python3 with Debian's python3-torch,
// python3-sklearn and python3-scipy) on identical inputs, same thread count. Each side runs in its own child process
// (so that each one's peak RSS is its own), and the two alternate `reps` times per dataset so that a change of the
// machine's load affects both; the table gives medians over the repetitions of the per-epoch medians (epochs 2..E).
// The AE is not pretrained (timing only: the work per epoch does not depend on the weights). Needs ../shared/data
// (or DGCLUST_DATA) for USPS; ACM is embedded.
//
// Also each side's CPU time per epoch (process user + system, step and evaluation; epochs 2..E): on a shared
// machine the neighbours move the wall times of the two sides differently from run to run, their CPU times less.
//
// What each side's epoch is:
//   dgclust: one forward pass (Q, P and the prediction taken from it), the loss, backward, Adam; evaluation: the
//            argmax of Z and of Q and their ACC / NMI / ARI / F1, and the trainer's NaN check of the parameters.
//   PyTorch: the official epoch — an extra forward pass (with autograd, as the code runs it) for Q and P, then the
//            training forward, the loss, backward, Adam; evaluation: argmax of Q, Z and P and eva() on each.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as dg from '../../lib';
import { agcnSpec } from '../../lib/models/agcn';
import { fit } from '../../lib/train/trainer';
import { machine, markdownTable, median, optionReader, statusBytes, writeResults } from '../harness';
import { writeEdgeListInputs } from '../torch-side';

const args = process.argv.slice(2);
const opt = optionReader(args);
const epochs = Number(opt('epochs', '6'));
const threads = Number(opt('threads', '1'));
const reps = Number(opt('reps', '2'));
const datasets = opt('datasets', 'acm,usps').split(',');
const dataDir = process.env.DGCLUST_DATA ?? path.resolve(__dirname, '..', '..', '..', 'shared', 'data');

function loadInput(name: string) {
  const data = dg.fromDataset(dg.loadDataset(name, { dataDir, knnK: 3 }));
  const s = { ...agcnSpec.presets[name], epochs, aeEpochs: 0 };
  return { data, s, input: agcnSpec.prepare(data, s, { device: 'cpu' }) };
}

// ---- the dgclust side (child process) ----
if (args[0] === '--child') {
  dg.setNumThreads(threads);
  const { s, input } = loadInput(args[1]);
  // CPU time (user + system) of each training epoch, step and evaluation together: what the process itself spent,
  // which neighbouring jobs on a shared machine disturb less than they disturb the wall time.
  let cpu0 = process.cpuUsage();
  const cpuMs: number[] = [];
  const r = fit(agcnSpec, input, s, {
    seed: 0,
    keepEmbedding: false,
    callbacks: {
      onPhase: (phase) => {
        if (phase === 'train') cpu0 = process.cpuUsage();
      },
      onEpoch: (e) => {
        if (e.phase !== 'train') return;
        const c = process.cpuUsage(cpu0);
        cpuMs.push((c.user + c.system) / 1000);
        cpu0 = process.cpuUsage();
      },
    },
  });
  const main = r.events.filter((e) => e.phase === 'train').slice(1); // the first epoch warms caches up
  input.dispose();
  process.stdout.write(`${JSON.stringify({ stepMs: median(main.map((e) => e.trainMs)), evalMs: median(main.map((e) => e.evalMs)),
    cpuMs: median(cpuMs.slice(1)), peakRssBytes: statusBytes('VmHWM') })}\n`);
  process.exit(0);
}

interface Side { stepMs: number; evalMs: number; cpuMs?: number; peakRssBytes: number }

function runChild(cmd: string, argv: string[], env: NodeJS.ProcessEnv): Side | null {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    process.stderr.write(`${path.basename(argv[argv.length > 1 ? 1 : 0] ?? cmd)} failed (${r.status}): ${(r.stderr ?? '').slice(-600)}\n`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Side;
}

const rows: (string | number)[][] = [];
const results: unknown[] = [];
const env = { ...process.env, OMP_NUM_THREADS: String(threads), DGCLUST_NUM_THREADS: String(threads) };
for (const name of datasets) {
  const { data, s, input } = loadInput(name);
  // The exact inputs, for the PyTorch side: features, the nonzero pattern of Â (symmetrised, self-loops), labels.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `agcn-epoch-${name}-`));
  writeEdgeListInputs(dir, input.x, input.adj!, data.labels!);
  input.dispose();

  const dgRuns: Side[] = [];
  const ptRuns: Side[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const a = runChild(process.execPath, ['-r', 'ts-node/register/transpile-only', __filename, '--child', name, '--epochs', String(epochs), '--threads', String(threads)], env);
    if (a) dgRuns.push(a);
    const b = runChild('/usr/bin/python3', [path.join(__dirname, 'agcn_torch.py'), dir, String(epochs), String(threads), String(s.lambda1), String(s.lambda2), String(s.lr)], env);
    if (b) ptRuns.push(b);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  const agg = (xs: Side[]): Side | null => (xs.length ? {
    stepMs: median(xs.map((x) => x.stepMs)), evalMs: median(xs.map((x) => x.evalMs)),
    cpuMs: xs.every((x) => x.cpuMs !== undefined) ? median(xs.map((x) => x.cpuMs!)) : undefined,
    peakRssBytes: Math.max(...xs.map((x) => x.peakRssBytes)),
  } : null);
  const dgs = agg(dgRuns);
  const pts = agg(ptRuns);
  const f = (x: number | undefined, digits = 1) => (x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits));
  const mb = (x: number | undefined) => (x === undefined ? 'n/a' : (x / 2 ** 20).toFixed(0));
  rows.push([
    name, `${data.features.rows}×${data.features.cols}`, f(dgs?.stepMs), f(pts?.stepMs), dgs && pts ? f(pts.stepMs / dgs.stepMs, 2) : 'n/a',
    f(dgs?.evalMs), f(pts?.evalMs), dgs && pts ? f((pts.stepMs + pts.evalMs) / (dgs.stepMs + dgs.evalMs), 2) : 'n/a',
    f(dgs?.cpuMs), f(pts?.cpuMs), dgs?.cpuMs && pts?.cpuMs ? f(pts.cpuMs / dgs.cpuMs, 2) : 'n/a',
    mb(dgs?.peakRssBytes), mb(pts?.peakRssBytes),
  ]);
  results.push({ dataset: name, n: data.features.rows, d: data.features.cols, epochs, reps, dgclust: dgRuns, torch: ptRuns });
}

const table = markdownTable(['dataset', 'N×d', 'dgclust step ms', 'PyTorch step ms', 'step speed-up', 'dgclust eval ms', 'PyTorch eval ms',
  'epoch + eval speed-up', 'dgclust epoch CPU ms', 'PyTorch epoch CPU ms', 'CPU-time speed-up', 'dgclust peak RSS MiB', 'PyTorch peak RSS MiB'], rows);
console.log(`AGCN epoch, ${threads} thread${threads > 1 ? 's' : ''}, medians of epochs 2..${epochs} over ${reps} alternating runs per side; ${machine().cpu}; load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
console.log(table);
const cores = [...new Set((results as { torch: { openblasCore?: string | null }[] }[]).flatMap((r) => r.torch.map((t) => t.openblasCore ?? 'none')))];
console.log(`\nPyTorch's OpenBLAS kernels: ${cores.join(', ')}${cores.includes('Prescott') ? ' (generic SSE3: OpenBLAS did not recognise this CPU; set OPENBLAS_CORETYPE for a fair comparison)' : ''}`);
console.log(`\nwrote ${writeResults('agcn-epoch', { threads, epochs, reps, loadavg: os.loadavg(), machine: machine(), results })}`);
