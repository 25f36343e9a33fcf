// nn.Conv2d (parameters, PyTorch's default init, forward), the conv arithmetic helpers, and
// ResNeXt's three equivalent block forms (docs/resnext-forms.md) shown numerically equal.
import { describe, expect, it } from 'vitest';
import { F, Generator, type Tensor, ValueError, add, cat, narrow, nn, randn, relu } from '../../index.js';
import { expectClose } from '../helpers/assert.js';

describe('nn.Conv2d', () => {
  it('Conv2d(8, 16, 3, stride 2, padding 1, groups 4): shapes, bias on by default, forward = F.conv2d', () => {
    const m = new nn.Conv2d(8, 16, 3, { stride: 2, padding: 1, groups: 4 });
    expect(m.weight.shape).toEqual([16, 2, 3, 3]);
    expect(m.bias!.shape).toEqual([16]);
    expect(Object.keys(m.stateDict())).toEqual(['weight', 'bias']);
    expect(m.weight.requiresGrad && m.bias!.requiresGrad).toBe(true);
    const x = randn([2, 8, 7, 9]);
    const y = m.forward(x);
    expect(y.shape).toEqual([2, 16, 4, 5]);
    expectClose(y, F.conv2d(x, m.weight, m.bias, { stride: 2, padding: 1, groups: 4 }), { atol: 0, rtol: 0 });
    expect(new nn.Conv2d(3, 4, [1, 3], { bias: false }).bias).toBeNull();
  });

  it("init is kaiming_uniform(a=√5): weight and bias uniform in ±1/√fan_in, fan_in = in/groups·kh·kw", () => {
    const m = new nn.Conv2d(64, 64, 3, { groups: 2, generator: new Generator(3) });
    const bound = 1 / Math.sqrt(32 * 9);
    for (const t of [m.weight, m.bias!]) {
      const v = [...t.toArray()];
      expect(Math.max(...v.map(Math.abs))).toBeLessThanOrEqual(bound);
      // 18432 weight draws: the largest lands within 0.1% of the bound.
      if (t === m.weight) {
        expect(Math.max(...v)).toBeGreaterThan(0.999 * bound);
        const mean = v.reduce((s, a) => s + a, 0) / v.length;
        const variance = v.reduce((s, a) => s + a * a, 0) / v.length - mean * mean;
        // U(−B, B) has variance B²/3; with n = 18432 the estimate is within ~1.5% (3 sigma).
        expect(Math.abs(variance / (bound * bound / 3) - 1)).toBeLessThan(0.03);
        expect(Math.abs(mean)).toBeLessThan(0.02 * bound);
      }
    }
  });

  it('the same generator seed gives the same parameters', () => {
    const a = new nn.Conv2d(3, 5, 3, { generator: new Generator(42) });
    const b = new nn.Conv2d(3, 5, 3, { generator: new Generator(42) });
    expectClose(a.weight, b.weight, { atol: 0, rtol: 0 });
    expectClose(a.bias!, b.bias!, { atol: 0, rtol: 0 });
  });

  it('rejects channels not divisible by groups and bad sizes', () => {
    expect(() => new nn.Conv2d(6, 4, 3, { groups: 4 })).toThrow(/in_channels must be divisible by groups/);
    expect(() => new nn.Conv2d(4, 6, 3, { groups: 4 })).toThrow(/out_channels must be divisible by groups/);
    expect(() => new nn.Conv2d(4, 6, 0)).toThrow(ValueError);
    expect(() => new nn.Conv2d(4, 6, 3, { stride: 2, padding: 'same' })).toThrow(/padding='same' is not supported for strided/);
  });
});

