// The GPU check's driver (scripts/gpu-check.sh runs it after unpacking the binaries): the stages in order, each a
// child process with a time limit, none stopping the next on a failure, and after every stage one JSON and one
// markdown report (plus a log of the stages' output) written to --out, so a check stopped from outside still leaves
// what it finished.
//
//   node dist/scripts/gpu-check/check.js --out DIR --tests DIR [--dry-run] [--budget SECONDS]
//
// Stages: environment; parity (the shared table through test/parity/runner.ts, then the standalone cuda_parity_test
// and cuda_fused_test); errors (scripts/gpu-check/errors.ts); bench (bench.ts with dgclust's GEMM, bench.ts's GEMM
// with cuBLAS, torch_bench.py); dfcn (`dgclust train --model dfcn --dataset acm` on CUDA and on the CPU, 200 epochs).
// --budget (default 450 s) bounds the whole run: each command gets at most its own cap and what is left of the
// budget after the floors of the commands still to come. --dry-run (a machine without a GPU): the CPU parts only —
// the parity runner on the CPU, the standalone tests' "skipped" exit, the fallback check, the benchmark code at tiny
// sizes on the CPU, and a 2-epoch DFCN run on the CPU.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.resolve(__dirname, '..', '..', '..');
const dist = path.join(root, 'dist');

export type Status = 'ok' | 'fail' | 'timeout' | 'skipped' | 'not run';

export interface CommandResult {
  name: string;
  command: string;
  status: Status;
  seconds: number;
  limitSeconds: number;
  exitCode: number | null;
  /** The parsed JSON report of the command, when it writes one. */
  report?: unknown;
  /** One line: what came out. */
  summary: string;
}

export interface StageResult {
  stage: string;
  status: Status;
  commands: CommandResult[];
}

export interface CheckReport {
  title: string;
  dryRun: boolean;
  started: string;
  seconds: number;
  budgetSeconds: number;
  environment: Record<string, unknown>;
  stages: StageResult[];
}

interface Planned {
  name: string;
  argv: string[];
  env?: Record<string, string>;
  capSeconds: number;
  floorSeconds: number;
  /** A file the command writes its JSON report to (read back into the report). */
  json?: string;
  summarize: (r: { status: Status; stdout: string; report?: unknown }) => string;
}

