// Numeric datasets from HDF5 files (SDCN's usps.h5, MATLAB v7.3 .mat files, h5py output), read with jsfive, the
// pure-JavaScript HDF5 reader of NIST's usnistgov group (an optional dependency, installed by default: no native
// build, no WebAssembly). Without it, readHdf5 says how to install it.
//
// MATLAB v5 .mat files (acm.mat, DBLP.mat, cite.mat, COIL20.mat in the shared data) are not read: no well-kept
// npm package reads them (the only candidate, mat-for-js, has a single release), so, as the data README suggests,
// their plain-text conversions in shared/data/derived/ are used instead. readHdf5 refuses a v5 .mat with an error
// that says so.
//
// Every failure is a DGC_DATA error naming the file (and the dataset): a missing file, a file that is not HDF5, a
// truncated or corrupt one, a dataset that is not there (the message lists those that are), a non-numeric dtype,
// or an integer that does not fit int32.
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

function openHdf5(file: string): JsfiveNode {
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
  try {
    return new lib.File(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer, file);
  } catch (err) {
    throw dataError(file, null, `cannot parse the HDF5 structure, truncated or corrupt? (${(err as Error).message})`);
  }
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

function isGroup(node: JsfiveNode): boolean {
  return Array.isArray(node.keys) && typeof node.get === 'function';
}

/** The paths of every dataset in an HDF5 file ('train/data', …), groups walked depth-first in stored order. */
export function listHdf5(file: string): string[] {
  const root = openHdf5(file);
  const out: string[] = [];
  const walk = (node: JsfiveNode, prefix: string): void => {
    for (const key of node.keys ?? []) {
      let child: JsfiveNode | undefined;
      try {
        child = node.get!(key);
      } catch (err) {
        throw dataError(file, null, `cannot read '${prefix}${key}', truncated or corrupt? (${(err as Error).message})`);
      }
      if (!child) continue;
      if (isGroup(child)) walk(child, `${prefix}${key}/`);
      else out.push(`${prefix}${key}`);
    }
  };
  walk(root, '');
  return out;
}

/**
 * Reads one numeric dataset ('train/data') of an HDF5 file: float types as float32, integer and boolean types as
 * int32 (values outside the int32 range are refused).
 */
export function readHdf5(file: string, dataset: string): Hdf5Array {
  const root = openHdf5(file);
  const where = `dataset '${dataset}'`;
  // Walk the path one member at a time, so that a missing name is reported as such (jsfive throws on it).
  let node: JsfiveNode | undefined = root;
  for (const part of dataset.split('/').filter((x) => x.length > 0)) {
    if (!node || !isGroup(node) || !(node.keys ?? []).includes(part)) {
      node = undefined;
      break;
    }
    try {
      node = node.get!(part);
    } catch (err) {
      throw dataError(file, null, `cannot read ${where}, truncated or corrupt? (${(err as Error).message})`);
    }
  }
  if (!node || node === root) throw dataError(file, null, `has no ${where}; its datasets: ${listHdf5(file).join(', ') || '(none)'}`);
  if (isGroup(node)) throw dataError(file, null, `'${dataset}' is a group, not a dataset; its members: ${(node.keys ?? []).join(', ')}`);
  const dtype = node.dtype;
  if (typeof dtype !== 'string' || !/^[<>|=]?[fiub]\d+$/.test(dtype)) {
    throw dataError(file, null, `${where} has dtype ${JSON.stringify(dtype)}: only numeric (float, integer, boolean) datasets are read`);
  }
  const shape = (node.shape ?? []).map(Number);
  let values: ArrayLike<number | bigint | boolean>;
  try {
    values = node.value as ArrayLike<number | bigint | boolean>;
  } catch (err) {
    throw dataError(file, null, `cannot read the values of ${where}, truncated or corrupt? (${(err as Error).message})`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (!values || values.length !== count) {
    throw dataError(file, null, `${where}: shape [${shape.join(', ')}] needs ${count} values but ${values ? values.length : 0} were read (truncated?)`);
  }
  const kind = dtype.replace(/^[<>|=]/, '')[0];
  if (kind === 'f') {
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = Number(values[i]);
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
