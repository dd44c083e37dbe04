// Loads the native addon once, choosing between two binaries that are built and shipped apart:
//
//   * the CUDA variant: the optional platform package @dgclust/<platform>-<arch>-cuda (installed from npm next to
//     this package), or a local CUDA build in build-cuda/Release (`npm run build:cuda`, cmake-js);
//   * the CPU binary: prebuilds/<platform>-<arch>/ (shipped in this package) or build/Release (node-gyp), found by
//     node-gyp-build.
//
// The CUDA variant is tried first, and kept only if it loads AND finds a usable GPU (the probe: load it, ask
// backends() for a device, fall back — what node-llama-cpp does with its GPU builds). Otherwise the CPU binary is
// loaded, and the reason the CUDA variant was passed over is kept (`nativeSelection`, `dgclust info`, and the
// 'cuda' entry of backends()). The probe runs in this process: the CUDA variant is built to load on any machine
// and to report, not crash, when there is no driver or device (cuda/backend.cu); it creates no CUDA context.
//
// Environment:
//   DGCLUST_NATIVE_PATH=FILE   load exactly this .node file (no probe, no fallback)
//   DGCLUST_NATIVE=auto|cpu|cuda   auto (default): as above; cpu: never try the CUDA variant; cuda: the CUDA variant
//                              with a usable device or a DGC_NATIVE_LOAD error saying why not.
// The TypeScript view of the module is types/native.d.ts.
import * as fs from 'fs';
import * as path from 'path';
import type { BackendInfo, NativeModule } from '../types/native';

// node-gyp-build finds the CPU binary (build/Release, then prebuilds/<platform>-<arch>/). It is a dependency, but dist/
// also runs where node_modules is absent (the GPU check's machine), and then the same search is done here.
type NodeGypBuild = ((dir: string) => unknown) & { resolve?: (dir: string) => string };
let nodeGypBuild: NodeGypBuild | null = null;
try {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  nodeGypBuild = require('node-gyp-build') as NodeGypBuild;
} catch {
  nodeGypBuild = null;
}

/** The package root: two levels up from dist/lib/native.js, one up from lib/native.ts (tests run the source). */
export const packageRoot: string = path.basename(path.dirname(__dirname)) === 'dist'
  ? path.resolve(__dirname, '..', '..')
  : path.resolve(__dirname, '..');

/** The npm name of the CUDA platform package for this platform, e.g. '@dgclust/linux-x64-cuda'. */
export const cudaPackageName = `@dgclust/${process.platform}-${process.arch}-cuda`;

/** One binary the loader looked at, and what happened. */
export interface NativeAttempt {
  variant: 'cuda' | 'cpu' | 'explicit';
  /** Where it came from: 'DGCLUST_NATIVE_PATH', the platform package's name, 'build-cuda', or 'prebuilds or build/Release'. */
  source: string;
  /** The .node file (or, for node-gyp-build, the package root it searched). */
  path: string;
  /** 'loaded' (kept), 'passed over' (loaded, no usable GPU), 'absent', 'failed to load'. */
  outcome: 'loaded' | 'passed over' | 'absent' | 'failed to load';
  detail?: string;
}

/** Which native binary this process uses, and why. */
export interface NativeSelection {
  variant: 'cuda' | 'cpu' | 'explicit';
  path: string;
  /** One sentence: why this binary (and, when the CUDA variant was passed over, why). */
  reason: string;
  attempts: NativeAttempt[];
}

type LoadError = Error & { code: string };

function loadError(message: string): LoadError {
  const e = new Error(message) as LoadError;
  e.code = 'DGC_NATIVE_LOAD';
  return e;
}

// eslint-disable-next-line @typescript-eslint/no-var-requires
const requireNode = (file: string): NativeModule => require(file) as NativeModule;

/** The CUDA variants to look at, in order of preference (the platform package, then a local CUDA build); `absent`
 * says why one cannot be tried. */
