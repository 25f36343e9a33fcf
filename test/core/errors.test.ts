// Bad input gives a clear error naming the op, the argument, what was expected and what was
// given; mixed dtypes follow PyTorch's promotion.
import { describe, expect, it } from 'vitest';
import {
  DTypeError, ShapeError, ValueError, add, arange, cat, div, exp, gather, log, matmul, mean, ones, permute, randn,
  softmax, sum, tensor, zeros,
} from '../../index.js';

/** The error `fn` throws (fails the test if it does not throw). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

describe('shape errors', () => {
  it('broadcast mismatch add a=[2,3] b=[4]: names both arguments, sizes, dim and shapes', () => {
    const e = thrown(() => add(zeros([2, 3]), zeros([4])));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toBe(
      "add: the size of tensor 'input' (3) must match the size of tensor 'other' (4) at non-singleton dimension 1; shapes [2, 3] and [4] cannot be broadcast",
    );
  });

  it('broadcast mismatch in a leading dim a=[2,1,3] b=[5,1,1]', () => {
    expect(() => zeros([2, 1, 3]).mul(zeros([5, 1, 1]))).toThrow(/mul: .*'input' \(2\).*'other' \(5\) at non-singleton dimension 0/);
  });

  it('matmul inner dims a=[2,3] b=[4,5]', () => {
    const e = thrown(() => matmul(zeros([2, 3]), zeros([4, 5])));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(/matmul: shapes \[2, 3\] and \[4, 5\] cannot be multiplied \(inner dimensions 3 of 'input' and 4 of 'other' differ\)/);
  });

  it('matmul inner dims a=[3] b=[2,4,5] and batch mismatch a=[2,3,4] b=[3,4,5]', () => {
    expect(() => matmul(zeros([3]), zeros([2, 4, 5]))).toThrow(/inner dimensions 3 of 'input' and 4 of 'other'/);
    expect(() => matmul(zeros([2, 3, 4]), zeros([3, 4, 5]))).toThrow(ShapeError);
  });

  it('view on non-contiguous data x=[2,3].t(): names shape, strides and points to reshape', () => {
    const x = zeros([2, 3]).t();
    const e = thrown(() => x.view([6]));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toMatch(/view: size \[6\] is not compatible with the input's shape \[3, 2\] and strides \[1, 3\].*not contiguous.*reshape/);
    expect(x.reshape([6]).shape).toEqual([6]); // reshape copies instead
  });

  it('view to a wrong size x=[2,3] shape=[4]', () => {
    expect(() => zeros([2, 3]).view([4])).toThrow(/view: shape \[4\] is invalid for input of size 6/);
  });

  it('cat sizes differ outside the dim xs=[2,3],[3,3] dim=1', () => {
    expect(() => cat([zeros([2, 3]), zeros([3, 3])], 1)).toThrow(/cat: sizes of tensors must match except in dimension 1: tensor 0 has shape \[2, 3\] but tensor 1 has shape \[3, 3\]/);
  });

  it('cat of 0-d tensors xs=[],[]', () => {
    expect(() => cat([tensor(1.5), tensor(2.5)])).toThrow(/cat: zero-dimensional tensor \(at position 0\) cannot be concatenated/);
  });

  it('expand to an incompatible size x=[3] shape=[2,4]', () => {
    expect(() => zeros([3]).expand([2, 4])).toThrow(/expand: the expanded size of the tensor \(4\) must match the existing size \(3\) at non-singleton dimension 1/);
  });
});

describe('dtype errors', () => {
  const i32 = tensor([[1, 2], [3, 4]]);
  for (const [name, f] of [
    ['exp', () => exp(i32)],
    ['log', () => log(i32)],
    ['mean', () => mean(i32)],
    ['softmax', () => softmax(i32, 1)],
  ] as const) {
    it(`${name} on int32 x=[2,2]`, () => {
      const e = thrown(f);
      expect(e).toBeInstanceOf(DTypeError);
      expect(e.message).toBe(`${name}: argument 'input' must be a floating point tensor (float32 or float64), but got int32`);
    });
  }

  it('gather with a float index', () => {
    expect(() => gather(zeros([2, 3]), 1, zeros([2, 1]))).toThrow(/gather: argument 'index' must be an int32 tensor, but got float32/);
  });

  it('matmul float32 @ float64 (torch refuses mixed dtypes in matmul too)', () => {
    expect(() => matmul(zeros([2, 2]), zeros([2, 2], { dtype: 'float64' }))).toThrow(/expected both arguments to have the same dtype, but got float32 \(input\) and float64 \(other\)/);
  });
});

describe('value errors', () => {
  const x = zeros([2, 3]);
  it('dim out of range: sum(x=[2,3], dim=2)', () => {
    const e = thrown(() => sum(x, 2));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toBe("sum: argument 'dim' is out of range (expected to be in range of [-2, 1], but got 2)");
  });

  it('dim out of range in softmax, permute, transpose, cat and unsqueeze', () => {
    expect(() => softmax(x, -3)).toThrow(/softmax: argument 'dim' is out of range .*\[-2, 1\], but got -3/);
    expect(() => permute(x, [0, 2])).toThrow(/permute: argument 'dims' is out of range/);
    expect(() => x.transpose(0, 5)).toThrow(/transpose: argument 'dim1' is out of range/);
    expect(() => cat([x, x], 2)).toThrow(/cat: argument 'dim' is out of range/);
    expect(() => x.unsqueeze(4)).toThrow(/unsqueeze: argument 'dim' is out of range .*\[-3, 2\], but got 4/);
  });

  it('select index out of range and narrow past the end', () => {
    expect(() => x.select(1, 3)).toThrow(/select: index 3 out of range for tensor of size \[2, 3\] at dimension 1/);
    expect(() => x.narrow(1, 2, 2)).toThrow(/narrow: start \(2\) \+ length \(2\) exceeds dimension size \(3\)/);
  });

  it('gather index out of bounds names the input', () => {
    expect(() => gather(x, 1, tensor([[0], [3]]))).toThrow(/gather: index 3 is out of bounds for dimension with size 3/);
  });

  it('max/min over a dim of size 0 and argmax of an empty tensor (no identity); other dims may be empty', () => {
    expect(() => zeros([0]).max()).toThrow(/max: cannot reduce over a dimension of size 0 \(input shape \[0\]\)/);
    expect(() => zeros([2, 0]).min(1)).toThrow(ValueError);
    expect(() => zeros([0]).argmax()).toThrow(/argmax: expected a non-empty tensor, but got shape \[0\]/);
    expect([...zeros([2, 0]).max(0).shape]).toEqual([0]);
  });

  it('item() on a tensor with more than one element', () => {
    expect(() => x.item()).toThrow(/item: a Tensor with 6 elements \(shape \[2, 3\]\) cannot be converted/);
  });

  it('tensor() with a ragged nested array and with a wrong shape', () => {
    expect(() => tensor([[1, 2], [3]])).toThrow(ShapeError);
    expect(() => tensor(new Float32Array(5), { shape: [2, 3] })).toThrow(/shape \[2, 3\] is invalid for input of size 5/);
  });
});

describe('dtype promotion (PyTorch rules)', () => {
  const a32 = randn([2, 3]);
  const b64 = randn([3], { dtype: 'float64' });
  it('float32 + float64 -> float64, either order, values computed in float64', () => {
    const r = add(a32, b64);
    expect(r.dtype).toBe('float64');
    expect(b64.add(a32).dtype).toBe('float64');
    const av = a32.toArray();
    const bv = b64.toArray();
    expect(Array.from(r.toArray())).toEqual(Array.from(av, (v, i) => v + (bv[i % 3] as number)));
  });

  it('a 0-d tensor does not widen within its category: float32[3] + float64[] is float32, int32[3] + float64[] is float64', () => {
    const s64 = tensor(0.1, { dtype: 'float64' });
    expect(add(a32, s64).dtype).toBe('float32');
    expect(s64.mul(a32).dtype).toBe('float32');
    expect(add(arange(3), s64).dtype).toBe('float64');
    expect(add(tensor(1, { dtype: 'float32' }), s64).dtype).toBe('float64');
    // and the comparison happens in float32 too: float32(0.1) == float64 0.1 once rounded
    expect(Array.from(tensor([0.1], { dtype: 'float32' }).eq(s64).toArray())).toEqual([1]);
  });

  it('int32 + float32 -> float32; int32 + int32 stays int32', () => {
    const i = arange(3);
    expect(i.dtype).toBe('int32');
    expect(add(i, ones([3])).dtype).toBe('float32');
    expect(add(i, i).dtype).toBe('int32');
  });

  it('a Python-like scalar does not widen a float32 tensor; an int tensor times 0.5 becomes float32', () => {
    expect(a32.mul(2.5).dtype).toBe('float32');
    expect(arange(4).mul(0.5).dtype).toBe('float32');
  });

  it('int32 / int32 is true division into float32', () => {
    const p = [7, -7, 5, 1];
    const q = [2, 2, -3, 3];
    const r = div(tensor(p), tensor(q));
    expect(r.dtype).toBe('float32');
    expect(Array.from(r.toArray())).toEqual(p.map((v, k) => Math.fround(v / (q[k] as number))));
  });

  it('gradients come back in each input\'s own dtype', () => {
    const a = randn([2, 3], { requiresGrad: true });
    const b = randn([3], { dtype: 'float64', requiresGrad: true });
    a.mul(b).sum().backward();
    expect(a.grad!.dtype).toBe('float32');
    expect(b.grad!.dtype).toBe('float64');
  });
});
