// The small CPU kernels on their own (typed arrays in, typed arrays out): special values as
// torch treats them (NaN propagates through maximum/minimum, max/amax, argmax, relu, softmax),
// softmax's max-shift stability, float32 sums accumulated in double, the adjoint scatter on
// overlapping views, and gather's bounds check. Expected values are computed here in plain JS.
import { describe, expect, it } from 'vitest';
import { binaryStrided, scatterAddStrided, unaryStrided } from '../../kernels/cpu/elementwise.js';
import { gatherBackward, gatherForward } from '../../kernels/cpu/gather.js';
import { argReduce, reduceStrided } from '../../kernels/cpu/reduce.js';
import { softmaxForward } from '../../kernels/cpu/softmax.js';

const NaN_ = Number.NaN;

describe('elementwise kernels', () => {
  it('maximum/minimum x=[4]: NaN on either side wins, as torch.maximum', () => {
    const a = Float64Array.of(1, NaN_, 3, -0.5);
    const b = Float64Array.of(NaN_, 2, 1, -0.25);
    const mx = new Float64Array(4);
    const mn = new Float64Array(4);
    binaryStrided('maximum', a, [1], 0, b, [1], 0, [4], mx);
    binaryStrided('minimum', a, [1], 0, b, [1], 0, [4], mn);
    expect(Array.from(mx)).toEqual([NaN_, NaN_, 3, -0.25]);
    expect(Array.from(mn)).toEqual([NaN_, NaN_, 1, -0.5]);
  });

  it('relu and sign keep NaN; relu(-0) is 0', () => {
    const x = Float64Array.of(NaN_, -2, 0, 3);
    const r = new Float64Array(4);
    const s = new Float64Array(4);
    unaryStrided('relu', x, [4], [1], 0, r);
    unaryStrided('sign', x, [4], [1], 0, s);
    expect(Array.from(r)).toEqual([NaN_, 0, 0, 3]);
    expect(Array.from(s)).toEqual([NaN_, -1, 0, 1]);
  });

  it('binary over a broadcast (stride-0) operand x=[2,3] + y=[3]', () => {
    const x = Float64Array.from({ length: 6 }, (_, i) => i);
    const y = Float64Array.of(10, 20, 30);
    const out = new Float64Array(6);
    binaryStrided('add', x, [3, 1], 0, y, [0, 1], 0, [2, 3], out);
    expect(Array.from(out)).toEqual(Array.from(x, (v, i) => v + (y[i % 3] as number)));
  });

  it('scatterAddStrided onto an overlapping view (stride 0) sums every contribution', () => {
    // the adjoint of expanding a [3] vector to [4,3]: each base element collects 4 gradients
    const g = Float64Array.from({ length: 12 }, (_, i) => i + 1);
    const out = new Float64Array(3);
    scatterAddStrided(g, [4, 3], [0, 1], 0, out);
    expect(Array.from(out)).toEqual([0, 1, 2].map((j) => [0, 1, 2, 3].reduce((s, r) => s + (g[r * 3 + j] as number), 0)));
  });
});

describe('reduction kernels', () => {
  it('max/min over dim 1 of x=[2,3] propagate NaN, as torch.amax', () => {
    const x = Float64Array.of(1, NaN_, 3, 4, 5, 6);
    const mx = new Float64Array(2);
    const mn = new Float64Array(2);
    reduceStrided('max', x, [2, 3], [3, 1], 0, [false, true], mx);
    reduceStrided('min', x, [2, 3], [3, 1], 0, [false, true], mn);
    expect(Array.from(mx)).toEqual([NaN_, 6]);
    expect(Array.from(mn)).toEqual([NaN_, 4]);
  });

  it('float32 sum of x=[4097] accumulates in double: 1 + 4096·2^-24 is not lost to rounding', () => {
    // In float32, 1 + 2^-24 rounds back to 1, so a float32 accumulator would return 1.
    const x = new Float32Array(4097).fill(2 ** -24);
    x[0] = 1;
    const out = new Float32Array(1);
    reduceStrided('sum', x, [4097], [1], 0, [true], out);
    expect(out[0]).toBe(Math.fround(1 + 4096 * 2 ** -24));
    expect(out[0]).not.toBe(1);
  });

  it('prod and sum over dims {0, 2} of a transposed view', () => {
    // logical x[i, j, k] = base[k*6 + j*2 + i] with shape [2, 3, 2]
    const base = Float64Array.from({ length: 12 }, (_, i) => 1 + i / 10);
    const at = (i: number, j: number, k: number): number => base[k * 6 + j * 2 + i] as number;
    const sum = new Float64Array(3);
    const prod = new Float64Array(3);
    reduceStrided('sum', base, [2, 3, 2], [1, 2, 6], 0, [true, false, true], sum);
    reduceStrided('prod', base, [2, 3, 2], [1, 2, 6], 0, [true, false, true], prod);
    const js = [0, 1, 2].map((j) => [at(0, j, 0), at(0, j, 1), at(1, j, 0), at(1, j, 1)]);
    expect(Array.from(sum)).toEqual(js.map((v) => v.reduce((p, q) => p + q, 0)));
    expect(Array.from(prod)).toEqual(js.map((v) => v.reduce((p, q) => p * q, 1)));
  });

  it('argmax/argmin along dim 1 of x=[3,4]: first index on ties, NaN counts as the largest', () => {
    const x = Float64Array.of(1, 3, 3, 0, 2, NaN_, 7, NaN_, -1, -1, -2, -2);
    const amax = new Int32Array(3);
    const amin = new Int32Array(3);
    argReduce('argmax', x, 3, 4, 1, amax);
    argReduce('argmin', x, 3, 4, 1, amin);
    expect(Array.from(amax)).toEqual([1, 1, 0]);
    expect(Array.from(amin)).toEqual([3, 1, 2]);
  });
});

