#!/usr/bin/env node
// Rebuilds the DFCN tables of docs/RESULTS.md from the CLI's JSON reports in docs/results/dfcn-<dataset>-<init>.json
// (written by `dgclust train --model dfcn ... --json FILE`). Replaces the text between the markers
// <!-- dfcn-tables:begin --> and <!-- dfcn-tables:end -->.
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const dir = path.join(root, 'docs', 'results');
const order = ['acm', 'dblp', 'cite', 'usps', 'hhar', 'reut'];
const pct = (x) => (100 * x).toFixed(2);
const ms = (m) => `${pct(m.mean)} ± ${pct(m.std)}`;

function load(init) {
  const out = [];
  for (const ds of order) {
    const f = path.join(dir, `dfcn-${ds}-${init}.json`);
    if (fs.existsSync(f)) out.push(JSON.parse(fs.readFileSync(f, 'utf8')));
  }
  return out;
}

function table(reports) {
  const lines = [
    '| dataset | seeds | result | ACC | NMI | ARI | F1 | ACC − paper |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of reports) {
    const s = r.summary;
    const p = s.paper;
    const n = r.runs.length;
    const ds = r.settings.dataset;
    lines.push(`| ${ds} | ${n} | best epoch (labels) | ${ms(s.best.acc)} | ${ms(s.best.nmi)} | ${ms(s.best.ari)} | ${ms(s.best.f1)} | ${p ? (100 * s.best.acc.mean - p.acc[0]).toFixed(2) : ''} |`);
    lines.push(`| | | final epoch (label-free) | ${ms(s.final.acc)} | ${ms(s.final.nmi)} | ${ms(s.final.ari)} | ${ms(s.final.f1)} | ${p ? (100 * s.final.acc.mean - p.acc[0]).toFixed(2) : ''} |`);
    if (p) lines.push(`| | | paper | ${p.acc[0]} ± ${p.acc[1]} | ${p.nmi[0]} ± ${p.nmi[1]} | ${p.ari[0]} ± ${p.ari[1]} | ${p.f1[0]} ± ${p.f1[1]} | |`);
  }
  return lines.join('\n');
}

function timing(reports) {
  const lines = ['| dataset | init | threads | ms per training epoch (median) | ms per evaluation (k-means ×20) | whole command, s |', '|---|---|---|---|---|---|'];
  for (const r of reports) {
    const t = r.runs.map((x) => x.timings.epochTrainMs);
    const e = r.runs.map((x) => x.timings.epochEvalMs);
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    lines.push(`| ${r.settings.dataset} | ${r.settings.init} | ${r.settings.threads} | ${mean(t).toFixed(0)} | ${mean(e).toFixed(0)} | ${r.seconds.toFixed(0)} |`);
  }
  return lines.join('\n');
}

const official = load('official');
const own = load('own');
const any = official[0] || own[0];
const machine = any ? `${any.machine.cpu}, ${any.machine.cores} cores, ${any.machine.memoryGiB} GiB, ${any.machine.platform}, Node ${any.machine.node}, backend ${any.settings.device} (threads per run in the time table)` : 'n/a';
const text = [
  `Machine: ${machine}. Produced by \`node scripts/results-dfcn.js\` from the CLI's JSON reports in \`docs/results/\`.`,
  '',
  '### From the official pretrained weights (`--init official`)',
  '',
  official.length ? table(official) : '(no reports yet)',
  '',
  '### From dgclust\'s own pretraining (`--init own`)',
  '',
  own.length ? table(own) : '(no reports yet)',
  '',
  '### Time of the runs above',
  '',
  timing([...official, ...own]),
].join('\n');

const file = path.join(root, 'docs', 'RESULTS.md');
const doc = fs.readFileSync(file, 'utf8');
const begin = '<!-- dfcn-tables:begin -->';
const end = '<!-- dfcn-tables:end -->';
const i = doc.indexOf(begin);
const j = doc.indexOf(end);
if (i < 0 || j < 0) throw new Error(`${file}: markers ${begin} / ${end} not found`);
fs.writeFileSync(file, doc.slice(0, i + begin.length) + '\n' + text + '\n' + doc.slice(j));
console.log(text);
