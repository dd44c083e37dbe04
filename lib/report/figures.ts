// The report's figures: Vega-Lite specifications compiled to Vega and rendered to SVG strings in Node (vega's
// headless View; SVG needs no canvas). Data go inline into each spec; the loader refuses every URL, so
// rendering never touches the network.
//
// vega 5 and vega-lite 5, not 6: the 6 lines are ES modules only (and vega-lite 6 needs Node 22), while this
// package is CommonJS for Node ≥ 18 and its tests run under jest's CommonJS loader. The 5 lines are maintained.
// Both load on first use, not when `dgclust` is required: they take ~0.3 s to load and most programs (training,
// the GPU check, which travels without node_modules) never draw a figure.
import type * as VegaModule from 'vega';
import type * as VegaLiteModule from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import { linearSumAssignment } from '../cluster/hungarian';
import { METRICS } from './run-file';
import type { RunRecord, RunEpoch, MetricName } from './run-file';
import type { EmbeddingMap } from './embedding-map';

export interface Figure {
  /** File-name-safe id: 'metrics', 'losses', 'embedding', 'confusion', 'sizes'. */
  id: string;
  title: string;
  /** What the figure shows and how to read it (HTML-escaped by the page). */
  caption: string;
  svg: string;
}

const CONFIG = {
  background: 'white',
  font: 'DejaVu Sans, Helvetica, Arial, sans-serif',
  padding: 8,
  view: { stroke: '#d0d0d0' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', titleColor: '#333', labelColor: '#444', gridColor: '#ececec', domainColor: '#999', tickColor: '#999' },
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', titleColor: '#333', labelColor: '#333', symbolSize: 80, labelLimit: 260 },
  header: { labelFontSize: 13, labelFontWeight: 'bold', labelColor: '#222', titleFontSize: 12 },
  title: { fontSize: 13, fontWeight: 'bold', anchor: 'start', color: '#222' },
} as const;

let vegaModules: { vega: typeof VegaModule; vegaLite: typeof VegaLiteModule } | null = null;
function modules(): { vega: typeof VegaModule; vegaLite: typeof VegaLiteModule } {
  if (!vegaModules) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    vegaModules = { vega: require('vega') as typeof VegaModule, vegaLite: require('vega-lite') as typeof VegaLiteModule };
  }
  return vegaModules;
}

/** A loader that refuses every load: report specs carry their data inline. */
const offlineLoader = {
  load: (uri: string) => Promise.reject(new Error(`the report does not load data (asked for ${uri})`)),
  sanitize: (uri: string) => Promise.reject(new Error(`the report does not load data (asked for ${uri})`)),
  http: (uri: string) => Promise.reject(new Error(`the report does not load data (asked for ${uri})`)),
  file: (file: string) => Promise.reject(new Error(`the report does not load data (asked for ${file})`)),
};

/** A vega / vega-lite logger that keeps warnings (instead of printing them) for the caller to show or test. */
function collectingLogger(warnings: string[]) {
  const { vega } = modules();
  let level = vega.Warn;
  const logger = {
    level(l?: number) {
      if (l === undefined) return level;
      level = l;
      return logger;
    },
    error(...args: unknown[]) {
      throw new Error(args.map(String).join(' '));
    },
    warn(...args: unknown[]) {
      if (level >= vega.Warn) warnings.push(args.map(String).join(' '));
      return logger;
    },
    info: () => logger,
    debug: () => logger,
  };
  return logger;
}

