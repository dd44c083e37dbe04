// A measuring child process: runs one implementation's cases of one group, in plan order, and reports each
// timed part on stdout as a line `@@RESULT {json}` (and `@@START <case id>` before each case, so the parent knows
// which case was running if the process dies). Started by bench/compare/run-compare.ts:
//   node --expose-gc -r ts-node/register/transpile-only bench/compare/child.ts \
//        --impl dgclust|tfjs-cpu|tfjs-wasm --group kernels|selfcorr|steps --plan FILE --inputs DIR [--quick] [--threads N] [--cases a,b]
import * as fs from 'fs';
import * as os from 'os';
import type { Case, Impl } from './plan';
import { ArrayStore } from './store';
import { PeakTracker, gc, timeCalls } from './measure';
import type { TimingOptions } from './measure';
import type { CaseRunner } from './impl-dgclust';

export interface Measurement {
  caseId: string;
  impl: Impl;
  part: string;
  status: 'ok' | 'skipped' | 'failed' | 'pending';
  medianMs?: number;
  minMs?: number;
  maxMs?: number;
  runs?: number;
  cold?: boolean;
  /** Peak RSS growth during the case (MB); exact = false: an upper bound (the case did not raise the process's peak). */
  peakMB?: number;
  peakExact?: boolean;
  note?: string;
  info?: Record<string, number | string>;
}

export function timingOptions(quick: boolean): TimingOptions {
  return quick
    ? { warmup: 1, maxRuns: 5, budgetMs: 1200, minRuns: 2, coldMs: 1500 }
    : { warmup: 2, maxRuns: 11, budgetMs: 5000, minRuns: 3, coldMs: 10000 };
}

function emit(tag: string, payload: unknown): void {
  process.stdout.write(`@@${tag} ${typeof payload === 'string' ? payload : JSON.stringify(payload)}\n`);
}

const isOom = (msg: string) => /out of memory|Maximum memory size|Array buffer allocation failed|Invalid typed array length|allocation failed|Cannot enlarge memory|OOM/i.test(msg);
/**
 * A WebAssembly trap (tfjs-wasm past its 4 GiB heap: "memory access out of bounds", or "table index is out of
 * bounds" when an N×N size overflows 32-bit arithmetic). The module is unusable afterwards.
 */
const isWasmTrap = (err: unknown) => (err as Error)?.name === 'RuntimeError' || /out of bounds|unreachable/i.test((err as Error)?.message ?? '');

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const arg = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const impl = arg('--impl') as Impl;
  const group = arg('--group');
  const quick = args.includes('--quick');
  const threads = Number(arg('--threads') ?? 2);
  const only = arg('--cases')?.split(',');
  const plan: Case[] = JSON.parse(fs.readFileSync(arg('--plan')!, 'utf8'));
  const store = new ArrayStore(arg('--inputs')!);
  const cases = plan.filter((c) => c.group === group && c.impls.includes(impl) && (!only || only.includes(c.id)));

  let setup: (c: Case, s: ArrayStore) => CaseRunner;
  let releaseCache = () => undefined as void;
  // dgclust: its allocator's peak of live tensor bytes since the case began (exact; RSS growth alone misses what
  // reuses pages the process already has).
  let nativePeak: { begin(): void; readMB(): number } | null = null;
  if (impl === 'dgclust') {
    const dg = await import('../../lib');
    dg.setNumThreads(threads);
    setup = (await import('./impl-dgclust')).setupDgclust;
    releaseCache = () => dg.releaseCachedMemory();
    let base = 0;
    nativePeak = {
      begin: () => {
        dg.resetPeakMemory();
        base = dg.memory().bytes;
      },
      readMB: () => (dg.memory().peakBytes - base) / 1e6,
    };
    emit('INFO', { impl, threads: dg.numThreads(), backends: dg.backends().filter((b) => b.available).map((b) => b.name) });
  } else if (impl === 'tfjs-cpu' || impl === 'tfjs-wasm') {
    const tfo = await import('./tfjs-ops');
    await tfo.useBackend(impl === 'tfjs-cpu' ? 'cpu' : 'wasm');
    setup = (await import('./impl-tfjs')).setupTfjs;
    emit('INFO', { impl, ...(await tfo.backendInfo()) });
  } else {
    throw new Error(`child: unknown implementation '${impl}' (torch runs in bench/torch/bench_torch.py)`);
  }

  const topts = timingOptions(quick);
  const tracker = new PeakTracker();
  let stopReason: string | null = null;
  for (const c of cases) {
    emit('START', c.id);
    if (stopReason) {
      for (const part of c.parts) emit('RESULT', { caseId: c.id, impl, part, status: 'skipped', note: stopReason } satisfies Measurement);
      continue;
    }
    releaseCache();
    gc();
    tracker.begin();
    nativePeak?.begin();
    let runner: CaseRunner;
    try {
      runner = setup(c, store);
    } catch (err) {
      const msg = (err as Error).message.split('\n')[0];
      for (const part of c.parts) emit('RESULT', { caseId: c.id, impl, part, status: 'failed', note: `setup failed: ${msg}` } satisfies Measurement);
      if (isOom(msg)) stopReason = `not run: ${c.shape} already ran out of memory`;
      continue;
    }
    for (const part of c.parts) {
      if (stopReason) {
        emit('RESULT', { caseId: c.id, impl, part, status: 'skipped', note: stopReason } satisfies Measurement);
        continue;
      }
      if (runner.pending || !runner.parts[part]) {
        emit('RESULT', { caseId: c.id, impl, part, status: 'pending', note: runner.pending ?? 'not implemented' } satisfies Measurement);
        continue;
      }
      try {
        const t = timeCalls(runner.parts[part], topts);
        const mem = tracker.read();
        const peakMB = nativePeak ? Math.max(mem.peakMB, nativePeak.readMB()) : mem.peakMB;
        emit('RESULT', { caseId: c.id, impl, part, status: 'ok', ...t, peakMB, peakExact: mem.exact, info: runner.info } satisfies Measurement);
      } catch (err) {
        const msg = (err as Error).message.split('\n')[0];
        const trap = impl === 'tfjs-wasm' && isWasmTrap(err);
        const oom = trap || isOom(msg);
        const note = trap ? `out of memory: wasm trap "${msg.slice(0, 60)}" (the wasm heap is at most 4 GiB)` : oom ? `out of memory (${msg.slice(0, 120)})` : `error: ${msg.slice(0, 160)}`;
        emit('RESULT', { caseId: c.id, impl, part, status: 'failed', note } satisfies Measurement);
        // A wasm module that trapped, or a heap that failed to grow, stays unusable: later (larger) cases would fail too.
        if (oom) stopReason = `not run: ${c.shape} ran out of memory`;
      }
    }
    try {
      runner.dispose();
    } catch {
      /* a failed case may leave partial state */
    }
  }
  emit('DONE', { loadavg: os.loadavg() });
}

main().catch((err) => {
  process.stderr.write(`child failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
