// Pooling on the GPU == on the CPU: F.maxPool2d (values and int32 indices), F.avgPool2d and
// F.adaptiveAvgPool2d forward and backward through autograd on tensors moved with .to('gpu'),
// and the kernels called directly on strided views. Expected values are the CPU backend's.
//
// Tolerance (see helpers.ts): max pooling picks an element, so its values and indices must be
// equal exactly, and its gradient sums at most a few dy per pixel; averages are sums divided
// once (GPU division is within a few ulp), compared within 1e-5·S with S the same average of
// |x| (or of |dy| for the gradients).
import { beforeAll, describe, expect, it } from 'vitest';
import { F, type GpuBackend, type Tensor, abs, initGpu, manualSeed, mul, randint, randn, sum, tensor } from '../../index.js';
import { run1, runKernel } from '../../autograd/ops/dispatch.js';
import type { AdaptiveSize, AvgPool2dOptions, MaxPool2dOptions } from '../../nn/ops/pool.js';
import { expectGpuMatches } from './helpers.js';

let gpu: GpuBackend;

beforeAll(async () => {
  gpu = await initGpu({ mode: 'headlessgl' });
  expect(gpu.mode).toBe('headlessgl');
});

type Pool = (x: Tensor) => Tensor;

/** y = f(x) and dx of Σ y·r on `device`, from the host tensor x (r stays on the host). */
function valueAndGrad(f: Pool, x: Tensor, r: Tensor, device: 'cpu' | 'gpu'): { y: Tensor; dx: Tensor } {
  const l = device === 'gpu' ? x.to('gpu') : x.clone();
  l.requiresGrad = true;
  const y = f(l);
  sum(mul(y, device === 'gpu' ? r.to('gpu') : r)).backward();
  return { y, dx: l.grad! };
}

/**
 * Compare f's output and input gradient on cpu and gpu; scales are the same run on |x| and |r|
 * (for max pooling on x itself, so that the same elements win, and |r|).
 */
async function expectSameOnGpu(f: Pool, x: Tensor, label: string, scaleOn: 'abs' | 'same' = 'abs'): Promise<void> {
  const r = randn(f(x).shape);
  const cpu = valueAndGrad(f, x, r, 'cpu');
  const onGpu = valueAndGrad(f, x, r, 'gpu');
  const scale = valueAndGrad(f, scaleOn === 'abs' ? abs(x) : x, abs(r), 'cpu');
  await expectGpuMatches(onGpu.y, cpu.y, `${label}: y`, scale.y);
  await expectGpuMatches(onGpu.dx, cpu.dx, `${label}: dx`, scale.dx);
}

/** Max pooling values and indices must be identical; the gradient within tolerance. */
async function expectMaxPoolOnGpu(x: Tensor, k: number | [number, number], opts: MaxPool2dOptions, label: string): Promise<void> {
  const [y, idx] = F.maxPool2dWithIndices(x, k, opts);
  const [gy, gidx] = F.maxPool2dWithIndices(x.to('gpu'), k, opts);
  expect(gy.device).toBe('gpu');
  expect(gidx.dtype).toBe('int32');
  expect([...gidx.shape]).toEqual([...idx.shape]);
  expect([...(await gidx.data())], `${label}: indices`).toEqual([...idx.toArray()]);
  expect([...(await gy.data())], `${label}: values`).toEqual([...y.toArray()]);
  await expectSameOnGpu((t) => F.maxPool2d(t, k, opts), x, label, 'same');
}

const fmt = (v: unknown): string => JSON.stringify(v).replaceAll('"', '');

describe('F.maxPool2d values, indices and backward gpu == cpu', () => {
  const CASES: [number[], number | [number, number], MaxPool2dOptions][] = [
    [[2, 3, 9, 8], 3, { stride: 2, padding: 1 }], // ResNet's stem pool, non-square
    [[1, 2, 6, 7], 2, {}], // stride = kernel, last column dropped
    [[2, 2, 7, 9], [3, 2], { stride: [2, 1], padding: [1, 0], dilation: 2, ceilMode: true }],
    [[1, 3, 8, 5], 3, { stride: 2, ceilMode: true }], // ceil mode: a partial last window
    [[2, 1, 5, 6], [2, 3], { stride: 1, padding: [1, 1] }], // overlapping windows: dx sums several dy
  ];
  it.each(CASES)('maxPool2d x=%j k=%j %j', async (xs, k, opts) => {
    manualSeed(200);
    await expectMaxPoolOnGpu(randn(xs), k, opts, `maxPool2d x=${fmt(xs)} k=${fmt(k)} ${fmt(opts)}`);
  });

  it('ties go to the first position x=[2,3,6,6] of integers in [-2,2], k=3 s=1 p=1', async () => {
    manualSeed(201);
    await expectMaxPoolOnGpu(randint(-2, 3, [2, 3, 6, 6]).to('float32'), 3, { stride: 1, padding: 1 }, 'ties');
  });

  it('all −∞ windows report their first valid position x=[1,1,4,4] k=2', async () => {
    const x = tensor([[[[-Infinity, -Infinity, 1, 2], [-Infinity, -Infinity, 3, -Infinity], [5, -Infinity, 0, 0], [-Infinity, -Infinity, 0, 0]]]]);
    await expectMaxPoolOnGpu(x, 2, {}, '-inf');
  });

  it('NaN wins its window (the last NaN, as the CPU kernel) x=[1,1,4,6] k=2 s=2 and k=3 s=1', async () => {
    const x = tensor([[[[1, Number.NaN, 2, 3, Number.NaN, Number.NaN], [0, 5, 4, Number.NaN, 1, 2], [7, 1, 0, 0, 3, 1], [2, 9, Number.NaN, 1, 0, 0]]]]);
    await expectMaxPoolOnGpu(x, 2, {}, 'NaN k=2');
    await expectMaxPoolOnGpu(x, 3, { stride: 1 }, 'NaN k=3 s=1');
  });
});