/** Renders a Vega-Lite spec to an SVG string; vega-lite's and vega's warnings go into `warnings`. */
export async function renderSvg(spec: TopLevelSpec, warnings: string[] = []): Promise<string> {
  const { vega, vegaLite } = modules();
  const logger = collectingLogger(warnings);
  const compiled = vegaLite.compile({ ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec, { logger: logger as never }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', loader: offlineLoader as unknown as VegaModule.Loader, logger: logger as never });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** k categorical colours: Tableau 10, Tableau 20 above 10, repeated above 20. */
export function palette(k: number): string[] {
  const { vega } = modules();
  const base: string[] = k <= 10 ? vega.scheme('tableau10') : vega.scheme('tableau20');
  return Array.from({ length: k }, (_, i) => base[i % base.length]);
}

/** 1 + the largest label (0 for none); a loop, not Math.max(...labels), which overflows the stack at 10⁵ labels. */
export function labelCount(labels: ArrayLike<number>): number {
  let k = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] + 1 > k) k = labels[i] + 1;
  return k;
}

/** The epoch axis: integer ticks (every epoch up to 12 epochs, else about 6 round ones). */
function epochAxis(rows: Record<string, unknown>[]): Record<string, unknown> {
  let lo = Infinity;
  let hi = -Infinity;
  for (const r of rows) {
    lo = Math.min(lo, r.epoch as number);
    hi = Math.max(hi, r.epoch as number);
  }
  if (hi - lo <= 12) return { values: Array.from({ length: hi - lo + 1 }, (_, i) => lo + i), format: 'd' };
  return { tickCount: 6, tickMinStep: 1, format: 'd' };
}

const METRIC_LABEL: Record<MetricName, string> = { acc: 'ACC', nmi: 'NMI', ari: 'ARI', f1: 'F1' };
const BEST = 'best epoch (by ACC)';
const FINAL = 'final epoch';

/** The phase whose epochs the final and best epochs count: 'train' when present, else the last phase. */
export function mainPhase(run: RunRecord): string {
  if (run.epochs.some((e) => e.phase === 'train')) return 'train';
  return run.epochs.length ? run.epochs[run.epochs.length - 1].phase : 'train';
}

// ---- training curves -------------------------------------------------------------------------------------------

/** ACC / NMI / ARI / F1 per epoch of the main phase, one panel each, a line per seed; best and final epochs marked. */
export function metricsSpec(runs: RunRecord[]): TopLevelSpec | null {
  const rows: Record<string, unknown>[] = [];
  for (const run of runs) {
    const phase = mainPhase(run);
    const seed = `seed ${run.seed}`;
    const epochs = run.epochs.filter((e) => e.phase === phase && e.metrics);
    if (!epochs.length) continue;
    for (const m of METRICS) {
      if (run.initial) rows.push({ seed, epoch: 0, metric: METRIC_LABEL[m], value: 100 * run.initial[m], kind: 'curve' });
      for (const e of epochs) rows.push({ seed, epoch: e.epoch, metric: METRIC_LABEL[m], value: 100 * e.metrics![m], kind: 'curve' });
      // The final epoch's square first, so that the best epoch's triangle is drawn over it when they coincide.
      if (run.final.metrics) rows.push({ seed, epoch: run.final.epoch, metric: METRIC_LABEL[m], value: 100 * run.final.metrics[m], kind: FINAL });
      if (run.best) rows.push({ seed, epoch: run.best.epoch, metric: METRIC_LABEL[m], value: 100 * run.best.metrics[m], kind: BEST });
    }
  }
  if (!rows.length) return null;
  const manySeeds = runs.length > 1;
  const color = manySeeds
    ? { field: 'seed', type: 'nominal', title: 'run', scale: { range: palette(runs.length) }, legend: { orient: 'bottom' } }
    : { value: '#4c78a8' };
  return {
    data: { values: rows },
    facet: { column: { field: 'metric', type: 'nominal', sort: METRICS.map((m) => METRIC_LABEL[m]), title: null } },
    spec: {
      width: 215,
      height: 170,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'curve'" }],
          mark: { type: 'line', strokeWidth: 1.6, interpolate: 'linear' },
          encoding: {
            x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: epochAxis(rows) },
            y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false, nice: true } },
            color,
            detail: { field: 'seed', type: 'nominal' },
          },
        },
        {
          transform: [{ filter: "datum.kind !== 'curve'" }],
          mark: { type: 'point', filled: true, size: 110, opacity: 1, stroke: 'white', strokeWidth: 0.8 },
          encoding: {
            x: { field: 'epoch', type: 'quantitative' },
            y: { field: 'value', type: 'quantitative' },
            shape: { field: 'kind', type: 'nominal', title: 'marked', scale: { domain: [BEST, FINAL], range: ['triangle-up', 'square'] }, legend: { orient: 'bottom' } },
            color: manySeeds ? color : { field: 'kind', type: 'nominal', title: 'marked', scale: { domain: [BEST, FINAL], range: ['#e45756', '#222222'] }, legend: { orient: 'bottom' } },
          },
        },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  } as unknown as TopLevelSpec;
}

