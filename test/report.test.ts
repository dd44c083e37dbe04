// `dgclust report` and renderReport: the page for a real DFCN run on ACM (with the registry trainer's fields added
// by the fixture), its graceful degradation when fields are missing, PNG output, the embedding map's subsample and
// layout, and clear errors with no half-written output for bad input.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as dg from '../lib';
import { makeRunFixture, npyFloat32 } from './helpers/run-fixture';
import type { RunFixture } from './helpers/run-fixture';
import { prng, gaussian } from './helpers/data';
import { runCli as run } from './helpers/cli';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgc-report-'));
let fx: RunFixture;
const FIGURES = ['metrics', 'losses', 'embedding', 'confusion', 'sizes'];

beforeAll(async () => {
  fx = await makeRunFixture(path.join(dir, 'fx'), { epochs: 3, seeds: 1 });
}, 180_000);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Writes a variant of the fixture's run beside its embedding files and returns its path. */
function variant(name: string, change: (run: any) => void): string {
  const run = JSON.parse(JSON.stringify(fx.run));
  change(run);
  const file = path.join(path.dirname(fx.json), name);
  fs.writeFileSync(file, JSON.stringify(run));
  return file;
}

const tmpLeft = (folder: string): string[] => fs.readdirSync(folder).filter((f) => f.endsWith('.tmp'));
const countOf = (html: string, re: RegExp): number => (html.match(re) ?? []).length;

