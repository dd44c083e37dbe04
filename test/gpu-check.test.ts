// The GPU check (scripts/gpu-check.sh) must not rot while no GPU is at hand. Who checks what:
//   * .ci/run runs the whole dry run (`scripts/gpu-check.sh --dry-run`) right after its cmake-js build: it builds
//     everything that would travel (dist/ with the parity runner, the CUDA variant, the standalone CUDA tests, node),
//     checks the size, unpacks it as the GPU machine would (checksums), and runs the CPU parts. That takes minutes
//     (the CUDA test binaries compile for two architectures), too slow for this suite.
//   * This file checks the cheap pieces in-process: the parity runner over the one shared table (on the CPU), the
//     script's arguments, the stage plan against the 8-minute budget, the report's tables, the Python side's syntax,
//     and — when a pack exists (.gpu/check/, e.g. after .ci/run's dry run) — its size and manifest. Pieces that need
//     what is absent skip visibly.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as dg from '../lib';
import { parityCases } from './parity/cases';
import { runParity } from './parity/runner';
import { dfcnSummary, renderMarkdown, stagesPlan, CheckReport } from '../scripts/gpu-check/check';

const root = path.resolve(__dirname, '..');
const hasCuda = dg.backends().find((b) => b.name === 'cuda')?.available === true;

describe('parity runner', () => {
  (hasCuda ? test.skip : test)('runs every case of the shared table (dry run on the CPU: forward and backward)', () => {
    const report = runParity({ dryRun: true });
    const ops = report.results.filter((r) => r.group === 'op parity (forward and backward)');
    expect(ops.map((r) => r.name)).toEqual(parityCases.map((c) => c.name));
    expect(ops.filter((r) => r.status !== 'ok')).toEqual([]);
    // Without a GPU the GPU-only groups are skipped, each naming why.
    const others = report.results.filter((r) => r.group !== 'op parity (forward and backward)');
    expect(others.length).toBeGreaterThan(20);
    for (const r of others) expect(r).toMatchObject({ status: 'skipped', message: expect.stringMatching(/^skipped: no CUDA device/) });
    expect(report.counts.fail).toBe(0);
  });
  if (hasCuda) test('skipped: the dry run (a GPU is here: test/cuda.parity.test.ts runs the table on it)', () => expect(hasCuda).toBe(true));

  test('without a GPU and without --dry-run, a missing device is a failure (the check expects one)', () => {
    if (hasCuda) return;
    const report = runParity({ only: /^matmul NN$/ });
    expect(report.results).toEqual([expect.objectContaining({ name: 'matmul NN', status: 'fail', message: expect.stringMatching(/^no CUDA device/) })]);
  });

  test('one table: the cases are written in test/parity/cases.ts only', () => {
    const files = fs.readdirSync(path.join(root, 'test'), { recursive: true }).map(String).filter((f) => f.endsWith('.ts'));
    // (The needle is assembled so that this file does not hold it.)
    const needle = ['name', ": 'matmul narrow (n = 10, k = 700: split-K)'"].join('');
    const holders = files.filter((f) => fs.readFileSync(path.join(root, 'test', f), 'utf8').includes(needle));
    expect(holders).toEqual([path.join('parity', 'cases.ts')]);
    for (const f of ['cuda.parity.test.ts', path.join('parity', 'runner.ts')]) {
      expect(fs.readFileSync(path.join(root, 'test', f), 'utf8')).toMatch(/from '\.\/(parity\/)?cases'/);
    }
  });
});

describe('scripts/gpu-check.sh arguments', () => {
  const run = (...args: string[]) => spawnSync('bash', [path.join(root, 'scripts', 'gpu-check.sh'), ...args], { encoding: 'utf8', cwd: root });
  test('--help describes the three modes', () => {
    const r = run('--help');
    expect(r.status).toBe(0);
    for (const m of ['--pack', '--dry-run', '--out DIR']) expect(r.stdout).toContain(`scripts/gpu-check.sh ${m}`);
  });
  test('an unknown argument, or no --out on the GPU machine, is refused (exit 2)', () => {
    expect(run('--bogus')).toMatchObject({ status: 2, stderr: expect.stringContaining("unknown argument '--bogus'") });
    expect(run()).toMatchObject({ status: 2, stderr: expect.stringContaining('--out DIR is required') });
  });
});

describe('the stage plan', () => {
  const plan = stagesPlan({ dryRun: false, tests: '/t', work: '/w' });
  const commands = plan.flatMap((s) => s.commands);
  test('stages in the issue\'s order: parity, errors, bench, dfcn', () => {
    expect(plan.map((s) => s.stage)).toEqual(['parity', 'errors', 'bench', 'dfcn']);
    expect(plan[0].commands.map((c) => path.basename(c.argv[c.argv[0] === process.execPath ? 1 : 0]))).toEqual(['runner.js', 'cuda_parity_test', 'cuda_fused_test']);
  });
  test('DFCN: 200 epochs on ACM, on CUDA and on the CPU, with the flags the CLI keeps', () => {
    const dfcn = plan[3].commands.map((c) => c.argv.slice(2).join(' '));
    expect(dfcn).toEqual([
      'train --model dfcn --dataset acm --backend cuda --epochs 200 --json /w/dfcn-cuda.json',
      'train --model dfcn --dataset acm --backend cpu --epochs 200 --json /w/dfcn-cpu.json',
    ]);
  });
  test('every command still gets its floor inside the default 450 s budget; the script adds unpacking and stays under 8 minutes', () => {
    expect(commands.reduce((a, c) => a + c.floorSeconds, 0)).toBeLessThanOrEqual(450);
    expect(fs.readFileSync(path.join(root, 'scripts', 'gpu-check.sh'), 'utf8')).toMatch(/^budget=450$/m);
  });
  test('the dry run runs DFCN on the CPU only, for 2 epochs', () => {
    const dry = stagesPlan({ dryRun: true, tests: '/t', work: '/w' });
    expect(dry[3].commands.map((c) => c.argv.slice(2).join(' '))).toEqual(['train --model dfcn --dataset acm --backend cpu --epochs 2 --json /w/dfcn-cpu.json']);
  });
});

