// Building blocks shared by the models: one MLP autoencoder, the Student-t clustering head, KL(P‖softmax).
import { Module } from '../nn/module';
import { Linear } from '../nn/linear';
import type { LinearOptions } from '../nn/linear';
import { Generator, xavierNormal } from '../random';
import * as ops from '../ops';
import { isRecording, noGrad } from '../autograd/tape';
import { DgcError, Tensor } from '../tensor';
import type { Device } from '../tensor';
import { dataKey } from './graph';
import type { DenseMatrix } from '../data/text';
import type { ClusteringData, Inference, ModelInput, TargetContext } from './types';

export type MlpActivation = 'relu' | 'leakyRelu';

export interface MlpAutoencoderOptions {
  nInput: number;
  /** Widths of the hidden layers of the encoder (the decoder mirrors them), e.g. [500, 500, 2000]. */
  hidden: readonly number[];
  /** Embedding width (no activation on the embedding). */
  nZ: number;
  /** After every layer but the embedding and the reconstruction. Default 'relu'. */
  activation?: MlpActivation;
  /** LeakyReLU slope (default 0.2, DFCN's). */
  slope?: number;
  /** Weight initialisation of every layer (default PyTorch's nn.Linear). */
  init?: LinearOptions['init'];
  /**
   * Parameter names. 'flat': enc_1 … enc_L, z_layer, dec_1 … dec_L, x_bar_layer (SDCN / AGCN / CaEGCN, whose
   * checkpoints use these names); 'nested': encoder.enc_1 … encoder.z_layer, decoder.dec_1 … decoder.x_bar_layer
   * (DFCN's AE). The layers are created in the same order either way (encoder first), so one seed gives the
   * same weights in both.
   */
  names?: 'flat' | 'nested';
  generator?: Generator;
  device?: Device;
}

export interface AutoencoderOutput {
  /** Reconstruction X̂ (no activation). */
  xBar: Tensor;
  /** Embedding Z (no activation). */
  z: Tensor;
  /** Encoder activations H1 … HL (SDCN / AGCN / CaEGCN feed them to their GCN branch). */
  hidden: Tensor[];
}

/** A named group of layers: the 'encoder' / 'decoder' submodules of the nested naming. */
class LayerGroup extends Module {
  constructor(layers: [string, Linear][]) {
    super();
    for (const [name, l] of layers) this.registerModule(name, l);
  }
}

/**
 * The MLP autoencoder of every model here: d → hidden… → nZ → reversed hidden… → d, an activation after every
 * layer except the embedding and the reconstruction. SDCN / AGCN / CaEGCN / DEC / IDEC / CDC:
 * d-500-500-2000-10 ReLU; DCCF: d-500-500-1000-K ReLU; DFCN: d-128-256-512-20 LeakyReLU(0.2).
 */
export class MlpAutoencoder extends Module {
  readonly encoderLayers: Linear[];
  readonly zLayer: Linear;
  readonly decoderLayers: Linear[];
  readonly xBarLayer: Linear;
  readonly nInput: number;
  readonly nZ: number;
  readonly activation: MlpActivation;
  readonly slope: number;

  constructor(options: MlpAutoencoderOptions) {
    super();
    const { nInput, hidden, nZ } = options;
    if (!Number.isInteger(nInput) || nInput < 1 || !Number.isInteger(nZ) || nZ < 1 || !hidden.every((h) => Number.isInteger(h) && h >= 1)) {
      throw new DgcError('DGC_ARG', `MlpAutoencoder: widths must be positive integers, got input ${nInput}, hidden [${hidden}], z ${nZ}`);
    }
    this.nInput = nInput;
    this.nZ = nZ;
    this.activation = options.activation ?? 'relu';
    this.slope = options.slope ?? 0.2;
    const o: LinearOptions = { generator: options.generator ?? new Generator(0), device: options.device, init: options.init };
    const enc = [nInput, ...hidden];
    this.encoderLayers = hidden.map((_, i) => new Linear(enc[i], enc[i + 1], o));
    this.zLayer = new Linear(hidden[hidden.length - 1] ?? nInput, nZ, o);
    const dec = [nZ, ...[...hidden].reverse()];
    this.decoderLayers = hidden.map((_, i) => new Linear(dec[i], dec[i + 1], o));
    this.xBarLayer = new Linear(dec[dec.length - 1], nInput, o);
    const encNamed: [string, Linear][] = [...this.encoderLayers.map((l, i) => [`enc_${i + 1}`, l] as [string, Linear]), ['z_layer', this.zLayer]];
    const decNamed: [string, Linear][] = [...this.decoderLayers.map((l, i) => [`dec_${i + 1}`, l] as [string, Linear]), ['x_bar_layer', this.xBarLayer]];
    if ((options.names ?? 'flat') === 'nested') {
      this.registerModule('encoder', new LayerGroup(encNamed));
      this.registerModule('decoder', new LayerGroup(decNamed));
    } else {
      for (const [name, l] of [...encNamed, ...decNamed]) this.registerModule(name, l);
    }
  }

