// The command-line tool: the main job runs on the embedded data; bad options are refused clearly.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PassThrough } from 'stream';
import { execFileSync } from 'child_process';
import { COMMANDS } from '../lib/cli/main';
import { createProgress } from '../lib/cli/progress';
import { machineInfo } from '../lib/train/run';
import { machineLine } from '../lib/report/results-md';
import * as dg from '../lib';
import { runCli as run } from './helpers/cli';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgc-cli-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('info lists the cpu backend and why cuda is unavailable', async () => {
  const r = await run(['info']);
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/cpu\s+available/);
  expect(r.out).toMatch(/cuda\s+unavailable: /);
  expect(r.out).toMatch(/SIMD kernels: gemm (avx512|avx2|generic), attention (avx512|avx2|portable), recon (avx512|avx2|portable), spmm (avx512|avx2|portable)/);
});

describe('the SIMD kernel sets a run used are reported and recorded (results differ in rounding between sets)', () => {
  const kernelsIn = (env: Record<string, string>) => JSON.parse(execFileSync(process.execPath,
    ['-e', `console.log(JSON.stringify(require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'lib'))}).backends()[0].kernels))`],
    { env: { ...process.env, ...env }, encoding: 'utf8' })) as Record<string, string>;
  const distLib = path.join(__dirname, '..', 'dist', 'lib', 'index.js');
  const withDist = fs.existsSync(distLib) ? test : test.skip;
  if (!fs.existsSync(distLib)) console.warn(`SKIPPED: the kernel-set environment test needs ${distLib} (npm run build)`);

  test('backends() names each family\'s set; a run\'s machine record holds it; the tables\' machine line names the GEMM\'s', () => {
    const k = dg.backends().find((b) => b.name === 'cpu')!.kernels!;
    expect(k.gemm).toMatch(/^(avx512|avx2|generic)$/);
    for (const family of ['attention', 'recon', 'spmm'] as const) expect(k[family]).toMatch(/^(avx512|avx2|portable)$/);
    const machine = machineInfo();
    expect(machine.backends.find((b) => b.name === 'cpu')?.kernels).toEqual(k);
    expect(machineLine(machine as unknown as Record<string, unknown>)).toMatch(/, (AVX512|AVX2|portable) GEMM$/);
    // Files written before the kernel sets were recorded keep their old line.
    expect(machineLine({ cpu: 'AMD EPYC', cores: 2, backends: [{ name: 'cpu', available: true }] })).toBe('AMD EPYC, 2 cores');
    // The backend a run computed on is recorded; a CUDA run's line leads with the GPU and names no CPU kernel set.
    expect(machineInfo('cpu').device).toBe('cpu');
    expect(machineLine({ ...machine, device: 'cpu' })).toBe(machineLine(machine as unknown as Record<string, unknown>));
    const gpuRun = { device: 'cuda', cpu: 'Intel Xeon', cores: 16, backends: [{ name: 'cpu', available: true, kernels: { gemm: 'avx512' } },
      { name: 'cuda', available: true, device: 'NVIDIA H100 80GB HBM3 (0), 79.1 GiB, cc 9.0, 132 SMs' }] };
    expect(machineLine(gpuRun)).toBe('NVIDIA H100 80GB HBM3 (0), 79.1 GiB, cc 9.0, 132 SMs (CUDA backend), Intel Xeon, 16 cores');
  });

  withDist('DGCLUST_GEMM_KERNEL and DGCLUST_ATTENTION_KERNEL pick the set (the portable one runs everywhere); a name the CPU cannot run is ignored', () => {
    const best = dg.backends().find((b) => b.name === 'cpu')!.kernels!;
    expect(kernelsIn({ DGCLUST_GEMM_KERNEL: 'generic', DGCLUST_ATTENTION_KERNEL: 'portable' })).toMatchObject({ gemm: 'generic', attention: 'portable', recon: best.recon });
    expect(kernelsIn({ DGCLUST_GEMM_KERNEL: 'no-such-set' }).gemm).toBe(best.gemm);
  });
});

