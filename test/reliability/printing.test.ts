// toString() prints NaN and ±Infinity as themselves (JSON.stringify would print null).
import { describe, expect, it } from 'vitest';
import { tensor, zeros } from '../../index.js';

describe('printing non-finite values', () => {
  it('NaN, Infinity and -Infinity in a [2, 2] float32 tensor', () => {
    const t = tensor([[Number.NaN, Number.POSITIVE_INFINITY], [Number.NEGATIVE_INFINITY, 1.5]], { dtype: 'float32' });
    expect(t.toString()).toBe('tensor([[NaN,Infinity],[-Infinity,1.5]], shape=[2, 2], dtype=float32, device=cpu)');
    expect(t.toString()).not.toMatch(/null/);
  });

  it('a 0-d NaN, a float64 row, a NaN made by an op, and finite values as before', () => {
    expect(tensor(Number.NaN, { dtype: 'float64' }).toString()).toBe('tensor(NaN, shape=[], dtype=float64, device=cpu)');
    expect(tensor([0.1, -2, Number.POSITIVE_INFINITY], { dtype: 'float64' }).toString()).toMatch(/^tensor\(\[0\.1,-2,Infinity\], /);
    expect(String(zeros([2]).div(zeros([2])))).toMatch(/^tensor\(\[NaN,NaN\], shape=\[2\]/);
    expect(tensor([[1, 2]], { dtype: 'int32' }).toString()).toBe('tensor([[1,2]], shape=[1, 2], dtype=int32, device=cpu)');
  });

  it('an empty tensor and a requiresGrad leaf', () => {
    expect(zeros([0, 2]).toString()).toBe('tensor([], shape=[0, 2], dtype=float32, device=cpu)');
    const x = tensor([Number.NaN], { dtype: 'float32', requiresGrad: true });
    expect(x.toString()).toBe('tensor([NaN], shape=[1], dtype=float32, device=cpu, requiresGrad=true)');
  });
});
