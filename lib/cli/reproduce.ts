// `dgclust reproduce <model> [--datasets a,b] [--seeds 10] [--out DIR] …`: a paper's protocol on every dataset
// we hold for the model, one JSON per (dataset, seed) run, resumable, then the model's section of RESULTS.md.
//
// Datasets: those named, or every dataset with a preset of the model or a row in its paper's table, in that order,
// whose files are found (the others are skipped with the reason: e.g. HHAR's and REUT's feature matrices are not
// public). Settings: the model's preset for the dataset, with the model options given on the command line (which
// make the runs a variant of the preset, labelled as such in the tables). Start: `--init official|own|FILE`, as
// `dgclust train` (DFCN: its official weights by default where the data folders hold them).
//
// Resuming: a run is done when a run of the same model, dataset, variant and seed is found in any JSON file under
// --results or --out (files of `dgclust train --json` count too), so a killed job continues where it stopped and
// nothing is computed twice. Each finished run is written at once, atomically, to
// <out>/<model>-<dataset>[-<variant>]-s<seed>.json in the RUN.json format (`dgclust report` reads it).
//
// Tables: lib/report/results-md.ts renders the model's section from every JSON file under --results and --out
// and replaces the text between its markers in --results-md; --tables-only does only that.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ChildProcess, spawn } from 'child_process';
import { getModel, modelNames, resolveSettings } from '../models/registry';
import { fromDataset } from '../models/types';
import type { ClusteringData } from '../models/types';
import { datasetNames, loadDatasetAsync, locateDataset, dataDirs, FEATURES_NOT_PUBLIC } from '../data/registry';
import { trainModel, reportJson } from '../train/run';
import type { TrainModelRequest } from '../train/run';
import { native, packageRoot } from '../native';
import { writeFileAtomic } from '../io/files';
import { readCheckpointMeta } from '../io/checkpoint';
import { runFileContent, runJsonText } from '../report/run-file';
import {
  describeVariant, loadResults, modelHeading, renderModelSection, spliceSection, variantSlug, defaultInit,
  beginMarker, endMarker, renderOverview, OVERVIEW_SECTION,
} from '../report/results-md';
import type { RunEntry, Variant } from '../report/results-md';
import { CliError, modelOverrides, optionError, officialWeightsDir, pickDevice, resolveInit } from './train';
import type { TrainCliOptions } from './train';
import { DgcError } from '../tensor';
import { formatDuration } from './progress';
import type { Progress } from './progress';

/** The reproduce command's own options (everything else is a model option). */
export const REPRODUCE_FLAGS = [
  'datasets', 'seeds', 'seed', 'out', 'results', 'results-md', 'data-dir', 'pretrain-cache', 'threads', 'init', 'backend', 'tables-only',
  'skip-tables', 'jobs', 'checkpoint-dir', 'checkpoint-every',
] as const;

interface PlannedDataset {
  name: string;
  /** The start's CLI value for this dataset: 'official', 'own' or a weights path. */
  init: string;
  variant: Variant;
  settings: Record<string, unknown>;
  preset: string | null;
  seeds: number[];
  done: Map<number, string>;
}

/** A path as said to the user: relative to the working folder when inside it. */
const rel = (f: string): string => {
  const r = path.relative(process.cwd(), f);
  return r && !r.startsWith('..') && !path.isAbsolute(r) ? r : r === '' ? '.' : path.resolve(f);
};

function seedRangeText(seeds: number[]): string {
  return seeds.length === 1 ? `seed ${seeds[0]}` : `seeds ${seeds[0]}–${seeds[seeds.length - 1]}`;
}

/** The run's RUN.json settings as the tables read them, before it ran (for matching it against finished runs). */
function plannedSettings(dataset: string, preset: string | null, init: string, settings: Record<string, unknown>): Record<string, unknown> {
  const label = init === 'official' ? 'official pretrained weights' : init === 'own' ? 'own pretraining' : `weights from ${path.resolve(init)}`;
  return { dataset, preset, init: label, start: label, ...settings };
}

export interface ReproduceOutcome {
  ran: number;
  reused: number;
  skipped: string[];
  resultsMd: string;
}

