// Training checkpoints: a run's whole state (weights, optimizer state, centres, target distribution, random
// generators' positions, the position in the schedule, the history so far) in one file, written so that a
// crash or `kill -9` at any moment leaves either the previous checkpoint or the new one, never a torn file.
//
// Format (little-endian):
//   bytes 0–7   magic "DGCCKPT\0"
//   bytes 8–11  uint32 format version (CHECKPOINT_VERSION)
//   bytes 12–15 uint32 length H of the JSON header
//   H bytes     JSON: { "meta": {...}, "tensors": [{ "name", "dtype", "shape", "offset", "nbytes" }, ...] }
//   then each tensor's raw data at its offset (relative to the end of the header, 64-byte aligned).
// Writing: a temporary file in the same folder, fsync, rename over the old file, fsync the folder.
import * as fs from 'fs';
import * as path from 'path';
import { native } from '../native';
import { DgcError, Tensor, wrap } from '../tensor';
import type { DType } from '../tensor';

const MAGIC = 'DGCCKPT\0';
export const CHECKPOINT_VERSION = 1;

interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  offset: number;
  nbytes: number;
}

/** Sleeps the thread (no event loop turn): only for the fault-injection hook below. */
function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function writeCheckpoint(file: string, meta: Record<string, unknown>, tensors: Iterable<[string, Tensor]>): void {
  const entries: Entry[] = [];
  const blobs: Buffer[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    if (t.disposed) throw new DgcError('DGC_INTERNAL', `writeCheckpoint: tensor '${name}' is disposed`);
    const data = t.data();
    const pad = (64 - (offset % 64)) % 64;
    if (pad) blobs.push(Buffer.alloc(pad));
    offset += pad;
    entries.push({ name, dtype: t.dtype, shape: t.shape.slice(), offset, nbytes: data.byteLength });
    blobs.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    offset += data.byteLength;
  }
  const header = Buffer.from(JSON.stringify({ meta, tensors: entries }), 'utf8');
  const prefix = Buffer.alloc(16);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(CHECKPOINT_VERSION, 8);
  prefix.writeUInt32LE(header.length, 12);
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'w');
    for (const b of [prefix, header, ...blobs]) fs.writeSync(fd, b);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    // Fault injection for the crash-safety test: a pause between the complete temporary file and the rename,
    // so a test can kill the process while a checkpoint is being written.
    const delay = Number(process.env.DGCLUST_CHECKPOINT_WRITE_DELAY_MS ?? 0);
    if (delay > 0) sleepMs(delay);
    fs.renameSync(tmp, file);
    try {
      const dfd = fs.openSync(dir, 'r');
      fs.fsyncSync(dfd);
      fs.closeSync(dfd);
    } catch {
      // Some filesystems refuse fsync on a folder; the rename is still atomic.
    }
  } catch (err) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw new DgcError('DGC_DATA', `checkpoint: could not write ${file}: ${(err as Error).message}`);
  }
}

export interface Checkpoint {
  meta: Record<string, unknown>;
  tensors: Map<string, Tensor>;
}

/** A checkpoint's header, checked: every entry well-formed and lying inside the file. */
interface Header {
  meta: Record<string, unknown>;
  entries: Entry[];
  /** Offset of the tensor data (the end of the header). */
  base: number;
}

const HEAD_BYTES = 16;

/**
 * Reads and checks the header through `read(position, length)` (a Buffer of exactly that many bytes, or fewer at
 * the end of the file) for a file of `size` bytes: the metadata can be had without reading any tensor data.
 */
