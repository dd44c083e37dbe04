// Utilities shared by the benchmarks: warm-up, repeated runs, median and min–max, machine description, command-line
// options, and this process's memory figures from /proc.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface Timing {
  medianMs: number;
  minMs: number;
  maxMs: number;
  runs: number;
}

/** Runs fn `warmup` times untimed, then `runs` times timed (or until `budgetMs` is spent, at least 3 runs). */
export function time(fn: () => void, options: { warmup?: number; runs?: number; budgetMs?: number } = {}): Timing {
  const warmup = options.warmup ?? 2;
  const runs = options.runs ?? 11;
  const budget = options.budgetMs ?? 5000;
  for (let i = 0; i < warmup; i++) fn();
  const samples: number[] = [];
  const start = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (samples.length >= 3 && Number(process.hrtime.bigint() - start) / 1e6 > budget) break;
  }
  return { medianMs: median(samples), minMs: Math.min(...samples), maxMs: Math.max(...samples), runs: samples.length };
}

export function machine(): { name: string; cpu: string; cores: number; memGiB: number; node: string; platform: string } {
  const cpus = os.cpus();
  const cpu = cpus[0]?.model ?? 'unknown cpu';
  return {
    name: `${os.platform()}-${os.arch()}-${cpus.length}core-${cpu.replace(/[^A-Za-z0-9]+/g, '-').replace(/-+$/, '')}`,
    cpu,
    cores: cpus.length,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
}

export function writeResults(kind: string, payload: unknown): string {
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${kind}-${machine().name}-${new Date().toISOString().slice(0, 10)}.json`);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(payload, null, 2));
  fs.renameSync(tmp, file);
  return file;
}

export function markdownTable(header: string[], rows: (string | number)[][]): string {
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}

export const fmt = (x: number, digits = 3): string => (Math.abs(x) >= 100 ? x.toFixed(1) : x.toPrecision(digits));

/** The median of xs (the mean of the two middle values for an even count); xs is left as it is. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** `opt(name, default)`: the word after `--name` in args, or the default. */
export function optionReader(args: string[]): (name: string, dflt: string) => string {
  return (name, dflt) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : dflt;
  };
}

/** A kB field of /proc/self/status (VmRSS, VmHWM = peak RSS) in bytes; NaN where it is missing. */
export function statusBytes(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/**
 * Resets this process's VmHWM to its current RSS (Linux ≥ 4.0), so that a later VmHWM is the peak of what ran
 * in between. False where the kernel does not allow it: the peak then includes everything before.
 */
export function resetHwm(): boolean {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}
