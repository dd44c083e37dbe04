#!/usr/bin/env node
// Rebuilds the AGCN tables of docs/RESULTS.md from the CLI's JSON reports (`dgclust train --model agcn ... --json`).
//   node scripts/results-agcn.js [--merge DIR ...]
// --merge DIR: every agcn report in DIR (one per run of the command, e.g. seeds 0..4 and 5..9 run as separate jobs)
// is merged by (dataset, variant) into docs/results/agcn-<dataset>[-<variant>].json — runs sorted by seed, a seed
// present twice refused, the per-run label arrays dropped (the per-epoch metrics stay). Then the tables between
// <!-- agcn-tables:begin --> and <!-- agcn-tables:end --> are written from docs/results/agcn-*.json.
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const dir = path.join(root, 'docs', 'results');
const order = ['acm', 'dblp', 'cite', 'usps', 'hhar', 'reut'];
const variants = ['full', 'h-ss', 'h', 'none'];
const metrics = ['acc', 'nmi', 'ari', 'f1'];
const pct = (x) => (100 * x).toFixed(2);

function meanStd(xs) {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std };
}
const cell = (xs) => {
  const s = meanStd(xs);
  return `${pct(s.mean)} ± ${pct(s.std)}`;
};
const fileOf = (ds, variant) => path.join(dir, `agcn-${ds}${variant === 'full' ? '' : `-${variant}`}.json`);

// ---- merge ----
const args = process.argv.slice(2);
const mergeDirs = [];
for (let i = 0; i < args.length; i++) if (args[i] === '--merge') mergeDirs.push(args[++i]);
if (mergeDirs.length) {
  const groups = new Map();
  for (const d of mergeDirs) {
    for (const f of fs.readdirSync(d).filter((x) => x.endsWith('.json')).sort()) {
      let r;
      try {
        r = JSON.parse(fs.readFileSync(path.join(d, f), 'utf8'));
      } catch {
        continue;
      }
      if (r.model !== 'agcn' || !r.runs) continue;
      const key = `${r.settings.dataset}|${r.settings.variant}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push({ file: f, report: r });
    }
  }
  for (const [key, parts] of groups) {
    const [ds, variant] = key.split('|');
    const base = parts[0].report;
    for (const p of parts) {
      for (const k of ['lr', 'epochs', 'lambda1', 'lambda2', 'aeEpochs', 'normalization', 'knnK']) {
        if (JSON.stringify(p.report.settings[k]) !== JSON.stringify(base.settings[k])) throw new Error(`${p.file}: setting ${k} differs from ${parts[0].file}`);
      }
    }
    const runs = parts.flatMap((p) => p.report.runs.map((run) => ({ ...run, predicted: undefined, job: p.file, seconds: p.report.seconds })));
    runs.sort((a, b) => a.seed - b.seed);
    for (let i = 1; i < runs.length; i++) if (runs[i].seed === runs[i - 1].seed) throw new Error(`${key}: seed ${runs[i].seed} appears twice`);
    const merged = { ...base, truth: undefined, settings: { ...base.settings, seeds: runs.map((r) => r.seed) }, runs, jobs: parts.map((p) => ({ file: p.file, seconds: p.report.seconds, seeds: p.report.settings.seeds })) };
    merged.paperRow = base.summary?.paper ?? null; // the model's Table 3 row
    delete merged.summary; // the tables are computed from the runs
    fs.writeFileSync(fileOf(ds, variant), JSON.stringify(merged));
    console.error(`merged ${parts.length} report(s) into ${path.relative(root, fileOf(ds, variant))}: seeds ${runs.map((r) => r.seed).join(', ')}`);
  }
}

// ---- tables ----
function load(ds, variant) {
  const f = fileOf(ds, variant);
  return fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')) : null;
}

function rowsOf(r, readout) {
  return {
    final: r.runs.map((x) => x.final.readouts[readout]),
    best: r.runs.map((x) => x.best.readouts[readout]),
    max: r.runs.map((x) => x.perMetricMax[readout]),
  };
}

// SDCN's Table 2 AE column (k-means on its pretrained AE), from the model registry when dist/ is built.
let AE_PAPER = {};
try {
  AE_PAPER = require(path.join(root, 'dist', 'lib', 'models', 'sdcn.js')).aeSpec.paper.rows;
} catch {
  // without dist/ the row is left out
}

const line = (prefix, label, evals) => `| ${prefix} | ${label} | ${metrics.map((k) => cell(evals.map((e) => e[k]))).join(' | ')} |`;

function mainTable(reports) {
  const out = ['| dataset | seeds | result | ACC | NMI | ARI | F1 |', '|---|---|---|---|---|---|---|'];
  for (const r of reports) {
    const ds = r.settings.dataset;
    const z = rowsOf(r, 'z');
    const q = rowsOf(r, 'q');
    const p = r.paperRow ?? null;
    const n = r.runs.length;
    const gap = (evals) => (p ? ` (${(100 * meanStd(evals.map((e) => e.acc)).mean - p.acc[0] >= 0 ? '+' : '')}${(100 * meanStd(evals.map((e) => e.acc)).mean - p.acc[0]).toFixed(2)})` : '');
    const rows = [
      [`**paper's protocol**: argmax Z, max of each metric over epochs (labels; may mix epochs)${gap(z.max)}`, z.max],
      ['best epoch by ACC, argmax Z (labels)', z.best],
      ['**final epoch, argmax Z** (label-free)', z.final],
      ['argmax Q: max of each metric over epochs (labels)', q.max],
      ['argmax Q: best epoch by ACC (labels)', q.best],
      ['argmax Q: final epoch (label-free)', q.final],
      ['AE + k-means (the same pretrained AE, before training)', r.runs.map((x) => x.initial.metrics)],
    ];
    rows.forEach(([label, evals], i) => out.push(line(i === 0 ? `${ds} | ${n}` : ' | ', label, evals)));
    if (p) out.push(`| | | paper (Table 3; the code's per-metric max) | ${metrics.map((k) => `${p[k][0].toFixed(2)} ± ${p[k][1].toFixed(2)}`).join(' | ')} |`);
    const ae = AE_PAPER[ds];
    if (ae) out.push(`| | | paper's AE + k-means (SDCN Table 2, the shipped AE) | ${metrics.map((k) => `${ae[k][0].toFixed(2)} ± ${ae[k][1].toFixed(2)}`).join(' | ')} |`);
  }
  return out.join('\n');
}

