// The readers the fuzzer drives (test/fuzz.test.ts), one table entry each: the valid seed inputs mutations start
// from, how to read an input, and what a value read must satisfy. A new reader (say, the trainer's checkpoint
// format) is one more entry here: give it small seeds (so truncation can cut at every byte), a read function,
// and, where the format has size fields, structural mutations that set them to hostile values.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import * as dg from '../../lib';
import { parseEdges, parseLabels, parseMatrix, readText } from '../../lib/data/text';
import { loadSdcnLayout } from '../../lib/data/embedded';
import { readNpy } from '../../lib/data/npy';
import { readNpz } from '../../lib/data/zip';
import { loadAdgcZip } from '../../lib/data/adgc';
import { listHdf5, readHdf5 } from '../../lib/data/hdf5';
import { loadNpyCheckpoint } from '../../lib/io/npy-checkpoint';
import { readCheckpoint, writeCheckpoint } from '../../lib/io/checkpoint';
import { loadUserData } from '../../lib/data/user';
import { Dfcn } from '../../lib/models/dfcn';
import { Rng } from '../helpers/reference';
import { npyBytes, zipBytes } from '../helpers/files';

/** An input: file name (relative to the case folder) → bytes. */
export type Files = Record<string, Buffer>;

export interface Structural {
  name: string;
  /** The file replaced. */
  file: string;
  bytes: Buffer;
}

export interface ReadContext {
  /** The case folder the files were written to. */
  dir: string;
  /** Runs one sub-read (e.g. one dataset of an HDF5 file) and classifies its outcome like a whole read. */
  sub<T>(label: string, fn: () => T): T | undefined;
}

export interface FuzzReader {
  name: string;
  seeds(): Files[];
  /** Files of an input whose decoded text gets text mutations (gunzipped first when the name ends in .gz). */
  textFiles?: readonly string[];
  /** Random mutations per seed and file (the fuzz scale multiplies it). */
  randomPerFile: number;
  /** Reads the input; a thrown error is classified (it must be a DGC_DATA error naming a file of the input). */
  read(ctx: ReadContext): unknown;
  /** read() classifies its parts with ctx.sub (a value from read() itself only says it finished). */
  subOutcomes?: boolean;
  /** Problems with a value read (non-finite floats, lengths that disagree with shapes), or null. */
  check?(value: unknown): string | null;
  /** Frees what read() returned (native tensors). */
  free?(value: unknown): void;
  /** Format-aware mutations: size fields, shapes and dtypes set to hostile values. */
  structural?(seed: Files, rng: Rng): Structural[];
}

const f32 = (xs: number[]): Buffer => Buffer.from(Float32Array.from(xs).buffer);
const f64 = (xs: number[]): Buffer => Buffer.from(Float64Array.from(xs).buffer);
const i64 = (xs: number[]): Buffer => Buffer.from(BigInt64Array.from(xs.map(BigInt)).buffer);
const i32 = (xs: number[]): Buffer => Buffer.from(Int32Array.from(xs).buffer);

// ---- value checks ---------------------------------------------------------------------------------------

function nonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

