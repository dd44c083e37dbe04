#!/usr/bin/env node
// The dgclust command-line tool: `dgclust --help`, `dgclust <command> --help`.
//
// Parsing is commander's (the most used, well-kept Node argument parser): subcommands, generated --help for every
// command and option, --version, errors that name the option, suggestions for misspelt options. Node's own
// util.parseArgs was the alternative; it has no subcommands, no help and no value checks, all of which would be
// written by hand again. commander 13, not 14: 14 needs Node 20, and package.json's engines still says Node ≥ 18.
//
// Each command's options are one declarative table below (COMMANDS): name, type, bounds, default, description.
// buildProgram() turns the tables into commander commands, validates every value (an integer ≥ 1, a number > 0,
// one of a list) and hands the command a plain object keyed by the long option names ('data-dir', as
// trainCommand expects). To add an option, add a row; its --help line and its checks come from the row.
//
// Exit codes: 0 success (and --help, --version); 2 usage error (unknown command or option, missing or bad value,
// an option the command refuses); 1 runtime error, printed as `dgclust: DGC_xxx: message`; 128 + the signal's number
// when `reproduce --jobs` is stopped by a signal (DGC_ABORTED).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { format } from 'util';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { Autoencoder } from '../models/ae';
import { pretrainAutoencoder } from '../train/pretrain';
import { loadDataset } from '../data/registry';
import { Generator } from '../random';
import { tensor } from '../ops';
import { saveState } from '../io/state';
import { native, nativeReport, packageRoot } from '../native';
import { CliError, modelOptionFlags, modelsCommand, trainCommand } from './train';
import type { TrainCliOptions } from './train';
import { modelNames } from '../models/registry';
import { createProgress } from './progress';
import type { Progress } from './progress';
import { reportCommand, writeReportFile } from './report';
import type { ReportCliOptions } from './report';
import { writeFileAtomic } from '../io/files';
import { runFileContent } from '../report/run-file';
import { reproduceCommand } from './reproduce';

/** A usage error found after parsing (e.g. an option's folder does not exist): exit code 2. */
export class UsageError extends Error {}

// ---- the option tables -----------------------------------------------------------------------------------------

export interface OptionSpec {
  /** The long name without dashes, as the command receives it: 'data-dir'. */
  name: string;
  /** A one-letter alias: 'o' for -o. */
  short?: string;
  /** 'flag' takes no value; 'int' and 'number' are checked against the bounds; 'choice' against choices. */
  type: 'string' | 'int' | 'number' | 'choice' | 'flag';
  /** The value's placeholder in --help and in error messages. Default: N for numbers, VALUE otherwise. */
  value?: string;
  choices?: readonly string[];
  /** Inclusive bounds. */
  min?: number;
  max?: number;
  /** An exclusive lower bound: `above: 0` means > 0. */
  above?: number;
  /**
   * Shown in --help. The command applies it (an option left out is absent from the object the command gets),
   * because some defaults depend on other options (lr on the dataset's preset) or on whether the user gave the
   * option (--init official fails without weights; the default falls back to own pretraining).
   */
  default?: string | number | boolean;
  description: string;
}

export interface CommandSpec {
  /** Positional arguments in commander's syntax: '<run.json>'. */
  args?: string;
  summary: string;
  options: OptionSpec[];
}

const THREADS: OptionSpec = { name: 'threads', type: 'int', min: 1, default: 'all cores, or $DGCLUST_NUM_THREADS', description: 'CPU threads' };
const DATA_DIR: OptionSpec = { name: 'data-dir', type: 'string', value: 'DIR', default: '$DGCLUST_DATA, then the package\'s data/', description: 'folder holding the dataset files' };

