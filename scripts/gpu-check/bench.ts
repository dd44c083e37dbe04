// The GPU check's kernel benchmark, dgclust side (stage "bench"; the PyTorch side is torch_bench.py, the report
// puts them side by side). Each case: time per call, rate, and the fraction of the H100's limits it reaches
// (HBM 3.35 TB/s, FP32 67 TFLOP/s without tensor cores):
//   * GEMM C = A·B at m×k×n = 3025×1870×500 (ACM: X·W1), 10000×500×2000, 10000×2000×10 — 2mkn flops, with the
//     provider the process uses (run once with DGCLUST_CUBLAS=0 for dgclust's own kernel, once with cuBLAS loaded
//     at run time);
//   * SpMM Â·H at N = 1,000,000 with ~10M nonzeros (random graph, symmetrized, self loops, sym norm), H of width 20
//     and 256 — bytes moved counted as the CSR arrays once, one H row read per nonzero, the output written once;
//   * self-correlation softmax(ZZᵀ)Z at N = 100,000 and 1,000,000, d = 20 — forward 4N²d flops, backward 10N²d;
//   * the fused Student-t / KL of DFCN (klStudentT with gradients) at N = 1,000,000, d = 20, K = 10 — bytes moved.
// Every result is printed as a line "BENCH {json}" as soon as it is measured (a stage stopped at its time limit
// still reports what it finished), and all of them to --json FILE at the end.
//
//   node dist/scripts/gpu-check/bench.js [--dry-run] [--json FILE] [--only REGEX] [--label NAME]
// --dry-run: tiny sizes on the CPU (the code paths work; the numbers mean nothing).
import * as fs from 'fs';
import * as dg from '../../lib';

export const H100_HBM_BYTES_PER_S = 3.35e12;
export const H100_FP32_FLOPS = 67e12;

export interface BenchResult {
  /** The case, as torch_bench.py names it too (the report pairs them). */
  key: string;
  /** The case and how it ran (e.g. the GEMM provider). */
  id: string;
  label: string;
  device: dg.Device;
  ms: number;
  reps: number;
  /** What the rate counts: flops or bytes per call. */
  work: { flops?: number; bytes?: number };
  rate: string;
  /** Of the H100's FP32 peak (flops) or HBM bandwidth (bytes). */
  fractionOfLimit: number;
  notes?: string;
}

/** Mean time of one call in ms: (a warm-up call unless warmup is false, then) one timed call, then, if that was
 * quick, enough calls for ~minMs (at most maxReps). */
export function timeIt(device: dg.Device, fn: () => void, opts: { minMs?: number; maxReps?: number; warmup?: boolean } = {}): { ms: number; reps: number } {
  const { minMs = 300, maxReps = 30, warmup = true } = opts;
  if (warmup) {
    dg.tidy(fn);
    dg.synchronize(device);
  }
  let t0 = performance.now();
  dg.tidy(fn);
  dg.synchronize(device);
  const once = performance.now() - t0;
  const reps = Math.max(1, Math.min(maxReps, Math.floor(minMs / Math.max(once, 1e-3))));
  if (reps === 1) return { ms: once, reps: 1 };
  t0 = performance.now();
  for (let r = 0; r < reps; r++) dg.tidy(fn);
  dg.synchronize(device);
  return { ms: (performance.now() - t0) / reps, reps };
}

/** Seconds left before the stage's deadline (DGCLUST_GPUCHECK_DEADLINE, epoch ms, set by the check), or Infinity. */
function secondsLeft(): number {
  const d = Number(process.env.DGCLUST_GPUCHECK_DEADLINE);
  return Number.isFinite(d) && d > 0 ? (d - Date.now()) / 1000 : Infinity;
}

function result(key: string, id: string, label: string, device: dg.Device, t: { ms: number; reps: number }, work: BenchResult['work'], notes?: string): BenchResult {
  const perS = 1000 / t.ms;
  const rate = work.flops !== undefined ? `${((work.flops * perS) / 1e12).toFixed(2)} TFLOP/s` : `${(((work.bytes ?? 0) * perS) / 1e9).toFixed(0)} GB/s`;
  const fractionOfLimit = work.flops !== undefined ? (work.flops * perS) / H100_FP32_FLOPS : ((work.bytes ?? 0) * perS) / H100_HBM_BYTES_PER_S;
  return { key, id, label, device, ms: Math.round(t.ms * 1000) / 1000, reps: t.reps, work, rate, fractionOfLimit: Math.round(fractionOfLimit * 10000) / 10000, notes };
}

