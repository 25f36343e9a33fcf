// The WASM SIMD BatchNorm kernels (kernels/wasm/norm.ts, source kernels/wasm/src/bn.wat) against
// the reference kernels of kernels/cpu/norm.ts run in float64 on the same float32 inputs (the
// exact answer), on 1, 2 and 3 threads.
//
// Shapes x[N, C, S]: batch 1, S = 1 (BatchNorm1d: 1024 runs per block), odd S, S just past the
// 1024-element block (1030) and several blocks per run (3000), C not a multiple of the thread
// count, and [4, 5, 3517]; the train forward also runs on [16, 2, 32768] (half a million elements
// per set). With 2 and 3 threads every shape goes through the pool (minParallelElements = 0), so
// channels are split unevenly among threads.
// Means far from 0 (offset 100 at spread ~1) test the blocked two-pass variance.
//
// Tolerances, per element, with u = 2^-24 and mean|x|, σ per channel:
// - A piece is summed in 8 f32 lanes of at most 128 terms, everything beyond in f64, so a sum is
//   off by at most ~131u·Σ|terms| < 1e-5·Σ|terms|. Hence μ within 1e-5·mean|x|, Σ gy within
//   1e-5·Σ|gy|, Σ gy·x̂ within 1e-5·Σ|gy·x̂| (plus u of the result for the final rounding).
// - σ² comes from deviations from a block mean, rounded once each: relative 1e-5, plus the
//   float32 rounding of the result.
// - y = (x − μ)·a + β in float32: four roundings (≤ 4u·(|γ x̂| + |β|)), μ's error divided by σ,
//   and a's relative error from σ²: |Δy| ≤ 1e-5·(|γ|·(|x̂| + mean|x|/σ) + |β|).
// - gx = p·gy + q·(x − μ) + t: the sums above enter through q and t, the rest is float32
//   rounding: |Δgx| ≤ 1e-5·r|γ|·(|gy| + |x̂|·mean|gy·x̂| + mean|gy|) (gy scaled to O(1)).
// Special values must match the reference exactly: NaN or ±inf where it has them, and NaN in one
// channel never reaches another.
// The fused ReLU ({ relu: true }) must equal the plain forward followed by max(·, 0) bit for bit,
// and its backward the reference backward of where(y > 0, gy, 0) with y that forward's output (the
// mask must agree exactly, or an error the size of gy would show), within the same tolerances.
// Arrays that already live in the wasm memory are used in place (zero-copy) and must give the
// same bits as ordinary arrays, which are staged through the arena.

import { describe, expect, it } from 'vitest';
import { Generator } from '../../core/random.js';
import type { NormLayout } from '../../kernels/geometry.js';
import { normApplyReference, normBackwardReference, normForwardReference } from '../../kernels/cpu/norm.js';
import { wasmOffsetOf } from '../../kernels/wasm/elementwise.js';
import { normApplyWasm, normBackwardWasm, normForwardWasm, wasmNormSupports } from '../../kernels/wasm/norm.js';
import { getWasm, } from '../../kernels/wasm/runtime.js';
import { inWasm, onThreads } from '../helpers/wasm.js';

const U = 1e-5;

interface Case {
  N: number;
  C: number;
  S: number;
  /** Added to every x (a large mean against unit spread). */
  offset: number;
  affine: boolean;
}

const CASES: Case[] = [
  { N: 1, C: 1, S: 1, offset: 0, affine: true },
  { N: 1, C: 3, S: 7, offset: 0, affine: true },
  { N: 2, C: 3, S: 5, offset: 3, affine: false },
  { N: 2500, C: 3, S: 1, offset: 0.5, affine: true },
  { N: 3, C: 2, S: 1030, offset: 100, affine: true },
  { N: 2, C: 2, S: 3000, offset: -1000, affine: true },
  { N: 128, C: 3, S: 9, offset: 1, affine: true },
  { N: 8, C: 4, S: 64, offset: -5, affine: false },
  { N: 4, C: 5, S: 3517, offset: 10, affine: true },
];

const layout = (c: Case): NormLayout => ({ axes: 'batch', N: c.N, C: c.C, S: c.S, groups: 1 });
const name = (c: Case): string => `x=[${c.N},${c.C},${c.S}]${c.offset ? ` offset=${c.offset}` : ''}${c.affine ? '' : ' no affine'}`;
const f64 = (a: Float32Array | null): Float64Array | null => (a === null ? null : Float64Array.from(a));

