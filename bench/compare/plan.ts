// The comparison plan: every case (kernel × shape) the comparison bench times, and which implementations run it.
// One source of truth: the plan is written to plan.json in the inputs folder, and the TypeScript children and
// the PyTorch script (bench/torch/bench_torch.py) both read their cases from it.

export type Impl = 'dgclust' | 'tfjs-wasm' | 'tfjs-cpu' | 'torch';
export const IMPLS: readonly Impl[] = ['dgclust', 'tfjs-wasm', 'tfjs-cpu', 'torch'];

/** Cases run in one child process per implementation and group (memory is measured per case within a group). */
export type Group = 'kernels' | 'selfcorr' | 'steps';
export const GROUPS: readonly Group[] = ['kernels', 'selfcorr', 'steps'];

export type Kernel = 'gemm' | 'spmm' | 'selfcorr' | 'cluster' | 'dfcn' | 'sdcn';

export interface Case {
  /** Unique and stable, e.g. 'gemm:3025x1870x500:NT'. */
  id: string;
  group: Group;
  kernel: Kernel;
  /** Human-readable shape, as the table prints it. */
  shape: string;
  params: Record<string, number | string>;
  /** The implementations that run this case in this plan. */
  impls: Impl[];
  /** Implementations that do not run it, and why (printed in the table instead of a time). */
  skipped: Partial<Record<Impl, string>>;
  /** The timed parts this case reports (e.g. 'fwd', 'fwd+bwd'); one table row each. */
  parts: string[];
}

export interface PlanOptions {
  quick: boolean;
  /** Implementations asked for (torch only with --torch). */
  impls: Impl[];
  /** Restrict to these kernels (--only gemm,spmm,...). */
  only?: Kernel[];
}

export const GEMM_SHAPES: [number, number, number][] = [[3025, 1870, 500], [10000, 500, 2000], [10000, 2000, 10]];
export const GEMM_FORMS = ['NN', 'TN', 'NT', 'TT'] as const;

function addCase(
  out: Case[],
  o: PlanOptions,
  c: Omit<Case, 'impls' | 'skipped'>,
  skip: Partial<Record<Impl, string>> = {},
): void {
  if (o.only && !o.only.includes(c.kernel)) return;
  const impls = o.impls.filter((i) => !(i in skip));
  const skipped: Partial<Record<Impl, string>> = {};
  for (const i of o.impls) if (skip[i]) skipped[i] = skip[i];
  out.push({ ...c, impls, skipped });
}

/**
 * The cases. --quick keeps the model shapes but drops the calls tfjs-cpu (pure JavaScript, ~0.8 GFLOP/s) or
 * tfjs-wasm would need many seconds for, so the whole run stays under two minutes on 2 cores.
 */
