// The seeded mutation fuzzer over every input reader (test/fuzz/: readers.ts is the table, mutate.ts the
// mutations, run.ts the campaign): SDCN text (plain, gzip, a dataset folder), .npy, .npz, ADGC zips, HDF5, state
// files, DFCN checkpoints, .npy checkpoint folders and the user's data files (CSV, .npy, .npz), each mutated by
// truncation at every offset or region, bit flips, hostile size / shape / dtype fields, NaN and Inf, CRLF/LF mixes,
// empty files and hostile text tokens.
// Every outcome must be a value that passes its reader's check or a DGC_DATA error naming a file of the input,
// with no crash, no hang, no runaway allocation and no leaked tensor.
//
// The campaign runs in a child process watched from here, so a crash or a synchronous hang inside a reader is
// reported with the case that caused it instead of taking jest down. The self-tests run deliberately broken
// readers (test/fuzz/broken.ts) and check that each fault is reported: a fuzzer that stopped looking would fail.
//
// Reproduce or widen a run: DGCLUST_FUZZ_SEED=<n> DGCLUST_FUZZ_SCALE=<k> DGCLUST_FUZZ_ONLY=<regex> npx jest test/fuzz
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { repoRoot } from './helpers/data';

interface ReaderSummary {
  name: string;
  cases: number;
  values: number;
  errors: number;
  samples: string[];
  failures: string[];
  ms: number;
}

interface Campaign {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The case that was running when the child stopped making progress (and was killed), or null. */
  stalledAt: string | null;
  /** The case that was running when the child died of a signal, or null. */
  lastCase: string | null;
  readers: ReaderSummary[];
  stderr: string;
  ms: number;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dgc-fuzz-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Starting the child (Node, ts-node, the addon) takes a few seconds; a hang before the first case is caught later. */
const START_LIMIT_MS = 60000;

let runs = 0;
/** Runs one campaign in a child process; kills it when the progress file has not changed for `stallMs`. */
function campaign(env: Record<string, string>, stallMs: number): Promise<Campaign> {
  const k = runs++;
  const summaryFile = path.join(tmp, `summary-${k}.json`);
  const progressFile = path.join(tmp, `progress-${k}.txt`);
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--expose-gc', '-r', 'ts-node/register/transpile-only', path.join('test', 'fuzz', 'run.ts'), summaryFile, progressFile], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const progress = (): string => {
      try {
        return fs.readFileSync(progressFile, 'utf8').trim();
      } catch {
        return '';
      }
    };
    let last = '';
    let since = Date.now();
    let stalledAt: string | null = null;
    const timer = setInterval(() => {
      const now = progress();
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (Date.now() - since > (now ? stallMs : START_LIMIT_MS)) {
        stalledAt = now || '(before the first case)';
        child.kill('SIGKILL');
      }
    }, 100);
    child.on('close', (code, signal) => {
      clearInterval(timer);
      const readers = fs.existsSync(summaryFile) ? (JSON.parse(fs.readFileSync(summaryFile, 'utf8')).readers as ReaderSummary[]) : [];
      resolve({ code, signal, stalledAt, lastCase: signal ? progress() : null, readers, stderr, ms: Date.now() - t0 });
    });
  });
}

describe('reader fuzzer', () => {
  test('every reader: a value or a DGC_DATA error naming the file; no crash, hang, runaway allocation or leak', async () => {
    const r = await campaign({}, 20000);
    if (r.stalledAt) throw new Error(`a reader hung (no progress for 20 s) on: ${r.stalledAt}`);
    if (r.signal) throw new Error(`the fuzz process died of ${r.signal} on: ${r.lastCase}\n${r.stderr.slice(-2000)}`);
    expect({ code: r.code, stderr: r.stderr.slice(-2000) }).toEqual({ code: 0, stderr: '' });
    const failures = r.readers.flatMap((x) => x.failures);
    if (failures.length) throw new Error(`${failures.length} failing cases:\n  ${failures.slice(0, 25).join('\n  ')}`);
    // Every reader of the table ran, and its mutations reached both outcomes (so neither side is vacuous).
    expect(r.readers.length).toBeGreaterThanOrEqual(15);
    for (const x of r.readers) {
      expect({ reader: x.name, ran: x.cases >= 50, someValues: x.values > 0, someErrors: x.errors > 0 }).toEqual({ reader: x.name, ran: true, someValues: true, someErrors: true });
    }
    // eslint-disable-next-line no-console
    console.log(
      `fuzz seed ${process.env.DGCLUST_FUZZ_SEED ?? 12}: ${r.readers.reduce((a, x) => a + x.cases, 0)} cases in ${(r.ms / 1000).toFixed(1)} s\n` +
        r.readers.map((x) => `  ${x.name}: ${x.cases} cases, ${x.values} values, ${x.errors} errors, ${x.ms} ms`).join('\n'),
    );
  }, 180000);

  test('self-test: each fault of a deliberately broken reader is reported', async () => {
    const r = await campaign({ DGCLUST_FUZZ_SELFTEST: '1', DGCLUST_FUZZ_CASE_MS: '200', DGCLUST_FUZZ_ASYNC_MS: '200' }, 20000);
    expect(r.code).toBe(0);
    const want: [string, RegExp][] = [
      ['broken: throws a TypeError', /threw TypeError: .* \(want code DGC_DATA\)/],
      ['broken: error without the file name', /the error does not name the file: bad header/],
      ['broken: error with another code', /threw Error DGC_SHAPE/],
      ['broken: throws a string', /threw a non-Error \(a thrown string/],
      ['broken: believes a declared size', /ArrayBuffers grew by 256 MiB/],
      ['broken: believes a declared size, natively', /native tensors peaked at 128 MiB/],
      ['broken: reads NaN', /read a bad value: element 0 is NaN/],
      ['broken: leaks a tensor on error', /1 native tensors left behind/],
      ['broken: a promise that never settles', /HANG: no result after 200 ms/],
      ['broken: slow', /took \d+ ms \(limit 200\)/],
    ];
    expect(r.readers.map((x) => x.name)).toEqual(want.map(([n]) => n));
    for (const [name, re] of want) {
      const x = r.readers.find((y) => y.name === name)!;
      // The faults fire on the inputs that no longer start with '0' (the empty file at least), never on the seed. (A
      // slow machine may add a 'took … ms' report to a reader that allocates: only the fault's own report is required.)
      expect({ name, reported: x.failures.some((f) => re.test(f)), seedClean: x.failures.every((f) => !f.includes('unchanged')) })
        .toEqual({ name, reported: true, seedClean: true });
    }
  }, 120000);

  test.each([
    ['hangs', 'stalled'],
    ['crashes', 'signal'],
  ])('self-test: a reader that %s is stopped and the case named', async (what, how) => {
    const r = await campaign({ DGCLUST_FUZZ_SELFTEST: 'fatal', DGCLUST_FUZZ_ONLY: what }, 2000);
    const at = how === 'stalled' ? r.stalledAt : r.lastCase;
    expect(r.signal).toBe(how === 'stalled' ? 'SIGKILL' : 'SIGSEGV');
    expect(at).toMatch(new RegExp(`^fatal: ${what} \\| seed 0 x\\.bin: empty$`));
  }, 60000);
});
