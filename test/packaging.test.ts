// The CUDA platform package and how the main package refers to it (what scripts/pack-smoke.sh installs for real in
// CI; here, the cheap invariants that keep `npm ci` offline-safe and the versions in step).
import * as fs from 'fs';
import * as path from 'path';

const root = path.resolve(__dirname, '..');
const read = (p: string) => JSON.parse(fs.readFileSync(path.join(root, p), 'utf8'));
const main = read('package.json');
const cuda = read('packages/linux-x64-cuda/package.json');
const lock = read('package-lock.json');

test('the platform package is @dgclust/linux-x64-cuda, for linux x64 only, its main the binary', () => {
  expect(cuda).toMatchObject({ name: '@dgclust/linux-x64-cuda', os: ['linux'], cpu: ['x64'], main: 'dgclust.node' });
  expect(cuda.files).toContain('dgclust.node');
});

test('dgclust lists it as an optional dependency of exactly its own version', () => {
  expect(cuda.version).toBe(main.version);
  expect(main.optionalDependencies['@dgclust/linux-x64-cuda']).toBe(main.version);
  expect(main.dependencies['@dgclust/linux-x64-cuda']).toBeUndefined();
});

test('in this repository it is a workspace: npm ci links the folder and never asks the registry for it', () => {
  expect(main.workspaces).toEqual(['packages/linux-x64-cuda']);
  expect(lock.packages['node_modules/@dgclust/linux-x64-cuda']).toEqual({ resolved: 'packages/linux-x64-cuda', link: true });
  expect(lock.packages['packages/linux-x64-cuda'].version).toBe(main.version);
  // The binary is never committed into the workspace folder (a stale copy would shadow build-cuda/).
  const ignored = fs.readFileSync(path.join(root, '.gitignore'), 'utf8').split('\n');
  expect(ignored).toContain('packages/*/dgclust.node');
});

test('the main tarball does not ship the workspace folder', () => {
  expect(main.files).not.toContain('packages');
  expect(main.files.some((f: string) => f.startsWith('packages'))).toBe(false);
});
