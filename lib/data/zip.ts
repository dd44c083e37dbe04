// Reading .zip / .npz archives (stored or deflated members; no ZIP64, no encryption), enough for NumPy's .npz
// and the ADGC dataset zips. Members can be read whole, or streamed (inflated chunk by chunk) so a large member
// such as a dense N×N adjacency never sits in memory. PKWARE APPNOTE.TXT §4.3 gives the layout.
//
// Every member is checked against its central-directory entry: its size, and its CRC-32 (a flipped bit in a
// stored member would otherwise be read as a different number). Inflating stops at the declared size.
import * as fs from 'fs';
import { PassThrough, Readable, Transform, pipeline } from 'stream';
import * as zlib from 'zlib';
import { dataError } from './text';
import { parseNpy } from './npy';
import type { NpyArray } from './npy';

export interface ZipEntry {
  name: string;
  method: number; // 0 stored, 8 deflate
  compressedSize: number;
  size: number;
  /** CRC-32 of the uncompressed data. */
  crc32: number;
  /** Offset of the member's local header. */
  localOffset: number;
}

// CRC-32 (IEEE 802.3, as zip uses it): zlib's when Node has it (20.15+), else a table of our own.
let crcTable: Int32Array | null = null;
function crc32(buf: Buffer, prev = 0): number {
  const native = (zlib as unknown as { crc32?: (b: Buffer, p: number) => number }).crc32;
  if (native) return native(buf, prev);
  if (!crcTable) {
    crcTable = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c;
    }
  }
  let c = ~prev;
  for (let i = 0; i < buf.length; i++) c = crcTable[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
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
      if (p + 46 + nameLen + extraLen + commentLen > cd.length) throw dataError(file, null, `corrupt central directory: entry ${k} runs past its end`);
      const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
      if (flags & 1) throw dataError(file, null, `member '${name}' is encrypted`);
      if (compressedSize === 0xffffffff || sizeU === 0xffffffff || localOffset === 0xffffffff) throw dataError(file, null, `member '${name}' needs ZIP64, which is not supported`);
      if (localOffset + 30 > cdOffset) throw dataError(file, null, `corrupt central directory: member '${name}' starts at ${localOffset}, past the members' area (${cdOffset} bytes)`);
      entries.push({ name, method, compressedSize, size: sizeU, crc32: cd.readUInt32LE(p + 16), localOffset });
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

function checkCrc(file: string, e: ZipEntry, crc: number): void {
  if (crc !== e.crc32) throw dataError(file, null, `member '${e.name}': CRC-32 ${crc.toString(16).padStart(8, '0')} of its data differs from the directory's ${e.crc32.toString(16).padStart(8, '0')} (corrupt)`);
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
      // Never inflate past the declared size: a corrupt (or hostile) stream cannot make a buffer bigger than that.
      out = e.method === 8 ? zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) }) : raw;
    } catch (err) {
      const why = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' ? `inflates past the ${e.size} bytes the directory gives` : `corrupt deflate data (${(err as Error).message})`;
      throw dataError(file, null, `member '${name}': ${why}`);
    }
    if (out.length !== e.size) throw dataError(file, null, `member '${name}': ${out.length} bytes after inflating, the directory says ${e.size}`);
    checkCrc(file, e, crc32(out));
    return out;
  });
}

/**
 * One member as a stream of its uncompressed bytes (inflated on the fly). The stream fails (an 'error' with a
 * DGC_DATA error naming the file) when the data is corrupt, ends short of or runs past the declared size, or does
 * not match the directory's CRC-32; it always ends or fails.
 */
export function streamZipMember(file: string, name: string, entries = listZip(file)): NodeJS.ReadableStream {
  const e = findEntry(file, entries, name);
  const [start, end] = withFile(file, (fd, size) => {
    const range = dataRange(file, fd, e);
    if (range[1] > size) throw dataError(file, null, `member '${name}' is truncated`);
    return range;
  });
  // createReadStream's `end` is inclusive, so an empty member is an empty stream of its own.
  const raw: Readable = end > start ? fs.createReadStream(file, { start, end: end - 1, highWaterMark: 1 << 20 }) : Readable.from([]);
  let got = 0;
  let crc = 0;
  const check = new Transform({
    transform(chunk: Buffer, _enc, done) {
      got += chunk.length;
      if (got > e.size) return done(dataError(file, null, `member '${name}' inflates past the ${e.size} bytes the directory gives`));
      crc = crc32(chunk, crc);
      done(null, chunk);
    },
    flush(done) {
      if (got !== e.size) return done(dataError(file, null, `member '${name}': ${got} bytes after inflating, the directory says ${e.size}`));
      try {
        checkCrc(file, e, crc);
      } catch (err) {
        return done(err as Error);
      }
      done();
    },
  });
  // pipeline() stops every stage at the first error of any of them (a read error of the file, corrupt deflate data,
  // the checks above) and reports it once: `out` then fails with it as a DGC_DATA error naming the file, so the
  // consumer always sees an end or an error, never a stream that just stops.
  const out = new PassThrough();
  const done = (err: NodeJS.ErrnoException | null): void => {
    if (err) out.destroy((err as { code?: string }).code === 'DGC_DATA' ? err : dataError(file, null, `member '${name}': ${err.message}`));
  };
  if (e.method === 8) pipeline(raw, zlib.createInflateRaw({ chunkSize: 1 << 20 }), check, done);
  else pipeline(raw, check, done);
  return check.pipe(out);
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
