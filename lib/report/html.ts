// `renderReport(run)`: one self-contained HTML page for a training run (the JSON of `dgclust train --json`):
// the results, training curves, a 2-D map of the embedding, the confusion matrix after matching, cluster sizes,
// and the run's settings, dataset, machine and timings. Figures are inline SVG (figures.ts); the styles are
// inline; the page has no script and loads nothing (no network, no font files), so it opens anywhere offline.
import * as fs from 'fs';
import * as path from 'path';
import { DgcError } from '../tensor';
import { packageRoot } from '../native';
import { meanStd } from '../train/loop';
import { getModel, modelNames } from '../models/registry';
import { validateRun, loadEmbedding, METRICS } from './run-file';
import type { RunReport, RunRecord, MetricName, Metrics } from './run-file';
import { embeddingMap } from './embedding-map';
import type { EmbeddingMap } from './embedding-map';
import { confusionSpec, embeddingSpec, labelCount, lossesSpec, mainPhase, matchClusters, metricsSpec, pretrainingSpec, renderSvg, sizesSpec } from './figures';
import type { Figure, Matching } from './figures';

export interface ReportOptions {
  /** The folder the run's relative paths (the embedding .npy) are resolved against: the JSON's folder. Default: cwd. */
  baseDir?: string;
  /** How the page and error messages name the run (its file). Default 'the run'. */
  source?: string;
  /** The seed of the run whose map, confusion matrix and cluster sizes are drawn. Default: the first run. */
  run?: number;
  /** At most this many points in the embedding map (default 5000; a larger embedding is subsampled). */
  mapPoints?: number;
  /** Seed of the map's subsample and layout (default 0). */
  mapSeed?: number;
  /** UMAP layout epochs (default 200). */
  mapEpochs?: number;
  /** Progress messages ("embedding map: 40/200 epochs"). */
  onProgress?: (text: string) => void;
  /**
   * Embeddings held in memory, by seed, for runs whose JSON names no .npy file (`dgclust train --report` without
   * --json writes none). A file the run names takes precedence.
   */
  embeddings?: Map<number, { rows: number; cols: number; data: Float32Array }>;
}

export interface BuiltReport {
  html: string;
  /** The figures on the page, in order (for --png). */
  figures: Figure[];
  /** The embedding map's layout, or null when the run saved no embedding. */
  map: EmbeddingMap | null;
  /** Warnings of vega-lite / vega while rendering (none expected). */
  warnings: string[];
}

const MODEL_NAMES: Record<string, string> = { dfcn: 'DFCN', sdcn: 'SDCN', agcn: 'AGCN', caegcn: 'CaEGCN', dec: 'DEC', idec: 'IDEC', ae: 'AE', cdc: 'CDC', dccf: 'DCCF' };
const METRIC_LABEL: Record<MetricName, string> = { acc: 'ACC', nmi: 'NMI', ari: 'ARI', f1: 'F1' };

const esc = (s: unknown): string => String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const pct = (x: number): string => (100 * x).toFixed(2);
/** The paper's protocol (a run's summary.paperProtocol.rule) in words. */
const PROTOCOL_WORDS: Record<string, string> = {
  'best-acc-epoch': 'best epoch by ACC', 'per-metric-max': 'maximum of each metric over the epochs', final: 'final epoch',
};
const num = (x: number): string => x.toLocaleString('en-US');
const ms = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '—' : x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${x.toFixed(x < 10 ? 1 : 0)} ms`);

function meanStdCell(xs: number[]): string {
  const { mean, std } = meanStd(xs);
  return xs.length > 1 ? `${pct(mean)} ± ${pct(std)}` : pct(mean);
}

function version(): string {
  try {
    return JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
}

/** A value of settings / machine as one line of text. */
function show(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (Array.isArray(v)) return v.map(show).join(', ');
  if (typeof v === 'object') return Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k}: ${show(x)}`).join('; ');
  return String(v);
}

function kvTable(rows: [string, string][]): string {
  return `<table class="kv">${rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('')}</table>`;
}

function figureHtml(f: Figure): string {
  return `<figure id="fig-${f.id}" data-figure="${f.id}"><figcaption><h3>${esc(f.title)}</h3><p class="caption">${esc(f.caption)}</p></figcaption>${f.svg}</figure>`;
}

const note = (text: string, id: string): string => `<p class="note" data-missing="${id}">${esc(text)}</p>`;