describe('the report', () => {
  const dfcnJson = (acc: number, ms: number) => ({
    summary: { final: { acc: { mean: acc }, nmi: { mean: 0.7 } }, best: { acc: { mean: acc + 0.01 } } },
    runs: [{ timings: { epochTrainMs: ms, epochEvalMs: 5 } }],
    settings: { epochs: 200 },
    seconds: 12.5,
  });
  const report: CheckReport = {
    title: 'dgclust GPU check',
    dryRun: false,
    started: '2026-12-06T00:00:00.000Z',
    seconds: 300,
    budgetSeconds: 450,
    environment: { gpu: 'NVIDIA H100 80GB HBM3, 580.159.04, 81559 MiB', torch: '2.11.0 13.0', node: 'v20', cores: 16, cpu: 'x', build: { commit: 'abc', architectures: '80-real;90-real;90-virtual' } },
    stages: [
      { stage: 'bench', status: 'ok', commands: [
        { name: 'own', command: '', status: 'ok', seconds: 1, limitSeconds: 120, exitCode: 0, summary: '', report: { results: [{ key: 'gemm 3025x1870x500', id: 'gemm 3025x1870x500 dgclust', label: '', ms: 2, rate: '2.8 TFLOP/s', fractionOfLimit: 0.042 }] } },
        { name: 'cublas', command: '', status: 'ok', seconds: 1, limitSeconds: 30, exitCode: 0, summary: '', report: { results: [] } },
        { name: 'torch', command: '', status: 'ok', seconds: 1, limitSeconds: 90, exitCode: 0, summary: '', report: { results: [{ key: 'gemm 3025x1870x500', label: 'torch.mm', ms: 0.5 }] } },
      ] },
      { stage: 'dfcn', status: 'ok', commands: [
        { name: 'dgclust train --model dfcn --dataset acm --backend cuda', command: '', status: 'ok', seconds: 20, limitSeconds: 90, exitCode: 0, summary: '', report: dfcnJson(0.91, 8.25) },
        { name: 'dgclust train --model dfcn --dataset acm --backend cpu', command: '', status: 'ok', seconds: 60, limitSeconds: 100, exitCode: 0, summary: '', report: dfcnJson(0.905, 250) },
      ] },
    ],
  };
  test('kernels beside PyTorch, with the fraction of the H100 limit and the time ratio', () => {
    expect(renderMarkdown(report)).toContain('| gemm 3025x1870x500 | gemm 3025x1870x500 dgclust | 2.000 | 2.8 TFLOP/s | 4.2 % | torch.mm | 0.500 | 4.00 |');
  });
  test("DFCN's ACC and per-epoch time for both backends, read from the CLI's JSON", () => {
    const md = renderMarkdown(report);
    expect(md).toContain('| cuda | 200 | 91.00 | 92.00 | 70.00 | 8.3 | 5.0 | 12.5 |');
    expect(md).toContain('| cpu | 200 | 90.50 | 91.50 | 70.00 | 250.0 | 5.0 | 12.5 |');
    expect(dfcnSummary(undefined)).toBeNull();
  });
});

describe('the pack', () => {
  const manifest = path.join(root, '.gpu', 'check', 'manifest.json');
  const size = path.join(root, '.gpu', 'check', 'size.json');
  const packed = fs.existsSync(manifest) && fs.existsSync(size);
  (packed ? test : test.skip)('what travels fits the 64 MiB limit, and the manifest lists the four binaries with checksums', () => {
    const s = JSON.parse(fs.readFileSync(size, 'utf8'));
    expect(s.limit).toBe(64 * 2 ** 20);
    expect(s.total).toBeLessThanOrEqual(s.limit);
    const m = JSON.parse(fs.readFileSync(manifest, 'utf8'));
    expect(Object.keys(m.files).sort()).toEqual(['cuda_fused_test', 'cuda_parity_test', 'dgclust-cpu.node', 'dgclust-cuda.node']);
    for (const f of Object.values(m.files) as { sha256: string; xzBytes: number }[]) {
      expect(f.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(f.xzBytes).toBeGreaterThan(0);
    }
    expect(m.architectures).toBe('80-real;90-real;90-virtual');
  });
  if (!packed) test('skipped: no pack here (scripts/gpu-check.sh --pack or --dry-run makes .gpu/check/)', () => expect(packed).toBe(false));

  const python = spawnSync('sh', ['-c', 'command -v python3']).status === 0;
  (python ? test : test.skip)("torch_bench.py is valid Python, and says so (exit 3) where torch or a GPU is missing", () => {
    const file = path.join(root, 'scripts', 'gpu-check', 'torch_bench.py');
    const c = spawnSync('python3', ['-c', `import ast, sys; ast.parse(open(${JSON.stringify(file)}).read())`], { encoding: 'utf8' });
    expect(c.status).toBe(0);
    const r = spawnSync('python3', [file], { encoding: 'utf8', timeout: 120000 });
    expect([0, 1, 3]).toContain(r.status);
    if (r.status === 3) expect(r.stdout).toMatch(/^torch_bench: (no torch|torch sees no CUDA device)/);
  });
});
