// The choice between the CUDA variant and the CPU binary (lib/native.ts): each case builds a throw-away package root
// holding copies of real binaries where the loader looks for them, and checks which one selectNative() keeps and
// the reason it gives. The "CUDA variant" here is a copy of the CPU binary unless a real CUDA build exists in
// build-cuda/ (then that one is probed too; the case skips visibly without it).
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../lib/cli/main';
import { nativeSelection, packageRoot, selectNative, cudaPackageName } from '../lib/native';

// The CPU binary this process loaded (a prebuilt or the node-gyp build).
const cpuBinary = nativeSelection.variant === 'cpu' ? nativeSelection.path : path.join(packageRoot, 'build', 'Release', 'dgclust.node');
const realCudaBuild = path.join(packageRoot, 'build-cuda', 'Release', 'dgclust.node');
const hasRealCudaBuild = fs.existsSync(realCudaBuild);

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

/** A package root with the given files (relative path → source file to copy, or a string to write). */
function makeRoot(files: Record<string, { copy: string } | { text: string }>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'dgc-loader-'));
  roots.push(root);
  fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'dgclust', version: '0.1.0' }));
  for (const [rel, src] of Object.entries(files)) {
    const dst = path.join(root, rel);
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    if ('copy' in src) fs.copyFileSync(src.copy, dst);
    else fs.writeFileSync(dst, src.text);
  }
  return root;
}

const cpuBuild = { 'build/Release/dgclust.node': { copy: cpuBinary } };
const platformPackage = (version: string, binary?: string) => ({
  [`node_modules/${cudaPackageName}/package.json`]: { text: JSON.stringify({ name: cudaPackageName, version, main: 'dgclust.node' }) },
  ...(binary ? { [`node_modules/${cudaPackageName}/dgclust.node`]: { copy: binary } } : {}),
});

test('no CUDA variant: the CPU binary, saying none is installed or built', () => {
  const root = makeRoot(cpuBuild);
  const { selection, module } = selectNative(root, {});
  expect(selection.variant).toBe('cpu');
  expect(selection.path).toBe(path.join(root, 'build', 'Release', 'dgclust.node'));
  expect(selection.reason).toBe('no CUDA variant is installed or built');
  expect(selection.attempts.map((a) => [a.source, a.outcome])).toEqual([
    [cudaPackageName, 'absent'],
    ['build-cuda', 'absent'],
    ['prebuilds or build/Release', 'loaded'],
  ]);
  expect(module.backends()[0].name).toBe('cpu');
});

test('a CUDA variant without a usable device is probed, passed over with its reason, and the CPU binary loaded', () => {
  // A CPU-only binary standing in for the variant: it loads and says CUDA is unavailable.
  const root = makeRoot({ ...cpuBuild, ...platformPackage('0.1.0', cpuBinary) });
  const { selection } = selectNative(root, {});
  expect(selection.variant).toBe('cpu');
  expect(selection.reason).toMatch(new RegExp(`^the CUDA variant \\(${cudaPackageName}\\) loaded, but CUDA is unavailable: this build of dgclust has no CUDA backend`));
  expect(selection.attempts[0]).toMatchObject({ source: cudaPackageName, outcome: 'passed over' });
});

test('a platform package of another version, or without its binary, is not used', () => {
  const other = selectNative(makeRoot({ ...cpuBuild, ...platformPackage('0.0.9', cpuBinary) }), {}).selection;
  expect(other.attempts[0]).toMatchObject({ source: cudaPackageName, outcome: 'absent', detail: 'version 0.0.9 does not match dgclust 0.1.0' });
  const empty = selectNative(makeRoot({ ...cpuBuild, ...platformPackage('0.1.0') }), {}).selection;
  expect(empty.attempts[0]).toMatchObject({ source: cudaPackageName, outcome: 'absent' });
  expect(empty.attempts[0].detail).toMatch(/without its binary/);
  expect(empty.variant).toBe('cpu');
});

