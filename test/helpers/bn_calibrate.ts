// Seeded, non-trivial BatchNorm parameters and running statistics for tests that compare a
// model's eval logits with another runtime's (onnxruntime, PyTorch).
import { type Tensor, nn, noGrad, rand, randn } from '../../index.js';

type Net = nn.Module & { forward(x: Tensor): Tensor };

/**
 * γ ~ U(0.5, 1.5), β ~ N(0, 0.1²), and running statistics set from each norm's actual input in
 * one eval pass (pre-hooks, in forward order), with m2 = E[z²] per channel:
 *   running_mean = 0.2·√m2·N(0, 1),  running_var = m2·U(0.5, 1.5) + ½·mean over channels of m2.
 * Far from the identity, yet the activations keep their scale down to the 150-layer nets. Two
 * choices keep the logits a well-conditioned function of the weights, so float32 rounding
 * differences stay ~1e-5 of the logits: no data mean is subtracted (with 1×1 maps and a batch of
 * 2, x − mean cancels to a tiny difference that the next BN blows up), and the variance has a
 * floor (a channel that is (nearly) zero on this batch would otherwise be scaled by ~1/√ε).
 * Returns that pass's logits: the calibrated model's eval logits for x.
 */
export function calibrate(model: Net, x: Tensor): Tensor {
  const handles: { remove(): void }[] = [];
  for (const m of model.modules()) {
    if (!(m instanceof nn.BatchNorm2d)) continue;
    const c = m.numFeatures;
    noGrad(() => {
      m.weight?.assign(rand([c]).add(0.5));
      m.bias?.assign(randn([c]).mul(0.1));
    });
    handles.push(
      m.registerForwardPreHook((_m, inputs) => {
        const z = inputs[0] as Tensor;
        noGrad(() => {
          const m2 = z.square().mean([0, 2, 3]);
          m.running_mean?.assign(randn([c]).mul(m2.sqrt()).mul(0.2));
          m.running_var?.assign(m2.mul(rand([c]).add(0.5)).add(m2.mean().mul(0.5)));
        });
        return undefined;
      }),
    );
  }
  model.eval();
  const logits = noGrad(() => model.forward(x));
  for (const h of handles) h.remove();
  return logits;
}

