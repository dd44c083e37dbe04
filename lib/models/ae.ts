// The autoencoder of SDCN / AGCN (and the AE branch of their successors): d-500-500-2000-z, mirrored,
// ReLU after every layer but the embedding and the reconstruction. PyTorch Linear default init.
import { Module } from '../nn/module';
import { Linear } from '../nn/linear';
import { Generator } from '../random';
import { relu } from '../ops';
import { Device, Tensor } from '../tensor';

export interface AutoencoderOutput {
  /** Reconstruction X̂. */
  xBar: Tensor;
  /** Embedding Z (no activation). */
  z: Tensor;
  /** Encoder activations H1, H2, H3 (SDCN/AGCN feed them to the GCN branch). */
  hidden: Tensor[];
}

export class Autoencoder extends Module {
  readonly encoder: Linear[];
  readonly zLayer: Linear;
  readonly decoder: Linear[];
  readonly xBarLayer: Linear;

  constructor(nInput: number, nZ = 10, hidden: [number, number, number] = [500, 500, 2000], options: { generator?: Generator; device?: Device } = {}) {
    super();
    const gen = options.generator ?? new Generator(0);
    const o = { generator: gen, device: options.device };
    const dims = [nInput, ...hidden];
    this.encoder = [0, 1, 2].map((i) => this.registerModule(`enc_${i + 1}`, new Linear(dims[i], dims[i + 1], o)));
    this.zLayer = this.registerModule('z_layer', new Linear(hidden[2], nZ, o));
    const back = [nZ, hidden[2], hidden[1], hidden[0]];
    this.decoder = [0, 1, 2].map((i) => this.registerModule(`dec_${i + 1}`, new Linear(back[i], back[i + 1], o)));
    this.xBarLayer = this.registerModule('x_bar_layer', new Linear(hidden[0], nInput, o));
  }

  forward(x: Tensor): AutoencoderOutput {
    const hiddenActs: Tensor[] = [];
    let h = x;
    for (const layer of this.encoder) {
      h = relu(layer.forward(h));
      hiddenActs.push(h);
    }
    const z = this.zLayer.forward(h);
    let d = z;
    for (const layer of this.decoder) d = relu(layer.forward(d));
    return { xBar: this.xBarLayer.forward(d), z, hidden: hiddenActs };
  }
}
