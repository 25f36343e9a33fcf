// A whole training step on the gpu equals the same step on the cpu: a small CNN
// (Conv2d → BatchNorm2d → ReLU → AdaptiveAvgPool2d → Flatten → Linear) with crossEntropy and
// optim.SGD (momentum, weight decay), two steps (the first creates the momentum buffers, the
// second updates them). Compared after the steps: every parameter, BatchNorm's running
// statistics, and the losses. This exercises every gpu kernel family a ResNet training step
// needs: conv (forward, dx, dw, db), norm (forward, backward), pool, matmul, softmax, gather,
// reduce and the elementwise ones. It runs twice: with synchronous kernels, and with
// asyncMode (every buffer a promise, as on WebGPU), where nothing may read the device early.
//
// Tolerance: a parameter after the steps is p₀ − lr·(update). The update's float32 error comes
// from gradient sums (conv dw sums N·H·W = 4·8·8 products per weight) in a different order,
// about 2⁻²⁴·√L of the sum of |terms|, while a wrong kernel moves it by the size of the update
// itself. So each tensor is checked elementwise against 1e-5·(|p| + 10·max|Δp|): the update
// measured on the cpu, with 10× room for cancellation inside the gradient sums (|Σ| ≪ Σ|·|);
// the run here passes with 1× as well.
import { beforeAll, describe, expect, it } from 'vitest';
import { F, type Tensor, abs, add, full, initGpu, manualSeed, max, nn, optim, randint, randn, sub } from '../../index.js';
import { expectGpuMatches } from './helpers.js';

beforeAll(async () => {
  expect((await initGpu({ mode: 'headlessgl' })).mode).toBe('headlessgl');
});

function smallCnn(): nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(3, 6, 3, { padding: 1 }),
    new nn.BatchNorm2d(6),
    new nn.ReLU(),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(6, 5),
  );
}

/** Two SGD steps on `model` (already on its device); returns the two losses. */
async function train(model: nn.Sequential, x: Tensor, target: Tensor): Promise<number[]> {
  const opt = new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-3 });
  const losses: number[] = [];
  for (let step = 0; step < 2; step++) {
    opt.zeroGrad();
    const loss = F.crossEntropy(model.forward(x), target);
    loss.backward();
    opt.step();
    losses.push((await loss.data())[0] as number);
  }
  return losses;
}

describe('training step gpu == cpu', () => {
  it.each([false, true])('Conv2d(3,6,3,p=1)+BatchNorm2d+ReLU+AdaptiveAvgPool2d(1)+Linear(6,5) x=[4,3,8,8], crossEntropy, SGD momentum, 2 steps, asyncMode=%s', async (asyncMode) => {
    const backend = await initGpu({ mode: 'headlessgl', asyncMode });
    expect(backend.asyncMode).toBe(asyncMode);
    manualSeed(300);
    const cpuModel = smallCnn();
    const gpuModel = smallCnn();
    gpuModel.loadStateDict(cpuModel.stateDict());
    const before = Object.fromEntries(Object.entries(cpuModel.stateDict()).map(([k, t]) => [k, t.clone()]));
    gpuModel.to('gpu');
    cpuModel.train();
    gpuModel.train();
    const x = randn([4, 3, 8, 8]);
    const target = randint(0, 5, [4]);

    const cpuLosses = await train(cpuModel, x, target);
    const gpuLosses = await train(gpuModel, x.to('gpu'), target.to('gpu'));

    for (const [a, b] of gpuLosses.map((l, i) => [l, cpuLosses[i] as number])) expect(Math.abs(a! - b!)).toBeLessThan(1e-5 * Math.abs(b!) + 1e-6);
    const want = cpuModel.stateDict();
    const got = gpuModel.stateDict();
    expect(Object.keys(got)).toEqual(Object.keys(want));
    for (const [key, w] of Object.entries(want)) {
      const g = got[key]!;
      expect(g.device, key).toBe('gpu');
      if (w.dtype === 'int32') {
        expect([...(await g.data())], key).toEqual([...w.toArray()]); // num_batches_tracked
        continue;
      }
      const step = max(abs(sub(w, before[key]!))).item();
      expect(step, `${key} moved`).toBeGreaterThan(0);
      await expectGpuMatches(g, w, key, add(abs(w), full(w.shape, 10 * step)));
    }
  });
});
