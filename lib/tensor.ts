// Tensor: a JS handle to native memory, plus the autograd fields the tape uses.
//
// Memory is freed by dispose(), by the end of the tidy() scope a tensor was made in, or (the safety net, not
// the plan) when the garbage collector finalizes the native handle. V8 is told about native bytes, so a
// forgotten tensor still counts towards GC pressure.
import { native } from './native';
import type { NativeTensor } from '../types/native';

export type DType = 'float32' | 'int32';
export type Device = 'cpu' | 'cuda';

/** A node of the autograd graph: how to turn the gradient of a tensor into gradients of its inputs. */
export interface GradNode {
  /** The op's name, for error messages and debugging. */
  readonly name: string;
  readonly inputs: readonly Tensor[];
  /** Gradients for each input (null for an input that needs none), given the gradient of the output. */
  backward(gradOutput: Tensor): (Tensor | null)[];
  /** Tensors the op made only for its backward; the tape frees them once backward has run. */
  readonly saved?: readonly Tensor[];
}

/** Thrown for errors raised in TypeScript; native errors carry the same `code` field. */
export class DgcError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = 'DgcError';
  }
}

// ---- scopes (tidy) ------------------------------------------------------------------------------------

const scopes: Set<Tensor>[] = [];

function track(t: Tensor): void {
  if (scopes.length > 0) scopes[scopes.length - 1].add(t);
}

function untrack(t: Tensor): void {
  for (const s of scopes) s.delete(t);
}

export class Tensor {
  /** @internal The native handle. */
  readonly handle: NativeTensor;
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** True for parameters, and for results of recorded ops on them. */
  requiresGrad = false;
  /** The accumulated gradient of a leaf tensor that requires grad (set by backward()). */
  grad: Tensor | null = null;
  /** @internal How this tensor was computed, while the graph is alive. */
  gradFn: GradNode | null = null;
  /** @internal Set on non-leaf tensors once backward() has freed their graph: a second backward is an error. */
  graphFreed = false;
  /** @internal Kept tensors are never disposed by tidy(). */
  kept = false;

  /** @internal Use tensor(), zeros() or an op to make tensors. */
  constructor(handle: NativeTensor) {
    this.handle = handle;
    this.shape = Object.freeze(handle.shape.slice());
    this.dtype = handle.dtype;
    track(this);
  }

  get rank(): number {
    return this.shape.length;
  }
  /** Number of elements. */
  get size(): number {
    let n = 1;
    for (const d of this.shape) n *= d;
    return n;
  }
  get device(): Device {
    return this.handle.device;
  }
  get disposed(): boolean {
    return this.handle.disposed;
  }
  get nbytes(): number {
    return this.handle.nbytes;
  }

  /** A copy of the contents (reading synchronizes the device). */
  data(): Float32Array | Int32Array {
    return this.handle.toTypedArray();
  }
  /** A copy of a float32 tensor's contents. */
  dataF32(): Float32Array {
    if (this.dtype !== 'float32') throw new DgcError('DGC_DTYPE', `dataF32: tensor is ${this.dtype}`);
    return this.handle.toTypedArray() as Float32Array;
  }
  /** Nested arrays (rank 0 → number, rank 1 → number[], rank 2 → number[][]). */
  toArray(): number | number[] | number[][] {
    const d = Array.from(this.data());
    if (this.rank === 0) return d[0];
    if (this.rank === 1) return d;
    if (this.rank === 2) {
      const [r, c] = this.shape;
      const out: number[][] = [];
      for (let i = 0; i < r; i++) out.push(d.slice(i * c, (i + 1) * c));
      return out;
    }
    throw new DgcError('DGC_SHAPE', `toArray: rank ${this.rank} is not supported, use data()`);
  }
  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new DgcError('DGC_SHAPE', `item: tensor of shape [${this.shape}] has ${this.size} elements`);
    return this.data()[0];
  }

  /** Frees the native memory now (idempotent). Also frees the gradient of a leaf. */
  dispose(): void {
    this.handle.dispose();
    this.gradFn = null;
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
    untrack(this);
  }

  toString(): string {
    return `Tensor(${this.dtype}[${this.shape.join(', ')}] on ${this.device}${this.disposed ? ', disposed' : ''})`;
  }
}

