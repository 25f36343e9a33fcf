// GPU-vs-CPU for the norm kernels (normForward / normApply / normBackward), through the public
// ops: F.batchNorm (train, with the running statistics updated in place, and eval),
// F.layerNorm, F.instanceNorm, F.groupNorm — outputs and the gradients of x, weight and bias.
// Every case runs from the same host inputs on the cpu (expected) and on gpu.js headlessgl.
//
// Tolerances (see also test/gpu/helpers.ts): the statistics are float32 sums on both sides
// (the CPU sums in doubles and rounds once, the GPU sums in two float32 levels), so
// - y = (x − μ)·r·γ + β is off by about 2⁻²⁴·(|x̂| + 1)·(a few √m), checked as
//   |Δy| ≤ 1e-5·(|y| + |γ| + |β| + 1);
// - gx = r·(γ·gy − A/m − x̂·B/m) is a difference of O(r·max|γ·gy|) terms that cancel, checked
//   against 1e-5·r_max·max|γ·gy|·(1 + max|x̂|) for the whole tensor;
// - gWeight / gBias are sums of gy·x̂ / gy over a channel, checked against 1e-5·Σ|gy|·(1 + max|x̂|).
// A wrong set, channel, layout or a truncated loop gives errors of order 1 in these units.
import { beforeAll, describe, expect, it } from 'vitest';
import { F, type GpuBackend, type Tensor, abs, add, full, initGpu, manualSeed, max, mul, randn, rand, sum } from '../../index.js';
import { runKernel } from '../../autograd/ops/dispatch.js';
import { expectGpuMatches } from './helpers.js';

let gpu: GpuBackend;

beforeAll(async () => {
  gpu = await initGpu({ mode: 'headlessgl' });
  expect(gpu.mode).toBe('headlessgl');
});

/** A leaf on `device` with the values of the CPU tensor t (and requiresGrad when asked). */
function leaf(t: Tensor, device: 'cpu' | 'gpu', grad = true): Tensor {
  const l = device === 'gpu' ? t.to('gpu') : t.clone();
  l.requiresGrad = grad;
  return l;
}

const maxAbs = (t: Tensor): number => max(abs(t)).item();

interface NormCase {
  /** Runs the norm on (x, weight, bias, runningMean, runningVar); absent ones are null. */
  run(x: Tensor, w: Tensor | null, b: Tensor | null, rm: Tensor | null, rv: Tensor | null): Tensor;
  x: Tensor;
  w: Tensor | null;
  b: Tensor | null;
  rm?: Tensor | null;
  rv?: Tensor | null;
}

/** Forward and backward of one case on both devices; compare y, running stats and every gradient. */
async function checkNorm(c: NormCase, label: string): Promise<void> {
  let gy: Tensor | null = null; // ∂L/∂y, drawn once y's shape is known
  const sides = (['cpu', 'gpu'] as const).map((device) => {
    const x = leaf(c.x, device);
    const w = c.w ? leaf(c.w, device) : null;
    const b = c.b ? leaf(c.b, device) : null;
    const rm = c.rm ? leaf(c.rm, device, false) : null;
    const rv = c.rv ? leaf(c.rv, device, false) : null;
    const y = c.run(x, w, b, rm, rv);
    gy ??= randn(y.shape);
    sum(mul(y, device === 'gpu' ? gy.to('gpu') : gy)).backward();
    return { x, w, b, rm, rv, y };
  });
  const [cpu, g] = sides as [(typeof sides)[0], (typeof sides)[0]];
  if (!gy) throw new Error('unreachable: the cpu side ran first');
  expect(g.y.device).toBe('gpu');
  const wMax = c.w ? maxAbs(c.w) : 1;
  const yScale = add(add(abs(cpu.y), wMax + (c.b ? maxAbs(c.b) : 0)), 1);
  await expectGpuMatches(g.y, cpu.y, `${label} y`, yScale);
  const xhatMax = 2 * R_MAX * maxAbs(c.x); // |x − μ| ≤ 2 max|x|
  const gyWide = maxAbs(gy) * wMax;
  await expectGpuMatches(g.x.grad!, cpu.x.grad!, `${label} gx`, full(cpu.x.shape, R_MAX * gyWide * (1 + xhatMax)));
  const sumScale = sum(abs(gy)).item() * (1 + xhatMax);
  if (c.w) await expectGpuMatches(g.w!.grad!, cpu.w!.grad!, `${label} gWeight`, full(c.w.shape, sumScale));
  if (c.b) await expectGpuMatches(g.b!.grad!, cpu.b!.grad!, `${label} gBias`, full(c.b.shape, sumScale));
  if (c.rm) await expectGpuMatches(g.rm!, cpu.rm!, `${label} runningMean`, add(abs(cpu.rm!), 1));
  if (c.rv) await expectGpuMatches(g.rv!, cpu.rv!, `${label} runningVar`, add(abs(cpu.rv!), 1));
}

/**
 * r = 1/√(σ² + ε) ≤ 1/√0.05 for these seeded randn sets (≥ 5 elements each) and running
 * variances ≥ 0.5. Were a set's variance smaller, the true scale would be larger than this one,
 * so the check could only get stricter, never hide an error.
 */
const R_MAX = 1 / Math.sqrt(0.05);

const channels = (C: number) => ({ w: add(randn([C]), 1), b: randn([C]), rm: randn([C]), rv: add(rand([C]), 0.5) });

