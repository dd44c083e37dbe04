// Saving and loading named tensors (a module's state dict) in one file.
//
// Format (little-endian):
//   bytes 0–7   magic "DGCSTATE"
//   bytes 8–11  uint32 format version (1)
//   bytes 12–15 uint32 length H of the JSON header
//   H bytes     JSON: { "tensors": [{ "name", "dtype", "shape", "offset", "nbytes" }, ...] }
//   then the raw data of each tensor at its offset (relative to the end of the header, 64-byte aligned).
// Files are written to a temporary name and renamed, so a crash never leaves a half-written file.
import * as fs from 'fs';
import { DgcError, Tensor, wrap } from '../tensor';
import { native } from '../native';
import { writeFileAtomic } from './files';
import type { DType } from '../tensor';

const MAGIC = 'DGCSTATE';
const VERSION = 1;

interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  offset: number;
  nbytes: number;
}

export function saveState(file: string, state: Map<string, Tensor> | Iterable<[string, Tensor]>): void {
  const entries: Entry[] = [];
  const blobs: Buffer[] = [];
  let offset = 0;
  const names = new Set<string>();
  for (const [name, t] of state) {
    if (names.has(name)) throw new DgcError('DGC_ARG', `saveState: the name '${name}' appears twice`);
    names.add(name);
    if (t.disposed) throw new DgcError('DGC_DISPOSED', `saveState: tensor '${name}' is disposed`);
    const data = t.data();
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const pad = (64 - (offset % 64)) % 64;
    if (pad) blobs.push(Buffer.alloc(pad));
    offset += pad;
    entries.push({ name, dtype: t.dtype, shape: t.shape.slice(), offset, nbytes: bytes.length });
    blobs.push(bytes);
    offset += bytes.length;
  }
  const header = Buffer.from(JSON.stringify({ tensors: entries }), 'utf8');
  const prefix = Buffer.alloc(16);
  prefix.write(MAGIC, 0, 'ascii');
  prefix.writeUInt32LE(VERSION, 8);
  prefix.writeUInt32LE(header.length, 12);
  try {
    writeFileAtomic(file, Buffer.concat([prefix, header, ...blobs]));
  } catch (err) {
    throw new DgcError('DGC_DATA', `saveState: could not write ${file}: ${(err as Error).message}`);
  }
}

export function loadState(file: string): Map<string, Tensor> {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    throw new DgcError('DGC_DATA', `loadState: cannot read ${file}: ${(err as Error).message}`);
  }
  const bad = (why: string): never => {
    throw new DgcError('DGC_DATA', `loadState: ${file} is not a valid dgclust state file: ${why}`);
  };
  if (buf.length < 16 || buf.toString('ascii', 0, 8) !== MAGIC) bad('bad magic bytes');
  const version = buf.readUInt32LE(8);
  if (version !== VERSION) bad(`format version ${version}, this dgclust reads ${VERSION}`);
  const hlen = buf.readUInt32LE(12);
  if (16 + hlen > buf.length) bad(`header of ${hlen} bytes runs past the end of the file (${buf.length} bytes)`);
  let header: { tensors?: Entry[] };
  try {
    header = JSON.parse(buf.toString('utf8', 16, 16 + hlen));
  } catch {
    return bad('the header is not valid JSON');
  }
  if (!header || !Array.isArray(header.tensors)) bad('the header has no tensor list');
  const base = 16 + hlen;
  const out = new Map<string, Tensor>();
  try {
    for (const e of header.tensors!) {
      if (
        typeof e !== 'object' || e === null || typeof e.name !== 'string' ||
        (e.dtype !== 'float32' && e.dtype !== 'int32') || !Array.isArray(e.shape) || e.shape.length > 4 ||
        !e.shape.every((d: unknown) => Number.isInteger(d) && (d as number) >= 0)
      ) {
        const label = typeof e === 'object' && e !== null && typeof e.name === 'string' ? `tensor '${e.name}'` : 'an entry';
        bad(`${label} (${String(JSON.stringify(e)).slice(0, 80)}) is malformed (needs name, dtype float32|int32, shape of up to 4 non-negative integers)`);
      }
      const n = e.shape.reduce((a, b) => a * b, 1);
      if (!Number.isInteger(n) || n < 0 || e.nbytes !== n * 4) bad(`tensor '${e.name}' has shape [${e.shape}] but ${e.nbytes} bytes`);
      if (!Number.isInteger(e.offset) || e.offset < 0 || base + e.offset + e.nbytes > buf.length) {
        bad(`tensor '${e.name}' runs past the end of the file (truncated?)`);
      }
      if (out.has(e.name)) bad(`tensor '${e.name}' appears twice`);
      const copy = new ArrayBuffer(e.nbytes);
      buf.copy(Buffer.from(copy), 0, base + e.offset, base + e.offset + e.nbytes);
      const data = e.dtype === 'float32' ? new Float32Array(copy) : new Int32Array(copy);
      out.set(e.name, wrap(native.fromTypedArray(data, e.shape)));
    }
  } catch (err) {
    for (const t of out.values()) t.dispose();
    throw err;
  }
  return out;
}
