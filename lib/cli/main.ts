#!/usr/bin/env node
// The dgclust command-line tool.
//   dgclust info
//   dgclust train --model dfcn [--dataset acm] [--seeds 1] [--seed 0] [--epochs 200] [--lr L] [--init official|own|DIR]
//                 [--backend auto|cpu|cuda] [--data-dir DIR] [--threads N] [--json FILE] [--save FILE]
//                 [--learnable-alpha true|false]
//   dgclust pretrain [--dataset acm] [--data-dir DIR] [--epochs 30] [--lr 1e-3] [--batch-size 256]
//                    [--seed 0] [--threads N] [--save FILE] [--json FILE]
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Autoencoder } from '../models/ae';
import { pretrainAutoencoder } from '../train/pretrain';
import { loadDataset } from '../data/registry';
import { Generator } from '../random';
import { tensor } from '../ops';
import { saveState } from '../io/state';
import { native, packageRoot } from '../native';
import { CliError, modelOptionFlags, modelsCommand, trainCommand } from './train';
import type { TrainCliOptions } from './train';

class UsageError extends Error {}

interface OptionSpec {
  kind: 'string' | 'int' | 'number';
  min?: number;
}

const COMMANDS: Record<string, { summary: string; options: Record<string, OptionSpec> }> = {
  info: { summary: 'show the version, the backends and the thread count', options: {} },
  models: { summary: 'list the models, the datasets each has presets for, and their papers\' results', options: {} },
  train: {
    summary: 'train a model on a dataset or your files and report ACC / NMI / ARI / F1 (final and best epoch)',
    options: {
      model: { kind: 'string' },
      dataset: { kind: 'string' },
      'data-dir': { kind: 'string' },
      features: { kind: 'string' },
      labels: { kind: 'string' },
      graph: { kind: 'string' },
      clusters: { kind: 'int', min: 2 },
      member: { kind: 'string' },
      preset: { kind: 'string' },
      seeds: { kind: 'int', min: 1 },
      seed: { kind: 'int', min: 0 },
      init: { kind: 'string' },
      backend: { kind: 'string' },
      threads: { kind: 'int', min: 1 },
      json: { kind: 'string' },
      save: { kind: 'string' },
      'pretrain-cache': { kind: 'string' },
      // Every model's own options (--lr, --epochs, --learnable-alpha, …) are added from the registry below.
    },
  },
  pretrain: {
    summary: "pretrain SDCN's autoencoder (d-500-500-2000-10) on a dataset and report the reconstruction loss",
    options: {
      dataset: { kind: 'string' },
      'data-dir': { kind: 'string' },
      epochs: { kind: 'int', min: 1 },
      lr: { kind: 'number', min: 0 },
      'batch-size': { kind: 'int', min: 1 },
      seed: { kind: 'int', min: 0 },
      threads: { kind: 'int', min: 1 },
      save: { kind: 'string' },
      json: { kind: 'string' },
    },
  },
};

// The models' options, from the registry: numbers are checked here only for being numbers; each model checks
// its own bounds and names the option (exit code 2 either way).
for (const [flag, f] of modelOptionFlags()) {
  if (!(flag in COMMANDS.train.options)) COMMANDS.train.options[flag] = { kind: f.spec.type === 'integer' ? 'int' : f.spec.type === 'number' ? 'number' : 'string' };
}

function usage(): string {
  const lines = ['usage: dgclust <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) {
    lines.push(`  ${name.padEnd(10)} ${c.summary}`);
    const opts = Object.keys(c.options);
    if (opts.length) lines.push(`             options: ${opts.map((o) => `--${o}`).join(' ')}`);
  }
  return lines.join('\n');
}

function parseArgs(argv: string[]): { command: string; options: Record<string, string | number> } {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h') throw new UsageError(usage());
  const spec = COMMANDS[command];
  if (!spec) throw new UsageError(`unknown command '${command}'\n\n${usage()}`);
  const options: Record<string, string | number> = {};
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument '${arg}' (options start with --)`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq >= 0 ? eq : undefined);
    const o = spec.options[name];
    if (!o) throw new UsageError(`unknown option '--${name}' for '${command}' (known: ${Object.keys(spec.options).map((k) => `--${k}`).join(' ') || 'none'})`);
    const value = eq >= 0 ? arg.slice(eq + 1) : rest[++i];
    if (value === undefined) throw new UsageError(`option '--${name}' needs a value`);
    if (o.kind === 'string') {
      options[name] = value;
    } else {
      const v = Number(value);
      if (value.trim() === '' || !Number.isFinite(v) || (o.kind === 'int' && !Number.isInteger(v)) || (o.min !== undefined && v < o.min)) {
        throw new UsageError(`option '--${name}' must be ${o.kind === 'int' ? 'an integer' : 'a number'}${o.min !== undefined ? ` >= ${o.min}` : ''}, got '${value}'`);
      }
      options[name] = v;
    }
  }
  return { command, options };
}

/** A one-line progress bar on stderr, drawn only when stderr is a terminal. */
function progress(done: number, total: number, text: string): void {
  if (!process.stderr.isTTY) return;
  const width = 30;
  const filled = Math.round((done / total) * width);
  process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${text}`.padEnd(100));
  if (done === total) process.stderr.write('\n');
}

/** Writes a file atomically: a temporary file renamed into place. */
function writeFileAtomic(file: string, text: string): void {
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, text);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

function info(): void {
  const pkg = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8'));
  console.log(`dgclust ${pkg.version}, node ${process.version}, ${os.cpus().length} cores`);
  for (const b of native.backends()) {
    console.log(`  ${b.name.padEnd(5)} ${b.available ? `available${b.threads ? ` (${b.threads} threads)` : ''}` : `unavailable: ${b.reason}`}`);
  }
}

function pretrain(o: Record<string, string | number>): void {
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
        progress(e.epoch, e.epochs, `loss ${e.fullLoss.toExponential(4)} (${e.ms} ms/epoch)`);
      },
    });
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
      writeFileAtomic(o.json as string, JSON.stringify({
        command: 'pretrain',
        settings: { dataset: name, epochs, lr, batchSize, seed, threads: native.numThreads() },
        machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version },
        mseBefore: first,
        mseAfter: last,
        epochs: epochsLog,
        seconds: result.ms / 1000,
      }, null, 2));
      console.error(`wrote ${o.json}`);
    }
  } finally {
    ae.dispose();
    x.dispose();
  }
}

export async function main(argv: string[]): Promise<number> {
  try {
    const { command, options } = parseArgs(argv);
    if (command === 'info') info();
    else if (command === 'models') modelsCommand();
    else if (command === 'pretrain') pretrain(options);
    else if (command === 'train') await trainCommand(options as TrainCliOptions, { progress, writeJson: writeFileAtomic });
    return 0;
  } catch (err) {
    if (err instanceof UsageError || err instanceof CliError) {
      console.error((err as Error).message);
      return 2;
    }
    const e = err as Error & { code?: string };
    console.error(`dgclust: ${e.code ? `${e.code}: ` : ''}${e.message}`);
    return 1;
  }
}

if (require.main === module) main(process.argv.slice(2)).then((code) => (process.exitCode = code));
