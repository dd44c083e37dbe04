// `npx ts-node --transpile-only bench/dfcn-epoch/run.ts [--epochs 10] [--threads 2] [--datasets acm,usps]`
//
// One DFCN training epoch (forward, backward, Adam) and its evaluation (k-means, 20 restarts, on Z̃), timed in
// dgclust and in a faithful plain-PyTorch script of the official code (bench/dfcn-epoch/dfcn_torch.py, run by
// /usr/bin/python3 with Debian's python3-torch and python3-sklearn) on identical inputs, one after the other in
// one run, same thread count. Needs ../shared/data (or DGCLUST_DATA) for USPS; ACM is embedded.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as dg from '../../lib';
import { DFCN_PRESETS } from '../../lib/models/dfcn';
import { prepareDfcnInput } from '../../lib/models/dfcn-input';
import { fit } from '../../lib/train/trainer';
import { dfcnSpec } from '../../lib/models/dfcn';
import { machine, markdownTable, median, optionReader, writeResults } from '../harness';
import { writeEdgeListInputs } from '../torch-side';

const args = process.argv.slice(2);
const opt = optionReader(args);
const epochs = Number(opt('epochs', '10'));
const threads = Number(opt('threads', '2'));
const datasets = opt('datasets', 'acm,usps').split(',');
dg.setNumThreads(threads);

const rows: (string | number)[][] = [];
const results: unknown[] = [];
for (const name of datasets) {
  const preset = DFCN_PRESETS[name];
  const ds = dg.loadDataset(name, { dataDir: process.env.DGCLUST_DATA ?? path.resolve(__dirname, '..', '..', '..', 'shared', 'data'), knnK: 5 });
  const input = prepareDfcnInput(ds, preset);
  // The exact inputs, for the PyTorch side.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `dfcn-epoch-${name}-`));
  writeEdgeListInputs(dir, input.x, input.adj, input.labels!);

  // dgclust: no pretraining (timing only), `epochs` main-training epochs.
  const r = fit(dfcnSpec, input, { ...dfcnSpec.presets[name], epochs, aeEpochs: 0, igaeEpochs: 0, jointEpochs: 0 });
  const main = r.events.filter((e) => e.phase === 'train').slice(1); // the first epoch warms caches up
  const dgTrain = median(main.map((e) => e.trainMs));
  const dgEval = median(main.map((e) => e.evalMs));
  const dgRss = process.memoryUsage().rss;
  input.dispose();

  const act = preset.igaeActivation === 'leakyRelu' ? 'leaky' : preset.igaeActivation;
  const py = spawnSync('/usr/bin/python3', [path.join(__dirname, 'dfcn_torch.py'), dir, String(epochs), String(threads), act, preset.igaeLayout, String(preset.lr)],
    { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
  fs.rmSync(dir, { recursive: true, force: true });
  let torch: { trainMs: number; evalMs: number; torch: string } | null = null;
  if (py.status === 0) torch = JSON.parse(py.stdout.trim().split('\n').pop()!);
  else process.stderr.write(`PyTorch side failed (${py.status}): ${py.stderr.slice(-400)}\n(install: apt-get install python3-torch python3-sklearn)\n`);
  rows.push([name, `${ds.features.rows}×${preset.pcaDim}`, dgTrain.toFixed(1), torch ? torch.trainMs.toFixed(1) : 'n/a', torch ? (torch.trainMs / dgTrain).toFixed(2) : 'n/a',
    dgEval.toFixed(1), torch ? torch.evalMs.toFixed(1) : 'n/a', torch ? ((torch.trainMs + torch.evalMs) / (dgTrain + dgEval)).toFixed(2) : 'n/a']);
  results.push({ dataset: name, n: ds.features.rows, pcaDim: preset.pcaDim, epochs, dgclust: { trainMs: dgTrain, evalMs: dgEval, rssBytes: dgRss }, torch });
}

const table = markdownTable(['dataset', 'N×n', 'dgclust step ms', 'PyTorch step ms', 'speed-up', 'dgclust k-means ms', 'sklearn k-means ms', 'speed-up (epoch)'], rows);
console.log(`DFCN epoch, ${threads} threads, median of epochs 2..${epochs}; ${machine().cpu}\n`);
console.log(table);
console.log(`\nwrote ${writeResults('dfcn-epoch', { threads, epochs, machine: machine(), results })}`);
