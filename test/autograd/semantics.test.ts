// Autograd semantics, as PyTorch defines them: accumulation, freed graphs, implicit gradients,
// noGrad, detach, retainGrad and which tensors may require grad. Expected numbers come from the
// closed-form derivative evaluated in plain JS on the same inputs.
import { describe, expect, it } from 'vitest';
import { AutogradError, DTypeError, ShapeError, type Tensor, isGradEnabled, noGrad, ones, randn, tensor } from '../../index.js';
import { expectClose } from '../helpers/assert.js';

const X = [0.5, -1.25, 2];
const leaf = (v: number[] = X): Tensor => tensor(v, { dtype: 'float64', requiresGrad: true });

describe('gradient accumulation', () => {
  it('x*x with x=[3]: the reused input gets 2x', () => {
    const x = leaf();
    x.mul(x).sum().backward();
    expectClose(x.grad!, X.map((v) => 2 * v));
  });

  it('diamond x=[3]: y=exp(x), z=2y + y·y, dz/dx = (2 + 2y)·y', () => {
    const x = leaf();
    const y = x.exp();
    y.mul(2).add(y.mul(y)).sum().backward();
    expectClose(x.grad!, X.map((v) => (2 + 2 * Math.exp(v)) * Math.exp(v)), { rtol: 1e-14 });
  });

  it('broadcast reuse x=[3]: x + x.unsqueeze(1) sums the [3,3] gradient back twice', () => {
    const x = leaf();
    x.add(x.unsqueeze(1)).sum().backward();
    expectClose(x.grad!, X.map(() => 2 * X.length));
  });

  it('.grad accumulates across two backward calls x=[3]', () => {
    const x = leaf();
    x.mul(3).sum().backward();
    x.mul(x).sum().backward();
    expectClose(x.grad!, X.map((v) => 3 + 2 * v));
  });

  it('a deep chain of 3000 ops backpropagates (no recursion limit)', () => {
    const x = leaf([1]);
    const depth = 3000;
    let y = x;
    for (let i = 0; i < depth; i++) y = y.add(x);
    y.sum().backward();
    expect(x.grad!.item()).toBe(depth + 1);
  });

  it('inputs that do not reach the output keep grad null', () => {
    const x = leaf();
    const unused = leaf();
    x.sum().backward();
    expect(unused.grad).toBeNull();
  });
});

describe('backward errors, like PyTorch', () => {
  it('backward twice through a freed graph throws; retainGraph keeps it', () => {
    const x = leaf();
    const y = x.exp().sum();
    y.backward();
    expect(() => y.backward()).toThrow(AutogradError);
    expect(() => y.backward()).toThrow(/backward through the graph a second time.*retainGraph/);

    const x2 = leaf();
    const y2 = x2.exp().sum();
    y2.backward(undefined, { retainGraph: true });
    y2.backward();
    expectClose(x2.grad!, X.map((v) => 2 * Math.exp(v)), { rtol: 1e-14 });
  });

  it('non-scalar backward without gradOutput x=[3] throws naming the shape', () => {
    const y = leaf().mul(2);
    expect(() => y.backward()).toThrow(AutogradError);
    expect(() => y.backward()).toThrow(/implicitly created only for scalar outputs; output has shape \[3\]/);
  });

  it('non-scalar backward with gradOutput works; a wrong-shaped gradOutput throws', () => {
    const x = leaf();
    const y = x.mul(2);
    expect(() => y.backward(ones([2], { dtype: 'float64' }))).toThrow(ShapeError);
    const gOut = [1, 10, 100];
    y.backward(tensor(gOut, { dtype: 'float64' }));
    expectClose(x.grad!, gOut.map((v) => 2 * v));
  });

  it('backward on a tensor that does not require grad throws', () => {
    expect(() => tensor([1, 2], { dtype: 'float64' }).sum().backward()).toThrow(/does not require grad/);
  });
});

