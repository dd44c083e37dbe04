// Autoencoder pretraining, as SDCN's data/pretrain.py: Adam, shuffled mini-batches, MSE(X̂, X).
import { Autoencoder } from '../models/ae';
import { Adam } from '../optim/adam';
import { backward, noGrad } from '../autograd/tape';
import { gatherRows, mse, tensor } from '../ops';
import { Generator } from '../random';
import { Tensor, tidy } from '../tensor';

export interface PretrainOptions {
  epochs?: number;
  lr?: number;
  batchSize?: number;
  generator?: Generator;
  /** Called after every epoch with the mean training loss and the full-data reconstruction loss. */
  onEpoch?: (e: { epoch: number; epochs: number; batchLoss: number; fullLoss: number; ms: number }) => void;
}

export interface PretrainResult {
  /** Full-data MSE before training and after each epoch (index 0 = before). */
  fullLoss: number[];
  ms: number;
}

/** MSE of the reconstruction of all of x (no graph recorded). */
export function reconstructionLoss(ae: Autoencoder, x: Tensor): number {
  return noGrad(() => tidy(() => mse(ae.forward(x).xBar, x).item()));
}

export function pretrainAutoencoder(ae: Autoencoder, x: Tensor, options: PretrainOptions = {}): PretrainResult {
  const epochs = options.epochs ?? 30;
  const batchSize = options.batchSize ?? 256;
  const gen = options.generator ?? new Generator(0);
  const opt = new Adam(ae.parameters(), { lr: options.lr ?? 1e-3 });
  const n = x.shape[0];
  const fullLoss = [reconstructionLoss(ae, x)];
  const t0 = Date.now();
  try {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const te = Date.now();
      const order = gen.permutation(n);
      let sum = 0;
      let batches = 0;
      for (let start = 0; start < n; start += batchSize) {
        const loss = tidy(() => {
          const idx = tensor(order.subarray(start, Math.min(n, start + batchSize)), undefined, { device: x.device });
          const xb = gatherRows(x, idx);
          const l = mse(ae.forward(xb).xBar, xb);
          backward(l, undefined, { freeIntermediates: true });
          opt.step();
          opt.zeroGrad();
          return l.item();
        });
        sum += loss;
        batches++;
      }
      fullLoss.push(reconstructionLoss(ae, x));
      options.onEpoch?.({ epoch, epochs, batchLoss: sum / batches, fullLoss: fullLoss[epoch], ms: Date.now() - te });
    }
  } finally {
    opt.dispose();
  }
  return { fullLoss, ms: Date.now() - t0 };
}
