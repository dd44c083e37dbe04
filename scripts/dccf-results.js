#!/usr/bin/env node
// Aggregates the DCCF reproduction reports (docs/results/dccf-<dataset>-<variant>-s<a>-<b>.json, written by
// `dgclust train --model dccf ... --json`) into the tables of docs/RESULTS.md: per dataset and variant, the seeds
// found, and mean ± std (population std, as the CLI's summaries) of the final, label-free ACC / NMI / ARI (argmax S
// on all N at the end), of AE + k-means on the same pretrained autoencoder, epochs run and why training stopped.
// Usage: node scripts/dccf-results.js [docs/results]
'use strict';
const fs = require('fs');
const path = require('path');

const dir = process.argv[2] || path.join(__dirname, '..', 'docs', 'results');
const groups = new Map();
for (const f of fs.readdirSync(dir).filter((n) => /^dccf-.*\.json$/.test(n)).sort()) {
  const m = /^dccf-([a-z0-9]+)-([a-z-]+?)-s\d+-\d+\.json$/.exec(f);
  if (!m) continue;
  const rep = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
  const key = `${m[1]}|${m[2]}`;
  if (!groups.has(key)) groups.set(key, []);
  for (const r of rep.runs) groups.get(key).push({ file: f, run: r });
}

const stat = (xs) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  return `${(100 * mean).toFixed(2)} ± ${(100 * std).toFixed(2)}`;
};

console.log('| dataset | variant | seeds | final ACC | final NMI | final ARI | AE + k-means ACC | AE + k-means NMI | joint epochs (min–max) | stopped by δ |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const [key, runs] of groups) {
  const [dataset, variant] = key.split('|');
  const seeds = runs.map((x) => x.run.seed).sort((a, b) => a - b);
  const fin = (k) => stat(runs.map((x) => x.run.final.metrics[k]));
  const ini = (k) => stat(runs.map((x) => x.run.initial.metrics[k]));
  const epochs = runs.map((x) => x.run.final.epoch);
  const stopped = runs.filter((x) => x.run.stopped).length;
  console.log(`| ${dataset} | ${variant} | ${seeds.length} (${seeds.join(',')}) | ${fin('acc')} | ${fin('nmi')} | ${fin('ari')} | ${ini('acc')} | ${ini('nmi')} | ${Math.min(...epochs)}–${Math.max(...epochs)} | ${stopped}/${runs.length} |`);
}