export const COMMANDS: Record<string, CommandSpec> = {
  info: { summary: 'show the version, the compute backends and the thread count', options: [] },
  models: {
    summary: "list the models, the datasets each has presets for, their options and their papers' results; with a model's name: " +
      'each of its options with its bounds, default and the presets\' values',
    args: '[model]',
    options: [],
  },
  train: {
    summary: 'train a model on a dataset or your own files and report ACC / NMI / ARI / F1 (final epoch, best epoch, the paper\'s protocol)',
    options: [
      { name: 'model', type: 'choice', choices: modelNames(), default: 'dfcn', description: 'the model to train (dgclust models lists them)' },
      { name: 'dataset', type: 'string', value: 'NAME', default: 'acm', description: 'registry dataset (acm is embedded; dblp, cite, usps, hhar, reut, cora, amap, mnist, fmnist, coil20 are read from --data-dir)' },
      DATA_DIR,
      { name: 'features', type: 'string', value: 'FILE', description: 'your features instead of --dataset: whitespace text, CSV/TSV (a header line is skipped), .npy, .npz (optionally .gz)' },
      { name: 'labels', type: 'string', value: 'FILE', description: 'with --features: one integer label per line, or a 1-D .npy (optional: without labels only label-free results)' },
      { name: 'graph', type: 'string', value: 'FILE', description: "with --features: 'u v' lines of 0-based node ids, or an E×2 .npy (optional: graph models then build a kNN graph, --knn-k)" },
      { name: 'clusters', type: 'int', min: 2, value: 'K', default: 'the number of classes in --labels', description: 'number of clusters (required without --labels)' },
      { name: 'member', type: 'string', value: 'NAME', description: 'the .npz member holding the features' },
      { name: 'preset', type: 'string', value: 'NAME', default: "the dataset's name", description: "use this dataset's preset of the model (e.g. usps for your own USPS copy)" },
      { name: 'seeds', type: 'int', min: 1, default: 1, description: 'number of runs (seeds seed, seed+1, …); the table shows mean ± std' },
      { name: 'seed', type: 'int', min: 0, default: 0, description: 'the first seed' },
      { name: 'init', type: 'string', value: 'official|own|FILE|DIR', default: 'dfcn: official, else own', description: 'starting weights: the official pretrained ones (DFCN), own pretraining, a .dgcstate file or a folder of .npy files with manifest.json' },
      { name: 'backend', type: 'choice', choices: ['auto', 'cpu', 'cuda'], default: 'auto', description: 'compute backend' },
      THREADS,
      { name: 'json', type: 'string', value: 'FILE', description: 'write the full result as JSON (per seed: every epoch\'s losses and metrics, final and best epoch, predicted labels, timings, settings, machine; each final embedding as FILE.seedS.embedding.npy beside it); a name ending in .gz is gzip-compressed; - writes it to stdout and the table to stderr' },
      { name: 'save', type: 'string', value: 'FILE', description: 'save the trained model\'s weights (with --seeds N: FILE.seedS)' },
      { name: 'report', type: 'string', value: 'FILE', description: 'write an HTML report of the run at the end (as dgclust report)' },
      { name: 'pretrain-cache', type: 'string', value: 'DIR', description: 'keep pretrained autoencoders here and reuse them (same data, settings and seed give the same weights)' },
      { name: 'checkpoint', type: 'string', value: 'FILE', description: 'write the whole run state to FILE (atomically) every --checkpoint-every epochs' },
      { name: 'checkpoint-every', type: 'int', min: 1, default: 1, description: 'epochs (mini-batch models: target refreshes) between checkpoints' },
      { name: 'resume', type: 'string', value: 'FILE', description: 'continue the run saved in this checkpoint (same model, data and settings; the training length may grow)' },
      // Then every model's own options (--lr, --epochs, --learnable-alpha, …), from the registry (below).
    ],
  },
  pretrain: {
    summary: "pretrain SDCN's autoencoder (d-500-500-2000-10) on a dataset and report the reconstruction loss",
    options: [
      { name: 'dataset', type: 'string', value: 'NAME', default: 'acm', description: 'dataset name' },
      DATA_DIR,
      { name: 'epochs', type: 'int', min: 1, default: 30, description: 'epochs' },
      { name: 'lr', type: 'number', above: 0, value: 'LR', default: 1e-3, description: 'Adam learning rate' },
      { name: 'batch-size', type: 'int', min: 1, default: 256, description: 'mini-batch size' },
      { name: 'seed', type: 'int', min: 0, default: 0, description: 'seed of the initialization and the shuffling' },
      THREADS,
      { name: 'save', type: 'string', value: 'FILE', description: 'save the autoencoder\'s weights' },
      { name: 'json', type: 'string', value: 'FILE', description: 'write the losses per epoch as JSON; - writes it to stdout and the table to stderr' },
    ],
  },
  reproduce: {
    args: '<model>',
    summary: "run a model's paper protocol on every dataset held for it (one JSON per dataset and seed, resumable) and regenerate its section of RESULTS.md; `reproduce all --tables-only` regenerates every model's section",
    options: [
      { name: 'datasets', type: 'string', value: 'A,B', default: "every dataset with a preset or a paper row whose files are found", description: 'the datasets to run, comma-separated' },
      { name: 'seeds', type: 'int', min: 1, default: 10, description: 'runs per dataset (seeds seed, seed+1, …)' },
      { name: 'seed', type: 'int', min: 0, default: 0, description: 'the first seed' },
      { name: 'out', type: 'string', value: 'DIR', default: 'docs/results/<model>', description: 'where each run\'s JSON goes, gzip-compressed (<model>-<dataset>[-<variant>]-s<seed>.json.gz)' },
      { name: 'results', type: 'string', value: 'DIR', default: 'docs/results', description: 'the run files (*.json, *.json.gz; any name, any depth) the tables are made from; runs found there are not run again' },
      { name: 'results-md', type: 'string', value: 'FILE', default: 'docs/RESULTS.md', description: 'the Markdown file whose <!-- results:<model>:begin/end --> section is regenerated' },
      { name: 'tables-only', type: 'flag', description: 'run nothing: regenerate the section from the JSON files' },
      { name: 'skip-tables', type: 'flag', description: 'run, but leave --results-md alone (regenerate it later with --tables-only)' },
      { name: 'jobs', type: 'int', min: 1, default: 1, description: 'runs at once, each in its own process (dgclust reproduce for one dataset and seed) with --threads threads (default: the cores divided by the jobs); the tables are made when all have ended' },
      { name: 'init', type: 'string', value: 'official|own|FILE', default: 'dfcn: official, else own', description: 'starting weights (dfcn: its official pretrained weights, or own pretraining)' },
      { name: 'checkpoint-dir', type: 'string', value: 'DIR', description: 'each run writes its whole state to DIR/<run>.dgcckpt every --checkpoint-every epochs and, started again, resumes from it (results as if never stopped); deleted when the run file is written' },
      { name: 'checkpoint-every', type: 'int', min: 1, default: 10, description: 'epochs (mini-batch models: target refreshes) between the checkpoints of --checkpoint-dir' },
      DATA_DIR,
      { name: 'pretrain-cache', type: 'string', value: 'DIR', description: 'keep pretrained autoencoders here and reuse them' },
      { name: 'backend', type: 'choice', choices: ['auto', 'cpu', 'cuda'], default: 'auto', description: 'compute backend' },
      THREADS,
      // Then every model's own options, from the registry (below): a run with one is a variant of the preset.
    ],
  },
  report: {
    args: '<run.json>',
    summary: 'make a self-contained HTML page (SVG figures) from the JSON of `dgclust train --json` (or a gzip-compressed .json.gz)',
    options: [
      { name: 'output', short: 'o', type: 'string', value: 'FILE', default: 'RUN.json with .html; - for stdout', description: 'the HTML file to write' },
      { name: 'png', type: 'string', value: 'DIR', description: 'also write each figure as a PNG file into DIR (made from the SVG by resvg)' },
      { name: 'run', type: 'int', min: 0, value: 'SEED', default: 'the first run', description: 'the run (by its seed) whose embedding map, confusion matrix and cluster sizes are drawn' },
      { name: 'map-points', type: 'int', min: 50, value: 'N', default: 5000, description: 'at most this many points in the embedding map (a larger embedding is subsampled, stratified by predicted cluster)' },
      { name: 'map-seed', type: 'int', min: 0, value: 'N', default: 0, description: 'seed of the subsample and of the UMAP layout' },
    ],
  },
};

