// conv2d: PyTorch parity (values and all gradients) for every kernel over the grid of
// test/oracle/gen_conv.py, float64 gradcheck over the same grid, every CPU conv variant (the
// registry's: direct, im2col, depthwise, the WASM ones for float32) == direct on random shapes,
// and PyTorch-like errors for bad input.
import { describe, expect, it } from 'vitest';
import { F, Generator, ShapeError, type Tensor, ValueError, autograd, randn, tensor } from '../../index.js';
import type { Conv2dOptions } from '../../nn/ops/conv.js';
import { expectClose } from '../helpers/assert.js';
import { convVariantsFor, fakeInput, withConvVariant } from '../helpers/variants.js';
import { selectCpuVariant } from '../../core/cpu/registry.js';
import { wasmRelaxed } from '../../core/cpu/wasm.js';
import { conv2dGeometry } from '../../nn/ops/conv.js';
import { type OracleCase, dec, loadFixture } from '../helpers/oracle.js';

const cases = loadFixture('conv');
const optsOf = (c: OracleCase): Conv2dOptions => ({
  stride: c.stride as Conv2dOptions['stride'],
  padding: c.padding as Conv2dOptions['padding'],
  dilation: c.dilation as Conv2dOptions['dilation'],
  groups: c.groups as number,
});

/** The conv variants that can run a case in `dtype` (batched shapes). */
function implsFor(c: OracleCase, dtype: 'float32' | 'float64' = 'float64'): string[] {
  const xs = (c.x as { shape: number[] }).shape;
  const ws = (c.w as { shape: number[] }).shape;
  return convVariantsFor(xs.length === 3 ? [1, ...xs] : xs, ws, optsOf(c), dtype);
}

/** Largest |v| of an encoded tensor: the scale float32 rounding errors are measured against. */
function maxAbs(e: unknown): number {
  return (e as { data: number[] }).data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}

function runCase(c: OracleCase, impl: string, dtype: 'float32' | 'float64'): { y: Tensor; x: Tensor; w: Tensor; b: Tensor | null } {
  const x = dec(c.x, { dtype, requiresGrad: true });
  const w = dec(c.w, { dtype, requiresGrad: true });
  const b = c.b ? dec(c.b, { dtype, requiresGrad: true }) : null;
  const y = withConvVariant(impl, () => {
    const out = F.conv2d(x, w, b, optsOf(c));
    out.backward(dec(c.gy, { dtype }));
    return out;
  });
  return { y, x, w, b };
}

describe('conv2d matches PyTorch 1.13 (float64: values and gradients)', () => {
  // Same math in a different summation order: agreement to ~1e-13 on values of size ~10.
  const tol = { atol: 1e-10, rtol: 1e-10 };
  for (const c of cases) {
    for (const impl of implsFor(c)) {
      it(`${c.name} impl=${impl}`, () => {
        const { y, x, w, b } = runCase(c, impl, 'float64');
        expectClose(y, dec(c.y), { ...tol, label: 'y' });
        expectClose(x.grad!, dec(c.gx), { ...tol, label: 'dx' });
        expectClose(w.grad!, dec(c.gw), { ...tol, label: 'dw' });
        if (b) expectClose(b.grad!, dec(c.gb), { ...tol, label: 'db' });
        else expect(c.gb).toBeUndefined();
      });
    }
  }
});

describe('conv2d in float32 stays within 1e-5 relative of PyTorch', () => {
  // float32 inputs are the float64 fixture rounded (relative error 6e-8 each); the TypeScript
  // variants sum in float64, the WASM ones in float32 (K ≤ 9·32 terms here: error ≲ √K·2⁻²⁴ of
  // the largest term), so 1e-5 of the tensor's largest value bounds both with room.
  for (const c of cases) {
    for (const impl of implsFor(c, 'float32')) {
      it(`${c.name} impl=${impl} float32`, () => {
        const { y, x, w, b } = runCase(c, impl, 'float32');
        expect(y.dtype).toBe('float32');
        const close = (a: Tensor, e: unknown, label: string) => expectClose(a, dec(e), { atol: 1e-5 * maxAbs(e), rtol: 1e-5, label });
        close(y, c.y, 'y');
        close(x.grad!, c.gx, 'dx');
        close(w.grad!, c.gw, 'dw');
        if (b) close(b.grad!, c.gb, 'db');
      });
    }
  }
});