  /** A hidden layer: the activation fused into the layer's product (leaky slopes < 0 cannot be: run apart). */
  private layer(l: Linear, x: Tensor): Tensor {
    if (this.activation === 'relu') return l.forward(x, 'relu');
    if (this.slope >= 0) return l.forward(x, 'leakyRelu', this.slope);
    return ops.leakyRelu(l.forward(x), this.slope);
  }

  /** Z and the encoder's activations. */
  encode(x: Tensor): { z: Tensor; hidden: Tensor[] } {
    const hidden: Tensor[] = [];
    let h = x;
    for (const l of this.encoderLayers) {
      h = this.layer(l, h);
      hidden.push(h);
    }
    return { z: this.zLayer.forward(h), hidden };
  }

  /**
   * Z alone (the same values as encode(x).z). Outside a recorded step (inference, e.g. DEC's target refresh on
   * all rows) each hidden activation is freed as soon as the next layer has read it, so only two layers' outputs
   * are alive at a time instead of all of them until the end of the enclosing tidy().
   */
  embed(x: Tensor): Tensor {
    if (isRecording()) return this.encode(x).z;
    let h = x;
    for (const l of [...this.encoderLayers, this.zLayer]) {
      const next = l === this.zLayer ? l.forward(h) : this.layer(l, h);
      if (h !== x) h.dispose();
      h = next;
    }
    return h;
  }

  decode(z: Tensor): Tensor {
    let h = z;
    for (const l of this.decoderLayers) h = this.layer(l, h);
    return this.xBarLayer.forward(h);
  }

  forward(x: Tensor): AutoencoderOutput {
    const { z, hidden } = this.encode(x);
    return { xBar: this.decode(z), z, hidden };
  }
}

/**
 * The Student-t clustering head of DEC and its successors: trainable centres μ (K × d), the soft assignment
 * q_ij ∝ (1 + ‖z_i − μ_j‖²/ν)^(−(ν+1)/2) (DEC eq. 1), and the self-training loss KL(P‖Q) (DEC eq. 2) against the
 * target distribution p_ij ∝ q_ij²/f_j (DEC eq. 3).
 */
export class StudentTHead extends Module {
  readonly mu: Tensor;
  constructor(readonly nClusters: number, readonly nZ: number, readonly nu = 1, options: { generator?: Generator; device?: Device; name?: string } = {}) {
    super();
    if (!(nu > 0)) throw new DgcError('DGC_ARG', `StudentTHead: ν must be > 0, got ${nu}`);
    // Xavier-normal as SDCN/AGCN/DFCN's code; overwritten by k-means centres before training.
    this.mu = this.registerParameter(options.name ?? 'cluster_layer',
      xavierNormal(options.generator ?? new Generator(0), [nClusters, nZ], nZ, nClusters, 1, options.device ?? 'cpu'));
  }

  /** Q (N × K), differentiable in z and μ. */
  softAssign(z: Tensor): Tensor {
    return ops.studentT(z, this.mu, this.nu);
  }

  /**
   * weight · KL(P‖Q(z)) (batchmean). At a full-batch refresh, one fused native call computes Q, P = target(Q)
   * (handed to the trainer, constant) and the loss; otherwise P is the trainer's current target.
   * Returns the loss and Q (constant; null when not computed).
   */
  selfTrainingKl(z: Tensor, ctx: TargetContext, weight: number): { loss: Tensor; q: Tensor | null } {
    if (ctx.refresh) {
      const r = ops.klStudentTSelf(z, this.mu, { nu: this.nu, weight });
      ctx.setTarget(r.p);
      return { loss: r.loss, q: r.q };
    }
    const p = ctx.target();
    if (!p) throw new DgcError('DGC_INTERNAL', 'StudentTHead.selfTrainingKl: no target distribution yet');
    return { loss: ops.klStudentT(z, this.mu, p, { nu: this.nu, weight }), q: null };
  }
}

/**
 * weight · KL(P‖softmax(logits)) with PyTorch's kl_div(log softmax, P, 'batchmean') semantics: (weight/N)·
 * Σ_ij p_ij (log p_ij − log softmax_ij), with 0·log 0 = 0. Its gradient is (weight/N)(softmax − P) (rows of P sum
 * to 1). Composed from logSoftmax on the tape: N × K is tiny next to the rest of a step, so a fused kernel would
 * not pay; the constant Σ p log p is computed once on the host.
 */
