// Loads the native addon once: a prebuilt binary from prebuilds/ when one matches this platform and Node ABI,
// otherwise the local build in build/Release (node-gyp-build decides). The TypeScript view of the module is
// types/native.d.ts.
import * as path from 'path';
import type { NativeModule } from '../types/native';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const nodeGypBuild: (dir: string) => unknown = require('node-gyp-build');

/** The package root: two levels up from dist/lib/native.js, one up from lib/native.ts (tests run the source). */
export const packageRoot: string = path.basename(path.dirname(__dirname)) === 'dist'
  ? path.resolve(__dirname, '..', '..')
  : path.resolve(__dirname, '..');

function load(): NativeModule {
  // DGCLUST_NATIVE_PATH selects a specific build (e.g. the cmake-js CUDA build in build-cmake/Release).
  const explicit = process.env.DGCLUST_NATIVE_PATH;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    if (explicit) return require(path.resolve(explicit)) as NativeModule;
    return nodeGypBuild(packageRoot) as NativeModule;
  } catch (err) {
    const e = new Error(
      `dgclust: could not load the native addon from ${explicit ? path.resolve(explicit) : packageRoot} (${(err as Error).message}). ` +
        'Reinstall the package, or build it from source with `npm run build:native` (needs g++, make, python3).',
    ) as Error & { code: string };
    e.code = 'DGC_NATIVE_LOAD';
    throw e;
  }
}

export const native: NativeModule = load();
