// HDF5 reading (lib/data/hdf5.ts, on jsfive): every dataset of a committed fixture written by h5py
// (test/fixtures/make_hdf5.py: float32/float64 incl. gzip-chunked, int32, uint8, bool, a scalar, groups), the
// coded errors for what it refuses (non-numeric, int64 beyond int32, a group, a missing name, truncated,
// a MATLAB v5 .mat, not HDF5, a missing file), and, when the shared data is present, SDCN's usps.h5 against the
// labels and the plain-text features of the same data.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import * as dg from '../lib';
import { expectCode } from './helpers/errors';
import { findDataFile, repoRoot } from './helpers/data';

const fixture = path.join(repoRoot, 'test', 'fixtures', 'small.h5');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dgclust-h5-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('readHdf5 / listHdf5 on the h5py fixture', () => {
  test('lists every dataset, groups walked', () => {
    expect(dg.listHdf5(fixture)).toEqual(['big', 'flags', 'grp/labels', 'grp/sub/f64', 'names', 'scalar', 'u8', 'x']);
  });
  test('float32 2-D, row-major', () => {
    const r = dg.readHdf5(fixture, 'x');
    expect(r.shape).toEqual([3, 4]);
    expect(r.dtype).toBe('<f4');
    expect(r.data).toBeInstanceOf(Float32Array);
    expect(Array.from(r.data)).toEqual(Array.from({ length: 12 }, (_, i) => i / 4 - 1));
  });
  test('float64 from a gzip-compressed, chunked dataset in a nested group → float32', () => {
    const r = dg.readHdf5(fixture, '/grp/sub/f64');
    expect(r.shape).toEqual([2, 2]);
    expect(r.dtype).toBe('<f8');
    expect(Array.from(r.data)).toEqual([1.5, -2.25, Math.fround(1e-3), 3e5]);
  });
  test('int32, uint8 and bool → int32; a scalar has shape []', () => {
    expect(Array.from(dg.readHdf5(fixture, 'grp/labels').data)).toEqual([2, 0, 1]);
    const u8 = dg.readHdf5(fixture, 'u8');
    expect(u8.data).toBeInstanceOf(Int32Array);
    expect(Array.from(u8.data)).toEqual([0, 1, 127, 200, 255]);
    expect(Array.from(dg.readHdf5(fixture, 'flags').data)).toEqual([1, 0, 1]);
    const s = dg.readHdf5(fixture, 'scalar');
    expect(s.shape).toEqual([]);
    expect(Array.from(s.data)).toEqual([2.5]);
  });
});

describe('readHdf5 refuses with DGC_DATA naming the file and the dataset', () => {
  test('a string dataset, an int64 beyond int32, a group, a missing name', () => {
    expectCode(() => dg.readHdf5(fixture, 'names'), 'DGC_DATA', /small\.h5/, /'names'/, /only numeric/);
    expectCode(() => dg.readHdf5(fixture, 'big'), 'DGC_DATA', /'big'/, /element 1 is 1099511627776/, /int32/);
    expectCode(() => dg.readHdf5(fixture, 'grp'), 'DGC_DATA', /'grp' is a group/, /labels, sub/);
    expectCode(() => dg.readHdf5(fixture, 'grp/nope'), 'DGC_DATA', /no dataset 'grp\/nope'/, /grp\/labels/);
  });
  test('a truncated file', () => {
    const bytes = fs.readFileSync(fixture);
    for (const keep of [4, 40, 200, 2000, bytes.length - 500, bytes.length - 1]) {
      const f = path.join(tmp, `trunc-${keep}.h5`);
      fs.writeFileSync(f, bytes.subarray(0, keep));
      expectCode(() => dg.readHdf5(f, 'grp/sub/f64'), 'DGC_DATA', new RegExp(`trunc-${keep}\\.h5`), /truncated|no HDF5 signature/);
    }
  });
  test('a MATLAB v5 .mat (not read: the error points to the plain-text conversions), a text file, no file', () => {
    const mat = path.join(tmp, 'acm.mat');
    const header = Buffer.alloc(128, 0x20);
    header.write('MATLAB 5.0 MAT-file, Platform: PCWIN64, Created on: Mon Jan  1 00:00:00 2018', 0, 'latin1');
    fs.writeFileSync(mat, Buffer.concat([header, zlib.deflateSync(Buffer.alloc(64))]));
    expectCode(() => dg.readHdf5(mat, 'fea'), 'DGC_DATA', /acm\.mat/, /MATLAB v5/, /derived/);
    expectCode(() => dg.readHdf5(path.join(repoRoot, 'package.json'), 'x'), 'DGC_DATA', /package\.json/, /not an HDF5 file/);
    expectCode(() => dg.readHdf5(path.join(tmp, 'missing.h5'), 'x'), 'DGC_DATA', /missing\.h5/, /ENOENT/);
  });
});