describe('conv2d float64 gradcheck over the grid', () => {
  for (const c of cases) {
    const size = (e: unknown) => (e as { data: number[] }).data.length;
    const work = size(c.y) * 3 + 2 * (size(c.x) + size(c.w));
    for (const impl of implsFor(c)) {
      // The default kernels get full Jacobians on every case (the g=32 one takes ~3 s); the
      // direct reference, already compared with them, gets a projection on the larger ones.
      const fastMode = impl === 'direct' ? work > 1500 : work > 8000;
      it(`${c.name} impl=${impl}${fastMode ? ' (fast mode)' : ' (full Jacobian)'}`, () => {
        const x = dec(c.x, { requiresGrad: true });
        const w = dec(c.w, { requiresGrad: true });
        const b = c.b ? dec(c.b, { requiresGrad: true }) : null;
        const inputs = b ? [x, w, b] : [x, w];
        const fn = (...t: Tensor[]) => F.conv2d(t[0]!, t[1]!, t[2] ?? null, optsOf(c));
        expect(withConvVariant(impl, () => autograd.gradcheck(fn, inputs, { fastMode, seed: 7 }))).toBe(true);
      });
    }
  }
  it('gradcheck notices a wrong gradient (the check can fail)', () => {
    const x = randn([1, 2, 4, 4], { dtype: 'float64', requiresGrad: true });
    const w = randn([2, 2, 3, 3], { dtype: 'float64', requiresGrad: true });
    // The weight is detached inside conv2d, so the analytic dw misses the conv's contribution.
    const broken = (a: Tensor, b: Tensor) => F.conv2d(a, b.detach(), null, { padding: 1 }).mul(b.sum());
    expect(() => autograd.gradcheck(broken, [x, w])).toThrow(/mismatch/);
  });
});

/** A fresh leaf copy that requires grad. */
function leaf(v: Tensor): Tensor {
  const c = v.detach().clone();
  c.requiresGrad = true;
  return c;
}

describe('fast conv kernels equal the direct reference on random shapes', () => {
  const gen = new Generator(11);
  const int = (lo: number, hi: number) => gen.integer(lo, hi + 1);
  for (let t = 0; t < 24; t++) {
    const depthwise = t % 4 === 3;
    const groups = depthwise ? int(2, 4) : int(1, 3);
    const cg = depthwise ? 1 : int(1, 3);
    const og = int(1, 3);
    const [kh, kw, sh, sw, dh, dw, ph, pw] = [int(1, 4), int(1, 4), int(1, 3), int(1, 3), int(1, 2), int(1, 2), int(0, 2), int(0, 2)];
    const h = Math.max(1, dh * (kh - 1) + 1 - 2 * ph) + int(0, 5);
    const w = Math.max(1, dw * (kw - 1) + 1 - 2 * pw) + int(0, 5);
    const n = int(1, 3);
    const xs = [n, groups * cg, h, w];
    const ws = [groups * og, cg, kh, kw];
    const opts: Conv2dOptions = { stride: [sh, sw], padding: [ph, pw], dilation: [dh, dw], groups };
    for (const dtype of ['float64', 'float32'] as const) {
      const impls = convVariantsFor(xs, ws, opts, dtype).filter((v) => v !== 'direct');
      it(`conv2d x=[${xs}] w=[${ws}] s=[${sh},${sw}] p=[${ph},${pw}] d=[${dh},${dw}] g=${groups} ${dtype}`, () => {
        const x0 = randn(xs, { dtype, generator: gen });
        const w0 = randn(ws, { dtype, generator: gen });
        const b0 = randn([ws[0]!], { dtype, generator: gen });
        const gy = (() => {
          const y = withConvVariant('direct', () => F.conv2d(x0, w0, b0, opts));
          return randn(y.shape, { dtype, generator: gen });
        })();
        const run = (impl: string) =>
          withConvVariant(impl, () => {
            const [x, w, b] = [x0, w0, b0].map(leaf);
            const y = F.conv2d(x!, w!, b!, opts);
            y.backward(gy);
            return [y, x!.grad!, w!.grad!, b!.grad!];
          });
        const ref = run('direct');
        const tol = dtype === 'float64' ? { atol: 1e-12, rtol: 1e-10 } : { atol: 1e-4, rtol: 1e-5 };
        for (const impl of impls) {
          const got = run(impl);
          for (const [i, v] of got.entries()) expectClose(v, ref[i]!, { ...tol, label: `${impl} ${['y', 'dx', 'dw', 'db'][i]}` });
        }
      });
    }
  }
});