function checkArray(label: string, a: { shape: number[]; data: Float32Array | Int32Array }): string | null {
  if (!a.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return `${label}: shape (${a.shape}) has a dimension that is not a non-negative integer`;
  if (a.data.length !== numel(a.shape)) return `${label}: ${a.data.length} values for shape (${a.shape})`;
  const bad = nonFinite(a.data);
  return bad >= 0 ? `${label}: element ${bad} is ${a.data[bad]}` : null;
}

function checkDataset(ds: { features: { rows: number; cols: number; data: Float32Array }; labels: { labels: Int32Array; k: number }; edges: { src: Int32Array; dst: Int32Array } | null }): string | null {
  const { rows, cols, data } = ds.features;
  if (data.length !== rows * cols) return `features: ${data.length} values for ${rows}×${cols}`;
  const bad = nonFinite(data);
  if (bad >= 0) return `features: element ${bad} is ${data[bad]}`;
  if (ds.labels.labels.length !== rows) return `${ds.labels.labels.length} labels for ${rows} rows`;
  if (ds.labels.labels.some((l) => l < 0 || l >= ds.labels.k)) return 'a label id outside [0, k)';
  if (ds.edges) {
    for (let i = 0; i < ds.edges.src.length; i++) {
      if (ds.edges.src[i] < 0 || ds.edges.src[i] >= rows || ds.edges.dst[i] < 0 || ds.edges.dst[i] >= rows) return `edge ${i} leaves [0, ${rows})`;
    }
  }
  return null;
}

/**
 * Tensors read: sizes agree with shapes, and (finite = true) float values are finite. State files keep NaN and Inf
 * bit for bit (saveState / loadState round-trip any tensor: test/nn.test.ts), so for them only sizes are checked.
 */
function checkTensors(m: unknown, finite = true): string | null {
  for (const [name, t] of m as Map<string, dg.Tensor>) {
    if (t.size !== numel(t.shape)) return `tensor '${name}': size ${t.size} for shape [${t.shape}]`;
    if (finite && t.dtype === 'float32') {
      const bad = nonFinite(t.dataF32());
      if (bad >= 0) return `tensor '${name}': element ${bad} is not finite`;
    }
  }
  return null;
}

const freeTensors = (m: unknown): void => dg.dispose([...(m as Map<string, dg.Tensor>).values()]);

// ---- structural mutations -------------------------------------------------------------------------------

/** Hostile .npy headers: huge, negative, overflowing and non-integer dimensions; odd dtypes; broken dicts. */
const NPY_SHAPES = [
  '(2147483648, 2147483648)', '(4294967296,)', '(9007199254740993,)', '(99999999999999999999999999999,)',
  `(${'9'.repeat(400)},)`, '(-1, 3)', '(3, -1)', '(1e3,)', "('a',)", '(0, 99999999999999999999)', '(1, 1, 1, 1, 1)',
  '(1.5,)', '(2, 3', '()', '(,)', '(1,,2)', '(3L, 2L)',
];
const NPY_DESCRS = ["'<f16'", "'<U4'", "'|O'", "'<c8'", "'>f4'", "'<f0'", "'<i99999999999'", "'V8'", "''", '3', "'<f4' "];

function npyStructural(file: string, buf: Buffer): Structural[] {
  const out: Structural[] = [];
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + hlen);
  const body = buf.subarray(start + hlen);
  const rebuilt = (h: string): Buffer => npyBytes('', [], body, { version: major as 1 | 2 | 3, header: h.trimEnd() });
  for (const s of NPY_SHAPES) out.push({ name: `npy shape ${s.slice(0, 40)}`, file, bytes: rebuilt(header.replace(/'shape'\s*:\s*\([^)]*\)/, `'shape': ${s}`)) });
  for (const d of NPY_DESCRS) out.push({ name: `npy descr ${d}`, file, bytes: rebuilt(header.replace(/'descr'\s*:\s*'[^']*'/, `'descr': ${d}`)) });
  out.push({ name: 'npy fortran_order garbage', file, bytes: rebuilt(header.replace(/'fortran_order'\s*:\s*\w+/, "'fortran_order': Maybe")) });
  out.push({ name: 'npy header without shape', file, bytes: rebuilt("{'descr': '<f4', 'fortran_order': False}") });
  out.push({ name: 'npy header not a dict', file, bytes: rebuilt('hello') });
  for (const v of [0, 0xffff, 0xfff0]) {
    const b = Buffer.from(buf);
    b.writeUInt16LE(v, 8);
    out.push({ name: `npy header length ${v}`, file, bytes: b });
  }
  for (const v of [0, 0x7fffffff, 0xffffffff]) {
    const b = Buffer.from(buf);
    b[6] = 2;
    b.writeUInt32LE(v, 8);
    out.push({ name: `npy v2 header length ${v}`, file, bytes: b });
  }
  return out;
}

/** Every record of a zip with its size and offset fields set to hostile values, one field at a time. */
function zipStructural(file: string, buf: Buffer): Structural[] {
  const out: Structural[] = [];
  const set = (at: number, width: 2 | 4, v: number, what: string): void => {
    if (at + width > buf.length) return;
    const b = Buffer.from(buf);
    if (width === 2) b.writeUInt16LE(v & 0xffff, at);
    else b.writeUInt32LE(v >>> 0, at);
    out.push({ name: `zip ${what}@${at}=${v}`, file, bytes: b });
  };
  for (let p = 0; p + 4 <= buf.length; p++) {
    const sig = buf.readUInt32LE(p);
    if (sig === 0x04034b50) {
      for (const v of [0xffff, 0x8000]) set(p + 26, 2, v, 'local name length');
      set(p + 28, 2, 0xffff, 'local extra length');
      for (const v of [0, 0xffffffff, 0x7fffffff]) set(p + 18, 4, v, 'local compressed size');
      set(p + 8, 2, 12, 'local method');
    } else if (sig === 0x02014b50) {
      for (const v of [0, 99, 0xffff]) set(p + 10, 2, v, 'method');
      set(p + 8, 2, 1, 'flags (encrypted)');
      for (const v of [0, 1, 0x7fffffff, 0xfffffffe, 0xffffffff]) set(p + 20, 4, v, 'compressed size');
      for (const v of [0, 1, 0x40000000, 0xfffffffe, 0xffffffff]) set(p + 24, 4, v, 'size');
      for (const v of [0, 0xffff]) set(p + 28, 2, v, 'name length');
      set(p + 30, 2, 0xffff, 'extra length');
      for (const v of [1, 0x7fffffff, 0xffffffff]) set(p + 42, 4, v, 'local header offset');
      set(p + 16, 4, 0x12345678, 'crc');
    } else if (sig === 0x06054b50) {
      for (const v of [0, 1, 0xfffe, 0xffff]) set(p + 10, 2, v, 'entry count');
      for (const v of [0, 1, 0x7fffffff, 0xffffffff]) set(p + 12, 4, v, 'directory size');
      for (const v of [0, 1, 0x7fffffff, 0xffffffff]) set(p + 16, 4, v, 'directory offset');
    }
  }
  return out;
}

/** The zip with member `name` replaced by each structural variant of that member's .npy. */
function zipMemberNpyStructural(file: string, members: [string, Buffer, boolean][], name: string): Structural[] {
  const i = members.findIndex((m) => m[0] === name);
  return npyStructural(name, members[i][1]).map((s) => {
    const ms = members.map((m, k): [string, Buffer, boolean] => (k === i ? [m[0], s.bytes, m[2]] : m));
    return { name: `${name}: ${s.name}`, file, bytes: zipBytes(ms) };
  });
}

function stateBytes(json: unknown, data: Buffer, version = 1, magic = 'DGCSTATE'): Buffer {
  const h = Buffer.from(typeof json === 'string' ? json : JSON.stringify(json), 'utf8');
  const pre = Buffer.alloc(16);
  pre.write(magic, 0, 'latin1');
  pre.writeUInt32LE(version, 8);
  pre.writeUInt32LE(h.length, 12);
  return Buffer.concat([pre, h, data]);
}

/**
 * State-file headers whose fields are hostile: shapes, byte counts and offsets huge, negative or fractional. Training
 * checkpoints (magic 'DGCCKPT\0') share the layout, with a `meta` object beside the tensor list.
 */
function stateStructural(file: string, buf: Buffer): Structural[] {
  const magic = buf.toString('latin1', 0, 8);
  const bytesOf = (json: unknown, data: Buffer, version = 1): Buffer => stateBytes(json, data, version, magic);
  const hlen = buf.readUInt32LE(12);
  const header = JSON.parse(buf.toString('utf8', 16, 16 + hlen)) as { tensors: Record<string, unknown>[]; meta?: unknown };
  const data = buf.subarray(16 + hlen);
  const out: Structural[] = [];
  const variant = (what: string, patch: Record<string, unknown>): void => {
    const t = header.tensors.map((e, i) => (i === 0 ? { ...e, ...patch } : e));
    out.push({ name: `state ${what}`, file, bytes: bytesOf({ ...header, tensors: t }, data) });
  };
  for (const shape of [[-1], [2 ** 31, 2 ** 31], [2 ** 53 + 2], [1e300], [0.5], ['3'], [1, 1, 1, 1, 1], [null], 7, [], [0, 2 ** 40]]) variant(`shape ${JSON.stringify(shape)}`, { shape });
  for (const nbytes of [-4, 0, 2 ** 32, 2 ** 53, 1e308, 4.5, '8']) variant(`nbytes ${nbytes}`, { nbytes });
  for (const offset of [-64, 1, 2 ** 32, 1e308, 0.5, null]) variant(`offset ${offset}`, { offset });
  for (const dtype of ['float64', 'int8', '', null]) variant(`dtype ${dtype}`, { dtype });
  for (const name of [7, '', null, { a: 1 }]) variant(`name ${JSON.stringify(name)}`, { name });
  out.push({ name: 'state tensors not a list', file, bytes: bytesOf({ ...header, tensors: { a: 1 } }, data) });
  out.push({ name: 'state header null', file, bytes: bytesOf('null', data) });
  out.push({ name: 'state header array', file, bytes: bytesOf('[1,2]', data) });
  out.push({ name: 'state duplicate entry', file, bytes: bytesOf({ ...header, tensors: [header.tensors[0], header.tensors[0]] }, data) });
  if (header.meta !== undefined) {
    for (const meta of [null, 7, 'x', []]) out.push({ name: `checkpoint meta ${JSON.stringify(meta)}`, file, bytes: bytesOf({ ...header, meta }, data) });
    out.push({ name: 'checkpoint without meta', file, bytes: bytesOf({ tensors: header.tensors }, data) });
  }
  out.push({ name: 'state version 2', file, bytes: bytesOf(header, data, 2) });
  for (const v of [0xffffffff, 0x7fffffff, 0]) {
    const b = Buffer.from(buf);
    b.writeUInt32LE(v, 12);
    out.push({ name: `state header length ${v}`, file, bytes: b });
  }
  return out;
}

function manifestStructural(manifest: string, json: { tensors: Record<string, Record<string, unknown>> }): Structural[] {
  const out: Structural[] = [];
  const first = Object.keys(json.tensors)[0];
  const variant = (what: string, patch: Record<string, unknown>): void => {
    const t = { ...json.tensors, [first]: { ...json.tensors[first], ...patch } };
    out.push({ name: `manifest ${what}`, file: manifest, bytes: Buffer.from(JSON.stringify({ tensors: t })) });
  };
  for (const shape of [[-1], [2 ** 31, 2 ** 31], ['2,3'], [2.5], null, 'x', [1, 1, 1, 1, 1]]) variant(`shape ${JSON.stringify(shape)}`, { shape });
  for (const file of ['../outside.npy', '/etc/hostname', '', 'missing.npy', '.', 7]) variant(`file ${JSON.stringify(file)}`, { file });
  for (const sha256 of ['0'.repeat(64), 'zz', 7]) variant(`sha256 ${JSON.stringify(sha256)}`, { sha256 });
  out.push({ name: 'manifest entry null', file: manifest, bytes: Buffer.from(JSON.stringify({ tensors: { ...json.tensors, [first]: null } })) });
  out.push({ name: 'manifest tensors array', file: manifest, bytes: Buffer.from(JSON.stringify({ tensors: [1, 2] })) });
  out.push({ name: 'manifest null', file: manifest, bytes: Buffer.from('null') });
  out.push({ name: 'manifest __proto__ entry', file: manifest, bytes: Buffer.from(`{"tensors": {"__proto__": ${JSON.stringify(json.tensors[first])}}}`) });
  return out;
}

/** HDF5: the dimensions of a dataspace (found by their stored 64-bit values) set to hostile values. */
function hdf5Structural(file: string, buf: Buffer): Structural[] {
  const out: Structural[] = [];
  // Dataset 'x' is 3×4 and 'u8' has 5 elements: their dataspace messages hold these as little-endian uint64.
  const patterns: [string, bigint[]][] = [['x dims', [3n, 4n]], ['u8 dims', [5n]], ['labels dims', [3n]]];
  for (const [what, dims] of patterns) {
    const pat = Buffer.alloc(8 * dims.length);
    dims.forEach((d, i) => pat.writeBigUInt64LE(d, 8 * i));
    for (let at = buf.indexOf(pat); at >= 0; at = buf.indexOf(pat, at + 1)) {
      for (const v of [0n, 2n ** 31n, 2n ** 40n, 2n ** 63n, 2n ** 64n - 1n]) {
        const b = Buffer.from(buf);
        b.writeBigUInt64LE(v, at);
        out.push({ name: `hdf5 ${what}@${at}=${v}`, file, bytes: b });
      }
    }
  }
  return out;
}

// ---- the table ------------------------------------------------------------------------------------------

const FEATURES = '0.5 1 -2e-3\r\n3 4 5\r\n1e-3 -0 7.25\r\n6 7 8\r\n';
const LABELS = '1\n3\n2\n1\n';
const EDGES = '0 1\n1 2\n2 3\n3 0\n1 1\n';

/** The datasets of test/fixtures/small.h5 (make_hdf5.py). */
const HDF5_DATASETS = ['x', 'grp/labels', 'grp/sub/f64', 'u8', 'flags', 'scalar', 'big', 'names'];
const HDF5_FIXTURE = path.resolve(__dirname, '..', 'fixtures', 'small.h5');

function file(ctx: ReadContext, name: string): string {
  return path.join(ctx.dir, name);
}

function hdf5Check(v: unknown): string | null {
  return v && typeof v === 'object' && 'data' in v ? checkArray('hdf5', v as { shape: number[]; data: Float32Array | Int32Array }) : null;
}

/** A state file as saveState writes it, of tensors with these names, shapes and dtypes (small counting values). */
function stateSeed(entries: [string, number[], 'float32' | 'int32'][]): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgc-fuzz-seed-'));
  const f = path.join(dir, 's.dgcstate');
  const ts = entries.map(([name, shape, dtype]): [string, dg.Tensor] => {
    const n = numel(shape);
    const data = dtype === 'int32' ? Int32Array.from({ length: n }, (_, i) => i - 2) : Float32Array.from({ length: n }, (_, i) => i / 4 - 1);
    return [name, dg.tensor(data, shape)];
  });
  try {
    dg.saveState(f, ts);
    return fs.readFileSync(f);
  } finally {
    dg.dispose(ts.map(([, t]) => t));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** DFCN's parameter names (a real model's state dict) with tiny shapes of the same rank, for checkpoint seeds. */
function dfcnLikeState(): [string, number[]][] {
  const m = new Dfcn({ nInput: 4, nClusters: 3, generator: new dg.Generator(1) });
  const names = [...m.stateDict()].map(([name, t]): [string, number[]] => [name, t.shape.map((d, i) => Math.min(d, i === 0 ? 3 : 2))]);
  m.dispose();
  return names;
}

export const readers: FuzzReader[] = [
  {
    name: 'SDCN text features (.txt)',
    seeds: () => [{ 'f.txt': Buffer.from(FEATURES) }, { 'f.txt': Buffer.from('1\n2\n') }],
    textFiles: ['f.txt'],
    randomPerFile: 120,
    read: (ctx) => parseMatrix(readText(file(ctx, 'f.txt')), file(ctx, 'f.txt')),
    check: (v) => checkArray('matrix', { shape: [(v as { rows: number }).rows, (v as { cols: number }).cols], data: (v as { data: Float32Array }).data }),
  },
  {
    name: 'SDCN text features (.txt.gz)',
    seeds: () => [{ 'f.txt.gz': zlib.gzipSync(Buffer.from(FEATURES)) }],
    textFiles: ['f.txt.gz'],
    randomPerFile: 120,
    read: (ctx) => parseMatrix(readText(file(ctx, 'f.txt.gz')), file(ctx, 'f.txt.gz')),
    check: (v) => checkArray('matrix', { shape: [(v as { rows: number }).rows, (v as { cols: number }).cols], data: (v as { data: Float32Array }).data }),
  },
  {
    name: 'SDCN labels',
    seeds: () => [{ 'l.txt': Buffer.from(LABELS.replace(/\n/g, '\r\n')) }],
    textFiles: ['l.txt'],
    randomPerFile: 80,
    read: (ctx) => parseLabels(readText(file(ctx, 'l.txt')), file(ctx, 'l.txt')),
    check: (v) => {
      const l = v as { labels: Int32Array; k: number; original: number[] };
      if (l.original.length !== l.k || l.original.some((x) => !Number.isSafeInteger(x))) return `original class values ${l.original}`;
      return l.labels.some((x) => x < 0 || x >= l.k) ? 'a label id outside [0, k)' : null;
    },
  },
  {
    name: 'SDCN graph edges',
    seeds: () => [{ 'g.txt': Buffer.from(EDGES) }],
    textFiles: ['g.txt'],
    randomPerFile: 80,
    read: (ctx) => parseEdges(readText(file(ctx, 'g.txt')), file(ctx, 'g.txt'), 4),
    check: (v) => {
      const e = v as { src: Int32Array; dst: Int32Array };
      return [...e.src, ...e.dst].some((x) => x < 0 || x >= 4) ? 'a node id outside [0, 4)' : null;
    },
  },
  {
    name: 'SDCN dataset folder (features, labels, gzip graph)',
    seeds: () => [{ 'toy.txt': Buffer.from(FEATURES), 'toy_label.txt': Buffer.from(LABELS), 'toy_graph.txt.gz': zlib.gzipSync(Buffer.from(EDGES)) }],
    textFiles: ['toy.txt', 'toy_label.txt', 'toy_graph.txt.gz'],
    randomPerFile: 40,
    read: (ctx) => loadSdcnLayout('toy', ctx.dir),
    check: (v) => checkDataset(v as Parameters<typeof checkDataset>[0]),
  },
  {
    name: '.npy',
    seeds: () => [
      { 'a.npy': npyBytes('<f4', [2, 3], f32([1, 2, 3, 4, 5, 6.5])) },
      { 'a.npy': npyBytes('<f8', [3], f64([0.1, -2, 1e10])) },
      { 'a.npy': npyBytes('<i8', [2, 2], i64([0, -7, 2147483647, 3]), { fortran: true }) },
      { 'a.npy': npyBytes('<f2', [2], Buffer.from([0x00, 0x3c, 0x00, 0xc0])) },
      { 'a.npy': npyBytes('|u1', [1, 2, 2], Buffer.from([0, 200, 1, 255]), { version: 2 }) },
      { 'a.npy': npyBytes('|b1', [], Buffer.from([1]), { version: 3 }) },
    ],
    randomPerFile: 60,
    read: (ctx) => readNpy(file(ctx, 'a.npy')),
    check: (v) => checkArray('npy', v as { shape: number[]; data: Float32Array }),
    structural: (seed) => npyStructural('a.npy', seed['a.npy']),
  },
  (() => {
    const members = (): [string, Buffer, boolean][] => [
      ['x.npy', npyBytes('<f4', [2, 2], f32([1, 2, 3, 4])), false],
      ['y.npy', npyBytes('<i8', [3], i64([1, 2, 3])), true],
    ];
    return {
      name: '.npz (zip of .npy, stored and deflated)',
      seeds: () => [{ 'a.npz': zipBytes(members()) }],
      randomPerFile: 200,
      read: (ctx: ReadContext) => readNpz(file(ctx, 'a.npz')),
      check: (v: unknown) => {
        for (const [k, a] of v as Map<string, { shape: number[]; data: Float32Array }>) {
          const p = checkArray(k, a);
          if (p) return p;
        }
        return null;
      },
      structural: (seed: Files) => [...zipStructural('a.npz', seed['a.npz']), ...zipMemberNpyStructural('a.npz', members(), 'x.npy')],
    };
  })(),
  (() => {
    const adj = [0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 1, 1];
    const members = (): [string, Buffer, boolean][] => [
      ['toy/', Buffer.alloc(0), false],
      ['toy/toy_adj.npy', npyBytes('<i4', [4, 4], i32(adj)), true],
      ['toy/toy_feat.npy', npyBytes('<f8', [4, 2], f64([1, 2, 3, 4, 5, 6, 7, 8])), true],
      ['toy/toy_label.npy', npyBytes('<i8', [4], i64([1, 2, 2, 3])), false],
    ];
    return {
      name: 'ADGC dataset zip (dense adjacency streamed)',
      seeds: () => [{ 'toy.zip': zipBytes(members()) }, { 'toy.zip': zipBytes(members().map(([n, b]) => [n, b, false])) }],
      randomPerFile: 200,
      read: (ctx: ReadContext) => loadAdgcZip('toy', file(ctx, 'toy.zip')),
      check: (v: unknown) => checkDataset(v as Parameters<typeof checkDataset>[0]),
      structural: (seed: Files) => [
        ...zipStructural('toy.zip', seed['toy.zip']),
        ...zipMemberNpyStructural('toy.zip', members(), 'toy/toy_adj.npy'),
        ...zipMemberNpyStructural('toy.zip', members(), 'toy/toy_feat.npy'),
      ],
    };
  })(),
  {
    name: 'HDF5 (jsfive)',
    seeds: () => [{ 'small.h5': fs.readFileSync(HDF5_FIXTURE) }],
    randomPerFile: 500,
    subOutcomes: true,
    read: (ctx) => {
      const f = file(ctx, 'small.h5');
      ctx.sub('listHdf5', () => listHdf5(f));
      for (const d of HDF5_DATASETS) {
        const v = ctx.sub(`readHdf5 '${d}'`, () => readHdf5(f, d));
        const p = v ? hdf5Check(v) : null;
        if (p) throw new Error(`dataset '${d}': ${p}`);
      }
      return true;
    },
    structural: (seed) => hdf5Structural('small.h5', seed['small.h5']),
  },
  {
    name: 'state file (saveState / loadState)',
    seeds: () => [{ 's.dgcstate': stateSeed([['w', [2, 3], 'float32'], ['b', [3], 'float32'], ['steps', [], 'int32']]) }],
    randomPerFile: 250,
    read: (ctx) => dg.loadState(file(ctx, 's.dgcstate')),
    check: (v) => checkTensors(v, false),
    free: freeTensors,
    structural: (seed) => stateStructural('s.dgcstate', seed['s.dgcstate']),
  },
];

// The user's own files (lib/data/user.ts: `dgclust train --features/--labels/--graph`, the estimator API).
function checkUserData(v: unknown): string | null {
  const d = v as { features: { rows: number; cols: number; data: Float32Array }; labels: Int32Array | null; nClusters: number; edges: { src: Int32Array; dst: Int32Array } | null };
  const { rows, cols, data } = d.features;
  if (data.length !== rows * cols) return `features: ${data.length} values for ${rows}×${cols}`;
  const bad = nonFinite(data);
  if (bad >= 0) return `features: element ${bad} is ${data[bad]}`;
  if (d.labels && (d.labels.length !== rows || d.labels.some((l) => l < 0 || l >= d.nClusters))) return 'labels do not fit the rows or the clusters';
  if (d.edges) {
    for (let i = 0; i < d.edges.src.length; i++) {
      if (d.edges.src[i] < 0 || d.edges.src[i] >= rows || d.edges.dst[i] < 0 || d.edges.dst[i] >= rows) return `edge ${i} leaves [0, ${rows})`;
    }
  }
  return null;
}

readers.push(
  {
    name: 'user data: CSV features with a header, text labels, text graph',
    seeds: () => [{ 'f.csv': Buffer.from('a,b,c\r\n0.5,1,-2e-3\r\n3,4,5\r\n1e-3,-0,7.25\r\n6,7,8\r\n'), 'l.txt': Buffer.from(LABELS), 'g.txt': Buffer.from(EDGES) }],
    textFiles: ['f.csv', 'l.txt', 'g.txt'],
    randomPerFile: 60,
    read: (ctx) => loadUserData({ features: file(ctx, 'f.csv'), labels: file(ctx, 'l.txt'), graph: file(ctx, 'g.txt') }),
    check: checkUserData,
  },
  {
    name: 'user data: .npy features, .npy labels, .npy graph',
    seeds: () => [{
      'x.npy': npyBytes('<f8', [4, 3], f64([0.5, 1, -2e-3, 3, 4, 5, 1e-3, 0, 7.25, 6, 7, 8])),
      'y.npy': npyBytes('<i8', [4], i64([1, 3, 2, 1])),
      'e.npy': npyBytes('<i4', [5, 2], i32([0, 1, 1, 2, 2, 3, 3, 0, 1, 1])),
    }],
    randomPerFile: 60,
    read: (ctx) => loadUserData({ features: file(ctx, 'x.npy'), labels: file(ctx, 'y.npy'), graph: file(ctx, 'e.npy') }),
    check: checkUserData,
    structural: (seed) => ['x.npy', 'y.npy', 'e.npy'].flatMap((k) => npyStructural(k, seed[k])),
  },
  {
    name: 'user data: .npz features (the 2-D member), no labels',
    seeds: () => [{ 'd.npz': zipBytes([['x.npy', npyBytes('<f4', [3, 2], f32([1, 2, 3, 4, 5, 6])), true], ['ids.npy', npyBytes('<i4', [3], i32([7, 8, 9])), false]]) }],
    randomPerFile: 120,
    read: (ctx) => loadUserData({ features: file(ctx, 'd.npz'), clusters: 2 }),
    check: checkUserData,
    structural: (seed) => zipStructural('d.npz', seed['d.npz']),
  },
);

// A training checkpoint (lib/io/checkpoint.ts: --checkpoint / --resume): the run's meta and its tensors (weights,
// optimizer moments, int32 counters). The trainer stops on a non-finite value before it writes one, so values read
// must be finite.
function trainingCheckpointSeed(): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgc-fuzz-seed-'));
  const f = path.join(dir, 'run.ckpt');
  const ts: [string, dg.Tensor][] = [
    ['param/w', dg.tensor(Float32Array.from({ length: 6 }, (_, i) => i / 4 - 1), [2, 3])],
    ['adam/m/w', dg.tensor(Float32Array.from({ length: 6 }, (_, i) => -i / 8), [2, 3])],
    ['steps', dg.tensor(Int32Array.from([5]), [1])],
  ];
  try {
    writeCheckpoint(f, { model: 'sdcn', epoch: 5, seed: 0, history: [{ epoch: 1, loss: 0.5 }] }, ts);
    return fs.readFileSync(f);
  } finally {
    dg.dispose(ts.map(([, t]) => t));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

readers.push({
  name: 'training checkpoint (--checkpoint / --resume)',
  seeds: () => [{ 'run.ckpt': trainingCheckpointSeed() }],
  randomPerFile: 250,
  read: (ctx) => readCheckpoint(file(ctx, 'run.ckpt')).tensors,
  check: (v) => checkTensors(v, true),
  free: freeTensors,
  structural: (seed) => stateStructural('run.ckpt', seed['run.ckpt']),
});

// Checkpoints: the DFCN state a training run saves (saveBest / saveFinal / --save: a state file of the model's
// parameters, DFCN's names) and the .npy-folder form the official weights come in (--init DIR), with tiny shapes.
readers.push(
  {
    name: 'DFCN checkpoint (state file of the model parameters)',
    seeds: () => [{ 'dfcn.dgcstate': stateSeed(dfcnLikeState().map(([n, s]) => [n, s, 'float32'])) }],
    randomPerFile: 150,
    read: (ctx) => dg.loadState(file(ctx, 'dfcn.dgcstate')),
    check: (v) => checkTensors(v, false),
    free: freeTensors,
    structural: (seed) => stateStructural('dfcn.dgcstate', seed['dfcn.dgcstate']),
  },
  (() => {
    const seed = (): Files => {
      const files: Files = {};
      const tensors: Record<string, Record<string, unknown>> = {};
      dfcnLikeState().slice(0, 4).forEach(([name, shape], k) => {
        const n = numel(shape);
        const bytes = npyBytes(k % 2 ? '<f8' : '<f4', shape, k % 2 ? f64(Array.from({ length: n }, (_, i) => i / 3)) : f32(Array.from({ length: n }, (_, i) => -i / 5)));
        files[`${name}.npy`] = bytes;
        tensors[name] = { shape, file: `${name}.npy`, ...(k < 2 ? { sha256: crypto.createHash('sha256').update(bytes).digest('hex') } : {}) };
      });
      files['manifest.json'] = Buffer.from(JSON.stringify({ tensors }, null, 1));
      return files;
    };
    return {
      name: 'npy checkpoint folder (manifest.json + .npy)',
      seeds: () => [seed()],
      textFiles: ['manifest.json'],
      randomPerFile: 40,
      read: (ctx: ReadContext) => loadNpyCheckpoint(ctx.dir),
      check: checkTensors,
      free: freeTensors,
      structural: (s: Files) => {
        const manifest = JSON.parse(s['manifest.json'].toString('utf8'));
        const npys = Object.keys(s).filter((k) => k.endsWith('.npy'));
        return [...manifestStructural('manifest.json', manifest), ...npys.slice(2, 4).flatMap((k) => npyStructural(k, s[k]))];
      },
    };
  })(),
);

