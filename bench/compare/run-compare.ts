// The comparison bench (issue 7): dgclust's kernels and training steps against the same computations in
// TensorFlow.js (backends 'wasm' and 'cpu') and, with --torch, PyTorch — one command, one report.
//
//   npm run bench [-- --quick] [-- --torch] [-- --device cuda] [-- --threads N] [-- --only gemm,spmm,...]
//                 [-- --impls dgclust,tfjs-wasm,...] [-- --mem-cap-gb G] [-- --record] [-- --keep-inputs] [-- --verbose]
//   npm run bench -- --from-json bench/results/FILE.json [--record]     (re-render a saved run)
//
// The parent builds the inputs once (graphs, features, weights → a temporary folder), then runs every
// implementation's cases in child processes, one per (implementation, group): a fresh process gives honest
// peak-memory figures (VmHWM) and contains failures — an out-of-memory case, a crash or a timeout ends that
// child only; the parent also kills a child whose RSS passes the memory cap, so nothing pushes this shared
// machine into the OOM killer. Results: a markdown report on stdout, JSON in bench/results/<machine>-<date>.json
// (…-quick.json for --quick), and with --record the machine's section of bench/RESULTS.md.
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { machine } from '../harness';
import type { Measurement } from './child';
import { buildPlan, GROUPS, IMPLS } from './plan';
import type { Case, Group, Impl, Kernel } from './plan';
import { prepareInputs } from './inputs';
import { collect, markdownTables, targetSummary, verdicts } from './report';
import { memAvailable } from './measure';

interface Options {
  quick: boolean;
  torch: boolean;
  device: 'cpu' | 'cuda';
  threads: number;
  impls: Impl[];
  only?: Kernel[];
  memCapBytes: number;
  caseTimeoutS: number;
  record: boolean;
  keepInputs: boolean;
  verbose: boolean;
  python: string;
}

function parseArgs(argv: string[]): Options {
  const arg = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const quick = argv.includes('--quick');
  const torch = argv.includes('--torch') || arg('--device') === 'cuda';
  const impls = (arg('--impls')?.split(',') as Impl[] | undefined) ?? IMPLS.filter((i) => i !== 'torch' || torch);
  for (const i of impls) if (!IMPLS.includes(i)) throw new Error(`--impls: unknown implementation '${i}' (known: ${IMPLS.join(', ')})`);
  const cap = arg('--mem-cap-gb');
  return {
    quick,
    torch,
    device: arg('--device') === 'cuda' ? 'cuda' : 'cpu',
    threads: Number(arg('--threads') ?? 2),
    impls,
    only: arg('--only')?.split(',') as Kernel[] | undefined,
    // Default cap: 70% of what the machine can hand out now (it is shared with other jobs).
    memCapBytes: cap ? Number(cap) * 2 ** 30 : 0.7 * memAvailable(),
    caseTimeoutS: Number(arg('--case-timeout') ?? (quick ? 120 : 1800)),
    record: argv.includes('--record'),
    keepInputs: argv.includes('--keep-inputs'),
    verbose: argv.includes('--verbose'),
    python: arg('--python') ?? process.env.DGCLUST_PYTHON ?? '/usr/bin/python3',
  };
}

const log = (s: string) => process.stderr.write(`${s}\n`);