export async function reproduceCommand(model: string, o: TrainCliOptions, progress: Progress, say: (line: string) => void): Promise<ReproduceOutcome> {
  if (!modelNames().includes(model)) throw new CliError(`unknown model '${model}' (known: ${modelNames().join(', ')})`);
  const spec = getModel(model);
  const overrides = modelOverrides(o, model, REPRODUCE_FLAGS);
  const dataDir = o['data-dir'] as string | undefined;
  if (dataDir !== undefined && !fs.existsSync(dataDir)) throw new CliError(`option '--data-dir': the folder ${dataDir} does not exist`);
  const out = path.resolve(String(o.out ?? path.join('docs', 'results', model)));
  const results = path.resolve(String(o.results ?? path.join('docs', 'results')));
  const resultsMd = path.resolve(String(o['results-md'] ?? path.join('docs', 'RESULTS.md')));
  if (!fs.existsSync(path.dirname(resultsMd))) throw new CliError(`option '--results-md': the folder of ${resultsMd} does not exist`);
  const flag = (name: string) => (o[name] as unknown) === true || o[name] === 'true';
  const tablesOnly = flag('tables-only');
  const skipTables = flag('skip-tables');
  if (tablesOnly && skipTables) throw new CliError("options '--tables-only' and '--skip-tables' exclude each other");
  const jobs = Number(o.jobs ?? 1);
  if (o['checkpoint-every'] !== undefined && o['checkpoint-dir'] === undefined) throw new CliError("option '--checkpoint-every' needs '--checkpoint-dir DIR'");
  if (o['checkpoint-dir'] !== undefined && tablesOnly) throw new CliError("option '--checkpoint-dir' runs nothing with '--tables-only'");
  const nSeeds = Number(o.seeds ?? 10);
  const seed0 = Number(o.seed ?? 0);
  const seeds = Array.from({ length: nSeeds }, (_, i) => seed0 + i);
  if (o.threads !== undefined) native.setNumThreads(Number(o.threads));

  // Which datasets.
  const named = o.datasets !== undefined;
  const candidates = named
    ? String(o.datasets).split(',').map((s) => s.trim()).filter(Boolean)
    : [...Object.keys(spec.paper?.rows ?? {}), ...Object.keys(spec.presets)].filter((d, i, a) => a.indexOf(d) === i);
  if (named && !candidates.length) throw new CliError("option '--datasets' names no dataset");
  if (named) {
    for (const d of candidates) {
      if (!datasetNames.includes(d)) throw new CliError(`option '--datasets': unknown dataset '${d}' (known: ${datasetNames.join(', ')})`);
    }
  }
  const skipped: string[] = [];
  const skippedWhy: Record<string, string> = {};
  const skip = (d: string, why: string, sought = '') => {
    if (named && !tablesOnly) throw Object.assign(new Error(`${model} on ${d}: ${why}${sought}`), { code: 'DGC_DATA' });
    skipped.push(`${d}: ${why}${sought}`);
    skippedWhy[d] = why;
  };
  // A dataset of the paper's table that the registry does not hold (features made by the paper from data not
  // available here, e.g. ResNet-50 features of STL-10): skipped, saying how to run it from one's own files.
  const registered = candidates.filter((d) => {
    if (datasetNames.includes(d)) return true;
    const preset = d in spec.presets ? ` --preset ${d}` : '';
    skip(d, `not a registry dataset; \`dgclust train --model ${model} --features FILE${preset}\` runs it from your own files${preset ? '' : ' (no preset: the documented defaults apply)'}`);
    return false;
  });
  const device = tablesOnly ? 'cpu' : pickDevice(String(o.backend ?? 'auto'));

  // The finished runs, wherever they are.
  const readDirs = [results, out];
  const have = loadResults(readDirs);
  const doneOf = (d: string, v: Variant): Map<number, string> => {
    const m = new Map<number, string>();
    for (const r of have.runs) if (r.model === model && r.dataset === d && r.variant.key === v.key && !m.has(r.seed)) m.set(r.seed, r.file);
    return m;
  };

  const plan: PlannedDataset[] = [];
  for (const d of registered) {
    const where = locateDataset(d, { dataDir });
    if (!where.file) {
      skip(d, `its feature file was not found${FEATURES_NOT_PUBLIC[d] ? ` (${FEATURES_NOT_PUBLIC[d]})` : ''}`,
        `; sought ${where.sought.length} paths in ${dataDirs({ dataDir }).join(', ')}${named ? ` (${where.sought.join(', ')})` : ''}`);
      continue;
    }
    // The start: DFCN's official weights by default where they are; --init official where they are not: skipped.
    let init = o.init !== undefined ? String(o.init) : defaultInit(model);
    if (init === 'official') {
      if (model !== 'dfcn') throw new CliError('--init official: only DFCN has official pretrained weights here; use --init own or a weights file');
      if (!officialWeightsDir(d, dataDir)) {
        if (o.init !== undefined) {
          skip(d, `no official DFCN weights (pretrained/dfcn/${d}/pretrain/manifest.json) in ${dataDirs({ dataDir }).join(', ')}`);
          continue;
        }
        say(`${d}: no official DFCN weights in the data folders: own pretraining (as --init own)`);
        init = 'own';
      }
    }
    let resolved;
    try {
      resolved = resolveSettings(spec, d, overrides);
    } catch (e) {
      throw optionError(e, spec.options);
    }
    const settings = resolved.settings as Record<string, unknown>;
    const variant = describeVariant(model, d, plannedSettings(d, resolved.preset, init, settings));
    plan.push({ name: d, init, variant, settings, preset: resolved.preset, seeds, done: doneOf(d, variant) });
  }

  const total = plan.reduce((a, p) => a + p.seeds.length, 0);
  const reused = plan.reduce((a, p) => a + p.seeds.filter((s) => p.done.has(s)).length, 0);
  say(`${model}: ${plan.length ? plan.map((p) => `${p.name}${p.variant.label ? ` (${p.variant.label})` : ''}`).join(', ') : 'no dataset to run'}` +
    `${skipped.length ? `; skipped ${skipped.map((s) => s.split(':')[0]).join(', ')}` : ''}`);
  for (const s of skipped) say(`  skipped ${s}`);
  let ran = 0;
  if (!tablesOnly) {
    say(`${total} run${total === 1 ? '' : 's'} (${seedRangeText(seeds)} per dataset): ${reused} already done, ${total - reused} to run; ` +
      `results to ${rel(out)}`);
    for (const p of plan) {
      const found = p.seeds.filter((s) => p.done.has(s));
      const files = [...new Set(found.map((s) => p.done.get(s)!))];
      if (found.length) say(`  ${p.name}: seed${found.length > 1 ? 's' : ''} ${found.join(', ')} found in ${files.join(', ')}`);
    }
    const checkpointDir = o['checkpoint-dir'] !== undefined ? path.resolve(String(o['checkpoint-dir'])) : undefined;
    if (checkpointDir) fs.mkdirSync(checkpointDir, { recursive: true });
    const c = { o, device, out, total, reused, progress, say, checkpointDir };
    ran = jobs > 1 && total - reused > 1 ? await runPlanInProcesses(model, plan, jobs, c) : await runPlan(model, plan, c);
  }
  if (skipTables) return { ran, reused, skipped, resultsMd };

  // The tables.
  const all = loadResults(readDirs);
  const inside = (dir: string, root: string) => !path.relative(root, dir).startsWith('..');
  const sources = inside(out, results) ? [rel(results)] : [rel(results), rel(out)];
  const body = renderModelSection(model, all, {
    command: `dgclust reproduce ${model}${tablesOnly ? ' --tables-only' : ''}`,
    source: sources.join('` and `'),
    skipped: skippedWhy,
  });
  // A new RESULTS.md starts with the overview's markers; an existing one gets its overview regenerated only where
  // it has them (a document of the user's own is not given a section it did not ask for).
  const doc = fs.existsSync(resultsMd) ? fs.readFileSync(resultsMd, 'utf8')
    : `# Reproduction results\n\n## At a glance\n\n${beginMarker(OVERVIEW_SECTION)}\n${endMarker(OVERVIEW_SECTION)}\n`;
  let next = spliceSection(doc, model, body, modelHeading(model));
  const withOverview = next.includes(beginMarker(OVERVIEW_SECTION));
  if (withOverview) {
    next = spliceSection(next, OVERVIEW_SECTION, renderOverview(all, { command: 'dgclust reproduce <model> --tables-only', source: sources.join('` and `') }), 'At a glance');
  }
  writeFileAtomic(resultsMd, next);
  const mine = all.runs.filter((r: RunEntry) => r.model === model).length;
  say(`wrote the ${model} section${withOverview ? ' and the overview' : ''} of ${rel(resultsMd)} (${mine} run${mine === 1 ? '' : 's'} of ${model} read)`);
  for (const s of all.skipped) say(`  not read as a run: ${s.file} (${s.reason.slice(0, 160)})`);
  return { ran, reused, skipped, resultsMd };
}

