// The reader fuzzer's campaign, run in a child process by test/fuzz.test.ts (so that a crash, a hang or a runaway
// allocation in a reader is seen from outside and named, instead of taking the test runner down with it):
//   node --expose-gc -r ts-node/register/transpile-only test/fuzz/run.ts <summary.json> <progress file>
// Environment: DGCLUST_FUZZ_SEED (default 12), DGCLUST_FUZZ_SCALE (multiplies the random mutations; default 1),
// DGCLUST_FUZZ_ONLY (a regular expression: the readers to run, by name), DGCLUST_FUZZ_SELFTEST (1: the broken
// readers of broken.ts instead of the real ones; 'fatal': those that hang or crash the process).
//
// For every reader of the table (readers.ts), every seed input and every file of it: the empty file, truncation at
// every offset (small files) or at every region, the reader's structural mutations (hostile size, shape and dtype
// fields), and random byte (and, for text files, token and line-ending) mutations. Each case's files are written
// to a folder and read; the outcome must be
//   - a value that passes the reader's check (finite floats, lengths that agree with shapes), or
//   - an Error with code DGC_DATA whose message names a file of the input,
// and the case must take under CASE_LIMIT_MS, leave no native tensor behind, and allocate no more than
// ALLOC_LIMIT bytes of ArrayBuffers or of native tensors at their peak (inputs are a few KB: anything bigger is a
// declared-but-absent size believed).
// Before each case its label is written to the progress file, so the parent names the case that hung or crashed.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import * as dg from '../../lib';
import { Rng } from '../helpers/reference';
import { byteMutation, textMutation, truncationPoints } from './mutate';
import { readers } from './readers';
import { brokenReaders, fatalReaders } from './broken';
import type { Files, FuzzReader, ReadContext } from './readers';

// The self-test lowers the time limits (DGCLUST_FUZZ_CASE_MS, DGCLUST_FUZZ_ASYNC_MS) so its slow cases stay quick.
const CASE_LIMIT_MS = Number(process.env.DGCLUST_FUZZ_CASE_MS ?? 2000);
const ASYNC_LIMIT_MS = Number(process.env.DGCLUST_FUZZ_ASYNC_MS ?? 5000);
const ALLOC_LIMIT = 64 << 20;
const selfTest = process.env.DGCLUST_FUZZ_SELFTEST;
const table = selfTest === 'fatal' ? fatalReaders : selfTest ? brokenReaders : readers;

interface ReaderSummary {
  name: string;
  cases: number;
  values: number;
  errors: number;
  /** Error messages seen, a few, to show what the reader says. */
  samples: string[];
  failures: string[];
  ms: number;
}

interface Case {
  label: string;
  files: Files;
}

const fuzzSeed = Number(process.env.DGCLUST_FUZZ_SEED ?? 12);
const scale = Number(process.env.DGCLUST_FUZZ_SCALE ?? 1);
const only = process.env.DGCLUST_FUZZ_ONLY;

function isText(reader: FuzzReader, name: string): boolean {
  return (reader.textFiles ?? []).includes(name);
}

/** Every case of a reader, in a fixed order from the fuzz seed. */
function* cases(reader: FuzzReader, readerIndex: number): Generator<Case> {
  const rng = new Rng(fuzzSeed * 1009 + readerIndex);
  const seeds = reader.seeds();
  for (let s = 0; s < seeds.length; s++) {
    const seed = seeds[s];
    const with1 = (name: string, bytes: Buffer): Files => ({ ...seed, [name]: bytes });
    yield { label: `seed ${s} unchanged`, files: seed };
    for (const name of Object.keys(seed)) {
      const buf = seed[name];
      yield { label: `seed ${s} ${name}: empty`, files: with1(name, Buffer.alloc(0)) };
      for (const k of truncationPoints(buf.length)) yield { label: `seed ${s} ${name}: truncate@${k}`, files: with1(name, buf.subarray(0, k)) };
      const random = Math.round(reader.randomPerFile * scale);
      for (let k = 0; k < random; k++) {
        if (isText(reader, name) && rng.next() < 0.6) {
          const gz = name.endsWith('.gz');
          const text = (gz ? zlib.gunzipSync(buf) : buf).toString('utf8');
          const m = textMutation(text, rng);
          const bytes = Buffer.from(m.text, 'utf8');
          yield { label: `seed ${s} ${name}: ${m.name}`, files: with1(name, gz ? zlib.gzipSync(bytes) : bytes) };
        } else {
          const m = byteMutation(buf, rng);
          yield { label: `seed ${s} ${name}: ${m.name}`, files: with1(name, m.bytes) };
        }
      }
    }
    for (const m of reader.structural?.(seed, rng) ?? []) yield { label: `seed ${s} ${m.file}: ${m.name}`, files: with1(m.file, m.bytes) };
  }
}

