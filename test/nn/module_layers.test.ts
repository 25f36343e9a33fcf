// The basic layers (Linear, Dropout, Flatten, Identity, ReLU) and nn.init.
import { describe, expect, it } from 'vitest';
import { F, Generator, type Tensor, ValueError, autograd, manualSeed, nn, randn, zeros } from '../../index.js';
import { expectClose } from '../helpers/assert.js';
import { type OracleCase, loadFixture } from '../helpers/oracle.js';

const { init } = nn;
type Nonlinearity = Parameters<typeof init.calculateGain>[0];
type FanMode = NonNullable<Parameters<typeof init.kaimingNormal>[1]>['mode'];

describe('Linear', () => {
  it('Linear(7, 5): weight [5, 7], bias [5], init within ±1/sqrt(7) (torch reset_parameters)', () => {
    manualSeed(4);
    const l = new nn.Linear(7, 5);
    expect(l.weight.shape).toEqual([5, 7]);
    expect(l.bias?.shape).toEqual([5]);
    const bound = 1 / Math.sqrt(7);
    for (const p of l.parameters()) expect([...p.toArray()].every((v) => Math.abs(v) <= bound)).toBe(true);
    expect(new nn.Linear(7, 5, { bias: false }).bias).toBeNull();
    // same generator seed, same weights
    const a = new nn.Linear(3, 2, { generator: new Generator(9) });
    const b = new nn.Linear(3, 2, { generator: new Generator(9) });
    expect([...a.weight.toArray()]).toEqual([...b.weight.toArray()]);
    expect(() => new nn.Linear(-1, 2)).toThrow(ValueError);
  });

  it('forward equals F.linear, on x=[2,3,7] too; float64 gradcheck x=[3,4] W=[2,4]', () => {
    const l = new nn.Linear(7, 5);
    const x = randn([2, 3, 7]);
    expect(l.forward(x).shape).toEqual([2, 3, 5]);
    expectClose(l.forward(x), F.linear(x, l.weight, l.bias), { atol: 0, rtol: 0 });
    const l64 = new nn.Linear(4, 2, { dtype: 'float64' });
    const x64 = randn([3, 4], { dtype: 'float64', requiresGrad: true });
    autograd.gradcheck((xi: Tensor, w: Tensor, b: Tensor) => F.linear(xi, w, b), [x64, l64.weight, l64.bias as Tensor]);
  });
});

describe('Dropout', () => {
  it('train x=[40,50] p=0.3: each output is 0 or x/(1-p); the gradient uses the same mask', () => {
    manualSeed(5);
    const x = randn([40, 50], { dtype: 'float64', requiresGrad: true });
    const p = 0.3;
    const y = F.dropout(x, p, true);
    const xs = x.toArray();
    const ys = y.toArray();
    let kept = 0;
    let worst = 0;
    for (let i = 0; i < xs.length; i++) {
      if (ys[i] === 0) continue;
      kept++;
      worst = Math.max(worst, Math.abs((ys[i] as number) - (xs[i] as number) / (1 - p)));
    }
    expect(worst).toBeLessThan(1e-15);
    // kept ~ Binomial(2000, 0.7): mean 1400, sd ~20.5; 6 sd either side
    expect(Math.abs(kept - 2000 * (1 - p))).toBeLessThan(6 * Math.sqrt(2000 * p * (1 - p)));
    y.sum().backward();
    expect([...(x.grad as Tensor).toArray()]).toEqual([...ys].map((v) => (v === 0 ? 0 : 1 / (1 - p))));
  });

  it('seeded generator reproduces the mask; float64 gradcheck with a fixed mask', () => {
    const x = randn([3, 4], { dtype: 'float64', requiresGrad: true });
    const a = F.dropout(x, 0.5, true, { generator: new Generator(3) });
    const b = F.dropout(x, 0.5, true, { generator: new Generator(3) });
    expect([...a.toArray()]).toEqual([...b.toArray()]);
    autograd.gradcheck((xi: Tensor) => F.dropout(xi, 0.4, true, { generator: new Generator(1) }), [x]);
  });

  it('eval mode and p=0 are the identity; p=1 gives zeros; p outside [0,1] throws', () => {
    const x = randn([2, 3]);
    const d = new nn.Dropout(0.5);
    d.eval();
    expect(d.forward(x)).toBe(x);
    expect(F.dropout(x, 0, true)).toBe(x);
    expect([...F.dropout(x, 1, true).toArray()].every((v) => v === 0)).toBe(true);
    expect(() => new nn.Dropout(1.5)).toThrow(/between 0 and 1, but got 1.5/);
    expect(() => F.dropout(x, -0.1)).toThrow(ValueError);
    expect(() => F.dropout(zeros([2], { dtype: 'int32' }), 0.5)).toThrow(/floating point/);
  });
});