// Every registry model's options, as flags of `train` and `reproduce`: the type only (numbers must parse); each
// model checks its own bounds and choices and names the option (exit code 2 either way).
for (const command of [COMMANDS.train, COMMANDS.reproduce]) {
  for (const [flag, f] of modelOptionFlags()) {
    if (command.options.some((o) => o.name === flag)) continue;
    const type = f.spec.type === 'integer' ? 'int' : f.spec.type === 'number' ? 'number' : 'string';
    command.options.push({
      name: flag, type, value: f.spec.type === 'boolean' ? 'true|false' : f.spec.choices ? f.spec.choices.join('|') : undefined,
      // A flag several models share is described without the first model's particulars (its optimizer, its
      // default): each model's own are on `dgclust models MODEL`.
      description: f.models.length > 1
        ? `${f.spec.description.replace(/\s*\([^()]*\)\s*$/, '')} (${f.models.join(', ')}; each one's meaning and default: dgclust models MODEL)`
        : `${f.spec.description} (${f.models[0]})`,
    });
  }
}

/** The value check of a numeric option, as commander's argParser (its message follows "argument 'x' is invalid."). */
function numberParser(o: OptionSpec): (value: string) => number {
  const bounds = [
    o.above !== undefined ? `> ${o.above}` : null,
    o.min !== undefined ? `>= ${o.min}` : null,
    o.max !== undefined ? `<= ${o.max}` : null,
  ].filter(Boolean).join(' and ');
  const what = `${o.type === 'int' ? 'an integer' : 'a number'}${bounds ? ` ${bounds}` : ''}`;
  return (value) => {
    const v = Number(value);
    const ok = value.trim() !== '' && Number.isFinite(v) && (o.type !== 'int' || Number.isInteger(v)) &&
      (o.above === undefined || v > o.above) && (o.min === undefined || v >= o.min) && (o.max === undefined || v <= o.max);
    if (!ok) throw new InvalidArgumentError(`It must be ${what}.`);
    return v;
  };
}