function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.name}${(e as { code?: unknown }).code !== undefined ? ` ${String((e as { code?: unknown }).code)}` : ''}: ${e.message}`;
  return `a thrown ${typeof e}: ${String(e)}`;
}

/** null when `e` is what a reader may throw for a bad file: a DGC_DATA Error naming one of `paths`. */
function badError(e: unknown, paths: string[]): string | null {
  if (!(e instanceof Error)) return `threw a non-Error (${describeError(e)})`;
  const code = (e as { code?: unknown }).code;
  if (code !== 'DGC_DATA') return `threw ${describeError(e)} (want code DGC_DATA)`;
  if (!paths.some((p) => e.message.includes(p))) return `the error does not name the file: ${e.message}`;
  return null;
}

function clip(s: string, n = 400): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}

async function runReader(reader: FuzzReader, index: number, progressFd: number, out: ReaderSummary): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgc-fuzz-'));
  const t0 = Date.now();
  try {
    for (const c of cases(reader, index)) {
      const label = `${reader.name} | ${c.label}`;
      fs.writeSync(progressFd, `${label}\n`, 0);
      fs.ftruncateSync(progressFd, Buffer.byteLength(`${label}\n`));
      // Fresh files: those of the previous case are removed (a checkpoint folder must not see stale members).
      for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f), { recursive: true, force: true });
      for (const [name, bytes] of Object.entries(c.files)) fs.writeFileSync(path.join(dir, name), bytes);
      const paths = Object.keys(c.files).map((n) => path.join(dir, n));
      out.cases++;
      const fail = (why: string): void => {
        out.failures.push(clip(`${label}: ${why}`));
      };
      const classify = (value: unknown, threw: boolean): void => {
        if (threw) {
          const bad = badError(value, paths);
          if (bad) fail(bad);
          else {
            out.errors++;
            if (out.samples.length < 6 && !out.samples.includes((value as Error).message)) out.samples.push(clip((value as Error).message, 200));
          }
          return;
        }
        const problem = reader.check?.(value) ?? null;
        if (problem) fail(`read a bad value: ${problem}`);
        else out.values++;
      };
      const ctx: ReadContext = {
        dir,
        sub: (_label, fn) => {
          try {
            const v = fn();
            classify(v, false);
            return v;
          } catch (e) {
            classify(e, true);
            return undefined;
          }
        },
      };
      const tensorsBefore = dg.memory().tensors;
      // Garbage of earlier cases is collected first (when there is much of it: run with --expose-gc), so that a
      // collection during this case cannot hide an allocation of this case.
      if (process.memoryUsage().arrayBuffers > ALLOC_LIMIT / 4) (globalThis as { gc?: () => void }).gc?.();
      const abBefore = process.memoryUsage().arrayBuffers;
      dg.resetPeakMemory();
      const nativeBefore = dg.memory().bytes;
      const start = Date.now();
      let value: unknown;
      let threw = false;
      try {
        value = reader.read(ctx);
        if (value instanceof Promise) {
          let timer: NodeJS.Timeout | undefined;
          value = await Promise.race([
            value,
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error(`HANG: no result after ${ASYNC_LIMIT_MS} ms`)), ASYNC_LIMIT_MS);
            }),
          ]).finally(() => clearTimeout(timer));
        }
      } catch (e) {
        value = e;
        threw = true;
      }
      const ms = Date.now() - start;
      const grown = process.memoryUsage().arrayBuffers - abBefore;
      const nativePeak = dg.memory().peakBytes - nativeBefore;
      const hung = threw && value instanceof Error && value.message.startsWith('HANG:');
      if (hung) fail((value as Error).message);
      else if (reader.subOutcomes && !threw) out.values++; // its sub-reads were classified one by one
      else classify(value, threw);
      if (!threw) reader.free?.(value);
      if (ms > CASE_LIMIT_MS && !hung) fail(`took ${ms} ms (limit ${CASE_LIMIT_MS})`);
      const inputBytes = Math.max(...Object.values(c.files).map((b) => b.length));
      if (grown > ALLOC_LIMIT) fail(`ArrayBuffers grew by ${(grown / 2 ** 20).toFixed(0)} MiB reading a ${inputBytes}-byte input`);
      if (nativePeak > ALLOC_LIMIT) fail(`native tensors peaked at ${(nativePeak / 2 ** 20).toFixed(0)} MiB reading a ${inputBytes}-byte input`);
      const leaked = dg.memory().tensors - tensorsBefore;
      if (leaked !== 0) fail(`${leaked} native tensors left behind`);
      if (out.failures.length > 50) break;
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    out.ms = Date.now() - t0;
  }
}

async function main(): Promise<void> {
  const [summaryFile, progressFile] = process.argv.slice(2);
  const progressFd = fs.openSync(progressFile, 'w');
  const summaries: ReaderSummary[] = [];
  for (let i = 0; i < table.length; i++) {
    const r = table[i];
    if (only && !new RegExp(only).test(r.name)) continue;
    const s: ReaderSummary = { name: r.name, cases: 0, values: 0, errors: 0, samples: [], failures: [], ms: 0 };
    summaries.push(s);
    await runReader(r, i, progressFd, s);
  }
  fs.closeSync(progressFd);
  fs.writeFileSync(summaryFile, JSON.stringify({ seed: fuzzSeed, scale, readers: summaries }, null, 1));
}

main().catch((e) => {
  process.stderr.write(`fuzz runner failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(2);
});