describe('corrupt sizes and what jsfive throws (fuzzer regressions)', () => {
  const mutated = (name: string, edit: (b: Buffer) => void): string => {
    const b = Buffer.from(fs.readFileSync(fixture));
    edit(b);
    const f = path.join(tmp, name);
    fs.writeFileSync(f, b);
    return f;
  };

  // Offsets into the committed fixture small.h5 (found by the fuzzer, test/fuzz.test.ts).
  test('a chunk dimension of 2^63 is refused (jsfive looped over every element of the chunk: a hang)', () => {
    const f = mutated('chunk.h5', (b) => b.writeBigUInt64LE(2n ** 63n - 1n, 5658));
    // In a child process with a time limit, so that a regression fails here instead of hanging the test file.
    const script = `try { require('./lib/data/hdf5').readHdf5(${JSON.stringify(f)}, 'grp/sub/f64'); console.log('read'); } catch (e) { console.log(e.code + ' ' + e.message); }`;
    const r = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: repoRoot, encoding: 'utf8', timeout: 60000 });
    expect({ signal: r.signal, status: r.status }).toEqual({ signal: null, status: 0 });
    expect(r.stdout).toMatch(/^DGC_DATA .*chunk\.h5: dataset 'grp\/sub\/f64' has chunks of shape \[\d+, \d+\] for a dataset of shape \[2, 2\]: corrupt/);
  });

  test('dimensions declaring more than the file could hold are refused before jsfive allocates them', () => {
    // The dataspace of 'x' (3 × 4) holds each dimension as a 64-bit value; jsfive reads the low 32 bits.
    const at = fs.readFileSync(fixture).indexOf(Buffer.from([3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0]));
    expect(at).toBeGreaterThan(0);
    const f = mutated('dims.h5', (b) => {
      b.writeUInt32LE(0x7fffffff, at);
      b.writeUInt32LE(0x7fffffff, at + 8);
    });
    expectCode(() => dg.readHdf5(f, 'x'), 'DGC_DATA', /dims\.h5/, /dataset 'x' declares shape \[2147483647, 2147483647\]/, /more than a file of 10056 bytes can hold/);
  });

  test('a string thrown by jsfive reaches the message (it read "undefined")', () => {
    const f = mutated('header.h5', (b) => {
      b[64] ^= 0xff; // the root object header's version byte
    });
    expectCode(() => dg.listHdf5(f), 'DGC_DATA', /header\.h5/, /unknown Data Object Header/);
  });

  test('a NaN in a float dataset is refused naming the element', () => {
    const at = fs.readFileSync(fixture).indexOf(Buffer.from(Float32Array.from([-1, -0.75, -0.5]).buffer));
    const f = mutated('nan.h5', (b) => b.writeFloatLE(NaN, at + 4));
    expectCode(() => dg.readHdf5(f, 'x'), 'DGC_DATA', /nan\.h5/, /dataset 'x': element 1 is NaN/);
  });
});

describe('SDCN usps.h5 (shared data)', () => {
  const h5 = findDataFile('sdcn/features-src/usps.h5');
  const labels = findDataFile('sdcn/data/usps_label.txt');
  const text = findDataFile('derived/usps.txt.gz');
  const have = h5.file && labels.file && text.file;
  // Without the data the test below shows as skipped (a passing stand-in test used to report it as a pass).
  if (!have) console.warn(`skipped: usps.h5, usps_label.txt or derived/usps.txt.gz not found (looked at ${[...h5.tried, ...labels.tried, ...text.tried].join(', ')})`);
  (have ? test : test.skip)('train ⊕ test equals the labels file and the plain-text features', () => {
    const trainX = dg.readHdf5(h5.file!, 'train/data');
    const testX = dg.readHdf5(h5.file!, 'test/data');
    expect(trainX.shape).toEqual([7291, 256]);
    expect(testX.shape).toEqual([2007, 256]);
    const y = [...dg.readHdf5(h5.file!, 'train/target').data, ...dg.readHdf5(h5.file!, 'test/target').data];
    const want = fs.readFileSync(labels.file!, 'utf8').trim().split(/\s+/).map(Number);
    expect(y).toEqual(want);
    const ds = dg.loadDataset('usps', { dataDir: path.resolve(path.dirname(text.file!), '..') });
    const x = ds.features.data;
    let maxDiff = 0;
    for (let i = 0; i < 7291 * 256; i++) maxDiff = Math.max(maxDiff, Math.abs(x[i] - trainX.data[i]));
    for (let i = 0; i < 2007 * 256; i++) maxDiff = Math.max(maxDiff, Math.abs(x[7291 * 256 + i] - testX.data[i]));
    expect(maxDiff).toBeLessThan(1e-6);
  });
});