test('pretrain on the embedded ACM: the loss falls, --json and --save are written, nothing leaks', async () => {
  const before = dg.memory();
  const json = path.join(dir, 'run.json');
  const save = path.join(dir, 'ae.dgc');
  const r = await run(['pretrain', '--epochs', '2', '--seed', '3', '--json', json, '--save', save]);
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
  [['pretrain', '--bogus', '1'], /error: unknown option '--bogus'/],
  [['pretrain', '--epochs', '0'], /option '--epochs <N>' argument '0' is invalid\. It must be an integer >= 1\./],
  [['pretrain', '--epochs', 'ten'], /option '--epochs <N>' argument 'ten' is invalid\. It must be an integer >= 1\./],
  [['pretrain', '--epochs', ''], /option '--epochs <N>' argument '' is invalid/],
  [['pretrain', '--lr', '0'], /option '--lr <LR>' argument '0' is invalid\. It must be a number > 0\./],
  [['pretrain', '--lr', '-1e-3'], /option '--lr <LR>' argument '-1e-3' is invalid\. It must be a number > 0\./],
  [['pretrain', '--lr'], /option '--lr <LR>' argument missing/],
  [['pretrain', 'acm'], /too many arguments for 'pretrain'/],
  [['frobnicate'], /unknown command 'frobnicate'/],
  [[], /Usage: dgclust \[options\] \[command\]/],
  [['report'], /missing required argument 'run\.json'/],
  [['report', 'run.json', '--map-points', '10'], /option '--map-points <N>' argument '10' is invalid\. It must be an integer >= 50\./],
])('refuses %j with a clear message and exit code 2', async (args, pattern) => {
  const r = await run(args as string[]);
  expect(r.code).toBe(2);
  expect(r.err).toMatch(pattern as RegExp);
});

