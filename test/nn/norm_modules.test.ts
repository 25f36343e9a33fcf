// Norm modules and ops: PyTorch 1.13 defaults and state-dict names, running-statistics
// semantics (momentum, cumulative average, train vs eval), the "conv before BN needs no bias"
// property, and the errors for bad input. Expected numbers come from our own ops (batch means
// and variances) or from the oracle fixtures, never typed in.
import { describe, expect, it } from 'vitest';
import { F, Generator, type Tensor, ValueError, ShapeError, DTypeError, nn, noGrad, ones, randn, zeros } from '../../index.js';
import { expectClose } from '../helpers/assert.js';

const gen = new Generator(3);
const rnd = (shape: number[], dtype: 'float32' | 'float64' = 'float64'): Tensor => randn(shape, { dtype, generator: gen });

describe('defaults and state dict (torch 1.13 / torchvision names)', () => {
  it('BatchNorm2d(3): eps 1e-5, momentum 0.1, γ=1, β=0, running 0/1, num_batches_tracked int32 0', () => {
    const bn = new nn.BatchNorm2d(3);
    expect([bn.eps, bn.momentum, bn.affine, bn.trackRunningStats]).toEqual([1e-5, 0.1, true, true]);
    expect(Object.keys(bn.stateDict())).toEqual(['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);
    expect([...bn.weight!.toArray()]).toEqual([1, 1, 1]);
    expect([...bn.bias!.toArray()]).toEqual([0, 0, 0]);
    expect([...bn.running_mean!.toArray()]).toEqual([0, 0, 0]);
    expect([...bn.running_var!.toArray()]).toEqual([1, 1, 1]);
    expect(bn.num_batches_tracked!.dtype).toBe('int32');
    expect(bn.num_batches_tracked!.shape).toEqual([]);
    expect(bn.weight!.dtype).toBe('float32');
    expect(bn.parameters()).toHaveLength(2);
  });

  it('BatchNorm1d(4, affine=false, trackRunningStats=false) has no parameters and no buffers', () => {
    const bn = new nn.BatchNorm1d(4, { affine: false, trackRunningStats: false });
    expect(Object.keys(bn.stateDict())).toEqual([]);
    expect(bn.weight).toBeNull();
    expect(bn.running_mean).toBeNull();
  });

  it('InstanceNorm2d(3): affine false and trackRunningStats false by default; with them, BN-like buffers', () => {
    const inorm = new nn.InstanceNorm2d(3);
    expect([inorm.affine, inorm.trackRunningStats, inorm.momentum, inorm.eps]).toEqual([false, false, 0.1, 1e-5]);
    expect(Object.keys(inorm.stateDict())).toEqual([]);
    const tracked = new nn.InstanceNorm2d(3, { affine: true, trackRunningStats: true });
    expect(Object.keys(tracked.stateDict())).toEqual(['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);
  });

  it('LayerNorm([4, 5]) has γ, β of the normalized shape; elementwiseAffine false has none', () => {
    const ln = new nn.LayerNorm([4, 5]);
    expect(ln.weight!.shape).toEqual([4, 5]);
    expect(ln.eps).toBe(1e-5);
    expect(Object.keys(ln.stateDict())).toEqual(['weight', 'bias']);
    expect(new nn.LayerNorm(5, { elementwiseAffine: false }).parameters()).toHaveLength(0);
  });

  it('GroupNorm(2, 6): γ, β per channel, no buffers', () => {
    const gn = new nn.GroupNorm(2, 6);
    expect(gn.weight!.shape).toEqual([6]);
    expect(Object.keys(gn.stateDict())).toEqual(['weight', 'bias']);
    expect(new nn.GroupNorm(2, 6, { affine: false }).parameters()).toHaveLength(0);
  });

  it('double() converts γ, β and running stats but keeps num_batches_tracked int32', () => {
    const bn = new nn.BatchNorm2d(2).double();
    expect(bn.weight!.dtype).toBe('float64');
    expect(bn.running_var!.dtype).toBe('float64');
    expect(bn.num_batches_tracked!.dtype).toBe('int32');
  });
});

/** The batch's mean and unbiased variance per channel of x [N, C, *], from primitive ops. */
function batchStats(x: Tensor): [Tensor, Tensor] {
  const dims = x.shape.map((_, d) => d).filter((d) => d !== 1);
  return [x.mean(dims), x.var(dims, true)];
}

describe('running statistics', () => {
  it('BatchNorm2d momentum 0.1: running = 0.9·running + 0.1·batch (unbiased variance), x=[4,3,2,5]', () => {
    const bn = new nn.BatchNorm2d(3, { dtype: 'float64' });
    let rm = zeros([3], { dtype: 'float64' });
    let rv = ones([3], { dtype: 'float64' });
    for (let step = 1; step <= 3; step++) {
      const x = rnd([4, 3, 2, 5]).mul(2).add(1);
      bn.forward(x);
      const [m, v] = batchStats(x);
      rm = rm.mul(0.9).add(m.mul(0.1));
      rv = rv.mul(0.9).add(v.mul(0.1));
      expectClose(bn.running_mean!, rm, { atol: 1e-12, rtol: 1e-12 });
      expectClose(bn.running_var!, rv, { atol: 1e-12, rtol: 1e-12 });
      expect(bn.num_batches_tracked!.item()).toBe(step);
    }
  });

  it('BatchNorm1d momentum null: running stats are the plain average of all batch stats, x=[5,2]', () => {
    const bn = new nn.BatchNorm1d(2, { momentum: null, dtype: 'float64' });
    const means: Tensor[] = [];
    const vars: Tensor[] = [];
    for (let step = 1; step <= 4; step++) {
      const x = rnd([5, 2]).add(step);
      bn.forward(x);
      const [m, v] = batchStats(x);
      means.push(m);
      vars.push(v);
      const avg = (ts: Tensor[]) => ts.reduce((a, b) => a.add(b)).div(ts.length);
      expectClose(bn.running_mean!, avg(means), { atol: 1e-12, rtol: 1e-12 });
      expectClose(bn.running_var!, avg(vars), { atol: 1e-12, rtol: 1e-12 });
    }
  });

  it('eval uses the running stats and changes nothing; trackRunningStats=false uses batch stats in eval', () => {
    const x = rnd([3, 2, 2, 2]);
    const bn = new nn.BatchNorm2d(2, { dtype: 'float64' });
    bn.forward(rnd([3, 2, 2, 2]));
    const before = [bn.running_mean!.toArray(), bn.running_var!.toArray(), bn.num_batches_tracked!.item()];
    bn.eval();
    const y = bn.forward(x);
    expect([bn.running_mean!.toArray(), bn.running_var!.toArray(), bn.num_batches_tracked!.item()]).toEqual(before);
    expectClose(y, F.batchNorm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias), { atol: 0, rtol: 0 });
    const untracked = new nn.BatchNorm2d(2, { trackRunningStats: false, dtype: 'float64' }).eval();
    expectClose(untracked.forward(x), F.batchNorm(x, null, null, null, null, { training: true }), { atol: 0, rtol: 0 });
  });

  it('InstanceNorm2d with running stats: batch average of per-instance means and unbiased variances, x=[3,2,4,3]', () => {
    const inorm = new nn.InstanceNorm2d(2, { trackRunningStats: true, dtype: 'float64' });
    const x = rnd([3, 2, 4, 3]).add(2);
    inorm.forward(x);
    const m = x.mean([2, 3]).mean(0);
    const v = x.var([2, 3], true).mean(0);
    expectClose(inorm.running_mean!, m.mul(0.1), { atol: 1e-12, rtol: 1e-12 });
    expectClose(inorm.running_var!, v.mul(0.1).add(0.9), { atol: 1e-12, rtol: 1e-12 });
    expect(inorm.num_batches_tracked!.item()).toBe(0); // torch's InstanceNorm does not count
    inorm.eval();
    expectClose(inorm.forward(x), F.instanceNorm(x, inorm.running_mean, inorm.running_var, null, null, { useInputStats: false }), { atol: 0, rtol: 0 });
  });

  it('InstanceNorm2d takes unbatched [C, H, W] input like [1, C, H, W]', () => {
    const inorm = new nn.InstanceNorm2d(2, { dtype: 'float64' });
    const x = rnd([2, 3, 3]);
    const y = inorm.forward(x);
    expect(y.shape).toEqual([2, 3, 3]);
    expectClose(y, inorm.forward(x.unsqueeze(0)).squeeze(0), { atol: 0, rtol: 0 });
  });

  it('strided (permuted) input gives the same values and gradients as its contiguous copy, x=[2,5,3,4]→[2,3,4,5]', () => {
    const base = rnd([2, 5, 3, 4]);
    const norms: [string, (x: Tensor) => Tensor][] = [
      ['batchNorm', (x) => F.batchNorm(x, null, null, null, null, { training: true })],
      ['layerNorm', (x) => F.layerNorm(x, [4, 5])],
      ['instanceNorm', (x) => F.instanceNorm(x)],
      ['groupNorm', (x) => F.groupNorm(x, 3)],
    ];
    for (const [label, f] of norms) {
      const a = base.clone().detach();
      a.requiresGrad = true;
      const strided = a.permute([0, 2, 3, 1]);
      expect(strided.isContiguous()).toBe(false);
      const b = strided.contiguous().detach();
      b.requiresGrad = true;
      const gy = rnd([2, 3, 4, 5]);
      const ya = f(strided);
      const yb = f(b);
      expectClose(ya, yb, { atol: 0, rtol: 0, label });
      ya.backward(gy);
      yb.backward(gy);
      expectClose(a.grad!.permute([0, 2, 3, 1]).contiguous(), b.grad!, { atol: 0, rtol: 0, label: `${label} grad` });
    }
  });

  it('LayerNorm and GroupNorm give the same output in train and eval mode', () => {
    const x = rnd([2, 4, 3, 3]);
    for (const m of [new nn.LayerNorm([4, 3, 3], { dtype: 'float64' }), new nn.GroupNorm(2, 4, { dtype: 'float64' })]) {
      const y = m.forward(x);
      m.eval();
      expectClose(m.forward(x), y, { atol: 0, rtol: 0 });
    }
  });
});

describe('conv before BN needs no bias', () => {
  it('a per-channel constant added before training-mode BN changes nothing and gets zero gradient, x=[4,3,5,5]', () => {
    const x = rnd([4, 3, 5, 5]);
    const b = rnd([3]);
    b.requiresGrad = true;
    const w = rnd([3]);
    const beta = rnd([3]);
    const gy = rnd([4, 3, 5, 5]);
    const y = F.batchNorm(x.add(b.reshape([1, 3, 1, 1])), null, null, w, beta, { training: true });
    expectClose(y, F.batchNorm(x, null, null, w, beta, { training: true }), { atol: 1e-12, rtol: 1e-12 });
    y.backward(gy);
    // ∂L/∂b_c = Σ over the channel of ∂L/∂x = r(Σ g − m·A/m − Σ x̂·B/m) = r(A − A − 0) = 0.
    expectClose(b.grad!, zeros([3], { dtype: 'float64' }), { atol: 1e-12, rtol: 0 });
  });

  it('nn.Conv2d(2, 4, 3) with bias then BatchNorm2d(4) == the same conv with bias: false, x=[3,2,6,6]', () => {
    const withBias = new nn.Conv2d(2, 4, 3, { padding: 1, dtype: 'float64', generator: gen });
    const noBias = new nn.Conv2d(2, 4, 3, { padding: 1, bias: false, dtype: 'float64' });
    noGrad(() => {
      noBias.weight.assign(withBias.weight);
      withBias.bias!.assign(rnd([4]).mul(3)); // a large bias, to make the point
    });
    const x = rnd([3, 2, 6, 6]);
    const y = new nn.BatchNorm2d(4, { dtype: 'float64' }).forward(withBias.forward(x));
    expectClose(y, new nn.BatchNorm2d(4, { dtype: 'float64' }).forward(noBias.forward(x)), { atol: 1e-12, rtol: 1e-12 });
    y.backward(rnd([3, 4, 6, 6]));
    expectClose(withBias.bias!.grad!, zeros([4], { dtype: 'float64' }), { atol: 1e-11, rtol: 0 });
  });
});

describe('bad input gives clear errors', () => {
  it('BatchNorm in training with one value per channel, x=[1,3] and x=[1,3,1,1]', () => {
    expect(() => F.batchNorm(rnd([1, 3]), null, null, null, null, { training: true })).toThrow(
      /Expected more than 1 value per channel when training, got input size \[1, 3\]/,
    );
    const bn = new nn.BatchNorm2d(3, { dtype: 'float64' });
    expect(() => bn.forward(rnd([1, 3, 1, 1]))).toThrow(ValueError);
    bn.eval();
    expect(bn.forward(rnd([1, 3, 1, 1])).shape).toEqual([1, 3, 1, 1]); // eval is fine, as in torch
  });

  it('GroupNorm with channels not divisible by groups, x=[2,3,4,4] G=2', () => {
    expect(() => F.groupNorm(rnd([2, 3, 4, 4]), 2)).toThrow(
      /Expected number of channels in input to be divisible by numGroups, but got input of shape \[2, 3, 4, 4\] and numGroups=2/,
    );
    expect(() => new nn.GroupNorm(2, 3)).toThrow(/numChannels must be divisible by numGroups/);
    expect(() => F.groupNorm(rnd([2, 4, 3]), 2, rnd([3]))).toThrow(/weight to be a vector of size equal to the number of channels/);
    expect(() => F.groupNorm(rnd([1, 3]), 3)).toThrow(/Expected more than 1 value per channel when training/);
  });

  it('LayerNorm normalizedShape not matching the trailing dims, x=[2,3,4,4] normalizedShape=[5]', () => {
    expect(() => F.layerNorm(rnd([2, 3, 4, 4]), [5])).toThrow(
      /Given normalizedShape=\[5\], expected input with shape \[\*, 5\], but got input of size \[2, 3, 4, 4\]/,
    );
    expect(() => F.layerNorm(rnd([2, 3]), [2, 3, 4])).toThrow(ShapeError);
    expect(() => F.layerNorm(rnd([2, 4]), [4], rnd([3]))).toThrow(/Expected weight to be of same shape as normalizedShape/);
    expect(() => F.layerNorm(rnd([2, 4]), [])).toThrow(/at least 1-dimensional/);
    expect(() => new nn.LayerNorm([4, 4]).forward(rnd([2, 4, 5], 'float32'))).toThrow(/Given normalizedShape=\[4, 4\]/);
  });

  it('running stats of the wrong length, x=[2,3,4,4] runningMean=[4]', () => {
    const x = rnd([2, 3, 4, 4]);
    expect(() => F.batchNorm(x, zeros([4], { dtype: 'float64' }), ones([3], { dtype: 'float64' }), null, null, { training: true })).toThrow(
      /'runningMean' should contain 3 elements .*not 4/,
    );
    expect(() => new nn.BatchNorm2d(4, { dtype: 'float64' }).forward(x)).toThrow(/'runningMean' should contain 3 elements/);
    expect(() => F.instanceNorm(x, zeros([3], { dtype: 'float64' }), ones([2], { dtype: 'float64' }))).toThrow(/'runningVar' should contain 3 elements/);
    expect(() => F.batchNorm(x, null, null, rnd([2]), null, { training: true })).toThrow(/'weight' should contain 3 elements/);
  });

  it('eval without running stats, instance norm with one spatial element, wrong dims and dtypes', () => {
    const x = rnd([2, 3, 4, 4]);
    expect(() => F.batchNorm(x, null, null)).toThrow(/runningMean must be defined in evaluation mode/);
    expect(() => F.instanceNorm(x, null, null, null, null, { useInputStats: false })).toThrow(/Expected runningMean and runningVar to be defined/);
    expect(() => F.instanceNorm(rnd([2, 3, 1, 1]))).toThrow(/Expected more than 1 spatial element when training, got input size \[2, 3, 1, 1\]/);
    expect(() => new nn.BatchNorm2d(3).forward(rnd([2, 3, 4], 'float32'))).toThrow(/expected 4D input \(got 3D input\)/);
    expect(() => new nn.BatchNorm1d(3).forward(rnd([2, 3, 4, 4], 'float32'))).toThrow(/expected 2D or 3D input \(got 4D input\)/);
    expect(() => new nn.InstanceNorm2d(3).forward(rnd([2, 3], 'float32'))).toThrow(/expected 3D or 4D input \(got 2D input\)/);
    expect(() => F.batchNorm(x, null, null, rnd([3], 'float32'), null, { training: true })).toThrow(DTypeError);
    expect(() => F.layerNorm(zeros([2, 3], { dtype: 'int32' }), [3])).toThrow(DTypeError);
    expect(() => F.batchNorm(rnd([3]), null, null, null, null, { training: true })).toThrow(ShapeError);
  });
});