function childRss(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

interface ChildRun {
  results: Measurement[];
  infos: Record<string, unknown>[];
  loadavg?: number[];
  /** Set when the process could not run at all (e.g. PyTorch missing). */
  unavailable?: string;
}

/** Runs one child to completion (or until it dies), enforcing the memory cap and the per-case timeout. */
function runChildOnce(cmd: string, args: string[], o: Options, tag: string): Promise<ChildRun & { running: string | null; died: string | null; started: string[] }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: path.join(__dirname, '..', '..') });
    const out: ChildRun & { running: string | null; died: string | null; started: string[] } = { results: [], infos: [], running: null, died: null, started: [] };
    let startedAt = Date.now();
    let killedFor: string | null = null;
    let buf = '';
    const onLine = (line: string) => {
      if (!line.startsWith('@@')) {
        if (o.verbose && line.trim()) log(`  [${tag}] ${line}`);
        return;
      }
      const sp = line.indexOf(' ');
      const kind = line.slice(2, sp < 0 ? undefined : sp);
      const rest = sp < 0 ? '' : line.slice(sp + 1);
      if (kind === 'START') {
        out.running = rest.trim();
        out.started.push(out.running);
        startedAt = Date.now();
      } else if (kind === 'RESULT') {
        const m = JSON.parse(rest) as Measurement;
        out.results.push(m);
        const t = m.status === 'ok' ? `${m.medianMs!.toFixed(m.medianMs! < 10 ? 3 : 1)} ms${m.cold ? ' (1 call)' : ` (${m.runs} runs)`}${m.peakMB !== undefined ? `, peak ${m.peakMB.toFixed(0)} MB` : ''}` : `${m.status}${m.note ? `: ${m.note}` : ''}`;
        log(`  [${tag}] ${m.caseId} ${m.part}: ${t}`);
      } else if (kind === 'INFO') {
        out.infos.push(JSON.parse(rest));
      } else if (kind === 'DONE') {
        out.running = null;
        out.loadavg = (JSON.parse(rest) as { loadavg: number[] }).loadavg;
      } else if (kind === 'UNAVAILABLE') {
        out.unavailable = rest;
      }
    };
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.length > 20000) err = err.slice(-10000);
      if (o.verbose) process.stderr.write(d);
    });
    const guard = setInterval(() => {
      if (child.pid === undefined || killedFor) return;
      const r = childRss(child.pid);
      if (r > o.memCapBytes) {
        killedFor = `killed: memory exceeded the cap (${(r / 2 ** 30).toFixed(2)} GB > ${(o.memCapBytes / 2 ** 30).toFixed(2)} GB)`;
        child.kill('SIGKILL');
      } else if (out.running && Date.now() - startedAt > o.caseTimeoutS * 1000) {
        killedFor = `killed: case timeout (${o.caseTimeoutS} s)`;
        child.kill('SIGKILL');
      }
    }, 200);
    child.on('close', (code, signal) => {
      clearInterval(guard);
      if (buf) onLine(buf);
      if (out.running) {
        const tail = err.trim().split('\n').slice(-3).join(' / ').slice(0, 200);
        out.died = killedFor ?? (signal === 'SIGKILL' ? 'killed by the system (likely out of memory)' : `crashed (exit ${code}${signal ? `, ${signal}` : ''}${tail ? `: ${tail}` : ''})`);
      } else if (code !== 0 && !out.unavailable && !out.results.length) {
        out.died = `failed to start (exit ${code}): ${err.trim().split('\n').slice(-3).join(' / ').slice(0, 300)}`;
      }
      resolve(out);
    });
  });
}

/** Runs all of one implementation's cases of one group, restarting the child after a case kills it. */
async function runGroup(impl: Impl, group: Group, cases: Case[], o: Options, planFile: string, inputsDir: string): Promise<ChildRun> {
  const all: ChildRun = { results: [], infos: [] };
  let remaining = cases.map((c) => c.id);
  const tag = `${impl}/${group}`;
  // Self-correlation and training steps: a fresh process per case, so each meets a fresh heap (tfjs-wasm's 4 GiB
  // heap fragments: a size that fits in a new process can fail after a smaller case) and has the process to itself.
  const perCase = group === 'selfcorr' || group === 'steps';
  while (remaining.length) {
    const batch = perCase ? remaining.slice(0, 1) : remaining;
    const common = ['--group', group, '--plan', planFile, '--inputs', inputsDir, '--threads', String(o.threads), '--cases', batch.join(','), ...(o.quick ? ['--quick'] : [])];
    const r = impl === 'torch'
      ? await runChildOnce(o.python, [path.join(__dirname, '..', 'torch', 'bench_torch.py'), ...common, '--device', o.device], o, tag)
      : await runChildOnce(process.execPath, ['--expose-gc', '-r', require.resolve('ts-node/register/transpile-only'), path.join(__dirname, 'child.ts'), '--impl', impl, ...common], o, tag);
    all.results.push(...r.results);
    all.infos.push(...r.infos);
    all.loadavg = r.loadavg ?? all.loadavg;
    if (r.unavailable) {
      all.unavailable = r.unavailable;
      return all;
    }
    if (!r.died) {
      remaining = remaining.slice(batch.length);
      // A self-correlation size that ran out of memory: larger N would too.
      if (group === 'selfcorr' && r.results.some((m) => m.status === 'failed' && /out of memory/.test(m.note ?? ''))) {
        const failed = cases.find((x) => x.id === batch[0])!;
        for (const id of remaining) for (const part of cases.find((x) => x.id === id)!.parts) all.results.push({ caseId: id, impl, part, status: 'skipped', note: `not run: ${failed.shape} ran out of memory` });
        return all;
      }
      continue;
    }
    if (!r.started.length) {
      // The process died before its first case (it could not start): report every remaining case as failed.
      for (const id of remaining) for (const part of cases.find((c) => c.id === id)!.parts) all.results.push({ caseId: id, impl, part, status: 'failed', note: r.died });
      log(`  [${tag}] ${r.died}`);
      return all;
    }
    const failedCase = r.running;
    const c = cases.find((x) => x.id === failedCase);
    if (c) {
      for (const part of c.parts) if (!r.results.some((m) => m.caseId === c.id && m.part === part)) all.results.push({ caseId: c.id, impl, part, status: 'failed', note: r.died });
    }
    log(`  [${tag}] ${failedCase}: ${r.died}`);
    const startedSet = new Set(r.started);
    remaining = remaining.filter((id) => !startedSet.has(id));
    if (group === 'selfcorr' && c) {
      // Larger N would fail the same way.
      for (const id of remaining) for (const part of cases.find((x) => x.id === id)!.parts) all.results.push({ caseId: id, impl, part, status: 'skipped', note: `not run: ${c.shape} already failed` });
      return all;
    }
  }
  return all;
}