test('an unknown dataset, or one whose files are nowhere, fails with exit code 1 and a coded message', async () => {
  const unknown = await run(['pretrain', '--dataset', 'frobnicate', '--data-dir', dir]);
  expect(unknown.code).toBe(1);
  expect(unknown.err).toMatch(/DGC_ARG: loadDataset: unknown dataset 'frobnicate' \(known: acm, /);
});

test('a dataset dir without the files fails with exit code 1 naming the missing file', async () => {
  const r = await run(['pretrain', '--dataset', 'usps', '--data-dir', dir]);
  expect(r.code).toBe(1);
  expect(r.err).toMatch(/DGC_DATA/);
  expect(r.err).toMatch(/usps\.txt/);
});

describe('train --model dfcn', () => {
  test('on the embedded ACM with the shipped weights: table, --json per seed, --save, nothing leaks', async () => {
    const before = dg.memory().tensors;
    const json = path.join(dir, 'dfcn.json');
    const save = path.join(dir, 'dfcn.dgc');
    const r = await run(['train', '--model', 'dfcn', '--dataset', 'acm', '--epochs', '2', '--seeds', '2', '--json', json, '--save', save]);
    expect(r.err).toMatch(/dfcn on acm: 3025 rows, 1870 features, 3 clusters; cpu, \d+ threads; start: official pretrained weights/);
    expect(r.err).toMatch(/input: PCA: 1870 → 100 columns/);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\| final epoch, k-means on the embedding \(label-free\) \| \d+\.\d\d ± \d+\.\d\d \|/);
    expect(r.out).toMatch(/\| best epoch by ACC, k-means on the embedding \(selected with labels\) \|/);
    expect(r.out).toMatch(/\| final epoch, argmax Q \(secondary readout\) \(label-free\) \|/);
    expect(r.out).toMatch(/\| paper \(DFCN \(Tu et al\., AAAI 2021\), Table 2: mean ± std of 10 runs; .*\) \| 90\.90 ± 0\.20 \|/);
    const report = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(report.settings).toMatchObject({ dataset: 'acm', epochs: 2, lr: 5e-5, preset: 'acm', seeds: [0, 1] });
    expect(report.settings.init).toMatch(/^official pretrained weights/);
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.machine.device).toBe('cpu'); // the backend the runs computed on
    expect(report.dataset).toMatchObject({ name: 'acm', n: 3025, d: 1870, k: 3, hasLabels: true });
    expect(report.truth).toHaveLength(3025);
    expect(report.runs).toHaveLength(2);
    for (const run1 of report.runs) {
      expect(run1.epochs).toHaveLength(2);
      expect(run1.final.epoch).toBe(2);
      // The official pretrained weights already cluster ACM at ~88.6% (k-means on their fused embedding).
      expect(run1.final.metrics.acc).toBeGreaterThan(0.87);
      expect(run1.best.metrics.acc).toBeGreaterThanOrEqual(run1.final.metrics.acc);
      expect(run1.paperProtocol).toEqual({ rule: 'best-acc-epoch', metrics: run1.best.metrics });
      expect(run1.timings.epochTrainMs).toBeGreaterThan(0);
      expect(run1.predicted).toHaveLength(3025);
      // The final embedding beside the JSON, as .npy (Z̃: 3025 × 20).
      expect(run1.embedding).toMatchObject({ rows: 3025, cols: 20 });
      const emb = dg.readNpy(path.join(dir, run1.embedding.file));
      expect(emb.shape).toEqual([3025, 20]);
    }
    expect(report.summary.final.acc.mean).toBeCloseTo((report.runs[0].final.metrics.acc + report.runs[1].final.metrics.acc) / 2, 12);
    for (const s of [0, 1]) {
      const st = dg.loadState(`${save}.seed${s}`);
      expect(st.get('gamma')!.shape).toEqual([1]);
      for (const t of st.values()) t.dispose();
    }
    expect(dg.memory().tensors).toBe(before);
  });

  test('--json FILE.json.gz writes the same run gzip-compressed (the embedding beside it as FILE.seedS.embedding.npy)', async () => {
    const json = path.join(dir, 'dfcn-gz.json.gz');
    const r = await run(['train', '--model', 'dfcn', '--dataset', 'acm', '--epochs', '1', '--seeds', '1', '--json', json]);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`wrote ${json}`);
    expect([...fs.readFileSync(json).subarray(0, 2)]).toEqual([0x1f, 0x8b]);
    const report = dg.readRunFile(json);
    expect(report.runs.map((x) => x.seed)).toEqual([0]);
    expect(report.runs[0].epochs).toHaveLength(1);
    expect(report.runs[0].embedding!.file).toBe('dfcn-gz.seed0.embedding.npy');
    expect(dg.readNpy(path.join(dir, 'dfcn-gz.seed0.embedding.npy')).shape).toEqual([3025, 20]);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  test.each([
    [['--model', 'frob'], /option '--model <NAME>' argument 'frob' is invalid\. Allowed choices are dfcn, sdcn, ae, dec, idec, dccf/],
    [['--backend', 'gpu'], /option '--backend <NAME>' argument 'gpu' is invalid\. Allowed choices are auto, cpu, cuda\./],
    [['--threads', '0'], /option '--threads <N>' argument '0' is invalid\. It must be an integer >= 1\./],
    [['--report', '/nonexistent/dir/r.html'], /option '--report': the folder of \/nonexistent\/dir\/r\.html does not exist/],
    [['--init', '/nonexistent/weights'], /--init \/nonexistent\/weights: neither a state file nor a folder with manifest\.json/],
    [['--seeds', '0'], /option '--seeds <N>' argument '0' is invalid\. It must be an integer >= 1\./],
    [['--epochs', '2.5'], /option '--epochs <N>' argument '2\.5' is invalid\. It must be an integer\./],
    [['--epochs', '0'], /dfcn: option '--epochs' must be >= 1, got 0/],
    [['--lr', '0'], /dfcn: option '--lr' must be > 0, got 0/],
    [['--json', '/nonexistent/dir/r.json'], /option '--json': the folder of \/nonexistent\/dir\/r\.json does not exist/],
    [['--learnable-alpha', 'maybe'], /dfcn: option '--learnable-alpha' must be true or false, got "maybe"/],
    // The model's refusal names the flag as typed (the API's camelCase name would be 'knnK').
    [['--knn-k', '0', '--model', 'agcn'], /agcn: option '--knn-k' must be >= 1, got 0/],
    [['--frobnicate', '1'], /error: unknown option '--frobnicate'/],
    [['--epoch', '3'], /error: unknown option '--epoch'\n\(Did you mean --epochs\?\)/],
    [['--gamma', '0.1', '--model', 'dec'], /option '--gamma' does not apply to model 'dec' \(it is for dfcn, idec, dccf\)/],
    [['--labels', 'x.txt'], /option '--labels' goes with '--features'/],
    [['--checkpoint-every', '3'], /option '--checkpoint-every' needs '--checkpoint FILE'/],
  ])('refuses %j', async (args, message) => {
    const r = await run(['train', ...args]);
    expect(r.err).toMatch(message);
    expect(r.code).toBe(2);
  });

  test('HHAR without its feature file: the error names the file and where it was sought', async () => {
    const empty = fs.mkdtempSync(path.join(dir, 'empty-'));
    const r = await run(['train', '--dataset', 'hhar', '--init', 'own', '--data-dir', empty]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/DGC_DATA: loadDataset: the features of 'hhar' \(hhar\.txt\[\.gz\]\) were not found/);
    expect(r.err).toContain(path.join(empty, 'hhar.txt'));
  });
});

