// Seeded random numbers. A Generator is a seed plus a counter: each call draws from a fresh Philox stream
// (seed, counter), so a run is reproducible from its seed alone, on any thread count and any backend.
import { native } from './native';
import { DgcError, Device, Tensor, wrap } from './tensor';

const MAX_SEED = Number.MAX_SAFE_INTEGER;

export class Generator {
  readonly seed: number;
  private stream = 0;

  constructor(seed = 0) {
    if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
      throw new DgcError('DGC_ARG', `Generator: seed must be an integer in [0, 2^53 - 1], got ${seed}`);
    }
    this.seed = seed;
  }

  /** The next stream id (advances the generator). */
  nextStream(): number {
    return this.stream++;
  }

  /** The number of streams drawn so far (with the seed, the generator's whole state). */
  get streamsDrawn(): number {
    return this.stream - this.base;
  }

  /**
   * An independent generator with the same seed for one named purpose (e.g. 'sdcn-ae': the autoencoder shared by
   * SDCN, AGCN and CaEGCN, so that it is initialised and shuffled the same whatever else a model draws). Its
   * streams start at (1 + h(name) mod 2^20) · 2^32, h a 32-bit FNV-1a hash, far from the parent's (which start at
   * 0) and from other names' (a collision needs 2^32 draws).
   */
  derive(name: string): Generator {
    let h = 0x811c9dc5;
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
    const g = new Generator(this.seed);
    g.base = (1 + (h % 2 ** 20)) * 2 ** 32;
    g.stream = g.base;
    return g;
  }

  private base = 0;

  /** Uniform in [low, high). */
  uniform(shape: readonly number[], low = 0, high = 1, device: Device = 'cpu'): Tensor {
    return wrap(native.randomUniform(shape.slice(), low, high, this.seed, this.nextStream(), device));
  }

  /** Normal with the given mean and standard deviation. */
  normal(shape: readonly number[], mean = 0, std = 1, device: Device = 'cpu'): Tensor {
    return wrap(native.randomNormal(shape.slice(), mean, std, this.seed, this.nextStream(), device));
  }

  /** A uniform float in [0, 1) on the host, for shuffling and sampling decisions. */
  random(): number {
    const t = native.randomUniform([1], 0, 1, this.seed, this.nextStream(), 'cpu');
    const v = (t.toTypedArray() as Float32Array)[0];
    t.dispose();
    return v;
  }

  /** A random permutation of 0..n−1 (Fisher–Yates over one batch of uniform draws). */
  permutation(n: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    if (n < 2) return out;
    const t = native.randomUniform([n], 0, 1, this.seed, this.nextStream(), 'cpu');
    const u = t.toTypedArray() as Float32Array;
    t.dispose();
    for (let i = n - 1; i > 0; i--) {
      const j = Math.min(i, Math.floor(u[i] * (i + 1)));
      const tmp = out[i];
      out[i] = out[j];
      out[j] = tmp;
    }
    return out;
  }
}

// ---- initializers (shapes follow the layer that uses them) --------------------------------------------

/** Glorot/Xavier uniform: U(−a, a), a = gain·√(6 / (fanIn + fanOut)). */
export function xavierUniform(gen: Generator, shape: readonly number[], fanIn: number, fanOut: number, gain = 1, device: Device = 'cpu'): Tensor {
  const a = gain * Math.sqrt(6 / (fanIn + fanOut));
  return gen.uniform(shape, -a, a, device);
}

/** Glorot/Xavier normal: N(0, σ²), σ = gain·√(2 / (fanIn + fanOut)). */
export function xavierNormal(gen: Generator, shape: readonly number[], fanIn: number, fanOut: number, gain = 1, device: Device = 'cpu'): Tensor {
  return gen.normal(shape, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), device);
}

/**
 * PyTorch's nn.Linear default for both weight and bias: U(−1/√fanIn, 1/√fanIn)
 * (kaiming_uniform with a = √5 reduces to this bound for the weight).
 */
export function linearDefault(gen: Generator, shape: readonly number[], fanIn: number, device: Device = 'cpu'): Tensor {
  const a = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return gen.uniform(shape, -a, a, device);
}
