// `npx ts-node --transpile-only bench/profile.ts --model MODEL --dataset NAME [--options JSON] [--threads N]
//   [--skip-epochs K] [--top N] [--data-dir DIR]`
//
// Where a model's training time goes, op by op: every function of the native addon is wrapped with a timer, the model
// trains through the estimator API (createModel + fit) with the given options, and after the first K epoch events
// (default 1: loading, the start-up and the first epoch are left out; what runs between later events, k-means for μ
// and the target refreshes included, is in) the time and call count of each addon function are summed until the fit
// ends. An epoch event is a pretraining epoch, a training epoch or, for the mini-batch models, a target refresh. Prints a table (ms per epoch event, share of the total, calls) and the time spent
// outside the addon (JavaScript: the tape, the optimizers' loops over tensors, the trainer). It is how the scalar
// optimizer step and CDC's pair kernels were found (bench/RESULTS.md, 2026-12-07). Example, CDC's pretraining and
// fine-tuning on USPS in a minute:
//   npx ts-node --transpile-only bench/profile.ts --model cdc --dataset usps --options '{"pretrainEpochs":3,"iterations":300}'
// Datasets other than the embedded ones come from --data-dir (default: $DGCLUST_DATA, then ../shared/data).
import * as path from 'path';
import * as dg from '../lib';
import { native } from '../lib/native';
import { markdownTable, optionReader } from './harness';

const args = process.argv.slice(2);
const opt = optionReader(args);
const model = opt('model', 'cdc');
const dataset = opt('dataset', 'usps');
const options = JSON.parse(opt('options', '{}')) as Record<string, unknown>;
const skip = Number(opt('skip-epochs', '1'));
const top = Number(opt('top', '15'));
dg.setNumThreads(Number(opt('threads', '1')));
const dataDir = opt('data-dir', process.env.DGCLUST_DATA ?? path.resolve(__dirname, '..', '..', 'shared', 'data'));

// Wrap the addon's functions (the object the whole library calls through) with timers that count once enabled.
const stats = new Map<string, { calls: number; ms: number }>();
let counting = false;
const table = native as unknown as Record<string, unknown>;
for (const name of Object.keys(table)) {
  const f = table[name];
  if (typeof f !== 'function') continue;
  table[name] = function timed(this: unknown, ...a: unknown[]) {
    if (!counting) return (f as (...x: unknown[]) => unknown).apply(this, a);
    const t0 = performance.now();
    try {
      return (f as (...x: unknown[]) => unknown).apply(this, a);
    } finally {
      const s = stats.get(name) ?? { calls: 0, ms: 0 };
      s.calls++;
      s.ms += performance.now() - t0;
      stats.set(name, s);
    }
  };
}

async function main(): Promise<void> {
  const data = dg.fromDataset(dg.loadDataset(dataset, { dataDir }));
  const est = dg.createModel(model, { seed: 0, ...options });
  let seen = 0;
  let events = 0;
  let t0 = 0;
  await est.fit(data, {
    onEpoch: () => {
      seen++;
      if (seen === skip) {
        counting = true;
        t0 = performance.now();
      } else if (seen > skip) events++;
    },
  });
  const total = performance.now() - t0;
  counting = false;
  est.dispose();
  if (!events) throw new Error(`no epoch event after the first ${skip}: train longer (--options) or lower --skip-epochs`);
  const inAddon = [...stats.values()].reduce((a, s) => a + s.ms, 0);
  const rows = [...stats.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, top)
    .map(([name, s]) => [name, (s.ms / events).toFixed(2), `${((100 * s.ms) / total).toFixed(1)}%`, (s.calls / events).toFixed(1)]);
  rows.push(['(outside the addon: JavaScript)', ((total - inAddon) / events).toFixed(2), `${((100 * (total - inAddon)) / total).toFixed(1)}%`, '']);
  console.log(`${model} on ${dataset}, options ${JSON.stringify(options)}, ${dg.backends()[0].threads} thread(s): ${events} epoch events ` +
    `after the first ${skip}, ${(total / events).toFixed(1)} ms each\n`);
  console.log(markdownTable(['addon function', 'ms per epoch event', 'share', 'calls per epoch event'], rows));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