describe('F.avgPool2d forward and backward gpu == cpu', () => {
  const CASES: [number[], number | [number, number], AvgPool2dOptions][] = [
    [[2, 3, 9, 8], 3, { stride: 2, padding: 1 }],
    [[2, 3, 9, 8], 3, { stride: 2, padding: 1, countIncludePad: false }],
    [[1, 2, 7, 6], [3, 2], { stride: [2, 3], padding: [1, 1], ceilMode: true, countIncludePad: false }],
    [[1, 2, 5, 5], 2, { ceilMode: true }], // the last window hangs past the input (divisor clipped)
    [[1, 2, 5, 7], 3, { stride: 2, padding: 1, ceilMode: true }], // ceil + padding, counted
    [[2, 2, 6, 6], 3, { stride: 2, padding: 1, divisorOverride: 3 }],
    [[2, 4, 4, 4], 2, {}],
  ];
  it.each(CASES)('avgPool2d x=%j k=%j %j', async (xs, k, opts) => {
    manualSeed(210);
    await expectSameOnGpu((t) => F.avgPool2d(t, k, opts), randn(xs), `avgPool2d x=${fmt(xs)} k=${fmt(k)} ${fmt(opts)}`);
  });
});

describe('F.adaptiveAvgPool2d forward and backward gpu == cpu', () => {
  const CASES: [number[], AdaptiveSize][] = [
    [[2, 3, 7, 5], [3, 2]], // overlapping windows
    [[2, 4, 7, 7], 1], // global average (ResNet's head)
    [[1, 2, 3, 2], [5, 4]], // more outputs than inputs: pixels shared by several windows
    [[1, 2, 6, 9], [null, 4]],
  ];
  it.each(CASES)('adaptiveAvgPool2d x=%j out=%j', async (xs, out) => {
    manualSeed(220);
    await expectSameOnGpu((t) => F.adaptiveAvgPool2d(t, out), randn(xs), `adaptiveAvgPool2d x=${fmt(xs)} out=${fmt(out)}`);
  });

  it('unbatched x=[3,5,4] → [2,3]', async () => {
    manualSeed(221);
    await expectSameOnGpu((t) => F.adaptiveAvgPool2d(t, [2, 3]), randn([3, 5, 4]), 'unbatched adaptive');
  });
});

describe('pooling an empty batch x=[0,2,4,4] on the gpu', () => {
  it('maxPool2d k=2, avgPool2d k=3 p=1, adaptiveAvgPool2d 3: empty outputs and gradients', async () => {
    const x = randn([0, 2, 4, 4]);
    await expectMaxPoolOnGpu(x, 2, {}, 'empty max');
    await expectSameOnGpu((t) => F.avgPool2d(t, 3, { padding: 1 }), x, 'empty avg');
    await expectSameOnGpu((t) => F.adaptiveAvgPool2d(t, 3), x, 'empty adaptive');
  });
});

