// Optimizers against PyTorch 1.13: 5-step trajectories of a small MLP (fixture from
// test/oracle/gen_optim.py), plus argument checks and the optimizer API.
import { describe, expect, it } from 'vitest';
import { type DType, type Tensor, ValueError, nn, optim, tensor } from '../../index.js';
import { fusedSteps } from '../../core/cpu/wasm.js';
import { expectClose } from '../helpers/assert.js';
import { type EncodedTensor, type OracleCase, dec, loadFixture } from '../helpers/oracle.js';

interface TrajectoryCase extends OracleCase {
  optimizer: 'SGD' | 'Adam' | 'AdamW';
  opts: Record<string, unknown>;
  groups?: ({ params: string[] } & Record<string, unknown>)[];
  x: EncodedTensor;
  y: EncodedTensor;
  init: Record<string, EncodedTensor>;
  losses: number[];
  states: Record<string, EncodedTensor>[];
}

const cases = loadFixture('optim').filter((c) => c.kind === 'trajectory') as TrajectoryCase[];

function mlp(dtype: DType): nn.Sequential {
  return new nn.Sequential(new nn.Linear(4, 5, { dtype: dtype as 'float32' }), new nn.ReLU(), new nn.Linear(5, 3, { dtype: dtype as 'float32' }));
}

function decodeState(s: Record<string, EncodedTensor>, dtype: DType): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, dec(v, { dtype })]));
}

function makeOptimizer(c: TrajectoryCase, model: nn.Module): optim.Optimizer {
  const named = Object.fromEntries(model.namedParameters());
  const params = c.groups
    ? c.groups.map(({ params: names, ...rest }) => ({ ...rest, params: names.map((n) => named[n] as Tensor) }))
    : model.parameters();
  // biome-ignore lint/suspicious/noExplicitAny: options come from the fixture
  const Ctor = optim[c.optimizer] as any;
  return new Ctor(params, c.opts) as optim.Optimizer;
}

/** Train 5 steps like the generator; returns the losses and the state dict after each step. */
function run(c: TrajectoryCase, dtype: DType): { losses: number[]; states: Record<string, Tensor>[] } {
  const model = mlp(dtype);
  model.loadStateDict(decodeState(c.init, dtype));
  const x = dec(c.x, { dtype });
  const y = dec(c.y, { dtype });
  const opt = makeOptimizer(c, model);
  const tensorsBefore = model.parameters();
  const losses: number[] = [];
  const states: Record<string, Tensor>[] = [];
  for (let i = 0; i < c.states.length; i++) {
    opt.zeroGrad();
    const loss = model.forward(x).sub(y).pow(2).mean();
    loss.backward();
    opt.step();
    losses.push(loss.item());
    states.push(Object.fromEntries(Object.entries(model.stateDict()).map(([k, v]) => [k, v.clone()])));
  }
  // updates are in place: the module still holds the very same tensor objects
  expect(model.parameters().every((p, i) => p === tensorsBefore[i])).toBe(true);
  return { losses, states };
}

describe('optimizer trajectories equal PyTorch 1.13 (MLP 4-5-3, 5 steps)', () => {
  for (const c of cases) {
    it(`${c.name} float64`, () => {
      const { losses, states } = run(c, 'float64');
      // f64 against f64: only rounding-order differences (torch fuses a + α·b), ~1e-15 per op
      expectClose(losses, c.losses, { atol: 1e-13, rtol: 1e-11, label: 'losses' });
      states.forEach((s, step) => {
        for (const [k, v] of Object.entries(c.states[step] as Record<string, EncodedTensor>)) {
          expectClose(s[k] as Tensor, dec(v), { atol: 1e-13, rtol: 1e-11, label: `step ${step + 1} ${k}` });
        }
      });
    });
  }
  for (const c of cases.filter((k) => /^(SGD momentum=0.9|Adam lr=0.01|AdamW amsgrad)/.test(k.name))) {
    it(`${c.name} float32`, () => {
      const { losses, states } = run(c, 'float32');
      // float32 arithmetic vs torch's float64 trajectory: ~1e-7 relative per op over 5 steps
      expectClose(losses, c.losses, { atol: 1e-6, rtol: 1e-4, label: 'losses' });
      const last = states[states.length - 1] as Record<string, Tensor>;
      for (const [k, v] of Object.entries(c.states[c.states.length - 1] as Record<string, EncodedTensor>)) {
        expectClose(last[k] as Tensor, dec(v), { atol: 1e-5, rtol: 1e-4, label: k });
      }
    });
  }
});

