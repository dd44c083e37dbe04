// `npx ts-node --transpile-only bench/dccf/form-ab.ts [--threads 1] [--reps 21]`
//
// Which exact form of DCCF's contractive penalty is faster, measured the way a choice between two kernels should
// be: the two forms interleaved call by call (ABBA order) in one process, on the same weights and activations, so
// that a machine whose load drifts (other jobs, frequency) shifts both alike. For the encoders of cases.ts (MNIST,
// USPS, Reuters-10K: d-500-500-1000-d′, batch m = 256, the hidden activations of a forward pass on uniform inputs),
// forward + backward per call; prints the medians, the ratio and what `form: 'auto'` picks (by FLOPs, contractive.h).
// Writes bench/results/dccf-form-ab-DATE.json.
import * as dg from '../../lib';
import { machine, markdownTable, median, optionReader, writeResults } from '../harness';
import { PENALTY_ENCODERS, withPenaltyCase } from './cases';

const opt = optionReader(process.argv.slice(2));
const threads = Number(opt('threads', '1'));
const reps = Number(opt('reps', '21'));
dg.setNumThreads(threads);

const m = 256;
const rows: (string | number)[][] = [];
const results: unknown[] = [];
for (const [name, d, dz] of PENALTY_ENCODERS) withPenaltyCase(d, dz, m, ({ ae, weights, hidden }) => {
  const call = (form: 'direct' | 'gram'): number => {
    const t0 = performance.now();
    dg.tidy(() => dg.backward(dg.contractivePenalty(weights, hidden, { scale: 1e-7 / m, form })));
    const ms = performance.now() - t0;
    dg.zeroGrad(ae.parameters());
    return ms;
  };
  call('direct'); // warm-up: allocator cache, thread pool
  call('gram');
  const t = { direct: [] as number[], gram: [] as number[] };
  for (let i = 0; i < reps; i++) {
    for (const form of i % 2 ? (['direct', 'gram'] as const) : (['gram', 'direct'] as const)) t[form].push(call(form));
  }
  const [dm, gm] = [median(t.direct), median(t.gram)];
  // 'auto' picks gram when the first hidden width is below the input width (fewer FLOPs: contractive.h).
  const auto = 500 < d ? 'gram' : 'direct';
  const faster = dm <= gm ? 'direct' : 'gram';
  rows.push([`${name} ${d}-500-500-1000-${dz}`, dm.toFixed(1), gm.toFixed(1), (dm / gm).toFixed(3), auto, faster]);
  results.push({ encoder: name, widths: [d, 500, 500, 1000, dz], m, reps, directMs: t.direct, gramMs: t.gram, medianDirectMs: dm, medianGramMs: gm, auto, faster });
});
console.log(`contractivePenalty forward + backward, m = ${m}, ${threads} thread(s), ${reps} interleaved calls per form (medians, ms)`);
console.log(markdownTable(['encoder', 'direct ms', 'gram ms', 'direct ÷ gram', "'auto' picks", 'faster here'], rows));
const file = writeResults('dccf-form-ab', { machine: machine(), threads, reps, results });
console.log(`wrote ${file}`);