function readHeader(file: string, size: number, read: (position: number, length: number) => Buffer): Header {
  const bad = (why: string): never => {
    throw new DgcError('DGC_DATA', `checkpoint: ${file} is not a valid dgclust checkpoint: ${why}`);
  };
  const head = read(0, HEAD_BYTES);
  if (head.length < HEAD_BYTES || head.toString('latin1', 0, 8) !== MAGIC) bad('bad magic bytes');
  const version = head.readUInt32LE(8);
  if (version !== CHECKPOINT_VERSION) bad(`format version ${version}; this dgclust reads version ${CHECKPOINT_VERSION}`);
  const hlen = head.readUInt32LE(12);
  if (HEAD_BYTES + hlen > size) bad(`header of ${hlen} bytes runs past the end of the file (${size} bytes)`);
  let header: { meta?: unknown; tensors?: unknown };
  try {
    header = JSON.parse(read(HEAD_BYTES, hlen).toString('utf8'));
  } catch {
    return bad('the header is not valid JSON');
  }
  if (!header || typeof header.meta !== 'object' || header.meta === null || !Array.isArray(header.tensors)) bad('the header lacks meta or the tensor list');
  const base = HEAD_BYTES + hlen;
  const names = new Set<string>();
  for (const e of header.tensors as Entry[]) {
    if (typeof e !== 'object' || e === null || typeof e.name !== 'string' || (e.dtype !== 'float32' && e.dtype !== 'int32') ||
        !Array.isArray(e.shape) || e.shape.length > 4 || !e.shape.every((d: unknown) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      bad(`an entry (${String(JSON.stringify(e)).slice(0, 80)}) is malformed`);
    }
    const n = e.shape.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(n) || e.nbytes !== n * 4) bad(`tensor '${e.name}' has shape [${e.shape}] but ${e.nbytes} bytes`);
    if (!Number.isSafeInteger(e.offset) || e.offset < 0 || base + e.offset + e.nbytes > size) bad(`tensor '${e.name}' runs past the end of the file (truncated?)`);
    if (names.has(e.name)) bad(`tensor '${e.name}' appears twice`);
    names.add(e.name);
  }
  return { meta: header.meta as Record<string, unknown>, entries: header.tensors as Entry[], base };
}

function cannotRead(file: string, err: unknown): DgcError {
  return new DgcError('DGC_DATA', `checkpoint: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
}

export function readCheckpoint(file: string): Checkpoint {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    throw cannotRead(file, err);
  }
  const { meta, entries, base } = readHeader(file, buf.length, (pos, len) => buf.subarray(pos, pos + len));
  const out = new Map<string, Tensor>();
  try {
    for (const e of entries) {
      const copy = new ArrayBuffer(e.nbytes);
      buf.copy(Buffer.from(copy), 0, base + e.offset, base + e.offset + e.nbytes);
      const values = e.dtype === 'float32' ? new Float32Array(copy) : new Int32Array(copy);
      // The trainer stops on a NaN or Inf before it writes a checkpoint: one here is damage, not a state to resume.
      if (e.dtype === 'float32') {
        const i = values.findIndex((v) => !Number.isFinite(v));
        if (i >= 0) {
          throw new DgcError('DGC_DATA', `checkpoint: ${file} is not a valid dgclust checkpoint: tensor '${e.name}' element ${i} is ${values[i]} (a checkpoint holds finite values only)`);
        }
      }
      out.set(e.name, wrap(native.fromTypedArray(values, e.shape)));
    }
  } catch (err) {
    for (const t of out.values()) t.dispose();
    throw err;
  }
  return { meta, tensors: out };
}

/**
 * The JSON part of a checkpoint (e.g. its model and seed, before resuming), with the header checked against the
 * file's size (a truncated file is refused here); no tensor data is read.
 */
export function readCheckpointMeta(file: string): Record<string, unknown> {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw cannotRead(file, err);
  }
  try {
    const size = fs.fstatSync(fd).size;
    return readHeader(file, size, (pos, len) => {
      const b = Buffer.alloc(Math.min(len, Math.max(0, size - pos)));
      let got = 0;
      while (got < b.length) {
        const n = fs.readSync(fd, b, got, b.length - got, pos + got);
        if (n === 0) break;
        got += n;
      }
      return b.subarray(0, got);
    }).meta;
  } finally {
    fs.closeSync(fd);
  }
}
