// Tensor basics: creation (dtype inference as torch.tensor), storage sharing of views, reading
// values back (toArray, data, toNested, item), in-place assign, dispose.
import { describe, expect, it } from 'vitest';
import {
  DTypeError, DeviceError, ValueError, arange, full, fullLike, ones, onesLike, randn, tensor, zeros, zerosLike,
} from '../../index.js';

describe('creation', () => {
  it('nested integers give int32, any fraction gives float32, [] gives float32 (as torch.tensor)', () => {
    expect(tensor([[1, 2], [3, 4]]).dtype).toBe('int32');
    expect(tensor([1, 2.5]).dtype).toBe('float32');
    expect(tensor([]).dtype).toBe('float32');
    expect([...tensor([]).shape]).toEqual([0]);
    expect([...tensor([[], []]).shape]).toEqual([2, 0]);
    const s = tensor(3.5);
    expect([...s.shape]).toEqual([]);
    expect(s.item()).toBe(3.5);
  });

  it('typed arrays keep their dtype unless told; nested arrays take shape from nesting', () => {
    expect(tensor(new Float64Array(6), { shape: [2, 3] }).dtype).toBe('float64');
    expect(tensor(new Int32Array([1, 2]), { dtype: 'float32' }).toArray()).toBeInstanceOf(Float32Array);
    const t = tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float64' });
    expect([...t.shape]).toEqual([2, 3]);
    expect(t.toNested()).toEqual([[1, 2, 3], [4, 5, 6]]);
  });

  it('zeros/ones/full/arange and the *Like family', () => {
    expect(Array.from(zeros([2, 2]).toArray())).toEqual([0, 0, 0, 0]);
    expect(Array.from(ones([3], { dtype: 'int32' }).toArray())).toEqual([1, 1, 1]);
    expect(Array.from(full([2], 7.5, { dtype: 'float64' }).toArray())).toEqual([7.5, 7.5]);
    const r = arange(2, 11, 3);
    expect(r.dtype).toBe('int32');
    expect(Array.from(r.toArray())).toEqual([2, 5, 8]);
    expect(arange(0, 1, 0.25).dtype).toBe('float32');
    expect(arange(0, 1, 0.25).numel()).toBe(4);
    const like = randn([2, 3], { dtype: 'float64' });
    expect(zerosLike(like).dtype).toBe('float64');
    expect([...onesLike(like).shape]).toEqual([2, 3]);
    expect(Array.from(fullLike(like, 2, { dtype: 'float32' }).toArray())).toEqual(new Array(6).fill(2));
  });

  it('bad arguments: unknown dtype, negative size, randn as int32, zero step', () => {
    expect(() => zeros([2], { dtype: 'float16' as never })).toThrow(DTypeError);
    expect(() => zeros([2, -1])).toThrow(/zeros: argument 'shape' must be a list of non-negative integers, but got \[2, -1\]/);
    expect(() => randn([2], { dtype: 'int32' })).toThrow(/randn: argument 'dtype' must be a floating type, but got int32/);
    expect(() => arange(0, 3, 0)).toThrow(ValueError);
  });
});

describe('views and reading', () => {
  it('views share storage: permute/slice/expand of x=[2,3] copy nothing', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'float64' });
    const p = x.permute([1, 0]);
    expect(p.storage).toBe(x.storage);
    expect([...p.strides]).toEqual([1, 3]);
    expect(p.isContiguous()).toBe(false);
    expect(p.toNested()).toEqual([[1, 4], [2, 5], [3, 6]]);
    const s = x.slice(1, 0, 3, 2);
    expect(s.storage).toBe(x.storage);
    expect(s.toNested()).toEqual([[1, 3], [4, 6]]);
    expect(x.select(0, 1).expand([2, 3]).storage).toBe(x.storage);
    expect(p.contiguous().storage).not.toBe(x.storage);
  });

  it('data() resolves to the same values as toArray() for a strided view', async () => {
    const x = randn([3, 4], { dtype: 'float64' }).t();
    expect(Array.from(await x.data())).toEqual(Array.from(x.toArray()));
  });

  it('assign writes in place with broadcasting and dtype conversion, and refuses views', () => {
    const p = zeros([2, 3], { dtype: 'float64' });
    const buffer = p.storage;
    p.assign(tensor([1.5, 2.5, 3.5], { dtype: 'float32' }));
    expect(p.storage).toBe(buffer);
    expect(p.toNested()).toEqual([[1.5, 2.5, 3.5], [1.5, 2.5, 3.5]]);
    expect(() => p.t().assign(zeros([3, 2]))).toThrow(/assign: the destination must be a whole, contiguous tensor/);
    expect(() => p.assign(zeros([4]))).toThrow(/cannot be broadcast to the destination's shape \[2, 3\]/);
    // a source with more dims than the destination is refused, not read through its trailing dims
    expect(() => zeros([3]).assign(zeros([2, 3]))).toThrow(/source of shape \[2, 3\] cannot be broadcast to the destination's shape \[3\]/);
  });

  it('a disposed tensor cannot be read', () => {
    const x = ones([2]);
    x.dispose();
    expect(() => x.toArray()).toThrow(DeviceError);
  });
});

describe('empty tensors', () => {
  it('sum over an empty dim x=[0,3] is 0; matmul a=[2,0] b=[0,3] is zeros; mean of [0] is NaN (as torch)', () => {
    expect(Array.from(zeros([0, 3]).sum(0).toArray())).toEqual([0, 0, 0]);
    const m = zeros([2, 0]).matmul(zeros([0, 3]));
    expect([...m.shape]).toEqual([2, 3]);
    expect(Array.from(m.toArray())).toEqual(new Array(6).fill(0));
    expect(Number.isNaN(zeros([0]).mean().item())).toBe(true);
  });

  it('views of empty tensors: slice to nothing, reshape, permute', () => {
    const e = randn([3, 4]).slice(0, 2, 2);
    expect([...e.shape]).toEqual([0, 4]);
    expect([...e.reshape([4, 0]).shape]).toEqual([4, 0]);
    expect([...e.permute([1, 0]).contiguous().shape]).toEqual([4, 0]);
    expect(e.toArray().length).toBe(0);
  });
});
