// The .npy reader and .npy-folder checkpoints: every dtype dgclust converts, Fortran order, and each kind of
// bad file as a DGC_DATA error naming the file.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as dg from '../lib';
import { parseNpy, readNpy } from '../lib/data/npy';
import { loadNpyCheckpoint } from '../lib/io/npy-checkpoint';
import { findDataFile } from './helpers/data';
import { npyBytes } from './helpers/files';

/** A .npy v1.0 file as numpy writes it: header padded with spaces to a multiple of 64, ending in \n. */
function npy(descr: string, shape: number[], body: Buffer, fortran = false): Buffer {
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(pre);
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), body]);
}
const f32 = (xs: number[]): Buffer => Buffer.from(Float32Array.from(xs).buffer);
const f64 = (xs: number[]): Buffer => Buffer.from(Float64Array.from(xs).buffer);
const i64 = (xs: number[]): Buffer => Buffer.from(BigInt64Array.from(xs.map(BigInt)).buffer);

describe('npy', () => {
  test('float32, float64, int64, int32, uint8 and bool', () => {
    const a = parseNpy(npy('<f4', [2, 3], f32([1, 2, 3, 4, 5, 6.5])), 'a.npy');
    expect(a.shape).toEqual([2, 3]);
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4, 5, 6.5]);
    expect(a.data).toBeInstanceOf(Float32Array);
    expect(Array.from(parseNpy(npy('<f8', [3], f64([0.1, -2, 1e10])), 'b.npy').data)).toEqual(Array.from(Float32Array.from([0.1, -2, 1e10])));
    const c = parseNpy(npy('<i8', [3], i64([0, -7, 2147483647])), 'c.npy');
    expect(Array.from(c.data)).toEqual([0, -7, 2147483647]);
    expect(c.data).toBeInstanceOf(Int32Array);
    expect(Array.from(parseNpy(npy('<i4', [2], Buffer.from(Int32Array.from([5, -5]).buffer)), 'd.npy').data)).toEqual([5, -5]);
    expect(Array.from(parseNpy(npy('|u1', [3], Buffer.from([0, 200, 1])), 'e.npy').data)).toEqual([0, 200, 1]);
    expect(Array.from(parseNpy(npy('|b1', [2], Buffer.from([1, 0])), 'f.npy').data)).toEqual([1, 0]);
    expect(parseNpy(npy('<f4', [], f32([3])), 'g.npy').shape).toEqual([]);
  });

  test('Fortran order becomes row-major', () => {
    // [[1, 2, 3], [4, 5, 6]] stored column by column.
    const a = parseNpy(npy('<f4', [2, 3], f32([1, 4, 2, 5, 3, 6]), true), 'f.npy');
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('bad files: each a DGC_DATA error naming the file', () => {
    const bad: [Buffer, RegExp][] = [
      [Buffer.from('hello world, not numpy'), /x\.npy: not a \.npy file/],
      [npy('<f4', [2, 3], f32([1, 2, 3])), /x\.npy: truncated: shape \(2, 3\) needs 152 bytes, the file has 140/],
      [npy('<f4', [1], f32([1, 2])), /x\.npy: 4 bytes after the end/],
      [npy('>f4', [1], f32([1])), /big-endian dtype '>f4'/],
      [npy('<c8', [1], f32([1, 2])), /unsupported dtype '<c8'/],
      [npy('<i8', [1], i64([2 ** 40])), /element 0 = 1099511627776 does not fit in int32/],
      [npy('<f4', [1], f32([1])).subarray(0, 30), /header is truncated/],
      [Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 9, 0]), Buffer.alloc(8)]), /unsupported \.npy format version 9/],
    ];
    for (const [buf, re] of bad) {
      let err: (Error & { code?: string }) | null = null;
      try {
        parseNpy(buf, 'x.npy');
      } catch (e) {
        err = e as Error & { code?: string };
      }
      expect(err?.code).toBe('DGC_DATA');
      expect(err!.message).toMatch(re);
    }
    expect(() => readNpy('/nonexistent/q.npy')).toThrow(/\/nonexistent\/q\.npy: cannot read the file \(ENOENT\)/);
  });

  const expectBad = (buf: Buffer, re: RegExp): void => {
    let err: (Error & { code?: string }) | null = null;
    try {
      parseNpy(buf, 'x.npy');
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect({ code: err?.code, message: err?.message }).toEqual({ code: 'DGC_DATA', message: expect.stringMatching(re) });
  };

  // Regression (fuzzer): NaN and ±Inf were read as they were, and a float64 beyond float32 (1e39) became Infinity
  // on conversion, to fail later in some op (as 1e39 in a text file did) far from the file that holds it.
  test('NaN, ±Inf and float64 values beyond float32 are refused naming the element', () => {
    expectBad(npy('<f4', [3], f32([1, NaN, 2])), /x\.npy: element 1 is NaN/);
    expectBad(npy('<f4', [2, 2], f32([1, 2, 3, -Infinity])), /x\.npy: element 3 is -Infinity/);
    expectBad(npy('<f8', [2], f64([0.5, 1e39])), /x\.npy: element 1 = 1e\+39 is outside the float32 range/);
    expectBad(npy('<f2', [2], Buffer.from([0x00, 0x3c, 0x00, 0x7c])), /x\.npy: element 1 is Infinity/);
    // In Fortran order the element is counted in file order.
    expectBad(npy('<f8', [2, 2], f64([1, 2, NaN, 4]), true), /x\.npy: element 2 is NaN/);
    // The largest float32 in a float64 file is still read.
    expect(Array.from(parseNpy(npy('<f8', [1], f64([3.4028234663852886e38])), 'x.npy').data)).toEqual([3.4028234663852886e38]);
  });

  // Dimensions past 2^53 used to go through parseInt into element counts such as 1e20 or Infinity (refused only as
  // "truncated: needs Infinity bytes"), and '(1,,2)' was read as (1, 2).
  test('huge, overflowing and malformed dimensions are refused before anything is allocated', () => {
    expectBad(npy('<f4', [2 ** 31, 2 ** 31], f32([1])), /shape \(2147483648, 2147483648\) declares more bytes than any file holds/);
    const withShape = (shape: string): Buffer => npyBytes('', [], f32([1]), { header: `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }` });
    for (const [shape, re] of [
      ['(99999999999999999999,)', /dimension 99999999999999999999 in the \.npy header's shape is too large/],
      [`(${'9'.repeat(400)},)`, /is too large/],
      ['(1,,2)', /malformed shape/],
      ['(,)', /malformed shape/],
      ['(-1, 3)', /malformed shape/],
    ] as const) {
      expectBad(withShape(shape), re);
    }
    // A version-2 header length of 4 GiB is refused as corrupt (a streaming reader would buffer the file for it).
    const v2 = npy('<f4', [1], f32([1]));
    v2[6] = 2;
    v2.writeUInt32LE(0xffffffff, 8);
    expectBad(v2, /the \.npy header claims 4294967295 bytes .*corrupt/);
  });
});

