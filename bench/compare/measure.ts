// Timing and peak-memory measurement shared by every implementation's child process.
import * as fs from 'fs';
import { median } from '../harness';

export interface Timing {
  medianMs: number;
  minMs: number;
  maxMs: number;
  runs: number;
  /** True when one call took longer than the cold-call limit: that single (first) call is the sample. */
  cold: boolean;
}

export interface TimingOptions {
  /** Untimed calls before the timed ones (default 1). */
  warmup?: number;
  /** At most this many timed calls (default 7). */
  maxRuns?: number;
  /** Stop timing once this much time is spent (at least minRuns calls). Default 3000 ms. */
  budgetMs?: number;
  minRuns?: number;
  /**
   * A first call slower than this is taken as the only sample (no separate warm-up): JIT and page-fault warm-up
   * are negligible next to a multi-second call, and repeating it would cost minutes. Default 5000 ms.
   */
  coldMs?: number;
}

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Median and min–max of repeated calls after warm-up (adaptive for slow calls, see TimingOptions.coldMs). */
export function timeCalls(fn: () => void, options: TimingOptions = {}): Timing {
  const warmup = options.warmup ?? 1;
  const maxRuns = options.maxRuns ?? 7;
  const budget = options.budgetMs ?? 3000;
  const minRuns = options.minRuns ?? 2;
  const coldMs = options.coldMs ?? 5000;
  let t0 = now();
  fn();
  const first = now() - t0;
  if (first >= coldMs) return { medianMs: first, minMs: first, maxMs: first, runs: 1, cold: true };
  // A slow first call: one warm-up is enough.
  for (let i = 1; i < warmup && first < budget / 4; i++) fn();
  const samples: number[] = [];
  const start = now();
  while (samples.length < maxRuns) {
    t0 = now();
    fn();
    samples.push(now() - t0);
    if (samples.length >= minRuns && now() - start > budget) break;
  }
  return summarize(samples);
}

export function summarize(samples: number[]): Timing {
  return { medianMs: median(samples), minMs: Math.min(...samples), maxMs: Math.max(...samples), runs: samples.length, cold: false };
}

/** VmRSS and VmHWM (peak RSS) of this process, in bytes (NaN where /proc is missing). */
export function rss(): { current: number; peak: number } {
  try {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const get = (key: string): number => {
      const m = new RegExp(`${key}:\\s+(\\d+) kB`).exec(status);
      return m ? Number(m[1]) * 1024 : NaN;
    };
    return { current: get('VmRSS'), peak: get('VmHWM') };
  } catch {
    return { current: process.memoryUsage().rss, peak: NaN };
  }
}

/**
 * Peak memory of one case: VmHWM after the case minus VmRSS before it. begin() resets the process's VmHWM to its
 * current RSS (Linux ≥ 4.0: write "5" to /proc/self/clear_refs), so every case gets its own peak. Where the reset
 * is not allowed, cases of a group run in ascending size in a fresh process, and a case that does not raise the
 * process's peak reports an upper bound (exact = false).
 */
export class PeakTracker {
  private rss0 = 0;
  private hwm0 = 0;
  private reset = false;
  begin(): void {
    try {
      fs.writeFileSync('/proc/self/clear_refs', '5');
      this.reset = true;
    } catch {
      this.reset = false;
    }
    const r = rss();
    this.rss0 = r.current;
    this.hwm0 = r.peak;
  }
  /** Peak growth in MB since begin(). */
  read(): { peakMB: number; exact: boolean } {
    const r = rss();
    return { peakMB: (r.peak - this.rss0) / 1e6, exact: this.reset || r.peak > this.hwm0 };
  }
}

export function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) g();
}

/** Free memory the kernel can hand out now (MemAvailable), bytes. */
export function memAvailable(): number {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    /* not Linux */
  }
  return require('os').freemem();
}
