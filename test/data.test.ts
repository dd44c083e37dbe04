// Plain-text dataset parsing: good files load, bad files fail with DGC_DATA naming the file and line.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { parseEdges, parseLabels, parseMatrix, readText } from '../lib/data/text';
import { loadEmbeddedAcm, loadSdcnLayout } from '../lib/data/embedded';
import { readFeatures, readLabels } from '../lib/data/user';

function expectDataError(fn: () => unknown, ...patterns: RegExp[]): void {
  let caught: (Error & { code?: string }) | null = null;
  try {
    fn();
  } catch (e) {
    caught = e as Error & { code?: string };
  }
  expect(caught).not.toBeNull();
  expect(caught!.code).toBe('DGC_DATA');
  for (const p of patterns) expect(caught!.message).toMatch(p);
}

describe('parseMatrix', () => {
  test('reads LF and CRLF rows, scientific notation, trailing newline', () => {
    const m = parseMatrix('1 2.5 -3e-1\r\n4\t5 6\n', 'x.txt');
    expect(m.rows).toBe(2);
    expect(m.cols).toBe(3);
    expect(Array.from(m.data)).toEqual([1, 2.5, Math.fround(-0.3), 4, 5, 6]);
  });
  test('ragged row names the file and line', () => expectDataError(() => parseMatrix('1 2 3\n4 5\n', 'f.txt'), /f\.txt:2/, /expected 3 values/));
  test('non-numeric token names the line and value', () => expectDataError(() => parseMatrix('1 2\n3 abc\n', 'f.txt'), /f\.txt:2/, /'abc'/));
  test('empty file', () => expectDataError(() => parseMatrix('\n\n', 'e.txt'), /e\.txt/, /empty/));
  test('blank line inside the data', () => expectDataError(() => parseMatrix('1 2\n\n3 4\n', 'b.txt'), /b\.txt:2/));
  // Regression (fuzzer): 1e39 parsed as a number and became Infinity in the float32 matrix, surfacing only later
  // as "pca: element is Infinity", far from the file and line that hold it.
  test('a value beyond float32 (1e39, -1e39, 1e400) is refused naming the file, line and value', () => {
    expectDataError(() => parseMatrix('1 2\r\n3 1e39\r\n', 'f.txt'), /f\.txt:2: value 2 \(1e39\) is outside the float32 range/);
    expectDataError(() => parseMatrix('-1e39 2\n', 'f.txt'), /f\.txt:1: value 1 \(-1e39\)/);
    expectDataError(() => parseMatrix('1 2\n3 4\n5 1e400\n', 'f.txt'), /f\.txt:3: value 2 \(1e400\)/);
    // The largest float32 and what rounds to it are read; so is an underflow (to 0, as float32 stores it).
    const m = parseMatrix('3.4028234663852886e38 -3.4028235e38 1e-50\n', 'f.txt');
    expect(Array.from(m.data)).toEqual([3.4028234663852886e38, -3.4028234663852886e38, 0]);
  });
});

describe('parseLabels', () => {
  test('1-based labels become 0-based class ids', () => {
    const l = parseLabels('1\r\n3\r\n2\r\n1\r\n', 'l.txt');
    expect(Array.from(l.labels)).toEqual([0, 2, 1, 0]);
    expect(l.k).toBe(3);
    expect(l.original).toEqual([1, 2, 3]);
  });
  test('a non-integer label names the line', () => expectDataError(() => parseLabels('0\n1.5\n', 'l.txt'), /l\.txt:2/));
  // Regression (fuzzer): labels are stored as int32, so 4294967297 wrapped round to 1 and merged two classes.
  test('a label beyond int32 is refused naming the line', () => {
    expectDataError(() => parseLabels('0\n1\n4294967297\n', 'l.txt'), /l\.txt:3: label 4294967297 is outside the int32 range/);
    expectDataError(() => parseLabels('-2147483649\n', 'l.txt'), /l\.txt:1/);
    expect(Array.from(parseLabels('2147483647\n-2147483648\n', 'l.txt').original)).toEqual([-2147483648, 2147483647]);
  });
});

