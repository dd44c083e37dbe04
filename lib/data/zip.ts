// Reading .zip / .npz archives (stored or deflated members; no ZIP64, no encryption), enough for NumPy's .npz
// and the ADGC dataset zips. Members can be read whole, or streamed (inflated chunk by chunk) so a large member
// such as a dense N×N adjacency never sits in memory. PKWARE APPNOTE.TXT §4.3 gives the layout.
import * as fs from 'fs';
import * as zlib from 'zlib';
import { dataError } from './text';
import { parseNpy } from './npy';
import type { NpyArray } from './npy';

export interface ZipEntry {
  name: string;
  method: number; // 0 stored, 8 deflate
  compressedSize: number;
  size: number;
  /** Offset of the member's local header. */
  localOffset: number;
}

function readAt(fd: number, pos: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const n = fs.readSync(fd, b, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return b.subarray(0, got);
}

function withFile<T>(file: string, fn: (fd: number, size: number) => T): T {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw dataError(file, null, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    return fn(fd, fs.fstatSync(fd).size);
  } finally {
    fs.closeSync(fd);
  }
}

/** The members of a zip archive, from its central directory. */
export function listZip(file: string): ZipEntry[] {
  return withFile(file, (fd, size) => {
    // The end-of-central-directory record: 22 bytes plus a comment of up to 65535 bytes, at the end.
    const tailLen = Math.min(size, 22 + 65535);
    const tail = readAt(fd, size - tailLen, tailLen);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw dataError(file, null, 'not a zip archive (no end-of-central-directory record)');
    const count = tail.readUInt16LE(eocd + 10);
    const cdSize = tail.readUInt32LE(eocd + 12);
    const cdOffset = tail.readUInt32LE(eocd + 16);
    if (count === 0xffff || cdOffset === 0xffffffff) throw dataError(file, null, 'ZIP64 archives are not supported');
    if (cdOffset + cdSize > size) throw dataError(file, null, 'truncated: the central directory lies past the end of the file');
    const cd = readAt(fd, cdOffset, cdSize);
    const entries: ZipEntry[] = [];
    let p = 0;
    for (let k = 0; k < count; k++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== 0x02014b50) throw dataError(file, null, `corrupt central directory at entry ${k}`);
      const flags = cd.readUInt16LE(p + 8);
      const method = cd.readUInt16LE(p + 10);
      const compressedSize = cd.readUInt32LE(p + 20);
      const sizeU = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      const localOffset = cd.readUInt32LE(p + 42);
      const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
      if (flags & 1) throw dataError(file, null, `member '${name}' is encrypted`);
      if (compressedSize === 0xffffffff || sizeU === 0xffffffff || localOffset === 0xffffffff) throw dataError(file, null, `member '${name}' needs ZIP64, which is not supported`);
      entries.push({ name, method, compressedSize, size: sizeU, localOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return entries;
  });
}

/** Byte range [start, end) of a member's (compressed) data. */
function dataRange(file: string, fd: number, e: ZipEntry): [number, number] {
  const h = readAt(fd, e.localOffset, 30);
  if (h.length < 30 || h.readUInt32LE(0) !== 0x04034b50) throw dataError(file, null, `member '${e.name}': bad local header`);
  const start = e.localOffset + 30 + h.readUInt16LE(26) + h.readUInt16LE(28);
  return [start, start + e.compressedSize];
}

function findEntry(file: string, entries: ZipEntry[], name: string): ZipEntry {
  const e = entries.find((x) => x.name === name);
  if (!e) throw dataError(file, null, `no member '${name}' in the archive (members: ${entries.map((x) => x.name).join(', ')})`);
  if (e.method !== 0 && e.method !== 8) throw dataError(file, null, `member '${name}' uses compression method ${e.method} (only stored and deflate are supported)`);
  return e;
}

/** One member, whole. */
export function readZipMember(file: string, name: string, entries = listZip(file)): Buffer {
  const e = findEntry(file, entries, name);
  return withFile(file, (fd, size) => {
    const [start, end] = dataRange(file, fd, e);
    if (end > size) throw dataError(file, null, `member '${name}' is truncated`);
    const raw = readAt(fd, start, end - start);
    let out: Buffer;
    try {
      out = e.method === 8 ? zlib.inflateRawSync(raw) : raw;
    } catch (err) {
      throw dataError(file, null, `member '${name}': corrupt deflate data (${(err as Error).message})`);
    }
    if (out.length !== e.size) throw dataError(file, null, `member '${name}': ${out.length} bytes after inflating, the directory says ${e.size}`);
    return out;
  });
}

/** One member as a stream of its uncompressed bytes (inflated on the fly). */
export function streamZipMember(file: string, name: string, entries = listZip(file)): NodeJS.ReadableStream {
  const e = findEntry(file, entries, name);
  const [start, end] = withFile(file, (fd) => dataRange(file, fd, e));
  const raw = fs.createReadStream(file, { start, end: Math.max(start, end - 1), highWaterMark: 1 << 20 });
  if (e.compressedSize === 0) raw.destroy();
  return e.method === 8 ? raw.pipe(zlib.createInflateRaw({ chunkSize: 1 << 20 })) : raw;
}

/**
 * A NumPy .npz: member arrays by name (the '.npy' suffix dropped): all of them, or those named in `members`
 * (string and object arrays are refused, so name the numeric ones when an archive also holds those).
 */
export function readNpz(file: string, members?: readonly string[]): Map<string, NpyArray> {
  const entries = listZip(file);
  const out = new Map<string, NpyArray>();
  for (const m of members ?? []) {
    if (!entries.some((e) => e.name === `${m}.npy`)) throw dataError(file, null, `no array '${m}' in the archive (arrays: ${entries.map((e) => e.name.replace(/\.npy$/, '')).join(', ')})`);
  }
  for (const e of entries) {
    if (!e.name.endsWith('.npy') || (members && !members.includes(e.name.slice(0, -4)))) continue;
    out.set(e.name.slice(0, -4), parseNpy(readZipMember(file, e.name, entries), `${file}:${e.name}`));
  }
  return out;
}
