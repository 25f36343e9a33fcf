// gradcheck must catch a wrong backward: ops built with `record` whose backward is off on
// purpose, in full-Jacobian and fast mode, with the failing input, index and both values named.
import { describe, expect, it } from 'vitest';
import { DTypeError, Generator, type Tensor, autograd, randn, tensor } from '../../index.js';

const { GradcheckError, gradcheck, mul, record, run1 } = autograd;

/** y = x², with the backward claiming dy/dx = x (the correct one is 2x). */
function badSquare(x: Tensor): Tensor {
  const out = run1('binary', [x, x], { op: 'mul', dtype: x.dtype });
  return record(out, 'badSquare', [x], (g) => [mul(g, x)]);
}

/** y = a·b elementwise, correct for a but scaled by `factor` for b. */
function scaledMul(a: Tensor, b: Tensor, factor: number): Tensor {
  const out = run1('binary', [a, b], { op: 'mul', dtype: a.dtype });
  return record(out, 'scaledMul', [a, b], (g) => [mul(g, b), mul(mul(g, a), factor)]);
}

/** Pull "analytic A vs numeric N" and the element indices out of a gradcheck message. */
function parse(msg: string): { input: number; outEl: number; inEl: number; analytic: number; numeric: number } {
  const m = /input (\d+) .* at output element (\d+), input element (\d+): analytic (\S+) vs numeric (\S+)/.exec(msg);
  if (!m) throw new Error(`unexpected gradcheck message: ${msg}`);
  return { input: +m[1]!, outEl: +m[2]!, inEl: +m[3]!, analytic: +m[4]!, numeric: +m[5]! };
}

describe('gradcheck catches wrong backwards', () => {
  it('badSquare x=[5]: throws GradcheckError naming input 0, the worst element and both values', () => {
    const x = randn([5], { dtype: 'float64', requiresGrad: true, generator: new Generator(7) });
    const xs = Array.from(x.toArray());
    let err: unknown;
    try {
      gradcheck(badSquare, [x]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GradcheckError);
    const r = parse((err as Error).message);
    // The Jacobian is diagonal; the worst excess |x_j − 2x_j| − (atol + rtol·|2x_j|) is at max |x_j|.
    const worst = xs.reduce((best, v, j) => (Math.abs(v) > Math.abs(xs[best]!) ? j : best), 0);
    expect(r).toMatchObject({ input: 0, outEl: worst, inEl: worst });
    expect(r.analytic).toBe(xs[worst]);
    expect(Math.abs(r.numeric - 2 * xs[worst]!)).toBeLessThan(1e-6);
  });

  it('wrong gradient only for the second input a=[2,3] b=[2,3]: names input 1', () => {
    const g = new Generator(8);
    const a = randn([2, 3], { dtype: 'float64', requiresGrad: true, generator: g });
    const b = randn([2, 3], { dtype: 'float64', requiresGrad: true, generator: g });
    expect(() => gradcheck((p, q) => scaledMul(p!, q!, -1), [a, b])).toThrow(/input 1 \(shape \[2, 3\]\)/);
    // the same op with the right factor passes, so the failure above is the backward's fault
    expect(gradcheck((p, q) => scaledMul(p!, q!, 1), [a, b])).toBe(true);
  });

  it('applies |analytic − numeric| <= atol + rtol·|numeric|: 1% off fails at rtol=1e-3, passes at rtol=2e-2', () => {
    const g = new Generator(9);
    const a = randn([4], { dtype: 'float64', requiresGrad: true, generator: g });
    const b = randn([4], { dtype: 'float64', requiresGrad: true, generator: g });
    const f = (p: Tensor, q: Tensor): Tensor => scaledMul(p, q, 1.01);
    expect(() => gradcheck((p, q) => f(p!, q!), [a, b], { atol: 0 })).toThrow(GradcheckError);
    expect(gradcheck((p, q) => f(p!, q!), [a, b], { atol: 0, rtol: 2e-2 })).toBe(true);
  });

  it('raiseException=false returns false instead of throwing', () => {
    const x = randn([3], { dtype: 'float64', requiresGrad: true, generator: new Generator(10) });
    expect(gradcheck(badSquare, [x], { raiseException: false })).toBe(false);
  });

  it('fastMode catches badSquare x=[4,6] through a random projection', () => {
    const x = randn([4, 6], { dtype: 'float64', requiresGrad: true, generator: new Generator(11) });
    expect(() => gradcheck(badSquare, [x], { fastMode: true })).toThrow(GradcheckError);
    expect(() => gradcheck(badSquare, [x], { fastMode: true })).toThrow(/fast mode.*input 0 \(shape \[4, 6\]\).*analytic \S+ vs numeric \S+/);
    expect(gradcheck((t) => mul(t!, t!), [x], { fastMode: true })).toBe(true);
  });

  it('checks a non-contiguous leaf x=[4,3] (a transposed view) and several outputs at once', () => {
    const xt = randn([3, 4], { dtype: 'float64', generator: new Generator(14) }).t().detach();
    xt.requiresGrad = true;
    expect(xt.isContiguous()).toBe(false);
    const f = (x: Tensor): Tensor[] => [autograd.sum(autograd.exp(x), 0), autograd.tanh(x)];
    expect(gradcheck((x) => f(x!), [xt])).toBe(true);
    expect(gradcheck((x) => f(x!), [xt], { fastMode: true })).toBe(true);
    // a wrong backward in the second output is found at its place in the stacked outputs
    expect(() => gradcheck((x) => [autograd.tanh(x!), badSquare(x!)], [xt])).toThrow(/at output element (1[2-9]|2[0-3]),/);
  });

  it('refuses float32 inputs with an explanation', () => {
    const x = tensor([1, 2, 3], { dtype: 'float32', requiresGrad: true });
    expect(() => gradcheck((t) => mul(t!, t!), [x])).toThrow(DTypeError);
    expect(() => gradcheck((t) => mul(t!, t!), [x])).toThrow(/input 0 has dtype float32, expected float64.*\.double\(\)/);
  });

  it('leaves the inputs\' existing .grad as it found it, on success and on failure', () => {
    const x = randn([3], { dtype: 'float64', requiresGrad: true, generator: new Generator(12) });
    mul(x, 3).sum().backward();
    const before = Array.from(x.grad!.toArray());
    gradcheck((t) => mul(t!, t!), [x]);
    expect(Array.from(x.grad!.toArray())).toEqual(before);
    expect(() => gradcheck(badSquare, [x])).toThrow(GradcheckError);
    expect(Array.from(x.grad!.toArray())).toEqual(before);
    const y = randn([3], { dtype: 'float64', requiresGrad: true, generator: new Generator(13) });
    gradcheck((t) => mul(t!, t!), [y], { fastMode: true });
    expect(y.grad).toBeNull();
  });

  it('refuses when no input requires grad', () => {
    const x = tensor([1, 2, 3], { dtype: 'float64' });
    expect(() => gradcheck((t) => mul(t!, t!), [x])).toThrow(/at least one input tensor must have requiresGrad=true/);
  });
});
