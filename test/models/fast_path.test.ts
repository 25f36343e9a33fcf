// The fast CPU path end to end: one training step of small ResNets in float32 runs its convs,
// BatchNorms, ReLUs, residual adds, pooling and the classifier's matmul on the WASM variants
// (traced, so this fails if a float32 call silently stays on the TypeScript kernels), and agrees
// with the same step in float64 on the TypeScript kernels, at 1 and 2 threads.
//
// Tolerance: float32 (WASM, float32 accumulation) against float64. Losses agree to ~1e-6; each
// parameter gradient is compared relative to its own largest entry, 2e-3: BatchNorm backward
// divides by batch statistics of 2 images per channel in the last stage, which amplifies float32
// rounding (measured worst here ~3e-4).
import { afterAll, describe, expect, it } from 'vitest';
import { traceVariants } from '../../core/cpu/registry.js';
import { wasmAvailable } from '../../core/cpu/wasm.js';
import { getNumThreads, setNumThreads } from '../../kernels/wasm/runtime.js';
import { F, type Tensor, manualSeed, models, nn, randint, randn } from '../../index.js';
import { Bottleneck } from '../../models/resnet.js';

type Net = nn.Module & { forward(x: Tensor): Tensor };

/** A ResNeXt stage in miniature: stem, max pool, a grouped bottleneck (8 groups of 4) with projection, head. */
function tinyResNeXt(): Net {
  const downsample = new nn.Sequential(new nn.Conv2d(16, 64, 1, { stride: 2, bias: false }), new nn.BatchNorm2d(64));
  return new nn.Sequential(
    new nn.Conv2d(3, 16, 3, { padding: 1, bias: false }),
    new nn.BatchNorm2d(16),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new Bottleneck(16, 16, { stride: 2, groups: 8, baseWidth: 16, downsample }),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(64, 10),
  ) as unknown as Net;
}

function step(model: Net, x: Tensor, y: Tensor): { loss: number; grads: Map<string, Float64Array> } {
  for (const p of model.parameters()) p.grad = null;
  const loss = F.crossEntropy(model.forward(x) as Tensor, y);
  loss.backward();
  const grads = new Map<string, Float64Array>();
  for (const [name, p] of model.namedParameters()) grads.set(name, Float64Array.from(p.grad?.toArray() ?? []));
  return { loss: loss.toArray()[0] as number, grads };
}

const WASM_KERNELS = ['conv2d', 'conv2dBackwardInput', 'conv2dBackwardWeight', 'normForward', 'normBackward', 'unary', 'binary', 'matmul', 'adaptiveAvgPool2d'] as const;

describe('a float32 training step takes the WASM path and matches float64', () => {
  const before = getNumThreads();
  afterAll(() => setNumThreads(before));
  it('the WASM runtime loads on this machine (SIMD and shared memory)', () => {
    expect(wasmAvailable()).toBe(true);
  });
  for (const threads of [1, 2]) {
    for (const [label, make, shape, kernels] of [
      // the CIFAR net runs no relu of its own: each rides on a BatchNorm kernel or a residual add (nn/fuse.ts)
      ['cifarResNet(8) x=[4,3,16,16]', () => models.cifarResNet(8) as unknown as Net, [4, 3, 16, 16], WASM_KERNELS.filter((k) => k !== 'unary')],
      ['ResNeXt bottleneck g=8 x=[4,3,16,16]', tinyResNeXt, [4, 3, 16, 16], [...WASM_KERNELS, 'maxPool2d', 'maxPool2dBackward']],
    ] as const) {
      it(`${label} threads=${threads}`, () => {
        setNumThreads(threads);
        manualSeed(3);
        const model = make().train();
        const x = randn(shape);
        const y = randint(0, 10, [shape[0] as number]);
        const want = step(model.double(), x.double(), y);
        const fast = model.float();
        const { result: got, used } = traceVariants(() => step(fast, x, y));
        for (const k of kernels) {
          const names = [...(used.get(k) ?? [])];
          expect(names.some((n) => n.startsWith('wasm')), `${k} ran ${names.join(', ')}`).toBe(true);
        }
        expect(Math.abs(got.loss - want.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want.loss)));
        for (const [name, g] of want.grads) {
          const h = got.grads.get(name) as Float64Array;
          let scale = 0;
          let worst = 0;
          for (let i = 0; i < g.length; i++) scale = Math.max(scale, Math.abs(g[i] as number));
          for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs((h[i] as number) - (g[i] as number)));
          expect(worst, `${name}: worst |Δgrad| ${worst} of scale ${scale}`).toBeLessThanOrEqual(2e-3 * scale + 1e-7);
        }
      });
    }
  }
});