describe('conv arithmetic', () => {
  it('params and MACs of a layer match the module and its output', () => {
    const spec = { inChannels: 8, outChannels: 12, kernelSize: [3, 5] as [number, number], groups: 4 };
    const m = new nn.Conv2d(8, 12, [3, 5], { groups: 4, stride: 2, padding: 1 });
    expect(nn.conv2dParams(spec)).toBe(m.parameters().reduce((s, p) => s + p.numel(), 0));
    expect(nn.conv2dParams({ ...spec, bias: false })).toBe(m.weight.numel());
    const y = m.forward(randn([1, 8, 11, 13]));
    expect([nn.conv2dOutputSize(11, 3, 2, 1), nn.conv2dOutputSize(13, 5, 2, 1)]).toEqual(y.shape.slice(2));
    // each output value is a dot product of length (C/groups)·kh·kw
    expect(nn.conv2dMacs(spec, [y.shape[2]!, y.shape[3]!])).toBe(y.numel() * 2 * 3 * 5);
  });

  it('groups divide a 3x3 conv`s cost: 128 -> 128 channels, g = 32 is 32x cheaper than dense', () => {
    const dense = nn.conv2dParams({ inChannels: 128, outChannels: 128, kernelSize: 3, bias: false });
    const grouped = nn.conv2dParams({ inChannels: 128, outChannels: 128, kernelSize: 3, groups: 32, bias: false });
    expect(dense / grouped).toBe(32);
    expect(nn.conv2dMacs({ inChannels: 128, outChannels: 128, kernelSize: 3, groups: 32 }, 28)).toBe(grouped * 28 * 28);
  });

  it('a ResNeXt 32x4d block costs about what a ResNet bottleneck (64-d) does (Xie et al. 2017, Table 1: ~70k)', () => {
    const p = (c: number, o: number, k: number, groups = 1) => nn.conv2dParams({ inChannels: c, outChannels: o, kernelSize: k, groups, bias: false });
    const resnet = p(256, 64, 1) + p(64, 64, 3) + p(64, 256, 1);
    const resnext = p(256, 128, 1) + p(128, 128, 3, 32) + p(128, 256, 1);
    expect(resnet).toBe(69632);
    expect(resnext).toBe(70144);
  });

  it('rejects groups that do not divide the channels', () => {
    expect(() => nn.conv2dParams({ inChannels: 6, outChannels: 4, kernelSize: 3, groups: 4 })).toThrow(ValueError);
  });
});

describe('ResNeXt block forms (Xie et al. 2017, Fig. 3) are the same function', () => {
  // 256-d in/out, cardinality 32, bottleneck width 4 (the paper's 32x4d block), float64.
  const C = 32;
  const d = 4;
  const x = randn([2, 256, 6, 5], { dtype: 'float64', requiresGrad: true });
  const w1 = randn([C * d, 256, 1, 1], { dtype: 'float64', requiresGrad: true });
  const b1 = randn([C * d], { dtype: 'float64', requiresGrad: true });
  const w2 = randn([C * d, d, 3, 3], { dtype: 'float64', requiresGrad: true });
  const b2 = randn([C * d], { dtype: 'float64', requiresGrad: true });
  const w3 = randn([256, C * d, 1, 1], { dtype: 'float64', requiresGrad: true });
  const b3 = randn([256], { dtype: 'float64', requiresGrad: true });
  const params = [x, w1, b1, w2, b2, w3, b3];

  /** Path i's first two layers: 256 -> d (1x1) -> d (3x3), its slices of w1/w2. */
  const path = (i: number): Tensor => {
    const h = relu(F.conv2d(x, narrow(w1, 0, i * d, d), narrow(b1, 0, i * d, d)));
    return relu(F.conv2d(h, narrow(w2, 0, i * d, d), narrow(b2, 0, i * d, d), { padding: 1 }));
  };
  const paths = () => Array.from({ length: C }, (_, i) => path(i));

  /** (a) split-transform-merge: each path ends in its own 1x1 conv d -> 256; the outputs are summed. */
  const formA = (): Tensor => {
    let sum = F.conv2d(path(0), narrow(w3, 1, 0, d));
    for (let i = 1; i < C; i++) sum = add(sum, F.conv2d(path(i), narrow(w3, 1, i * d, d)));
    return add(add(sum, b3.reshape([256, 1, 1])), x);
  };
  /** (b) early concatenation: the paths' outputs are concatenated, then one 1x1 conv 128 -> 256. */
  const formB = (): Tensor => add(F.conv2d(cat(paths(), 1), w3, b3), x);
  /** (c) grouped convolution: 1x1 256 -> 128, 3x3 with groups = 32, 1x1 128 -> 256. */
  const formC = (): Tensor => {
    const h = relu(F.conv2d(x, w1, b1));
    const g = relu(F.conv2d(h, w2, b2, { padding: 1, groups: C }));
    return add(F.conv2d(g, w3, b3), x);
  };

  it('x=[2,256,6,5], 32 paths of width 4: (a) == (b) == (c) in values and in every gradient', () => {
    const gy = randn([2, 256, 6, 5], { dtype: 'float64' });
    const results = [formA, formB, formC].map((form) => {
      for (const p of params) p.grad = null;
      const y = form();
      y.backward(gy);
      return { y, grads: params.map((p) => p.grad!) };
    });
    const [a, b, c] = results as [(typeof results)[0], (typeof results)[0], (typeof results)[0]];
    // Sums of 256-term dot products in different orders: agreement to ~1e-13 on values ~30.
    const tol = { atol: 1e-10, rtol: 1e-10 };
    expectClose(a.y, c.y, { ...tol, label: '(a) vs (c)' });
    expectClose(b.y, c.y, { ...tol, label: '(b) vs (c)' });
    for (const [i, g] of c.grads.entries()) {
      expectClose(a.grads[i]!, g, { ...tol, label: `(a) vs (c) grad ${i}` });
      expectClose(b.grads[i]!, g, { ...tol, label: `(b) vs (c) grad ${i}` });
    }
  });
});
