// The fused norm kernels (one hand-derived backward) against the same norms composed from
// primitive ops (mean, var, sub, div, sqrt, mul, add — autograd derives that backward), on
// random shapes, float64: outputs and gradients of x, γ, β for a random upstream gradient.
// Both are exact formulas evaluated in a different order: ~1e-15 relative; we allow 1e-10.
import { describe, expect, it } from 'vitest';
import { F, Generator, type Tensor, randn } from '../../index.js';
import { composedBatchNorm, composedGroupNorm, composedInstanceNorm, composedLayerNorm } from '../../nn/ops/norm.js';
import { expectClose } from '../helpers/assert.js';

const gen = new Generator(5);
const rnd = (shape: number[], requiresGrad = true): Tensor => randn(shape, { dtype: 'float64', requiresGrad, generator: gen });
const int = (lo: number, hi: number): number => gen.integer(lo, hi + 1);

/** A random [N, C, *] shape with 0 to 2 spatial dims, channels a multiple of `cMultiple`. */
function randomShape(cMultiple = 1): number[] {
  const spatial = Array.from({ length: int(0, 2) }, () => int(1, 5));
  return [int(1, 4), cMultiple * int(1, 4), ...spatial];
}

type Norm = (x: Tensor, w: Tensor | null, b: Tensor | null) => Tensor;

/** y and the grads of x, w, b for the same upstream gradient, from both implementations. */
function compare(label: string, shape: number[], affineShape: number[] | null, fused: Norm, composed: Norm): void {
  const x0 = rnd(shape, false).mul(1.5).add(0.3);
  const w0 = affineShape ? rnd(affineShape, false) : null;
  const b0 = affineShape ? rnd(affineShape, false) : null;
  const gy = rnd(shape, false);
  const run = (fn: Norm) => {
    const x = x0.clone().detach();
    x.requiresGrad = true;
    const w = w0 ? w0.clone().detach() : null;
    const b = b0 ? b0.clone().detach() : null;
    if (w) w.requiresGrad = true;
    if (b) b.requiresGrad = true;
    const y = fn(x, w, b);
    y.backward(gy);
    return { y, gx: x.grad!, gw: w?.grad ?? null, gb: b?.grad ?? null };
  };
  const f = run(fused);
  const c = run(composed);
  const tol = { atol: 1e-10, rtol: 1e-10 };
  expectClose(f.y, c.y, { ...tol, label: `${label} y` });
  expectClose(f.gx, c.gx, { ...tol, label: `${label} grad x` });
  if (affineShape) {
    expectClose(f.gw!, c.gw!, { ...tol, label: `${label} grad weight` });
    expectClose(f.gb!, c.gb!, { ...tol, label: `${label} grad bias` });
  }
  expect(f.y.gradFn?.name, 'the fused path records one node').toMatch(/Norm$/);
}

const fmt = (s: readonly number[]): string => `[${s.join(',')}]`;
const TRIALS = 12;

describe('fused backward == composed backward, random shapes (float64)', () => {
  for (let t = 0; t < TRIALS; t++) {
    const shape = randomShape();
    const C = shape[1] as number;
    const affine = t % 2 === 0 ? [C] : null;
    const spatial = shape.slice(2).reduce((p, s) => p * s, 1);
    if ((shape[0] as number) * spatial > 1) {
      it(`batchNorm train x=${fmt(shape)}${affine ? ' affine' : ''}`, () => {
        compare('batchNorm train', shape, affine,
          (x, w, b) => F.batchNorm(x, null, null, w, b, { training: true }),
          (x, w, b) => composedBatchNorm(x, null, null, w, b, { training: true }));
      });
    }
    it(`batchNorm eval x=${fmt(shape)}${affine ? ' affine' : ''}`, () => {
      const rm = rnd([C], false);
      const rv = rnd([C], false).abs().add(0.2);
      compare('batchNorm eval', shape, affine,
        (x, w, b) => F.batchNorm(x, rm, rv, w, b, { training: false }),
        (x, w, b) => composedBatchNorm(x, rm, rv, w, b, { training: false }));
    });
    if (spatial > 1) {
      it(`instanceNorm x=${fmt(shape)}${affine ? ' affine' : ''}`, () => {
        compare('instanceNorm', shape, affine,
          (x, w, b) => F.instanceNorm(x, null, null, w, b),
          (x, w, b) => composedInstanceNorm(x, null, null, w, b, { useInputStats: true }));
      });
    }
    it(`instanceNorm running stats x=${fmt(shape)}${affine ? ' affine' : ''}`, () => {
      const rm = rnd([C], false);
      const rv = rnd([C], false).abs().add(0.2);
      compare('instanceNorm eval', shape, affine,
        (x, w, b) => F.instanceNorm(x, rm, rv, w, b, { useInputStats: false }),
        (x, w, b) => composedInstanceNorm(x, rm, rv, w, b, { useInputStats: false }));
    });
    const nsLen = int(1, shape.length - 1);
    const ns = shape.slice(shape.length - nsLen);
    it(`layerNorm x=${fmt(shape)} normalizedShape=${fmt(ns)}${affine ? ' affine' : ''}`, () => {
      compare('layerNorm', shape, affine ? ns : null,
        (x, w, b) => F.layerNorm(x, ns, w, b),
        (x, w, b) => composedLayerNorm(x, ns, w, b));
    });
    const G = int(1, 3);
    let gShape = randomShape(G);
    while (gShape.reduce((p, s) => p * s, 1) / G === 1) gShape = randomShape(G); // torch refuses one value per group
    it(`groupNorm x=${fmt(gShape)} G=${G}${affine ? ' affine' : ''}`, () => {
      compare('groupNorm', gShape, affine ? [gShape[1] as number] : null,
        (x, w, b) => F.groupNorm(x, G, w, b),
        (x, w, b) => composedGroupNorm(x, G, w, b));
    });
  }
});