interface PlanContext {
  o: TrainCliOptions; device: 'cpu' | 'cuda'; out: string; total: number; reused: number; progress: Progress; say: (line: string) => void;
  /** --checkpoint-dir, resolved and created. */
  checkpointDir?: string;
}

/** Where a run's checkpoint stands, for the line that says it resumes. */
function describeCheckpoint(file: string): string {
  const pos = readCheckpointMeta(file).position as { phase?: string; stage?: number; epoch?: number; iteration?: number } | undefined;
  if (pos?.phase === 'pretrain') return `saved in pretraining stage ${(pos.stage ?? 0) + 1}, epoch ${pos.epoch ?? 0}`;
  if (pos?.phase === 'train') return `saved after training ${pos.iteration ? `iteration ${pos.iteration}` : `epoch ${pos.epoch ?? 0}`}`;
  return 'saved at an unknown position';
}

async function runPlan(model: string, plan: PlannedDataset[], c: PlanContext): Promise<number> {
  const todo = c.total - c.reused;
  if (!todo) return 0;
  fs.mkdirSync(c.out, { recursive: true });
  const version = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version as string;
  const t0 = performance.now();
  let done = 0;
  // Progress within a run, from its phases: epochs done of the epochs its phases announced (a run's length is known
  // once its last phase starts; the first finished run's length is used as the estimate after that).
  let runEpochs = 0;
  let runDone = 0;
  let typicalEpochs = 0;
  let current = '';
  const work = () => done + (runEpochs ? Math.min(runDone / Math.max(runEpochs, typicalEpochs), 0.999) : 0);
  const eta = () => {
    const w = work();
    const el = performance.now() - t0;
    return w > 0 ? ((todo - w) * el) / w : NaN;
  };
  const draw = (phase: string) => {
    const el = performance.now() - t0;
    c.progress.update(Math.round(1000 * work()), 1000 * todo,
      `runs ${done}/${todo} | ${current} | ${phase} | elapsed ${formatDuration(el)}, about ${formatDuration(eta())} left`);
  };
  for (const p of plan) {
    const pending = p.seeds.filter((s) => !p.done.has(s));
    if (!pending.length) continue;
    const ds = await loadDatasetForModel(model, p.name, c.o['data-dir'] as string | undefined);
    const init: TrainModelRequest['init'] = resolveInit({ ...c.o, init: p.init }, model, p.name);
    for (const seed of pending) {
      current = `${p.name} seed ${seed}${p.variant.label ? ` (${p.variant.label})` : ''}`;
      runEpochs = 0;
      runDone = 0;
      c.say(`run ${done + 1}/${todo}: ${current}`);
      draw('starting');
      const name = `${model}-${p.name}${p.variant.label ? `-${variantSlug(p.variant)}` : ''}-s${seed}.json.gz`;
      // --checkpoint-dir: the run saves its state as it goes and, started again after a stop, goes on from the last
      // save (the trainer refuses, naming the file, a checkpoint of other settings or data).
      const ckFile = c.checkpointDir ? path.join(c.checkpointDir, name.replace(/\.json\.gz$/, '.dgcckpt')) : undefined;
      const resume = ckFile && fs.existsSync(ckFile) ? ckFile : undefined;
      if (resume) c.say(`  resuming from ${rel(resume)} (${describeCheckpoint(resume)})`);
      const rep = trainModel({
        model, data: ds, preset: p.name, options: modelOverrides(c.o, model, REPRODUCE_FLAGS), seeds: [seed], device: c.device, init,
        pretrainCache: c.o['pretrain-cache'] as string | undefined,
        checkpoint: ckFile ? { file: () => ckFile, every: Number(c.o['checkpoint-every'] ?? 10) } : undefined,
        resume,
        callbacks: {
          onPhase: (_phase, epochs) => {
            runEpochs += epochs;
          },
          onEpoch: (e) => {
            runDone++;
            draw(`${e.phase} ${e.epoch}/${e.epochs}`);
          },
        },
      });
      const json = { ...reportJson(rep, { version, truth: ds.labels }), producedBy: `dgclust reproduce ${model}` };
      const file = path.join(c.out, name);
      writeFileAtomic(file, runFileContent(file, runJsonText(json)));
      if (ckFile) fs.rmSync(ckFile, { force: true }); // the run file holds everything now
      typicalEpochs = typicalEpochs || runDone;
      done++;
      runEpochs = 0;
      runDone = 0;
      const r = rep.runs[0];
      const m = r.paperProtocol.metrics;
      const used = new Set(r.predicted).size;
      c.say(`run ${done}/${todo} done: ${current} in ${formatDuration(rep.seconds * 1000)}` +
        `${m ? `; paper's protocol ACC ${(100 * m.acc).toFixed(2)}` : ''}${r.final.metrics ? `, final ACC ${(100 * r.final.metrics.acc).toFixed(2)}` : ''}` +
        `${used < ds.nClusters ? ` (final labels in ${used} of the ${ds.nClusters} clusters)` : ''}; ` +
        `wrote ${rel(file)}; elapsed ${formatDuration(performance.now() - t0)}` +
        `${done < todo ? `, about ${formatDuration(eta())} left` : ''}`);
      draw('done');
    }
  }
  c.progress.stop();
  return done;
}

