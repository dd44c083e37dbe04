// .zip / .npz reading and ADGC datasets, whose dense adjacency is streamed into an edge list.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { Readable } from 'stream';
import * as dg from '../lib';
import { listZip, readNpz, readZipMember, streamZipMember } from '../lib/data/zip';
import { denseAdjacencyEdges, loadAdgcZip } from '../lib/data/adgc';
import { findDataFile } from './helpers/data';
import { npyBytes, zipBytes } from './helpers/files';

const npy = (descr: string, shape: number[], body: Buffer, fortran = false): Buffer => npyBytes(descr, shape, body, { fortran });
const zip = zipBytes;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgc-zip-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// A 4-node graph: 0–1, 1–2, 2–3 and a self loop on 3.
const ADJ = [0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 1];
const EXPECTED = [[0, 1], [1, 0], [1, 2], [2, 1], [2, 3], [3, 2], [3, 3]];

function pairs(e: { src: Int32Array; dst: Int32Array }): number[][] {
  return Array.from(e.src, (s, i) => [s, e.dst[i]]);
}

/** A stream that hands out `buf` in pieces of 1..7 bytes, so every element straddles chunk boundaries somewhere. */
function dribble(buf: Buffer): Readable {
  const pieces: Buffer[] = [];
  for (let i = 0, k = 0; i < buf.length; k++) {
    const len = 1 + (k % 7);
    pieces.push(buf.subarray(i, i + len));
    i += len;
  }
  return Readable.from(pieces);
}

describe('zip and npz', () => {
  test('stored and deflated members, listed and read back', () => {
    const a = npy('<f4', [2], Buffer.from(Float32Array.from([1.5, -2]).buffer));
    const b = npy('<i8', [3], Buffer.from(BigInt64Array.from([1n, 2n, 3n]).buffer));
    const file = path.join(dir, 'arrays.npz');
    fs.writeFileSync(file, zip([['a.npy', a, false], ['b.npy', b, true]]));
    expect(listZip(file).map((e) => [e.name, e.method])).toEqual([['a.npy', 0], ['b.npy', 8]]);
    expect(readZipMember(file, 'b.npy').equals(b)).toBe(true);
    const z = readNpz(file);
    expect(Array.from(z.get('a')!.data)).toEqual([1.5, -2]);
    expect(Array.from(z.get('b')!.data)).toEqual([1, 2, 3]);
    expect([...readNpz(file, ['b']).keys()]).toEqual(['b']);
    expect(() => readNpz(file, ['c'])).toThrow(/no array 'c' in the archive \(arrays: a, b\)/);
    expect(() => readZipMember(file, 'zzz.npy')).toThrow(/no member 'zzz\.npy' in the archive \(members: a\.npy, b\.npy\)/);
  });

  test('not a zip, truncated: DGC_DATA naming the file', () => {
    const bad = path.join(dir, 'bad.zip');
    fs.writeFileSync(bad, 'definitely not a zip archive');
    expect(() => listZip(bad)).toThrow(/bad\.zip: not a zip archive/);
    const good = zip([['a.npy', npy('<f4', [1], Buffer.alloc(4)), true]]);
    const cut = path.join(dir, 'cut.zip');
    fs.writeFileSync(cut, Buffer.concat([good.subarray(0, 20), good.subarray(good.length - 22)]));
    expect(() => readZipMember(cut, 'a.npy')).toThrow(/cut\.zip: /);
  });
});