function toOption(o: OptionSpec): Option {
  const placeholder = o.value ?? (o.type === 'int' || o.type === 'number' ? 'N' : o.type === 'choice' ? 'NAME' : 'VALUE');
  const flags = `${o.short ? `-${o.short}, ` : ''}--${o.name}${o.type === 'flag' ? '' : ` <${placeholder}>`}`;
  const opt = new Option(flags, o.description + (o.default !== undefined ? ` (default: ${o.default})` : ''));
  if (o.type === 'int' || o.type === 'number') opt.argParser(numberParser(o));
  if (o.type === 'choice') opt.choices(o.choices ?? []);
  return opt;
}

// ---- running a command: progress, quiet, JSON on stdout ----------------------------------------------------------

/** What every action gets besides its options. */
export interface CommandContext {
  quiet: boolean;
  /** console.log and console.error as they were when the command started (the caller's streams). */
  out: (line: string) => void;
  err: (line: string) => void;
}

/**
 * Runs fn with console.log and console.error routed: the library code under a command (trainCommand, the data
 * loaders) prints with console; a command decides where that goes (stderr instead of stdout when stdout carries
 * JSON, above the progress bar, or nowhere with --quiet).
 */
async function withConsole<T>(route: { log: (line: string) => void; error: (line: string) => void }, fn: () => T | Promise<T>): Promise<T> {
  const saved = { log: console.log, error: console.error };
  console.log = (...a: unknown[]) => route.log(format(...a));
  console.error = (...a: unknown[]) => route.error(format(...a));
  try {
    return await fn();
  } finally {
    console.log = saved.log;
    console.error = saved.error;
  }
}

/** The routes of a command whose result table goes to stdout unless `--json -` puts JSON there. */
function routes(ctx: CommandContext, progress: Progress, jsonToStdout: boolean) {
  const note = ctx.quiet ? () => {} : (line: string) => (progress.enabled ? progress.log(line) : ctx.err(line));
  return {
    // The result table: stdout, or stderr when stdout carries the JSON (dropped with --quiet then).
    log: jsonToStdout ? note : ctx.out,
    // Informational messages: stderr (above the bar), nothing with --quiet.
    error: note,
  };
}

function info(ctx: CommandContext): void {
  const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8'));
  ctx.out(`dgclust ${pkg.version}, node ${process.version}, ${os.cpus().length} cores`);
  for (const line of nativeReport()) ctx.out(line);
  for (const b of native.backends()) {
    ctx.out(`  ${b.name.padEnd(5)} ${b.available ? `available${b.threads ? ` (${b.threads} threads)` : ''}` : `unavailable: ${b.reason}`}`);
    if (b.kernels) ctx.out(`        SIMD kernels: ${Object.entries(b.kernels).map(([family, set]) => `${family} ${set}`).join(', ')}`);
  }
}

function checkOutputFolder(option: string, file: string | undefined): void {
  if (file && file !== '-' && !fs.existsSync(path.dirname(path.resolve(file)))) {
    throw new UsageError(`option '--${option}': the folder of ${file} does not exist`);
  }
}

async function pretrain(o: Record<string, string | number>, ctx: CommandContext): Promise<void> {
  checkOutputFolder('json', o.json as string | undefined);
  checkOutputFolder('save', o.save as string | undefined);
  const jsonToStdout = o.json === '-';
  const progress = createProgress({ silent: ctx.quiet || jsonToStdout });
  try {
    await withConsole(routes(ctx, progress, jsonToStdout), () => pretrainRun(o, progress, ctx));
  } finally {
    progress.stop();
  }
}

