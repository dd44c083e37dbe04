// How the dgclust-vs-PyTorch runners (bench/<model>/run.ts) hand their inputs to the PyTorch reference scripts
// (bench/<model>/*_torch.py, run by /usr/bin/python3) and talk to those that serve commands.
import { spawn } from 'child_process';
import * as path from 'path';
import * as readline from 'readline';
import type * as dg from '../lib';
import { writeNpy } from '../lib/data/npy';

/**
 * Writes x.npy, edges.npy (the nonzero pattern of Â as [row, column] pairs, one per nonzero) and labels.npy into
 * dir: what bench/torch/reference_common.py's load_edge_list_inputs reads. The scripts rebuild Â from the pairs
 * as their official code does, so the graph is dgclust's, its normalisation the script's.
 */
export function writeEdgeListInputs(dir: string, x: dg.Tensor, adj: dg.SparseMatrix, labels: Int32Array): void {
  writeNpy(path.join(dir, 'x.npy'), x.data() as Float32Array, x.shape);
  const { indptr, indices } = adj.toArrays();
  const pairs = new Int32Array(2 * indices.length);
  for (let i = 0; i < adj.rows; i++) for (let e = indptr[i]; e < indptr[i + 1]; e++) { pairs[2 * e] = i; pairs[2 * e + 1] = indices[e]; }
  writeNpy(path.join(dir, 'edges.npy'), pairs, [indices.length, 2]);
  writeNpy(path.join(dir, 'labels.npy'), labels, [labels.length]);
}

/**
 * Starts a reference script in serve mode: it answers every command written to its stdin with one JSON line
 * (`next('')` only reads the next line: the script's greeting once its inputs are loaded). The child's BLAS and
 * OpenMP pools get `threads` threads, as dgclust's side has. When the script dies, `next` throws with the end of
 * its stderr.
 */
export function startTorchServer(script: string, argv: string[], threads: number): { next: <T = Record<string, unknown>>(cmd: string) => Promise<T> } {
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) };
  const child = spawn('/usr/bin/python3', [script, ...argv], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += String(d); });
  const lines = readline.createInterface({ input: child.stdout! });
  const queue: string[] = [];
  let waiting: ((l: string | null) => void) | null = null;
  lines.on('line', (l) => (waiting ? (waiting(l), (waiting = null)) : queue.push(l)));
  lines.on('close', () => waiting?.(null));
  const readLine = () => new Promise<string | null>((resolve) => (queue.length ? resolve(queue.shift()!) : (waiting = resolve)));
  return {
    next: async <T = Record<string, unknown>>(cmd: string): Promise<T> => {
      if (cmd) child.stdin!.write(`${cmd}\n`);
      const l = await readLine();
      if (l === null) throw new Error(`PyTorch side exited: ${stderr.slice(-800)}\n(install: apt-get install python3-torch python3-sklearn python3-scipy)`);
      return JSON.parse(l) as T;
    },
  };
}