describe('npy checkpoints', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgc-ckpt-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function write(name: string, shape: number[], values: number[], sha?: string): { shape: number[]; file: string; sha256: string } {
    const buf = npy('<f4', shape, f32(values));
    fs.writeFileSync(path.join(dir, `${name}.npy`), buf);
    return { shape, file: `${name}.npy`, sha256: sha ?? crypto.createHash('sha256').update(buf).digest('hex') };
  }

  test('loads every tensor; checks shapes and hashes', () => {
    const tensors = { w: write('w', [2, 2], [1, 2, 3, 4]), b: write('b', [2], [5, 6]) };
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ tensors }));
    const before = dg.memory().tensors;
    const st = loadNpyCheckpoint(dir);
    expect(st.get('w')!.toArray()).toEqual([[1, 2], [3, 4]]);
    expect(st.get('b')!.toArray()).toEqual([5, 6]);
    for (const t of st.values()) t.dispose();
    expect(dg.memory().tensors).toBe(before);

    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ tensors: { ...tensors, b: { ...tensors.b, shape: [3] } } }));
    expect(() => loadNpyCheckpoint(dir)).toThrow(/b\.npy: shape \(2\) differs from the manifest's \[3\]/);
    expect(dg.memory().tensors).toBe(before); // w, loaded first, was freed
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ tensors: { ...tensors, w: { ...tensors.w, sha256: '0'.repeat(64) } } }));
    expect(() => loadNpyCheckpoint(dir)).toThrow(/w\.npy: sha256 [0-9a-f]{64} differs from the manifest's 0{64}/);
    fs.writeFileSync(path.join(dir, 'manifest.json'), '{ not json');
    expect(() => loadNpyCheckpoint(dir)).toThrow(/manifest\.json: unreadable manifest/);
    fs.rmSync(path.join(dir, 'manifest.json'));
    expect(() => loadNpyCheckpoint(dir)).toThrow(/manifest\.json: not found/);
  });

  const expectManifestError = (manifest: string, re: RegExp): void => {
    fs.writeFileSync(path.join(dir, 'manifest.json'), manifest);
    let err: (Error & { code?: string }) | null = null;
    try {
      dg.dispose([...loadNpyCheckpoint(dir).values()]);
    } catch (e) {
      err = e as Error & { code?: string };
    }
    expect({ code: err?.code, message: err?.message }).toEqual({ code: 'DGC_DATA', message: expect.stringMatching(re) });
  };

  // Regressions (fuzzer): a manifest of 'null' threw a TypeError; a file name outside the folder ('../x.npy',
  // '/etc/hostname') was followed; an error about a listed file that is missing did not name the manifest.
  test('a malformed manifest is a DGC_DATA error naming manifest.json and the entry', () => {
    const w = write('w', [2, 2], [1, 2, 3, 4]);
    const m = path.join(dir, 'manifest.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expectManifestError('null', new RegExp(`${m}: no "tensors" object`));
    expectManifestError('{"tensors": [1, 2]}', new RegExp(`${m}: no "tensors" object`));
    expectManifestError(JSON.stringify({ tensors: { w: null } }), new RegExp(`${m}: entry 'w' needs "file" and "shape"`));
    for (const file of ['../w.npy', '/etc/hostname', '', '.']) {
      expectManifestError(JSON.stringify({ tensors: { w: { ...w, file } } }), new RegExp(`${m}: entry 'w' names the file .*not inside the checkpoint folder`));
    }
    expectManifestError(JSON.stringify({ tensors: { w: { ...w, file: 'gone.npy' } } }), new RegExp(`${m}: entry 'w': cannot read .*gone\\.npy \\(ENOENT\\)`));
    expectManifestError(JSON.stringify({ tensors: { w: { ...w, shape: ['2,2'] } } }), /entry 'w' has shape \["2,2"\]: up to 4 non-negative integers/);
    expectManifestError(JSON.stringify({ tensors: { w: { ...w, shape: [1, 1, 1, 2, 2] } } }), /entry 'w' has shape \[1,1,1,2,2\]/);
    expectManifestError(JSON.stringify({ tensors: { w: { ...w, sha256: 7 } } }), /entry 'w' has sha256 7, not 64 hex digits/);
    // A file in a subfolder of the checkpoint is fine.
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.copyFileSync(path.join(dir, 'w.npy'), path.join(dir, 'sub', 'w.npy'));
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ tensors: { w: { ...w, file: 'sub/w.npy' } } }));
    const st = loadNpyCheckpoint(dir);
    expect(st.get('w')!.toArray()).toEqual([[1, 2], [3, 4]]);
    dg.dispose([...st.values()]);
  });

  const official = findDataFile('pretrained/dfcn/acm/final/manifest.json');
  (official.file ? test : test.skip)('the official DFCN ACM checkpoint loads with its manifest shapes', () => {
    const st = loadNpyCheckpoint(path.dirname(official.file!));
    expect(st.size).toBe(24);
    expect(st.get('ae.encoder.enc_1.weight')!.shape).toEqual([128, 100]);
    expect(st.get('gae.encoder.gnn_1.weight')!.shape).toEqual([100, 128]);
    expect(st.get('gamma')!.item()).toBeCloseTo(0.027043, 5);
    for (const t of st.values()) t.dispose();
  });
});
