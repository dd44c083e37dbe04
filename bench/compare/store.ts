// A folder of raw little-endian arrays plus manifest.json: how the parent hands graphs, features and weights to
// the children (TypeScript and Python) so that every implementation computes on exactly the same inputs.
import * as fs from 'fs';
import * as path from 'path';

export type StoredArray = Float32Array | Int32Array;

// Typed arrays may come from another realm (jest's sandbox): test the tag, not instanceof.
const isInt32 = (a: unknown): a is Int32Array => Object.prototype.toString.call(a) === '[object Int32Array]';
const isFloat32 = (a: unknown): a is Float32Array => Object.prototype.toString.call(a) === '[object Float32Array]';

export interface ArrayEntry {
  file: string;
  dtype: 'float32' | 'int32';
  shape: number[];
}

export interface Manifest {
  arrays: Record<string, ArrayEntry>;
  /** Free-form facts about the inputs (graph sources, nnz), copied into the report. */
  info: Record<string, unknown>;
}

export class ArrayStore {
  readonly manifest: Manifest;
  constructor(readonly dir: string, create = false) {
    const file = path.join(dir, 'manifest.json');
    if (create) {
      fs.mkdirSync(dir, { recursive: true });
      this.manifest = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : { arrays: {}, info: {} };
    } else {
      this.manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
    }
  }

  has(key: string): boolean {
    return key in this.manifest.arrays;
  }

  put(key: string, data: StoredArray, shape: number[]): void {
    const file = `${key.replace(/[^A-Za-z0-9._-]+/g, '_')}.bin`;
    if (!isInt32(data) && !isFloat32(data)) throw new Error(`bench inputs: '${key}' must be a Float32Array or Int32Array`);
    fs.writeFileSync(path.join(this.dir, file), Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    this.manifest.arrays[key] = { file, dtype: isInt32(data) ? 'int32' : 'float32', shape };
  }

  get(key: string): { data: StoredArray; shape: number[] } {
    const e = this.manifest.arrays[key];
    if (!e) throw new Error(`bench inputs: no array '${key}' in ${this.dir}`);
    const buf = fs.readFileSync(path.join(this.dir, e.file));
    const copy = new ArrayBuffer(buf.byteLength);
    new Uint8Array(copy).set(buf);
    return { data: e.dtype === 'int32' ? new Int32Array(copy) : new Float32Array(copy), shape: e.shape };
  }

  getF32(key: string): { data: Float32Array; shape: number[] } {
    const r = this.get(key);
    if (!isFloat32(r.data)) throw new Error(`bench inputs: '${key}' is not float32`);
    return { data: r.data, shape: r.shape };
  }

  getI32(key: string): Int32Array {
    const r = this.get(key);
    if (!isInt32(r.data)) throw new Error(`bench inputs: '${key}' is not int32`);
    return r.data;
  }

  /** Keys under a prefix, in insertion order. */
  keys(prefix: string): string[] {
    return Object.keys(this.manifest.arrays).filter((k) => k.startsWith(prefix));
  }

  save(): void {
    const file = path.join(this.dir, 'manifest.json');
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(this.manifest, null, 1));
    fs.renameSync(`${file}.tmp`, file);
  }
}

/** A CSR matrix as plain arrays (the row-normalized Â, or its transpose). */
export interface CsrArrays {
  n: number;
  nnz: number;
  indptr: Int32Array;
  indices: Int32Array;
  values: Float32Array;
}

export function putCsr(store: ArrayStore, key: string, c: CsrArrays): void {
  store.put(`${key}/indptr`, c.indptr, [c.n + 1]);
  store.put(`${key}/indices`, c.indices, [c.nnz]);
  store.put(`${key}/values`, c.values, [c.nnz]);
}

export function getCsr(store: ArrayStore, key: string): CsrArrays {
  const indptr = store.getI32(`${key}/indptr`);
  const indices = store.getI32(`${key}/indices`);
  const values = store.getF32(`${key}/values`).data;
  return { n: indptr.length - 1, nnz: indices.length, indptr, indices, values };
}

/** Row id of every stored entry (CSR → COO rows), ascending. */
export function csrRowIds(c: CsrArrays): Int32Array {
  const rows = new Int32Array(c.nnz);
  for (let i = 0; i < c.n; i++) rows.fill(i, c.indptr[i], c.indptr[i + 1]);
  return rows;
}
