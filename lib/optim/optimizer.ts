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

  /**
   * The optimizer's state for a checkpoint: tensors named by parameter index (copies of the live state) and
   * JSON-able numbers (step counts). importState() restores it into an optimizer over the same parameters.
   */
  abstract exportState(): { tensors: Map<string, Tensor>; meta: Record<string, unknown> };
  abstract importState(tensors: Map<string, Tensor>, meta: Record<string, unknown>): void;

  protected paramIndex(p: Tensor): number {
    return this.params.indexOf(p);
  }

  /** A kept copy of `src` shaped like parameter `i` (refuses a shape mismatch, naming the entry). */
  protected restoreLike(i: number, src: Tensor | undefined, what: string): Tensor {
    const p = this.params[i];
    if (!p) throw new DgcError('DGC_DATA', `optimizer state: ${what} names parameter ${i}, but the optimizer has ${this.params.length}`);
    if (!src) throw new DgcError('DGC_DATA', `optimizer state: ${what} of parameter ${i} is missing`);
    if (src.shape.join() !== p.shape.join()) throw new DgcError('DGC_DATA', `optimizer state: ${what} of parameter ${i} is [${src.shape}], the parameter is [${p.shape}]`);
    const t = stateLike(p);
    native.copyInto(t.handle, src.handle);
    return t;
  }
}

/** A zero tensor shaped like p that survives tidy(). */
export function stateLike(p: Tensor): Tensor {
  return keep(new Tensor(native.full(p.shape.slice(), 0, 'float32', p.device)));
}
