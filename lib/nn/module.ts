// Module: a named tree of parameters, with a state dict for saving and loading.
import { native } from '../native';
import { DgcError, Tensor, keep } from '../tensor';

/** Makes t a trainable parameter: kept (survives tidy) and requiring grad. */
export function parameter(t: Tensor): Tensor {
  keep(t);
  t.requiresGrad = true;
  return t;
}

export abstract class Module {
  private readonly ownParams = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  protected registerParameter(name: string, t: Tensor): Tensor {
    if (this.ownParams.has(name) || this.children.has(name)) {
      throw new DgcError('DGC_ARG', `registerParameter: '${name}' is already registered`);
    }
    this.ownParams.set(name, parameter(t));
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    if (this.ownParams.has(name) || this.children.has(name)) {
      throw new DgcError('DGC_ARG', `registerModule: '${name}' is already registered`);
    }
    this.children.set(name, m);
    return m;
  }

  /** Parameters with dotted names ("encoder.0.weight"), in registration order. */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this.ownParams) out.push([prefix + n, p]);
    for (const [n, m] of this.children) out.push(...m.namedParameters(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Number of trainable scalars. */
  parameterCount(): number {
    return this.parameters().reduce((s, p) => s + p.size, 0);
  }

  /** name → parameter (the live tensors, not copies). */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters());
  }

  /**
   * Copies values from `state` into the parameters. Shapes must match; with `strict` (default), the names
   * must match exactly too. The error names the parameter at fault.
   */
  loadStateDict(state: Map<string, Tensor>, options: { strict?: boolean } = {}): void {
    const strict = options.strict ?? true;
    const own = this.stateDict();
    if (strict) {
      const missing = [...own.keys()].filter((k) => !state.has(k));
      const unexpected = [...state.keys()].filter((k) => !own.has(k));
      if (missing.length || unexpected.length) {
        throw new DgcError(
          'DGC_DATA',
          `loadStateDict: missing parameters [${missing.join(', ')}], unexpected [${unexpected.join(', ')}]`,
        );
      }
    }
    for (const [name, p] of own) {
      const src = state.get(name);
      if (!src) continue;
      if (src.dtype !== p.dtype) {
        throw new DgcError('DGC_DTYPE', `loadStateDict: '${name}' is ${src.dtype} in the state but ${p.dtype} in the module`);
      }
      if (src.shape.join() !== p.shape.join()) {
        throw new DgcError('DGC_SHAPE', `loadStateDict: '${name}' has shape [${src.shape}] in the state but [${p.shape}] in the module`);
      }
      native.copyInto(p.handle, src.handle);
    }
  }

  /** Frees every parameter (and its gradient). */
  dispose(): void {
    for (const p of this.parameters()) p.dispose();
  }
}
