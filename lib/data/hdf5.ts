// Numeric datasets from HDF5 files (SDCN's usps.h5, MATLAB v7.3 .mat files, h5py output), read with jsfive, the
// pure-JavaScript HDF5 reader of NIST's usnistgov group (an optional dependency, installed by default: no native
// build, no WebAssembly). Without it, readHdf5 says how to install it.
//
// MATLAB v5 .mat files (acm.mat, DBLP.mat, cite.mat, COIL20.mat in the shared data) are not read: no well-kept
// npm package reads them (the only candidate, mat-for-js, has a single release), so their
// plain-text conversions (the data folder's derived/ files) are used instead. readHdf5 refuses a v5 .mat with an error
// that says so.
//
// Every failure is a DGC_DATA error naming the file (and the dataset): a missing file, a file that is not HDF5, a
// truncated or corrupt one, a dataset that is not there (the message lists those that are), a non-numeric dtype,
// an integer that does not fit int32, or a float that is not finite in float32 (NaN, ±Inf, beyond ±3.4e38).
//
// jsfive trusts the sizes a file declares (it allocates and loops over them), so they are checked first: a
// dataset may not declare more bytes than its file could hold even compressed (deflate expands at most ~1032:1),
// and a chunk may not be larger than its dataset (or 1 Mi elements). What remains unguarded is jsfive's walk of a
// crafted B-tree whose nodes share children (work grows with the fan-out to the power of the depth); the fuzzer's
// random mutations of a real file have not produced one.
import * as fs from 'fs';
import { DgcError } from '../tensor';
import { dataError } from './text';

export interface Hdf5Array {
  /** Row-major values: float datasets as float32, integer and boolean ones as int32. */
  data: Float32Array | Int32Array;
  shape: number[];
  /** The stored dtype in NumPy notation ('<f4', '<i8', '|u1', …). */
  dtype: string;
}

interface JsfiveNode {
  keys?: string[];
  get?(name: string): JsfiveNode | undefined;
  value?: unknown;
  shape?: number[];
  dtype?: unknown;
  /** jsfive's low-level object (not public API): its `chunks` is the chunk shape of a chunked dataset. */
  _dataobjects?: { chunks?: unknown; offset?: unknown };
}

/** jsfive throws strings as well as Errors. */
function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs a jsfive access, turning whatever it throws into a DGC_DATA error naming the file and what was read. */
function guarded<T>(file: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if ((err as { code?: string }).code === 'DGC_DATA') throw err;
    throw dataError(file, null, `cannot read ${what}, truncated or corrupt? (${errText(err).slice(0, 200)})`);
  }
}

interface OpenFile {
  root: JsfiveNode;
  size: number;
}

interface JsfiveModule {
  File: new (buffer: ArrayBuffer, filename: string) => JsfiveNode;
}

let jsfive: JsfiveModule | null = null;

function loadJsfive(): JsfiveModule {
  if (jsfive) return jsfive;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    jsfive = require('jsfive') as JsfiveModule;
  } catch {
    throw new DgcError('DGC_DATA', 'reading HDF5 files needs the optional package jsfive, which is not installed: run `npm install jsfive`');
  }
  return jsfive;
}

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