function sh(cmd: string): string {
  const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8', timeout: 20000 });
  return r.status === 0 ? r.stdout.trim() : '';
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

const worst = (statuses: Status[]): Status =>
  statuses.includes('fail') ? 'fail' : statuses.includes('timeout') ? 'timeout' : statuses.every((s) => s === 'skipped' || s === 'not run') ? (statuses.includes('not run') ? 'not run' : 'skipped') : 'ok';

export function stagesPlan(opts: { dryRun: boolean; tests: string; work: string }): { stage: string; commands: Planned[] }[] {
  const node = process.execPath;
  const { dryRun, tests, work } = opts;
  const dry = dryRun ? ['--dry-run'] : [];
  const json = (name: string) => path.join(work, `${name}.json`);
  const lastLine = (s: string) => s.trim().split('\n').filter(Boolean).pop() ?? '';
  const acm = (device: 'cuda' | 'cpu'): Planned => ({
    name: `dgclust train --model dfcn --dataset acm --backend ${device}`,
    argv: [node, path.join(dist, 'lib', 'cli', 'main.js'), 'train', '--model', 'dfcn', '--dataset', 'acm', '--backend', device,
      '--epochs', dryRun ? '2' : '200', '--json', json(`dfcn-${device}`)],
    capSeconds: device === 'cuda' ? 90 : 100,
    floorSeconds: 20,
    json: json(`dfcn-${device}`),
    summarize: ({ report }) => {
      const d = dfcnSummary(report);
      return d ? `ACC final ${d.accFinal} / best ${d.accBest}; ${d.trainMs} ms per training epoch + ${d.evalMs} ms k-means` : 'no report';
    },
  });
  return [
    {
      stage: 'parity',
      commands: [
        {
          name: 'parity runner (the shared case table, dgclust GEMM kernels)',
          argv: [node, path.join(dist, 'test', 'parity', 'runner.js'), ...dry, '--json', json('parity')],
          // The JS table checks the built-in GEMM (cuBLAS: cuda_parity_test below, and the benchmark) and the
          // determinism of its split-K and tile choice.
          env: { DGCLUST_CUBLAS: '0' },
          capSeconds: 90,
          floorSeconds: 20,
          json: json('parity'),
          summarize: ({ stdout }) => lastLine(stdout),
        },
        {
          name: 'cuda_parity_test (standalone, quick: no timings)',
          argv: [path.join(tests, 'cuda_parity_test')],
          env: { DGCLUST_PARITY_QUICK: '1' },
          capSeconds: 60,
          floorSeconds: 10,
          summarize: ({ stdout }) => lastLine(stdout),
        },
        {
          name: 'cuda_fused_test --no-bench (standalone)',
          argv: [path.join(tests, 'cuda_fused_test'), '--no-bench'],
          capSeconds: 60,
          floorSeconds: 10,
          summarize: ({ stdout }) => lastLine(stdout),
        },
      ],
    },
    {
      stage: 'errors',
      commands: [
        {
          name: "out of device memory; fallback under CUDA_VISIBLE_DEVICES=''",
          argv: [node, path.join(dist, 'scripts', 'gpu-check', 'errors.js'), ...dry, '--json', json('errors')],
          capSeconds: 45,
          floorSeconds: 10,
          json: json('errors'),
          summarize: ({ report }) => {
            const r = (report as { results?: { status: string }[] } | undefined)?.results ?? [];
            return `${r.filter((x) => x.status === 'ok').length} ok, ${r.filter((x) => x.status === 'fail').length} failed, ${r.filter((x) => x.status === 'skipped').length} skipped`;
          },
        },
      ],
    },
    {
      stage: 'bench',
      commands: [
        {
          name: "kernels, dgclust (dgclust's own GEMM)",
          argv: [node, path.join(dist, 'scripts', 'gpu-check', 'bench.js'), ...dry, '--json', json('bench-dgclust')],
          env: { DGCLUST_CUBLAS: '0' },
          capSeconds: 120,
          floorSeconds: 30,
          json: json('bench-dgclust'),
          summarize: ({ report }) => `${((report as { results?: unknown[] } | undefined)?.results ?? []).length} results`,
        },
        {
          name: 'GEMM, dgclust with cuBLAS loaded at run time',
          argv: [node, path.join(dist, 'scripts', 'gpu-check', 'bench.js'), ...dry, '--only', 'gemm', '--json', json('bench-cublas')],
          capSeconds: 30,
          floorSeconds: 10,
          json: json('bench-cublas'),
          summarize: ({ report }) => `provider ${(report as { gemm?: string } | undefined)?.gemm ?? '?'}`,
        },
        {
          name: 'kernels, PyTorch',
          argv: ['python3', path.join(root, 'scripts', 'gpu-check', 'torch_bench.py'), '--json', json('bench-torch')],
          capSeconds: 90,
          floorSeconds: 20,
          json: json('bench-torch'),
          summarize: ({ stdout, report }) => (report ? `${((report as { results?: unknown[] }).results ?? []).length} results (torch ${(report as { torch?: string }).torch})` : lastLine(stdout)),
        },
      ],
    },
    { stage: 'dfcn', commands: dryRun ? [acm('cpu')] : [acm('cuda'), acm('cpu')] },
  ];
}

export function dfcnSummary(report: unknown): { accFinal: string; accBest: string; nmiFinal: string; trainMs: string; evalMs: string; seconds: string; epochs: number } | null {
  // Read defensively: the CLI's report may gain fields.
  const r = report as {
    summary?: { final?: { acc?: { mean?: number }; nmi?: { mean?: number } }; best?: { acc?: { mean?: number } } };
    runs?: { timings?: { epochTrainMs?: number; epochEvalMs?: number }; epochs?: unknown[] }[];
    settings?: { epochs?: number };
    seconds?: number;
  } | undefined;
  if (!r?.summary) return null;
  const pct = (x?: number) => (x === undefined ? '?' : (100 * x).toFixed(2));
  const t = r.runs?.[0]?.timings;
  return {
    accFinal: pct(r.summary.final?.acc?.mean),
    accBest: pct(r.summary.best?.acc?.mean),
    nmiFinal: pct(r.summary.final?.nmi?.mean),
    trainMs: t?.epochTrainMs === undefined ? '?' : t.epochTrainMs.toFixed(1),
    evalMs: t?.epochEvalMs === undefined ? '?' : t.epochEvalMs.toFixed(1),
    seconds: r.seconds === undefined ? '?' : r.seconds.toFixed(1),
    epochs: r.settings?.epochs ?? 0,
  };
}

function environment(dryRun: boolean): Record<string, unknown> {
  const manifest = readJson(path.join(root, '.gpu', 'check', 'manifest.json'));
  return {
    host: os.hostname(),
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    node: process.version,
    gpu: sh('nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader') || 'no nvidia-smi',
    torch: sh('python3 -c "import torch; print(torch.__version__, torch.version.cuda)"') || 'no torch',
    cublasDirs: process.env.LD_LIBRARY_PATH ?? '',
    build: manifest,
    dryRun,
  };
}

export function renderMarkdown(r: CheckReport): string {
  const lines: string[] = [];
  const cell = (s: unknown) => String(s ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
  lines.push(`# ${r.title}`, '');
  const env = r.environment as Record<string, unknown>;
  const build = env.build as { commit?: string; dirty?: boolean; architectures?: string } | undefined;
  lines.push(`- started ${r.started}, ${r.seconds.toFixed(0)} s of a ${r.budgetSeconds} s budget${r.dryRun ? ' — **dry run** (no GPU: the CPU parts only)' : ''}`);
  lines.push(`- GPU: ${cell(env.gpu)}; torch: ${cell(env.torch)}; node ${cell(env.node)}; ${cell(env.cores)} cores (${cell(env.cpu)})`);
  if (build) lines.push(`- build: commit ${cell(build.commit)}${build.dirty ? ' (uncommitted changes)' : ''}, CUDA architectures ${cell(build.architectures)}`);
  lines.push('', '| stage | command | status | time | result |', '|---|---|---|---|---|');
  for (const s of r.stages) {
    for (const c of s.commands) {
      lines.push(`| ${s.stage} | ${cell(c.name)} | ${c.status} | ${c.seconds.toFixed(1)} s of ${c.limitSeconds.toFixed(0)} | ${cell(c.summary)} |`);
    }
  }
  const find = (stage: string, i: number) => r.stages.find((s) => s.stage === stage)?.commands[i];

  const parity = find('parity', 0)?.report as { results?: { group: string; name: string; status: string; message?: string }[] } | undefined;
  if (parity?.results) {
    lines.push('', '## Parity (the shared table)', '');
    const groups = [...new Set(parity.results.map((x) => x.group))];
    lines.push('| group | ok | failed | skipped |', '|---|---|---|---|');
    for (const g of groups) {
      const inG = parity.results.filter((x) => x.group === g);
      lines.push(`| ${cell(g)} | ${inG.filter((x) => x.status === 'ok').length} | ${inG.filter((x) => x.status === 'fail').length} | ${inG.filter((x) => x.status === 'skipped').length} |`);
    }
    const failed = parity.results.filter((x) => x.status === 'fail');
    if (failed.length) {
      lines.push('', 'Failures:', '');
      for (const f of failed.slice(0, 40)) lines.push(`- [${cell(f.group)}] ${cell(f.name)}: ${cell((f.message ?? '').split('\n')[0].slice(0, 300))}`);
    }
  }

  const errors = find('errors', 0)?.report as { results?: { name: string; status: string; detail: string }[] } | undefined;
  if (errors?.results) {
    lines.push('', '## Error paths', '', '| check | status | detail |', '|---|---|---|');
    for (const e of errors.results) lines.push(`| ${cell(e.name)} | ${e.status} | ${cell(e.detail.slice(0, 300))} |`);
  }

  type B = { key: string; id: string; label: string; ms: number; rate: string; fractionOfLimit: number; notes?: string };
  const own = ((find('bench', 0)?.report as { results?: B[] } | undefined)?.results ?? []);
  const cub = ((find('bench', 1)?.report as { results?: B[] } | undefined)?.results ?? []);
  const torch = ((find('bench', 2)?.report as { results?: { key: string; label: string; ms: number; notes?: string }[] } | undefined)?.results ?? []);
  if (own.length || cub.length || torch.length) {
    lines.push('', '## Kernels vs the H100\'s limits (HBM 3.35 TB/s, FP32 67 TFLOP/s) and vs PyTorch', '');
    lines.push('| case | dgclust | time (ms) | rate | of the H100 limit | PyTorch | PyTorch (ms) | dgclust / PyTorch |', '|---|---|---|---|---|---|---|---|');
    for (const b of [...own, ...cub]) {
      const t = torch.filter((x) => x.key === b.key);
      const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '—');
      if (!t.length) lines.push(`| ${cell(b.key)} | ${cell(b.id)} | ${fmt(b.ms)} | ${cell(b.rate)} | ${Number.isFinite(b.fractionOfLimit) ? `${(100 * b.fractionOfLimit).toFixed(1)} %` : cell(b.notes)} | — | — | — |`);
      for (const x of t) {
        lines.push(`| ${cell(b.key)} | ${cell(b.id)} | ${fmt(b.ms)} | ${cell(b.rate)} | ${Number.isFinite(b.fractionOfLimit) ? `${(100 * b.fractionOfLimit).toFixed(1)} %` : cell(b.notes)} | ${cell(x.label)} | ${fmt(x.ms)} | ${Number.isFinite(b.ms) && x.ms > 0 ? (b.ms / x.ms).toFixed(2) : '—'} |`);
      }
    }
  }

  const dfcn = r.stages.find((s) => s.stage === 'dfcn')?.commands ?? [];
  if (dfcn.length) {
    lines.push('', '## DFCN on ACM (`dgclust train --model dfcn --dataset acm`)', '');
    lines.push('| backend | epochs | ACC final | ACC best | NMI final | ms / training epoch | ms / k-means evaluation | total (s) |', '|---|---|---|---|---|---|---|---|');
    for (const c of dfcn) {
      const d = dfcnSummary(c.report);
      const backend = /--backend (\w+)/.exec(c.name)?.[1] ?? '?';
      lines.push(d ? `| ${backend} | ${d.epochs} | ${d.accFinal} | ${d.accBest} | ${d.nmiFinal} | ${d.trainMs} | ${d.evalMs} | ${d.seconds} |` : `| ${backend} | — | ${c.status} | | | | | |`);
    }
  }
  lines.push('');
  return lines.join('\n');
}

function main(argv: string[]): number {
  const get = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const out = get('--out');
  const tests = get('--tests');
  if (!out || !tests) {
    console.error('usage: check.js --out DIR --tests DIR [--dry-run] [--budget SECONDS]');
    return 2;
  }
  const dryRun = argv.includes('--dry-run');
  const budget = Number(get('--budget') ?? 450);
  fs.mkdirSync(out, { recursive: true });
  // The commands' own JSON reports go to a scratch folder and into gpu-check.json: DIR holds three files only (the
  // device tool brings back at most 8).
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'dgclust-gpu-check-'));
  const t0 = Date.now();
  const deadline = t0 + budget * 1000;
  const report: CheckReport = {
    title: `dgclust GPU check${dryRun ? ' (dry run)' : ''}`,
    dryRun,
    started: new Date(t0).toISOString(),
    seconds: 0,
    budgetSeconds: budget,
    environment: environment(dryRun),
    stages: [],
  };
  const logFile = path.join(out, 'gpu-check.log');
  fs.writeFileSync(logFile, '');
  const write = () => {
    report.seconds = (Date.now() - t0) / 1000;
    fs.writeFileSync(path.join(out, 'gpu-check.json'), JSON.stringify(report, null, 1));
    fs.writeFileSync(path.join(out, 'gpu-check.md'), renderMarkdown(report));
  };
  write();
  const plan = stagesPlan({ dryRun, tests, work });
  const all = plan.flatMap((s) => s.commands);
  let index = 0;
  for (const { stage, commands } of plan) {
    const st: StageResult = { stage, status: 'ok', commands: [] };
    report.stages.push(st);
    for (const c of commands) {
      index++;
      const laterFloors = all.slice(index).reduce((a, x) => a + x.floorSeconds, 0);
      const left = (deadline - Date.now()) / 1000 - laterFloors;
      const limit = Math.min(c.capSeconds, Math.max(c.floorSeconds, left));
      const command = c.argv.map((a) => (a.includes(' ') ? JSON.stringify(a) : a)).join(' ');
      const result: CommandResult = { name: c.name, command, status: 'not run', seconds: 0, limitSeconds: limit, exitCode: null, summary: '' };
      st.commands.push(result);
      if ((deadline - Date.now()) / 1000 < 5) {
        result.summary = 'not run: the budget is spent';
        write();
        continue;
      }
      console.log(`== ${stage}: ${c.name} (at most ${limit.toFixed(0)} s)`);
      const s0 = Date.now();
      const r = spawnSync(c.argv[0], c.argv.slice(1), {
        cwd: root,
        env: { ...process.env, ...c.env, DGCLUST_GPUCHECK_DEADLINE: String(s0 + limit * 1000) },
        encoding: 'utf8',
        timeout: limit * 1000,
        killSignal: 'SIGKILL',
        maxBuffer: 64 << 20,
      });
      result.seconds = (Date.now() - s0) / 1000;
      result.exitCode = r.status;
      const stdout = r.stdout ?? '';
      const stderr = r.stderr ?? '';
      if (r.error && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') result.status = 'timeout';
      else if (r.error) result.status = 'fail';
      else if (r.status === 0) result.status = 'ok';
      // torch_bench.py exits 3 when there is no torch or no GPU: not run, said why (a dry run expects it).
      else if (r.status === 3 && c.argv[0] === 'python3') result.status = dryRun ? 'skipped' : 'not run';
      else result.status = 'fail';
      if (c.json) result.report = readJson(c.json);
      // Standalone tests without a device print "skipped: no CUDA device" and exit 0.
      if (result.status === 'ok' && /^skipped: no CUDA device/m.test(stdout)) result.status = dryRun ? 'skipped' : 'fail';
      result.summary = `${result.status === 'timeout' ? `stopped at ${limit.toFixed(0)} s; ` : ''}${c.summarize({ status: result.status, stdout, report: result.report })}`;
      fs.appendFileSync(logFile, `\n===== ${stage}: ${c.name}\n$ ${command}\n${result.status} after ${result.seconds.toFixed(1)} s (exit ${r.status})\n--- stdout (last 40 kB)\n${stdout.slice(-40000)}\n--- stderr (last 10 kB)\n${stderr.slice(-10000)}\n`);
      console.log(`   ${result.status} in ${result.seconds.toFixed(1)} s: ${result.summary}`);
      write();
    }
    st.status = worst(st.commands.map((c) => c.status));
    write();
  }
  write();
  fs.rmSync(work, { recursive: true, force: true });
  const failed = report.stages.filter((s) => s.status === 'fail' || s.status === 'timeout' || (s.status === 'not run' && !dryRun));
  console.log(`gpu check: ${report.stages.map((s) => `${s.stage} ${s.status}`).join(', ')} in ${report.seconds.toFixed(0)} s; reports in ${out}`);
  return failed.length ? 1 : 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