/** The compiled CLI that --jobs starts its children with (under ts-node or jest: the package's dist/). */
function cliScript(): string {
  const here = path.join(__dirname, 'main.js');
  const script = fs.existsSync(here) ? here : path.join(packageRoot, 'dist', 'lib', 'cli', 'main.js');
  if (!fs.existsSync(script)) throw new CliError(`option '--jobs': runs each job with the compiled CLI, ${script}, which is missing (npm run build)`);
  return script;
}

/**
 * --jobs N: the pending runs, at most N at once, each a child `dgclust reproduce <model> --datasets D --seed S
 * --seeds 1 --skip-tables` with the parent's other options. A child writes its run file exactly as a serial job
 * would (same name, same content: a run depends on its seed and settings, not on the process), so resuming and the
 * tables work the same. What a child prints comes through prefixed with its dataset and seed. A failed run stops
 * new ones from starting; those already running finish (their files count), then the command fails naming it.
 */
async function runPlanInProcesses(model: string, plan: PlannedDataset[], jobs: number, c: PlanContext): Promise<number> {
  const script = cliScript();
  const todo = plan.flatMap((p) => p.seeds.filter((s) => !p.done.has(s)).map((seed) => ({ p, seed })));
  const threads = c.o.threads !== undefined ? Number(c.o.threads) : Math.max(1, Math.floor(native.numThreads() / jobs));
  // The parent's options, less those each child gets its own value of.
  const own = new Set(['datasets', 'seed', 'seeds', 'threads', 'jobs', 'skip-tables', 'tables-only']);
  const passed: string[] = [];
  for (const [k, v] of Object.entries(c.o)) {
    if (own.has(k) || v === undefined) continue;
    if ((v as unknown) === true) passed.push(`--${k}`);
    else passed.push(`--${k}`, String(v));
  }
  fs.mkdirSync(c.out, { recursive: true });
  c.say(`${todo.length} runs, ${Math.min(jobs, todo.length)} at a time, ${threads} thread${threads === 1 ? '' : 's'} each`);
  const t0 = performance.now();
  let done = 0;
  let next = 0;
  const failures: string[] = [];
  const running = new Set<ChildProcess>();
  const draw = (text: string) => {
    const el = performance.now() - t0;
    const eta = done ? ((todo.length - done) * el) / done : NaN;
    c.progress.update(done, todo.length, `runs ${done}/${todo.length} | ${text} | elapsed ${formatDuration(el)}, about ${formatDuration(eta)} left`);
  };
  const runOne = ({ p, seed }: { p: PlannedDataset; seed: number }): Promise<void> => new Promise((resolve) => {
    const tag = `[${p.name} s${seed}]`;
    const args = [script, 'reproduce', model, '--datasets', p.name, '--seed', String(seed), '--seeds', '1', '--threads', String(threads),
      '--skip-tables', '--init', p.init, ...passed.filter((_, i, a) => !(a[i] === '--init' || a[i - 1] === '--init'))];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    child.on('close', () => running.delete(child));
    const tail: string[] = [];
    const lines = (stream: NodeJS.ReadableStream) => {
      let rest = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const parts = (rest + chunk).split('\n');
        rest = parts.pop() ?? '';
        for (const l of parts) {
          if (!l.trim()) continue;
          tail.push(l);
          if (tail.length > 20) tail.shift();
          c.say(`${tag} ${l}`);
        }
      });
      stream.on('end', () => {
        if (rest.trim()) {
          tail.push(rest);
          c.say(`${tag} ${rest}`);
        }
      });
    };
    lines(child.stdout!);
    lines(child.stderr!);
    // A child that cannot start emits 'error' and may still emit 'close': count it once.
    let settled = false;
    child.on('error', (e) => {
      if (settled) return;
      settled = true;
      failures.push(`${p.name} seed ${seed}: could not start ${process.execPath} (${e.message})`);
      resolve();
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      if (code === 0) {
        done++;
        c.say(`run ${done}/${todo.length} done: ${p.name} seed ${seed}${p.variant.label ? ` (${p.variant.label})` : ''}`);
        draw('running');
      } else {
        failures.push(`${p.name} seed ${seed}: the child ${signal ? `was killed by ${signal}` : `exited with code ${code}`}` +
          `${tail.length ? `; its last lines:\n  ${tail.slice(-5).join('\n  ')}` : ''}`);
      }
      resolve();
    });
  });
  // A signal to this process alone (`kill PID`, a job scheduler's SIGTERM) would otherwise end it and leave its
  // children running with no one reading their output. Pass it on to every running child (each dies as a signalled
  // process does; a run file is written atomically, so an interrupted run leaves none and is run again on resume),
  // start nothing new, and end once they have. A second signal kills the children outright.
  let stoppedBy: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    const again = stoppedBy !== undefined;
    stoppedBy = sig;
    c.say(again ? `${sig} again: killing the running children` : `${sig}: passing it on to the running children; no new runs start`);
    for (const child of running) child.kill(again ? 'SIGKILL' : sig);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const sig of signals) process.on(sig, onSignal);
  const worker = async () => {
    while (next < todo.length && !failures.length && !stoppedBy) await runOne(todo[next++]);
  };
  draw('starting');
  try {
    await Promise.all(Array.from({ length: Math.min(jobs, todo.length) }, worker));
  } finally {
    for (const sig of signals) process.off(sig, onSignal);
  }
  c.progress.stop();
  if (stoppedBy) {
    const e = new DgcError('DGC_ABORTED', `reproduce ${model} --jobs ${jobs}: stopped by ${stoppedBy}: ${done} run${done === 1 ? '' : 's'} ` +
      `finished, ${todo.length - done} not (the interrupted ones wrote no file; the same command resumes them)`) as DgcError & { exitCode: number };
    e.exitCode = 128 + (os.constants.signals[stoppedBy] ?? 15);
    throw e;
  }
  if (failures.length) {
    // No code of its own: each child has printed its error (with its DGC_ code) above.
    throw new Error(`reproduce ${model} --jobs ${jobs}: ${failures.length} run${failures.length === 1 ? '' : 's'} failed ` +
      `(${done} finished, ${todo.length - done - failures.length} not started): ${failures.join('; ')}`);
  }
  return done;
}

/** A registry dataset loaded as the model's preset needs it (SDCN's kNN datasets come with graphs for several k). */
async function loadDatasetForModel(model: string, name: string, dataDir: string | undefined): Promise<ClusteringData> {
  const spec = getModel(model);
  const preset = (spec.presets[name] ?? spec.defaults) as Record<string, unknown>;
  const k = typeof preset.datasetKnnK === 'number' ? preset.datasetKnnK : typeof preset.knnK === 'number' && [1, 3, 5, 10].includes(preset.knnK) ? preset.knnK : 3;
  return fromDataset(await loadDatasetAsync(name, { dataDir, knnK: k }));
}