/** Builds the page and its figures. `value` is a parsed RUN.json (checked here; a wrong shape is DGC_DATA). */
export async function buildReport(value: unknown, options: ReportOptions = {}): Promise<BuiltReport> {
  const source = options.source ?? 'the run';
  const run: RunReport = validateRun(value, source);
  const progress = options.onProgress ?? (() => {});
  const runs = run.runs;
  const chosen: RunRecord = options.run === undefined ? runs[0] : runs.find((r) => r.seed === options.run) ?? (() => {
    throw new DgcError('DGC_ARG', `report: ${source} has no run with seed ${options.run} (its seeds: ${runs.map((r) => r.seed).join(', ')})`);
  })();
  const model = MODEL_NAMES[run.model] ?? run.model;
  const datasetName = String(run.dataset?.name ?? run.settings.dataset ?? 'an unnamed dataset');
  const truth = run.truth ?? null;
  const predicted = chosen.predicted ?? null;
  const matching: Matching | null = truth && predicted ? matchClusters(truth, predicted) : null;

  // ---- figures
  const figures: Figure[] = [];
  const warnings: string[] = [];
  const seedsText = runs.length > 1 ? `One line per run (seeds ${runs.map((r) => r.seed).join(', ')})` : `Seed ${runs[0].seed}`;
  const main = mainPhase(runs[0]);
  const metrics = metricsSpec(runs);
  if (metrics) {
    figures.push({
      id: 'metrics', title: 'Clustering quality per epoch',
      caption: `ACC, NMI, ARI and F1 (percent) of k-means on the embedding after every ${main} epoch; epoch 0 is the starting point. ` +
        `▲ marks the best epoch by ACC (the papers' protocol, selected with the labels), ■ the final epoch (label-free). ${seedsText}; each panel has its own scale.`,
      svg: await renderSvg(metrics, warnings),
    });
  }
  const losses = lossesSpec(runs);
  if (losses) {
    figures.push({
      id: 'losses', title: 'Loss terms per epoch',
      caption: `Every loss term of the ${main} phase, one panel each with its own scale; ${runs.some((r) => r.best) ? '▲ best epoch by ACC, ' : ''}■ final epoch. ${seedsText}.`,
      svg: await renderSvg(losses, warnings),
    });
  }
  const pre = pretrainingSpec(runs);
  if (pre) {
    figures.push({ id: 'pretraining', title: 'Pretraining losses', caption: `Loss terms of the phases before ${main}, per phase and term. ${seedsText}.`, svg: await renderSvg(pre, warnings) });
  }

  let map: EmbeddingMap | null = null;
  const held = options.embeddings?.get(chosen.seed);
  const embedding = loadEmbedding(chosen, options.baseDir ?? process.cwd(), source) ??
    (held && (!predicted || predicted.length === held.rows) ? { file: 'held in memory', ...held } : null);
  if (embedding) {
    const points = Math.min(embedding.rows, options.mapPoints ?? 5000);
    progress(`embedding map: UMAP of ${points} points${points < embedding.rows ? ` (of ${embedding.rows})` : ''}`);
    map = await embeddingMap(embedding.data, embedding.rows, embedding.cols, predicted, {
      maxPoints: options.mapPoints,
      seed: options.mapSeed,
      nEpochs: options.mapEpochs,
      onProgress: (d, t) => progress(`embedding map: ${d}/${t} epochs`),
    });
    figures.push({
      id: 'embedding', title: 'Embedding map',
      caption: `The learned embedding of seed ${chosen.seed} in 2-D: ${map.method}. Left: the predicted clusters; ` +
        (truth ? 'right: the true classes. A cluster has the colour of the class it is matched to (Hungarian matching, as ACC).' : 'the dataset has no labels with this run.'),
      svg: await renderSvg(embeddingSpec(map, predicted, truth, matching), warnings),
    });
  }
  if (matching) {
    figures.push({
      id: 'confusion', title: 'Confusion matrix',
      caption: `Nodes of each true class (rows) in each predicted cluster (columns) at the final epoch of seed ${chosen.seed}; columns ordered by the class each cluster is matched to, ` +
        `so the matched pairs (bold) lie on the diagonal. Shade: the share of the row. Matched agreement: ${pct(matching.accuracy)}% (ACC).`,
      svg: await renderSvg(confusionSpec(matching), warnings),
    });
  }
  if (predicted) {
    figures.push({
      id: 'sizes', title: 'Cluster sizes',
      caption: matching
        ? `Nodes per predicted cluster beside the size of the class it is matched to (seed ${chosen.seed}, final epoch).`
        : `Nodes per predicted cluster (seed ${chosen.seed}, final epoch).`,
      svg: await renderSvg(sizesSpec(predicted, matching), warnings),
    });
  }
  const fig = (id: string): Figure | undefined => figures.find((f) => f.id === id);

  // ---- tables
  const k = run.dataset?.k ?? (truth ? labelCount(truth) : undefined);
  const usedClusters = predicted ? new Set(predicted).size : null;
  // A run on data without labels has no metrics: its rows say so instead of numbers.
  const labelled = runs.every((r) => r.final.metrics);
  const metricsOf = (x: Metrics | undefined, m: MetricName): string => (x ? pct(x[m]) : '—');
  const summaryRows: [string, Metrics[]][] = labelled ? [
    ['final epoch (label-free)', runs.map((r) => r.final.metrics!)],
    ['best epoch by ACC (selected with labels)', runs.filter((r) => r.best).map((r) => r.best!.metrics)],
  ] : [];
  const paper = run.summary?.paper ?? null;
  // The paper's numbers as it reports them: mean ± std, or the mean alone where it gives no std; under its protocol.
  const paperCell = (v: [number, number | null] | undefined): string => (v ? `${v[0].toFixed(1)}${v[1] !== null && v[1] !== undefined ? ` ± ${v[1].toFixed(1)}` : ''}` : '—');
  // Files written before runs recorded the rule: the model's own (registry), where the model is known.
  const rule = run.summary?.paperProtocol?.rule ?? (modelNames().includes(run.model) ? getModel(run.model).paperProtocol : '');
  const protocol = PROTOCOL_WORDS[String(rule)] ?? 'its protocol';
  const summaryTable = labelled
    ? `<table class="num"><thead><tr><th>${esc(`${runs.length} run${runs.length > 1 ? 's' : ''}, percent`)}</th>${METRICS.map((m) => `<th>${METRIC_LABEL[m]}</th>`).join('')}</tr></thead><tbody>` +
      summaryRows.map(([label, ms]) => `<tr><td>${esc(label)}</td>${METRICS.map((m) => `<td>${ms.length ? meanStdCell(ms.map((x) => x[m])) : '—'}</td>`).join('')}</tr>`).join('') +
      (paper ? `<tr class="paper"><td>${esc(`paper (${protocol})`)}</td>${METRICS.map((m) => `<td>${paperCell(paper[m])}</td>`).join('')}</tr>` : '') +
      '</tbody></table>'
    : note('The data of this run has no labels: no ACC, NMI, ARI or F1 (the clusters and their sizes are below).', 'labels');
  const perRun = labelled
    ? '<table class="num"><thead>' +
      '<tr><th></th><th colspan="5" class="group">final epoch (label-free)</th><th colspan="5" class="group">best epoch by ACC</th><th colspan="2" class="group">time per epoch</th></tr>' +
      `<tr><th>seed</th><th>epoch</th>${METRICS.map((m) => `<th>${METRIC_LABEL[m]}</th>`).join('')}<th>epoch</th>${METRICS.map((m) => `<th>${METRIC_LABEL[m]}</th>`).join('')}<th>training</th><th>evaluation</th></tr></thead><tbody>` +
      runs.map((r) => `<tr${r === chosen ? ' class="chosen"' : ''}><td>${r.seed}</td><td>${r.final.epoch}</td>${METRICS.map((m) => `<td>${metricsOf(r.final.metrics, m)}</td>`).join('')}` +
        `<td>${r.best ? r.best.epoch : '—'}</td>${METRICS.map((m) => `<td>${metricsOf(r.best?.metrics, m)}</td>`).join('')}` +
        `<td>${ms(r.timings?.epochTrainMs)}</td><td>${ms(r.timings?.epochEvalMs)}</td></tr>`).join('') +
      '</tbody></table>'
    // Without labels: the final epoch, the clusters its labels use, the time.
    : '<table class="num"><thead><tr><th>seed</th><th>final epoch</th><th>clusters used</th><th>training per epoch</th><th>evaluation per epoch</th></tr></thead><tbody>' +
      runs.map((r) => `<tr${r === chosen ? ' class="chosen"' : ''}><td>${r.seed}</td><td>${r.final.epoch}</td><td>${r.predicted ? new Set(r.predicted).size : '—'}${k !== undefined ? ` of ${k}` : ''}</td>` +
        `<td>${ms(r.timings?.epochTrainMs)}</td><td>${ms(r.timings?.epochEvalMs)}</td></tr>`).join('') +
      '</tbody></table>';

  const settings = kvTable(Object.entries(run.settings).map(([k, v]) => [k, show(v)]));
  const n = run.dataset?.n ?? truth?.length ?? predicted?.length ?? embedding?.rows;
  const datasetRows: [string, string][] = [['name', datasetName]];
  if (n !== undefined) datasetRows.push(['nodes', num(n)]);
  if (typeof run.dataset?.d === 'number') datasetRows.push(['features', num(run.dataset.d)]);
  if (k !== undefined) datasetRows.push(['classes', String(k)]);
  if (usedClusters !== null) datasetRows.push(['predicted clusters (shown run)', String(usedClusters)]);
  if (run.dataset?.edges !== undefined && run.dataset.edges !== null) datasetRows.push(['edges', num(run.dataset.edges)]);
  datasetRows.push(['labels', truth || run.dataset?.hasLabels ? 'yes' : run.dataset?.hasLabels === false ? 'no' : 'not saved with this run']);
  if (embedding) datasetRows.push(['embedding (shown run)', `${num(embedding.rows)} × ${embedding.cols} (${path.basename(embedding.file)})`]);
  const machine = run.machine ?? {};
  const machineRows: [string, string][] = Object.entries(machine).filter(([key]) => key !== 'backends').map(([key, v]) => [key === 'memoryGiB' ? 'memory' : key, key === 'memoryGiB' ? `${v} GiB` : show(v)]);
  if (Array.isArray(machine.backends)) {
    for (const b of machine.backends as { name?: string; available?: boolean; threads?: number; reason?: string }[]) {
      machineRows.push([`backend ${b.name ?? '?'}`, b.available ? `available${b.threads ? ` (${b.threads} threads)` : ''}` : `unavailable${b.reason ? `: ${b.reason}` : ''}`]);
    }
  }
  const timingRows: [string, string][] = [];
  if (run.seconds !== undefined) timingRows.push(['whole run', `${run.seconds.toFixed(1)} s`]);
  const mean = (f: (r: RunRecord) => number | undefined): number | undefined => {
    const xs = runs.map(f).filter((x): x is number => x !== undefined);
    return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined;
  };
  timingRows.push(['training epoch (mean)', ms(mean((r) => r.timings?.epochTrainMs))]);
  timingRows.push(['evaluation per epoch (mean)', ms(mean((r) => r.timings?.epochEvalMs))]);
  timingRows.push(['pretraining (mean)', ms(mean((r) => r.timings?.pretrainMs))]);
  timingRows.push(['training (mean)', ms(mean((r) => r.timings?.trainMs))]);
  for (const [key, v] of Object.entries(run.preprocessing ?? {})) if (typeof v === 'number') timingRows.push([`preprocessing: ${key.replace(/Ms$/, '')}`, ms(v)]);
  if (map && map.layoutMs > 0) timingRows.push(['this report: embedding map', `${ms(map.knnMs)} kNN + ${ms(map.layoutMs)} UMAP`]);

  // ---- the page
  const finalAcc = runs.flatMap((r) => (r.final.metrics ? [r.final.metrics.acc] : []));
  const bestAcc = runs.flatMap((r) => (r.best ? [r.best.metrics.acc] : []));
  const stat = (label: string, value: string, sub: string): string => `<div class="stat"><div class="l">${esc(label)}</div><div class="v">${esc(value)}</div><div class="s">${esc(sub)}</div></div>`;
  const epochs = run.settings.epochs;
  const title = `${model} on ${datasetName}`;
  const sub = [
    `${runs.length} run${runs.length > 1 ? 's' : ''} (seed${runs.length > 1 ? 's' : ''} ${runs.map((r) => r.seed).join(', ')})`,
    epochs !== undefined ? `${epochs} epochs` : null,
    run.settings.device ? `on ${run.settings.device}` : null,
    run.version ? `dgclust ${run.version}` : null,
  ].filter(Boolean).join(' · ');
  const body = [
    `<header><h1>${esc(title)}</h1><p class="sub">${esc(sub)}</p><p class="src">report of <code>${esc(source)}</code>, made by dgclust ${esc(version())}</p></header>`,
    `<div class="stats">`,
    finalAcc.length ? stat('final ACC', meanStdCell(finalAcc), 'final epoch, label-free') : '',
    bestAcc.length ? stat('best ACC', meanStdCell(bestAcc), 'best epoch, selected with labels') : '',
    paper?.acc && finalAcc.length ? stat('paper ACC', paperCell(paper.acc), `reported, ${protocol}`) : '',
    run.seconds !== undefined ? stat('time', `${run.seconds.toFixed(1)} s`, `${ms(mean((r) => r.timings?.epochTrainMs))} per epoch`) : '',
    `</div>`,
    `<section id="results"><h2>Results</h2>${summaryTable}<h3>Per run</h3>${perRun}</section>`,
    `<section id="training"><h2>Training</h2>${fig('metrics') ? figureHtml(fig('metrics')!) : note('No per-epoch metrics in this run (the dataset has no labels, or evaluation was off).', 'metrics')}` +
      `${fig('losses') ? figureHtml(fig('losses')!) : note('No loss values in this run.', 'losses')}${fig('pretraining') ? figureHtml(fig('pretraining')!) : ''}</section>`,
    `<section id="embedding"><h2>Embedding</h2>${fig('embedding') ? figureHtml(fig('embedding')!) : note('No embedding was saved with this run, so there is no map.', 'embedding')}</section>`,
    `<section id="clusters"><h2>Clusters and classes</h2>` +
      (usedClusters !== null && k !== undefined && usedClusters < k
        ? `<p class="warn" data-collapse="${usedClusters}">${esc(`The final labels of seed ${chosen.seed} use ${usedClusters} of the ${k} clusters: ` +
          'the others are empty (a collapsed prediction; the sizes below show it).')}</p>`
        : '') +
      (predicted
        ? `<div class="pair">${fig('confusion') ? figureHtml(fig('confusion')!) : note('The run saved no true labels, so there is no confusion matrix.', 'confusion')}${figureHtml(fig('sizes')!)}</div>`
        : note('No predicted labels were saved with this run, so there is no confusion matrix and no cluster sizes.', 'confusion')) +
      `</section>`,
    `<section id="details"><h2>Run details</h2><div class="details">` +
      `<div><h3>Settings</h3>${settings}</div><div><h3>Dataset</h3>${kvTable(datasetRows)}<h3>Timings</h3>${kvTable(timingRows)}</div>` +
      `<div><h3>Machine</h3>${machineRows.length ? kvTable(machineRows) : note('Not recorded.', 'machine')}</div></div></section>`,
  ].join('\n');
  const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="dgclust ${esc(version())}">
<title>${esc(title)} — dgclust report</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
  return { html, figures, map, warnings };
}