describe('optimizer API', () => {
  const p = () => tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });

  it('rejects bad hyper-parameters with torch messages', () => {
    expect(() => new optim.SGD([p()], { lr: -1 })).toThrow(/Invalid learning rate: -1/);
    expect(() => new optim.SGD([p()], { lr: 0.1, momentum: -0.5 })).toThrow(/Invalid momentum value/);
    expect(() => new optim.SGD([p()], { lr: 0.1, weightDecay: -1 })).toThrow(/Invalid weight_decay/);
    expect(() => new optim.SGD([p()], { lr: 0.1, nesterov: true })).toThrow(/Nesterov momentum requires a momentum and zero dampening/);
    expect(() => new optim.SGD([p()], { lr: 0.1, nesterov: true, momentum: 0.9, dampening: 0.1 })).toThrow(ValueError);
    expect(() => new optim.Adam([p()], { betas: [1, 0.999] })).toThrow(/Invalid beta parameter at index 0: 1/);
    expect(() => new optim.Adam([p()], { betas: [0.9, -0.1] })).toThrow(/Invalid beta parameter at index 1/);
    expect(() => new optim.AdamW([p()], { eps: -1 })).toThrow(/Invalid epsilon value/);
    expect(() => new optim.Adam([], {})).toThrow(/empty parameter list/);
    const q = p();
    expect(() => new optim.SGD([{ params: [q] }, { params: [q] }], { lr: 0.1 })).toThrow(/more than one parameter group/);
    expect(() => new optim.SGD([q.mul(2)], { lr: 0.1 })).toThrow(/non-leaf/);
  });

  it('skips parameters without a gradient and zeroGrad clears or zeroes grads', () => {
    const a = p();
    const b = p();
    const opt = new optim.SGD([a, b], { lr: 0.5, weightDecay: 0.1, momentum: 0.9 });
    a.mul(a).sum().backward(); // only a gets a gradient
    const bBefore = b.toArray();
    opt.step();
    expect(b.toArray()).toEqual(bBefore);
    expect(a.toArray()).not.toEqual(bBefore);
    opt.zeroGrad(false);
    expect([...(a.grad as Tensor).toArray()]).toEqual([0, 0, 0]);
    opt.zeroGrad();
    expect(a.grad).toBeNull();
  });

  it('step(closure) evaluates the closure and returns its loss', () => {
    const a = p();
    const opt = new optim.SGD([a], { lr: 0.1 });
    const loss = opt.step(() => {
      opt.zeroGrad();
      const l = a.mul(a).sum();
      l.backward();
      return l;
    });
    expect(loss?.item()).toBe(14);
    // θ ← θ - 0.1·2θ
    expectClose(a, tensor([0.8, 1.6, 2.4], { dtype: 'float64' }), { atol: 1e-15 });
  });

  it('addParamGroup adds a group with its own options', () => {
    const a = p();
    const b = p();
    const opt = new optim.Adam([a], { lr: 0.01 });
    opt.addParamGroup({ params: [b], lr: 0.5 });
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.01, 0.5]);
    expect(opt.paramGroups[1]?.betas).toEqual([0.9, 0.999]);
    expect(() => opt.addParamGroup({ params: [a] })).toThrow(/more than one parameter group/);
  });
});

describe('fused (WASM, one pass) and op-by-op optimizer steps agree on float32 parameters', () => {
  // Same float32 arithmetic in a different order (the fused kernel keeps intermediates in
  // registers; the op path rounds each op's result): a few ulps per step, 1e-5 relative over 5 steps.
  const cases: [string, (ps: Tensor[], fused: boolean) => { step(): void; zeroGrad(): void }][] = [
    ['SGD momentum nesterov wd', (ps, fused) => new optim.SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-2, fused })],
    ['SGD dampening maximize', (ps, fused) => new optim.SGD(ps, { lr: 0.05, momentum: 0.5, dampening: 0.3, maximize: true, fused })],
    ['SGD plain', (ps, fused) => new optim.SGD(ps, { lr: 0.1, fused })],
    ['Adam amsgrad wd', (ps, fused) => new optim.Adam(ps, { lr: 0.01, amsgrad: true, weightDecay: 1e-2, fused })],
    ['AdamW', (ps, fused) => new optim.AdamW(ps, { lr: 0.01, fused })],
  ];
  for (const [name, make] of cases) {
    it(`${name}: 5 steps of a 4-5-3 MLP`, () => {
      const run = (fused: boolean): Float32Array[] => {
        const w1 = tensor(Float32Array.from({ length: 20 }, (_, i) => Math.sin(i + 1)), { shape: [5, 4], requiresGrad: true });
        const w2 = tensor(Float32Array.from({ length: 15 }, (_, i) => Math.cos(i + 2)), { shape: [3, 5], requiresGrad: true });
        const x = tensor(Float32Array.from({ length: 8 }, (_, i) => (i % 3) - 1), { shape: [2, 4] });
        const opt = make([w1, w2], fused);
        for (let s = 0; s < 5; s++) {
          opt.zeroGrad();
          x.matmul(w1.t()).tanh().matmul(w2.t()).square().sum().backward();
          opt.step();
        }
        return [w1, w2].map((w) => w.toArray() as Float32Array);
      };
      const before = fusedSteps.sgd + fusedSteps.adam;
      const a = run(true);
      expect(fusedSteps.sgd + fusedSteps.adam - before, 'parameter updates on the fused path').toBe(10);
      const b = run(false);
      expect(fusedSteps.sgd + fusedSteps.adam - before, 'fused: false stays op by op').toBe(10);
      for (const [i, w] of a.entries()) expectClose(w, b[i] as Float32Array, { atol: 1e-6, rtol: 1e-5, label: `param ${i}` });
    });
  }
});