export function buildPlan(o: PlanOptions): Case[] {
  const q = o.quick;
  const cases: Case[] = [];
  const quickOnly = (why: string) => (q ? why : undefined);
  const skipIf = (entries: [Impl, string | undefined][]): Partial<Record<Impl, string>> => {
    const s: Partial<Record<Impl, string>> = {};
    for (const [i, why] of entries) if (why) s[i] = why;
    return s;
  };

  // ---- GEMM at the model shapes, all four transpose forms ------------------------------------------------
  for (const [m, k, n] of GEMM_SHAPES) {
    const flops = 2 * m * n * k;
    for (const form of GEMM_FORMS) {
      const skip = skipIf([
        ['tfjs-cpu', flops > 1e9 ? quickOnly(`--quick (≈${Math.round(flops / 0.8e9)} s per call)`) : undefined],
        ['tfjs-wasm', m === 10000 && k === 500 ? quickOnly('--quick (≈10 s per transposed call)') : undefined],
        ['dgclust', m === 10000 && k === 500 ? quickOnly('--quick') : undefined],
        ['torch', m === 10000 && k === 500 ? quickOnly('--quick') : undefined],
      ]);
      addCase(cases, o, { id: `gemm:${m}x${k}x${n}:${form}`, group: 'kernels', kernel: 'gemm', shape: `${m}×${k}×${n} ${form}`, params: { m, k, n, form }, parts: ['call'] }, skip);
    }
  }

  // ---- SpMM Â·H: ACM, a USPS kNN graph, a 100k-node random graph -----------------------------------------
  const spmm: [string, number[], number[]][] = [
    // graph, widths (full), widths (quick)
    ['acm', [20, 256, 500], [20, 500]],
    ['usps', [20, 256, 500], [20]],
    ['rand100k', [20, 256], [20]],
  ];
  for (const [graph, dsFull, dsQuick] of spmm) {
    for (const d of q ? dsQuick : dsFull) {
      addCase(cases, o, { id: `spmm:${graph}:d${d}:sparse`, group: 'kernels', kernel: 'spmm', shape: `${graph} d=${d}`, params: { graph, d, variant: 'sparse' }, parts: ['call'] },
        skipIf([['tfjs-cpu', graph === 'rand100k' || d > 20 ? quickOnly('--quick (seconds per call)') : undefined]]));
    }
  }
  // The same products with a dense N×N Â (tfjs and torch; dgclust's row repeats its sparse kernel).
  for (const [graph, dsFull, dsQuick] of spmm) {
    const nNodes = graph === 'acm' ? 3025 : graph === 'usps' ? 9298 : 100000;
    for (const d of q ? dsQuick : dsFull) {
      const denseGB = (nNodes * nNodes * 4) / 1e9;
      const flops = 2 * nNodes * nNodes * d;
      const tooBig = denseGB > 4 ? `dense Â is ${denseGB.toFixed(0)} GB` : undefined;
      addCase(cases, o, { id: `spmm:${graph}:d${d}:dense`, group: 'kernels', kernel: 'spmm', shape: `${graph} d=${d}`, params: { graph, d, variant: 'dense' }, parts: ['call'] },
        skipIf([
          ['tfjs-cpu', tooBig ?? (flops > 2e9 ? (q ? '--quick' : flops > 2e10 ? `≈${Math.round(flops / 0.8e9)} s per call` : undefined) : undefined)],
          ['tfjs-wasm', tooBig],
          ['torch', tooBig],
          ['dgclust', tooBig ? 'no dense row (N×N does not fit)' : undefined],
        ]));
    }
  }

  // ---- self-correlation softmax(Z Zᵀ) Z, d = 20, growing N (one child per implementation, ascending) ------
  const scN = q ? [3025, 10000, 50000] : [3025, 10000, 20000, 30000, 50000, 100000];
  for (const n of scN) {
    addCase(cases, o, { id: `selfcorr:${n}`, group: 'selfcorr', kernel: 'selfcorr', shape: `N=${n} d=20`, params: { n, d: 20 }, parts: ['fwd', 'fwd+bwd'] },
      skipIf([
        ['tfjs-cpu', n > (q ? 3025 : 10000) ? (q ? '--quick' : `≈${Math.round((16 * n * n * 20) / 0.8e9)} s per fwd+bwd`) : undefined],
        ['tfjs-wasm', n > (q ? 3025 : 30000) ? (q ? '--quick' : 'N×N exceeds the 4 GiB wasm heap') : undefined],
        // Larger N for torch: bench_torch.py skips a case whose dense N×N would not fit in memory, and says so.
        ['torch', n > 50000 ? 'dense N×N (40 GB)' : undefined],
      ]));
  }

  // ---- Student-t Q + target P + KL(P‖Q), forward and gradient --------------------------------------------
  const cl: [number, number, number, string][] = [[3025, 3, 20, 'ACM/DFCN'], [9298, 10, 10, 'USPS/SDCN'], [100000, 10, 20, '100k']];
  for (const [n, k, d, tag] of cl) {
    addCase(cases, o, { id: `cluster:${n}x${d}:k${k}`, group: 'kernels', kernel: 'cluster', shape: `N=${n} K=${k} d=${d} (${tag})`, params: { n, k, d }, parts: ['fwd', 'fwd+grad'] },
      skipIf([['tfjs-cpu', n > 10000 ? quickOnly('--quick (≈20 s per fwd+grad)') : undefined]]));
  }

  // ---- training steps ------------------------------------------------------------------------------------
  addCase(cases, o, { id: 'step:dfcn:acm', group: 'steps', kernel: 'dfcn', shape: 'ACM N=3025 n=100 K=3', params: { dataset: 'acm', n: 3025, nInput: 100, k: 3 }, parts: ['step'] },
    skipIf([['tfjs-cpu', quickOnly('--quick (≈20 s per step)')]]));
  addCase(cases, o, { id: 'step:sdcn:usps', group: 'steps', kernel: 'sdcn', shape: 'USPS N=9298 d=256 K=10', params: { dataset: 'usps', n: 9298, nInput: 256, k: 10 }, parts: ['step'] },
    skipIf([
      ['tfjs-cpu', q ? '--quick (≈5 min per step)' : undefined],
      ['tfjs-wasm', quickOnly('--quick (full runs try it: on 2026-11-22 it ran out of the 4 GiB wasm heap)')],
    ]));
  return cases;
}

/** The graphs and model inputs a plan needs (prepared once by the parent). */
export function graphsNeeded(plan: Case[]): string[] {
  const g = new Set<string>();
  for (const c of plan) {
    if (c.kernel === 'spmm') g.add(String(c.params.graph));
    if (c.kernel === 'dfcn') g.add('acm');
    if (c.kernel === 'sdcn') g.add('usps');
  }
  return [...g];
}

export const KERNEL_LABEL: Record<Kernel, string> = {
  gemm: 'GEMM',
  spmm: 'SpMM Â·H',
  selfcorr: 'self-correlation softmax(ZZᵀ)Z',
  cluster: 'Student-t + P + KL',
  dfcn: 'DFCN training step',
  sdcn: 'SDCN training step',
};
