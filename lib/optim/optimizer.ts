// Optimizers update parameters in place from their .grad, with one fused native kernel per parameter.
import { Tensor, keep } from '../tensor';
import { zeroGrad } from '../autograd/tape';
import { native } from '../native';
import { DgcError } from '../tensor';

export abstract class Optimizer {
  protected readonly params: Tensor[];

  constructor(params: Iterable<Tensor>) {
    this.params = [...params];
    for (const p of this.params) {
      if (!p.requiresGrad) throw new DgcError('DGC_ARG', `optimizer: ${p} does not require grad (use parameter())`);
    }
  }

  /** Applies one update from the current gradients (parameters without a gradient are skipped). */
  abstract step(): void;

  /** Frees the gradients. */
  zeroGrad(): void {
    zeroGrad(this.params);
  }

  /** Frees the optimizer's state tensors. */
  abstract dispose(): void;
}

/** A zero tensor shaped like p that survives tidy(). */
export function stateLike(p: Tensor): Tensor {
  return keep(new Tensor(native.full(p.shape.slice(), 0, 'float32', p.device)));
}
