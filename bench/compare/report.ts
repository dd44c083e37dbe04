// Turns the measurements into the report: one markdown table per kernel family (times, speedups of dgclust over
// each other implementation, peak memory where it matters, the targets), plus a summary of the targets.
import type { Measurement } from './child';
import type { Case, Impl, Kernel } from './plan';
import { IMPLS, KERNEL_LABEL } from './plan';

/** Targets of issue 7: dgclust must be at least this many times faster. */
export interface Target {
  vs: Impl;
  factor: number;
}

export function targetsFor(kernel: Kernel): Target[] {
  switch (kernel) {
    case 'gemm':
      return [{ vs: 'tfjs-wasm', factor: 3 }, { vs: 'tfjs-cpu', factor: 50 }];
    case 'spmm':
    case 'selfcorr':
    case 'cluster':
      return [{ vs: 'tfjs-wasm', factor: 5 }, { vs: 'tfjs-cpu', factor: 50 }];
    case 'dfcn':
      return [{ vs: 'tfjs-wasm', factor: 3 }, { vs: 'tfjs-cpu', factor: 50 }, { vs: 'torch', factor: 1 }];
    case 'sdcn':
      return [{ vs: 'tfjs-cpu', factor: 50 }];
  }
}

export interface Verdict {
  caseId: string;
  part: string;
  label: string;
  target: Target;
  /** other / dgclust; null when either side was not measured. */
  speedup: number | null;
  met: boolean | null;
  why?: string;
}

export type Results = Map<string, Partial<Record<Impl, Measurement>>>;

export const rowKey = (caseId: string, part: string) => `${caseId}|${part}`;

export function collect(ms: Measurement[]): Results {
  const r: Results = new Map();
  for (const m of ms) {
    const k = rowKey(m.caseId, m.part);
    const row = r.get(k) ?? {};
    row[m.impl] = m;
    r.set(k, row);
  }
  return r;
}

/** other / dgclust for one row, or null. */
export function speedup(row: Partial<Record<Impl, Measurement>>, vs: Impl): number | null {
  const d = row.dgclust;
  const o = row[vs];
  if (!d || !o || d.status !== 'ok' || o.status !== 'ok' || !d.medianMs || !o.medianMs) return null;
  return o.medianMs / d.medianMs;
}

export function verdicts(plan: Case[], results: Results, impls: readonly Impl[] = IMPLS): Verdict[] {
  const out: Verdict[] = [];
  for (const c of plan) {
    for (const part of c.parts) {
      const row = results.get(rowKey(c.id, part)) ?? {};
      for (const t of targetsFor(c.kernel).filter((x) => impls.includes(x.vs))) {
        const s = speedup(row, t.vs);
        const label = `${KERNEL_LABEL[c.kernel]} ${c.shape}${c.kernel === 'spmm' ? ` (${c.params.variant})` : ''}${part === 'call' || part === 'step' ? '' : ` ${part}`}`;
        const other = row[t.vs];
        const why = s !== null ? undefined : row.dgclust?.status !== 'ok' ? `dgclust ${row.dgclust?.status ?? 'not run'}${row.dgclust?.note ? `: ${row.dgclust.note}` : ''}`
          : other ? `${t.vs} ${other.status}${other.note ? `: ${other.note}` : ''}` : c.skipped[t.vs] ? `${t.vs} skipped: ${c.skipped[t.vs]}` : `${t.vs} not run`;
        out.push({ caseId: c.id, part, label, target: t, speedup: s, met: s === null ? null : s >= t.factor, why });
      }
    }
  }
  return out;
}

export const fmtMs = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toPrecision(2));
const fmtX = (x: number): string => (x >= 100 ? `×${x.toFixed(0)}` : x >= 10 ? `×${x.toFixed(1)}` : `×${x.toFixed(2)}`);
const fmtMB = (m: Measurement | undefined): string => {
  if (!m || m.status !== 'ok' || m.peakMB === undefined || !Number.isFinite(m.peakMB)) return '';
  const mb = Math.max(0, m.peakMB); // RSS can shrink during a case (freed cache pages): no growth
  return `${m.peakExact === false ? '≤' : ''}${mb >= 100 ? mb.toFixed(0) : mb.toFixed(1)}`;
};

function timeCell(m: Measurement | undefined, skipped: string | undefined): string {
  if (!m) return skipped ? `— (${skipped})` : '—';
  if (m.status === 'ok') return m.cold ? `${fmtMs(m.medianMs!)} (1 call)` : `${fmtMs(m.medianMs!)} (${fmtMs(m.minMs!)}–${fmtMs(m.maxMs!)})`;
  if (m.status === 'pending') return m.note ?? 'pending';
  if (m.status === 'skipped') return `— (${m.note ?? 'skipped'})`;
  return `✗ ${m.note ?? 'failed'}`;
}

