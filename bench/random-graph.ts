// The synthetic sparse graph of the kernel benchmarks (bench/ops.ts, bench/clustering.ts, the comparison bench's
// rand100k): node i % n gets an edge to perm[i] % n, so every node has `perNode` out-edges to random targets
// (repeats and self-loops allowed). The same generator state gives the same graph in every benchmark.
import type { Generator } from '../lib/random';

export function randomOutEdges(gen: Generator, n: number, perNode: number): { src: Int32Array; dst: Int32Array } {
  const e = perNode * n;
  const src = new Int32Array(e);
  const dst = new Int32Array(e);
  const perm = gen.permutation(e);
  for (let i = 0; i < e; i++) {
    src[i] = i % n;
    dst[i] = perm[i] % n;
  }
  return { src, dst };
}
