// The user's own data: features, optional labels, optional graph, from files.
//   features: whitespace text (.txt, optionally .gz), CSV/TSV (.csv, .tsv; a header line is skipped), .npy (2-D),
//             .npz (the member named by `member`, else the only 2-D array, else one named x / X / features / feat);
//   labels:   one integer per line (text), or a 1-D integer .npy (float files holding whole numbers are taken);
//   graph:    'u v' lines of 0-based node ids (text), or an E×2 integer .npy.
// Numeric CSV is read by the project's own text reader (commas as separators) rather than a CSV library: the
// files are plain numeric tables, the reader already streams whole lines into a Float32Array and names the
// file and line of every bad value, and no quoting or escaping can occur in a numeric table.
import * as path from 'path';
import { DgcError } from '../tensor';
import { dataError, parseEdges, parseLabels, parseMatrix, readText } from './text';
import type { DenseMatrix, EdgeList, Labels } from './text';
import { readNpy } from './npy';
import { readNpz } from './zip';
import type { ClusteringData } from '../models/types';

export interface UserDataFiles {
  features: string;
  labels?: string;
  graph?: string;
  /** Number of clusters: required without labels; with labels it must equal their number of classes. */
  clusters?: number;
  /** The .npz member holding the features. */
  member?: string;
  /** A name for reports (default: the features file's base name). */
  name?: string;
}

const kindOf = (file: string): 'npy' | 'npz' | 'csv' | 'text' => {
  const f = file.toLowerCase().replace(/\.gz$/, '');
  if (f.endsWith('.npy')) return 'npy';
  if (f.endsWith('.npz')) return 'npz';
  if (f.endsWith('.csv') || f.endsWith('.tsv')) return 'csv';
  return 'text';
};

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** CSV/TSV text as whitespace-separated rows; a first line with a non-number is a header and is dropped. */
function csvToText(text: string): { text: string; header: boolean } {
  const nl = text.indexOf('\n');
  const first = (nl < 0 ? text : text.slice(0, nl)).trim();
  const header = first.split(/[,\t;]/).some((t) => t.trim() !== '' && !NUMBER.test(t.trim()));
  const body = header ? (nl < 0 ? '' : text.slice(nl + 1)) : text;
  return { text: body.replace(/[,\t;]/g, ' '), header };
}

export function readFeatures(file: string, member?: string): DenseMatrix {
  const kind = kindOf(file);
  if (kind === 'npy' || kind === 'npz') {
    let arr: { shape: number[]; data: Float32Array | Int32Array };
    if (kind === 'npy') {
      arr = readNpy(file);
    } else {
      const members = readNpz(file);
      const names = [...members.keys()];
      const twoD = names.filter((k) => members.get(k)!.shape.length === 2);
      const pick = member ?? (twoD.length === 1 ? twoD[0] : ['x', 'X', 'features', 'feat', 'fea'].find((k) => members.has(k)));
      if (!pick || !members.has(pick)) {
        throw dataError(file, null, `cannot tell which member holds the features (members: ${names.join(', ')}); name one with --member`);
      }
      arr = members.get(pick)!;
    }
    if (arr.shape.length !== 2) throw dataError(file, null, `features must be a 2-D array (rows × columns), got shape [${arr.shape}]`);
    const data = arr.data instanceof Float32Array ? arr.data : Float32Array.from(arr.data);
    return { rows: arr.shape[0], cols: arr.shape[1], data };
  }
  const text = readText(file);
  if (kind !== 'csv') return parseMatrix(text, file);
  // The header line is dropped: line numbers in messages count it (they are the file's).
  const csv = csvToText(text);
  return parseMatrix(csv.text, file, csv.header ? 1 : 0);
}

export function readLabels(file: string): Labels {
  if (kindOf(file) === 'npy') {
    const arr = readNpy(file);
    if (arr.shape.length !== 1 && !(arr.shape.length === 2 && arr.shape[1] === 1)) {
      throw dataError(file, null, `labels must be a 1-D array, got shape [${arr.shape}]`);
    }
    for (let i = 0; i < arr.data.length; i++) {
      if (!Number.isInteger(arr.data[i])) throw dataError(file, null, `label ${i} is ${arr.data[i]}, not a whole number`);
    }
    return parseLabels(Array.from(arr.data).join('\n'), file);
  }
  const text = readText(file);
  if (kindOf(file) !== 'csv') return parseLabels(text, file);
  const csv = csvToText(text);
  return parseLabels(csv.text, file, csv.header ? 1 : 0);
}

export function readGraph(file: string, n: number): EdgeList {
  if (kindOf(file) === 'npy') {
    const arr = readNpy(file);
    if (arr.shape.length !== 2 || arr.shape[1] !== 2) throw dataError(file, null, `a graph .npy must be E × 2 (u, v pairs), got shape [${arr.shape}]`);
    const e = arr.shape[0];
    const src = new Int32Array(e);
    const dst = new Int32Array(e);
    for (let i = 0; i < e; i++) {
      const u = arr.data[2 * i];
      const v = arr.data[2 * i + 1];
      if (!Number.isInteger(u) || !Number.isInteger(v) || u < 0 || v < 0 || u >= n || v >= n) {
        throw dataError(file, null, `edge ${i} (${u}, ${v}) is not a pair of node ids in 0..${n - 1}`);
      }
      src[i] = u;
      dst[i] = v;
    }
    return { src, dst };
  }
  const text = readText(file);
  if (kindOf(file) !== 'csv') return parseEdges(text, file, n);
  const csv = csvToText(text);
  return parseEdges(csv.text, file, n, csv.header ? 1 : 0);
}

/** Reads the user's files and checks that they agree (same N, clusters given or implied by the labels). */
export function loadUserData(files: UserDataFiles): ClusteringData {
  const features = readFeatures(files.features, files.member);
  if (features.rows < 2) throw dataError(files.features, null, `needs at least 2 rows to cluster, found ${features.rows}`);
  let labels: Labels | null = null;
  if (files.labels) {
    labels = readLabels(files.labels);
    if (labels.labels.length !== features.rows) {
      throw new DgcError('DGC_DATA', `${files.labels} has ${labels.labels.length} labels but ${files.features} has ${features.rows} rows`);
    }
  }
  let k = files.clusters;
  if (k !== undefined) {
    if (!Number.isInteger(k) || k < 2 || k > features.rows) throw new DgcError('DGC_ARG', `clusters must be an integer in [2, ${features.rows}], got ${k}`);
    if (labels && labels.k !== k) throw new DgcError('DGC_ARG', `clusters is ${k} but ${files.labels} has ${labels.k} classes`);
  } else if (labels) {
    k = labels.k;
  } else {
    throw new DgcError('DGC_ARG', `without labels the number of clusters must be given (--clusters K) for ${files.features}`);
  }
  const edges = files.graph ? readGraph(files.graph, features.rows) : null;
  return {
    name: files.name ?? path.basename(files.features).replace(/\.(gz)$/i, '').replace(/\.[^.]+$/, ''),
    features,
    labels: labels ? labels.labels : null,
    nClusters: k,
    edges,
    source: [`features ${files.features}`, files.labels ? `labels ${files.labels}` : 'no labels', files.graph ? `graph ${files.graph}` : 'no graph'].join(', '),
  };
}