function escape(s: string): string {
  return s.replace(/\|/g, '\\|');
}

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(escape).join(' | ')} |`)].join('\n');
}

export interface ReportContext {
  impls: Impl[];
  /** Column titles per implementation (e.g. 'torch (cpu, 2 thr)'). */
  titles: Record<Impl, string>;
}

const FAMILIES: { kernels: Kernel[]; title: string; memory: boolean; note?: string }[] = [
  { kernels: ['gemm'], title: 'GEMM C = op(A)·op(B), M×K×N', memory: false },
  { kernels: ['spmm'], title: 'SpMM Â·H (row-normalized adjacency)', memory: false },
  { kernels: ['selfcorr'], title: 'Self-correlation softmax(Z Zᵀ) Z, d = 20', memory: true },
  { kernels: ['cluster'], title: 'Student-t Q + target P + KL(P‖Q), forward and gradient (dZ, dμ)', memory: false },
  { kernels: ['dfcn', 'sdcn'], title: 'Training steps (forward, backward, Adam)', memory: true },
];

/** The markdown tables, one per kernel family. */
export function markdownTables(plan: Case[], results: Results, ctx: ReportContext): string {
  const impls = IMPLS.filter((i) => ctx.impls.includes(i));
  const others = impls.filter((i) => i !== 'dgclust');
  const out: string[] = [];
  for (const fam of FAMILIES) {
    const cases = plan.filter((c) => fam.kernels.includes(c.kernel));
    if (!cases.length) continue;
    const header = [
      'case',
      ...impls.map((i) => `${ctx.titles[i]} ms`),
      ...others.map((i) => `${ctx.titles[i]} / dgclust`),
      ...(fam.memory ? [`peak MB (${impls.map((i) => ctx.titles[i].split(' ')[0]).join(' / ')})`] : []),
      ...(fam.kernels.includes('dfcn') ? ['loss at start'] : []),
      'targets',
    ];
    const rows: string[][] = [];
    for (const c of cases) {
      for (const part of c.parts) {
        const row = results.get(rowKey(c.id, part)) ?? {};
        let label = c.kernel === 'gemm' ? c.shape : c.kernel === 'spmm' ? `${c.shape} (${c.params.variant === 'dense' ? 'tfjs/torch: dense Â' : 'tfjs: gather+segment sum; torch: sparse.mm'})` : c.shape;
        if (fam.kernels.includes('dfcn')) label = `${KERNEL_LABEL[c.kernel]}, ${c.shape}`;
        if (part !== 'call' && part !== 'step') label += ` — ${part}`;
        const cells = [label, ...impls.map((i) => timeCell(row[i], c.skipped[i]))];
        for (const o of others) {
          const s = speedup(row, o);
          cells.push(s === null ? '' : fmtX(s));
        }
        if (fam.memory) cells.push(impls.map((i) => fmtMB(row[i]) || '–').join(' / '));
        if (fam.kernels.includes('dfcn')) {
          cells.push(impls.map((i) => (row[i]?.info?.loss !== undefined ? Number(row[i]!.info!.loss).toPrecision(6) : '–')).join(' / '));
        }
        const checks = targetsFor(c.kernel).filter((t) => impls.includes(t.vs)).map((t) => {
          const s = speedup(row, t.vs);
          const name = t.vs === 'torch' ? 'torch' : t.vs.replace('tfjs-', '');
          if (s === null) return `${name} ≥${t.factor}: n/a`;
          return `${name} ≥${t.factor}: ${s >= t.factor ? 'met' : `**missed** (${fmtX(s)})`}`;
        });
        cells.push(checks.join('; '));
        rows.push(cells);
      }
    }
    out.push(`#### ${fam.title}\n\n${table(header, rows)}`);
  }
  return out.join('\n\n');
}

/** The targets in words: counts, and every missed or unmeasured one with its factor or reason. */
export function targetSummary(vs: Verdict[]): string {
  const met = vs.filter((v) => v.met === true);
  const missed = vs.filter((v) => v.met === false);
  const none = vs.filter((v) => v.met === null);
  const lines = [`Targets: ${met.length} met, ${missed.length} missed, ${none.length} not measured in this run.`];
  const name = (t: Target) => (t.vs === 'torch' ? 'PyTorch' : t.vs);
  for (const v of missed) lines.push(`- **missed**: ${v.label} — dgclust is ${fmtX(v.speedup!)} vs ${name(v.target)} (target ≥ ×${v.target.factor})`);
  const byReason = new Map<string, string[]>();
  for (const v of none) {
    const key = `vs ${name(v.target)} — ${v.why ?? 'not measured'}`;
    byReason.set(key, [...(byReason.get(key) ?? []), v.label]);
  }
  for (const [why, labels] of byReason) lines.push(`- not measured (${why}): ${labels.length <= 4 ? labels.join('; ') : `${labels.slice(0, 3).join('; ')}; … (${labels.length} rows)`}`);
  return lines.join('\n');
}