describe('every conv variant equals the direct reference on the shapes the fast kernels are for', () => {
  // The random shapes above are small; these are big enough for Winograd (3x3 s1, C·O >= 128, 16+
  // tiles), the grouped direct kernel (ResNeXt's 4 channels per group, depthwise) and the im2col
  // pieces. float32 tolerance as above (1e-4 absolute at values ~10, float32 accumulation).
  const gen = new Generator(29);
  const shapes: [number[], number[], Conv2dOptions, string[]][] = [
    [[2, 16, 9, 11], [16, 16, 3, 3], { padding: 1 }, ['wasm-winograd']],
    [[1, 12, 8, 8], [20, 12, 3, 3], { padding: 'same' }, ['wasm-winograd']],
    [[2, 32, 7, 9], [32, 4, 3, 3], { padding: 1, groups: 8 }, ['wasm-grouped']],
    [[2, 32, 7, 9], [32, 4, 3, 3], { padding: 1, stride: 2, groups: 8 }, ['wasm-grouped']],
    [[1, 24, 10, 10], [24, 1, 3, 3], { padding: 1, groups: 24 }, ['wasm-grouped', 'depthwise']],
    [[3, 8, 12, 12], [16, 8, 1, 1], { stride: 2 }, ['wasm-im2col']],
  ];
  for (const [xs, ws, opts, must] of shapes) {
    it(`x=[${xs}] w=[${ws}] ${JSON.stringify(opts)} float32: ${must.join(', ')} among the variants`, () => {
      const impls = convVariantsFor(xs, ws, opts, 'float32');
      for (const m of must) expect(impls, `variants for this shape: ${impls}`).toContain(m);
      const x0 = randn(xs, { generator: gen });
      const w0 = randn(ws, { generator: gen });
      const b0 = randn([ws[0] as number], { generator: gen });
      const run = (impl: string) =>
        withConvVariant(impl, () => {
          const [x, w, b] = [x0, w0, b0].map(leaf);
          const y = F.conv2d(x!, w!, b!, opts);
          y.backward(y.detach().mul(0.5).tanh());
          return [y, x!.grad!, w!.grad!, b!.grad!];
        });
      const ref = run('direct');
      for (const impl of impls.filter((v) => v !== 'direct')) {
        const got = run(impl);
        for (const [i, v] of got.entries()) expectClose(v, ref[i]!, { atol: 2e-4, rtol: 1e-4, label: `${impl} ${['y', 'dx', 'dw', 'db'][i]}` });
      }
    });
  }
});

