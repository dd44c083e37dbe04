// The dataset shipped in the package (data/acm): features, labels and graph, checked against each other.
import * as path from 'path';
import { packageRoot } from '../native';
import { dataError, parseEdges, parseLabels, parseMatrix, readText } from './text';
import type { DenseMatrix, EdgeList, Labels } from './text';

export interface Dataset {
  name: string;
  features: DenseMatrix;
  labels: Labels;
  edges: EdgeList | null;
}

/** Loads `<dir>/<name>.txt[.gz]`, `<name>_label.txt` and `<name>_graph.txt[.gz]` (SDCN's file names). */
export function loadSdcnLayout(name: string, dir: string): Dataset {
  const pick = (base: string, required: boolean): string | null => {
    for (const f of [base, `${base}.gz`]) {
      const p = path.join(dir, f);
      if (require('fs').existsSync(p)) return p;
    }
    if (required) throw dataError(path.join(dir, `${base}[.gz]`), null, `dataset '${name}' needs this file, which was not found in ${dir}`);
    return null;
  };
  return loadFiles(name, pick(`${name}.txt`, true)!, pick(`${name}_label.txt`, true)!, pick(`${name}_graph.txt`, false));
}

/** Parses a dataset's feature, label and (optional) graph files and checks that they fit together. */
export function loadFiles(name: string, featFile: string, labelFile: string, graphFile: string | null): Dataset {
  const features = parseMatrix(readText(featFile), featFile);
  const labels = parseLabels(readText(labelFile), labelFile);
  if (labels.labels.length !== features.rows) {
    throw dataError(labelFile, null, `has ${labels.labels.length} labels but ${featFile} has ${features.rows} rows`);
  }
  const edges = graphFile ? parseEdges(readText(graphFile), graphFile, features.rows) : null;
  return { name, features, labels, edges };
}

/** The embedded ACM dataset (3025 papers, 1870 features, 3 classes, 13,128 undirected edges). */
export function loadEmbeddedAcm(): Dataset {
  return loadSdcnLayout('acm', path.join(packageRoot, 'data', 'acm'));
}