function tryInstallTorch(o: Options): boolean {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return false;
  log('PyTorch is missing; running as root, so trying `apt-get install -y python3-torch` (this can take minutes)…');
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'python3-torch'], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 15 * 60 * 1000 });
  if (r.status !== 0) log('apt-get install python3-torch failed; install it by hand (`apt-get install python3-torch`, or `pip install torch`).');
  return r.status === 0 && spawnSync(o.python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

/** Replaces (or appends) this machine's block (one for --quick, one for full runs) in bench/RESULTS.md's comparison section. */
/** The run's kind as used in file names, record keys and titles: 'full', 'quick', or e.g. 'full-only-gemm+cluster'. */
function runKind(quick: boolean, only?: readonly string[]): string {
  return `${quick ? 'quick' : 'full'}${only && only.length ? `-only-${only.join('+')}` : ''}`;
}

/** Replaces (or adds) this machine's block for this kind of run (a run with --only gets its own block). */
function recordResults(markdown: string, machineName: string, quick: boolean, only?: readonly string[]): string {
  const file = path.join(__dirname, '..', 'RESULTS.md');
  const key = `${machineName}:${runKind(quick, only)}`;
  const begin = `<!-- compare:${key}:begin -->`;
  const end = `<!-- compare:${key}:end -->`;
  const section = '## dgclust vs TensorFlow.js and PyTorch (`npm run bench`)';
  let text = fs.readFileSync(file, 'utf8');
  const block = `${begin}\n${markdown.trim()}\n${end}`;
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i >= 0 && j > i) {
    text = text.slice(0, i) + block + text.slice(j + end.length);
  } else if (text.includes(section)) {
    const at = text.indexOf(section) + section.length;
    const nl = text.indexOf('\n## ', at);
    const insertAt = nl >= 0 ? nl : text.length;
    text = `${text.slice(0, insertAt).trimEnd()}\n\n${block}\n${text.slice(insertAt)}`;
  } else {
    text = `${text.trimEnd()}\n\n${section}\n\nTwo blocks per machine (the latest full run and the latest --quick run), replaced by \`npm run bench -- --record\`.\n\n${block}\n`;
  }
  fs.writeFileSync(file, text);
  return file;
}

/** What a run saves to bench/results/*.json (and what --from-json re-renders). */
export interface SavedRun {
  kind: 'compare';
  command: string;
  machine: ReturnType<typeof machine>;
  date: string;
  quick: boolean;
  /** The kernels of a run restricted with --only. */
  only?: Kernel[];
  threads: number;
  impls?: Impl[];
  loadavg: number[][];
  implementations: Record<string, Record<string, unknown>>;
  inputs: Record<string, unknown>;
  plan: Case[];
  measurements: Measurement[];
  torchMissing?: string;
}