describe('pool kernels on strided views gpu == cpu', () => {
  // x is an NHWC buffer viewed as NCHW and narrowed (non-zero offset); dy a permuted view.
  const xView = (t: Tensor) => t.narrow(1, 1, 7).permute([0, 3, 1, 2]); // [2, 3, 7, 6]
  const geom = { planes: 6, h: 7, w: 6, oh: 4, ow: 4, kh: 3, kw: 2, sh: 2, sw: 2, ph: 1, pw: 1, dh: 1, dw: 1 };
  const dyView = (t: Tensor) => t.permute([2, 3, 0, 1]); // stored [oh, ow, N, C]
  const inputShape = [2, 3, 7, 6];

  it('maxPool2d, maxPool2dBackward x=[2,3,7,6] k=[3,2] s=2 p=1', async () => {
    manualSeed(230);
    const store = randn([2, 9, 6, 3]);
    const dyStore = randn([4, 4, 2, 3]);
    const g = (t: Tensor) => t.to('gpu');
    const [y, idx] = runKernel('maxPool2d', [xView(store).contiguous()], { geom }) as [Tensor, Tensor];
    const [gy, gidx] = runKernel('maxPool2d', [xView(g(store))], { geom }) as [Tensor, Tensor];
    expect([...(await gidx.data())]).toEqual([...idx.toArray()]);
    expect([...(await gy.data())]).toEqual([...y.toArray()]);
    const attrs = { geom, inputShape };
    const dx = run1('maxPool2dBackward', [dyView(dyStore).contiguous(), idx], attrs);
    const gdx = run1('maxPool2dBackward', [dyView(g(dyStore)), gidx], attrs);
    await expectGpuMatches(gdx, dx, 'maxPool2dBackward', run1('maxPool2dBackward', [abs(dyView(dyStore).contiguous()), idx], attrs));
  });

  it.each([true, false])('avgPool2d, avgPool2dBackward x=[2,3,7,6] k=[3,2] s=2 p=1 countIncludePad=%s', async (countIncludePad) => {
    manualSeed(231);
    const store = randn([2, 9, 6, 3]);
    const dyStore = randn([4, 4, 2, 3]);
    const g = (t: Tensor) => t.to('gpu');
    const options = { countIncludePad, divisorOverride: 0 };
    const x = xView(store).contiguous();
    const y = run1('avgPool2d', [xView(g(store))], { geom, options });
    await expectGpuMatches(y, run1('avgPool2d', [x], { geom, options }), 'avgPool2d', run1('avgPool2d', [abs(x)], { geom, options }));
    const dy = dyView(dyStore).contiguous();
    const attrs = { geom, options, inputShape };
    const dx = run1('avgPool2dBackward', [dyView(g(dyStore))], attrs);
    await expectGpuMatches(dx, run1('avgPool2dBackward', [dy], attrs), 'avgPool2dBackward', run1('avgPool2dBackward', [abs(dy)], attrs));
  });

  it('adaptiveAvgPool2d, adaptiveAvgPool2dBackward x=[2,3,7,6] → [4,3]', async () => {
    manualSeed(232);
    const store = randn([2, 9, 6, 3]);
    const dyStore = randn([4, 3, 2, 3]);
    const g = (t: Tensor) => t.to('gpu');
    const x = xView(store).contiguous();
    const y = run1('adaptiveAvgPool2d', [xView(g(store))], { oh: 4, ow: 3 });
    await expectGpuMatches(y, run1('adaptiveAvgPool2d', [x], { oh: 4, ow: 3 }), 'adaptive', run1('adaptiveAvgPool2d', [abs(x)], { oh: 4, ow: 3 }));
    const dy = dyView(dyStore).contiguous();
    const dx = run1('adaptiveAvgPool2dBackward', [dyView(g(dyStore))], { inputShape });
    await expectGpuMatches(dx, run1('adaptiveAvgPool2dBackward', [dy], { inputShape }), 'adaptive backward', run1('adaptiveAvgPool2dBackward', [abs(dy)], { inputShape }));
  });
});

describe('the same kernels in the other gpu.js paths', () => {
  // Last in the file: these re-register the 'gpu' backend. The max-pool chain feeds the index
  // kernel's output buffer into the gather kernel, which in async mode is still a promise.
  const convOpts = { stride: 2, padding: 1 };
  const pool = (t: Tensor) => F.maxPool2d(t, 3, { stride: 2, padding: 1 });
  it.each([
    [{ mode: 'headlessgl', asyncMode: true }, /headlessgl \(async\)/],
    [{ mode: 'cpu' }, /cpu mode, not a GPU/],
  ] as const)('maxPool2d(conv2d(x=[2,3,9,8], w=[4,3,3,3] s=2 p=1), 3, s=2 p=1) on %j', async (options, describes) => {
    const backend = await initGpu(options);
    expect(backend.describe()).toMatch(describes);
    manualSeed(240);
    const x = randn([2, 3, 9, 8]);
    const w = randn([4, 3, 3, 3]);
    const r = randn([2, 4, 3, 2]);
    const cpu = valueAndGrad((t) => pool(F.conv2d(t, w, null, convOpts)), x, r, 'cpu');
    const onGpu = valueAndGrad((t) => pool(F.conv2d(t, w.to('gpu'), null, convOpts)), x, r, 'gpu');
    // Scales. y: the pooled conv on |x|, |w| bounds the sum behind each winner (|x|·|w| ≥ every
    // window's conv magnitude). dx = convᵀ(poolᵀ(r), w): route |r| through the same winners,
    // then back through |w|.
    await expectGpuMatches(onGpu.y, cpu.y, 'y', pool(F.conv2d(abs(x), abs(w), null, convOpts)));
    const routed = valueAndGrad(pool, F.conv2d(x, w, null, convOpts), abs(r), 'cpu').dx;
    const dxScale = valueAndGrad((t) => F.conv2d(t, abs(w), null, convOpts), x, routed, 'cpu').dx;
    await expectGpuMatches(onGpu.dx, cpu.dx, 'dx', dxScale);
  });
});