describe('graph control', () => {
  it('noGrad records nothing and restores the mode, even after a throw', () => {
    const x = leaf();
    const y = noGrad(() => x.mul(2));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    expect(isGradEnabled()).toBe(true);
    expect(() =>
      noGrad(() => {
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(isGradEnabled()).toBe(true);
    expect(x.mul(2).requiresGrad).toBe(true);
  });

  it('detach shares data, cuts the graph: d(x · x.detach())/dx = x.detach()', () => {
    const x = leaf();
    const d = x.detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.isLeaf).toBe(true);
    expect(d.storage).toBe(x.storage);
    x.mul(d).sum().backward();
    expectClose(x.grad!, X);
  });

  it('retainGrad fills .grad of a non-leaf; others stay null', () => {
    const x = leaf();
    const h = x.mul(2).retainGrad();
    const k = h.exp();
    k.sum().backward();
    expectClose(h.grad!, X.map((v) => Math.exp(2 * v)), { rtol: 1e-14 });
    expect(k.grad).toBeNull();
    expectClose(x.grad!, X.map((v) => 2 * Math.exp(2 * v)), { rtol: 1e-14 });
  });

  it('requiresGrad on int32 throws, from the setter and from tensor()', () => {
    const i = tensor([1, 2, 3]);
    expect(i.dtype).toBe('int32');
    expect(() => {
      i.requiresGrad = true;
    }).toThrow(DTypeError);
    expect(() => tensor([1, 2], { requiresGrad: true })).toThrow(/only tensors of floating point dtype can require gradients, but got int32/);
  });

  it('requiresGrad cannot be switched on a non-leaf', () => {
    const y = leaf().mul(2);
    expect(() => {
      y.requiresGrad = false;
    }).toThrow(/only change requiresGrad flags of leaf tensors/);
  });

  it('gradients take the dtype of their tensor: float64 gradOutput into float32 x=[3] through a view', () => {
    const x = tensor(X, { dtype: 'float32', requiresGrad: true });
    x.permute([0]).backward(ones([3], { dtype: 'float64' }));
    expect(x.grad!.dtype).toBe('float32');
    expectClose(x.grad!, [1, 1, 1]);
  });

  it('a cast to int32 carries no gradient (requiresGrad false), float casts do', () => {
    const x = leaf();
    expect(x.int().requiresGrad).toBe(false);
    expect(x.float().requiresGrad).toBe(true);
  });

  it('the leaf .grad owns its buffer: a = b + b gives two distinct grads', () => {
    const a = leaf();
    const b = leaf();
    a.add(b).sum().backward();
    expect(a.grad!.storage).not.toBe(b.grad!.storage);
  });
});

describe('reduction over an empty dim list', () => {
  it('sum(x, []) reduces every dim, as torch 1.13', () => {
    const x = randn([2, 3], { dtype: 'float64' });
    expect(x.sum([]).item()).toBeCloseTo(x.sum().item(), 12);
  });
});

describe('in-place modification of a tensor the graph needs', () => {
  it('assign() to an input the backward reads, between forward and backward, is an AutogradError, as torch', () => {
    // x requires grad, so matmul's backward reads w (dx = g·wᵀ): torch 1.13 refuses this
    const w = randn([3, 3], { dtype: 'float64', requiresGrad: true });
    const x = randn([2, 3], { dtype: 'float64', requiresGrad: true });
    const loss = x.matmul(w).sum();
    noGrad(() => w.assign(w.mul(0.5)));
    expect(() => loss.backward()).toThrow(/modified by an in-place operation: input 1 of 'matmul'.*version 1, expected version 0/);
  });
  it('assign() to an input the backward does not read is fine, as torch (only dw = xᵀ·g is needed)', () => {
    const w = randn([3, 3], { dtype: 'float64', requiresGrad: true });
    const x = randn([2, 3], { dtype: 'float64' });
    const loss = x.matmul(w).sum();
    noGrad(() => w.assign(w.mul(0.5)));
    loss.backward();
    expectClose(w.grad as Tensor, x.t().matmul(ones([2, 3], { dtype: 'float64' })));
  });
  it('assign() after backward is fine, and a fresh forward sees the new values', () => {
    const w = randn([3], { dtype: 'float64', requiresGrad: true });
    w.mul(2).sum().backward();
    noGrad(() => w.assign(w.sub(w.grad as Tensor)));
    w.grad = null;
    w.mul(w).sum().backward();
    const gradOf = (t: Tensor): Tensor => t.grad as Tensor; // (w.grad was narrowed to null above)
    expectClose(gradOf(w), w.mul(2).detach());
  });
});