describe('the page of a full run', () => {
  let html: string;
  let built: dg.BuiltReport;

  beforeAll(async () => {
    built = await dg.buildReport(fx.run, { baseDir: path.dirname(fx.json), source: fx.json });
    html = built.html;
  }, 120_000);

  test('has every figure as inline SVG, rendered without vega-lite or vega warnings', () => {
    expect(built.warnings).toEqual([]);
    expect(built.figures.map((f) => f.id)).toEqual(FIGURES);
    for (const id of FIGURES) {
      const at = html.indexOf(`<figure id="fig-${id}"`);
      expect(at).toBeGreaterThan(0);
      expect(html.slice(at, at + 4000)).toMatch(/<svg [^>]*class="marks"/);
    }
    // ACM's 3025 nodes drawn twice (predicted, truth); the matched confusion matrix 3 × 3.
    expect(countOf(built.figures[2].svg, /<path /g)).toBeGreaterThanOrEqual(2 * 3025);
    expect(built.map!.rows.length).toBe(3025);
    expect(built.map!.method).toMatch(/^all 3,025 points; UMAP \(umap-js, 15 neighbours/);
  });

  test('is self-contained: no script, no stylesheet or font link, nothing fetched', () => {
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
    // (match the offending text only, not the whole page, so a failure stays readable)
    expect(html.match(/<script|<link|<img|<iframe|<object|<embed|@import|@font-face|url\((?!#)/i)?.[0] ?? null).toBeNull();
    // The only http(s) strings are SVG's namespace names.
    const urls = [...new Set(html.match(/https?:\/\/[^"'\s)]+/g) ?? [])];
    expect(urls.sort()).toEqual(['http://www.w3.org/1999/xlink', 'http://www.w3.org/2000/svg']);
  });

  test('states the results, the run and its settings', () => {
    const r = fx.run.runs[0];
    expect(html).toContain('<title>DFCN on acm — dgclust report</title>');
    expect(html).toContain(`<td>final epoch (label-free)</td><td>${(100 * r.final.metrics.acc).toFixed(2)}</td>`);
    expect(html).toContain('<td>paper (best epoch by ACC)</td><td>90.9 ± 0.2</td>');
    expect(html).toMatch(/<td>lr<\/td><td>0\.00005<\/td>/);
    expect(html).toMatch(/<td>nodes<\/td><td>3,025<\/td>/);
    expect(html).toMatch(/<td>cores<\/td><td>\d+<\/td>/);
    // The confusion caption's ACC is the Hungarian-matched agreement of predicted vs truth.
    expect(html).toContain(`Matched agreement: ${(100 * dg.accuracy(fx.run.truth, r.predicted)).toFixed(2)}% (ACC)`);
  });

  test('HTML-escapes what the JSON says', async () => {
    const page = await dg.renderReport({ ...fx.run, runs: [{ ...fx.run.runs[0], embedding: undefined }], settings: { ...fx.run.settings, dataset: '<b>x</b>&' }, dataset: undefined }, { baseDir: path.dirname(fx.json) });
    expect(page).toContain('&lt;b&gt;x&lt;/b&gt;&amp;');
    expect(page).not.toContain('<b>x</b>');
  }, 60_000);
});

describe('dgclust report', () => {
  test('writes the page (default name: RUN.json → RUN.html) and PNGs of every figure', async () => {
    const png = path.join(dir, 'png');
    const r = await run(['report', fx.json, '--png', png, '--map-points', '600']);
    expect(r.code).toBe(0);
    const out = fx.json.replace(/\.json$/, '.html');
    expect(r.err).toContain(`wrote ${out}`);
    const html = fs.readFileSync(out, 'utf8');
    expect(html).toContain('600 of 3,025 points, stratified by predicted cluster');
    for (const id of FIGURES) {
      const buf = fs.readFileSync(path.join(png, `${id}.png`));
      expect(buf.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
      // IHDR: width and height of a figure at twice its SVG size.
      expect(buf.readUInt32BE(16)).toBeGreaterThan(300);
      expect(buf.readUInt32BE(20)).toBeGreaterThan(200);
    }
    expect(tmpLeft(png)).toEqual([]);
    expect(tmpLeft(path.dirname(out))).toEqual([]);
  }, 120_000);

  test('-o - writes the page to stdout', async () => {
    const file = variant('no-embedding.json', (x) => delete x.runs[0].embedding);
    const r = await run(['report', file, '-o', '-']);
    expect(r.code).toBe(0);
    expect(r.out.startsWith('<!DOCTYPE html>')).toBe(true);
    expect(r.out).toContain('No embedding was saved with this run, so there is no map.');
  }, 60_000);

  test('reads a gzip-compressed RUN.json.gz (as reproduce writes them); the default page name drops .json.gz', async () => {
    const plain = variant('packed.json', (x) => delete x.runs[0].embedding);
    const file = `${plain}.gz`;
    fs.writeFileSync(file, dg.runFileContent(file, fs.readFileSync(plain, 'utf8')));
    const r = await run(['report', file]);
    expect(r.code).toBe(0);
    const out = path.join(path.dirname(file), 'packed.html');
    expect(r.err).toContain(`wrote ${out}`);
    expect(fs.readFileSync(out, 'utf8')).toContain('<title>DFCN on acm — dgclust report</title>');
  }, 60_000);

  test("today's trainer output (no predicted, truth or embedding) still makes a page, saying what is missing", async () => {
    const file = variant('plain.json', (x) => {
      delete x.truth;
      delete x.dataset;
      delete x.version;
      for (const r of x.runs) {
        delete r.predicted;
        delete r.embedding;
      }
    });
    const out = path.join(dir, 'plain.html');
    const r = await run(['report', file, '-o', out]);
    expect(r.code).toBe(0);
    const html = fs.readFileSync(out, 'utf8');
    expect(html).toContain('id="fig-metrics"');
    expect(html).toContain('id="fig-losses"');
    expect(html).toContain('data-missing="embedding"');
    expect(html).toContain('No predicted labels were saved with this run, so there is no confusion matrix and no cluster sizes.');
    expect(html).not.toContain('id="fig-confusion"');
  }, 60_000);

  test('predictions without labels: cluster sizes only, and the map in one panel', async () => {
    const file = variant('unlabelled.json', (x) => {
      delete x.truth;
      x.dataset.hasLabels = false;
      for (const r of x.runs) for (const e of r.epochs) delete e.metrics;
    });
    const built = await dg.buildReport(JSON.parse(fs.readFileSync(file, 'utf8')), { baseDir: path.dirname(file), mapPoints: 300 });
    expect(built.figures.map((f) => f.id)).toEqual(['losses', 'embedding', 'sizes']);
    expect(built.html).toContain('The run saved no true labels, so there is no confusion matrix.');
    expect(built.html).toContain('No per-epoch metrics in this run');
    expect(built.figures[1].svg).not.toContain('true class');
  }, 60_000);

  test('a label-free run as dgclust train writes it (final epoch without metrics, no best epoch, no edges) makes a page', async () => {
    const file = variant('label-free.json', (x) => {
      delete x.truth;
      Object.assign(x.dataset, { hasLabels: false, edges: null });
      for (const r of x.runs) {
        delete r.final.metrics;
        delete r.best;
        delete r.initial;
        for (const e of r.epochs) delete e.metrics;
      }
      x.summary = { final: null, best: null, paper: null };
    });
    const built = await dg.buildReport(JSON.parse(fs.readFileSync(file, 'utf8')), { baseDir: path.dirname(file), mapPoints: 300 });
    expect(built.html).toContain('data-missing="labels">The data of this run has no labels: no ACC, NMI, ARI or F1');
    expect(built.html).not.toContain('final ACC');
    // The per-run table: the final epoch, the clusters its labels use, the time (no metric columns of dashes).
    expect(built.html).toMatch(/<th>seed<\/th><th>final epoch<\/th><th>clusters used<\/th>/);
    expect(built.html).toMatch(/<td>0<\/td><td>\d+<\/td><td>3 of 3<\/td>/);
    expect(built.html).not.toContain('▲ best epoch by ACC');
    expect(built.figures.find((f) => f.id === 'losses')!.svg).not.toContain('best epoch (by ACC)'); // nor in the legend
    expect(built.figures.map((f) => f.id)).toEqual(['losses', 'embedding', 'sizes']);
    // A labelled run must still have its metrics: the report refuses one without, naming the field.
    const broken = variant('broken.json', (x) => delete x.runs[0].final.metrics);
    await expect(dg.buildReport(JSON.parse(fs.readFileSync(broken, 'utf8')), { baseDir: dir })).rejects.toThrow(/runs\[0\]\.final\.metrics is missing/);
  }, 60_000);

  test("the paper's row: the mean alone where the paper gives no std, under the model's own protocol", async () => {
    const file = variant('paper-nostd.json', (x) => {
      x.summary.paper = { acc: [90.12, null], nmi: [67.03, null], ari: [73, null], f1: [90.09, null] };
      x.summary.paperProtocol = { rule: 'per-metric-max' };
    });
    const built = await dg.buildReport(JSON.parse(fs.readFileSync(file, 'utf8')), { baseDir: path.dirname(file), mapPoints: 300 });
    expect(built.html).toContain('<tr class="paper"><td>paper (maximum of each metric over the epochs)</td><td>90.1</td><td>67.0</td><td>73.0</td><td>90.1</td></tr>');
  }, 60_000);

  test('final labels that leave clusters empty are said above the cluster sizes (a collapse)', async () => {
    // Seed 0's labels folded onto clusters 0 and 1: two of ACM's three clusters used.
    const file = variant('collapsed.json', (x) => {
      x.runs[0].predicted = x.runs[0].predicted.map((c: number) => Math.min(c, 1));
    });
    const built = await dg.buildReport(JSON.parse(fs.readFileSync(file, 'utf8')), { baseDir: path.dirname(file), mapPoints: 300 });
    expect(built.html).toContain('<p class="warn" data-collapse="2">The final labels of seed 0 use 2 of the 3 clusters: the others are empty');
    // The full run's page (every cluster used) has no such line.
    const wholeFile = variant('whole.json', () => {});
    const whole = await dg.buildReport(JSON.parse(fs.readFileSync(wholeFile, 'utf8')), { baseDir: path.dirname(wholeFile), mapPoints: 300 });
    expect(whole.html).not.toContain('data-collapse');
  }, 60_000);

  const bad: [string, () => string, RegExp][] = [
    ['a missing file', () => path.join(dir, 'nope.json'), /^dgclust: DGC_DATA: .*nope\.json: no such file$/m],
    ['a folder', () => dir, /DGC_DATA: .*: is a folder, not a RUN\.json file/],
    ['not JSON', () => { const f = path.join(dir, 'bad.json'); fs.writeFileSync(f, '{"command": "train", '); return f; }, /DGC_DATA: .*bad\.json: not JSON \(/],
    ['a pretrain result', () => { const f = path.join(dir, 'pre.json'); fs.writeFileSync(f, JSON.stringify({ command: 'pretrain', epochs: [] })); return f; }, /pre\.json: not the result of dgclust train --json \(command is string "pretrain": dgclust pretrain results have no clustering to report\)/],
    ['no runs', () => variant('noruns.json', (x) => delete x.runs), /noruns\.json: runs is missing \(it must be a non-empty array\)/],
    ['a bad field', () => variant('badfield.json', (x) => (x.runs[0].best.metrics.nmi = 'high')), /badfield\.json: runs\[0\]\.best\.metrics\.nmi must be a number, got string "high"/],
    ['a bad label', () => variant('badlabel.json', (x) => (x.runs[0].predicted[7] = -1)), /badlabel\.json: runs\[0\]\.predicted\[7\] must be an integer >= 0, got number -1/],
    ['predicted and truth of different lengths', () => variant('short.json', (x) => x.truth.pop()), /short\.json: runs\[0\]\.predicted has 3025 labels but truth has 3024/],
    ['a missing embedding file', () => variant('noemb.json', (x) => (x.runs[0].embedding.file = 'gone.npy')), /noemb\.json: the embedding of seed 0 \(gone\.npy\) was not found: sought .*gone\.npy/],
    ['an embedding of the wrong shape', () => variant('wrongemb.json', (x) => (x.runs[0].embedding.cols = 12)), /embedding-seed0\.npy: the embedding is 3025 × 10 but .*wrongemb\.json says 3025 × 12/],
    ['an embedding that is not .npy', () => {
      fs.writeFileSync(path.join(path.dirname(fx.json), 'text.npy'), 'hello');
      return variant('textemb.json', (x) => (x.runs[0].embedding.file = 'text.npy'));
    }, /DGC_DATA: .*text\.npy: not a \.npy file/],
    ['a run seed that is not there', () => fx.json, /DGC_ARG: report: .*run\.json has no run with seed 9 \(its seeds: 0\)/],
  ];
  test.each(bad)('refuses %s: exit 1, a message naming the file, and no output file', async (_what, make, message) => {
    const file = make();
    const out = path.join(dir, 'out', 'r.html');
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, 'the previous report');
    const r = await run(['report', file, '-o', out, '--png', path.join(dir, 'out', 'png'), ...(_what.startsWith('a run seed') ? ['--run', '9'] : [])]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(message);
    // Nothing written: the old output is untouched, no PNG folder, no temporary file.
    expect(fs.readFileSync(out, 'utf8')).toBe('the previous report');
    expect(fs.existsSync(path.join(dir, 'out', 'png'))).toBe(false);
    expect(tmpLeft(path.dirname(out))).toEqual([]);
  }, 60_000);

  test('an output folder that does not exist is a usage error (exit 2)', async () => {
    const r = await run(['report', fx.json, '-o', path.join(dir, 'nowhere', 'r.html')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/option '--output': the folder of .*nowhere\/r\.html does not exist/);
  });
});

describe('the embedding map', () => {
  test('subsample: at most m rows, stratified by group (every group kept), seeded, sorted', () => {
    const n = 70_000;
    const groups = new Int32Array(n);
    for (let i = 0; i < n; i++) groups[i] = i < 20 ? 3 : i % 3; // group 3 is tiny: 20 of 70,000
    const t = performance.now();
    const a = dg.subsample(n, 5000, groups, 7);
    expect(performance.now() - t).toBeLessThan(2000);
    expect(a.length).toBe(5000);
    for (let i = 1; i < a.length; i++) expect(a[i]).toBeGreaterThan(a[i - 1]);
    const count = [0, 0, 0, 0];
    for (const i of a) count[groups[i]]++;
    expect(count[3]).toBeGreaterThanOrEqual(1); // 5000·20/70000 = 1.4 → kept
    for (const g of [0, 1, 2]) expect(Math.abs(count[g] - (5000 * ((n - 20) / 3)) / n)).toBeLessThanOrEqual(2);
    expect(dg.subsample(n, 5000, groups, 7)).toEqual(a);
    expect(dg.subsample(n, 5000, groups, 8)).not.toEqual(a);
    expect(dg.subsample(100, 5000, null, 0)).toEqual(Int32Array.from({ length: 100 }, (_, i) => i));
  });

  test('UMAP keeps well-separated clusters apart in 2-D, and repeats with its seed', async () => {
    const rand = prng(3);
    const g = gaussian(rand);
    const n = 600;
    const d = 16;
    const k = 4;
    const data = new Float32Array(n * d);
    const label = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      label[i] = i % k;
      for (let j = 0; j < d; j++) data[i * d + j] = (j === label[i] ? 12 : 0) + g();
    }
    const a = await dg.embeddingMap(data, n, d, label, { seed: 1, nEpochs: 150 });
    // Nearest 2-D neighbour of each point has its class: the map keeps the clusters apart.
    let same = 0;
    for (let p = 0; p < n; p++) {
      let best = -1;
      let bestD = Infinity;
      for (let q = 0; q < n; q++) {
        if (q === p) continue;
        const dd = (a.x[p] - a.x[q]) ** 2 + (a.y[p] - a.y[q]) ** 2;
        if (dd < bestD) [bestD, best] = [dd, q];
      }
      if (label[a.rows[best]] === label[a.rows[p]]) same++;
    }
    expect(same / n).toBeGreaterThan(0.97);
    const b = await dg.embeddingMap(data, n, d, label, { seed: 1, nEpochs: 150 });
    expect(Array.from(b.x)).toEqual(Array.from(a.x));
  }, 120_000);

  test('a 2-column embedding is drawn as it is', async () => {
    const data = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const m = await dg.embeddingMap(data, 5, 2, null);
    expect(Array.from(m.x)).toEqual([0, 2, 4, 6, 8]);
    expect(Array.from(m.y)).toEqual([1, 3, 5, 7, 9]);
    expect(m.method).toMatch(/has 2 dimensions and is drawn as it is/);
  });

  test('the fixture writes the .npy that lib/data reads back', () => {
    const f = path.join(dir, 'tiny.npy');
    fs.writeFileSync(f, npyFloat32(Float32Array.from([1, 2, 3, 4, 5, 6]), 3, 2));
    const a = dg.readNpy(f);
    expect(a.shape).toEqual([3, 2]);
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});