function lossRows(runs: RunRecord[], keep: (e: RunEpoch, run: RunRecord) => boolean, withPhase: boolean): { rows: Record<string, unknown>[]; panels: string[] } {
  const rows: Record<string, unknown>[] = [];
  const panels: string[] = [];
  for (const run of runs) {
    const seed = `seed ${run.seed}`;
    const main = mainPhase(run);
    const valueAt = new Map<string, number>();
    for (const e of run.epochs) {
      if (!keep(e, run)) continue;
      const terms = Object.keys(e.losses).sort((a, b) => (a === 'total' ? -1 : b === 'total' ? 1 : 0));
      for (const term of terms) {
        const v = e.losses[term];
        if (v === null) continue;
        const panel = withPhase ? `${e.phase} · ${term}` : term;
        if (!panels.includes(panel)) panels.push(panel);
        rows.push({ seed, panel, epoch: e.epoch, value: v, kind: 'curve' });
        if (e.phase === main) valueAt.set(`${panel}@${e.epoch}`, v);
      }
    }
    if (withPhase) continue;
    for (const panel of panels) {
      for (const [kind, epoch] of [[FINAL, run.final.epoch], [BEST, run.best?.epoch]] as const) {
        if (epoch === undefined) continue;
        const v = valueAt.get(`${panel}@${epoch}`);
        if (v !== undefined) rows.push({ seed, panel, epoch, value: v, kind });
      }
    }
  }
  return { rows, panels };
}

function lossSpec(rows: Record<string, unknown>[], panels: string[], runs: number, markers: boolean): TopLevelSpec {
  const color = runs > 1 ? { field: 'seed', type: 'nominal', title: 'run', scale: { range: palette(runs) }, legend: { orient: 'bottom' } } : { value: '#4c78a8' };
  // Short curves get a dot per epoch: a one-epoch phase is a single point, which a line alone does not draw.
  const curvePoints = rows.filter((r) => r.kind === 'curve').length;
  const dots = curvePoints > 0 && curvePoints / Math.max(1, panels.length * runs) <= 20;
  const layer: unknown[] = [{
    transform: [{ filter: "datum.kind === 'curve'" }],
    mark: { type: 'line', strokeWidth: 1.5, ...(dots ? { point: { size: 18, filled: true } } : {}) },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: epochAxis(rows) },
      y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false }, axis: { format: '~g' } },
      color,
      detail: { field: 'seed', type: 'nominal' },
    },
  }];
  if (markers) {
    // The legend lists the marks there are: a run without labels has a final epoch and no best one.
    const best = rows.some((r) => r.kind === BEST);
    const domain = best ? [BEST, FINAL] : [FINAL];
    layer.push({
      transform: [{ filter: "datum.kind !== 'curve'" }],
      mark: { type: 'point', filled: true, size: 110, opacity: 1, stroke: 'white', strokeWidth: 0.8 },
      encoding: {
        x: { field: 'epoch', type: 'quantitative' },
        y: { field: 'value', type: 'quantitative' },
        shape: { field: 'kind', type: 'nominal', title: 'marked', scale: { domain, range: best ? ['triangle-up', 'square'] : ['square'] }, legend: { orient: 'bottom' } },
        color: runs > 1 ? color : { field: 'kind', type: 'nominal', title: 'marked', scale: { domain, range: best ? ['#e45756', '#222222'] : ['#222222'] }, legend: { orient: 'bottom' } },
      },
    });
  }
  return {
    data: { values: rows },
    facet: { field: 'panel', type: 'nominal', sort: panels, title: null },
    columns: Math.min(4, panels.length),
    spec: { width: 215, height: 150, layer },
    // Each panel its own y scale (terms differ by orders of magnitude) and its own x axis (a wrapped facet
    // otherwise draws x only under the last row of each column).
    resolve: { scale: { y: 'independent' }, axis: { x: 'independent' } },
  } as unknown as TopLevelSpec;
}

/** Every loss term of the main (training) phase per epoch, one panel per term; best and final epochs marked. */
export function lossesSpec(runs: RunRecord[]): TopLevelSpec | null {
  const { rows, panels } = lossRows(runs, (e, run) => e.phase === mainPhase(run), false);
  return rows.length ? lossSpec(rows, panels, runs.length, true) : null;
}

/** The loss terms of the phases before the main one (pretraining), one panel per phase and term. */
export function pretrainingSpec(runs: RunRecord[]): TopLevelSpec | null {
  const { rows, panels } = lossRows(runs, (e, run) => e.phase !== mainPhase(run), true);
  return rows.length ? lossSpec(rows, panels, runs.length, false) : null;
}

// ---- clusters against classes ----------------------------------------------------------------------------------

export interface Matching {
  /** Classes (truth) and clusters (predicted). */
  kt: number;
  kp: number;
  /** counts[j][c]: nodes of class j put in cluster c. */
  counts: number[][];
  /** The class each cluster is matched to (Hungarian, maximum agreement), or −1. */
  classOf: number[];
  /** The cluster each class is matched to, or −1. */
  clusterOf: number[];
  /** Clusters in display order: by the class they are matched to, then the unmatched ones. */
  clusterOrder: number[];
  accuracy: number;
}