describe('parseEdges', () => {
  test('reads pairs', () => {
    const e = parseEdges('0 1\r\n1 0\n', 'g.txt', 2);
    expect(Array.from(e.src)).toEqual([0, 1]);
    expect(Array.from(e.dst)).toEqual([1, 0]);
  });
  test('an id >= n names the line and the node count', () => expectDataError(() => parseEdges('0 1\n2 5\n', 'g.txt', 3), /g\.txt:2/, /3 nodes/));
  test('a line with three tokens', () => expectDataError(() => parseEdges('0 1 2\n', 'g.txt', 3), /g\.txt:1/));
  test('a negative id', () => expectDataError(() => parseEdges('-1 2\n', 'g.txt', 3), /g\.txt:1/));
});

describe('files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgc-data-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a truncated gzip file is a DGC_DATA error naming it', () => {
    const f = path.join(dir, 'bad.txt.gz');
    const gz = zlib.gzipSync(Buffer.from('1 2 3\n'.repeat(1000)));
    fs.writeFileSync(f, gz.subarray(0, gz.length >> 1));
    expectDataError(() => readText(f), /bad\.txt\.gz/, /gzip/);
  });
  test('gzip: an overflowing value inside a .txt.gz names the file and line', () => {
    const f = path.join(dir, 'big.txt.gz');
    fs.writeFileSync(f, zlib.gzipSync(Buffer.from('1 2\r\n3 4\n5 -1e39\r\n')));
    expectDataError(() => parseMatrix(readText(f), f), /big\.txt\.gz:3: value 2 \(-1e39\) is outside the float32 range/);
  });
  test('a missing file is a DGC_DATA error naming it', () => expectDataError(() => readText(path.join(dir, 'nope.txt')), /nope\.txt/, /ENOENT/));
  test('SDCN layout: a label count that differs from the feature rows', () => {
    fs.writeFileSync(path.join(dir, 'toy.txt'), '1 0\n0 1\n1 1\n');
    fs.writeFileSync(path.join(dir, 'toy_label.txt'), '0\n1\n');
    expectDataError(() => loadSdcnLayout('toy', dir), /toy_label\.txt/, /2 labels/, /3 rows/);
  });
  test('SDCN layout: a missing feature file says where it was sought', () => {
    expectDataError(() => loadSdcnLayout('ghost', dir), /ghost\.txt/, new RegExp(dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  });
});

// Regression: a CSV's header line was dropped before parsing, so every line number in a message was one short.
test('user data: a bad value in a CSV with a header is reported at its line in the file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgc-csv-'));
  try {
    const f = path.join(dir, 'f.csv');
    fs.writeFileSync(f, 'a,b,c\n1,2,3\n4,x,6\n');
    expectDataError(() => readFeatures(f), /f\.csv:3: value 2 is not a number: 'x'/);
    fs.writeFileSync(f, 'a,b,c\n1,2,3\n4,5\n');
    expectDataError(() => readFeatures(f), /f\.csv:3: expected 3 values \(as on line 2\), found 2/);
    fs.writeFileSync(f, '1,2,3\n4,x,6\n'); // no header: the lines are the file's anyway
    expectDataError(() => readFeatures(f), /f\.csv:2: value 2/);
    const l = path.join(dir, 'l.csv');
    fs.writeFileSync(l, 'label\n0\n1.5\n');
    expectDataError(() => readLabels(l), /l\.csv:3: expected one integer label/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the embedded ACM dataset loads with the documented sizes and class counts', () => {
  const ds = loadEmbeddedAcm();
  expect([ds.features.rows, ds.features.cols]).toEqual([3025, 1870]);
  expect(ds.labels.k).toBe(3);
  const counts = [0, 0, 0];
  for (const l of ds.labels.labels) counts[l]++;
  expect(counts).toEqual([1061, 965, 999]);
  expect(ds.edges!.src.length).toBe(26256);
  let nnz = 0;
  for (const v of ds.features.data) if (v !== 0) nnz++;
  expect(nnz).toBe(253300);
});
