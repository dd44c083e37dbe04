// `npx ts-node --transpile-only bench/knn.ts [--n 100000] [--d 50] [--k 10] [--threads 2]`
//
// kNN graph construction at scale (issue 5's target: N = 100,000, d = 50): the tiled native kernel
// (dg.knnGraph, heat kernel = Euclidean ranking, top-(k+1) minus self), its time and the process's peak RSS.
// Memory is O(N·k) for the result plus per-thread tiles; an N×N distance matrix would be 40 GB at this size.
import * as fs from 'fs';
import * as dg from '../lib';
import { machine, writeResults } from './harness';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const n = opt('n', 100000);
const d = opt('d', 50);
const k = opt('k', 10);
const threads = opt('threads', 2);
dg.setNumThreads(threads);

const hwm = (): number => {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
};
const gen = new dg.Generator(7);
const x = gen.normal([n, d]);
const rssBefore = hwm();
const t0 = performance.now();
const nb = dg.knnGraph(x, k, { metric: 'heat' });
const ms = performance.now() - t0;
const peak = hwm();
const flops = 2 * n * n * d;
console.log(`knnGraph N=${n} d=${d} k=${k}, ${threads} threads: ${(ms / 1000).toFixed(2)} s, ${(flops / (ms / 1e3) / 1e9).toFixed(1)} GFLOP/s (distance products), peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB (${((peak - rssBefore) / 2 ** 20).toFixed(0)} MiB above the input)`);
console.log(`wrote ${writeResults('knn', { n, d, k, threads, seconds: ms / 1000, peakRssBytes: peak, rssBeforeBytes: rssBefore, machine: machine() })}`);
nb.dispose();
x.dispose();