interface Case {
  id: string;
  run: (device: dg.Device, dry: boolean) => BenchResult[];
}

const gen = new dg.Generator(7);

const cases: Case[] = [
  {
    id: 'gemm',
    run: (device, dry) => {
      const shapes: [number, number, number][] = dry ? [[64, 48, 32]] : [[3025, 1870, 500], [10000, 500, 2000], [10000, 2000, 10]];
      const out: BenchResult[] = [];
      for (const [m, k, n] of shapes) {
        const a = dg.keep(gen.uniform([m, k], -1, 1, device));
        const b = dg.keep(gen.uniform([k, n], -1, 1, device));
        try {
          const t = timeIt(device, () => dg.matmul(a, b));
          const provider = device === 'cuda' ? dg.backends().find((x) => x.name === 'cuda')?.gemm ?? '?' : 'cpu';
          out.push(result(`gemm ${m}x${k}x${n}`, `gemm ${m}x${k}x${n} ${provider}`, `GEMM ${m}×${k}×${n} (${provider})`, device, t, { flops: 2 * m * k * n }));
        } finally {
          a.dispose();
          b.dispose();
        }
      }
      return out;
    },
  },
  {
    id: 'spmm',
    run: (device, dry) => {
      const n = dry ? 2000 : 1_000_000;
      const edges = dry ? 9000 : 4_500_000;
      const src = new Int32Array(edges);
      const dst = new Int32Array(edges);
      const r = new dg.Generator(11);
      const u = dg.tidy(() => r.uniform([2 * edges], 0, 1).dataF32());
      for (let e = 0; e < edges; e++) {
        src[e] = Math.min(n - 1, Math.floor(u[2 * e] * n));
        dst[e] = Math.min(n - 1, Math.floor(u[2 * e + 1] * n));
      }
      const a = dg.SparseMatrix.fromEdges(n, src, dst, { normalization: 'sym', device });
      const out: BenchResult[] = [];
      try {
        for (const d of dry ? [4] : [20, 256]) {
          const h = dg.keep(gen.uniform([n, d], -1, 1, device));
          try {
            const t = timeIt(device, () => a.matmul(h));
            const bytes = (n + 1) * 4 + a.nnz * 8 + a.nnz * d * 4 + n * d * 4;
            out.push(result(`spmm d=${d}`, `spmm N=${n} nnz=${a.nnz} d=${d}`, `SpMM Â·H, N = ${n.toLocaleString('en')}, ${a.nnz.toLocaleString('en')} nonzeros, d = ${d}`, device, t, { bytes },
              'bytes: CSR once + one H row per nonzero + output (an upper bound of the traffic: rows of H reused from L2 are counted again)'));
          } finally {
            h.dispose();
          }
        }
      } finally {
        a.dispose();
      }
      return out;
    },
  },
  {
    id: 'selfcorr',
    run: (device, dry) => {
      const out: BenchResult[] = [];
      const d = 20;
      let msAt1e5 = { fwd: 0, bwd: 0 };
      for (const n of dry ? [300] : [100_000, 1_000_000]) {
        // N = 10^6 costs 100× N = 10^5: skipped, and said so, when it would not finish before the stage's deadline.
        if (n === 1_000_000) {
          const estimate = (100 * (msAt1e5.fwd + msAt1e5.bwd) * 1.2) / 1000;
          if (estimate > secondsLeft() - 10) {
            out.push({ key: `selfcorr fwd N=${n}`, id: `selfcorr N=${n}`, label: `self-correlation, N = ${n.toLocaleString('en')}, d = ${d}`, device, ms: NaN, reps: 0, work: {}, rate: '—', fractionOfLimit: NaN,
              notes: `skipped: about ${estimate.toFixed(0)} s from N = 100,000's times, more than the ${secondsLeft().toFixed(0)} s left` });
            continue;
          }
        }
        const big = n >= 1_000_000;  // one timed call each, no warm-up (the kernels ran at N = 10^5 already)
        const z = dg.keep(gen.uniform([n, d], -0.3, 0.3, device));
        const dout = dg.keep(gen.uniform([n, d], -1, 1, device));
        try {
          // Forward (the native op: its output and the row log-sum-exp the backward needs).
          const tf = timeIt(device, () => {
            const [o, l] = dg.native.selfCorrelation(z.handle);
            o.dispose();
            l.dispose();
          }, { warmup: !big, maxReps: big ? 1 : 30 });
          out.push(result(`selfcorr fwd N=${n}`, `selfcorr fwd N=${n}`, `self-correlation forward, N = ${n.toLocaleString('en')}, d = ${d}`, device, tf, { flops: 4 * n * n * d }));
          const [o, l] = dg.native.selfCorrelation(z.handle);
          try {
            const tb = timeIt(device, () => dg.native.selfCorrelationBackward(z.handle, o, l, dout.handle).dispose(), { warmup: !big, maxReps: big ? 1 : 30 });
            out.push(result(`selfcorr bwd N=${n}`, `selfcorr bwd N=${n}`, `self-correlation backward, N = ${n.toLocaleString('en')}, d = ${d}`, device, tb, { flops: 10 * n * n * d }));
            if (n === 100_000) msAt1e5 = { fwd: tf.ms, bwd: tb.ms };
          } finally {
            o.dispose();
            l.dispose();
          }
        } finally {
          z.dispose();
          dout.dispose();
        }
      }
      return out;
    },
  },
  {
    id: 'studentt-kl',
    run: (device, dry) => {
      const n = dry ? 2000 : 1_000_000;
      const d = 20;
      const k = 10;
      const z = dg.keep(gen.uniform([n, d], -1, 1, device));
      const mu = dg.keep(gen.uniform([k, d], -1, 1, device));
      const p = dg.tidy(() => dg.targetDistribution(dg.studentT(z, mu)));
      const out: BenchResult[] = [];
      try {
        const t = timeIt(device, () => {
          const r = dg.native.klStudentT([z.handle], mu.handle, 1, p.handle, 1 / n, true);
          r.loss.dispose();
          for (const g of r.dzs) g?.dispose();
          r.dmu?.dispose();
        });
        // Reads Z and P, writes dZ (the centres and dμ are tiny); the kernels' n×k double scratch is counted too.
        const bytes = n * d * 4 * 2 + n * k * 4 + n * k * 8 * 2;
        out.push(result('studentt-kl', `studentt-kl N=${n}`, `Student-t + KL(P‖Q) with gradients (klStudentT), N = ${n.toLocaleString('en')}, d = ${d}, K = ${k}`, device, t, { bytes },
          'bytes: Z read, P read, dZ written, and the n×k double scratch written and read once'));
      } finally {
        z.dispose();
        mu.dispose();
        p.dispose();
      }
      return out;
    },
  },
];