function pretrainRun(o: Record<string, string | number>, progress: Progress, ctx: CommandContext): void {
  if (o.threads !== undefined) native.setNumThreads(o.threads as number);
  const name = (o.dataset as string | undefined) ?? 'acm';
  const ds = loadDataset(name, { dataDir: o['data-dir'] as string | undefined });
  const seed = (o.seed as number | undefined) ?? 0;
  const epochs = (o.epochs as number | undefined) ?? 30;
  const lr = (o.lr as number | undefined) ?? 1e-3;
  const batchSize = (o['batch-size'] as number | undefined) ?? 256;
  const { rows, cols, data } = ds.features;
  console.error(`dataset ${name}: ${rows} nodes, ${cols} features, ${ds.labels.k} classes${ds.edges ? `, ${ds.edges.src.length} edge lines` : ''}`);
  const gen = new Generator(seed);
  const x = tensor(data, [rows, cols]);
  const ae = new Autoencoder(cols, 10, [500, 500, 2000], { generator: gen });
  const epochsLog: { epoch: number; batchLoss: number; fullLoss: number; ms: number }[] = [];
  try {
    const result = pretrainAutoencoder(ae, x, {
      epochs,
      lr,
      batchSize,
      generator: gen,
      onEpoch: (e) => {
        epochsLog.push({ epoch: e.epoch, batchLoss: e.batchLoss, fullLoss: e.fullLoss, ms: e.ms });
        progress.update(e.epoch, e.epochs, `loss ${e.fullLoss.toExponential(4)} (${e.ms} ms/epoch)`);
      },
    });
    progress.stop();
    const first = result.fullLoss[0];
    const last = result.fullLoss[result.fullLoss.length - 1];
    console.log(`| dataset | epochs | MSE before | MSE after | ratio | time |`);
    console.log(`|---|---|---|---|---|---|`);
    console.log(`| ${name} | ${epochs} | ${first.toExponential(4)} | ${last.toExponential(4)} | ${(last / first).toFixed(4)} | ${(result.ms / 1000).toFixed(1)} s |`);
    if (o.save) {
      saveState(o.save as string, ae.stateDict());
      console.error(`saved the autoencoder to ${o.save}`);
    }
    if (o.json) {
      const text = JSON.stringify({
        command: 'pretrain',
        settings: { dataset: name, epochs, lr, batchSize, seed, threads: native.numThreads() },
        machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version },
        mseBefore: first,
        mseAfter: last,
        epochs: epochsLog,
        seconds: result.ms / 1000,
      }, null, 2);
      if (o.json === '-') {
        ctx.out(text);
      } else {
        writeFileAtomic(o.json as string, text);
        console.error(`wrote ${o.json}`);
      }
    }
  } finally {
    ae.dispose();
    x.dispose();
  }
}

async function train(o: TrainCliOptions & { report?: string }, ctx: CommandContext): Promise<void> {
  checkOutputFolder('report', o.report);
  const { report, ...trainOptions } = o;
  const jsonToStdout = o.json === '-';
  const progress = createProgress({ silent: ctx.quiet || jsonToStdout });
  const r = routes(ctx, progress, jsonToStdout);
  let run;
  let embeddings: Map<number, { rows: number; cols: number; data: Float32Array }> | undefined;
  try {
    run = await withConsole(r, () =>
      trainCommand(trainOptions, {
        progress: (done, total, text) => progress.update(done, total, text),
        embeddings: report !== undefined ? (e) => { embeddings = e; } : undefined,
        writeJson: (file, text) => {
          if (file === '-') ctx.out(text);
          else writeFileAtomic(file, runFileContent(file, text)); // gzip-compressed when the name ends in .gz
        },
      }));
  } finally {
    progress.stop();
  }
  if (report !== undefined) {
    const json = o.json === undefined ? undefined : String(o.json);
    const baseDir = json && json !== '-' ? path.dirname(path.resolve(json)) : process.cwd();
    // Through JSON, as the report reads a file: non-finite losses become null, undefined fields go.
    await withConsole(routes(ctx, progress, false), () =>
      writeReportFile(JSON.parse(JSON.stringify(run)), report, { baseDir, source: json && json !== '-' ? json : 'this run', quiet: ctx.quiet, embeddings }));
    if (!ctx.quiet) ctx.err(`wrote ${report}`);
  }
}