describe('batchNorm gpu == cpu', () => {
  it.each([
    [[4, 3, 5, 6], true],
    [[6, 4], true], // BatchNorm1d: S = 1
    [[3, 5, 7], false], // no affine, no running stats
  ])('batchNorm train x=%j affine=%s, running stats updated', async (shape, affine) => {
    manualSeed(100);
    const C = (shape as number[])[1] as number;
    const p = channels(C);
    await checkNorm(
      {
        run: (x, w, b, rm, rv) => F.batchNorm(x, rm, rv, w, b, { training: true, momentum: 0.2 }),
        x: randn(shape as number[]),
        w: affine ? p.w : null,
        b: affine ? p.b : null,
        rm: affine ? p.rm : null,
        rv: affine ? p.rv : null,
      },
      `batchNorm train ${JSON.stringify(shape)}`,
    );
  });

  it('batchNorm train x=[8,2,56,56] (sets of N·H·W = 25088: two-level sums) with a mean of 3', async () => {
    manualSeed(101);
    const p = channels(2);
    await checkNorm(
      {
        run: (x, w, b, rm, rv) => F.batchNorm(x, rm, rv, w, b, { training: true }),
        x: add(randn([8, 2, 56, 56]), 3),
        ...p,
      },
      'batchNorm train [8,2,56,56]',
    );
  });

  it('batchNorm eval x=[3,4,5,5] with running stats, and x=[5,3,4,2] permuted from [5,4,2,3] (a strided view)', async () => {
    manualSeed(102);
    const p = channels(4);
    await checkNorm(
      { run: (x, w, b, rm, rv) => F.batchNorm(x, rm, rv, w, b, { training: false }), x: randn([3, 4, 5, 5]), ...p},
      'batchNorm eval',
    );
    const q = channels(3);
    await checkNorm(
      {
        run: (x, w, b, rm, rv) => F.batchNorm(x.permute([0, 3, 1, 2]), rm, rv, w, b, { training: true }),
        x: randn([5, 4, 2, 3]),
        ...q,
      },
      'batchNorm train permuted',
    );
  });
});

describe('batchNormRelu gpu == cpu (the cpu fuses the ReLU into the norm kernels; the gpu composes them)', () => {
  it.each([true, false])('batchNormRelu x=[4,3,5,6] training=%s, running stats updated', async (training) => {
    manualSeed(103);
    const p = channels(3);
    await checkNorm(
      { run: (x, w, b, rm, rv) => F.batchNormRelu(x, rm, rv, w, b, { training, momentum: 0.2 }), x: randn([4, 3, 5, 6]), ...p },
      `batchNormRelu training=${training}`,
    );
  });

  it('the gpu norm kernels refuse the fused-ReLU attribute with a clear error', () => {
    const x = randn([2, 3, 4]).to('gpu');
    const attrs = { axes: 'batch' as const, N: 2, C: 3, S: 4, groups: 1, eps: 1e-5, hasWeight: false, hasBias: false, relu: true };
    expect(() => runKernel('normForward', [x], attrs)).toThrow(/gpu normForward: attrs.relu .* not supported on the gpu/);
  });
});

describe('layerNorm / instanceNorm / groupNorm gpu == cpu', () => {
  it('layerNorm x=[3,4,5] normalizedShape=[4,5] with weight and bias; x=[5,7] normalizedShape=[7] without', async () => {
    manualSeed(110);
    await checkNorm(
      { run: (x, w, b) => F.layerNorm(x, [4, 5], w, b), x: randn([3, 4, 5]), w: add(randn([4, 5]), 1), b: randn([4, 5])},
      'layerNorm [3,4,5]',
    );
    await checkNorm({ run: (x) => F.layerNorm(x, [7]), x: randn([5, 7]), w: null, b: null}, 'layerNorm [5,7]');
  });

  it('instanceNorm x=[2,3,4,4] affine with running stats (train and eval)', async () => {
    manualSeed(111);
    const p = channels(3);
    await checkNorm(
      { run: (x, w, b, rm, rv) => F.instanceNorm(x, rm, rv, w, b, { useInputStats: true }), x: randn([2, 3, 4, 4]), ...p},
      'instanceNorm train',
    );
    await checkNorm(
      { run: (x, w, b, rm, rv) => F.instanceNorm(x, rm, rv, w, b, { useInputStats: false }), x: randn([2, 3, 4, 4]), ...p},
      'instanceNorm eval',
    );
  });

  it('groupNorm x=[2,6,3,3] groups=3 affine, and x=[3,4,5] groups=2 without', async () => {
    manualSeed(112);
    const p = channels(6);
    await checkNorm({ run: (x, w, b) => F.groupNorm(x, 3, w, b), x: randn([2, 6, 3, 3]), w: p.w, b: p.b}, 'groupNorm g=3');
    await checkNorm({ run: (x) => F.groupNorm(x, 2), x: randn([3, 4, 5]), w: null, b: null}, 'groupNorm g=2');
  });
});

describe('empty inputs', () => {
  it('layerNorm x=[0,4] and batchNorm x=[0,3,2] (train, no running stats) give empty outputs and zero γ/β gradients', async () => {
    for (const [label, run, shape, C] of [
      ['layerNorm', (x: Tensor, w: Tensor) => F.layerNorm(x, [4], w), [0, 4], 4],
      ['batchNorm', (x: Tensor, w: Tensor) => F.batchNorm(x, null, null, w, null, { training: true }), [0, 3, 2], 3],
    ] as const) {
      const [x0, w0] = [randn(shape as unknown as number[]), add(randn([C]), 1)];
      const sides = (['cpu', 'gpu'] as const).map((device) => {
        const [x, w] = [leaf(x0, device), leaf(w0, device)];
        const y = run(x, w);
        sum(y).backward();
        return { y, w };
      });
      await expectGpuMatches(sides[1]!.y, sides[0]!.y, `${label} y`);
      await expectGpuMatches(sides[1]!.w.grad!, sides[0]!.w.grad!, `${label} gWeight`);
    }
  });
});
