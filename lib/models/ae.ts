// SDCN's autoencoder (d-500-500-2000-10, ReLU, PyTorch's default init, SDCN's parameter names), the AE branch
// of SDCN / AGCN / CaEGCN and the network of DEC / IDEC: the shared MlpAutoencoder with these settings.
import { MlpAutoencoder } from './blocks';
import type { AutoencoderOutput } from './blocks';
import { Generator } from '../random';
import type { Device } from '../tensor';

export type { AutoencoderOutput };

export class Autoencoder extends MlpAutoencoder {
  constructor(nInput: number, nZ = 10, hidden: readonly number[] = [500, 500, 2000], options: { generator?: Generator; device?: Device } = {}) {
    super({ nInput, hidden, nZ, activation: 'relu', names: 'flat', generator: options.generator, device: options.device });
  }
}