async function reproduce(model: string, o: TrainCliOptions, ctx: CommandContext): Promise<void> {
  // One bar for the whole job: the share of the runs done (a run counts by its epochs), with the runs, the current
  // dataset and seed, the phase, the elapsed and the estimated remaining time in the text.
  const progress = createProgress({ silent: ctx.quiet, format: '{bar} {percentage}% | {text}' });
  const say = (line: string) => {
    if (ctx.quiet) return;
    if (progress.enabled) progress.log(line);
    else ctx.err(line);
  };
  // `all`: every registry model's section, one after the other; only the tables (running every paper's protocol
  // at once is days of CPU, and each model's runs are started by name).
  const all = model === 'all';
  if (all && !((o['tables-only'] as unknown) === true || o['tables-only'] === 'true')) {
    throw new CliError("'reproduce all' only regenerates the tables: add --tables-only (name a model to run its protocol)");
  }
  try {
    for (const m of all ? modelNames() : [model]) {
      await withConsole(routes(ctx, progress, false), () => reproduceCommand(m, o, progress, say));
    }
  } finally {
    progress.stop();
  }
}

async function report(file: string, o: ReportCliOptions, ctx: CommandContext): Promise<void> {
  checkOutputFolder('output', o.output);
  await withConsole(routes(ctx, createProgress({ silent: true }), o.output === '-'), () => reportCommand(file, o, ctx));
}

// ---- the program ----------------------------------------------------------------------------------------------

function version(): string {
  return JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version;
}

/** The commander program for one invocation (commander keeps option values on the Command, so never reuse it). */
export function buildProgram(ctxOf: (quiet: boolean) => CommandContext): Command {
  const program = new Command('dgclust')
    .description('Deep graph clustering: train models, make reports.')
    .version(version(), '-V, --version', 'print the version')
    .option('-q, --quiet', 'no progress bar and no informational messages on stderr (errors are still printed)')
    .helpOption('-h, --help', 'show the help of dgclust or of a command')
    .showHelpAfterError('(add --help to see the commands and options)')
    // A command's --help lists --quiet too (it is the program's option, accepted after the command).
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({
      writeOut: (s) => console.log(s.replace(/\n$/, '')),
      writeErr: (s) => console.error(s.replace(/\n$/, '')),
    })
    .addHelpText('after', [
      '',
      'Exit codes: 0 success; 1 runtime error (printed as "dgclust: DGC_xxx: message");',
      '            2 usage error (unknown command or option, a missing or bad value);',
      '            128 + its number when reproduce --jobs is stopped by a signal (SIGTERM: 143).',
      'Progress is drawn on stderr only when it is a terminal; --quiet and --json - turn it off.',
      'Run "dgclust <command> --help" for a command\'s options.',
    ].join('\n'));
  for (const [name, spec] of Object.entries(COMMANDS)) {
    const cmd = program.command(name + (spec.args ? ` ${spec.args}` : '')).description(spec.summary);
    for (const o of spec.options) cmd.addOption(toOption(o));
    cmd.action(async (...args: unknown[]) => {
      // commander calls action(…positional, options, command).
      const command = args[args.length - 1] as Command;
      const positional = args.slice(0, -2) as string[];
      const parsed = command.opts();
      const options: Record<string, unknown> = {};
      for (const o of spec.options) {
        const v = parsed[camel(o.name)];
        if (v !== undefined) options[o.name] = v;
      }
      const ctx = ctxOf(program.opts().quiet === true);
      if (name === 'info') info(ctx);
      else if (name === 'models') await withConsole({ log: ctx.out, error: ctx.err }, () => modelsCommand(positional[0]));
      else if (name === 'pretrain') await pretrain(options as Record<string, string | number>, ctx);
      else if (name === 'train') await train(options as TrainCliOptions & { report?: string }, ctx);
      else if (name === 'report') await report(positional[0], options as ReportCliOptions, ctx);
      else if (name === 'reproduce') await reproduce(positional[0], options as TrainCliOptions, ctx);
    });
  }
  return program;
}

const camel = (s: string): string => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Runs the tool on argv (without node and the script) and resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const out = console.log;
  const err = console.error;
  const program = buildProgram((quiet) => ({ quiet, out: (l) => out(l), err: (l) => err(l) }));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    // commander has printed its message (and the hint) already; --help and --version end with exit code 0.
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof UsageError || e instanceof CliError) {
      err(`error: ${e.message}`);
      err('(add --help to see the commands and options)');
      return 2;
    }
    const x = e as Error & { code?: string; exitCode?: number };
    err(`dgclust: ${x.code ? `${x.code}: ` : ''}${x.message}`);
    // A command stopped by a signal ends as a shell expects of one (128 + the signal's number: SIGTERM 143).
    return typeof x.exitCode === 'number' ? x.exitCode : 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
