// What gradcheck promises, pinned: its default tolerances (atol 1e-5, rtol 1e-3) are tested from
// both sides of the line |analytic − numeric| <= atol + rtol·|numeric|, in full and fast mode,
// and a NaN or an Infinity in either Jacobian always fails, naming the element. Each case is a
// planted op: y = c·x (so the numeric derivative is c to ~1e-10) with a backward chosen on purpose.
import { describe, expect, it } from 'vitest';
import { Generator, type Tensor, autograd, tensor } from '../../index.js';

const { GradcheckError, gradcheck, record } = autograd;

const ATOL = 1e-5; // gradcheck's documented defaults
const RTOL = 1e-3;

/** A float64 leaf of the given values. */
const leaf = (values: number[]): Tensor => tensor(values, { dtype: 'float64', requiresGrad: true });

/**
 * y_i = c·x_i, computed in JS. `forwardBad(i, x, x0)` may replace y_i (to plant a NaN that shows
 * only when x moves away from x0); `grad(i, g_i)` is the backward's value for element i.
 */
function planted(x: Tensor, c: number, grad: (i: number, g: number) => number, forwardBad?: (i: number, xs: Float64Array) => number | null): Tensor {
  const xs = x.toArray() as Float64Array;
  const y = Float64Array.from(xs, (v, i) => forwardBad?.(i, xs) ?? c * v);
  const out = tensor(y, { shape: [...x.shape], dtype: 'float64' });
  return record(out, 'planted', [x], (g) => [tensor(Float64Array.from(g.toArray(), (gi, i) => grad(i, gi)), { shape: [...g.shape], dtype: 'float64' })]);
}

/** The backward off by `delta` per unit of gradient: analytic J = (c + delta)·I. */
const offBy = (c: number, delta: number) => (x: Tensor) => planted(x, c, (_, g) => (c + delta) * g);

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(GradcheckError);
    return (e as Error).message;
  }
  throw new Error('expected gradcheck to fail');
}

describe('default tolerances, full Jacobian: just inside passes, just outside fails', () => {
  // the allowed error is atol + rtol·|c|: at c = 0 it is atol alone, at c = 1000 mostly rtol
  for (const c of [0, 2, -1000]) {
    const tol = ATOL + RTOL * Math.abs(c);
    it(`y = ${c}·x, x=[3]: analytic off by 0.999·(atol + rtol·|c|) = ${0.999 * tol} passes`, () => {
      expect(gradcheck(offBy(c, 0.999 * tol), [leaf([0.3, -1.2, 2.5])])).toBe(true);
      expect(gradcheck(offBy(c, -0.999 * tol), [leaf([0.3, -1.2, 2.5])])).toBe(true);
    });
    it(`y = ${c}·x, x=[3]: analytic off by 1.001·(atol + rtol·|c|) = ${1.001 * tol} fails, naming a diagonal element`, () => {
      const msg = message(() => gradcheck(offBy(c, 1.001 * tol), [leaf([0.3, -1.2, 2.5])]));
      expect(msg).toMatch(/Jacobian mismatch for input 0 \(shape \[3\]\) at output element (\d), input element \1: analytic \S+ vs numeric \S+/);
      expect(gradcheck(offBy(c, -1.001 * tol), [leaf([0.3, -1.2, 2.5])], { raiseException: false })).toBe(false);
    });
  }
});

describe('default tolerances, fast mode: the projection vᵀJu, just inside and just outside', () => {
  // With one input element and one output, fast mode compares (c + δ)·v·u with c·v·u, v and u
  // the first two normals of Generator(seed): |δ·v·u| against atol + rtol·|c·v·u|.
  for (const [c, seed] of [[0, 0], [3, 5], [-500, 9]] as const) {
    const gen = new Generator(seed);
    const vu = Math.abs(gen.normal() * gen.normal());
    const tol = (ATOL + RTOL * Math.abs(c) * vu) / vu;
    it(`y = ${c}·x, x=[1], seed ${seed}: δ = 0.999·bound passes, 1.001·bound fails`, () => {
      expect(gradcheck(offBy(c, 0.999 * tol), [leaf([0.7])], { fastMode: true, seed })).toBe(true);
      const msg = message(() => gradcheck(offBy(c, 1.001 * tol), [leaf([0.7])], { fastMode: true, seed }));
      expect(msg).toMatch(/fast mode.*input 0 \(shape \[1\]\): projection vᵀJu analytic \S+ vs numeric \S+/);
    });
  }
});

describe('a NaN or an Infinity in the analytic Jacobian fails and is named', () => {
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
    // J[1][1] is bad, every other entry right (rows other than 1 send g_1 = 0)
    const op = (x: Tensor) => planted(x, 2, (i, g) => (i === 1 && g !== 0 ? bad : 2 * g));
    it(`full mode: analytic J[1][1] = ${bad}`, () => {
      const msg = message(() => gradcheck(op, [leaf([0.5, 1.5, -0.5])]));
      expect(msg).toMatch(new RegExp(`at output element 1, input element 1: analytic ${String(bad)} vs numeric (2|1\\.9999\\d*) \\(not finite`));
      expect(gradcheck(op, [leaf([0.5, 1.5, -0.5])], { raiseException: false })).toBe(false);
    });
    it(`fast mode: analytic Jᵀv has ${bad} at input element 1`, () => {
      const msg = message(() => gradcheck(op, [leaf([0.5, 1.5, -0.5])], { fastMode: true }));
      expect(msg).toMatch(new RegExp(`the analytic Jᵀv is ${String(bad)} at input element 1`));
    });
  }
});

describe('a NaN or an Infinity in the numeric Jacobian fails and is named', () => {
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
    // y_2 turns `bad` when x_0 moves up: the numeric column 0 holds it at row 2
    const op = (x0: number) => (x: Tensor) => planted(x, 2, (_, g) => 2 * g, (i, xs) => (i === 2 && xs[0] > x0 ? bad : null));
    it(`full mode: numeric J[2][0] = ${bad}`, () => {
      const msg = message(() => gradcheck(op(0.25), [leaf([0.25, 1, 2])]));
      expect(msg).toMatch(new RegExp(`at output element 2, input element 0: analytic 0 vs numeric ${bad === bad ? 'Infinity' : 'NaN'}`));
    });
    it(`fast mode: numeric Ju has ${bad} at output element 2`, () => {
      const msg = message(() => gradcheck(op(0.25), [leaf([0.25, 1, 2])], { fastMode: true }));
      expect(msg).toMatch(/the numeric Ju is (NaN|-?Infinity) at output element 2/);
    });
  }

  it('equal infinities on both sides still fail (∞ − ∞ is NaN; torch.allclose would pass them)', () => {
    const op = (x: Tensor) =>
      planted(
        x,
        1,
        (i, g) => (i === 0 && g !== 0 ? Number.POSITIVE_INFINITY : g),
        (i, xs) => (i === 0 ? (xs[0] === 1 ? 1 : Number.POSITIVE_INFINITY * Math.sign(xs[0] - 1)) : null),
      );
    const msg = message(() => gradcheck(op, [leaf([1, 3])]));
    expect(msg).toMatch(/at output element 0, input element 0: analytic Infinity vs numeric Infinity/);
  });

  it('a NaN among finite mismatches is the element named (it ranks worst)', () => {
    const op = (x: Tensor) => planted(x, 1, (i, g) => (i === 2 && g !== 0 ? Number.NaN : 1.5 * g));
    expect(message(() => gradcheck(op, [leaf([1, 2, 3])]))).toMatch(/at output element 2, input element 2: analytic NaN/);
  });
});