/** The contingency table of truth × predicted and the Hungarian matching of clusters to classes (as ACC). */
export function matchClusters(truth: ArrayLike<number>, predicted: ArrayLike<number>): Matching {
  let kt = 0;
  let kp = 0;
  for (let i = 0; i < truth.length; i++) {
    kt = Math.max(kt, truth[i] + 1);
    kp = Math.max(kp, predicted[i] + 1);
  }
  const counts = Array.from({ length: kt }, () => new Array<number>(kp).fill(0));
  for (let i = 0; i < truth.length; i++) counts[truth[i]][predicted[i]]++;
  const a = linearSumAssignment(counts, { maximize: true });
  const classOf = new Array<number>(kp).fill(-1);
  const clusterOf = new Array<number>(kt).fill(-1);
  for (let t = 0; t < a.rowInd.length; t++) {
    clusterOf[a.rowInd[t]] = a.colInd[t];
    classOf[a.colInd[t]] = a.rowInd[t];
  }
  const clusterOrder = [...clusterOf.filter((c) => c >= 0), ...classOf.map((j, c) => (j < 0 ? c : -1)).filter((c) => c >= 0)];
  return { kt, kp, counts, classOf, clusterOf, clusterOrder, accuracy: truth.length ? a.total / truth.length : 0 };
}

/**
 * Colours: class j gets colour j; a cluster the colour of its matched class, an unmatched cluster one of the
 * colours after the classes'. Without labels, cluster c gets colour c.
 */
function colourPlan(kp: number, kt: number, m: Matching | null): { cluster: string[]; cls: string[] } {
  const unmatched = m ? m.classOf.filter((j) => j < 0).length : 0;
  const pal = palette(m ? kt + unmatched : Math.max(kp, kt));
  let extra = kt;
  const cluster = Array.from({ length: kp }, (_, c) => (m ? (m.classOf[c] >= 0 ? pal[m.classOf[c]] : pal[extra++]) : pal[c]));
  return { cluster, cls: pal.slice(0, kt) };
}

const clusterName = (c: number, m: Matching | null): string =>
  m ? (m.classOf[c] >= 0 ? `cluster ${c} → class ${m.classOf[c]}` : `cluster ${c} (unmatched)`) : `cluster ${c}`;

/** The confusion matrix after matching: rows true classes, columns clusters ordered by their matched class. */
export function confusionSpec(m: Matching): TopLevelSpec {
  const rows: Record<string, unknown>[] = [];
  for (let j = 0; j < m.kt; j++) {
    const total = m.counts[j].reduce((a, b) => a + b, 0);
    for (const c of m.clusterOrder) {
      const n = m.counts[j][c];
      rows.push({ cls: String(j), cluster: String(c), count: n, share: total ? n / total : 0, matched: m.classOf[c] === j });
    }
  }
  const cell = m.kp <= 8 ? 54 : m.kp <= 14 ? 40 : 28;
  const fontSize = m.kp <= 8 ? 12 : m.kp <= 14 ? 10 : 8;
  return {
    data: { values: rows },
    width: cell * m.kp,
    height: cell * m.kt,
    encoding: {
      x: { field: 'cluster', type: 'ordinal', sort: m.clusterOrder.map(String), title: 'predicted cluster', axis: { labelAngle: 0, orient: 'top', domain: false, ticks: false } },
      y: { field: 'cls', type: 'ordinal', sort: Array.from({ length: m.kt }, (_, j) => String(j)), title: 'true class', axis: { domain: false, ticks: false } },
    },
    layer: [
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
        encoding: {
          color: { field: 'share', type: 'quantitative', title: 'share of the class', scale: { domain: [0, 1], range: ['#f7fbff', '#08519c'] }, legend: { format: '.0%', gradientLength: Math.max(80, cell * m.kt - 20) } },
        },
      },
      // Counts: the matched pairs (the diagonal) in bold; white on dark cells.
      ...[true, false].map((matched) => ({
        transform: [{ filter: matched ? 'datum.matched' : '!datum.matched' }],
        mark: { type: 'text', fontSize, baseline: 'middle', fontWeight: matched ? 'bold' : 'normal' },
        encoding: {
          text: { field: 'count', type: 'quantitative', format: ',d' },
          color: { condition: { test: 'datum.share > 0.5', value: 'white' }, value: '#222' },
        },
      })),
    ],
  } as unknown as TopLevelSpec;
}