function openHdf5(file: string): OpenFile {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    throw dataError(file, null, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  // The superblock signature sits at offset 0 (or 512, 1024, … after a user block, as in MATLAB v7.3 files).
  let sb = -1;
  for (let at = 0; at + 8 <= buf.length && sb < 0; at = at === 0 ? 512 : at * 2) if (buf.subarray(at, at + 8).equals(HDF5_SIGNATURE)) sb = at;
  if (sb < 0) {
    if (buf.subarray(0, 116).toString('latin1').startsWith('MATLAB 5.0 MAT-file')) {
      throw dataError(file, null, 'a MATLAB v5 .mat file: dgclust reads only HDF5-based .mat (v7.3); use the plain-text conversion in the shared data folder (derived/*.txt.gz) instead');
    }
    throw dataError(file, null, `not an HDF5 file (no HDF5 signature${buf.length < 8 ? `; the file has only ${buf.length} bytes` : ''})`);
  }
  const declared = declaredFileSize(buf, sb);
  if (declared !== null && buf.length < declared) {
    throw dataError(file, null, `truncated: its superblock gives an end-of-file address of ${declared} bytes, the file has ${buf.length}`);
  }
  const lib = loadJsfive();
  const root = guarded(file, 'the HDF5 structure', () => new lib.File(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer, file));
  return { root, size: buf.length };
}

/**
 * The file size the superblock at `sb` declares (base address + end-of-file address), or null where it cannot be
 * read. Layouts (HDF5 file format spec §II.A): versions 0 and 1 keep the addresses after 16 (v0) or 20 (v1) bytes
 * of fixed fields — base, free-space info, end of file; versions 2 and 3 after 12 — base, superblock extension,
 * end of file. Offsets are 4 or 8 bytes, little-endian.
 */
function declaredFileSize(buf: Buffer, sb: number): number | null {
  if (buf.length < sb + 12) return null;
  const version = buf[sb + 8];
  let sizeOfOffsets: number;
  let addrAt: number;
  let eofIndex: number;
  if (version === 0 || version === 1) {
    sizeOfOffsets = buf[sb + 13];
    addrAt = sb + (version === 0 ? 24 : 28);
    eofIndex = 2;
  } else if (version === 2 || version === 3) {
    sizeOfOffsets = buf[sb + 9];
    addrAt = sb + 12;
    eofIndex = 2;
  } else {
    return null;
  }
  if (sizeOfOffsets !== 4 && sizeOfOffsets !== 8) return null;
  const read = (i: number): number | null => {
    const at = addrAt + i * sizeOfOffsets;
    if (at + sizeOfOffsets > buf.length) return null;
    return sizeOfOffsets === 4 ? buf.readUInt32LE(at) : Number(buf.readBigUInt64LE(at));
  };
  const base = read(0);
  const eof = read(eofIndex);
  if (base === null || eof === null || !Number.isSafeInteger(base + eof)) return null;
  return base + eof;
}

/** A group's member names, or null for a dataset. */
function groupKeys(file: string, node: JsfiveNode, what: string): string[] | null {
  if (typeof node.get !== 'function') return null;
  const keys = guarded(file, what, () => node.keys);
  return Array.isArray(keys) ? keys.map(String) : null;
}

/** The paths of every dataset in an HDF5 file ('train/data', …), groups walked depth-first in stored order. */
export function listHdf5(file: string): string[] {
  const { root } = openHdf5(file);
  const out: string[] = [];
  // Each group is walked once (by its object address): a corrupt file can link a group into itself, or link one
  // group many times over, which would make the walk endless or exponential. (A group hard-linked under two
  // names is listed under the first.)
  const seen = new Set<unknown>();
  const walk = (node: JsfiveNode, prefix: string, depth: number): void => {
    if (depth > 64) throw dataError(file, null, `groups nested over 64 deep at '${prefix}', corrupt?`);
    for (const key of groupKeys(file, node, prefix ? `group '${prefix}'` : 'the root group') ?? []) {
      const child = guarded(file, `'${prefix}${key}'`, () => node.get!(key));
      if (!child) continue;
      if (groupKeys(file, child, `'${prefix}${key}'`) !== null) {
        const address = child._dataobjects?.offset ?? child;
        if (seen.has(address)) continue;
        seen.add(address);
        walk(child, `${prefix}${key}/`, depth + 1);
      } else {
        out.push(`${prefix}${key}`);
      }
    }
  };
  seen.add(root._dataobjects?.offset ?? root);
  walk(root, '', 0);
  return out;
}

/** Bytes a file of `fileSize` bytes can hold once inflated (deflate's ratio is at most ~1032:1), plus slack. */
const maxInflatedBytes = (fileSize: number): number => 1100 * fileSize + 4096;

/**
 * Reads one numeric dataset ('train/data') of an HDF5 file: float types as float32, integer and boolean types as
 * int32 (values outside the int32 range are refused).
 */
export function readHdf5(file: string, dataset: string): Hdf5Array {
  const { root, size } = openHdf5(file);
  const where = `dataset '${dataset}'`;
  // Walk the path one member at a time, so that a missing name is reported as such (jsfive throws on it).
  let node: JsfiveNode | undefined = root;
  for (const part of dataset.split('/').filter((x) => x.length > 0)) {
    const keys: string[] | null = node ? groupKeys(file, node, where) : null;
    if (!node || !keys || !keys.includes(part)) {
      node = undefined;
      break;
    }
    const parent: JsfiveNode = node;
    node = guarded(file, where, () => parent.get!(part));
  }
  if (!node || node === root) throw dataError(file, null, `has no ${where}; its datasets: ${listHdf5(file).join(', ') || '(none)'}`);
  const members = groupKeys(file, node, where);
  if (members !== null) throw dataError(file, null, `'${dataset}' is a group, not a dataset; its members: ${members.join(', ')}`);
  const ds: JsfiveNode = node;
  const dtype = guarded(file, `the dtype of ${where}`, () => ds.dtype);
  if (typeof dtype !== 'string' || !/^[<>|=]?[fiub]\d+$/.test(dtype)) {
    throw dataError(file, null, `${where} has dtype ${JSON.stringify(dtype)}: only numeric (float, integer, boolean) datasets are read`);
  }
  const rawShape = guarded(file, `the shape of ${where}`, () => ds.shape) ?? [];
  const shape = Array.from(rawShape, Number);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw dataError(file, null, `${where} has shape [${shape.join(', ')}]`);
  // The declared size, checked before jsfive allocates and loops over it.
  const itemSize = Number(/\d+$/.exec(dtype)![0]);
  const count = shape.reduce((a, b) => a * b, 1);
  if (count * itemSize > maxInflatedBytes(size)) {
    throw dataError(file, null, `${where} declares shape [${shape.join(', ')}] (${count * itemSize} bytes), more than a file of ${size} bytes can hold even compressed: corrupt`);
  }
  const chunks = guarded(file, `the chunk layout of ${where}`, () => ds._dataobjects?.chunks);
  if (chunks != null) {
    const dims = Array.from(chunks as ArrayLike<number>, Number);
    const chunkCount = dims.reduce((a, b) => a * b, 1);
    if (!dims.every((d) => Number.isSafeInteger(d) && d >= 1) || chunkCount > Math.max(count, 1 << 20)) {
      throw dataError(file, null, `${where} has chunks of shape [${dims.join(', ')}] for a dataset of shape [${shape.join(', ')}]: corrupt`);
    }
  }
  const values = guarded(file, `the values of ${where}`, () => ds.value) as ArrayLike<number | bigint | boolean> | undefined;
  if (!values || values.length !== count) {
    throw dataError(file, null, `${where}: shape [${shape.join(', ')}] needs ${count} values but ${values ? values.length : 0} were read (truncated?)`);
  }
  const kind = dtype.replace(/^[<>|=]/, '')[0];
  if (kind === 'f') {
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const raw = Number(values[i]);
      const v = Math.fround(raw);
      if (v - v !== 0) {
        throw dataError(file, null, `${where}: element ${i} ${Number.isFinite(raw) ? `= ${raw} is outside the float32 range` : `is ${raw} (dgclust reads finite values only)`}`);
      }
      data[i] = v;
    }
    return { data, shape, dtype };
  }
  const data = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const v = Number(values[i]);
    if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
      throw dataError(file, null, `${where}: element ${i} is ${String(values[i])}, outside the int32 range dgclust reads integers into`);
    }
    data[i] = v;
  }
  return { data, shape, dtype };
}