function data(c: Case, seed: number) {
  const g = new Generator(seed);
  const n = c.N * c.C * c.S;
  // a different spread per channel, so channels are not interchangeable
  const x = Float32Array.from({ length: n }, (_, i) => c.offset + (1 + (Math.floor(i / c.S) % c.C)) * 0.5 * g.normal());
  const gy = Float32Array.from({ length: n }, () => g.normal());
  const weight = c.affine ? Float32Array.from({ length: c.C }, () => 0.5 + g.uniform()) : null;
  const bias = c.affine ? Float32Array.from({ length: c.C }, () => g.normal()) : null;
  return { x, gy, weight, bias };
}

/** Per channel: mean|v| over the channel's elements, for v given by f(i). */
function channelMeanAbs(c: Case, f: (i: number) => number): Float64Array {
  const out = new Float64Array(c.C);
  for (let n = 0; n < c.N; n++) {
    for (let ch = 0; ch < c.C; ch++) {
      for (let s = 0; s < c.S; s++) {
        const i = (n * c.C + ch) * c.S + s;
        out[ch] = (out[ch] as number) + Math.abs(f(i));
      }
    }
  }
  return out.map((v) => v / (c.N * c.S));
}

/** The first element where |actual − expected| > tol(i) (NaN must meet NaN), or a pass. */
function expectWithin(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: (i: number) => number, label: string): void {
  expect(actual.length, `${label} length`).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    const ok = Number.isFinite(e) ? Math.abs(a - e) <= tol(i) : Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e));
    if (!ok) expect.fail(`${label} at ${i}: ${a} vs ${e} (tolerance ${tol(i)})`);
  }
}

const channelOf = (c: Case, i: number): number => Math.floor(i / c.S) % c.C;

/** normForwardWasm against normForwardReference in float64, with the tolerances above. */
function checkTrainForward(c: Case, seed: number): void {
  const l = layout(c);
  const n = c.N * c.C * c.S;
  const { x, weight, bias } = data(c, seed);
  const y = new Float32Array(n);
  const mean = new Float32Array(c.C);
  const variance = new Float32Array(c.C);
  normForwardWasm(x, l, 1e-5, weight, bias, y, mean, variance);
  const ry = new Float64Array(n);
  const rm = new Float64Array(c.C);
  const rv = new Float64Array(c.C);
  normForwardReference(Float64Array.from(x), l, 1e-5, f64(weight), f64(bias), ry, rm, rv);
  const absX = channelMeanAbs(c, (i) => x[i] as number);
  expectWithin(mean, rm, (ch) => U * (absX[ch] as number) + 2 ** -24 * Math.abs(rm[ch] as number), 'mean');
  expectWithin(variance, rv, (ch) => U * (rv[ch] as number) + 1e-30, 'variance');
  expectWithin(
    y,
    ry,
    (i) => {
      const ch = channelOf(c, i);
      const sigma = Math.sqrt((rv[ch] as number) + 1e-5);
      const gamma = weight ? Math.abs(weight[ch] as number) : 1;
      const xhat = ((x[i] as number) - (rm[ch] as number)) / sigma;
      return U * (gamma * (Math.abs(xhat) + (absX[ch] as number) / sigma) + (bias ? Math.abs(bias[ch] as number) : 0));
    },
    'y',
  );
}

