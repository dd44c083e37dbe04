#!/usr/bin/env node
// Rebuilds the CDC tables of docs/RESULTS.md from the CLI's JSON reports (`dgclust train --model cdc|dec|idec ...
// --json FILE`), which the queue jobs write to scratch/results/ (full reports, with every prediction and the
// embeddings: not committed). Writes compact per-dataset files docs/results/cdc-<dataset>.json (every run's settings,
// per-evaluation ACC/NMI/ARI, timings) and replaces the text between <!-- cdc-tables:begin --> and
// <!-- cdc-tables:end --> in docs/RESULTS.md.
//
// usage: node scripts/results-cdc.js [REPORT_DIR]   (default scratch/results)
//
// File names: <model>-<dataset>[-<variant>][-s<seed>].json with model cdc | dec | idec and variant
//   (none)  the paper's protocol;  Lc  eta = beta = 0 (AE* + L_c);  LcLa  beta = 0 (AE* + L_c + L_a);
//   Lr      lambda = 0 and no fine-tuning (AE + L_r, then k-means).
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const inDir = path.resolve(process.argv[2] || path.join(root, 'scratch', 'results'));
const outDir = path.join(root, 'docs', 'results');
const pct = (x) => (100 * x).toFixed(2);
const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
const std = (v) => (v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean(v)) ** 2, 0) / (v.length - 1)) : 0);
const upperMedian = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

// ---- gather ----
const groups = new Map(); // key model|dataset|variant → { runs: [], reports: [] }
const NAME = /^(cdc|dec|idec)-([a-z0-9]+?)(?:-(Lc|LcLa|Lr))?(?:-s(\d+))?\.json$/;
for (const f of fs.existsSync(inDir) ? fs.readdirSync(inDir).sort() : []) {
  const m = NAME.exec(f);
  if (!m) continue;
  const rep = JSON.parse(fs.readFileSync(path.join(inDir, f), 'utf8'));
  const key = `${m[1]}|${m[2]}|${m[3] || 'main'}`;
  if (!groups.has(key)) groups.set(key, { model: m[1], dataset: m[2], variant: m[3] || 'main', runs: [], reports: [] });
  const g = groups.get(key);
  g.reports.push({ file: f, settings: rep.settings, machine: rep.machine, seconds: rep.seconds, preprocessing: rep.preprocessing });
  for (const r of rep.runs) {
    const train = r.epochs.filter((e) => e.phase === 'train');
    const pre = r.epochs.filter((e) => e.phase !== 'train');
    g.runs.push({
      seed: r.seed,
      initial: r.initial && r.initial.metrics,
      final: r.final.metrics,
      finalIteration: r.final.iteration,
      best: r.best && r.best.metrics,
      stopped: r.stopped,
      evaluations: train.map((e) => ({ iteration: e.iteration, acc: e.metrics && e.metrics.acc, nmi: e.metrics && e.metrics.nmi, ari: e.metrics && e.metrics.ari, losses: e.losses })),
      pretrainEpochs: pre.length,
      timings: r.timings,
    });
  }
}
for (const g of groups.values()) g.runs.sort((a, b) => a.seed - b.seed);

// ---- compact JSON per dataset ----
fs.mkdirSync(outDir, { recursive: true });
const byDataset = new Map();
for (const g of groups.values()) {
  if (!byDataset.has(g.dataset)) byDataset.set(g.dataset, {});
  byDataset.get(g.dataset)[`${g.model}${g.variant === 'main' ? '' : `-${g.variant}`}`] = { reports: g.reports, runs: g.runs };
}
for (const [ds, content] of byDataset) {
  fs.writeFileSync(path.join(outDir, `cdc-${ds}.json`), JSON.stringify({ dataset: ds, source: 'scripts/results-cdc.js', groups: content }, null, 1));
}

// ---- tables ----
const get = (model, ds, variant) => groups.get(`${model}|${ds}|${variant}`);
const metricCells = (runs, which) => {
  const ms = runs.map((r) => r[which]).filter(Boolean);
  if (!ms.length) return null;
  const f = (k) => ms.map((m) => m[k]);
  return { n: ms.length, acc: f('acc'), nmi: f('nmi'), ari: f('ari') };
};
const ms = (v) => `${pct(mean(v))} ± ${pct(std(v))}`;

function mainTable(ds, paper) {
  const g = get('cdc', ds, 'main');
  if (!g) return `_No CDC runs on ${ds} have finished yet._`;
  const lines = [
    '| seed | AE* + k-means ACC | NMI | CDC ACC (last evaluation) | NMI | ARI | iteration | pretraining s | fine-tuning s |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of g.runs) {
    lines.push(`| ${r.seed} | ${pct(r.initial.acc)} | ${pct(r.initial.nmi)} | ${pct(r.final.acc)} | ${pct(r.final.nmi)} | ${pct(r.final.ari)} | ${r.finalIteration} | ${(r.timings.pretrainMs / 1000).toFixed(0)} | ${(r.timings.trainMs / 1000).toFixed(0)} |`);
  }
  const fin = metricCells(g.runs, 'final');
  const ini = metricCells(g.runs, 'initial');
  lines.push(`| **mean ± std (${fin.n})** | ${ms(ini.acc)} | ${ms(ini.nmi)} | **${ms(fin.acc)}** | **${ms(fin.nmi)}** | ${ms(fin.ari)} | | | |`);
  lines.push(`| **upper median** | ${pct(upperMedian(ini.acc))} | ${pct(upperMedian(ini.nmi))} | **${pct(upperMedian(fin.acc))}** | **${pct(upperMedian(fin.nmi))}** | ${pct(upperMedian(fin.ari))} | | | |`);
  if (paper) {
    lines.push(`| paper, mean | | | ${paper.mean.acc.toFixed(1)} | ${paper.mean.nmi.toFixed(1)} | – | ${paper.iteration} | | |`);
    lines.push(`| paper, median | | | ${paper.median.acc.toFixed(1)} | ${paper.median.nmi.toFixed(1)} | – | | | |`);
    lines.push(`| **mean − paper** | | | **${(100 * mean(fin.acc) - paper.mean.acc).toFixed(2)}** | ${(100 * mean(fin.nmi) - paper.mean.nmi).toFixed(2)} | | | | |`);
  }
  return lines.join('\n');
}