/** The HTML page of a run (a parsed RUN.json): self-contained, figures as inline SVG. */
export async function renderReport(run: unknown, options: ReportOptions = {}): Promise<string> {
  return (await buildReport(run, options)).html;
}

const STYLE = `
:root { --fg: #1f2328; --muted: #5b6570; --line: #d8dee4; --bg: #f5f7f9; --accent: #2f6fb0; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; }
main { max-width: 1280px; margin: 0 auto; padding: 28px 32px 56px; }
header h1 { font-size: 26px; margin: 0; letter-spacing: -0.01em; }
header .sub { margin: 4px 0 0; color: var(--muted); font-size: 15px; }
header .src { margin: 2px 0 0; color: var(--muted); font-size: 12px; }
code { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 0.92em; background: #eef1f4; padding: 0 4px; border-radius: 3px; }
h2 { font-size: 18px; margin: 0 0 12px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
section { background: white; border: 1px solid var(--line); border-radius: 10px; padding: 18px 22px 20px; margin: 18px 0; }
.stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 14px; margin: 20px 0 0; }
.stat { background: white; border: 1px solid var(--line); border-left: 4px solid var(--accent); border-radius: 8px; padding: 10px 16px; }
.stat .l { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: 0.06em; }
.stat .v { font-size: 24px; font-weight: 650; font-variant-numeric: tabular-nums; }
.stat .s { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; margin: 4px 0; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { font-weight: 600; background: #f6f8fa; }
th:first-child, td:first-child { text-align: left; }
tr.paper td { color: var(--muted); font-style: italic; }
tr.chosen td:first-child { font-weight: 700; }
.table-wrap, section { overflow-x: auto; }
table.kv td { text-align: left; white-space: normal; vertical-align: top; }
table.kv td:first-child { color: var(--muted); white-space: nowrap; }
figure { margin: 8px 0 18px; }
figure h3 { margin: 0; }
p.caption { color: var(--muted); margin: 2px 0 10px; max-width: 110ch; }
figure svg { display: block; max-width: 100%; height: auto; }
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 8px 36px; align-items: start; }
th.group { text-align: center; font-weight: 600; color: var(--muted); border-bottom: 2px solid var(--line); }
.details { display: grid; grid-template-columns: repeat(auto-fit, minmax(330px, 1fr)); gap: 0 28px; }
.details h3:first-child { margin-top: 0; }
p.note { color: var(--muted); font-style: italic; margin: 6px 0 14px; }
p.warn { border-left: 4px solid #c0392b; padding: 4px 10px; margin: 6px 0 14px; max-width: 110ch; }
`;