function main(argv: string[]): number {
  const dry = argv.includes('--dry-run');
  const jsonAt = argv.indexOf('--json');
  const onlyAt = argv.indexOf('--only');
  const only = onlyAt >= 0 ? new RegExp(argv[onlyAt + 1]) : null;
  const cuda = dg.backends().find((b) => b.name === 'cuda');
  const device: dg.Device = cuda?.available ? 'cuda' : 'cpu';
  if (device === 'cpu' && !dry) {
    console.error(`bench: no CUDA device (${cuda?.reason}); run with --dry-run for the CPU code paths`);
    return 1;
  }
  const results: BenchResult[] = [];
  const errors: { id: string; message: string }[] = [];
  for (const c of cases) {
    if (only && !only.test(c.id)) continue;
    try {
      for (const r of c.run(device, dry)) {
        results.push(r);
        console.log(`BENCH ${JSON.stringify(r)}`);
      }
    } catch (e) {
      errors.push({ id: c.id, message: (e as Error).message });
      console.log(`BENCH-ERROR ${JSON.stringify({ id: c.id, message: (e as Error).message })}`);
    }
  }
  const report = { device: cuda?.available ? cuda.device : 'cpu (dry run)', gemm: cuda?.gemm ?? null, dryRun: dry, results, errors };
  if (jsonAt >= 0) fs.writeFileSync(argv[jsonAt + 1], JSON.stringify(report, null, 1));
  return errors.length ? 1 : 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