/** Wraps a native handle in a tracked Tensor. */
export function wrap(handle: NativeTensor): Tensor {
  return new Tensor(handle);
}

/** Marks t to survive every enclosing tidy() (it must then be disposed by hand). */
export function keep<T extends Tensor>(t: T): T {
  t.kept = true;
  untrack(t);
  return t;
}

function collectTensors(value: unknown, out: Set<Tensor>, depth = 0): void {
  if (depth > 8 || value == null) return;
  if (value instanceof Tensor) {
    out.add(value);
  } else if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, out, depth + 1);
  } else if (value instanceof Map) {
    for (const v of value.values()) collectTensors(v, out, depth + 1);
  } else if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value as Record<string, unknown>)) collectTensors(v, out, depth + 1);
  }
}

/**
 * Runs fn and disposes every tensor made inside it, except the tensors it returns (found in a returned
 * Tensor, array, Map or plain object) and kept ones. Returned tensors move to the enclosing scope.
 * fn must be synchronous.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    scopes.pop();
    for (const t of scope) if (!t.kept) t.dispose();
    throw err;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) if (!t.kept) t.dispose();
    throw new DgcError('DGC_ARG', 'tidy: the function must be synchronous (it returned a Promise)');
  }
  const returned = new Set<Tensor>();
  collectTensors(result, returned);
  for (const t of scope) {
    if (t.kept) continue;
    if (returned.has(t)) track(t);
    else t.dispose();
  }
  return result;
}

/** Disposes tensors found in value (a Tensor, array, Map or plain object of them). */
export function dispose(value: unknown): void {
  const found = new Set<Tensor>();
  collectTensors(value, found);
  for (const t of found) t.dispose();
}

/** Live native buffers and bytes on a device (every tensor, kept or not). Tests use it to prove nothing leaks. */
export function memory(device: Device = 'cpu'): { tensors: number; bytes: number; peakBytes: number; cachedBytes: number } {
  return native.memory(device);
}

/** Returns the freed blocks the CPU caching allocator keeps for reuse (up to cacheLimit() bytes) to the system. */
export function releaseCachedMemory(): void {
  native.releaseCachedMemory();
}

/** Waits until the work queued on `device` has finished (CUDA ops are asynchronous; reading a tensor waits anyway).
 * For timing GPU work. A fault of any earlier op on the device is reported here. */
export function synchronize(device: Device = 'cpu'): void {
  native.synchronize(device);
}

/**
 * The most bytes of freed blocks the CPU caching allocator keeps for reuse (a training step frees and allocates the
 * same sizes every iteration; fresh pages cost a fault each). Default 256 MiB, or DGCLUST_CACHE_BYTES.
 */
export function cacheLimit(): number {
  return native.cacheLimit();
}

/** Sets cacheLimit(); cached blocks over a lowered limit are returned to the system at once. 0 turns caching off. */
export function setCacheLimit(bytes: number): void {
  native.setCacheLimit(bytes);
}

/**
 * A byte count as DGCLUST_CACHE_BYTES takes it: an integer, optionally with a binary unit (k, M, G, T, with or
 * without 'iB' / 'B': '268435456', '256M', '256MiB', '1g'). Anything else is a DGC_ARG error naming `what`.
 */
export function parseByteCount(text: string, what: string): number {
  const m = /^\s*(\d+)\s*(?:([kmgt])(?:i?b)?|b)?\s*$/i.exec(text);
  const bytes = m ? Number(m[1]) * 1024 ** (m[2] ? 'kmgt'.indexOf(m[2].toLowerCase()) + 1 : 0) : NaN;
  if (!Number.isSafeInteger(bytes)) {
    throw new DgcError('DGC_ARG', `${what} = '${text.slice(0, 40)}' is not a byte count (e.g. 268435456, 256M, 1G)`);
  }
  return bytes;
}

// The cache limit from the environment, applied once when the library loads.
if (process.env.DGCLUST_CACHE_BYTES !== undefined) setCacheLimit(parseByteCount(process.env.DGCLUST_CACHE_BYTES, 'DGCLUST_CACHE_BYTES'));

export function resetPeakMemory(device: Device = 'cpu'): void {
  native.resetPeakMemory(device);
}
