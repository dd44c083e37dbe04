// Graph convolution over a sparse (normalized) adjacency Â.
//   order 'propagate-activate':  act(Â H W)   (GCN paper, SDCN / AGCN code)
//   order 'activate-propagate':  Â act(H W)   (DFCN's IGAE code: activation before propagation)
// H W is computed first: with out ≤ in it is the cheaper association, and Â is applied to the narrow side.
import { Module } from './module';
import { Generator, xavierUniform } from '../random';
import { linear, matmul, relu, spmm } from '../ops';
import { freeValues } from '../autograd/tape';
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
    const support = this.bias ? linear(h, this.weight, this.bias) : matmul(h, this.weight);
    if (this.order === 'activate-propagate') {
      const act = this.activation ? this.activation(support) : support;
      return adj.matmul(act);
    }
    // ReLU runs in the SpMM's pass (the same values as relu(Â·S)); its gradient comes from the output.
    const out = this.activation === relu ? spmm(adj, support, false, { activation: 'relu' }) : adj.matmul(support);
    const result = this.activation && this.activation !== relu ? this.activation(out) : out;
    // No backward reads S = H·W (SpMM's needs Â, the product's H and W): free it now rather than at the end of
    // the step — a GCN layer then holds only its output, as PyTorch's autograd does.
    freeValues(support);
    return result;
  }
}
