// Builds and runs the standalone C++ kernel tests in test/native/ (no Node involved in them) with CMake:
// GEMM against a double-precision reference over edge-case shapes and strides, CSR construction and SpMM
// against dense references, bit-identical results for 1 vs 2 threads, and the thread pool's stress test
// (resizes between tiny jobs, throwing and nested jobs, concurrent callers). Skips visibly without cmake/g++.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const root = path.resolve(__dirname, '..');
const buildDir = path.join(root, 'build-native-tests');
const have = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const toolchain = have('cmake') && have('g++');
const maybe = toolchain ? test : test.skip;
if (!toolchain) console.warn('skipped: the standalone C++ kernel tests need cmake and g++');

const tests = fs.readdirSync(path.join(root, 'test', 'native')).filter((f) => f.endsWith('_test.cc')).map((f) => f.replace(/\.cc$/, ''));

describe('standalone C++ kernel tests', () => {
  beforeAll(() => {
    if (!toolchain) return;
    const configure = spawnSync('cmake', ['-S', root, '-B', buildDir, '-DDGCLUST_NATIVE_TESTS=ON', '-DCMAKE_BUILD_TYPE=Release'], { encoding: 'utf8' });
    if (configure.status !== 0) throw new Error(`cmake configure failed:\n${configure.stdout}\n${configure.stderr}`);
    const build = spawnSync('cmake', ['--build', buildDir, '-j', '2', '--target', ...tests], { encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`cmake build failed:\n${build.stdout.slice(-4000)}\n${build.stderr.slice(-4000)}`);
  }, 600000);

  maybe.each(tests)('%s passes', (name) => {
    const r = spawnSync(path.join(buildDir, name), [], { encoding: 'utf8', timeout: 300000 });
    if (r.status !== 0) throw new Error(`${name} ${r.status === null ? `was killed (${r.signal}, 300 s limit?)` : `exited ${r.status}`}:\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
    expect(r.status).toBe(0);
  });
});
