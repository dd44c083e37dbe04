// Stochastic gradient descent with optional momentum and L2 weight decay (torch.optim.SGD's arithmetic).
import { Optimizer, stateLike } from './optimizer';
import { native } from '../native';
import { DgcError, Tensor } from '../tensor';

export interface SgdOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
}

export class SGD extends Optimizer {
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  private readonly velocity = new Map<Tensor, Tensor>();

  constructor(params: Iterable<Tensor>, options: SgdOptions) {
    super(params);
    this.lr = options.lr;
    this.momentum = options.momentum ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    if (!(this.lr >= 0)) throw new DgcError('DGC_VALUE', `SGD: lr must be >= 0, got ${this.lr}`);
  }

  step(): void {
    for (const p of this.params) {
      if (!p.grad) continue;
      let v: Tensor | null = null;
      if (this.momentum > 0) {
        v = this.velocity.get(p) ?? null;
        if (!v) {
          v = stateLike(p);
          this.velocity.set(p, v);
        }
      }
      native.sgdStep(p.handle, p.grad.handle, v ? v.handle : null, this.lr, this.momentum, this.weightDecay);
    }
  }

  exportState(): { tensors: Map<string, Tensor>; meta: Record<string, unknown> } {
    const tensors = new Map<string, Tensor>();
    for (const [p, v] of this.velocity) tensors.set(`${this.paramIndex(p)}/velocity`, v);
    return { tensors, meta: { kind: 'sgd' } };
  }

  importState(tensors: Map<string, Tensor>, meta: Record<string, unknown>): void {
    if (meta.kind !== 'sgd') throw new DgcError('DGC_DATA', `optimizer state: saved for '${String(meta.kind)}', this is SGD`);
    this.dispose();
    for (const key of tensors.keys()) {
      const i = Number(key.split('/')[0]);
      this.velocity.set(this.params[i] ?? (null as never), this.restoreLike(i, tensors.get(key), 'SGD velocity'));
    }
  }

  dispose(): void {
    for (const v of this.velocity.values()) v.dispose();
    this.velocity.clear();
  }
}
