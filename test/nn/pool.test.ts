// Pooling: PyTorch parity (values, max indices with ties, input gradients) for the cases of
// test/oracle/gen_pool.py in float64 and float32, float64 gradcheck, modules and errors.
import { describe, expect, it } from 'vitest';
import { F, ShapeError, type Tensor, ValueError, autograd, nn, randn, tensor } from '../../index.js';
import type { AdaptiveSize } from '../../nn/ops/pool.js';
import { expectClose } from '../helpers/assert.js';
import { type OracleCase, dec, loadFixture } from '../helpers/oracle.js';

const cases = loadFixture('pool');
type Pair = number | [number, number];
const opt = <T>(v: unknown): T | undefined => (v === null ? undefined : (v as T));

/** Run the case's op; max pooling also returns its indices. */
function pool(c: OracleCase, x: Tensor): [Tensor, Tensor | null] {
  const k = c.kernelSize as Pair;
  if (c.op === 'max') {
    return F.maxPool2dWithIndices(x, k, {
      stride: opt<Pair>(c.stride),
      padding: c.padding as Pair,
      dilation: c.dilation as Pair,
      ceilMode: c.ceilMode as boolean,
    });
  }
  if (c.op === 'avg') {
    const y = F.avgPool2d(x, k, {
      stride: opt<Pair>(c.stride),
      padding: c.padding as Pair,
      ceilMode: c.ceilMode as boolean,
      countIncludePad: c.countIncludePad as boolean,
      divisorOverride: opt<number>(c.divisorOverride),
    });
    return [y, null];
  }
  return [F.adaptiveAvgPool2d(x, c.outputSize as AdaptiveSize), null];
}

describe('pooling matches PyTorch 1.13', () => {
  for (const c of cases) {
    for (const dtype of ['float64', 'float32'] as const) {
      it(`${c.name} ${dtype}`, () => {
        // Pooling only selects or averages a few values: float64 agrees to rounding, float32
        // to its epsilon (inputs are rounded copies of the float64 fixture).
        const tol = dtype === 'float64' ? { atol: 1e-12, rtol: 1e-12 } : { atol: 1e-6, rtol: 1e-6 };
        const x = dec(c.x, { dtype, requiresGrad: true });
        const [y, idx] = pool(c, x);
        expect(y.dtype).toBe(dtype);
        expectClose(y, dec(c.y), { ...tol, label: 'y' });
        if (c.indices) {
          expect(idx!.dtype).toBe('int32');
          expect([...idx!.shape]).toEqual((c.indices as { shape: number[] }).shape);
          expect([...idx!.toArray()]).toEqual((c.indices as { data: number[] }).data);
        }
        y.backward(dec(c.gy, { dtype }));
        expectClose(x.grad!, dec(c.gx), { ...tol, label: 'dx' });
      });
    }
  }
});

describe('pooling float64 gradcheck (full Jacobian)', () => {
  // Inputs full of ties sit exactly on max's kinks, where the derivative does not exist: those
  // cases are checked against PyTorch's choice above instead.
  for (const c of cases.filter((k) => !k.ties)) {
    it(c.name, () => {
      const x = dec(c.x, { requiresGrad: true });
      expect(autograd.gradcheck((t) => pool(c, t)[0], [x])).toBe(true);
    });
  }
});

describe('max pooling ties and special values', () => {
  it('ties go to the first position in row-major order', () => {
    const x = tensor([[[[1, 3, 3], [3, 2, 3], [0, 3, 1]]]], { dtype: 'float64', requiresGrad: true });
    const [y, idx] = F.maxPool2dWithIndices(x, 3);
    expect([...y.toArray()]).toEqual([3]);
    expect([...idx.toArray()]).toEqual([1]);
    y.sum().backward();
    expect([...x.grad!.toArray()]).toEqual([0, 1, 0, 0, 0, 0, 0, 0, 0]);
  });
  it('NaN wins and propagates; -Infinity windows report their first valid position', () => {
    const [y, idx] = F.maxPool2dWithIndices(tensor([[[[1, Number.NaN, 2, 5]]]], { dtype: 'float64' }), [1, 2]);
    expect(Number.isNaN(y.toArray()[0])).toBe(true);
    expect([...idx.toArray()]).toEqual([1, 3]);
    const [z, zi] = F.maxPool2dWithIndices(tensor([[[[-Infinity, -Infinity]]]], { dtype: 'float64' }), [1, 2], { padding: [0, 1] });
    expect([...z.toArray()]).toEqual([-Infinity, -Infinity]);
    expect([...zi.toArray()]).toEqual([0, 1]);
  });
});

describe('pooling modules', () => {
  it('MaxPool2d(3, stride 2, padding 1) on [2,4,9,9] (ResNet stem shape)', () => {
    const x = randn([2, 4, 9, 9]);
    const m = new nn.MaxPool2d(3, { stride: 2, padding: 1 });
    expect(m.forward(x).shape).toEqual([2, 4, 5, 5]);
    expectClose(m.forward(x), F.maxPool2d(x, 3, { stride: 2, padding: 1 }), { atol: 0, rtol: 0 });
    expect(m.forwardWithIndices(x)[1].dtype).toBe('int32');
  });
  it('AvgPool2d and AdaptiveAvgPool2d(1) (ResNet head)', () => {
    const x = randn([2, 3, 7, 7]);
    expectClose(new nn.AvgPool2d(2, { countIncludePad: false }).forward(x), F.avgPool2d(x, 2, { countIncludePad: false }), { atol: 0, rtol: 0 });
    const g = new nn.AdaptiveAvgPool2d(1).forward(x);
    expect(g.shape).toEqual([2, 3, 1, 1]);
    expectClose(g.reshape([2, 3]), x.mean([2, 3]), { atol: 1e-6, rtol: 1e-6 });
  });
});

describe('pooling rejects bad input as PyTorch does', () => {
  const x = randn([1, 2, 4, 4]);
  it('zero or negative kernel, stride, dilation; negative or too large padding', () => {
    expect(() => F.maxPool2d(x, 0)).toThrow(/kernel size should be greater than zero/);
    expect(() => F.maxPool2d(x, 2, { stride: 0 })).toThrow(/stride should be greater than zero/);
    expect(() => F.maxPool2d(x, 2, { dilation: 0 })).toThrow(/dilation should be greater than zero/);
    expect(() => F.avgPool2d(x, 2, { padding: -1 })).toThrow(/negative padding/);
    expect(() => F.maxPool2d(x, 3, { padding: 2 })).toThrow(/pad should be smaller than or equal to half of kernel size/);
  });
  it('output too small, wrong rank, non-integer sizes, zero divisor', () => {
    expect(() => F.maxPool2d(randn([1, 2, 2, 2]), 3)).toThrow(ShapeError);
    expect(() => F.maxPool2d(randn([1, 2, 2, 2]), 3)).toThrow(/Calculated output size: \(2x0x0\). Output size is too small/);
    expect(() => F.avgPool2d(randn([4, 4]), 2)).toThrow(/expected 3D or 4D/);
    expect(() => F.maxPool2d(x, 1.5)).toThrow(/must contain integers/);
    expect(() => F.avgPool2d(x, 2, { divisorOverride: 0 })).toThrow(ValueError);
    expect(() => F.adaptiveAvgPool2d(x, 0)).toThrow(/outputSize/);
    expect(() => F.adaptiveAvgPool2d(x, 2.5)).toThrow(/outputSize/);
    expect(() => F.maxPool2d(tensor([[[[1, 2], [3, 4]]]]), 2)).toThrow(/floating point/);
  });
});
