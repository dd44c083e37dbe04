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
    // The kernels under test are dgclust_core. Where the cmake-js build (build-cuda/, npm run build:cuda; CI makes it)
    // is at hand, its libdgclust_core.a is the same sources with the same flags: bring it up to date (make rebuilds
    // only what changed) and link the tests against it rather than compiling the kernels a second time. Without it, or
    // if that build fails, build-native-tests/ compiles its own. Neither looks for nvcc: the tests are CPU-only.
    const coreLib = path.join(root, 'build-cuda', 'libdgclust_core.a');
    let prebuilt = '';
    if (fs.existsSync(path.join(root, 'build-cuda', 'CMakeCache.txt'))) {
      const core = spawnSync('cmake', ['--build', path.join(root, 'build-cuda'), '-j', '2', '--target', 'dgclust_core'], { encoding: 'utf8' });
      if (core.status === 0 && fs.existsSync(coreLib)) prebuilt = coreLib;
      else console.warn(`build-cuda's dgclust_core did not build (${core.status}); compiling the kernels in build-native-tests/:\n${core.stderr.slice(-1000)}`);
    }
    const configure = spawnSync('cmake', ['-S', root, '-B', buildDir, '-DDGCLUST_NATIVE_TESTS=ON', '-DCMAKE_BUILD_TYPE=Release', '-DDGCLUST_CUDA=OFF',
      `-DDGCLUST_CORE_LIBRARY=${prebuilt}`], { encoding: 'utf8' });
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
