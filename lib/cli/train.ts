// `dgclust train --model dfcn --dataset acm`: preprocessing, pretraining or the official weights, the main
// training over one or more seeds, then a table of ACC / NMI / ARI / F1 (final epoch and best epoch) beside
// the paper's numbers, and optionally a JSON report.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadDataset, dataDirs } from '../data/registry';
import { DFCN_PRESETS } from '../models/dfcn';
import { prepareDfcnInput } from '../models/dfcn-input';
import { loadNpyCheckpoint } from '../io/npy-checkpoint';
import { trainDfcn } from '../train/dfcn';
import type { DfcnRunResult } from '../train/dfcn';
import { meanStd } from '../train/loop';
import { native } from '../native';
import type { Device, Tensor } from '../tensor';

/** DFCN's reported results (dfcn.md §6: mean ± std over 10 runs, best epoch by ACC), in percent. */
export const DFCN_PAPER: Record<string, Record<'acc' | 'nmi' | 'ari' | 'f1', [number, number]>> = {
  usps: { acc: [79.5, 0.2], nmi: [82.8, 0.3], ari: [75.3, 0.2], f1: [78.3, 0.2] },
  hhar: { acc: [87.1, 0.1], nmi: [82.2, 0.1], ari: [76.4, 0.1], f1: [87.3, 0.1] },
  reut: { acc: [77.7, 0.2], nmi: [59.9, 0.4], ari: [59.8, 0.4], f1: [69.6, 0.1] },
  acm: { acc: [90.9, 0.2], nmi: [69.4, 0.4], ari: [74.9, 0.4], f1: [90.8, 0.2] },
  dblp: { acc: [76.0, 0.8], nmi: [43.7, 1.0], ari: [47.0, 1.5], f1: [75.7, 0.8] },
  cite: { acc: [69.5, 0.2], nmi: [43.9, 0.2], ari: [45.5, 0.3], f1: [64.3, 0.2] },
};

export interface TrainCliOptions {
  model?: string;
  dataset?: string;
  'data-dir'?: string;
  seeds?: number;
  seed?: number;
  epochs?: number;
  lr?: number;
  init?: string;
  backend?: string;
  threads?: number;
  json?: string;
  save?: string;
  'learnable-alpha'?: string;
}

export class CliError extends Error {}

/** The folder of a dataset's official DFCN pretrained weights in the data folders, or null. */
export function officialWeightsDir(dataset: string, dataDir?: string): string | null {
  for (const dir of dataDirs({ dataDir })) {
    const p = path.join(dir, 'pretrained', 'dfcn', dataset, 'pretrain');
    if (fs.existsSync(path.join(p, 'manifest.json'))) return p;
  }
  return null;
}

function pickDevice(backend: string): Device {
  const cudaInfo = native.backends().find((b) => b.name === 'cuda');
  if (backend === 'cpu') return 'cpu';
  if (backend === 'cuda') {
    if (!cudaInfo?.available) throw new CliError(`--backend cuda: CUDA is not available (${cudaInfo?.reason ?? 'unknown reason'})`);
    return 'cuda';
  }
  if (backend === 'auto') return cudaInfo?.available ? 'cuda' : 'cpu';
  throw new CliError(`option '--backend' must be cpu, cuda or auto, got '${backend}'`);
}

const pct = (x: number): string => (100 * x).toFixed(2);

function summaryRow(label: string, runs: { acc: number; nmi: number; ari: number; f1: number }[]): string {
  const cell = (k: 'acc' | 'nmi' | 'ari' | 'f1'): string => {
    const { mean, std } = meanStd(runs.map((r) => r[k]));
    return runs.length > 1 ? `${pct(mean)} ± ${pct(std)}` : pct(mean);
  };
  return `| ${label} | ${cell('acc')} | ${cell('nmi')} | ${cell('ari')} | ${cell('f1')} |`;
}

export interface TrainCliHooks {
  /** Progress: epochs done and total over the whole command (all seeds, all phases). */
  progress?: (done: number, total: number, text: string) => void;
  writeJson?: (file: string, text: string) => void;
}