for (const threads of [1, 2, 3]) {
  describe(`wasm BatchNorm, ${threads} thread(s)`, () => {
    onThreads(threads);


    it('train forward x=[16,2,32768]: sets of 524288 elements, mean 100', () => checkTrainForward({ N: 16, C: 2, S: 32768, offset: 100, affine: true }, 99));

    CASES.forEach((c, k) => {
      const l = layout(c);
      const n = c.N * c.C * c.S;
      const m = c.N * c.S;

      it(`train forward ${name(c)}: mean, variance and y`, () => checkTrainForward(c, 100 + k));

      it(`eval forward ${name(c)}: y from given statistics`, () => {
        const { x, weight, bias } = data(c, 200 + k);
        const g = new Generator(k);
        const mean = Float32Array.from({ length: c.C }, () => c.offset + g.normal());
        const variance = Float32Array.from({ length: c.C }, () => 0.5 + g.uniform());
        const y = new Float32Array(n);
        normApplyWasm(x, l, mean, variance, 1e-5, weight, bias, y);
        const ry = new Float64Array(n);
        normApplyReference(Float64Array.from(x), l, f64(mean)!, f64(variance)!, 1e-5, f64(weight), f64(bias), ry);
        // no statistics to estimate: only the float32 rounding of x − μ, a, the product and the sum
        expectWithin(
          y,
          ry,
          (i) => {
            const ch = channelOf(c, i);
            const a = (weight ? Math.abs(weight[ch] as number) : 1) / Math.sqrt((variance[ch] as number) + 1e-5);
            return 4 * 2 ** -24 * (a * Math.abs((x[i] as number) - (mean[ch] as number)) + (bias ? Math.abs(bias[ch] as number) : 0));
          },
          'y',
        );
      });

      for (const batchStats of [true, false]) {
        it(`backward ${name(c)} batchStats=${batchStats}: gx, gWeight, gBias`, () => {
          const { x, gy, weight } = data(c, 300 + k);
          const mean = new Float32Array(c.C);
          const variance = new Float32Array(c.C);
          normForwardWasm(x, l, 1e-5, weight, null, new Float32Array(n), mean, variance);
          const gx = new Float32Array(n);
          const gw = new Float32Array(c.C);
          const gb = new Float32Array(c.C);
          normBackwardWasm(x, gy, l, mean, variance, 1e-5, weight, batchStats, gx, gw, gb);
          const rgx = new Float64Array(n);
          const rgw = new Float64Array(c.C);
          const rgb = new Float64Array(c.C);
          normBackwardReference(Float64Array.from(x), Float64Array.from(gy), l, f64(mean)!, f64(variance)!, 1e-5, f64(weight), batchStats, rgx, rgw, rgb);
          const r = Array.from(variance, (v) => 1 / Math.sqrt(v + 1e-5));
          const xhat = (i: number): number => ((x[i] as number) - (mean[channelOf(c, i)] as number)) * (r[channelOf(c, i)] as number);
          const absG = channelMeanAbs(c, (i) => gy[i] as number);
          const absGX = channelMeanAbs(c, (i) => (gy[i] as number) * xhat(i));
          expectWithin(gb, rgb, (ch) => U * m * (absG[ch] as number) + 1e-30, 'gBias');
          expectWithin(gw, rgw, (ch) => U * m * (absGX[ch] as number) + 1e-30, 'gWeight');
          expectWithin(
            gx,
            rgx,
            (i) => {
              const ch = channelOf(c, i);
              const p = (r[ch] as number) * (weight ? Math.abs(weight[ch] as number) : 1);
              return U * p * (Math.abs(gy[i] as number) + Math.abs(xhat(i)) * (absGX[ch] as number) + (absG[ch] as number));
            },
            'gx',
          );
        });
      }
      it(`fused ReLU ${name(c)}: relu(bn(x)) forward, and its backward as bn's backward of the masked gradient`, () => {
        const { x, gy, weight, bias } = data(c, 400 + k);
        const y = new Float32Array(n);
        const mean = new Float32Array(c.C);
        const variance = new Float32Array(c.C);
        normForwardWasm(x, l, 1e-5, weight, bias, y, mean, variance, { relu: true });
        const plain = new Float32Array(n);
        normForwardWasm(x, l, 1e-5, weight, bias, plain, new Float32Array(c.C), new Float32Array(c.C));
        // the fused forward is the plain one followed by max(·, 0), bit for bit
        expect(y.every((v, i) => Object.is(v, Math.max(plain[i] as number, 0)))).toBe(true);
        const ye = new Float32Array(n);
        normApplyWasm(x, l, mean, variance, 1e-5, weight, bias, ye, { relu: true });
        expect(ye.every((v, i) => Object.is(v, y[i]))).toBe(true);
        for (const batchStats of [true, false]) {
          // the reference: autograd's relu backward (where(y <= 0, 0, gy), y being this forward's
          // output: a NaN passes its gradient, as torch), then the float64 BatchNorm backward
          const masked = Float64Array.from(gy, (g, i) => ((y[i] as number) <= 0 ? 0 : g));
          const rgx = new Float64Array(n);
          const rgw = new Float64Array(c.C);
          const rgb = new Float64Array(c.C);
          normBackwardReference(Float64Array.from(x), masked, l, f64(mean)!, f64(variance)!, 1e-5, f64(weight), batchStats, rgx, rgw, rgb);
          const gx = new Float32Array(n);
          const gw = new Float32Array(c.C);
          const gb = new Float32Array(c.C);
          normBackwardWasm(x, gy, l, mean, variance, 1e-5, weight, batchStats, gx, gw, gb, { relu: true, bias });
          const r = Array.from(variance, (v) => 1 / Math.sqrt(v + 1e-5));
          const xhat = (i: number): number => ((x[i] as number) - (mean[channelOf(c, i)] as number)) * (r[channelOf(c, i)] as number);
          const absG = channelMeanAbs(c, (i) => masked[i] as number);
          const absGX = channelMeanAbs(c, (i) => (masked[i] as number) * xhat(i));
          expectWithin(gb, rgb, (ch) => U * m * (absG[ch] as number) + 1e-30, 'gBias');
          expectWithin(gw, rgw, (ch) => U * m * (absGX[ch] as number) + 1e-30, 'gWeight');
          expectWithin(
            gx,
            rgx,
            (i) => {
              const ch = channelOf(c, i);
              const p = (r[ch] as number) * (weight ? Math.abs(weight[ch] as number) : 1);
              return U * p * (Math.abs(masked[i] as number) + Math.abs(xhat(i)) * (absGX[ch] as number) + (absG[ch] as number));
            },
            `gx (batchStats=${batchStats})`,
          );
        }
      });
    });

    it('x=[3,4,70]: NaN in channel 1 and +inf in channel 2 stay in their channels, as the reference', () => {
      const c: Case = { N: 3, C: 4, S: 70, offset: 0, affine: true };
      const l = layout(c);
      const n = 3 * 4 * 70;
      const { x, gy, weight, bias } = data(c, 7);
      x[(1 * 4 + 1) * 70 + 13] = Number.NaN; // n = 1, c = 1
      x[(2 * 4 + 2) * 70 + 69] = Number.POSITIVE_INFINITY; // n = 2, c = 2
      gy[(0 * 4 + 3) * 70 + 5] = Number.NaN; // n = 0, c = 3
      const y = new Float32Array(n);
      const mean = new Float32Array(4);
      const variance = new Float32Array(4);
      normForwardWasm(x, l, 1e-5, weight, bias, y, mean, variance);
      const ry = new Float64Array(n);
      const rm = new Float64Array(4);
      const rv = new Float64Array(4);
      normForwardReference(Float64Array.from(x), l, 1e-5, f64(weight), f64(bias), ry, rm, rv);
      const same = (a: number, b: number): boolean => (Number.isFinite(b) ? Number.isFinite(a) : Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)));
      expect(Array.from(mean, (v, i) => same(v, rm[i] as number))).toEqual([true, true, true, true]);
      expect([Number.isNaN(mean[1] as number), mean[2]]).toEqual([true, Number.POSITIVE_INFINITY]);
      expect(Array.from(variance, (v, i) => same(v, rv[i] as number))).toEqual([true, true, true, true]);
      expect(Array.from(variance, Number.isNaN)).toEqual([false, true, true, false]);
      for (let i = 0; i < n; i++) if (!same(y[i] as number, ry[i] as number)) expect.fail(`y at ${i}: ${y[i]} vs ${ry[i]}`);
      expect(y.every((v, i) => Number.isNaN(v) === [1, 2].includes(channelOf(c, i)))).toBe(true);

      // backward with the statistics of channels 0 and 3 finite; channel 3 has a NaN gradient
      for (const batchStats of [true, false]) {
        const gx = new Float32Array(n);
        const gw = new Float32Array(4);
        const gb = new Float32Array(4);
        normBackwardWasm(x, gy, l, mean, variance, 1e-5, weight, batchStats, gx, gw, gb);
        const rgx = new Float64Array(n);
        const rgw = new Float64Array(4);
        const rgb = new Float64Array(4);
        normBackwardReference(Float64Array.from(x), Float64Array.from(gy), l, f64(mean)!, f64(variance)!, 1e-5, f64(weight), batchStats, rgx, rgw, rgb);
        for (let i = 0; i < n; i++) if (!same(gx[i] as number, rgx[i] as number)) expect.fail(`gx (batchStats=${batchStats}) at ${i}: ${gx[i]} vs ${rgx[i]}`);
        expect(Array.from(gw, (v, i) => same(v, rgw[i] as number))).toEqual([true, true, true, true]);
        expect(Array.from(gb, (v, i) => same(v, rgb[i] as number))).toEqual([true, true, true, true]);
        expect(Number.isFinite(gw[0] as number) && Number.isFinite(gb[0] as number)).toBe(true);
      }
    });

    it('x=[2,2,9] fused ReLU: a NaN input gives a NaN output that passes its gradient, as torch (fixed statistics)', () => {
      const c: Case = { N: 2, C: 2, S: 9, offset: 0, affine: true };
      const l = layout(c);
      const { x, gy, weight, bias } = data(c, 13);
      x[4] = Number.NaN;
      const mean = Float32Array.of(0.1, -0.2);
      const variance = Float32Array.of(1.5, 0.5);
      const y = new Float32Array(36);
      normApplyWasm(x, l, mean, variance, 1e-5, weight, bias, y, { relu: true });
      expect(Number.isNaN(y[4] as number)).toBe(true);
      const gx = new Float32Array(36);
      normBackwardWasm(x, gy, l, mean, variance, 1e-5, weight, false, gx, new Float32Array(2), new Float32Array(2), { relu: true, bias });
      expect(gx[4]).not.toBe(0);
      for (let i = 0; i < 36; i++) {
        const ch = channelOf(c, i);
        const p = (weight![ch] as number) / Math.sqrt((variance[ch] as number) + 1e-5);
        const expected = (y[i] as number) <= 0 ? 0 : p * (gy[i] as number);
        expect(Math.abs((gx[i] as number) - expected), `gx at ${i}`).toBeLessThanOrEqual(4 * 2 ** -24 * Math.abs(expected));
      }
    });

    it('empty sets x=[0,3,5] and x=[2,3,0]: statistics NaN (0/0) as the reference, gradients of γ and β 0', () => {
      for (const [N, S] of [
        [0, 5],
        [2, 0],
      ] as const) {
        const l: NormLayout = { axes: 'batch', N, C: 3, S, groups: 1 };
        const mean = new Float32Array(3);
        const variance = new Float32Array(3);
        normForwardWasm(new Float32Array(0), l, 1e-5, null, null, new Float32Array(0), mean, variance);
        const rm = new Float64Array(3);
        const rv = new Float64Array(3);
        normForwardReference(new Float64Array(0), l, 1e-5, null, null, new Float64Array(0), rm, rv);
        expect([Array.from(mean, Number.isNaN), Array.from(variance, Number.isNaN)]).toEqual([Array.from(rm, Number.isNaN), Array.from(rv, Number.isNaN)]);
        expect(Array.from(mean, Number.isNaN)).toEqual([true, true, true]);
        const gw = Float32Array.of(9, 9, 9);
        const gb = Float32Array.of(9, 9, 9);
        normBackwardWasm(new Float32Array(0), new Float32Array(0), l, Float32Array.of(0, 0, 0), Float32Array.of(1, 1, 1), 1e-5, null, true, new Float32Array(0), gw, gb);
        expect([Array.from(gw), Array.from(gb)]).toEqual([
          [0, 0, 0],
          [0, 0, 0],
        ]);
      }
    });

    it('x=[2,3,50]: a constant channel has variance 0 and y = β', () => {
      const c: Case = { N: 2, C: 3, S: 50, offset: 0, affine: true };
      const { x, weight, bias } = data(c, 9);
      for (let nn = 0; nn < 2; nn++) x.fill(3.25, (nn * 3 + 1) * 50, (nn * 3 + 2) * 50);
      const y = new Float32Array(300);
      const mean = new Float32Array(3);
      const variance = new Float32Array(3);
      normForwardWasm(x, layout(c), 1e-5, weight, bias, y, mean, variance);
      expect([mean[1], variance[1]]).toEqual([3.25, 0]);
      expect(y.subarray(50, 100).every((v) => v === bias![1])).toBe(true);
    });

    it('y may be x and gx may be gy', () => {
      const c: Case = { N: 4, C: 5, S: 3517, offset: 0, affine: true };
      const l = layout(c);
      const { x, gy, weight, bias } = data(c, 11);
      const n = x.length;
      const y = new Float32Array(n);
      const mean = new Float32Array(5);
      const variance = new Float32Array(5);
      normForwardWasm(x, l, 1e-5, weight, bias, y, mean, variance);
      const gx = new Float32Array(n);
      const gw = new Float32Array(5);
      const gb = new Float32Array(5);
      normBackwardWasm(x, gy, l, mean, variance, 1e-5, weight, true, gx, gw, gb);
      const gyCopy = gy.slice();
      normBackwardWasm(x, gyCopy, l, mean, variance, 1e-5, weight, true, gyCopy, gw, gb);
      expect(gyCopy.every((v, i) => Object.is(v, gx[i]))).toBe(true);
      const xCopy = x.slice();
      normForwardWasm(xCopy, l, 1e-5, weight, bias, xCopy, mean, variance);
      expect(xCopy.every((v, i) => Object.is(v, y[i]))).toBe(true);
    });
  });
}


