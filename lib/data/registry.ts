// The dataset registry: loadDataset('acm' | 'dblp' | 'cite' | 'usps' | 'hhar' | 'reut' | 'cora' | 'amap' |
// 'mnist' | 'fmnist' | 'coil20', ...). MNIST and Fashion-MNIST are the 70,000-row train ⊕ test sets (pixels 0..255),
// COIL-20 the 1,440-image 32×32 version.
//
// Where it looks, in order: options.dataDir, then $DGCLUST_DATA, then the package's own data/ (which ships ACM).
// In each folder it accepts the flat SDCN layout (<name>.txt[.gz], <name>_label.txt, <name>_graph.txt) and the
// layout of the project's shared data folder (derived/<name>.txt.gz, sdcn/data/<name>_label.txt,
// sdcn/graph/<name>_graph.txt or <name><k>_graph.txt for the kNN datasets). The first folder that holds the
// feature file is used. A dataset whose features are nowhere (HHAR and REUT in the shared folder) fails with a
// DGC_DATA error listing every path sought.
import * as fs from 'fs';
import * as path from 'path';
import { DgcError } from '../tensor';
import { packageRoot } from '../native';
import { dataError } from './text';
import { loadFiles } from './embedded';
import { loadAdgcZip } from './adgc';
import type { Dataset } from './embedded';

interface DatasetSpec {
  /**
   * 'natural': a graph file of the dataset; 'knn': SDCN's kNN graph files <name><k>_graph.txt; 'none': no graph
   * (image sets for DEC-style models; graph models build a kNN graph on them).
   */
  graph: 'natural' | 'knn' | 'none';
}

const SPECS: Record<string, DatasetSpec> = {
  acm: { graph: 'natural' },
  dblp: { graph: 'natural' },
  cite: { graph: 'natural' },
  cora: { graph: 'natural' },
  amap: { graph: 'natural' },
  usps: { graph: 'knn' },
  hhar: { graph: 'knn' },
  reut: { graph: 'knn' },
  mnist: { graph: 'none' },
  fmnist: { graph: 'none' },
  coil20: { graph: 'none' },
};

/** Datasets that exist only as ADGC zips (dense-adjacency .npy; read with loadDatasetAsync). */
const ADGC_NAMES = ['bat', 'eat', 'uat', 'citeseer'];

export const datasetNames: readonly string[] = [...Object.keys(SPECS), ...ADGC_NAMES];

/** Registry datasets whose features no public source holds (said where they are skipped or listed as not run). */
export const FEATURES_NOT_PUBLIC: Readonly<Record<string, string>> = {
  hhar: "SDCN's hhar.txt is not publicly available",
  reut: "SDCN's reut.txt is not publicly available",
};

export interface LoadDatasetOptions {
  /** A folder to look in first. */
  dataDir?: string;
  /** For kNN datasets: which of SDCN's graphs (k = 1, 3, 5 or 10) to load. Default 3 (SDCN's choice). */
  knnK?: number;
}

function candidates(name: string, spec: DatasetSpec, knnK: number): { features: string[]; labels: string[]; graph: string[] } {
  const g = spec.graph === 'knn' ? `${name}${knnK}_graph.txt` : `${name}_graph.txt`;
  return {
    features: [`${name}.txt`, `${name}.txt.gz`, `${name}/${name}.txt.gz`, `${name}/${name}.txt`, `derived/${name}.txt.gz`, `derived/${name}.txt`],
    labels: [`${name}_label.txt`, `${name}/${name}_label.txt`, `sdcn/data/${name}_label.txt`, `derived/${name}_label.txt`],
    graph: spec.graph === 'none' ? [] : [g, `${g}.gz`, `${name}/${g}`, `${name}/${g}.gz`, `sdcn/graph/${g}`, `derived/${g}`],
  };
}

function firstExisting(dir: string, rel: string[]): string | null {
  for (const r of rel) {
    const p = path.join(dir, r);
    if (fs.existsSync(p)) return p;
  }
  return null;
}