function ablationTable(ds, paperRow) {
  const rows = [
    ['AE + L_r (k-means)', get('cdc', ds, 'Lr'), 'initial', paperRow && paperRow[0]],
    ['AE + L_AE (k-means) = AE*', get('cdc', ds, 'main'), 'initial', paperRow && paperRow[1]],
    ['AE* + L_c', get('cdc', ds, 'Lc'), 'final', paperRow && paperRow[2]],
    ['AE* + L_c + L_a', get('cdc', ds, 'LcLa'), 'final', paperRow && paperRow[3]],
    ['AE* + L_DC (CDC)', get('cdc', ds, 'main'), 'final', paperRow && paperRow[4]],
  ];
  const lines = ['| configuration | seeds | ACC mean ± std | NMI mean ± std | paper ACC (NMI) | ACC − paper |', '|---|---|---|---|---|---|'];
  for (const [label, g, which, p] of rows) {
    const c = g && metricCells(g.runs, which);
    if (!c) {
      lines.push(`| ${label} | 0 | not run | | ${p ? `${p[0].toFixed(1)} (${p[1].toFixed(1)})` : ''} | |`);
      continue;
    }
    lines.push(`| ${label} | ${c.n} (${g.runs.map((r) => r.seed).join(', ')}) | ${ms(c.acc)} | ${ms(c.nmi)} | ${p ? `${p[0].toFixed(1)} (${p[1].toFixed(1)})` : '–'} | ${p ? (100 * mean(c.acc) - p[0]).toFixed(2) : ''} |`);
  }
  return lines.join('\n');
}

function besideTable(ds) {
  const lines = ['| model | seeds | AE + k-means ACC (its own AE) | ACC mean ± std | NMI mean ± std | ARI mean ± std | upper median ACC / NMI |', '|---|---|---|---|---|---|---|'];
  let any = false;
  for (const model of ['cdc', 'dec', 'idec']) {
    const g = get(model, ds, 'main');
    if (!g) continue;
    any = true;
    const fin = metricCells(g.runs, 'final');
    const ini = metricCells(g.runs, 'initial');
    lines.push(`| ${model.toUpperCase()} | ${fin.n} | ${ini ? ms(ini.acc) : '–'} | ${ms(fin.acc)} | ${ms(fin.nmi)} | ${ms(fin.ari)} | ${pct(upperMedian(fin.acc))} / ${pct(upperMedian(fin.nmi))} |`);
  }
  return any ? lines.join('\n') : `_No runs on ${ds} have finished yet._`;
}

const blocks = [];
blocks.push('### Fashion-MNIST: paper Table 2 (10 trials, each with its own pretraining)\n');
blocks.push(mainTable('fmnist', { mean: { acc: 64.9, nmi: 64.5 }, median: { acc: 66.0, nmi: 64.6 }, iteration: 4900 }));
blocks.push('\n### Fashion-MNIST: paper Table 3 (ablation; mean ACC and NMI)\n');
blocks.push(ablationTable('fmnist', [[56.4, 59.0], [60.1, 58.1], [61.1, 64.0], [63.1, 64.3], [64.9, 64.5]]));
for (const ds of ['usps', 'mnist', 'coil20']) {
  if (![...groups.values()].some((g) => g.dataset === ds)) continue;
  blocks.push(`\n### ${ds === 'usps' ? 'USPS' : ds === 'mnist' ? 'MNIST' : 'COIL-20'} (extension, Fashion-MNIST's settings), with DEC and IDEC beside\n`);
  blocks.push(besideTable(ds));
  if (get('cdc', ds, 'Lc') || get('cdc', ds, 'LcLa')) {
    blocks.push('\nAblation on the same pretrained AE*:\n');
    blocks.push(ablationTable(ds, null));
  }
}
const text = blocks.join('\n');

const resultsFile = path.join(root, 'docs', 'RESULTS.md');
const doc = fs.readFileSync(resultsFile, 'utf8');
const begin = '<!-- cdc-tables:begin -->';
const end = '<!-- cdc-tables:end -->';
const i = doc.indexOf(begin);
const j = doc.indexOf(end);
if (i < 0 || j < 0) {
  process.stdout.write(text + '\n');
  process.stderr.write('docs/RESULTS.md has no cdc-tables markers: printed the tables instead\n');
} else {
  fs.writeFileSync(resultsFile, doc.slice(0, i + begin.length) + '\n' + text + '\n' + doc.slice(j));
  process.stderr.write(`updated docs/RESULTS.md and ${[...byDataset.keys()].map((d) => `docs/results/cdc-${d}.json`).join(', ')}\n`);
}
