// The fast norm kernels against the reference loops (kernels/cpu/norm.ts) on random layouts:
// all four axis choices, with and without γ/β, batch and fixed statistics, float64 and float32.
// Both compute in doubles; only the order of operations differs (a·x + b vs (x − μ)·r·γ + β,
// folded backward coefficients), so float64 agrees to ~1e-15 relative (we allow 1e-12) and
// float32 to one rounding of the stored result (we allow 1e-6 relative, 1e-6 absolute for
// values that cancel to near zero).
import { describe, expect, it } from 'vitest';
import { Generator } from '../../index.js';
import {
  normApply,
  normApplyReference,
  normBackward,
  normBackwardReference,
  normForward,
  normForwardReference,
} from '../../kernels/cpu/norm.js';
import { type NormAxes, type NormLayout, numSets, setOf, setSize } from '../../kernels/geometry.js';
import { expectClose } from '../helpers/assert.js';

type Floats = Float32Array | Float64Array;
const gen = new Generator(7);

function random(n: number, dtype: 'float32' | 'float64', scale = 1, shift = 0): Floats {
  const a = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = gen.normal() * scale + shift;
  return a;
}

function layouts(): NormLayout[] {
  const out: NormLayout[] = [];
  for (const axes of ['batch', 'layer', 'instance', 'group'] as NormAxes[]) {
    for (const [N, C, S] of [[1, 1, 5], [2, 3, 1], [3, 4, 7], [2, 6, 9], [1, 8, 1], [4, 2, 3]] as const) {
      const divisors = Array.from({ length: C }, (_, i) => i + 1).filter((g) => C % g === 0);
      for (const groups of axes === 'group' ? divisors : [1]) out.push({ axes, N, C, S, groups });
    }
  }
  return out;
}

const name = (l: NormLayout): string => `${l.axes} x=[${l.N},${l.C},${l.S}]${l.axes === 'group' ? ` G=${l.groups}` : ''}`;
const TOL = { float64: { atol: 1e-12, rtol: 1e-12 }, float32: { atol: 1e-6, rtol: 1e-6 } };

describe('norm layouts', () => {
  it('every element of x[N, C, S] lands in exactly one set, and every set has m elements', () => {
    for (const l of layouts()) {
      const count = new Array<number>(numSets(l)).fill(0);
      for (let n = 0; n < l.N; n++) for (let c = 0; c < l.C; c++) count[setOf(l, n, c)] += l.S;
      expect(count, name(l)).toEqual(new Array(numSets(l)).fill(setSize(l)));
    }
  });
});

describe('fast norm kernels == reference', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    for (const l of layouts()) {
      for (const affine of [true, false]) {
        it(`${name(l)} ${dtype}${affine ? ' affine' : ''}`, () => {
          const size = l.N * l.C * l.S;
          const sets = numSets(l);
          const mk = (n: number) => (dtype === 'float64' ? new Float64Array(n) : new Float32Array(n));
          const x = random(size, dtype, 2, 0.7);
          const gy = random(size, dtype);
          const w = affine ? random(l.C, dtype) : null;
          const b = affine ? random(l.C, dtype) : null;
          const eps = 1e-5;
          const tol = TOL[dtype];

          const [yR, meanR, varR, yF, meanF, varF] = [mk(size), mk(sets), mk(sets), mk(size), mk(sets), mk(sets)];
          normForwardReference(x, l, eps, w, b, yR, meanR, varR);
          normForward(x, l, eps, w, b, yF, meanF, varF);
          expectClose(meanF, meanR, { ...tol, label: 'mean' });
          expectClose(varF, varR, { ...tol, label: 'var' });
          expectClose(yF, yR, { ...tol, label: 'forward y' });

          // Fixed per-channel statistics, as running averages in eval mode.
          const perChannel: NormLayout = { ...l, axes: 'batch' };
          const rm = random(l.C, dtype);
          const rv = random(l.C, dtype, 0.3, 1).map(Math.abs) as Floats;
          const [aR, aF] = [mk(size), mk(size)];
          normApplyReference(x, perChannel, rm, rv, eps, w, b, aR);
          normApply(x, perChannel, rm, rv, eps, w, b, aF);
          expectClose(aF, aR, { ...tol, label: 'apply y' });

          for (const batchStats of [true, false]) {
            const stats: [NormLayout, Floats, Floats] = batchStats ? [l, meanR, varR] : [perChannel, rm, rv];
            const [gxR, gwR, gbR, gxF, gwF, gbF] = [mk(size), mk(l.C), mk(l.C), mk(size), mk(l.C), mk(l.C)];
            normBackwardReference(x, gy, stats[0], stats[1], stats[2], eps, w, batchStats, gxR, gwR, gbR);
            normBackward(x, gy, stats[0], stats[1], stats[2], eps, w, batchStats, gxF, gwF, gbF);
            expectClose(gxF, gxR, { ...tol, label: `gx batchStats=${batchStats}` });
            expectClose(gwF, gwR, { ...tol, label: `gWeight batchStats=${batchStats}` });
            expectClose(gbF, gbR, { ...tol, label: `gBias batchStats=${batchStats}` });
          }
        });
      }
    }
  }
});

describe('numerics', () => {
  it('two-pass variance keeps a large mean from cancelling: x = 1e8 + N(0,1), batch x=[4,2,50]', () => {
    const l: NormLayout = { axes: 'batch', N: 4, C: 2, S: 50, groups: 1 };
    const x = random(400, 'float64', 1, 1e8);
    const shifted = x.map((v) => v - 1e8);
    const [m1, v1, m2, v2] = [new Float64Array(2), new Float64Array(2), new Float64Array(2), new Float64Array(2)];
    const [y1, y2] = [new Float64Array(400), new Float64Array(400)];
    normForward(x, l, 1e-5, null, null, y1, m1, v1);
    normForward(shifted, l, 1e-5, null, null, y2, m2, v2);
    // Summing 200 values near 1e8 rounds each partial sum (~2e10) by up to ~2e-6, so the mean
    // may be off by ~2e-6 at worst; that shifts x̂ by as much. A one-pass E[x²] − E[x]² would
    // subtract two numbers near 1e16 and lose the variance (~1) entirely (ulp(1e16) = 2).
    expectClose(v1, v2, { atol: 1e-5, rtol: 1e-5 });
    expectClose(y1, y2, { atol: 1e-5, rtol: 1e-5 });
  });
});