describe('conventions: help, version, quiet, JSON on stdout, exit codes', () => {
  test('--version prints the package version; --help lists every command and the exit codes', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8'));
    const v = await run(['--version']);
    expect(v).toEqual({ code: 0, out: pkg.version, err: '' });
    const h = await run(['--help']);
    expect(h.code).toBe(0);
    for (const name of Object.keys(COMMANDS)) expect(h.out).toMatch(new RegExp(`^  ${name}\\b.*${COMMANDS[name].summary.slice(0, 20).replace(/[()]/g, '.')}`, 'm'));
    expect(h.out).toMatch(/-q, --quiet/);
    expect(h.out).toMatch(/Exit codes: 0 success; 1 runtime error .*\n.*2 usage error/);
  });

  test.each(Object.keys(COMMANDS))("'%s --help' shows every option of the command's table with its default", async (name) => {
    const r = await run([name, '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(new RegExp(`^Usage: dgclust ${name} `));
    for (const o of COMMANDS[name].options) {
      // commander wraps long descriptions: compare with whitespace folded.
      const text = r.out.replace(/\s+/g, ' ');
      expect(text).toContain(`--${o.name}`);
      expect(text).toContain(o.description.split(' ').slice(0, 6).join(' '));
      if (o.default !== undefined) expect(text).toContain(`(default: ${o.default})`);
      if (o.choices) expect(text).toContain(`(choices: ${o.choices.map((c) => `"${c}"`).join(', ')})`);
    }
  });

  test('pretrain --json -: stdout is the JSON alone, the table goes to stderr', async () => {
    const r = await run(['pretrain', '--epochs', '1', '--json', '-']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({ command: 'pretrain', settings: { dataset: 'acm', epochs: 1 } });
    expect(r.err).toMatch(/dataset acm: 3025 nodes/);
    expect(r.err).toMatch(/\| acm \| 1 \|/);
  });

  test('train --quiet --json - --report FILE: JSON alone on stdout, nothing on stderr, and the report page', async () => {
    const html = path.join(dir, 'train-report.html');
    const r = await run(['train', '--epochs', '1', '--quiet', '--json', '-', '--report', html]);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const report = JSON.parse(r.out);
    expect(report.runs[0].epochs).toHaveLength(1);
    const page = fs.readFileSync(html, 'utf8');
    expect(page).toContain('<title>DFCN on acm — dgclust report</title>');
    expect(page).toContain('id="fig-metrics"');
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  test('train --report FILE without --json: the table on stdout, the page with its map (from memory), and no JSON or embedding file anywhere', async () => {
    const sub = fs.mkdtempSync(path.join(dir, 'report-only-'));
    const html = path.join(sub, 'page.html');
    const r = await run(['train', '--epochs', '1', '--report', html]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\| final epoch, k-means on the embedding \(label-free\) \| \d+\.\d\d \|/);
    expect(r.out).not.toContain('"command"');
    expect(r.err).toContain(`wrote ${html}`);
    expect(r.err).not.toMatch(/wrote -/);
    const page = fs.readFileSync(html, 'utf8');
    expect(page).toContain('<title>DFCN on acm — dgclust report</title>');
    // The embedding map is drawn from the embedding held in memory: no .npy is written for it.
    expect(page).toContain('id="fig-embedding"');
    expect(page).toContain('held in memory');
    expect(fs.readdirSync(sub)).toEqual(['page.html']);
  });
});

describe('the progress bar', () => {
  function fakeStream(isTTY: boolean): NodeJS.WriteStream & { text: () => string } {
    const chunks: string[] = [];
    const s = new PassThrough() as unknown as NodeJS.WriteStream & { text: () => string };
    Object.assign(s, { isTTY, columns: 120, write: (c: string) => (chunks.push(String(c)), true), text: () => chunks.join('') });
    return s;
  }

  test('draws on a terminal, keeps log lines above it, and ends on a new line', () => {
    const stream = fakeStream(true);
    const p = createProgress({ stream });
    expect(p.enabled).toBe(true);
    p.update(1, 4, 'epoch 1');
    p.log('a message');
    p.update(4, 4, 'epoch 4');
    p.stop();
    const text = stream.text();
    expect(text).toMatch(/█+░* 1\/4 \| .* \| epoch 1/);
    expect(text).toContain('\r\x1b[2Ka message\n');
    expect(text).toMatch(/4\/4 .*epoch 4/);
  });

  test.each([
    ['not a terminal', false, false],
    ['--quiet or --json -', true, true],
  ])('draws no bar, and nothing for a short run, when stderr is %s', (_why, isTTY, silent) => {
    const stream = fakeStream(isTTY);
    const p = createProgress({ stream, silent });
    expect(p.enabled).toBe(false);
    p.update(1, 2, 'x');
    p.stop();
    expect(stream.text()).toBe('');
  });

  test('off a terminal, writes a plain line at most once per interval (none when silent)', () => {
    let t = 0;
    const stream = fakeStream(false);
    const p = createProgress({ stream, plainEveryMs: 60_000, now: () => t });
    p.update(0, 100, 'pretraining 0/100');
    t = 59_000;
    p.update(10, 100, 'pretraining 10/100');
    expect(stream.text()).toBe('');
    t = 75_000;
    p.update(25, 100, 'pretraining 25/100');
    t = 80_000;
    p.update(26, 100, 'pretraining 26/100');
    t = 3_700_000;
    p.log('a message');
    p.update(99, 100, 'fine-tuning 4900/5000');
    p.stop();
    expect(stream.text()).toBe('progress 25% after 1m15s | pretraining 25/100\na message\n' +
      'progress 99% after 1h01m | fine-tuning 4900/5000\n');

    const quiet = fakeStream(false);
    const q = createProgress({ stream: quiet, silent: true, plainEveryMs: 1, now: () => (t += 1000) });
    q.update(1, 2, 'x');
    q.update(2, 2, 'y');
    expect(quiet.text()).toBe('');
  });
});

describe('models and your own data', () => {
  test('models lists every registry model with its presets and paper rows', async () => {
    const r = await run(['models']);
    expect(r.code).toBe(0);
    for (const m of ['dfcn', 'sdcn', 'ae', 'dec', 'idec']) expect(r.out).toMatch(new RegExp(`^${m}: `, 'm'));
    expect(r.out).toMatch(/presets: usps, hhar, reut, acm, dblp, cite/);
    expect(r.out).toMatch(/acm\s+ACC 90\.45±0\.18/);
  });

  test('models MODEL: each option with its bounds, its default and the presets that differ; an unknown model is a usage error', async () => {
    const r = await run(['models', 'cdc']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^cdc: CDC/);
    // Fashion-MNIST's pixels / 255 and the CIFAR-10 preset's own λ and rate, beside the defaults.
    expect(r.out).toContain('  --input-scale <number, > 0>\n      multiplies the features (1/255 for pixels)\n      default 1; presets: 0.00392157 (fmnist, mnist, coil20)\n');
    expect(r.out).toMatch(/--lambda <number, >= 0>\n.*\n      default 0\.001; presets: 0\.000001 \(cifar10\)\n/);
    expect(r.out).toMatch(/--lr <number, > 0>\n      fine-tuning SGD learning rate \(0\.01\)\n      default 0\.01; presets: 0\.1 \(cifar10\)\n/);
    expect(r.out).toMatch(/--normalization <row\|global>\n/);
    // Every option of the model is there, once.
    const { getModel } = await import('../lib/models/registry');
    for (const name of Object.keys(getModel('cdc').options)) {
      const flag = name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      expect(r.out.split('\n').filter((l) => l.startsWith(`  --${flag} <`))).toHaveLength(1);
    }
    const bad = await run(['models', 'frob']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/unknown model 'frob' \(known: dfcn, sdcn, ae, dec, idec, dccf, agcn, caegcn, cdc\)/);
  });

  // Four Gaussian blobs written as the user's files: CSV features with a header, labels, and no graph.
  const blobs = (() => {
    const rng = (() => { let s = 7; return () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31); })();
    const rows: string[] = ['f1,f2,f3,f4,f5,f6'];
    const labels: number[] = [];
    for (let i = 0; i < 160; i++) {
      const c = i % 4;
      labels.push(c);
      rows.push(Array.from({ length: 6 }, (_, j) => ((j % 4 === c ? 4 : 0) + (rng() - 0.5)).toFixed(4)).join(','));
    }
    return { csv: rows.join('\n') + '\n', labels: labels.join('\n') + '\n' };
  })();

  test('train --model sdcn on CSV features with labels and no graph: a kNN graph is built and said; no preset: defaults said', async () => {
    const f = path.join(dir, 'blobs.csv');
    const l = path.join(dir, 'blobs_labels.txt');
    fs.writeFileSync(f, blobs.csv);
    fs.writeFileSync(l, blobs.labels);
    const json = path.join(dir, 'blobs.json');
    const r = await run(['train', '--model', 'sdcn', '--features', f, '--labels', l, '--epochs', '3', '--ae-epochs', '2', '--knn-k', '5', '--json', json]);
    expect(r.err).toMatch(/settings: no sdcn preset for 'blobs': the documented defaults, with epochs = 3, knnK = 5, aeEpochs = 2/);
    expect(r.err).toMatch(/graph: none given, so kNN k = 5 \(heat\)/);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\| max of each metric over epochs, argmax Z \(labels; may mix epochs\) \|/);
    const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(rep.dataset).toMatchObject({ name: 'blobs', n: 160, d: 6, k: 4, hasLabels: true, edges: null });
    expect(rep.runs[0].epochs.filter((e: { phase: string }) => e.phase === 'pretrain-ae')).toHaveLength(2);
  });

  test('without labels: --clusters is required; with it, label-free output only', async () => {
    const f = path.join(dir, 'blobs.csv');
    const noK = await run(['train', '--model', 'ae', '--features', f, '--ae-epochs', '1']);
    expect(noK.code).toBe(2);
    expect(noK.err).toMatch(/without labels the number of clusters must be given \(--clusters K\)/);
    const ok = await run(['train', '--model', 'ae', '--features', f, '--ae-epochs', '1', '--clusters', '4']);
    expect(ok.code).toBe(0);
    expect(ok.err).toMatch(/no labels: label-free results only/);
    // k-means on the embedding fills every cluster: the count is said, and no collapse line follows.
    expect(ok.out).toMatch(/160 rows in 4 of the 4 clusters/);
    expect(ok.out).not.toMatch(/Fewer clusters than/);
  });

  test('a graph given to a model that uses none is said to be unused', async () => {
    const f = path.join(dir, 'blobs.csv');
    const g = path.join(dir, 'blobs-graph.txt');
    fs.writeFileSync(g, Array.from({ length: 160 }, (_, i) => `${i} ${(i + 4) % 160}`).join('\n') + '\n');
    const r = await run(['train', '--model', 'ae', '--features', f, '--graph', g, '--ae-epochs', '1', '--clusters', '4']);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`input: graph: ${g} not used (ae clusters the features alone)`);
  });

  test('raw-scale features: the scale note comes before training, and the divergence it warns of is explained', async () => {
    // Pixel-like values 0..255: IDEC's defaults (SGD 0.1, momentum 0.99) diverge within a few iterations.
    const f = path.join(dir, 'raw-pixels.csv');
    const rows = Array.from({ length: 90 }, (_, i) => Array.from({ length: 6 }, (_, j) => (i * 37 + j * 101 + (i % 3) * 80) % 256).join(','));
    fs.writeFileSync(f, rows.join('\n') + '\n');
    const r = await run(['train', '--model', 'idec', '--features', f, '--clusters', '3', '--pretrain-epochs', '2', '--max-iterations', '30']);
    expect(r.code).toBe(1);
    const note = r.err.indexOf('input: the features reach |x| = 255; ');
    expect(note).toBeGreaterThan(-1);
    expect(r.err).toContain('--input-scale 0.00392');
    // The note is printed before the run fails, i.e. before training.
    expect(note).toBeLessThan(r.err.indexOf('dgclust: DGC_VALUE: idec '));
    expect(r.err).toMatch(/probably diverged: a smaller learning rate, or features scaled to about \[0, 1\]/);
  });

  test('features and labels that disagree in N are refused naming both files', async () => {
    const f = path.join(dir, 'blobs.csv');
    const l = path.join(dir, 'short_labels.txt');
    fs.writeFileSync(l, '0\n1\n2\n');
    const r = await run(['train', '--model', 'ae', '--features', f, '--labels', l]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${l} has 3 labels but ${f} has 160 rows`);
  });

  test('a prediction that puts every row in one cluster is said in words beside the table (CaEGCN on ACM, 2 epochs)', async () => {
    // CaEGCN's prediction head starts collapsed on ACM (near-uniform attention over 3,025 nodes makes every row's
    // output the same: docs/RESULTS.md); one head and one AE epoch keep this to seconds.
    const r = await run(['train', '--model', 'caegcn', '--dataset', 'acm', '--epochs', '2', '--ae-epochs', '1', '--heads', '1', '-q']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\| final epoch, argmax Z \(label-free\) \| 35\.07 \| 0\.00 \|/);
    expect(r.out).toContain('Fewer clusters than the 3 asked for in the final labels (seed 0: 1): some clusters are empty at the end of training.');
  }, 120000);
});