const ABLATION_PAPER = {
  usps: { none: [78.08, 79.51, 71.84, 76.98], h: [79.43, 79.13, 72.0, 76.71], 'h-ss': [80.2, 79.38, 72.79, 77.1], full: [80.98, 79.64, 73.61, 77.61] },
  acm: { none: [90.45, 68.31, 73.91, 90.42], h: [90.47, 68.42, 73.95, 90.48], 'h-ss': [90.57, 68.43, 74.16, 90.56], full: [90.59, 68.38, 74.2, 90.58] },
};
const VARIANT_LABEL = { none: 'none (SDCN)', h: 'AGCN-H', 'h-ss': 'AGCN-H + S[S]', full: 'AGCN-H + S[S] + S[A] (full)' };

function ablationTable() {
  const out = ['| dataset | variant | seeds | paper\'s protocol ACC | NMI | ARI | F1 | final epoch ACC (label-free) | paper ACC / NMI / ARI / F1 |', '|---|---|---|---|---|---|---|---|---|'];
  for (const ds of ['acm', 'usps']) {
    for (const v of ['none', 'h', 'h-ss', 'full']) {
      const r = load(ds, v);
      const p = ABLATION_PAPER[ds][v].map((x) => x.toFixed(2)).join(' / ');
      if (!r) {
        out.push(`| ${ds} | ${VARIANT_LABEL[v]} | 0 | not run | | | | | ${p} |`);
        continue;
      }
      const z = rowsOf(r, 'z');
      out.push(`| ${ds} | ${VARIANT_LABEL[v]} | ${r.runs.length} | ${metrics.map((k) => cell(z.max.map((e) => e[k]))).join(' | ')} | ${cell(z.final.map((e) => e.acc))} | ${p} |`);
    }
  }
  return out.join('\n');
}

function timing(reports) {
  const out = ['| dataset | variant | seeds | threads | ms per training epoch (median of runs) | ms per evaluation | whole job(s), s |', '|---|---|---|---|---|---|---|'];
  for (const r of reports) {
    const med = (xs) => {
      const s = [...xs].sort((a, b) => a - b);
      return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    };
    const secs = (r.jobs ?? [{ seconds: r.seconds }]).reduce((a, j) => a + j.seconds, 0);
    out.push(`| ${r.settings.dataset} | ${r.settings.variant} | ${r.runs.length} | ${r.machine.threads} | ${med(r.runs.map((x) => x.timings.epochTrainMs)).toFixed(0)} | ${med(r.runs.map((x) => x.timings.epochEvalMs)).toFixed(0)} | ${secs.toFixed(0)} |`);
  }
  return out.join('\n');
}

const main = order.map((ds) => load(ds, 'full')).filter(Boolean);
const all = order.flatMap((ds) => variants.map((v) => load(ds, v))).filter(Boolean);
const any = all[0];
const machine = any ? `${any.machine.cpu}, ${any.machine.cores} cores, ${any.machine.memoryGiB} GiB, ${any.machine.platform}, Node ${any.machine.node}, backend cpu` : 'n/a';
const text = [
  `Machine: ${machine}. Produced by \`node scripts/results-agcn.js\` from the CLI's JSON reports in \`docs/results/agcn-*.json\`.`,
  '',
  '### Table 3: the four public datasets',
  '',
  main.length ? mainTable(main) : '(no reports yet)',
  '',
  '### Table 4: ablation on ACM and USPS (argmax Z)',
  '',
  ablationTable(),
  '',
  '### Time of the runs above (queue jobs, one thread each, on a shared machine: not speed claims)',
  '',
  all.length ? timing(all) : '(no reports yet)',
].join('\n');

const file = path.join(root, 'docs', 'RESULTS.md');
const doc = fs.readFileSync(file, 'utf8');
const begin = '<!-- agcn-tables:begin -->';
const end = '<!-- agcn-tables:end -->';
const i = doc.indexOf(begin);
const j = doc.indexOf(end);
if (i < 0 || j < 0) throw new Error(`${file}: markers ${begin} / ${end} not found`);
fs.writeFileSync(file, doc.slice(0, i + begin.length) + '\n' + text + '\n' + doc.slice(j));
console.log(text);