export function trainCommand(o: TrainCliOptions, hooks: TrainCliHooks = {}): void {
  const modelName = o.model ?? 'dfcn';
  if (modelName !== 'dfcn') throw new CliError(`option '--model' must be one of: dfcn (got '${modelName}'; the other models are not implemented yet)`);
  const name = o.dataset ?? 'acm';
  const preset = DFCN_PRESETS[name];
  if (!preset) throw new CliError(`option '--dataset': DFCN has presets for ${Object.keys(DFCN_PRESETS).join(', ')}; got '${name}'`);
  for (const [opt, file] of [['json', o.json], ['save', o.save]] as const) {
    if (file && !fs.existsSync(path.dirname(path.resolve(file)))) throw new CliError(`option '--${opt}': the folder of ${file} does not exist`);
  }
  if (o.threads !== undefined) native.setNumThreads(o.threads);
  const device = pickDevice(o.backend ?? 'auto');
  const seeds = o.seeds ?? 1;
  const seed0 = o.seed ?? 0;
  const epochs = o.epochs ?? 200;
  const lr = o.lr ?? preset.lr;
  const learnableAlpha = o['learnable-alpha'] === undefined ? false : parseBool(o['learnable-alpha'], 'learnable-alpha');

  // Where the starting weights come from.
  let initLabel: string;
  let initDir: string | null;
  const initArg = o.init ?? 'official';
  if (initArg === 'own') {
    initDir = null;
    initLabel = 'own pretraining (AE 30, IGAE 30, joint 100 epochs)';
  } else if (initArg === 'official') {
    initDir = officialWeightsDir(name, o['data-dir']);
    if (!initDir) {
      if (o.init === 'official') {
        throw new CliError(`--init official: no official DFCN weights for '${name}' (sought pretrained/dfcn/${name}/pretrain/manifest.json in ${dataDirs({ dataDir: o['data-dir'] }).join(', ')})`);
      }
      console.error(`no official DFCN weights for '${name}' in the data folders: pretraining instead (--init own)`);
      initLabel = 'own pretraining (AE 30, IGAE 30, joint 100 epochs)';
    } else {
      initLabel = `official pretrained weights (${initDir})`;
    }
  } else {
    initDir = path.resolve(initArg);
    if (!fs.existsSync(path.join(initDir, 'manifest.json'))) throw new CliError(`--init ${initArg}: ${path.join(initDir, 'manifest.json')} not found (give own, official, or a folder of .npy files with manifest.json)`);
    initLabel = `weights from ${initDir}`;
  }

  const ds = loadDataset(name, { dataDir: o['data-dir'], knnK: 5 });
  console.error(`dfcn on ${name}: ${ds.features.rows} nodes, ${ds.features.cols} features → PCA ${preset.pcaDim}, ${ds.labels.k} clusters; ` +
    `${device}, ${native.numThreads()} threads; start: ${initLabel}`);
  const input = prepareDfcnInput(ds, preset, { device });
  const runs: DfcnRunResult[] = [];
  const perEpochTotal = epochs + (initDir ? 0 : 160);
  const total = seeds * perEpochTotal;
  let done = 0;
  const t0 = performance.now();
  try {
    for (let s = 0; s < seeds; s++) {
      const seed = seed0 + s;
      let init: Map<string, Tensor> | undefined;
      if (initDir) init = loadNpyCheckpoint(initDir, device);
      try {
        const save = o.save ? (seeds > 1 ? `${o.save}.seed${seed}` : o.save) : undefined;
        const r = trainDfcn(input, preset, {
          seed,
          epochs,
          lr,
          init,
          learnableAlpha,
          saveFinal: save,
          callbacks: {
            onEpoch: (e) => {
              done++;
              const m = e.metrics ? ` ACC ${pct(e.metrics.acc)}` : '';
              hooks.progress?.(done, total, `seed ${seed} ${e.phase} ${e.epoch}/${e.epochs} loss ${(e.losses.total ?? e.losses.ae).toFixed(4)}${m}`);
            },
          },
        });
        runs.push(r);
        console.error(`seed ${seed}: final ACC ${pct(r.final.metrics.acc)} (epoch ${r.final.epoch}), best ACC ${pct(r.best.metrics.acc)} (epoch ${r.best.epoch}); ` +
          `${r.timings.epochTrainMs.toFixed(0)} ms/epoch + ${r.timings.epochEvalMs.toFixed(0)} ms k-means`);
        if (save) console.error(`saved the model to ${save}`);
      } finally {
        if (init) for (const t of init.values()) t.dispose();
      }
    }
  } finally {
    input.dispose();
  }
  const seconds = (performance.now() - t0) / 1000;

  const paper = DFCN_PAPER[name];
  console.log(`DFCN on ${name}, ${seeds} seed${seeds > 1 ? 's' : ''} (${seed0}..${seed0 + seeds - 1}), ${epochs} epochs, lr ${lr}; start: ${initArg === 'own' || !initDir ? 'own pretraining' : 'official pretrained weights'}`);
  console.log('');
  console.log('| result | ACC | NMI | ARI | F1 |');
  console.log('|---|---|---|---|---|');
  console.log(summaryRow('final epoch (label-free)', runs.map((r) => r.final.metrics)));
  console.log(summaryRow('best epoch by ACC (selected with labels, paper protocol)', runs.map((r) => r.best.metrics)));
  if (paper) {
    const c = (k: 'acc' | 'nmi' | 'ari' | 'f1'): string => `${paper[k][0].toFixed(1)} ± ${paper[k][1].toFixed(1)}`;
    console.log(`| paper (DFCN, AAAI 2021, best epoch, 10 runs) | ${c('acc')} | ${c('nmi')} | ${c('ari')} | ${c('f1')} |`);
  }
  console.log('');
  console.log(`time: ${seconds.toFixed(1)} s in all; ${meanStd(runs.map((r) => r.timings.epochTrainMs)).mean.toFixed(0)} ms per training epoch ` +
    `+ ${meanStd(runs.map((r) => r.timings.epochEvalMs)).mean.toFixed(0)} ms per evaluation (k-means, 20 restarts)`);

  if (o.json) {
    const report = {
      command: 'train',
      model: 'dfcn',
      settings: { dataset: name, seeds: runs.map((r) => r.seed), epochs, lr, init: initArg, initDir, learnableAlpha, device, threads: native.numThreads(), pcaDim: preset.pcaDim, preset },
      machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), platform: `${os.platform()}-${os.arch()}`, node: process.version, backends: native.backends() },
      preprocessing: input.timings,
      summary: {
        final: summarize(runs.map((r) => r.final.metrics)),
        best: summarize(runs.map((r) => r.best.metrics)),
        paper: paper ?? null,
      },
      runs: runs.map((r) => ({
        seed: r.seed,
        initial: r.initial,
        final: r.final,
        best: r.best,
        timings: r.timings,
        epochs: r.events.map((e) => ({ phase: e.phase, epoch: e.epoch, losses: e.losses, metrics: e.metrics, trainMs: round(e.trainMs), evalMs: round(e.evalMs) })),
      })),
      seconds,
    };
    (hooks.writeJson ?? ((f, t) => fs.writeFileSync(f, t)))(o.json, JSON.stringify(report, null, 1));
    console.error(`wrote ${o.json}`);
  }
}

function summarize(ms: { acc: number; nmi: number; ari: number; f1: number }[]) {
  const out: Record<string, { mean: number; std: number }> = {};
  for (const k of ['acc', 'nmi', 'ari', 'f1'] as const) out[k] = meanStd(ms.map((m) => m[k]));
  return out;
}

const round = (x: number): number => Math.round(x * 100) / 100;

function parseBool(v: string, name: string): boolean {
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  throw new CliError(`option '--${name}' must be true or false, got '${v}'`);
}

