// Graph convolution over a sparse (normalized) adjacency Â.
//   order 'propagate-activate':  act(Â H W)   (GCN paper, SDCN / AGCN code)
//   order 'activate-propagate':  Â act(H W)   (DFCN's IGAE code: activation before propagation)
// H W is computed first: with out ≤ in it is the cheaper association, and Â is applied to the narrow side.
import { Module } from './module';
import { Generator, xavierUniform } from '../random';
import { biasAdd, matmul } from '../ops';
import { Device, Tensor } from '../tensor';
import { SparseMatrix } from '../sparse';

export type Activation = (x: Tensor) => Tensor;

export interface GraphConvOptions {
  activation?: Activation | null;
  order?: 'propagate-activate' | 'activate-propagate';
  bias?: boolean;
  generator?: Generator;
  device?: Device;
}

export class GraphConv extends Module {
  /** [in, out], Xavier-uniform, as the papers' code stores it. */
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly activation: Activation | null;
  readonly order: 'propagate-activate' | 'activate-propagate';

  constructor(readonly inFeatures: number, readonly outFeatures: number, options: GraphConvOptions = {}) {
    super();
    const gen = options.generator ?? new Generator(0);
    const device = options.device ?? 'cpu';
    this.weight = this.registerParameter('weight', xavierUniform(gen, [inFeatures, outFeatures], inFeatures, outFeatures, 1, device));
    this.bias = options.bias ? this.registerParameter('bias', gen.uniform([outFeatures], 0, 0, device)) : null;
    this.activation = options.activation ?? null;
    this.order = options.order ?? 'propagate-activate';
  }

  forward(h: Tensor, adj: SparseMatrix): Tensor {
    let support = matmul(h, this.weight);
    if (this.bias) support = biasAdd(support, this.bias);
    if (this.order === 'activate-propagate') {
      const act = this.activation ? this.activation(support) : support;
      return adj.matmul(act);
    }
    const propagated = adj.matmul(support);
    return this.activation ? this.activation(propagated) : propagated;
  }
}