describe('zip member integrity', () => {
  const body = npy('<f4', [2], Buffer.from(Float32Array.from([1.5, -2]).buffer));
  /** Offset of the member's data in a one-member archive written by zip(): 30-byte local header + name. */
  const dataAt = 30 + 'a.npy'.length;

  // Regression (fuzzer): a flipped bit in a stored member was read as a different number; the CRC-32 the archive
  // keeps for each member was never compared.
  test('a stored member whose bytes no longer match its CRC-32 is refused, read whole or streamed', async () => {
    const bytes = zip([['a.npy', body, false]]);
    bytes[dataAt + body.length - 1] ^= 0x01; // the last float's sign bit: still a valid .npy, a different value
    const file = path.join(dir, 'flipped.npz');
    fs.writeFileSync(file, bytes);
    expect(() => readNpz(file)).toThrow(/flipped\.npz: member 'a\.npy': CRC-32 [0-9a-f]{8} of its data differs from the directory's [0-9a-f]{8}/);
    const drained = new Promise((resolve, reject) => streamZipMember(file, 'a.npy').on('error', reject).on('end', resolve).resume());
    await expect(drained).rejects.toThrow(/flipped\.npz: member 'a\.npy': CRC-32/);
  });

  // Regression (fuzzer): a directory entry whose compressed size reads 0 made streamZipMember return a destroyed
  // stream that never ended nor failed, so loadAdgcZip's promise never settled (a hang).
  test('a streamed member whose compressed size reads 0 fails instead of never ending', async () => {
    for (const deflate of [false, true]) {
      const bytes = zip([['a.npy', body, deflate]]);
      const cd = bytes.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
      bytes.writeUInt32LE(0, cd + 20);
      const file = path.join(dir, `zero-${deflate}.zip`);
      fs.writeFileSync(file, bytes);
      const drained = new Promise((resolve, reject) => streamZipMember(file, 'a.npy').on('error', reject).on('end', resolve).resume());
      await expect(drained).rejects.toThrow(new RegExp(`zero-${deflate}\\.zip: member 'a\\.npy'`));
    }
  });

  test('a deflated member is not inflated past its declared size', () => {
    const big = Buffer.alloc(1 << 20); // deflates to about 1 KB
    const bytes = zip([['z.bin', big, true]]);
    const cd = bytes.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    bytes.writeUInt32LE(1000, cd + 24); // the directory now says 1000 bytes
    const file = path.join(dir, 'bomb.zip');
    fs.writeFileSync(file, bytes);
    expect(() => readZipMember(file, 'z.bin')).toThrow(/bomb\.zip: member 'z\.bin': inflates past the 1000 bytes the directory gives/);
  });
});

describe('dense adjacency streamed to edges', () => {
  test.each([
    ['int32', '<i4', Buffer.from(Int32Array.from(ADJ).buffer), false],
    ['float32, Fortran order', '<f4', Buffer.from(Float32Array.from(ADJ).buffer), true],
    ['uint8', '|u1', Buffer.from(ADJ), false],
    ['float64', '<f8', Buffer.from(Float64Array.from(ADJ).buffer), false],
  ] as const)('%s, in chunks of 1–7 bytes', async (_n, descr, body, fortran) => {
    const e = await denseAdjacencyEdges(dribble(npy(descr, [4, 4], body, fortran)), 'g.npy');
    expect(e.n).toBe(4);
    expect(pairs(e).sort()).toEqual([...EXPECTED].sort()); // symmetric, so Fortran order gives the same set
    expect(e.selfLoops).toBe(1);
  });

  test.each([
    [npy('<i4', [4, 3], Buffer.alloc(48)), /g\.npy: an adjacency matrix must be square; this one has shape \(4, 3\)/],
    [npy('<i4', [4, 4], Buffer.alloc(40)), /g\.npy: truncated: 10 of the 4×4 = 16 elements are present/],
    [npy('<i4', [2, 2], Buffer.alloc(20)), /g\.npy: data continues after the 2×2 matrix ends/],
    [Buffer.alloc(0), /g\.npy: the file is empty/],
    [Buffer.from('not numpy at all, not at all'), /g\.npy: not a \.npy file/],
    // NaN was counted as an edge (NaN !== 0); non-finite entries are now refused like those of any .npy.
    [npy('<f4', [2, 2], Buffer.from(Float32Array.from([0, 1, NaN, 0]).buffer)), /g\.npy: element 2 is NaN/],
  ])('bad matrix %#', async (buf, message) => {
    await expect(denseAdjacencyEdges(dribble(buf), 'g.npy')).rejects.toThrow(message);
  });

  test('an ADGC zip (folder prefix, float64 features, 1-based int64 labels): features, labels, graph', async () => {
    const feat = npy('<f8', [4, 2], Buffer.from(Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8]).buffer));
    const label = npy('<i8', [4], Buffer.from(BigInt64Array.from([1n, 2n, 2n, 3n]).buffer));
    const adj = npy('<i4', [4, 4], Buffer.from(Int32Array.from(ADJ).buffer));
    const file = path.join(dir, 'toy.zip');
    fs.writeFileSync(file, zip([['toy/', Buffer.alloc(0), false], ['toy/toy_adj.npy', adj, true], ['toy/toy_feat.npy', feat, true], ['toy/toy_label.npy', label, false]]));
    const ds = await loadAdgcZip('toy', file);
    expect(ds.features).toEqual({ rows: 4, cols: 2, data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]) });
    expect(Array.from(ds.labels.labels)).toEqual([0, 1, 1, 2]);
    expect(ds.labels.original).toEqual([1, 2, 3]);
    expect(pairs(ds.edges!).sort()).toEqual([...EXPECTED].sort());
    const short = path.join(dir, 'short.zip');
    fs.writeFileSync(short, zip([['toy_adj.npy', adj, true], ['toy_feat.npy', feat, true], ['toy_label.npy', npy('<i8', [3], Buffer.alloc(24)), true]]));
    await expect(loadAdgcZip('toy', short)).rejects.toThrow(/short\.zip:toy_label\.npy: has 3 labels but the features have 4 rows/);
    await expect(loadAdgcZip('other', short)).rejects.toThrow(/no member other_feat\.npy in the archive/);
  });

  const citeseer = findDataFile('adgc/citeseer.zip');
  (citeseer.file ? test : test.skip)('ADGC citeseer: 3327 nodes, 4552 edges both ways + 124 self loops, 6 classes', async () => {
    const ds = await dg.loadDatasetAsync('citeseer', { dataDir: path.dirname(path.dirname(citeseer.file!)) });
    expect(ds.features.rows).toBe(3327);
    expect(ds.features.cols).toBe(3703);
    expect(ds.labels.k).toBe(6);
    expect(ds.edges!.src.length).toBe(2 * 4552 + 124);
  });

  test('loadDataset points ADGC names to loadDatasetAsync; a missing zip lists the paths sought', async () => {
    expect(() => dg.loadDataset('uat')).toThrow(/use loadDatasetAsync\('uat'\)/);
    const saved = process.env.DGCLUST_DATA;
    delete process.env.DGCLUST_DATA; // only `dir` and the package's data/ are searched
    try {
      await expect(dg.loadDatasetAsync('uat', { dataDir: dir })).rejects.toThrow(new RegExp(`'uat' \\(uat\\.zip\\) was not found\\. Sought, in order: ${dir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/uat\\.zip`));
    } finally {
      if (saved !== undefined) process.env.DGCLUST_DATA = saved;
    }
  });
});
