// Adam (Kingma & Ba), with torch.optim.Adam's arithmetic and per-parameter step counts; AdamW when decoupled.
import { Optimizer, stateLike } from './optimizer';
import { native } from '../native';
import { DgcError, Tensor } from '../tensor';

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** Decoupled weight decay (AdamW). Default false: L2 added to the gradient, as torch.optim.Adam. */
  decoupled?: boolean;
}

export class Adam extends Optimizer {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly decoupled: boolean;
  private readonly state = new Map<Tensor, { m: Tensor; v: Tensor; step: number }>();

  constructor(params: Iterable<Tensor>, options: AdamOptions = {}) {
    super(params);
    this.lr = options.lr ?? 1e-3;
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
    this.decoupled = options.decoupled ?? false;
    if (!(this.lr >= 0)) throw new DgcError('DGC_VALUE', `Adam: lr must be >= 0, got ${this.lr}`);
  }

  step(): void {
    for (const p of this.params) {
      if (!p.grad) continue;
      let s = this.state.get(p);
      if (!s) {
        s = { m: stateLike(p), v: stateLike(p), step: 0 };
        this.state.set(p, s);
      }
      s.step += 1;
      native.adamStep(p.handle, p.grad.handle, s.m.handle, s.v.handle, {
        lr: this.lr,
        beta1: this.beta1,
        beta2: this.beta2,
        eps: this.eps,
        weightDecay: this.weightDecay,
        step: s.step,
        decoupled: this.decoupled,
      });
    }
  }

  exportState(): { tensors: Map<string, Tensor>; meta: Record<string, unknown> } {
    const tensors = new Map<string, Tensor>();
    const steps: Record<string, number> = {};
    for (const [p, s] of this.state) {
      const i = this.paramIndex(p);
      tensors.set(`${i}/m`, s.m);
      tensors.set(`${i}/v`, s.v);
      steps[i] = s.step;
    }
    return { tensors, meta: { kind: 'adam', steps } };
  }

  importState(tensors: Map<string, Tensor>, meta: Record<string, unknown>): void {
    if (meta.kind !== 'adam') throw new DgcError('DGC_DATA', `optimizer state: saved for '${String(meta.kind)}', this is Adam`);
    this.dispose();
    for (const [key, step] of Object.entries((meta.steps ?? {}) as Record<string, number>)) {
      const i = Number(key);
      if (!Number.isInteger(step) || step < 0) throw new DgcError('DGC_DATA', `optimizer state: step count of parameter ${key} is ${step}`);
      const m = this.restoreLike(i, tensors.get(`${i}/m`), 'Adam m');
      const v = this.restoreLike(i, tensors.get(`${i}/v`), 'Adam v');
      this.state.set(this.params[i], { m, v, step });
    }
  }

  dispose(): void {
    for (const s of this.state.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.state.clear();
  }
}
