// Parameter lists of the benchmarked models, with the official checkpoints' names and layouts, so one set of
// weights (drawn once, seeded) is loaded into every implementation: dgclust, tfjs and PyTorch then train the
// same model from the same state.
//
// DFCN (the official WxTu/DFCN code's AE.py, IGAE.py, DFCN.py and checkpoint names): Linear weights are [out, in]
// (torch layout), IGAE weights [in, out] ('in-out' layout of ACM/USPS/CITE), μ = cluster_layer [K, 20], β = gamma [1].
// SDCN (bdy9527/SDCN names): AE d-500-500-2000-10 ([out, in]), GNN layers d-500-500-2000-10-K ([in, out]), μ.
import * as dg from '../../lib';

export interface ParamSpec {
  name: string;
  shape: number[];
  /** U(−a, a), N(0, std²) or a constant. */
  init: { uniform: number } | { normal: number } | { value: number };
}

const linear = (prefix: string, inF: number, outF: number): ParamSpec[] => [
  { name: `${prefix}.weight`, shape: [outF, inF], init: { uniform: 1 / Math.sqrt(inF) } },
  { name: `${prefix}.bias`, shape: [outF], init: { uniform: 1 / Math.sqrt(inF) } },
];
const xavier = (name: string, inF: number, outF: number): ParamSpec => ({ name, shape: [inF, outF], init: { uniform: Math.sqrt(6 / (inF + outF)) } });

/** DFCN with IGAE layout 'in-out' (ACM's preset). β starts at 0.02, inside the range of the official checkpoints. */
export function dfcnParamSpecs(nInput: number, nClusters: number, nZ = 20): ParamSpec[] {
  return [
    ...linear('ae.encoder.enc_1', nInput, 128),
    ...linear('ae.encoder.enc_2', 128, 256),
    ...linear('ae.encoder.enc_3', 256, 512),
    ...linear('ae.encoder.z_layer', 512, nZ),
    ...linear('ae.decoder.dec_1', nZ, 512),
    ...linear('ae.decoder.dec_2', 512, 256),
    ...linear('ae.decoder.dec_3', 256, 128),
    ...linear('ae.decoder.x_bar_layer', 128, nInput),
    xavier('gae.encoder.gnn_1.weight', nInput, 128),
    xavier('gae.encoder.gnn_2.weight', 128, 256),
    xavier('gae.encoder.gnn_3.weight', 256, nZ),
    xavier('gae.decoder.gnn_4.weight', nZ, 256),
    xavier('gae.decoder.gnn_5.weight', 256, 128),
    xavier('gae.decoder.gnn_6.weight', 128, nInput),
    { name: 'cluster_layer', shape: [nClusters, nZ], init: { normal: 0.5 } },
    { name: 'gamma', shape: [1], init: { value: 0.02 } },
  ];
}

/** SDCN: AE d-500-500-2000-z and the GCN branch d-500-500-2000-z-K (hidden sizes configurable for tests). */
export function sdcnParamSpecs(nInput: number, nClusters: number, nZ = 10, hidden: [number, number, number] = [500, 500, 2000]): ParamSpec[] {
  const [h1, h2, h3] = hidden;
  return [
    ...linear('ae.enc_1', nInput, h1),
    ...linear('ae.enc_2', h1, h2),
    ...linear('ae.enc_3', h2, h3),
    ...linear('ae.z_layer', h3, nZ),
    ...linear('ae.dec_1', nZ, h3),
    ...linear('ae.dec_2', h3, h2),
    ...linear('ae.dec_3', h2, h1),
    ...linear('ae.x_bar_layer', h1, nInput),
    xavier('gnn_1.weight', nInput, h1),
    xavier('gnn_2.weight', h1, h2),
    xavier('gnn_3.weight', h2, h3),
    xavier('gnn_4.weight', h3, nZ),
    xavier('gnn_5.weight', nZ, nClusters),
    { name: 'cluster_layer', shape: [nClusters, nZ], init: { normal: 0.5 } },
  ];
}

export type WeightMap = Map<string, { data: Float32Array; shape: number[] }>;

/** Draws the weights of a parameter list (seeded, Philox through dgclust's Generator). */
export function drawWeights(specs: ParamSpec[], seed: number): WeightMap {
  const gen = new dg.Generator(seed);
  const out: WeightMap = new Map();
  for (const s of specs) {
    const t = 'uniform' in s.init
      ? gen.uniform(s.shape, -s.init.uniform, s.init.uniform)
      : 'normal' in s.init
        ? gen.normal(s.shape, 0, s.init.normal)
        : dg.full(s.shape, s.init.value);
    out.set(s.name, { data: t.data() as Float32Array, shape: s.shape.slice() });
    t.dispose();
  }
  return out;
}

/** Row-major transpose of a 2-D array (tfjs keeps Linear kernels [in, out], as tf.layers.dense does). */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = data[i * cols + j];
  return out;
}
