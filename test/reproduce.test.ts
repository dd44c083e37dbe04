// `dgclust reproduce`: the real command on a tiny configuration (DFCN from its shipped ACM weights, 2 epochs),
// resuming, and the tables generator's grouping and merging rules on hand-made result files.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawn } from 'child_process';
import { readRunFile, readRunText, runFileContent, runJsonText } from '../lib/report/run-file';
import { describeVariant, duration, entriesOf, groupRuns, loadResults, paperVariantOf, renderModelSection, renderOverview, seedRanges, spliceSection } from '../lib/report/results-md';
import { sdcnSpec } from '../lib/models/sdcn';
import { cdcSpec } from '../lib/models/cdc';
import { dccfSpec } from '../lib/models/dccf';
import * as dg from '../lib';
import { runCli as run } from './helpers/cli';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgc-reproduce-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const pct = (x: number) => (100 * x).toFixed(2);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('reproduce dfcn on the embedded ACM (shipped weights, 2 epochs per run)', () => {
  const out = path.join(dir, 'runs');
  const md = path.join(dir, 'RESULTS.md');
  const args = (seeds: number) => ['reproduce', 'dfcn', '--datasets', 'acm', '--seeds', String(seeds), '--epochs', '2', '--threads', '1',
    '--out', out, '--results', out, '--results-md', md];
  const files = () => fs.readdirSync(out).filter((f) => f.endsWith('.json.gz')).sort();

  test('runs each seed once, writes one RUN.json per run, regenerates only its section; a second call recomputes nothing', async () => {
    fs.writeFileSync(md, [
      '# Results', '', 'Hand-written introduction.', '', '## DFCN', '', 'Prose before the table.', '',
      '<!-- results:dfcn:begin -->', 'a stale table', '<!-- results:dfcn:end -->', '', 'Prose after the table.', '',
      '## SDCN', '', '<!-- results:sdcn:begin -->', 'the SDCN section stays as it is', '<!-- results:sdcn:end -->', '',
    ].join('\n'));
    const before = dg.memory().tensors;
    const first = await run(args(2));
    expect(first.err).toMatch(/2 runs \(seeds 0–1 per dataset\): 0 already done, 2 to run/);
    expect(first.code).toBe(0);
    expect(first.err).toMatch(/run 2\/2 done: acm seed 1 \(official weights, epochs=2\)/);
    expect(dg.memory().tensors).toBe(before);
    expect(files()).toEqual(['dfcn-acm-official-weights-epochs-2-s0.json.gz', 'dfcn-acm-official-weights-epochs-2-s1.json.gz']);
    const reps = files().map((f) => readRunFile(path.join(out, f)));
    reps.forEach((rep, seed) => {
      expect(rep.model).toBe('dfcn');
      expect(rep.runs.map((r) => r.seed)).toEqual([seed]);
      expect(rep.settings).toMatchObject({ dataset: 'acm', epochs: 2, preset: 'acm' });
      expect(String(rep.settings.start)).toMatch(/^official pretrained weights/);
      const r = rep.runs[0] as (typeof rep.runs)[number] & { paperProtocol: { rule: string; metrics: unknown } };
      expect(r.epochs.filter((e) => e.phase === 'train')).toHaveLength(2);
      expect(r.paperProtocol).toEqual({ rule: 'best-acc-epoch', metrics: r.best!.metrics });
      expect(rep.truth).toHaveLength(3025);
    });
    // gzip-compressed (the magic bytes 1f 8b), and inside it the compact layout: each epoch on a line of its own, the
    // labels on one line.
    expect([...fs.readFileSync(path.join(out, files()[0])).subarray(0, 2)]).toEqual([0x1f, 0x8b]);
    const lines = readRunText(path.join(out, files()[0])).split('\n');
    expect(lines.filter((l) => /^ {4}\{"phase":"train","epoch":\d+,/.test(l))).toHaveLength(2);
    expect(lines.filter((l) => l.startsWith(' "truth": ['))).toHaveLength(1);
    const doc = fs.readFileSync(md, 'utf8');
    for (const kept of ['Hand-written introduction.', 'Prose before the table.', 'Prose after the table.', 'the SDCN section stays as it is']) {
      expect(doc).toContain(kept);
    }
    expect(doc).not.toContain('a stale table');
    expect(doc.match(/<!-- results:dfcn:begin -->/g)).toHaveLength(1);
    const acc = mean(reps.map((r) => (r.runs[0] as unknown as { paperProtocol: { metrics: { acc: number } } }).paperProtocol.metrics.acc));
    const finalAcc = mean(reps.map((r) => r.runs[0].final.metrics!.acc));
    expect(doc).toContain('| acm | paper | | as the paper reports it | 90.9 ± 0.2 | 69.4 ± 0.4 | 74.9 ± 0.4 | 90.8 ± 0.2 | |');
    const protocolRow = doc.split('\n').find((l) => l.includes('| official weights, epochs=2 | 2 (0–1) |'));
    expect(protocolRow).toBeDefined();
    expect(protocolRow).toContain("paper's protocol: best epoch by ACC");
    expect(protocolRow).toContain(`| ${pct(acc)} ± `);
    expect(protocolRow!.endsWith(`| ${(100 * acc - 90.9).toFixed(2)} |`)).toBe(true);
    expect(doc).toMatch(new RegExp(`\\| final epoch \\(label-free\\) \\| ${pct(finalAcc)} ± \\d+\\.\\d\\d \\|`));
    expect(doc).toMatch(/\| initial: k-means on the starting embedding \| 88\.\d\d ± /);
    // The time of each run's two epochs (the shipped weights: no pretraining), the median run and both together.
    expect(doc).toMatch(/\| acm \| official weights, epochs=2 \| 2 \| \d+ \| \d+ \| \d+ s \| \d+ s \| 1 \| M1 \|/);

    // Again: everything is found, nothing runs, the files and the section stay byte for byte.
    const stamps = files().map((f) => fs.statSync(path.join(out, f)).mtimeMs);
    const second = await run(args(2));
    expect(second.code).toBe(0);
    expect(second.err).toMatch(/2 runs \(seeds 0–1 per dataset\): 2 already done, 0 to run/);
    expect(second.err).not.toMatch(/run 1\/\d/);
    expect(files().map((f) => fs.statSync(path.join(out, f)).mtimeMs)).toEqual(stamps);
    expect(fs.readFileSync(md, 'utf8')).toBe(doc);
  });

  test('more seeds later: only the new seed runs and the row grows', async () => {
    const r = await run(args(3));
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/3 runs \(seeds 0–2 per dataset\): 2 already done, 1 to run/);
    expect(r.err).toMatch(/run 1\/1: acm seed 2/);
    expect(files()).toHaveLength(3);
    expect(fs.readFileSync(md, 'utf8')).toContain('| official weights, epochs=2 | 3 (0–2) |');
  });

  // --jobs starts its children with the compiled CLI (dist/, built by `npm ci`'s prepare step).
  const cliJs = path.join(__dirname, '..', 'dist', 'lib', 'cli', 'main.js');
  const withCli = fs.existsSync(cliJs) ? test : test.skip;
  if (!fs.existsSync(cliJs)) console.warn(`SKIPPED: reproduce --jobs tests: ${cliJs} is missing (npm run build)`);

  withCli('--jobs 2: each run in its own process, the same runs as one process makes; the tables once, at the end', async () => {
    const par = path.join(dir, 'jobs');
    const parMd = path.join(dir, 'JOBS.md');
    const r = await run(['reproduce', 'dfcn', '--datasets', 'acm', '--seeds', '2', '--epochs', '2', '--threads', '1', '--jobs', '2',
      '--out', par, '--results', par, '--results-md', parMd]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/2 runs, 2 at a time, 1 thread each/);
    expect(r.err).toMatch(/\[acm s0\] run 1\/1 done: acm seed 0/);
    expect(r.err).toMatch(/\[acm s1\] run 1\/1 done: acm seed 1/);
    // A new file: it starts with the overview, which is written with the section.
    expect(r.err).toMatch(/wrote the dfcn section and the overview of .*JOBS\.md \(2 runs of dfcn read\)/);
    expect(fs.readFileSync(parMd, 'utf8')).toMatch(/^# Reproduction results\n\n## At a glance\n\n<!-- results:overview:begin -->\n/);
    const names = fs.readdirSync(par).sort();
    expect(names).toEqual(['dfcn-acm-official-weights-epochs-2-s0.json.gz', 'dfcn-acm-official-weights-epochs-2-s1.json.gz']);
    for (const f of names) {
      const a = readRunFile(path.join(par, f)).runs[0];
      const b = readRunFile(path.join(out, f)).runs[0]; // written by one process in the first test
      expect(a.epochs.map((e) => [e.losses, e.metrics])).toEqual(b.epochs.map((e) => [e.losses, e.metrics]));
      expect(a.predicted).toHaveLength(3025);
      expect(a.predicted).toEqual(b.predicted);
    }
    expect(fs.readFileSync(parMd, 'utf8')).toContain('| official weights, epochs=2 | 2 (0–1) |');
  });

  withCli('--jobs: a failed child stops new runs and fails the command, naming the run and quoting the child; --skip-tables leaves the Markdown alone', async () => {
    const bad = path.join(dir, 'jobs-bad');
    const badMd = path.join(dir, 'JOBS-BAD.md');
    fs.writeFileSync(badMd, 'untouched\n');
    const missing = path.join(dir, 'no-such-weights.dgcstate');
    const r = await run(['reproduce', 'dfcn', '--datasets', 'acm', '--seeds', '3', '--epochs', '2', '--threads', '1', '--jobs', '2',
      '--init', missing, '--skip-tables', '--out', bad, '--results', bad, '--results-md', badMd]);
    expect(r.code).toBe(1);
    // The two failures are listed in the order the children ended, which the machine's load decides.
    expect(r.err).toMatch(/reproduce dfcn --jobs 2: 2 runs failed \(0 finished, 1 not started\): acm seed [01]: the child exited with code [12]/);
    expect(r.err).toMatch(/acm seed 0: the child exited with code [12]; its last lines:/);
    expect(r.err).toMatch(/acm seed 1: the child exited with code [12]; its last lines:/);
    expect(r.err).toContain(missing);
    expect(fs.readFileSync(badMd, 'utf8')).toBe('untouched\n');
    const both = await run(['reproduce', 'dfcn', '--tables-only', '--skip-tables', '--out', bad, '--results', bad, '--results-md', badMd]);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/options '--tables-only' and '--skip-tables' exclude each other/);
  });

  withCli('--jobs: SIGTERM to the parent alone is passed on; the children stop, no file is written, exit code 143', async () => {
    const sig = path.join(dir, 'jobs-signal');
    // A real process (a signal to the test's own process would reach jest): 3 runs of 200 epochs, 2 at a time.
    const parent = spawn(process.execPath, [cliJs, 'reproduce', 'dfcn', '--datasets', 'acm', '--seeds', '3', '--epochs', '200',
      '--threads', '1', '--jobs', '2', '--skip-tables', '--out', sig, '--results', sig], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    parent.stderr!.on('data', (d: Buffer) => void (err += d.toString()));
    parent.stdout!.resume();
    const closed = new Promise<number | null>((resolve) => parent.on('close', (code) => resolve(code)));
    // Both children have started once each has printed its first line through the parent.
    for (let t = 0; !(/\[acm s0\]/.test(err) && /\[acm s1\]/.test(err)); t += 100) {
      if (t > 60_000) throw new Error(`the children did not start within 60 s; stderr:\n${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    parent.kill('SIGTERM');
    expect(await closed).toBe(143);
    expect(err).toMatch(/SIGTERM: passing it on to the running children; no new runs start/);
    expect(err).toMatch(/dgclust: DGC_ABORTED: reproduce dfcn --jobs 2: stopped by SIGTERM: 0 runs finished, 3 not/);
    expect(err).not.toMatch(/\[acm s2\]/);
    expect(fs.readdirSync(sig)).toEqual([]);
    // No child is left running: no process's command line names the output folder.
    if (process.platform === 'linux') {
      const alive = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
        try {
          return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(sig);
        } catch {
          return false; // ended while we looked
        }
      });
      expect(alive).toEqual([]);
    }
  });

  withCli('--checkpoint-dir: a run killed (SIGKILL) part-way resumes from its checkpoint and ends as a run never stopped; the checkpoint goes', async () => {
    const ref = path.join(dir, 'ck-ref');
    const outK = path.join(dir, 'ck-out');
    const ckDir = path.join(dir, 'ck');
    const base = ['reproduce', 'dfcn', '--datasets', 'acm', '--seeds', '1', '--epochs', '4', '--threads', '1', '--skip-tables'];
    const name = 'dfcn-acm-official-weights-epochs-4-s0';
    expect((await run([...base, '--out', ref, '--results', ref])).code).toBe(0);
    const withCk = [...base, '--out', outK, '--results', outK, '--checkpoint-dir', ckDir, '--checkpoint-every', '1'];
    // A real process, killed with no chance to clean up once its first checkpoint is on disk.
    const killed = spawn(process.execPath, [cliJs, ...withCk], { stdio: 'ignore' });
    const closed = new Promise<void>((resolve) => killed.on('close', () => resolve()));
    const ck = path.join(ckDir, `${name}.dgcckpt`);
    for (let t = 0; !fs.existsSync(ck); t += 50) {
      if (t > 60_000) throw new Error('no checkpoint within 60 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    killed.kill('SIGKILL');
    await closed;
    expect(fs.existsSync(path.join(outK, `${name}.json.gz`))).toBe(false);
    const resumed = await run(withCk);
    expect(resumed.code).toBe(0);
    expect(resumed.err).toMatch(new RegExp(`resuming from .*${name}\\.dgcckpt \\(saved after training epoch [1-3]\\)`));
    expect(fs.existsSync(ck)).toBe(false);
    const a = readRunFile(path.join(outK, `${name}.json.gz`)).runs[0];
    const b = readRunFile(path.join(ref, `${name}.json.gz`)).runs[0];
    expect(a.epochs.filter((e) => e.phase === 'train')).toHaveLength(4);
    expect(a.epochs.map((e) => [e.phase, e.epoch, e.losses, e.metrics])).toEqual(b.epochs.map((e) => [e.phase, e.epoch, e.losses, e.metrics]));
    expect(a.predicted).toEqual(b.predicted);
    // A checkpoint of other settings is refused naming the file (here: the same name, another model's checkpoint).
    fs.mkdirSync(ckDir, { recursive: true });
    fs.writeFileSync(ck, 'not a checkpoint');
    const bad = await run([...withCk.map((x) => (x === outK ? path.join(dir, 'ck-out2') : x))]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain(ck);
  });

  test.each([
    [['reproduce'], 2, /missing required argument 'model'/],
    [['reproduce', 'frob'], 2, /unknown model 'frob' \(known: dfcn, sdcn/],
    [['reproduce', 'dfcn', '--datasets', 'acm,nope'], 2, /option '--datasets': unknown dataset 'nope'/],
    [['reproduce', 'sdcn', '--init', 'official', '--datasets', 'acm'], 2, /--init official: only DFCN has official pretrained weights/],
    [['reproduce', 'dfcn', '--kl-q', '0.1'], 2, /option '--kl-q' does not apply to model 'dfcn'/],
    [['reproduce', 'dfcn', '--seeds', '0'], 2, /option '--seeds <N>' argument '0' is invalid/],
    [['reproduce', 'dfcn', '--datasets', 'acm', '--epochs', '0'], 2, /dfcn: option '--epochs' must be >= 1, got 0/],
    [['reproduce', 'dfcn', '--checkpoint-every', '5'], 2, /option '--checkpoint-every' needs '--checkpoint-dir DIR'/],
    [['reproduce', 'dfcn', '--checkpoint-every', '0', '--checkpoint-dir', '/tmp'], 2, /option '--checkpoint-every <N>' argument '0' is invalid/],
    [['reproduce', 'dfcn', '--tables-only', '--checkpoint-dir', '/tmp'], 2, /option '--checkpoint-dir' runs nothing with '--tables-only'/],
  ])('refuses %j', async (a, code, message) => {
    const r = await run([...(a as string[]), '--out', out, '--results', out, '--results-md', md]);
    expect(r.err).toMatch(message as RegExp);
    expect(r.code).toBe(code);
  });

  test('a named dataset whose files are missing fails naming the paths; unnamed, it is skipped and said', async () => {
    const empty = fs.mkdtempSync(path.join(dir, 'empty-'));
    const named = await run(['reproduce', 'dfcn', '--datasets', 'hhar', '--data-dir', empty, '--out', out, '--results', out, '--results-md', md]);
    expect(named.code).toBe(1);
    expect(named.err).toMatch(/DGC_DATA: dfcn on hhar: its feature file was not found \(SDCN's hhar\.txt is not publicly available\)/);
    expect(named.err).toContain(path.join(empty, 'hhar.txt'));
    // --tables-only with every dataset: all but ACM (embedded) are missing from the empty folder, and said so.
    const tables = await run(['reproduce', 'dfcn', '--tables-only', '--data-dir', empty, '--out', out, '--results', out, '--results-md', md]);
    expect(tables.code).toBe(0);
    expect(tables.err).toMatch(/skipped usps: its feature file was not found/);
    const doc = fs.readFileSync(md, 'utf8');
    expect(doc).toContain('* reut: not run — its feature file was not found (SDCN\'s reut.txt is not publicly available).');
    expect(doc).toContain('| official weights, epochs=2 | 3 (0–2) |');
  });
});

// ---- the generator on hand-made files ---------------------------------------------------------------------

type M = { acc: number; nmi: number; ari: number; f1: number };
const metrics = (acc: number): M => ({ acc, nmi: acc - 0.2, ari: acc - 0.15, f1: acc - 0.01 });

/** A RUN.json of `dgclust train --json` as it is written today: one entry per seed. */
function trainFile(model: string, dataset: string, seeds: number[], settings: Record<string, unknown>, acc: (seed: number) => number, rule = 'per-metric-max') {
  return {
    command: 'train', model, version: '0.1.0',
    settings: { dataset, seeds, preset: dataset, note: '', init: 'own pretraining', start: 'own pretraining', ...settings },
    machine: { cpu: 'Test CPU', cores: 4, memoryGiB: 8, platform: 'linux-x64', node: 'v20.0.0', threads: 1 },
    runs: seeds.map((seed) => ({
      seed,
      initial: metrics(acc(seed) - 0.1),
      final: { epoch: 200, metrics: metrics(acc(seed)) },
      best: { epoch: 150, metrics: metrics(acc(seed) + 0.005) },
      paperProtocol: { rule, metrics: metrics(acc(seed) + 0.01) },
      timings: { pretrainMs: 1, trainMs: 2, epochTrainMs: 100 + seed, epochEvalMs: 10 },
      epochs: [],
    })),
  };
}

describe('the tables generator: grouping, merging, duplicates, old files', () => {
  test('runJsonText: the same JSON as JSON.stringify, one field per line at the top and in each run, one epoch per line', () => {
    const value = {
      command: 'dgclust train', missing: undefined, notFinite: [NaN, Infinity], typed: Float32Array.from([0.5, 2]),
      settings: { lr: 1e-3, nested: { a: [1, 2] } }, empty: {}, none: [],
      runs: [{ seed: 0, final: { epoch: 2, metrics: { acc: 0.5 } }, epochs: [{ phase: 'train', epoch: 1 }, { phase: 'train', epoch: 2 }], predicted: [0, 1, 1] }],
      truth: [1, 0, 0],
    };
    const text = runJsonText(value);
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
    expect(text.split('\n')).toEqual([
      '{',
      ' "command": "dgclust train",',
      ' "notFinite": [null,null],',
      ' "typed": {',
      '  "0": 0.5,',
      '  "1": 2',
      ' },',
      ' "settings": {',
      '  "lr": 0.001,',
      '  "nested": {"a":[1,2]}',
      ' },',
      ' "empty": {},',
      ' "none": [],',
      ' "runs": [',
      '  {',
      '   "seed": 0,',
      '   "final": {"epoch":2,"metrics":{"acc":0.5}},',
      '   "epochs": [',
      '    {"phase":"train","epoch":1},',
      '    {"phase":"train","epoch":2}',
      '   ],',
      '   "predicted": [0,1,1]',
      '  }',
      ' ],',
      ' "truth": [1,0,0]',
      '}',
    ]);
    expect(runJsonText(undefined)).toBe('null');
  });

  test('a run file named .gz is gzip-compressed, byte for byte the same for the same text, and read back as it was', () => {
    const value = trainFile('sdcn', 'acm', [0, 1], sdcnSpec.presets.acm as unknown as Record<string, unknown>, () => 0.8);
    const text = runJsonText(value);
    const gz = path.join(dir, 'one.json.gz');
    const bytes = runFileContent(gz, text) as Buffer;
    expect(Buffer.isBuffer(bytes)).toBe(true);
    expect(bytes.length).toBeLessThan(text.length / 2);
    expect((runFileContent(gz, text) as Buffer).equals(bytes)).toBe(true);
    fs.writeFileSync(gz, bytes);
    expect(readRunText(gz)).toBe(text);
    expect(readRunFile(gz)).toEqual(JSON.parse(text));
    // A plain name stays text.
    expect(runFileContent(path.join(dir, 'one.json'), text)).toBe(text);
    // Not gzip, a gzip cut short, or plain JSON under a .gz name: each a DGC_DATA error naming the file.
    const bad = path.join(dir, 'bad.json.gz');
    fs.writeFileSync(bad, text);
    expect(() => readRunFile(bad)).toThrow(/bad\.json\.gz: not gzip data, or cut short \(incorrect header check\)/);
    fs.writeFileSync(bad, bytes.subarray(0, bytes.length - 9));
    expect(() => readRunFile(bad)).toThrow(/bad\.json\.gz: not gzip data, or cut short \(unexpected end of file\)/);
    expect(() => readRunFile(path.join(dir, 'none.json.gz'))).toThrow(/none\.json\.gz: no such file/);
  });

  const res = path.join(dir, 'results');
  const write = (name: string, value: unknown) => {
    fs.mkdirSync(path.dirname(path.join(res, name)), { recursive: true });
    fs.writeFileSync(path.join(res, name), typeof value === 'string' ? value : JSON.stringify(value));
  };
  const acm = sdcnSpec.presets.acm as unknown as Record<string, unknown>;
  const acc = (seed: number) => 0.8 + 0.01 * seed;
  beforeAll(() => {
    // SDCN on ACM in two files (seeds 0–4 and 5–9), as the lead's jobs wrote them; seed 4 again in a third file
    // (a copy with other numbers, which must not count twice); an ablation with klQ = 0 (its own row); a run with
    // 2 epochs (its own row); another model; an old-format DFCN file; a pretrain result and a broken file.
    write('sdcn-acm-s0.json', trainFile('sdcn', 'acm', [0, 1, 2, 3, 4], acm, acc));
    // Seeds 5–9 gzip-compressed, as `dgclust reproduce` writes them; a .json.gz cut short is skipped, said why.
    const gz = path.join(res, 'sdcn-acm-s5.json.gz');
    fs.writeFileSync(gz, runFileContent(gz, JSON.stringify(trainFile('sdcn', 'acm', [5, 6, 7, 8, 9], acm, acc))));
    fs.writeFileSync(path.join(res, 'cut.json.gz'), fs.readFileSync(gz).subarray(0, 100));
    write('sdcn/zz-copy-s4.json', trainFile('sdcn', 'acm', [4], acm, () => 0.1));
    // The ablation names its readouts and records argmax Q beside argmax Z (as today's trainer does).
    const noKlQ = trainFile('sdcn', 'acm', [0, 1, 2], { ...acm, klQ: 0 }, () => 0.7) as ReturnType<typeof trainFile> & { readouts?: string[] };
    noKlQ.readouts = ['z', 'q'];
    for (const r of noKlQ.runs as Record<string, any>[]) {
      r.final.readouts = { z: r.final.metrics, q: metrics(0.6) };
      r.perMetricMax = { z: r.paperProtocol.metrics, q: metrics(0.65) };
    }
    write('sdcn-acm-noklq-s0.json', noKlQ);
    write('sdcn-acm-short.json', trainFile('sdcn', 'acm', [0], { ...acm, epochs: 2 }, () => 0.6));
    write('dccf-usps-both-s1-1.json', trainFile('dccf', 'usps', [1], {}, () => 0.5, 'final'));
    const old = trainFile('dfcn', 'usps', [0, 1, 2], {}, (s) => 0.78 + 0.001 * s);
    old.settings = { dataset: 'usps', seeds: [0, 1, 2], epochs: 200, lr: 0.001, init: 'own', initDir: null, learnableAlpha: false, threads: 1, pcaDim: 30,
      preset: { pcaDim: 30, lr: 0.001, igaeActivation: 'tanh', igaeLayout: 'in-out', graph: 'knn' } } as unknown as typeof old.settings;
    for (const r of old.runs) delete (r as { paperProtocol?: unknown }).paperProtocol;
    write('dfcn-usps-own.json', old);
    write('pretrain.json', { command: 'pretrain', settings: {}, epochs: [] });
    write('broken.json', '{ "command": "train", ');
  });

  test('runs are grouped by model, dataset and variant; split files merge; a seed in two files counts once', () => {
    const set = loadResults([res]);
    expect(set.skipped.map((s) => path.basename(s.file)).sort()).toEqual(['broken.json', 'cut.json.gz', 'pretrain.json']);
    expect(set.skipped.find((s) => s.file.endsWith('cut.json.gz'))!.reason).toMatch(/^not gzip data, or cut short \(unexpected end of file\)/);
    expect(set.skipped.find((s) => s.file.endsWith('pretrain.json'))!.reason).toMatch(/a 'pretrain' result, not a clustering run/);
    const groups = groupRuns(set.runs);
    const sdcn = groups.filter((g) => g.model === 'sdcn');
    expect(sdcn.map((g) => g.variant.label).sort()).toEqual(['', 'epochs=2', 'kl-q=0']);
    const main = sdcn.find((g) => g.variant.label === '')!;
    expect(main.runs.map((r) => r.seed)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Path order: sdcn-acm-s0.json comes before sdcn/zz-copy-s4.json, so its seed 4 is the one used.
    expect(main.runs[4].paperProtocol.metrics!.acc).toBeCloseTo(0.85, 12);
    expect(main.duplicates).toEqual([{ seed: 4, used: expect.stringMatching(/sdcn-acm-s0\.json$/), ignored: [expect.stringMatching(/zz-copy-s4\.json$/)] }]);
    const old = groups.find((g) => g.model === 'dfcn')!;
    expect(old.variant.label).toBe('own pretraining');
    // An old file has no per-run paperProtocol: DFCN's rule (the best-ACC epoch) is read from what it recorded.
    expect(old.runs.map((r) => r.paperProtocol)).toEqual([0, 1, 2].map((s) => ({ rule: 'best-acc-epoch', metrics: metrics(0.78 + 0.001 * s + 0.005), derived: true })));
    expect(seedRanges([0, 1, 2, 5, 7, 8])).toBe('0–2, 5, 7–8');
  });

  test("the section: the paper's row, the protocol named, mean ± std over the seeds counted once, the gap, time, machine, notes", () => {
    const text = renderModelSection('sdcn', loadResults([res]));
    const lines = text.split('\n');
    const paperAcc = 90.45;
    const accs = Array.from({ length: 10 }, (_, s) => acc(s) + 0.01);
    const m = mean(accs);
    const sd = Math.sqrt(accs.reduce((a, x) => a + (x - m) ** 2, 0) / 9);
    expect(lines).toContain('| acm | paper | | as the paper reports it | 90.45 ± 0.18 | 68.31 ± 0.25 | 73.91 ± 0.40 | 90.42 ± 0.19 | |');
    expect(lines).toContain(`|  | (preset) | 10 (0–9) | paper's protocol: max of each metric over epochs (labels; may mix epochs) | ${pct(m)} ± ${pct(sd)} | ` +
      `${pct(m - 0.2)} ± ${pct(sd)} | ${pct(m - 0.15)} ± ${pct(sd)} | ${pct(m - 0.01)} ± ${pct(sd)} | ${(100 * m - paperAcc).toFixed(2)} |`);
    expect(lines).toContain(`|  |  |  | final epoch (label-free) | ${pct(m - 0.01)} ± ${pct(sd)} | ${pct(m - 0.21)} ± ${pct(sd)} | ${pct(m - 0.16)} ± ${pct(sd)} | ${pct(m - 0.02)} ± ${pct(sd)} | ${(100 * (m - 0.01) - paperAcc).toFixed(2)} |`);
    expect(lines).toContain('|  | kl-q=0 | 3 (0–2) | paper\'s protocol: max of each metric over epochs (labels; may mix epochs) | 71.00 ± 0.00 | 51.00 ± 0.00 | 56.00 ± 0.00 | 70.00 ± 0.00 | -19.45 |');
    // The preset's initial rows (k-means on the pretrained AE) against SDCN's AE column (81.83); a variant the paper
    // has no row for gets no such comparison.
    const ae = lines.indexOf("| | paper: AE + k-means (SDCN's Table 2, AE column) | | k-means after pretraining, as the paper reports it | 81.83 ± 0.08 | 49.30 ± 0.16 | 54.64 ± 0.16 | 82.01 ± 0.08 | |");
    expect(ae).toBeGreaterThan(0);
    const initialMean = mean(Array.from({ length: 10 }, (_, s) => acc(s) - 0.1));
    expect(lines.slice(ae).find((l) => l.includes('initial: k-means'))).toMatch(new RegExp(`\\| ${pct(initialMean)} ± .*\\| ${(100 * initialMean - 81.83).toFixed(2)} \\|$`));
    expect(lines.filter((l) => l.includes("paper: AE + k-means (SDCN's Table 2, AE column)"))).toHaveLength(1);
    // Per-metric-max papers get the best-ACC epoch too; argmax Q where the runs recorded it (only the ablation did).
    const bestRow = (x: number) => `|  |  |  | best epoch by ACC (labels select one epoch) | ${pct(x)} ± ${pct(sd)} | ${pct(x - 0.2)} ± ${pct(sd)} | ${pct(x - 0.15)} ± ${pct(sd)} | ${pct(x - 0.01)} ± ${pct(sd)} |  |`;
    expect(lines).toContain(bestRow(m - 0.005));
    expect(lines).toContain('|  |  |  | argmax Q: max of each metric over epochs (labels) | 65.00 ± 0.00 | 45.00 ± 0.00 | 50.00 ± 0.00 | 64.00 ± 0.00 |  |');
    expect(lines).toContain('|  |  |  | argmax Q: final epoch (label-free) | 60.00 ± 0.00 | 40.00 ± 0.00 | 45.00 ± 0.00 | 59.00 ± 0.00 |  |');
    expect(lines.filter((l) => l.startsWith('|') && l.includes('argmax Q'))).toHaveLength(2);
    expect(text).toContain("* rows that name no readout are the paper's (argmax Z); argmax Q rows are the same runs read out another way (where the runs recorded it);");
    expect(lines).toContain('|  | epochs=2 | 1 (0) | paper\'s protocol: max of each metric over epochs (labels; may mix epochs) | 61.00 | 41.00 | 46.00 | 60.00 | -29.45 |');
    expect(lines).toContain('| acm | (preset) | 10 | 105 | 10 | – | – | 1 | M1 |');
    expect(text).toContain('M1: Test CPU, 4 cores, 8 GiB, linux-x64, Node v20.0.0.');
    expect(text).toMatch(/acm, seed 4: found in \S*sdcn-acm-s0\.json and \S*zz-copy-s4\.json; counted once, from \S*sdcn-acm-s0\.json\./);
    expect(text).toContain('No runs yet for usps, hhar, reut, dblp, cite');
    expect(lines.some((l) => l.startsWith('| usps |'))).toBe(false); // nothing of DCCF's file (USPS)
    const dfcn = renderModelSection('dfcn', loadResults([res]));
    expect(dfcn).toMatch(/1 file from before runs recorded the paper's protocol \(dfcn-usps-own\.json\): .*its best-ACC epoch/);
    expect(dfcn).toContain('|  | own pretraining | 3 (0–2) | paper\'s protocol: best epoch by ACC');
  });

  test("a paper that reports the upper median of its trials gets a median row; runs a rule stopped early, and final labels that leave clusters empty, are said", () => {
    const cdcDir = path.join(dir, 'results-cdc');
    fs.mkdirSync(cdcDir, { recursive: true });
    const fmnist = cdcSpec.presets.fmnist as unknown as Record<string, unknown>;
    // Ten trials with ACC 0.56 … 0.65 under the paper's protocol (final = protocol − 0.01): the upper median is the
    // 6th of the sorted values, 0.61 (the plain median would be 0.605).
    fs.writeFileSync(path.join(cdcDir, 'cdc-fmnist.json'), JSON.stringify(trainFile('cdc', 'fmnist', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], fmnist, (s) => 0.55 + 0.01 * s, 'final')));
    const dccf = trainFile('dccf', 'usps', [2, 3], dccfSpec.presets.usps as unknown as Record<string, unknown>, () => 0.5, 'final');
    (dccf.runs[0] as Record<string, unknown>).stopped = 'label change 0.050% < tol 0.100% at iteration 37';
    dccf.runs[0].final.epoch = 37;
    // Final labels: seed 2 uses all 3 clusters, seed 3 only 2 of them (said in a note).
    Object.assign(dccf, { dataset: { name: 'usps', n: 6, d: 256, k: 3, hasLabels: true, edges: null } });
    Object.assign(dccf.runs[0], { predicted: [0, 1, 2, 0, 1, 2] });
    Object.assign(dccf.runs[1], { predicted: [0, 0, 0, 1, 1, 1] });
    fs.writeFileSync(path.join(cdcDir, 'dccf-usps.json'), JSON.stringify(dccf));
    const lines = renderModelSection('cdc', loadResults([cdcDir])).split('\n');
    expect(lines).toContain('| fmnist | paper | | as the paper reports it (mean) | 64.9 | 64.5 | – | – | |');
    expect(lines).toContain('| | paper | | upper median of its trials | 66.0 | 64.6 | – | – | |');
    expect(lines).toContain("|  |  |  | paper's protocol, upper median over the seeds | 61.00 | 41.00 | 46.00 | 60.00 | -5.00 |");
    // The preset's initial rows (k-means after its L_AE pretraining; 0.1 below the final ACC here) against Table 3's
    // AE + L_AE, 60.1.
    const ini = lines.indexOf('| | paper: AE + L_AE (Table 3: k-means after the L_AE pretraining) | | k-means after pretraining, as the paper reports it | 60.1 | 58.1 | – | – | |');
    expect(ini).toBeGreaterThan(0);
    expect(lines.slice(ini).find((l) => l.includes('initial: k-means on the starting embedding'))).toMatch(/\| 49\.50 ± 3\.03 \|.*\| -10\.60 \|$/);
    const m = mean(Array.from({ length: 10 }, (_, s) => 0.56 + 0.01 * s));
    expect(lines).toContain(`|  | (preset) | 10 (0–9) | paper's protocol: final epoch (no labels) | ${pct(m)} ± 3.03 | ${pct(m - 0.2)} ± 3.03 | ` +
      `${pct(m - 0.15)} ± 3.03 | ${pct(m - 0.01)} ± 3.03 | ${(100 * m - 64.9).toFixed(2)} |`);
    // A paper without medians has no median row.
    expect(renderModelSection('sdcn', loadResults([res]))).not.toContain('upper median');
    const dccfText = renderModelSection('dccf', loadResults([cdcDir]));
    expect(dccfText).toContain('* usps: 1 of 2 runs stopped early by the model\'s rule (e.g. seed 2: label change 0.050% < tol 0.100% at iteration 37); the runs ended at evaluation 37–200 (an evaluation per epoch, or per target refresh where the schedule counts iterations).');
    expect(dccfText).toContain('* usps: 1 of 2 runs left clusters empty in the final labels (seed 3: 2 of 3 used).');
    // Files without final labels (the CDC ones here) get no such note.
    expect(renderModelSection('cdc', loadResults([cdcDir]))).not.toContain('left clusters empty');
  });

  test("the time of a run's epochs: the sum of each epoch's training and evaluation time, pretraining included; the median run and all runs", () => {
    const timed = path.join(dir, 'results-timed');
    fs.mkdirSync(timed, { recursive: true });
    const f = trainFile('sdcn', 'acm', [0, 1, 2, 3], sdcnSpec.presets.acm as unknown as Record<string, unknown>, () => 0.8);
    f.runs.forEach((r, s) => {
      // Seed s: a pretraining epoch of (s + 1) minutes, then two training epochs of 1 s + 0.5 s evaluation; seed 3
      // recorded no times (an old file).
      (r as { epochs: unknown[] }).epochs = s === 3 ? [{ phase: 'train', epoch: 1, losses: {} }] : [
        { phase: 'pretrain-ae', epoch: 1, losses: {}, trainMs: 60000 * (s + 1) },
        { phase: 'train', epoch: 1, losses: {}, trainMs: 1000, evalMs: 500 },
        { phase: 'train', epoch: 2, losses: {}, trainMs: 1000, evalMs: 500 },
      ];
    });
    fs.writeFileSync(path.join(timed, 'sdcn-acm.json'), JSON.stringify(f));
    const runs = loadResults([timed]).runs;
    expect(runs.map((r) => r.epochsMs)).toEqual([63000, 123000, 183000, null]);
    // Median of the three timed runs: 123 s → '2 min'; all: 369 s → '6 min'; one run without times is said.
    expect(renderModelSection('sdcn', loadResults([timed]))).toMatch(/^\| acm \| \(preset\) \| 4 \| \d+ \| 10 \| 2 min \| 6 min \(3 of 4 runs\) \| 1 \| M1 \|$/m);
    expect([duration(42_400), duration(17 * 60_000), duration(3.44 * 3_600_000)]).toEqual(['42 s', '17 min', '3.4 h']);
  });

  test("a variant that is one of the paper's ablation rows is shown under that row and compared with it; the most specific row wins", () => {
    const abl = path.join(dir, 'results-ablation');
    fs.mkdirSync(abl, { recursive: true });
    const fmnist = cdcSpec.presets.fmnist as unknown as Record<string, unknown>;
    fs.writeFileSync(path.join(abl, 'cdc-lc.json'), JSON.stringify(trainFile('cdc', 'fmnist', [0, 1], { ...fmnist, eta: 0, beta: 0 }, () => 0.6, 'final')));
    fs.writeFileSync(path.join(abl, 'cdc-lr.json'), JSON.stringify(trainFile('cdc', 'fmnist', [0], { ...fmnist, lambda: 0 }, () => 0.55, 'final')));
    const lines = renderModelSection('cdc', loadResults([abl])).split('\n');
    // AE* + L_c: Table 3's row above the runs, the gap against its 61.1 (paper's protocol 0.61 → 0.0 … final 0.60 → −1.10).
    const at = lines.indexOf('| | paper: AE* + L_c (Table 3) | | as the paper reports it | 61.1 | 64.0 | – | – | |');
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toMatch(/^\|  \| eta=0, beta=0 \| 2 \(0–1\) \| paper's protocol: final epoch \(no labels\) \| 61\.00 ± 0\.00 \|.*\| -0\.10 \|$/);
    expect(lines[at + 2]).toMatch(/^\|  \|  \|  \| final epoch \(label-free\) \| 60\.00 ± 0\.00 \|.*\| -1\.10 \|$/);
    // A variant whose paper number is k-means after its pretraining (Table 3's AE + L_r, `--lambda 0`): only its initial
    // row is compared (final 0.55 − 0.1 → 45.00 − 56.4); its trained rows have no paper counterpart, so no gap.
    const lr = lines.indexOf('| | paper: AE + L_r (Table 3: k-means after a reconstruction-only pretraining) | | k-means after its pretraining, as the paper reports it | 56.4 | 59.0 | – | – | |');
    expect(lr).toBeGreaterThan(0);
    expect(lines[lr + 1]).toMatch(/^\|  \| lambda=0 \| 1 \(0\) \| paper's protocol: final epoch \(no labels\) \| 56\.00 \|.*\|  \|$/);
    expect(lines.slice(lr + 1).find((l) => l.includes('initial: k-means on the starting embedding'))).toMatch(/\| 45\.00 \|.*\| -11\.40 \|$/);
    // The most specific fitting row: DCCF's 'neither' (contractive and focal off), not 'contractive only' (focal off).
    const g = (changed: Record<string, unknown>) => ({ model: 'dccf', dataset: 'usps', runs: [], duplicates: [],
      variant: { init: 'own' as const, changed, key: '', label: '' } });
    expect(paperVariantOf(dccfSpec, g({ contractive: false, focal: false, reconReduction: 'mean_all' }))?.name).toBe('neither term, IDEC-like (Table 5)');
    expect(paperVariantOf(dccfSpec, g({ focal: false }))?.name).toBe('contractive only (Table 5)');
    expect(paperVariantOf(dccfSpec, g({ reconReduction: 'mean_all' }))).toBeNull();
    expect(paperVariantOf(dccfSpec, g({ focal: true }))).toBeNull();
  });

  test('an initial evaluation written as { epoch, metrics } (by an earlier trainer) is read as its metrics', () => {
    const f = trainFile('caegcn', 'acm', [0], {}, () => 0.8) as unknown as { runs: Record<string, unknown>[] };
    f.runs[0].initial = { epoch: 0, metrics: metrics(0.7), readouts: { kmeans: metrics(0.7) } };
    expect(entriesOf(f, 'old.json')[0].initial).toEqual(metrics(0.7));
    f.runs[0].initial = { epoch: 0, metrics: { acc: 0.7 } };
    expect(() => entriesOf(f, 'old.json')).toThrow(/old\.json: runs\[0\]\.initial\.nmi is missing/);
  });

  test('the variant of a run: its start and the options that differ from the preset', () => {
    expect(describeVariant('dfcn', 'acm', { preset: 'acm', start: 'official pretrained weights (/x)', lr: 5e-5 }).label).toBe('official weights');
    expect(describeVariant('dfcn', 'acm', { preset: 'acm', init: 'own', lr: 1e-3 }).label).toBe('own pretraining, lr=0.001');
    expect(describeVariant('sdcn', 'acm', { preset: 'acm', start: 'own pretraining', klQ: 0.1 }).label).toBe('');
    expect(describeVariant('sdcn', 'acm', { preset: 'acm', start: 'weights from /w/ae.dgcstate' }).label).toBe('weights ae.dgcstate');
    // DEC's option 'init' (the weight initialisation) is not the start.
    expect(describeVariant('dec', 'usps', { preset: 'usps', init: 'pytorch' }).label).toBe('init=pytorch');
    expect(describeVariant('dec', 'usps', { preset: 'usps', init: 'xavier' }).label).toBe('');
  });

  test('splicing: between the markers only; without them a section is appended; broken markers are refused', () => {
    const doc = '# R\n\nintro\n\n<!-- results:sdcn:begin -->\nold\n<!-- results:sdcn:end -->\n\nafter\n';
    expect(spliceSection(doc, 'sdcn', 'new', 'SDCN')).toBe('# R\n\nintro\n\n<!-- results:sdcn:begin -->\nnew\n<!-- results:sdcn:end -->\n\nafter\n');
    expect(spliceSection('# R\n', 'ae', 'body', 'AE + k-means')).toBe('# R\n\n## AE + k-means\n\n<!-- results:ae:begin -->\nbody\n<!-- results:ae:end -->\n');
    expect(() => spliceSection('<!-- results:ae:end --><!-- results:ae:begin -->', 'ae', 'x', 'AE')).toThrow(/must appear once each, in that order/);
  });

  test("datasets of a paper's table that the registry does not hold are skipped, saying how to run them; named, they are refused", async () => {
    const md = path.join(dir, 'cdc-tables.md');
    fs.writeFileSync(md, '# R\n');
    const empty = fs.mkdtempSync(path.join(dir, 'none-'));
    const r = await run(['reproduce', 'cdc', '--tables-only', '--results', empty, '--out', path.join(empty, 'cdc'), '--results-md', md]);
    expect(r.code).toBe(0);
    expect(fs.readFileSync(md, 'utf8')).toContain('* stl10: not run — not a registry dataset; `dgclust train --model cdc --features FILE --preset stl10` runs it from your own files.');
    const named = await run(['reproduce', 'cdc', '--datasets', 'stl10', '--tables-only', '--results', empty, '--results-md', md]);
    expect(named.code).toBe(2);
    expect(named.err).toMatch(/option '--datasets': unknown dataset 'stl10'/);
  });

  test("the overview: every model's paper datasets, the preset's ACC under the paper's protocol and at the final epoch, partial rows and missing ones said", () => {
    // Beside the SDCN files: two seeds of DCCF's USPS preset.
    const partial = path.join(dir, 'results-overview');
    fs.mkdirSync(partial, { recursive: true });
    fs.writeFileSync(path.join(partial, 'dccf-usps.json'),
      JSON.stringify(trainFile('dccf', 'usps', [0, 1], dccfSpec.presets.usps as unknown as Record<string, unknown>, (s) => 0.5 + 0.02 * s, 'final')));
    const lines = renderOverview(loadResults([res, partial])).split('\n');
    const accs = Array.from({ length: 10 }, (_, s) => acc(s) + 0.01);
    const m = mean(accs);
    const sd = Math.sqrt(accs.reduce((a, x) => a + (x - m) ** 2, 0) / 9);
    // SDCN on ACM: ten seeds of the preset (the ablation and the 2-epoch runs are variants: not here).
    // (Datasets in the order of the paper's table: SDCN's starts with USPS.)
    expect(lines).toContain('| SDCN | max of each metric over epochs (labels) | usps | 78.08 ± 0.19 | not run | | | | |');
    expect(lines).toContain('|  |  | hhar | 84.26 ± 0.17 | not run (features not public) | | | | |');
    expect(lines).toContain('|  |  | stl10 | 96.3 | not run (your own files) | | | | |');
    expect(lines).toContain(`|  |  | acm | 90.45 ± 0.18 | 10 | ${pct(m)} ± ${pct(sd)} | ${(100 * m - 90.45).toFixed(2)} | ` +
      `${pct(m - 0.01)} ± ${pct(sd)} | ${(100 * (m - 0.01) - 90.45).toFixed(2)} |`);
    expect(lines.filter((l) => /^\| [^|]*\| [^|]*\| acm \|/.test(l) && l.includes('| 10 |'))).toHaveLength(1);
    // A dataset of the paper's table without runs is listed, not left out.
    expect(lines).toContain('|  |  | dblp | 68.05 ± 1.81 | not run | | | | |');
    // Every registered model has a row, in registry order.
    const models = lines.filter((l) => /^\| [A-Z]/.test(l)).map((l) => l.split(' | ')[0].slice(2));
    expect(models).toEqual(['DFCN (official weights)', 'SDCN', 'AE + k-means', 'DEC', 'IDEC', 'DCCF', 'AGCN', 'CaEGCN', 'CDC']);
    // Fewer seeds than the papers' ten: the row says it is partial. (DFCN's old file here is own pretraining, a variant.)
    // DCCF's paper does not say how its number was selected: the rule is ours, and the row says so.
    expect(lines).toContain('| DCCF | final epoch (no labels) — the paper states none: ours | mnist | 97.41 | not run | | | | |');
    expect(lines.filter((l) => l.includes('| usps | 85.53 |'))).toEqual([expect.stringContaining('| usps | 85.53 | 2 of 10 | 52.00 ± 1.41 | -33.53 | 51.00 ± 1.41 | -34.53 |')]);
  });

  test("reproduce all --tables-only: every model's section and the overview; without --tables-only it is refused", async () => {
    const md = path.join(dir, 'all.md');
    const r = await run(['reproduce', 'all', '--tables-only', '--results', res, '--results-md', md]);
    expect(r.code).toBe(0);
    const doc = fs.readFileSync(md, 'utf8');
    for (const m of dg.modelNames()) expect(doc).toContain(`<!-- results:${m}:begin -->\nGenerated by \`dgclust reproduce ${m} --tables-only\``);
    expect(doc).toMatch(/^# Reproduction results\n\n## At a glance\n\n<!-- results:overview:begin -->\nGenerated by/);
    expect(doc).toContain('|  |  | acm | 90.45 ± 0.18 | 10 |');
    const refused = await run(['reproduce', 'all', '--results', res, '--results-md', md]);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/'reproduce all' only regenerates the tables: add --tables-only/);
  });

  test('reproduce --tables-only writes the section from these files into RESULTS.md', async () => {
    const md = path.join(dir, 'tables.md');
    fs.writeFileSync(md, '# Reproduction results\n\nSome prose.\n');
    const r = await run(['reproduce', 'sdcn', '--tables-only', '--results', res, '--out', path.join(res, 'sdcn'), '--results-md', md]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/not read as a run: \S*broken\.json \(not JSON/);
    const doc = fs.readFileSync(md, 'utf8');
    expect(doc.startsWith('# Reproduction results\n\nSome prose.\n\n## SDCN\n\n<!-- results:sdcn:begin -->\nGenerated by `dgclust reproduce sdcn --tables-only` from 14 runs in 4 JSON files')).toBe(true);
    expect(doc).toContain('| (preset) | 10 (0–9) |');
  });
});