function cudaCandidates(root: string): { source: string; path: string; absent?: string }[] {
  const list: { source: string; path: string; absent?: string }[] = [];
  let pkgJson: string | null = null;
  try {
    pkgJson = require.resolve(`${cudaPackageName}/package.json`, { paths: [root] });
  } catch {
    list.push({ source: cudaPackageName, path: '', absent: 'not installed' });
  }
  if (pkgJson) {
    const file = path.join(path.dirname(pkgJson), 'dgclust.node');
    const ours = readVersion(path.join(root, 'package.json'));
    const theirs = readVersion(pkgJson);
    let absent: string | undefined;
    if (!fs.existsSync(file)) absent = 'installed without its binary (not built yet?)';
    // The op table may differ between versions: a binary of another version is not used.
    else if (ours && theirs !== ours) absent = `version ${theirs} does not match dgclust ${ours}`;
    list.push({ source: cudaPackageName, path: file, absent });
  }
  const local = path.join(root, 'build-cuda', 'Release', 'dgclust.node');
  list.push({ source: 'build-cuda', path: local, absent: fs.existsSync(local) ? undefined : 'not built (npm run build:cuda)' });
  return list;
}

function readVersion(file: string): string | null {
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}

function cudaEntry(mod: NativeModule): BackendInfo | undefined {
  return mod.backends().find((b) => b.name === 'cuda');
}

/** Chooses and loads the binary (see the file comment). Exported for tests: `select(root, env)`. */
export function selectNative(root: string, env: NodeJS.ProcessEnv): { module: NativeModule; selection: NativeSelection } {
  const attempts: NativeAttempt[] = [];
  const explicit = env.DGCLUST_NATIVE_PATH;
  if (explicit) {
    const file = path.resolve(explicit);
    try {
      const module = requireNode(file);
      attempts.push({ variant: 'explicit', source: 'DGCLUST_NATIVE_PATH', path: file, outcome: 'loaded' });
      return { module, selection: { variant: 'explicit', path: file, reason: 'DGCLUST_NATIVE_PATH names it', attempts } };
    } catch (err) {
      throw loadError(`dgclust: could not load the native addon ${file} named by DGCLUST_NATIVE_PATH (${(err as Error).message})`);
    }
  }
  const mode = env.DGCLUST_NATIVE ?? 'auto';
  if (mode !== 'auto' && mode !== 'cpu' && mode !== 'cuda') {
    throw loadError(`dgclust: DGCLUST_NATIVE must be auto, cpu or cuda, got '${mode}'`);
  }

  // 1. The CUDA variant, kept only with a usable device.
  let probed: { module: NativeModule; path: string; source: string; why: string } | null = null;
  if (mode !== 'cpu') {
    for (const c of cudaCandidates(root)) {
      if (c.absent) {
        attempts.push({ variant: 'cuda', source: c.source, path: c.path, outcome: 'absent', detail: c.absent });
        continue;
      }
      let module: NativeModule;
      try {
        module = requireNode(c.path);
      } catch (err) {
        attempts.push({ variant: 'cuda', source: c.source, path: c.path, outcome: 'failed to load', detail: (err as Error).message.split('\n')[0] });
        continue;
      }
      const cuda = cudaEntry(module);
      if (cuda?.available) {
        attempts.push({ variant: 'cuda', source: c.source, path: c.path, outcome: 'loaded', detail: cuda.device });
        const reason = `the CUDA variant (${c.source}) found ${cuda.device ?? 'a CUDA device'}`;
        return { module, selection: { variant: 'cuda', path: c.path, reason, attempts } };
      }
      const why = cuda?.reason ?? 'it reports no CUDA backend';
      attempts.push({ variant: 'cuda', source: c.source, path: c.path, outcome: 'passed over', detail: why });
      if (!probed) probed = { module, path: c.path, source: c.source, why };
    }
    if (mode === 'cuda') {
      throw loadError(`dgclust: DGCLUST_NATIVE=cuda, but no CUDA variant with a usable device: ${describeAttempts(attempts)}`);
    }
  }

  // 2. The CPU binary.
  const cpuReason = mode === 'cpu'
    ? 'DGCLUST_NATIVE=cpu'
    : probed
      ? `the CUDA variant (${probed.source}) loaded, but CUDA is unavailable: ${probed.why}`
      : 'no CUDA variant is installed or built';
  try {
    const file = cpuBinaryPath(root);
    const module = requireNode(file);
    attempts.push({ variant: 'cpu', source: 'prebuilds or build/Release', path: file, outcome: 'loaded' });
    return { module, selection: { variant: 'cpu', path: file, reason: cpuReason, attempts } };
  } catch (err) {
    attempts.push({ variant: 'cpu', source: 'prebuilds or build/Release', path: root, outcome: 'failed to load', detail: (err as Error).message.split('\n')[0] });
    if (probed) {
      // The CUDA variant holds the same CPU backend: better than nothing.
      return {
        module: probed.module,
        selection: { variant: 'cuda', path: probed.path, reason: `${cpuReason}; the CPU binary is missing, so the CUDA variant runs on its CPU backend`, attempts },
      };
    }
    throw loadError(
      `dgclust: could not load the native addon from ${root} (${(err as Error).message.split('\n')[0]}). ` +
        'Reinstall the package, or build it from source with `npm run build:native` (needs g++, make, python3).',
    );
  }
}

