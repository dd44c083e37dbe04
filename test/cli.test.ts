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
