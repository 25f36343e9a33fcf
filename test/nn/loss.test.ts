// relu, logSoftmax, linear, nllLoss, crossEntropy: PyTorch parity (values and gradients) for the cases of
// test/oracle/gen_loss.py, float64 gradcheck of each, and errors.
import { describe, expect, it } from 'vitest';
import { DTypeError, F, ShapeError, type Tensor, ValueError, autograd, randn, tensor } from '../../index.js';
import type { Reduction } from '../../nn/ops/loss.js';
import { expectClose } from '../helpers/assert.js';
import { type OracleCase, dec, loadFixture } from '../helpers/oracle.js';

const cases = loadFixture('loss');

/** The case's op on its float inputs (x, then w and b for linear); targets and weights are constants. */
function opOf(c: OracleCase, dtype: 'float32' | 'float64'): { inputs: Tensor[]; fn: (...t: Tensor[]) => Tensor } {
  if (c.op === 'relu') return { inputs: [dec(c.x, { dtype, requiresGrad: true })], fn: (x) => F.relu(x!) };
  if (c.op === 'logSoftmax') return { inputs: [dec(c.x, { dtype, requiresGrad: true })], fn: (x) => F.logSoftmax(x!, c.dim as number) };
  if (c.op === 'linear') {
    const inputs = [dec(c.x, { dtype, requiresGrad: true }), dec(c.w, { dtype, requiresGrad: true })];
    if (c.b) inputs.push(dec(c.b, { dtype, requiresGrad: true }));
    return { inputs, fn: (x, w, b) => F.linear(x!, w!, b ?? null) };
  }
  const target = (c.target as { dtype: string }).dtype === 'int32' ? dec(c.target) : dec(c.target, { dtype });
  const weight = c.weight ? dec(c.weight, { dtype }) : null;
  const opts = {
    weight,
    reduction: c.reduction as Reduction,
    ignoreIndex: (c.ignoreIndex as number | null) ?? undefined,
    labelSmoothing: c.labelSmoothing as number,
  };
  const fn = c.op === 'nllLoss' ? (x: Tensor) => F.nllLoss(x, target, opts) : (x: Tensor) => F.crossEntropy(x, target, opts);
  return { inputs: [dec(c.x, { dtype, requiresGrad: true })], fn };
}

describe('relu, logSoftmax, linear and losses match PyTorch 1.13', () => {
  for (const c of cases) {
    for (const dtype of ['float64', 'float32'] as const) {
      it(`${c.name} ${dtype}`, () => {
        // float64: same formulas, different summation order (~1e-15); float32: rounded inputs
        // and float32 exp/log, a few ulps of values of order 1-10.
        const tol = dtype === 'float64' ? { atol: 1e-12, rtol: 1e-10 } : { atol: 2e-5, rtol: 1e-5 };
        const { inputs, fn } = opOf(c, dtype);
        const out = fn(...inputs);
        expect(out.dtype).toBe(dtype);
        expectClose(out, dec(c.out), { ...tol, label: 'out' });
        out.backward(dec(c.gout, { dtype }));
        const names = c.op === 'linear' ? ['x', 'w', 'b'] : ['x'];
        for (const [i, t] of inputs.entries()) expectClose(t.grad!, dec(c[`g${names[i]}`]), { ...tol, label: `d${names[i]}` });
      });
    }
  }
});

describe('relu, logSoftmax, linear and losses: float64 gradcheck (full Jacobian)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const { inputs, fn } = opOf(c, 'float64');
      expect(autograd.gradcheck(fn, inputs)).toBe(true);
    });
  }
});

describe('losses: special cases', () => {
  it('crossEntropy == nllLoss(logSoftmax) without smoothing', () => {
    const x = randn([5, 7], { dtype: 'float64' });
    const t = tensor([0, 6, 3, 3, 1]);
    expectClose(F.crossEntropy(x, t), F.nllLoss(F.logSoftmax(x, 1), t), { atol: 1e-14, rtol: 1e-14 });
  });
  it("mean over targets that are all ignored is NaN, as PyTorch's 0/0", () => {
    const x = randn([2, 3], { dtype: 'float64' });
    expect(Number.isNaN(F.crossEntropy(x, tensor([-100, -100])).item())).toBe(true);
    expect(F.crossEntropy(x, tensor([-100, -100]), { reduction: 'sum' }).item()).toBe(0);
  });
});

describe('losses and linear reject bad input', () => {
  const x = randn([3, 4]);
  it('target out of range, wrong dtype or shape', () => {
    expect(() => F.nllLoss(x, tensor([0, 4, 1]))).toThrow(/Target 4 is out of bounds/);
    expect(() => F.crossEntropy(x, tensor([0, -1, 1]))).toThrow(/Target -1 is out of bounds/);
    expect(() => F.nllLoss(x, tensor([0, 1, 1], { dtype: 'float32' }))).toThrow(DTypeError);
    expect(() => F.nllLoss(x, tensor([0, 1]))).toThrow(/expected target of size \[3\]/);
    expect(() => F.crossEntropy(x, randn([3, 5]))).toThrow(ShapeError);
  });
  it('bad options', () => {
    expect(() => F.crossEntropy(x, tensor([0, 1, 2]), { labelSmoothing: 1.5 })).toThrow(/labelSmoothing must be between 0.0 and 1.0/);
    expect(() => F.crossEntropy(x, tensor([0, 1, 2]), { reduction: 'avg' as Reduction })).toThrow(ValueError);
    expect(() => F.crossEntropy(x, tensor([0, 1, 2]), { weight: randn([3]) })).toThrow(/weight tensor should be defined either for all 4 classes/);
    expect(() => F.crossEntropy(x, randn([3, 4]), { ignoreIndex: 1 })).toThrow(/ignoreIndex is not supported for floating point target/);
  });
  it('linear shape errors', () => {
    expect(() => F.linear(x, randn([2, 5]))).toThrow(/mat1 and mat2 shapes cannot be multiplied/);
    expect(() => F.linear(x, randn([2, 4]), randn([3]))).toThrow(/expected bias of size \[2\]/);
    expect(() => F.linear(x, randn([4]))).toThrow(/'weight' must be 2-D/);
  });
});
