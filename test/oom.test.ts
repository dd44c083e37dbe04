// An allocation the device cannot hold is a DGC_OOM error that names the op and the bytes, the process goes on, and
// the next op works. (On the CPU: 2^52 bytes exceed any x86-64 address space, so this fails whatever the
// overcommit setting. The GPU check, scripts/gpu-check.sh, does the same on CUDA.)
import * as dg from '../lib';

function caught(fn: () => unknown): { code?: string; message: string } | null {
  try {
    fn();
  } catch (e) {
    return e as { code?: string; message: string };
  }
  return null;
}

test('a tensor larger than memory: DGC_OOM naming the op and the bytes; the next op works', () => {
  const before = dg.memory('cpu');
  const e = caught(() => dg.zeros([2 ** 50]));
  expect(e?.code).toBe('DGC_OOM');
  expect(e?.message).toBe(`full: out of cpu memory allocating ${2 ** 52} bytes`);
  expect(dg.memory('cpu').tensors).toBe(before.tensors);
  expect(dg.tidy(() => dg.matmul(dg.tensor([[1, 2]]), dg.tensor([[3], [4]])).toArray())).toEqual([[11]]);
});

test("an op's output larger than memory: the op's name in front", () => {
  dg.tidy(() => {
    const a = dg.zeros([2 ** 26, 1]);
    const b = dg.zeros([1, 2 ** 24]);
    const e = caught(() => dg.matmul(a, b));
    expect(e?.code).toBe('DGC_OOM');
    expect(e?.message).toBe(`matmul: out of cpu memory allocating ${2 ** 52} bytes`);
  });
});
