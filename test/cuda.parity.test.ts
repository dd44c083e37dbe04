// CPU ↔ CUDA parity through the TypeScript API: every op of the native op table, forward and backward, the ops without
// gradients, finite-difference gradient checks computed on the GPU, the device errors, and the determinism checks
// (no result depends on the SM count; every split count agrees with the CPU). The cases and checks are
// test/parity/cases.ts, shared with the GPU check's plain-node runner (test/parity/runner.ts): one table.
//
// Skips visibly (one test that logs "skipped: no CUDA device (<reason>)") when dg.backends() says CUDA is not
// available: the node-gyp build is CPU-only, and a CUDA build on a machine without a GPU falls back to the CPU.
// To run on a GPU machine: build with `npm run build:cuda` (build-cuda/, which lib/native.ts loads first when it
// finds a device), then `npx jest test/cuda.parity.test.ts`.
import * as dg from '../lib';
import {
  checkCase,
  determinismChecks,
  disposeGraphs,
  errorChecks,
  gpuGradChecks,
  parityCases,
  parityChecks,
  setupGraphs,
} from './parity/cases';

const cudaInfo = dg.backends().find((b) => b.name === 'cuda');
const hasCuda = cudaInfo?.available === true;
const describeCuda = hasCuda ? describe : describe.skip;

// Without a device the parity tests below show as skipped; this note says why.
// eslint-disable-next-line no-console
if (!hasCuda) console.warn(`skipped: no CUDA device (${cudaInfo?.reason ?? 'no CUDA entry in backends()'})`);

describe('CUDA backend', () => {
  // (Named "skipped: no CUDA device" before, it passed where there was no device: it checks the entry and its reason.)
  test(hasCuda ? 'backends() lists cuda as available' : 'backends() lists cuda as unavailable, with the reason', () => {
    expect(cudaInfo).toBeDefined();
    if (hasCuda) expect(cudaInfo!.reason ?? '').toBe('');
    else expect(cudaInfo!.reason).toMatch(/\w/);
  });
});

// Built once for the whole file (their CSR buffers, transposes included, are then not counted as leaks of a test).
beforeAll(() => {
  if (hasCuda) setupGraphs(true);
});
afterAll(() => disposeGraphs());

describeCuda('CPU ↔ CUDA parity, forward and backward, every op', () => {
  test.each(parityCases.map((c) => [c.name, c] as const))('%s', (_name, c) => checkCase(c));
});

describeCuda('CPU ↔ CUDA parity, ops without gradients', () => {
  test.each(parityChecks.map((c) => [c.name, c] as const))('%s', (_name, c) => c.run());
});

describeCuda('finite-difference gradient checks computed on the GPU', () => {
  test.each(gpuGradChecks.map((c) => [c.name, c] as const))('%s', (_name, c) => c.run());
});

describeCuda('CUDA errors', () => {
  test.each(errorChecks.map((c) => [c.name, c] as const))('%s', (_name, c) => c.run());
});

describeCuda('determinism on the GPU: no result depends on the SM count or the split count', () => {
  test.each(determinismChecks.map((c) => [c.name, c] as const))('%s', (_name, c) => c.run());
});