/** The markdown report of a run, and its target verdicts. */
export function renderReport(r: SavedRun): { md: string; vs: ReturnType<typeof verdicts> } {
  const m = r.machine;
  const impls = r.impls ?? IMPLS.filter((i) => r.plan.some((c) => c.impls.includes(i)) || r.measurements.some((x) => x.impl === i));
  const results = collect(r.measurements);
  const vs = verdicts(r.plan, results, impls);
  const info = (i: Impl) => r.implementations[i] as Record<string, unknown> | undefined;
  const wasm = info('tfjs-wasm');
  const tcpu = info('tfjs-cpu');
  const torchI = info('torch');
  const titles: Record<Impl, string> = {
    dgclust: `dgclust (${r.threads} thr)`,
    'tfjs-wasm': 'tfjs-wasm (1 thr)',
    'tfjs-cpu': 'tfjs-cpu (1 thr)',
    torch: `torch-${torchI?.device ?? 'cpu'} (${torchI?.device === 'cuda' ? 'GPU' : `${torchI?.threads ?? r.threads} thr`})`,
  };
  // The bench's own threads count in the load average (dgclust and torch run 2): call the machine loaded only
  // when clearly more than that ran.
  const maxLoad = Math.max(...r.loadavg.map((l) => l[0]));
  const loaded = maxLoad > Math.max(3, 1.5 * m.cores);
  const graphInfo = Object.entries(r.inputs)
    .filter(([k]) => k.startsWith('graph/'))
    .map(([k, v]) => {
      const g = v as { n: number; nnz: number; source: string };
      return `${k.slice(6)}: N = ${g.n}, nnz(Â) = ${g.nnz} — ${g.source}`;
    });
  const md = [
    `### ${m.name} — ${r.date.slice(0, 10)}${r.quick ? ' (quick' : ' (full'}${r.only?.length ? `, only ${r.only.join(', ')}` : ''})`,
    '',
    `Command: \`${r.command}\`. Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB, ${m.platform}, node ${m.node}. dgclust: ${r.threads} threads` +
      `${tcpu || wasm ? `; TensorFlow.js ${String((wasm ?? tcpu)?.tfjs ?? '')} (wasm: ${wasm ? `${wasm.threads} thread, SIMD ${wasm.simd ? 'on' : 'off'}` : 'not run'}; cpu backend: plain JavaScript, 1 thread)` : ''}` +
      `${torchI ? `; PyTorch ${torchI.torch} on ${torchI.device}${torchI.gpu ? ` (${torchI.gpu})` : ''}, ${torchI.threads} threads` : r.torchMissing ? `; PyTorch: ${r.torchMissing}` : ''}.`,
    `Load average (1 min) sampled during the run: ${r.loadavg.map((l) => l[0].toFixed(1)).join(', ')}${loaded
      ? ` — **the machine was loaded (other jobs shared the ${m.cores} cores): absolute times are inflated and noisy, and dgclust's 2-thread calls suffer most (a descheduled worker stalls each parallel region); rerun on a quiet machine for final figures**`
      : ' (the bench\'s own threads included: a quiet machine)'}.`,
    '',
    'Cells: median ms (min–max) over repeated calls after warm-up; "(1 call)": a call slower than the cold-call limit was timed once. ' +
      '"X / dgclust" = that implementation\'s median ÷ dgclust\'s (the speedup of dgclust). Peak MB: peak RSS (VmHWM, reset at the start of each case) minus RSS before the case: ' +
      'everything the case allocates (its inputs, the model, what the timed calls allocate and what the runtime keeps) ("≤": an upper bound); ' +
      'for dgclust, the larger of that and its allocator\'s peak of live tensor bytes (RSS misses allocations that reuse pages the process already had). tfjs-node is not included: its install downloads libtensorflow, which this machine cannot do.',
    '',
    ...(graphInfo.length ? [`Inputs: ${graphInfo.join('; ')}.`, ''] : []),
    markdownTables(r.plan, results, { impls, titles }),
    '',
    targetSummary(vs),
  ].join('\n');
  return { md, vs };
}

/** --from-json FILE: print (and with --record, record) the report of a saved run again. */
function rerender(argv: string[]): void {
  const file = argv[argv.indexOf('--from-json') + 1];
  const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as SavedRun;
  const { md } = renderReport(saved);
  console.log(`\n${md}\n`);
  if (argv.includes('--record')) console.log(`updated ${path.relative(process.cwd(), recordResults(md, saved.machine.name, saved.quick, saved.only))}`);
}

export async function runCompare(argv: string[]): Promise<void> {
  if (argv.includes('--from-json')) return rerender(argv);
  const o = parseArgs(argv);
  const t0 = Date.now();
  const m = machine();
  const command = `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`;
  log(`dgclust comparison bench${o.quick ? ' (--quick)' : ''}: ${o.impls.join(', ')}; ${o.threads} threads for dgclust${o.torch ? ' and torch' : ''}; memory cap ${(o.memCapBytes / 2 ** 30).toFixed(1)} GB per child`);

  // PyTorch available? (with --torch)
  let torchMissing: string | null = null;
  if (o.impls.includes('torch')) {
    let ok = spawnSync(o.python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
    if (!ok) ok = tryInstallTorch(o);
    if (!ok) {
      torchMissing = `PyTorch is not importable by ${o.python}: install it with \`apt-get install python3-torch\` (or \`pip install torch\`), or pass --python /path/to/python3.`;
      log(torchMissing);
      o.impls = o.impls.filter((i) => i !== 'torch');
    }
  }

  const plan = buildPlan({ quick: o.quick, impls: o.impls, only: o.only });
  const inputsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgclust-bench-'));
  const planFile = path.join(inputsDir, 'plan.json');
  let all: Measurement[] = [];
  const infos = new Map<Impl, Record<string, unknown>>();
  const loads: number[][] = [os.loadavg()];
  try {
    log('preparing inputs…');
    const store = prepareInputs(inputsDir, plan, log);
    fs.writeFileSync(planFile, JSON.stringify(plan));
    for (const group of GROUPS) {
      for (const impl of IMPLS) {
        if (!o.impls.includes(impl)) continue;
        const cases = plan.filter((c) => c.group === group && c.impls.includes(impl));
        if (!cases.length) continue;
        log(`${impl} — ${group} (${cases.length} cases)`);
        const r = await runGroup(impl, group, cases, o, planFile, inputsDir);
        all = all.concat(r.results);
        for (const i of r.infos) infos.set(impl, { ...(infos.get(impl) ?? {}), ...i });
        if (r.loadavg) loads.push(r.loadavg);
        if (r.unavailable) {
          log(`${impl}: ${r.unavailable}`);
          torchMissing = r.unavailable;
          for (const c of plan) if (c.impls.includes(impl)) for (const part of c.parts) all.push({ caseId: c.id, impl, part, status: 'skipped', note: 'PyTorch unavailable' });
          o.impls = o.impls.filter((i) => i !== impl); // the later groups do not try again
          break;
        }
      }
    }
    const date = new Date().toISOString();
    const saved: SavedRun = {
      kind: 'compare', command, machine: m, date, quick: o.quick, only: o.only, threads: o.threads, impls: o.impls, loadavg: loads,
      implementations: Object.fromEntries(infos), inputs: store.manifest.info, plan, measurements: all,
      torchMissing: o.torch ? torchMissing ?? undefined : undefined,
    };
    const { md, vs } = renderReport(saved);
    console.log(`\n${md}\n`);

    const dir = path.join(__dirname, '..', 'results');
    fs.mkdirSync(dir, { recursive: true });
    const kind = runKind(o.quick, o.only);
    const file = path.join(dir, `${m.name}-${date.slice(0, 10)}${kind === 'full' ? '' : `-${kind}`}.json`);
    fs.writeFileSync(`${file}.tmp`, JSON.stringify({ ...saved, targets: vs }, null, 1));
    fs.renameSync(`${file}.tmp`, file);
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
    if (o.record) console.log(`updated ${path.relative(process.cwd(), recordResults(md, m.name, o.quick, o.only))}`);
    log(`total ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  } finally {
    if (!o.keepInputs) fs.rmSync(inputsDir, { recursive: true, force: true });
    else log(`inputs kept in ${inputsDir}`);
  }
}