describe("the registry's own choice of conv variant: Winograd only where its weight transform pays", () => {
  // winogradPrefers: n·oh·ow >= winogradTuning.minPixels (100) for the forward and the input
  // gradient; winogradPrefersWeightGradient: >= minPixelsWeightGradient (1024) for the weight
  // gradient. Below them the registry takes the next variant (im2col); a pin still reaches
  // Winograd, so the tests above cover it everywhere.
  const chosen = (xs: number[], ws: number[], kernel: 'conv2d' | 'conv2dBackwardWeight' = 'conv2d') => {
    const geom = conv2dGeometry(xs, ws, { padding: 1 });
    return selectCpuVariant(kernel, [fakeInput('float32', xs), fakeInput('float32', ws)], { geom }).name;
  };
  it.runIf(wasmRelaxed())('x=[1,256,14,14] w=[256,256,3,3] (196 pixels, ResNet-50 layer3 at batch 1): Winograd forward, im2col weight gradient', () => {
    expect(chosen([1, 256, 14, 14], [256, 256, 3, 3])).toBe('wasm-winograd-fma');
    expect(chosen([1, 256, 14, 14], [256, 256, 3, 3], 'conv2dBackwardWeight')).toBe('wasm-im2col-fma');
  });
  it.runIf(wasmRelaxed())('x=[1,512,7,7] w=[512,512,3,3] (49 pixels, ResNet-50 layer4 at batch 1): im2col', () => {
    expect(chosen([1, 512, 7, 7], [512, 512, 3, 3])).toBe('wasm-im2col-fma');
  });
  it.runIf(wasmRelaxed())('x=[8,256,14,14] w=[256,256,3,3] (1,568 pixels, batch 8): Winograd for all three', () => {
    expect(chosen([8, 256, 14, 14], [256, 256, 3, 3])).toBe('wasm-winograd-fma');
    expect(chosen([8, 256, 14, 14], [256, 256, 3, 3], 'conv2dBackwardWeight')).toBe('wasm-winograd-fma');
  });
  it.runIf(wasmRelaxed())('the thresholds: x=[1,64,10,10] (100 pixels) forward takes Winograd, x=[1,64,9,11] (99) does not; the weight gradient at 1,024 and 1,023', () => {
    expect(chosen([1, 64, 10, 10], [64, 64, 3, 3])).toBe('wasm-winograd-fma');
    expect(chosen([1, 64, 9, 11], [64, 64, 3, 3])).toBe('wasm-im2col-fma');
    expect(chosen([1, 64, 32, 32], [64, 64, 3, 3], 'conv2dBackwardWeight')).toBe('wasm-winograd-fma');
    expect(chosen([1, 64, 31, 33], [64, 64, 3, 3], 'conv2dBackwardWeight')).toBe('wasm-im2col-fma');
  });
  it('a pin reaches Winograd below the threshold, and it equals the direct reference there', () => {
    const x = randn([1, 256, 7, 7], { generator: new Generator(31) });
    const w = randn([256, 256, 3, 3], { generator: new Generator(32) });
    const pinned = withConvVariant('wasm-winograd', () => F.conv2d(x, w, null, { padding: 1 }));
    expectClose(pinned, withConvVariant('direct', () => F.conv2d(x, w, null, { padding: 1 })), { atol: 2e-3, rtol: 1e-4, label: 'pinned winograd' });
  });
});