describe('Flatten, Identity, ReLU', () => {
  it('Flatten x=[2,3,4,5] keeps the batch dim; Flatten(0,1) -> [6,4,5]', () => {
    const x = randn([2, 3, 4, 5]);
    expect(new nn.Flatten().forward(x).shape).toEqual([2, 60]);
    expect(new nn.Flatten(0, 1).forward(x).shape).toEqual([6, 4, 5]);
    expect(new nn.Identity().forward(x)).toBe(x);
    expectClose(new nn.ReLU().forward(x), F.relu(x), { atol: 0, rtol: 0 });
  });
});

describe('nn.init', () => {
  const c = loadFixture('optim').find((k) => k.kind === 'init') as OracleCase & {
    gains: { args: [Nonlinearity, number?]; gain: number }[];
    fans: { shape: number[]; fanIn: number; fanOut: number }[];
  };

  it('calculateGain and fans equal torch', () => {
    for (const { args, gain } of c.gains) expect(init.calculateGain(...args)).toBeCloseTo(gain, 14);
    for (const { shape, fanIn, fanOut } of c.fans) expect(init.calculateFanInAndFanOut(zeros(shape))).toEqual({ fanIn, fanOut });
    expect(() => init.calculateFanInAndFanOut(zeros([3]))).toThrow(/fewer than 2 dimensions/);
  });

  /** Sample mean and standard deviation. */
  const stats = (t: Tensor) => {
    const v = [...t.toArray()];
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    return { mean, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)), n: v.length };
  };

  it('kaimingNormal fan_out relu on w=[64,32,3,3]: std ≈ sqrt(2/fan_out), in place', () => {
    const w = zeros([64, 32, 3, 3], { requiresGrad: true });
    const storage = w.storage;
    expect(init.kaimingNormal(w, { mode: 'fan_out', nonlinearity: 'relu', generator: new Generator(0) })).toBe(w);
    expect(w.storage).toBe(storage);
    expect(w.requiresGrad).toBe(true);
    const { fanOut } = init.calculateFanInAndFanOut(w);
    const s = stats(w);
    const want = init.calculateGain('relu') / Math.sqrt(fanOut);
    // standard errors: mean sd/sqrt(n), sd about sd/sqrt(2n); allow 5 of them
    expect(Math.abs(s.mean)).toBeLessThan((5 * want) / Math.sqrt(s.n));
    expect(Math.abs(s.std - want)).toBeLessThan((5 * want) / Math.sqrt(2 * s.n));
  });

  it('kaimingUniform fan_in on w=[50,40]: inside ±sqrt(3)·gain/sqrt(fan_in), std matches', () => {
    const w = zeros([50, 40]);
    init.kaimingUniform(w, { nonlinearity: 'relu', generator: new Generator(1) });
    const bound = (Math.sqrt(3) * init.calculateGain('relu')) / Math.sqrt(40);
    expect([...w.toArray()].every((v) => Math.abs(v) <= bound)).toBe(true);
    const s = stats(w);
    expect(Math.abs(s.std - bound / Math.sqrt(3))).toBeLessThan((5 * bound) / Math.sqrt(3 * s.n));
  });

  it('uniform, normal, constant, zeros, ones; the same generator seed gives the same values', () => {
    const t = zeros([1000], { dtype: 'float64' });
    init.uniform(t, -2, 3, { generator: new Generator(2) });
    expect([...t.toArray()].every((v) => v >= -2 && v < 3)).toBe(true);
    const u = zeros([1000], { dtype: 'float64' });
    init.uniform(u, -2, 3, { generator: new Generator(2) });
    expect([...u.toArray()]).toEqual([...t.toArray()]);
    init.normal(t, 5, 0.1, { generator: new Generator(3) });
    const s = stats(t);
    expect(Math.abs(s.mean - 5)).toBeLessThan(5 * (0.1 / Math.sqrt(s.n)));
    expect([...init.constant(zeros([3]), 2.5).toArray()]).toEqual([2.5, 2.5, 2.5]);
    expect([...init.ones(zeros([2])).toArray()]).toEqual([1, 1]);
    expect([...init.zeros(randn([2])).toArray()]).toEqual([0, 0]);
    expect(() => init.normal(zeros([2], { dtype: 'int32' }))).toThrow(/floating point/);
    expect(() => init.kaimingNormal(zeros([2, 2]), { mode: 'fan_avg' as FanMode })).toThrow(/mode fan_avg not supported/);
  });
});
