// Linear layer y = x Wᵀ + b, with W stored [out, in] as PyTorch stores it (checkpoints load as they are).
import { Module } from './module';
import { Generator, linearDefault, xavierUniform } from '../random';
import { linear } from '../ops';
import type { ActivationName } from '../ops';
import { Device, Tensor } from '../tensor';

export interface LinearOptions {
  bias?: boolean;
  /**
   * 'pytorch': nn.Linear's default U(±1/√in) for W and b; 'xavier': Xavier-uniform W, zero b (Keras's
   * glorot_uniform); 'variance-scaling': U(±1/√in) W, zero b (Keras's VarianceScaling(1/3, 'fan_in', 'uniform'),
   * DEC's init for MNIST).
   */
  init?: 'pytorch' | 'xavier' | 'variance-scaling';
  generator?: Generator;
  device?: Device;
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, options: LinearOptions = {}) {
    super();
    const gen = options.generator ?? new Generator(0);
    const device = options.device ?? 'cpu';
    const w = options.init === 'xavier'
      ? xavierUniform(gen, [outFeatures, inFeatures], inFeatures, outFeatures, 1, device)
      : linearDefault(gen, [outFeatures, inFeatures], inFeatures, device);
    this.weight = this.registerParameter('weight', w);
    if (options.bias ?? true) {
      const b = options.init === 'xavier' || options.init === 'variance-scaling'
        ? gen.uniform([outFeatures], 0, 0, device)
        : linearDefault(gen, [outFeatures], inFeatures, device);
      this.bias = this.registerParameter('bias', b);
    } else {
      this.bias = null;
    }
  }

  /**
   * x Wᵀ + b, and the activation if one is given, in one native op (the bias and activation are fused into the
   * product: the same values as matmul, biasAdd and the activation op without their intermediate tensors).
   */
  forward(x: Tensor, activation: ActivationName = 'none', slope?: number): Tensor {
    return linear(x, this.weight, this.bias, { transB: true, activation, slope });
  }
}