export function softmaxKl(logits: Tensor, p: Tensor, weight = 1): Tensor {
  const n = Math.max(1, logits.shape[0]);
  const pData = p.data() as Float32Array;
  let plogp = 0;
  for (let i = 0; i < pData.length; i++) if (pData[i] > 0) plogp += pData[i] * Math.log(pData[i]);
  const cross = ops.sum(ops.mul(p, ops.logSoftmax(logits)));
  return ops.affine(cross, -weight / n, (weight * plogp) / n);
}

// ---- the feature-only models (DEC, IDEC, CDC, DCCF) ------------------------------------------------------------

/** The input of a model that reads features alone: the scaled N × d matrix on the run's device, no graph. */
export interface FeatureInput extends ModelInput {
  x: Tensor;
  adj: null;
}

/** Rows of features times `inputScale` (1/255 for raw pixels), as a tensor on `device` (also predict()'s new rows). */
export function prepareFeatureRows(f: DenseMatrix, s: { inputScale: number }, device: Device): Tensor {
  return ops.tensor(s.inputScale === 1 ? f.data : f.data.map((v) => v * s.inputScale), [f.rows, f.cols], { device });
}

/** Features whose largest |value| after scaling is above this get a note (featureScaleNote). */
export const FEATURE_SCALE_NOTE_ABOVE = 20;

/**
 * A note for features far from unit size, or null. These models' defaults (and the papers' settings) assume features
 * of about unit size — the papers scale pixels to [0, 1] — and with raw pixels (up to 255) the reconstruction
 * error is ~10⁴ times larger: the SGD-trained ones (IDEC, CDC) diverge within a few steps. Said before training, so
 * the user need not wait for the NaN (whose error says the same).
 */
export function featureScaleNote(f: DenseMatrix, inputScale: number): string | null {
  let maxAbs = 0;
  for (let i = 0; i < f.data.length; i++) {
    const a = Math.abs(f.data[i]);
    if (a > maxAbs) maxAbs = a;
  }
  maxAbs *= inputScale;
  if (!(maxAbs > FEATURE_SCALE_NOTE_ABOVE)) return null;
  // inputScale / maxAbs to 3 significant digits, rounded down so that the suggested scale never overshoots 1.
  const exact = inputScale / maxAbs;
  const unit = 10 ** (2 - Math.floor(Math.log10(exact)));
  const suggest = Number((Math.floor(exact * unit) / unit).toPrecision(3));
  return `the features reach |x| = ${Number(maxAbs.toPrecision(4))}${inputScale !== 1 ? ` after × ${inputScale}` : ''}; ` +
    `this model's defaults assume features of about unit size (pixels scaled to [0, 1]), and SGD steps on ` +
    `features this large can diverge: inputScale ${suggest} (--input-scale ${suggest}) brings them to [-1, 1]`;
}

/** The scaled features (prepareFeatureRows) as the model's input; the cache key names the scale. */
export function prepareFeatureInput(data: ClusteringData, s: { inputScale: number }, device: Device): FeatureInput {
  const { cols } = data.features;
  const x = prepareFeatureRows(data.features, s, device);
  const scaleNote = featureScaleNote(data.features, s.inputScale);
  return {
    x, adj: null, labels: data.labels, nClusters: data.nClusters,
    key: `${dataKey(data)}-x${s.inputScale}`,
    notes: [`features: ${cols} columns${s.inputScale !== 1 ? ` × ${s.inputScale}` : ''}`, ...(scaleNote ? [scaleNote] : [])],
    timings: {},
    dispose() {
      x.dispose();
    },
  };
}

/**
 * An MLP autoencoder (ReLU, the given hidden widths) with a Student-t clustering head (ν = 1) on its embedding: the
 * network of DEC and of the models built on it. The autoencoder's initialisation and its pretraining shuffles come
 * from a generator derived from `gen` under `aeStream` (so a cached pretraining is the same run); the head's μ from
 * `gen` itself.
 */
export class AutoencoderWithHead extends Module {
  readonly ae: MlpAutoencoder;
  readonly head: StudentTHead;
  readonly aeGen: Generator;
  constructor(
    o: { nInput: number; hidden: readonly number[]; nZ: number; nClusters: number; init: LinearOptions['init'] },
    gen: Generator, aeStream: string, device: Device,
  ) {
    super();
    this.aeGen = gen.derive(aeStream);
    this.ae = this.registerModule('ae', new MlpAutoencoder({ nInput: o.nInput, hidden: o.hidden, nZ: o.nZ, activation: 'relu', init: o.init, generator: this.aeGen, device }));
    this.head = this.registerModule('head', new StudentTHead(o.nClusters, o.nZ, 1, { generator: gen, device, name: 'clustering' }));
  }

  /** The embedding of `x` and its soft assignment Q, not recorded (inference on the training rows or new ones). */
  embedAndAssign(x: Tensor): Inference {
    return noGrad(() => {
      const z = this.ae.embed(x);
      return { embedding: z, assignments: { q: this.head.softAssign(z) } };
    });
  }
}
