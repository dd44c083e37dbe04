// `npx ts-node --transpile-only bench/clustering.ts [--quick]`
//
// The fused clustering kernels at scale, through the addon: time per call (forward and forward+backward) and
// peak RSS growth, each case in a fresh child process (VmHWM of /proc/self/status cannot be reset, so a clean
// process gives an honest peak), plus the machine's GEMM rate measured in the same run for the
// self-correlation target (≥ 50% of the GEMM FLOP rate for its 4·N²·d forward flops).
import { execFileSync } from 'child_process';
import * as dg from '../lib';
import { fmt, machine, markdownTable, statusBytes, time, writeResults } from './harness';
import { randomOutEdges } from './random-graph';

interface CaseResult {
  name: string;
  n: number;
  d: number;
  forwardMs: number;
  trainMs: number;
  rssGrowthMB: number;
  /** Nominal forward flops (self-correlation only; null for the losses, which have no rate target). */
  flops: number | null;
  /** The GEMM rate measured in the same child process just before the case (the machine may be shared). */
  gemmGflops: number;
}

// ---- child: run one case -------------------------------------------------------------------------------
function runCase(name: string, n: number, d: number, threads: number, reps: number): CaseResult {
  dg.setNumThreads(threads);
  const gen = new dg.Generator(11);
  const z = dg.parameter(gen.uniform([n, d], -0.3, 0.3));
  const z2 = dg.parameter(gen.uniform([n, d], -0.3, 0.3));
  let adj: dg.SparseMatrix | null = null;
  if (name !== 'selfCorrelation') {
    const { src, dst } = randomOutEdges(gen, n, 5);
    adj = dg.SparseMatrix.fromEdges(n, src, dst);
  }
  const forward = (): dg.Tensor =>
    name === 'selfCorrelation' ? dg.mean(dg.selfCorrelation(z)) : name === 'gramSigmoidMse' ? dg.gramSigmoidMse(adj!, z, z2) : dg.gramSigmoidBce(adj!, z);
  const before = statusBytes('VmHWM');
  const fwd = time(() => dg.tidy(() => void dg.noGrad(forward)), { warmup: 1, runs: reps, budgetMs: 20000 });
  const train = time(
    () =>
      dg.tidy(() => {
        dg.backward(forward());
        dg.zeroGrad([z, z2]);
      }),
    { warmup: 1, runs: reps, budgetMs: 20000 },
  );
  const growth = (statusBytes('VmHWM') - before) / 1e6;
  // Measured after the case, so its own buffers do not raise the peak the case is judged by.
  const gemmRate = gemmGflops(threads);
  // The nominal forward flops of softmax(ZZᵀ)Z (logits + weighted sum); the reconstruction losses have no target rate.
  const flops = name === 'selfCorrelation' ? 4 * n * n * d : null;
  return { name, n, d, forwardMs: fwd.medianMs, trainMs: train.medianMs, rssGrowthMB: growth, flops, gemmGflops: gemmRate };
}

function gemmGflops(threads: number): number {
  dg.setNumThreads(threads);
  const gen = new dg.Generator(1);
  const a = dg.keep(gen.uniform([2000, 2000]));
  const b = dg.keep(gen.uniform([2000, 2000]));
  const t = time(() => dg.tidy(() => void dg.matmul(a, b)), { warmup: 2, runs: 7 });
  a.dispose();
  b.dispose();
  return (2 * 2000 ** 3) / (t.medianMs / 1e3) / 1e9;
}

const args = process.argv.slice(2);
if (args[0] === '--child') {
  const [, name, n, d, threads, reps] = args;
  process.stdout.write(JSON.stringify(runCase(name, Number(n), Number(d), Number(threads), Number(reps))));
} else {
  const quick = args.includes('--quick');
  const threads = 2;
  const sizes = quick ? [3025, 10000] : [3025, 10000, 50000];
  const results: CaseResult[] = [];
  for (const name of ['selfCorrelation', 'gramSigmoidMse', 'gramSigmoidBce']) {
    for (const n of sizes) {
      const reps = n >= 50000 ? 3 : 7;
      const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', __filename, '--child', name, String(n), '20', String(threads), String(reps)], {
        encoding: 'utf8',
        maxBuffer: 1 << 20,
      });
      const r = JSON.parse(out) as CaseResult;
      results.push(r);
      process.stderr.write(`  ${name} N=${n}: ${fmt(r.forwardMs)} ms forward\n`);
    }
  }
  const m = machine();
  console.log(`\n## Fused clustering kernels — ${m.cpu}, ${m.cores} cores, ${threads} threads\n`);
  console.log(
    markdownTable(
      ['op (d = 20)', 'N', 'forward ms', 'GFLOP/s', '% of GEMM rate (same process)', 'fwd+bwd ms', 'peak RSS growth MB', 'dense N×N would be'],
      results.map((r) => {
        const gf = r.flops === null ? null : r.flops / (r.forwardMs / 1e3) / 1e9;
        const rate = gf === null ? ['', ''] : [fmt(gf), `${((100 * gf) / r.gemmGflops).toFixed(0)}% (GEMM ${fmt(r.gemmGflops)})`];
        return [r.name, r.n, fmt(r.forwardMs), ...rate, fmt(r.trainMs), fmt(r.rssGrowthMB), `${((4 * r.n * r.n) / 1e9).toFixed(2)} GB`];
      }),
    ),
  );
  const file = writeResults('clustering', { machine: m, threads, quick, date: new Date().toISOString(), results });
  console.log(`\nwrote ${file}`);
}
