// Plain-text dataset files (SDCN layout): whitespace-separated feature rows, one label per line, and edge
// lists `u v`, each optionally gzip-compressed, CRLF or LF. Every malformed input is a DGC_DATA error that
// names the file and the line.
import * as fs from 'fs';
import * as zlib from 'zlib';
import { DgcError } from '../tensor';

export function dataError(file: string, line: number | null, message: string): DgcError {
  return new DgcError('DGC_DATA', `${file}${line !== null ? `:${line}` : ''}: ${message}`);
}

/** The file's text, gunzipped when it ends in .gz. */
export function readText(file: string): string {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    throw dataError(file, null, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (file.endsWith('.gz')) {
    try {
      buf = zlib.gunzipSync(buf);
    } catch (err) {
      throw dataError(file, null, `not a valid gzip file (${(err as Error).message})`);
    }
  }
  return buf.toString('utf8');
}

/** Lines without their terminators; a final empty line (trailing newline) is dropped. */
function lines(text: string): string[] {
  const out = text.split(/\r?\n/);
  while (out.length > 0 && out[out.length - 1].trim() === '') out.pop();
  return out;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

// The largest float32: a decimal beyond it (plus half an ulp) rounds to ±Infinity when stored.
const FLOAT32_MAX = 3.4028234663852886e38;

function parseNumber(tok: string, file: string, line: number, col: number): number {
  if (!NUMBER.test(tok)) throw dataError(file, line, `value ${col + 1} is not a number: '${tok.slice(0, 40)}'`);
  const v = Number(tok);
  // Features are stored as float32: a value that overflows it would become ±Infinity and surface much later (as
  // "pca: element is Infinity"), far from the file and line that hold it.
  if (!Number.isFinite(Math.fround(v))) {
    throw dataError(file, line, `value ${col + 1} (${tok.slice(0, 40)}) is outside the float32 range (magnitude up to ${FLOAT32_MAX.toPrecision(5)})`);
  }
  return v;
}

export interface DenseMatrix {
  rows: number;
  cols: number;
  data: Float32Array;
}

/**
 * A dense float matrix, one row per line. All rows must have the same number of values. `skipped`: lines the caller
 * removed from the start of the file (a CSV header), so that messages give the line numbers of the file.
 */
export function parseMatrix(text: string, file: string, skipped = 0): DenseMatrix {
  const ls = lines(text);
  if (ls.length === 0) throw dataError(file, null, 'the file is empty');
  const first = ls[0].trim().split(/\s+/);
  const cols = first[0] === '' ? 0 : first.length;
  if (cols === 0) throw dataError(file, 1 + skipped, 'the first line has no values');
  const data = new Float32Array(ls.length * cols);
  for (let i = 0; i < ls.length; i++) {
    const toks = ls[i].trim().split(/\s+/);
    if (toks.length !== cols || toks[0] === '') {
      throw dataError(file, i + 1 + skipped, `expected ${cols} values (as on line ${1 + skipped}), found ${toks[0] === '' ? 0 : toks.length}`);
    }
    for (let j = 0; j < cols; j++) data[i * cols + j] = parseNumber(toks[j], file, i + 1 + skipped, j);
  }
  return { rows: ls.length, cols, data };
}

export interface Labels {
  /** 0-based class ids (the file's distinct values in ascending order become 0, 1, 2, …). */
  labels: Int32Array;
  /** Number of classes. */
  k: number;
  /** The file's original value of each class id. */
  original: number[];
}

/** One integer label per line; 0- and 1-based files both become 0-based class ids. `skipped`: as for parseMatrix. */
export function parseLabels(text: string, file: string, skipped = 0): Labels {
  const ls = lines(text);
  if (ls.length === 0) throw dataError(file, null, 'the file is empty');
  const raw = new Int32Array(ls.length);
  for (let i = 0; i < ls.length; i++) {
    const tok = ls[i].trim();
    if (!/^[+-]?\d+$/.test(tok)) throw dataError(file, i + 1 + skipped, `expected one integer label, found '${tok.slice(0, 40)}'`);
    const v = Number(tok);
    // Stored as int32: a larger value would wrap around silently (4294967297 → 1) and merge two classes.
    if (v > 2147483647 || v < -2147483648) throw dataError(file, i + 1 + skipped, `label ${tok.slice(0, 40)} is outside the int32 range`);
    raw[i] = v;
  }
  const original = [...new Set(raw)].sort((a, b) => a - b);
  const id = new Map(original.map((v, i) => [v, i]));
  return { labels: raw.map((v) => id.get(v)!), k: original.length, original };
}

export interface EdgeList {
  src: Int32Array;
  dst: Int32Array;
}

/** Lines `u v` of 0-based node ids, each < n. `skipped`: as for parseMatrix. */
export function parseEdges(text: string, file: string, n: number, skipped = 0): EdgeList {
  const ls = lines(text);
  const src = new Int32Array(ls.length);
  const dst = new Int32Array(ls.length);
  for (let i = 0; i < ls.length; i++) {
    const toks = ls[i].trim().split(/\s+/);
    if (toks.length !== 2 || !/^\d+$/.test(toks[0]) || !/^\d+$/.test(toks[1])) {
      throw dataError(file, i + 1 + skipped, `expected two node ids 'u v', found '${ls[i].trim().slice(0, 40)}'`);
    }
    const u = Number(toks[0]);
    const v = Number(toks[1]);
    if (u >= n || v >= n) throw dataError(file, i + 1 + skipped, `node id ${Math.max(u, v)} is out of range: the dataset has ${n} nodes (ids 0..${n - 1})`);
    src[i] = u;
    dst[i] = v;
  }
  return { src, dst };
}