/** The folders searched, in order. */
export function dataDirs(options: LoadDatasetOptions = {}): string[] {
  const dirs: string[] = [];
  if (options.dataDir) dirs.push(path.resolve(options.dataDir));
  if (process.env.DGCLUST_DATA) dirs.push(path.resolve(process.env.DGCLUST_DATA));
  dirs.push(path.join(packageRoot, 'data'));
  return dirs;
}

/** Loads a dataset by name: features, 0-based labels, and its graph edges (natural or SDCN's kNN). */
export function loadDataset(name: string, options: LoadDatasetOptions = {}): Dataset {
  const spec = SPECS[name];
  if (!spec && ADGC_NAMES.includes(name)) {
    throw new DgcError('DGC_ARG', `loadDataset: '${name}' comes as an ADGC zip whose adjacency is streamed: use loadDatasetAsync('${name}')`);
  }
  if (!spec) throw new DgcError('DGC_ARG', `loadDataset: unknown dataset '${name}' (known: ${datasetNames.join(', ')})`);
  const knnK = options.knnK ?? 3;
  if (spec.graph === 'knn' && ![1, 3, 5, 10].includes(knnK)) {
    throw new DgcError('DGC_ARG', `loadDataset: knnK must be 1, 3, 5 or 10 (SDCN's graphs), got ${knnK}`);
  }
  const c = candidates(name, spec, knnK);
  const dirs = dataDirs(options);
  for (const dir of dirs) {
    const featFile = firstExisting(dir, c.features);
    if (!featFile) continue;
    const labelFile = firstExisting(dir, c.labels);
    if (!labelFile) throw dataError(path.join(dir, c.labels[0]), null, `dataset '${name}': the features are in ${featFile} but no label file was found (sought: ${c.labels.join(', ')} in ${dir})`);
    return loadFiles(name, featFile, labelFile, firstExisting(dir, c.graph));
  }
  const sought = dirs.flatMap((d) => c.features.map((f) => path.join(d, f)));
  throw new DgcError(
    'DGC_DATA',
    `loadDataset: the features of '${name}' (${name}.txt[.gz]) were not found. Sought, in order: ${sought.join(', ')}. ` +
      'Give the folder with --data-dir / options.dataDir or DGCLUST_DATA.',
  );
}

/**
 * Like loadDataset, and also reads the ADGC zips (<name>.zip or adgc/<name>.zip in the same folders), whose
 * dense N×N adjacency is turned into edges while it is inflated, never held whole.
 */
export async function loadDatasetAsync(name: string, options: LoadDatasetOptions = {}): Promise<Dataset> {
  if (!ADGC_NAMES.includes(name)) return loadDataset(name, options);
  const dirs = dataDirs(options);
  const rel = [`${name}.zip`, `adgc/${name}.zip`];
  for (const dir of dirs) {
    const zip = firstExisting(dir, rel);
    if (zip) return loadAdgcZip(name, zip);
  }
  throw new DgcError('DGC_DATA', `loadDatasetAsync: '${name}' (${name}.zip) was not found. Sought, in order: ${dirs.flatMap((d) => rel.map((r) => path.join(d, r))).join(', ')}`);
}

/**
 * Where a registry dataset's feature file (or, for the ADGC names, its zip) is, without reading it: the first
 * match in the folders loadDataset searches, or null with every path sought (for "skipped: not found" notes).
 */
export function locateDataset(name: string, options: LoadDatasetOptions = {}): { file: string | null; sought: string[] } {
  const dirs = dataDirs(options);
  let rel: string[];
  if (ADGC_NAMES.includes(name)) rel = [`${name}.zip`, `adgc/${name}.zip`];
  else if (SPECS[name]) rel = candidates(name, SPECS[name], options.knnK ?? 3).features;
  else throw new DgcError('DGC_ARG', `locateDataset: unknown dataset '${name}' (known: ${datasetNames.join(', ')})`);
  const sought: string[] = [];
  for (const dir of dirs) {
    for (const r of rel) {
      const p = path.join(dir, r);
      sought.push(p);
      if (fs.existsSync(p)) return { file: p, sought };
    }
  }
  return { file: null, sought };
}
