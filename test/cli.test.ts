// The command-line tool: the main job runs on the embedded data; bad options are refused clearly.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../lib/cli/main';
import * as dg from '../lib';

function run(args: string[]): { code: number; out: string; err: string } {
  const out: string[] = [];
  const err: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...a) => void out.push(a.join(' ')));
  const error = jest.spyOn(console, 'error').mockImplementation((...a) => void err.push(a.join(' ')));
  try {
    return { code: main(args), out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgc-cli-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('info lists the cpu backend and why cuda is unavailable', () => {
  const r = run(['info']);
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/cpu\s+available/);
  expect(r.out).toMatch(/cuda\s+unavailable: /);
});

test('pretrain on the embedded ACM: the loss falls, --json and --save are written, nothing leaks', () => {
  const before = dg.memory();
  const json = path.join(dir, 'run.json');
  const save = path.join(dir, 'ae.dgc');
  const r = run(['pretrain', '--epochs', '2', '--seed', '3', '--json', json, '--save', save]);
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/\| acm \| 2 \|/);
  const report = JSON.parse(fs.readFileSync(json, 'utf8'));
  expect(report.settings).toMatchObject({ dataset: 'acm', epochs: 2, seed: 3 });
  expect(report.epochs).toHaveLength(2);
  // Two epochs of Adam at 1e-3 cut ACM's reconstruction MSE well below its starting value (measured: ~0.75×).
  expect(report.mseAfter).toBeLessThan(0.9 * report.mseBefore);
  const state = dg.loadState(save);
  expect(state.get('enc_1.weight')!.shape).toEqual([500, 1870]);
  expect(state.get('z_layer.weight')!.shape).toEqual([10, 2000]);
  dg.dispose([...state.values()]);
  expect(dg.memory().tensors).toBe(before.tensors);
  expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
});

test.each([
  [['pretrain', '--bogus', '1'], /unknown option '--bogus'/],
  [['pretrain', '--epochs', '0'], /--epochs' must be an integer >= 1/],
  [['pretrain', '--epochs', 'ten'], /--epochs' must be an integer/],
  [['pretrain', '--lr'], /'--lr' needs a value/],
  [['pretrain', 'acm'], /unexpected argument 'acm'/],
  [['frobnicate'], /unknown command 'frobnicate'/],
])('refuses %j with a clear message and exit code 2', (args, pattern) => {
  const r = run(args as string[]);
  expect(r.code).toBe(2);
  expect(r.err).toMatch(pattern as RegExp);
});

test('an unknown dataset, or one whose files are nowhere, fails with exit code 1 and a coded message', () => {
  const unknown = run(['pretrain', '--dataset', 'frobnicate', '--data-dir', dir]);
  expect(unknown.code).toBe(1);
  expect(unknown.err).toMatch(/DGC_ARG: loadDataset: unknown dataset 'frobnicate' \(known: acm, /);
});

test('a dataset dir without the files fails with exit code 1 naming the missing file', () => {
  const r = run(['pretrain', '--dataset', 'usps', '--data-dir', dir]);
  expect(r.code).toBe(1);
  expect(r.err).toMatch(/DGC_DATA/);
  expect(r.err).toMatch(/usps\.txt/);
});

describe('train --model dfcn', () => {
  test('on the embedded ACM with the shipped weights: table, --json per seed, --save, nothing leaks', () => {
    const before = dg.memory().tensors;
    const json = path.join(dir, 'dfcn.json');
    const save = path.join(dir, 'dfcn.dgc');
    const r = run(['train', '--model', 'dfcn', '--dataset', 'acm', '--epochs', '2', '--seeds', '2', '--json', json, '--save', save]);
    expect(r.err).toMatch(/dfcn on acm: 3025 nodes, 1870 features → PCA 100, 3 clusters/);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\| final epoch \(label-free\) \| \d+\.\d\d ± \d+\.\d\d \|/);
    expect(r.out).toMatch(/\| best epoch by ACC \(selected with labels, paper protocol\) \|/);
    expect(r.out).toMatch(/\| paper \(DFCN, AAAI 2021, best epoch, 10 runs\) \| 90\.9 ± 0\.2 \|/);
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(report.settings).toMatchObject({ dataset: 'acm', epochs: 2, lr: 5e-5, init: 'official', seeds: [0, 1] });
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.runs).toHaveLength(2);
    for (const run1 of report.runs) {
      expect(run1.epochs).toHaveLength(2);
      expect(run1.final.epoch).toBe(2);
      // The official pretrained weights already cluster ACM at ~88.6% (shared data README §13).
      expect(run1.final.metrics.acc).toBeGreaterThan(0.87);
      expect(run1.best.metrics.acc).toBeGreaterThanOrEqual(run1.final.metrics.acc);
      expect(run1.timings.epochTrainMs).toBeGreaterThan(0);
    }
    expect(report.summary.final.acc.mean).toBeCloseTo((report.runs[0].final.metrics.acc + report.runs[1].final.metrics.acc) / 2, 12);
    for (const s of [0, 1]) {
      const st = dg.loadState(`${save}.seed${s}`);
      expect(st.get('gamma')!.shape).toEqual([1]);
      for (const t of st.values()) t.dispose();
    }
    expect(dg.memory().tensors).toBe(before);
  });

  test.each([
    [['--model', 'sdcn'], /option '--model' must be one of: dfcn/],
    [['--dataset', 'mnist'], /DFCN has presets for usps, hhar, reut, acm, dblp, cite; got 'mnist'/],
    [['--backend', 'gpu'], /option '--backend' must be cpu, cuda or auto, got 'gpu'/],
    [['--init', '/nonexistent/weights'], /--init \/nonexistent\/weights: \/nonexistent\/weights\/manifest\.json not found/],
    [['--seeds', '0'], /option '--seeds' must be an integer >= 1, got '0'/],
    [['--epochs', '2.5'], /option '--epochs' must be an integer >= 1/],
    [['--json', '/nonexistent/dir/r.json'], /option '--json': the folder of \/nonexistent\/dir\/r\.json does not exist/],
    [['--learnable-alpha', 'maybe'], /option '--learnable-alpha' must be true or false/],
    [['--frobnicate', '1'], /unknown option '--frobnicate' for 'train'/],
  ])('refuses %j', (args, message) => {
    const r = run(['train', ...args]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  test('HHAR without its feature file: the error names the file and where it was sought', () => {
    const empty = fs.mkdtempSync(path.join(dir, 'empty-'));
    const r = run(['train', '--dataset', 'hhar', '--init', 'own', '--data-dir', empty]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/DGC_DATA: loadDataset: the features of 'hhar' \(hhar\.txt\[\.gz\]\) were not found/);
    expect(r.err).toContain(path.join(empty, 'hhar.txt'));
  });
});