describe('wasm BatchNorm on arrays that live in the wasm memory (zero-copy)', () => {
  it('x=[4,5,3517]: forward in place (y = x), backward into gy, statistics and gradients in the memory', () => {
    const rt = getWasm()!;
    const mark = rt.mark();
    try {
      const c: Case = { N: 4, C: 5, S: 3517, offset: 2, affine: true };
      const l = layout(c);
      const { x: x0, gy: gy0, weight, bias } = data(c, 17);
      const n = x0.length;
      // the same computation on ordinary arrays (staged), to compare with
      const y0 = new Float32Array(n);
      const mean0 = new Float32Array(5);
      const var0 = new Float32Array(5);
      normForwardWasm(x0, l, 1e-5, weight, bias, y0, mean0, var0, { relu: true });
      const gx0 = new Float32Array(n);
      const gw0 = new Float32Array(5);
      const gb0 = new Float32Array(5);
      normBackwardWasm(x0, gy0, l, mean0, var0, 1e-5, weight, true, gx0, gw0, gb0, { relu: true, bias });

      const [x, xKeep, gy, mean, variance, gw, gb, w] = inWasm(x0, x0, gy0, new Float32Array(5), new Float32Array(5), new Float32Array(5), new Float32Array(5), weight!);
      normForwardWasm(x!, l, 1e-5, w!, bias, x!, mean!, variance!, { relu: true });
      normBackwardWasm(xKeep!, gy!, l, mean!, variance!, 1e-5, w!, true, gy!, gw!, gb!, { relu: true, bias });
      const same = (a: Float32Array, b: Float32Array): boolean => a.every((v, i) => Object.is(v, b[i]));
      expect([same(x!, y0), same(mean!, mean0), same(variance!, var0)]).toEqual([true, true, true]);
      expect([same(gy!, gx0), same(gw!, gw0), same(gb!, gb0)]).toEqual([true, true, true]);
      expect(wasmOffsetOf(rt.memory.buffer, x!)).toBeGreaterThanOrEqual(0); // no growth: nothing was staged
    } finally {
      rt.release(mark);
    }
  });
});