test('a CUDA variant that fails to load is reported and skipped', () => {
  const root = makeRoot({ ...cpuBuild, 'build-cuda/Release/dgclust.node': { text: 'not a shared library' } });
  const { selection } = selectNative(root, {});
  expect(selection.variant).toBe('cpu');
  expect(selection.attempts.find((a) => a.source === 'build-cuda')).toMatchObject({ outcome: 'failed to load' });
});

test('without a CPU binary, a probed CUDA variant runs on its own CPU backend', () => {
  const root = makeRoot({ 'build-cuda/Release/dgclust.node': { copy: cpuBinary } });
  const { selection, module } = selectNative(root, {});
  expect(selection.variant).toBe('cuda');
  expect(selection.reason).toMatch(/the CPU binary is missing, so the CUDA variant runs on its CPU backend/);
  expect(module.backends()[0]).toMatchObject({ name: 'cpu', available: true });
});

test('DGCLUST_NATIVE: cpu skips the CUDA variant; cuda refuses to fall back; other values are refused', () => {
  const root = makeRoot({ ...cpuBuild, 'build-cuda/Release/dgclust.node': { copy: cpuBinary } });
  const cpu = selectNative(root, { DGCLUST_NATIVE: 'cpu' }).selection;
  expect(cpu).toMatchObject({ variant: 'cpu', reason: 'DGCLUST_NATIVE=cpu' });
  expect(cpu.attempts).toHaveLength(1);
  const code = (fn: () => unknown): [string | undefined, string] => {
    try {
      fn();
    } catch (e) {
      return [(e as { code?: string }).code, (e as Error).message];
    }
    return [undefined, ''];
  };
  const [c1, m1] = code(() => selectNative(root, { DGCLUST_NATIVE: 'cuda' }));
  expect(c1).toBe('DGC_NATIVE_LOAD');
  expect(m1).toMatch(/DGCLUST_NATIVE=cuda, but no CUDA variant with a usable device: .*build-cuda .*passed over — this build of dgclust has no CUDA backend/);
  const [c2, m2] = code(() => selectNative(root, { DGCLUST_NATIVE: 'gpu' }));
  expect(c2).toBe('DGC_NATIVE_LOAD');
  expect(m2).toMatch(/DGCLUST_NATIVE must be auto, cpu or cuda, got 'gpu'/);
});

test('DGCLUST_NATIVE_PATH loads exactly that file', () => {
  const root = makeRoot({});
  const { selection } = selectNative(root, { DGCLUST_NATIVE_PATH: cpuBinary });
  expect(selection).toMatchObject({ variant: 'explicit', path: path.resolve(cpuBinary) });
});

test('no binary at all: DGC_NATIVE_LOAD naming the package root', () => {
  const root = makeRoot({});
  expect(() => selectNative(root, {})).toThrow(expect.objectContaining({ code: 'DGC_NATIVE_LOAD', message: expect.stringContaining(root) }));
});

(hasRealCudaBuild ? test : test.skip)('the real CUDA build (build-cuda/) loads; on a machine without a GPU it is passed over with the driver/device reason', () => {
  const root = makeRoot({ ...cpuBuild, 'build-cuda/Release/dgclust.node': { copy: realCudaBuild } });
  const { selection } = selectNative(root, {});
  const attempt = selection.attempts.find((a) => a.source === 'build-cuda');
  if (selection.variant === 'cuda') {
    expect(attempt?.outcome).toBe('loaded');  // a GPU machine
  } else {
    expect(attempt?.outcome).toBe('passed over');
    expect(attempt?.detail).toMatch(/CUDA|driver|device/);
    expect(attempt?.detail).not.toMatch(/no CUDA backend/);  // it is a CUDA build: the reason is the machine's
  }
});
if (!hasRealCudaBuild) {
  test('skipped: the real CUDA build case (no build-cuda/Release/dgclust.node; npm run build:cuda)', () => {
    expect(fs.existsSync(realCudaBuild)).toBe(false);
  });
}

test('dgclust info names the binary in use and why', async () => {
  const out: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  try {
    expect(await main(['info'])).toBe(0);
  } finally {
    log.mockRestore();
  }
  expect(out[1]).toBe(`native binary: ${nativeSelection.variant} (${nativeSelection.path})`);
  expect(out[2]).toBe(`  why: ${nativeSelection.reason}`);
});