/** The CPU binary in `root`, found as node-gyp-build finds it (build/Release first, then prebuilds/ for this
 * platform); throws when there is none. */
function cpuBinaryPath(root: string): string {
  if (nodeGypBuild?.resolve) return nodeGypBuild.resolve(root);
  const tried = [
    path.join(root, 'build', 'Release', 'dgclust.node'),
    path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'dgclust.node'),
  ];
  const found = tried.find((f) => fs.existsSync(f));
  if (!found) throw new Error(`no CPU binary (node-gyp-build is not installed, and none of ${tried.join(', ')} exists)`);
  return found;
}

function describeAttempts(attempts: NativeAttempt[]): string {
  return attempts
    .map((a) => `${a.source}${a.path ? ` (${a.path})` : ''}: ${a.outcome}${a.detail ? ` — ${a.detail}` : ''}`)
    .join('; ');
}

const loaded = selectNative(packageRoot, process.env);

/** Which binary was loaded and why (`dgclust info` prints it). */
export const nativeSelection: NativeSelection = loaded.selection;

// When the CPU binary stands in for a CUDA variant that found no GPU, its own 'cuda' entry would say "this build has
// no CUDA backend", which hides the real reason: backends() reports the probe's reason instead.
const rawBackends = loaded.module.backends.bind(loaded.module);
const passedOver = nativeSelection.variant === 'cpu' ? nativeSelection.attempts.find((a) => a.outcome === 'passed over') : undefined;
if (passedOver) {
  loaded.module.backends = (...args: unknown[]) =>
    (rawBackends as (...a: unknown[]) => BackendInfo[])(...args).map((b) =>
      b.name === 'cuda' && !b.available
        ? { ...b, reason: `${passedOver.detail} (probed by the CUDA variant ${passedOver.path}; the CPU binary is loaded)` }
        : b,
    );
}

export const native: NativeModule = loaded.module;

/** Lines for `dgclust info`: the binary in use, why, and the other binaries looked at. */
export function nativeReport(): string[] {
  const s = nativeSelection;
  const lines = [`native binary: ${s.variant} (${s.path})`, `  why: ${s.reason}`];
  for (const a of s.attempts) {
    if (a.outcome === 'loaded') continue;
    lines.push(`  also looked at: ${a.source}${a.path ? ` (${a.path})` : ''}: ${a.outcome}${a.detail ? ` — ${a.detail}` : ''}`);
  }
  return lines;
}
