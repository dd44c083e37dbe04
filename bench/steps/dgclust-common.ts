// What the dgclust training steps share once their model is built: the Adam update and the gradient read-out
// that every StepModel offers. Only the forward loss and the parameter names differ between models.
import * as dg from '../../lib';
import type { StepModel } from './types';

interface TrainableModel {
  namedParameters(): [string, dg.Tensor][];
  dispose(): void;
}

/**
 * A StepModel around a built model and its optimiser. `officialName` maps the library's parameter names to the
 * official ones the other implementations report gradients by; `disposeInputs` frees what the step built
 * besides the model and the optimiser (features, adjacency).
 */
export function adamStepModel(model: TrainableModel, opt: dg.Adam, forwardLoss: () => dg.Tensor,
                              officialName: (name: string) => string, disposeInputs: () => void): StepModel {
  return {
    step: () =>
      dg.tidy(() => {
        const loss = forwardLoss();
        const value = loss.item();
        dg.backward(loss, undefined, { freeIntermediates: true }); // as the trainer does
        opt.step();
        opt.zeroGrad();
        return value;
      }),
    lossAndGrads: () =>
      dg.tidy(() => {
        const loss = forwardLoss();
        const value = loss.item();
        dg.backward(loss, undefined, { freeIntermediates: true }); // as the trainer does
        const grads = new Map<string, Float32Array>();
        for (const [name, p] of model.namedParameters()) grads.set(officialName(name), p.grad ? p.grad.dataF32() : new Float32Array(p.size));
        opt.zeroGrad();
        return { loss: value, grads };
      }),
    dispose: () => {
      opt.dispose();
      model.dispose();
      disposeInputs();
    },
  };
}