describe('conv2d rejects bad input as PyTorch does', () => {
  const x = randn([1, 4, 6, 6]);
  const w = randn([4, 2, 3, 3]);
  it('channels not divisible by groups', () => {
    expect(() => F.conv2d(randn([1, 5, 6, 6]), randn([4, 2, 3, 3]), null, { groups: 2 })).toThrow(ShapeError);
    expect(() => F.conv2d(randn([1, 5, 6, 6]), randn([4, 2, 3, 3]), null, { groups: 2 })).toThrow(/input channels \(5\) must be divisible by groups \(2\)/);
    expect(() => F.conv2d(x, randn([3, 2, 3, 3]), null, { groups: 2 })).toThrow(/expected weight to be divisible by 2 at dimension 0/);
    expect(() => F.conv2d(x, w, null, { groups: 1 })).toThrow(/expected input \[1, 4, 6, 6\] to have 2 channels, but got 4 channels/);
  });
  it('kernel larger than the padded input', () => {
    expect(() => F.conv2d(randn([1, 2, 2, 2]), randn([1, 2, 3, 3]))).toThrow(/padded input size per channel: \(2 x 2\). Kernel size: \(3 x 3\)/);
    expect(() => F.conv2d(randn([1, 2, 4, 4]), randn([1, 2, 3, 3]), null, { dilation: 2 })).toThrow(/Kernel size: \(5 x 5\)/);
    expect(F.conv2d(randn([1, 2, 2, 2]), randn([1, 2, 3, 3]), null, { padding: 1 }).shape).toEqual([1, 1, 2, 2]);
  });
  it('zero or negative stride, negative padding, zero dilation, bad groups', () => {
    expect(() => F.conv2d(x, w, null, { groups: 2, stride: 0 })).toThrow(/non-positive stride is not supported/);
    expect(() => F.conv2d(x, w, null, { groups: 2, stride: [1, -1] })).toThrow(ValueError);
    expect(() => F.conv2d(x, w, null, { groups: 2, padding: -1 })).toThrow(/negative padding is not supported/);
    expect(() => F.conv2d(x, w, null, { groups: 2, dilation: 0 })).toThrow(/dilation should be greater than zero/);
    expect(() => F.conv2d(x, w, null, { groups: 0 })).toThrow(/non-positive groups is not supported/);
    expect(() => F.conv2d(x, w, null, { groups: 2, stride: 2, padding: 'same' })).toThrow(/padding='same' is not supported for strided/);
  });
  it('wrong weight rank, input rank, bias shape, dtype', () => {
    expect(() => F.conv2d(x, randn([4, 2, 3]), null, { groups: 2 })).toThrow(/expected 4-dimensional weight .* but got 3-dimensional weight of size \[4, 2, 3\]/);
    expect(() => F.conv2d(randn([4, 6, 6, 1, 1]), w)).toThrow(/expected 3D \(unbatched\) or 4D \(batched\) input/);
    expect(() => F.conv2d(x, w, randn([3]), { groups: 2 })).toThrow(/expected bias to be 1-dimensional with 4 elements, but got bias of size \[3\]/);
    expect(() => F.conv2d(x, w.double(), null, { groups: 2 })).toThrow(/input type \(float32\) and weight type \(float64\)/);
    expect(() => F.conv2d(tensor([[[[1]]]]), tensor([[[[1]]]]))).toThrow(/floating point/);
  });
  it('non-integer sizes', () => {
    expect(() => F.conv2d(x, w, null, { groups: 2, stride: 1.5 })).toThrow(/'stride' must contain integers/);
    expect(() => F.conv2d(x, w, null, { groups: 2, padding: [0.5, 1] })).toThrow(/'padding' must contain integers/);
    expect(() => F.conv2d(x, w, null, { groups: 1.5 })).toThrow(/'groups' must be an integer/);
  });
  it('pinning the depthwise kernel on a non-depthwise conv', () => {
    expect(() => withConvVariant('depthwise', () => F.conv2d(x, w, null, { groups: 2 }))).toThrow(/pinned variant 'depthwise' does not support this call/);
    expect(() => withConvVariant('no-such', () => F.conv2d(x, w, null, { groups: 2 }))).toThrow(/has no variant 'no-such' \(it has: .*direct/);
  });
  it('no NaNs from valid edge cases (1x1 output, all-padding windows)', () => {
    const y = F.conv2d(randn([1, 1, 1, 1]), randn([1, 1, 3, 3]), null, { padding: 1 });
    expect(y.shape).toEqual([1, 1, 1, 1]);
    const z = F.conv2d(randn([1, 1, 2, 2]), randn([1, 1, 1, 1]), null, { padding: 2, stride: 3 });
    expect([...z.toArray()].every(Number.isFinite)).toBe(true);
  });
});
