// NumPy's .npy format (versions 1–3): a magic string, a little header (a Python dict literal giving dtype,
// memory order and shape) and the raw array. https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
//
// dgclust keeps float32 and int32 only, so float64 / float16 become float32, and int64 / int8 / uint8 / bool
// become int32 (int64 values outside the int32 range are refused). Fortran-order arrays are transposed to
// row-major. Every malformed file is a DGC_DATA error naming the file.
import * as fs from 'fs';
import { dataError } from './text';
import { DgcError } from '../tensor';
import { writeFileAtomic } from '../io/files';

export type NpyKind = 'f4' | 'f8' | 'f2' | 'i1' | 'i2' | 'i4' | 'i8' | 'u1' | 'u2' | 'u4' | 'b1';

export interface NpyHeader {
  kind: NpyKind;
  /** Bytes per element. */
  itemSize: number;
  fortranOrder: boolean;
  shape: number[];
  /** Offset of the first data byte. */
  dataOffset: number;
}

export interface NpyArray {
  shape: number[];
  /** float32 for float files, int32 for integer and boolean files. */
  data: Float32Array | Int32Array;
  /** The dtype in the file, e.g. '<f8'. */
  descr: string;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

/** Parses the header at the start of `buf` (which must hold at least the whole header). */
export function parseNpyHeader(buf: Buffer, file: string): NpyHeader {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw dataError(file, null, 'not a .npy file (the magic string \\x93NUMPY is missing)');
  const major = buf[6];
  if (major < 1 || major > 3) throw dataError(file, null, `unsupported .npy format version ${major}.${buf[7]}`);
  const lenBytes = major === 1 ? 2 : 4;
  const headerLen = npyHeaderLength(buf, file);
  const start = 8 + lenBytes;
  if (headerLen < 0 || buf.length < start + headerLen) throw dataError(file, null, 'the .npy header is truncated');
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', start, start + headerLen);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shapeM = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shapeM) throw dataError(file, null, `malformed .npy header: ${JSON.stringify(header.trim().slice(0, 120))}`);
  const d = descr[1];
  const m = /^([<>|=])([fiub])(\d+)$/.exec(d);
  if (!m) throw dataError(file, null, `unsupported dtype '${d}' (dgclust reads float, int, uint and bool arrays)`);
  const kind = `${m[2]}${m[3]}` as NpyKind;
  if (!['f4', 'f8', 'f2', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'b1'].includes(kind)) throw dataError(file, null, `unsupported dtype '${d}'`);
  const itemSize = Number(m[3]);
  if (m[1] === '>' && itemSize > 1) throw dataError(file, null, `big-endian dtype '${d}' is not supported`);
  const parts = shapeM[1].split(',').map((s) => s.trim());
  // A tuple: '()', '(3,)', '(2, 3)', '(2, 3,)'; an empty part anywhere else ('(,)', '(1,,2)') is malformed.
  if (parts.length === 1 && parts[0] === '') parts.pop();
  else if (parts[parts.length - 1] === '') parts.pop();
  const shape = parts.map((s) => {
    if (!/^\d+L?$/.test(s)) throw dataError(file, null, `malformed shape in the .npy header: (${shapeM[1].slice(0, 80)})`);
    const d = Number.parseInt(s, 10);
    if (!Number.isSafeInteger(d)) throw dataError(file, null, `dimension ${s.slice(0, 40)} in the .npy header's shape is too large`);
    return d;
  });
  // The declared size must be a safe integer of bytes before anything compares it with the file or allocates it.
  let bytes = itemSize;
  for (const d of shape) {
    bytes *= d;
    if (!Number.isSafeInteger(bytes)) throw dataError(file, null, `shape (${shape.join(', ')}) declares more bytes than any file holds`);
  }
  return { kind, itemSize, fortranOrder: fortran[1] === 'True', shape, dataOffset: start + headerLen };
}

/** numpy writes headers of a few hundred bytes (and refuses to read ones over 10,000 bytes by default). */
const MAX_HEADER_BYTES = 1 << 20;

/**
 * The header length field of a .npy whose first 12 bytes (10 for version 1) are in `buf`, or -1 when they are not
 * all there yet. An implausibly long header is refused, so a streaming reader never buffers a whole file for it.
 */
export function npyHeaderLength(buf: Buffer, file: string): number {
  const major = buf[6];
  if (buf.length < (major === 1 ? 10 : 12)) return -1;
  const len = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  if (len > MAX_HEADER_BYTES) throw dataError(file, null, `the .npy header claims ${len} bytes (numpy writes a few hundred): corrupt`);
  return len;
}

export function npyNumel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Converts `count` elements of `kind` starting at byte `offset` of `buf` into out[outOffset...]. `first` is the
 * index of the first of them in the whole array (file order), for messages. Float values must be finite in float32:
 * NaN, ±Infinity and float64 values beyond the float32 range are refused (they would surface much later, in some op,
 * far from the file that holds them).
 */
export function decodeNpyElements(buf: Buffer, offset: number, kind: NpyKind, count: number, out: Float32Array | Int32Array, outOffset: number, file: string, first = outOffset): void {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  switch (kind) {
    case 'f4': case 'f8': case 'f2': {
      for (let i = 0; i < count; i++) {
        const raw = kind === 'f4' ? dv.getFloat32(offset + 4 * i, true) : kind === 'f8' ? dv.getFloat64(offset + 8 * i, true) : halfToFloat(dv.getUint16(offset + 2 * i, true));
        const v = Math.fround(raw);
        if (v - v !== 0) throw nonFiniteError(file, first + i, raw);
        out[outOffset + i] = v;
      }
      break;
    }
    case 'i1': for (let i = 0; i < count; i++) out[outOffset + i] = dv.getInt8(offset + i); break;
    case 'i2': for (let i = 0; i < count; i++) out[outOffset + i] = dv.getInt16(offset + 2 * i, true); break;
    case 'i4': for (let i = 0; i < count; i++) out[outOffset + i] = dv.getInt32(offset + 4 * i, true); break;
    case 'u1': case 'b1': for (let i = 0; i < count; i++) out[outOffset + i] = buf[offset + i]; break;
    case 'u2': for (let i = 0; i < count; i++) out[outOffset + i] = dv.getUint16(offset + 2 * i, true); break;
    case 'u4': case 'i8':
      for (let i = 0; i < count; i++) {
        const v = kind === 'u4' ? dv.getUint32(offset + 4 * i, true) : Number(dv.getBigInt64(offset + 8 * i, true));
        if (out instanceof Int32Array && (v > 2147483647 || v < -2147483648)) {
          throw dataError(file, null, `element ${first + i} = ${v} does not fit in int32`);
        }
        out[outOffset + i] = v;
      }
      break;
  }
}

/** The error for a float element that is not finite in float32 (element index in file order). */
export function nonFiniteError(file: string, element: number, value: number): Error {
  return dataError(file, null, Number.isFinite(value)
    ? `element ${element} = ${value} is outside the float32 range`
    : `element ${element} is ${value} (dgclust reads finite values only)`);
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** Decodes a whole .npy held in memory. */
export function parseNpy(buf: Buffer, file: string): NpyArray {
  const h = parseNpyHeader(buf, file);
  const n = npyNumel(h.shape);
  const need = h.dataOffset + n * h.itemSize;
  if (buf.length < need) throw dataError(file, null, `truncated: shape (${h.shape.join(', ')}) needs ${need} bytes, the file has ${buf.length}`);
  if (buf.length > need) throw dataError(file, null, `${buf.length - need} bytes after the end of the array (shape (${h.shape.join(', ')}))`);
  const isFloat = h.kind[0] === 'f';
  const data = isFloat ? new Float32Array(n) : new Int32Array(n);
  decodeNpyElements(buf, h.dataOffset, h.kind, n, data, 0, file);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(buf.toString('latin1', 0, h.dataOffset))![1];
  if (h.fortranOrder && h.shape.length > 1) return { shape: h.shape, data: toRowMajor(data, h.shape), descr };
  return { shape: h.shape, data, descr };
}

/** Column-major (Fortran) data of `shape` to row-major. */
function toRowMajor<T extends Float32Array | Int32Array>(data: T, shape: readonly number[]): T {
  const out = new (data.constructor as { new (n: number): T })(data.length);
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  for (let f = 0; f < data.length; f++) {
    // f walks the Fortran order: the first index varies fastest.
    let r = 0;
    for (let a = 0; a < rank; a++) r = r * shape[a] + idx[a];
    out[r] = data[f];
    for (let a = 0; a < rank; a++) {
      if (++idx[a] < shape[a]) break;
      idx[a] = 0;
    }
  }
  return out;
}

/** Reads a .npy file. */
export function readNpy(file: string): NpyArray {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    throw dataError(file, null, `cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseNpy(buf, file);
}

/**
 * Writes a little-endian float32 or int32 array as a .npy file (format 1.0, C order), atomically (a temporary
 * file renamed into place), so a crash never leaves a half-written file.
 */
export function writeNpy(file: string, data: Float32Array | Int32Array, shape: readonly number[]): void {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new DgcError('DGC_SHAPE', `writeNpy: shape [${shape}] holds ${count} values but the data has ${data.length}`);
  const descr = data instanceof Float32Array ? '<f4' : '<i4';
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  // Magic (6) + version (2) + header length (2) + header, padded with spaces to a multiple of 64, ending in \n.
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  writeFileAtomic(file, Buffer.concat([head, Buffer.from(header, 'latin1'), body]));
}