describe('softmax kernel', () => {
  const jsSoftmax = (row: number[]): number[] => {
    const e = row.map(Math.exp);
    const s = e.reduce((p, q) => p + q, 0);
    return e.map((v) => v / s);
  };

  it('softmax is shift-invariant: [1000, 1001, 999] equals softmax of [1, 2, 0], no overflow', () => {
    const out = new Float64Array(3);
    softmaxForward(Float64Array.of(1000, 1001, 999), 1, 3, 1, out, false);
    const expected = jsSoftmax([1, 2, 0]);
    out.forEach((v, i) => {
      expect(Math.abs(v - (expected[i] as number))).toBeLessThan(1e-15);
    });
    const logOut = new Float64Array(3);
    softmaxForward(Float64Array.of(-1000, -1001, -999), 1, 3, 1, logOut, true);
    const logExpected = jsSoftmax([-1, -2, 0]).map(Math.log);
    logOut.forEach((v, i) => {
      expect(Math.abs(v - (logExpected[i] as number))).toBeLessThan(1e-14);
    });
  });

  it('-inf entries get probability 0; an all -inf row gives NaN (as torch); a NaN row gives NaN', () => {
    const out = new Float64Array(9);
    const x = Float64Array.of(0, -Infinity, 0, -Infinity, -Infinity, -Infinity, NaN_, 1, 2);
    softmaxForward(x, 3, 3, 1, out, false);
    expect(Array.from(out.subarray(0, 3))).toEqual([0.5, 0, 0.5]);
    expect(out.subarray(3).every(Number.isNaN)).toBe(true);
  });

  it('along the middle dim of x=[2,3,2] (inner stride 2)', () => {
    const x = Float64Array.from({ length: 12 }, (_, i) => Math.sin(i));
    const out = new Float64Array(12);
    softmaxForward(x, 2, 3, 2, out, false);
    for (let o = 0; o < 2; o++) {
      for (let i = 0; i < 2; i++) {
        const idx = [0, 1, 2].map((k) => o * 6 + k * 2 + i);
        const expected = jsSoftmax(idx.map((p) => x[p] as number));
        idx.forEach((p, k) => {
          expect(Math.abs((out[p] as number) - (expected[k] as number))).toBeLessThan(1e-15);
        });
      }
    }
  });
});

describe('gather kernels', () => {
  it('gather along dim 1 of x=[2,3] with index=[2,2]; backward scatter-adds repeated indices', () => {
    const x = Float64Array.of(1, 2, 3, 4, 5, 6);
    const index = Int32Array.of(2, 2, 0, 1);
    const out = new Float64Array(4);
    gatherForward(x, 3, index, 2, 2, 1, out);
    expect(Array.from(out)).toEqual([x[2], x[2], x[3], x[4]]);
    const g = Float64Array.of(10, 20, 30, 40);
    const gx = new Float64Array(6);
    gatherBackward(g, index, 2, 2, 1, 3, gx);
    expect(Array.from(gx)).toEqual([0, 0, 10 + 20, 30, 40, 0]);
  });

  it('an index outside [0, n) throws a RangeError naming it', () => {
    const out = new Float64Array(1);
    expect(() => gatherForward(Float64Array.of(1, 2), 2, Int32Array.of(2), 1, 1, 1, out)).toThrow(/index 2 is out of bounds for dimension with size 2/);
    expect(() => gatherForward(Float64Array.of(1, 2), 2, Int32Array.of(-1), 1, 1, 1, out)).toThrow(RangeError);
  });
});