describe('wasm BatchNorm arguments', () => {
  it('supports the batch layout only', () => {
    expect(wasmNormSupports({ axes: 'batch', N: 2, C: 3, S: 4, groups: 1 })).toBe(true);
    for (const axes of ['layer', 'instance', 'group'] as const) expect(wasmNormSupports({ axes, N: 2, C: 3, S: 4, groups: 1 })).toBe(false);
  });

  it('errors name the argument, the expected and the actual value', () => {
    const l: NormLayout = { axes: 'batch', N: 2, C: 3, S: 4, groups: 1 };
    const x = new Float32Array(24);
    const c3 = new Float32Array(3);
    expect(() => normForwardWasm(x, { ...l, axes: 'group' }, 1e-5, null, null, x, c3, c3)).toThrow(/normForwardWasm: l.axes must be 'batch'.*got 'group'/);
    expect(() => normForwardWasm(x, l, 1e-5, null, null, new Float32Array(23), c3, c3)).toThrow(/normForwardWasm: y must have 24 elements \(N·C·S\), got 23/);
    expect(() => normApplyWasm(x, l, c3, new Float32Array(2), 1e-5, null, null, x)).toThrow(/normApplyWasm: variance must have 3 elements \(C\), got 2/);
    expect(() => normApplyWasm(x, l, c3, c3, -1, null, null, x)).toThrow(/normApplyWasm: eps must be a number >= 0, got -1/);
    expect(() => normBackwardWasm(x, x, { ...l, S: 4.5 }, c3, c3, 1e-5, null, true, x, c3, c3)).toThrow(/normBackwardWasm: l.S must be an integer >= 0, got 4.5/);
    expect(() => normBackwardWasm(x, x, l, c3, c3, 1e-5, new Float64Array(3) as unknown as Float32Array, true, x, c3, c3)).toThrow(
      /normBackwardWasm: weight must be a Float32Array, got Float64Array/,
    );
  });
});