/** Cluster sizes, beside the size of the class each is matched to when labels exist. */
export function sizesSpec(predicted: ArrayLike<number>, m: Matching | null): TopLevelSpec {
  const kp = m ? m.kp : labelCount(predicted);
  const size = new Array<number>(kp).fill(0);
  for (let i = 0; i < predicted.length; i++) size[predicted[i]]++;
  const rows: Record<string, unknown>[] = [];
  const groups: string[] = [];
  if (m) {
    for (let j = 0; j < m.kt; j++) {
      const c = m.clusterOf[j];
      const g = c >= 0 ? `class ${j} · cluster ${c}` : `class ${j} · (no cluster)`;
      groups.push(g);
      rows.push({ group: g, what: 'true class', count: m.counts[j].reduce((a, b) => a + b, 0) });
      if (c >= 0) rows.push({ group: g, what: 'matched cluster', count: size[c] });
    }
    for (let c = 0; c < kp; c++) {
      if (m.classOf[c] >= 0) continue;
      const g = `(no class) · cluster ${c}`;
      groups.push(g);
      rows.push({ group: g, what: 'matched cluster', count: size[c] });
    }
  } else {
    for (let c = 0; c < kp; c++) {
      groups.push(`cluster ${c}`);
      rows.push({ group: `cluster ${c}`, what: 'cluster', count: size[c] });
    }
  }
  // About 520 px of bars in all (the figure sits beside the confusion matrix); the step is one bar's band.
  const step = Math.max(10, Math.min(48, Math.floor(520 / Math.max(1, rows.length))));
  return {
    data: { values: rows },
    width: { step },
    height: 200,
    mark: { type: 'bar', cornerRadiusEnd: 2 },
    encoding: {
      // Two-line labels: "class j" over "cluster c".
      x: { field: 'group', type: 'nominal', sort: groups, title: null, axis: { labelAngle: 0, labelExpr: "split(datum.label, ' · ')", labelPadding: 6 } },
      xOffset: m ? { field: 'what', type: 'nominal', sort: ['true class', 'matched cluster'] } : undefined,
      y: { field: 'count', type: 'quantitative', title: 'nodes' },
      color: m
        ? { field: 'what', type: 'nominal', title: null, sort: ['true class', 'matched cluster'], scale: { range: ['#9ecae1', '#3182bd'] }, legend: { orient: 'top' } }
        : { value: '#3182bd' },
      tooltip: [{ field: 'group' }, { field: 'what' }, { field: 'count' }],
    },
  } as unknown as TopLevelSpec;
}

/** The 2-D map: predicted clusters, and true classes beside it, colours shared through the matching. */
export function embeddingSpec(map: EmbeddingMap, predicted: ArrayLike<number> | null, truth: ArrayLike<number> | null, m: Matching | null): TopLevelSpec {
  const kp = m ? m.kp : predicted ? labelCount(predicted) : 0;
  const kt = m ? m.kt : truth ? labelCount(truth) : 0;
  const rows: Record<string, unknown>[] = [];
  for (let p = 0; p < map.rows.length; p++) {
    const i = map.rows[p];
    rows.push({ x: map.x[p], y: map.y[p], cluster: predicted ? clusterName(predicted[i], m) : 'all', cls: truth ? `class ${truth[i]}` : null });
  }
  const size = map.rows.length > 3000 ? 9 : map.rows.length > 1000 ? 14 : 24;
  const axes = { x: { field: 'x', type: 'quantitative', axis: null, scale: { zero: false, nice: false } }, y: { field: 'y', type: 'quantitative', axis: null, scale: { zero: false, nice: false } } };
  const panel = (field: string, title: string, domain: string[], range: string[]) => ({
    width: 420,
    height: 420,
    title,
    // aria: false drops a per-point aria-label (x, y, cluster): 40% of the page's bytes, no use to a reader.
    mark: { type: 'circle', size, opacity: 0.72, aria: false },
    encoding: {
      ...axes,
      color: { field, type: 'nominal', title: null, scale: { domain, range }, legend: { orient: 'bottom', columns: domain.length > 6 ? 2 : 1, labelLimit: 220 } },
    },
  });
  const order = m ? m.clusterOrder : Array.from({ length: kp }, (_, c) => c);
  const colours = colourPlan(kp, kt, m);
  const panels: unknown[] = [];
  if (predicted) panels.push(panel('cluster', 'predicted cluster (final epoch)', order.map((c) => clusterName(c, m)), order.map((c) => colours.cluster[c])));
  else panels.push({ ...panel('cluster', 'embedding', ['all'], ['#4c78a8']), encoding: { ...axes } });
  if (truth) panels.push(panel('cls', 'true class', Array.from({ length: kt }, (_, j) => `class ${j}`), colours.cls));
  return {
    data: { values: rows },
    hconcat: panels,
    spacing: 24,
    resolve: { scale: { color: 'independent' } },
  } as unknown as TopLevelSpec;
}
