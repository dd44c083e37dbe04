// A realistic RUN.json for the report tests: a real `dgclust train --json` run of DFCN on the embedded ACM (a few
// epochs, seconds), plus the fields the registry trainer adds (predicted, truth, embedding) filled here from
// a stand-in embedding: ACM's features by PCA to 10 dimensions, clustered by k-means. Nothing is committed;
// everything is written under a temporary folder.
import * as fs from 'fs';
import * as path from 'path';
import { main } from '../../lib/cli/main';
import * as dg from '../../lib';

/** A float32 .npy (format 1.0) of a rows × cols matrix. */
export function npyFloat32(data: Float32Array, rows: number, cols: number): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n'; // pad so the data start at a multiple of 64
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

export interface RunFixture {
  /** The RUN.json path. */
  json: string;
  /** Its parsed content (with the added fields). */
  run: any;
}

/** Trains DFCN on ACM for `epochs` epochs and `seeds` seeds, then adds predicted / truth / embedding. */
export async function makeRunFixture(dir: string, options: { epochs?: number; seeds?: number } = {}): Promise<RunFixture> {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, 'run.json');
  const log = jest.spyOn(console, 'log').mockImplementation(() => {});
  const error = jest.spyOn(console, 'error').mockImplementation(() => {});
  let code: number;
  try {
    code = await main(['train', '--model', 'dfcn', '--dataset', 'acm', '--epochs', String(options.epochs ?? 3), '--seeds', String(options.seeds ?? 1), '--json', json, '--quiet']);
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
  if (code !== 0) throw new Error(`the fixture's training run failed with exit code ${code}`);
  const run = JSON.parse(fs.readFileSync(json, 'utf8'));

  const ds = dg.loadDataset('acm');
  const { rows } = ds.features;
  const cols = 10;
  const { scores } = dg.pca(ds.features, { components: cols });
  run.truth = Array.from(ds.labels.labels);
  run.dataset = { name: 'acm', n: rows, d: ds.features.cols, k: ds.labels.k, hasLabels: true, edges: ds.edges ? ds.edges.src.length : undefined };
  run.version = '0.1.0';
  for (const r of run.runs) {
    const x = dg.tensor(scores, [rows, cols]);
    const km = dg.kmeans(x, ds.labels.k, { nInit: 3, seed: r.seed });
    x.dispose();
    km.centers.dispose();
    r.predicted = Array.from(km.labels);
    const file = `embedding-seed${r.seed}.npy`;
    fs.writeFileSync(path.join(dir, file), npyFloat32(scores, rows, cols));
    r.embedding = { file, rows, cols };
  }
  fs.writeFileSync(json, JSON.stringify(run));
  return { json, run };
}
