// The WASM SIMD elementwise kernels (kernels/wasm/elementwise.ts, source kernels/wasm/src/ew.wat)
// against the TS kernels of kernels/cpu/elementwise.ts on float32 arrays, on 1, 2 and 3 threads.
//
// Lengths straddle every edge of the loops and the thread split: 0, 1, 3..9 (the 8-wide body, the
// single f32x4 and the scalar tail), 15..17 (one 16-float block), odd thousands, and 70001. With
// 2 and 3 threads every length goes through the pool (wasmMemoryTuning.minParallelElements = 0),
// cut at whole 16-float blocks. Inputs mix random values with NaN, ±inf, ±0.
//
// Tolerances. relu, its backward, add and add+relu are single float32 operations (a sum of two
// floats taken in double and rounded once is the correctly rounded float32 sum), so they must match
// the reference bit for bit, NaN for NaN and −0 for +0. axpy rounds alpha to float32 first, where
// the reference multiplies by the double alpha: the products differ by at most 2 ulps of |αx| and
// the sums then by one more ulp of |αx| + |z|, so we allow 4·2^-24·(|αx| + |z|).
// Arrays that already live in the wasm memory are used in place (zero-copy) and must give the
// same bits as ordinary arrays, which are staged through the arena.

import { describe, expect, it } from 'vitest';
import { Generator } from '../../core/random.js';
import { binaryStrided, unaryStrided, whereStrided } from '../../kernels/cpu/elementwise.js';
import { addReluWasm, addWasm, axpyWasm, reluBackwardWasm, reluWasm, wasmOffsetOf } from '../../kernels/wasm/elementwise.js';
import { getWasm, } from '../../kernels/wasm/runtime.js';
import { inWasm, onThreads } from '../helpers/wasm.js';

const LENGTHS = [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33, 1001, 4099, 70001];
const SPECIAL = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -0];

/** Random normal values with a sprinkling (~6%) of NaN, ±inf and ±0. */
function inputs(n: number, seed: number): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: n }, () => (g.uniform() < 0.06 ? (SPECIAL[g.integer(0, SPECIAL.length)] as number) : g.normal()));
}

/** The first index where a and b differ as float32 bit patterns (NaN equals NaN), or -1. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (!(Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y)))) return i;
  }
  return -1;
}

function expectSame(actual: Float32Array, expected: Float32Array, label: string): void {
  expect(actual.length, `${label} length`).toBe(expected.length);
  const i = firstDifference(actual, expected);
  expect(i, i < 0 ? label : `${label}: index ${i}: ${actual[i]} vs ${expected[i]}`).toBe(-1);
}

const relu = (x: Float32Array): Float32Array => {
  const out = new Float32Array(x.length);
  unaryStrided('relu', x, [x.length], [1], 0, out);
  return out;
};
const binary = (op: 'add' | 'mul' | 'le', a: Float32Array, b: Float32Array, bStride = 1): Float32Array => {
  const out = new Float32Array(a.length);
  binaryStrided(op, a, [1], 0, b, [bStride], 0, [a.length], out);
  return out;
};

for (const threads of [1, 2, 3]) {
  describe(`wasm elementwise, ${threads} thread(s)`, () => {
    onThreads(threads);


    for (const n of LENGTHS) {
      it(`relu x=[${n}] equals unaryStrided('relu') bit for bit (NaN kept, -0 -> +0)`, () => {
        const x = inputs(n, n);
        const y = new Float32Array(n).fill(7);
        reluWasm(x, y);
        expectSame(y, relu(x), 'relu');
      });

      it(`relu backward x=[${n}] equals where(x <= 0, 0, dy) (NaN x passes dy, as torch)`, () => {
        const x = inputs(n, n + 1);
        const dy = inputs(n, n + 2);
        const dx = new Float32Array(n).fill(7);
        reluBackwardWasm(x, dy, dx);
        const expected = new Float32Array(n);
        const zero = Float32Array.of(0);
        whereStrided(binary('le', x, zero, 0), [1], 0, zero, [0], 0, dy, [1], 0, [n], expected);
        expectSame(dx, expected, 'relu backward');
      });

      it(`add and add+relu x=[${n}] equal add, then relu, bit for bit`, () => {
        const a = inputs(n, n + 3);
        const b = inputs(n, n + 4);
        const y = new Float32Array(n);
        addWasm(a, b, y);
        const sum = binary('add', a, b);
        expectSame(y, sum, 'add');
        addReluWasm(a, b, y);
        expectSame(y, relu(sum), 'add+relu');
      });

      it(`axpy x=[${n}] alpha=-0.1 equals mul then add within 4 ulps of |αx| + |z|`, () => {
        const alpha = -0.1; // not a float32: exercises the rounding of alpha
        const x = inputs(n, n + 5);
        const z = inputs(n, n + 6);
        const y = new Float32Array(n);
        axpyWasm(alpha, x, z, y);
        const expected = binary('add', binary('mul', x, Float32Array.of(alpha), 0), z);
        let bad = -1;
        for (let i = 0; i < n && bad < 0; i++) {
          const e = expected[i] as number;
          const a = y[i] as number;
          if (!Number.isFinite(e)) {
            if (!(Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)))) bad = i;
          } else if (!(Math.abs(a - e) <= 4 * 2 ** -24 * (Math.abs(alpha * (x[i] as number)) + Math.abs(z[i] as number)))) {
            bad = i;
          }
        }
        expect(bad, bad < 0 ? 'axpy' : `axpy index ${bad}: ${y[bad]} vs ${expected[bad]}`).toBe(-1);
      });
    }

    it('outputs may alias inputs: relu in place, add into b, axpy into z', () => {
      const x = inputs(70001, 11);
      const expectedRelu = relu(x);
      reluWasm(x, x);
      expectSame(x, expectedRelu, 'relu in place');
      const a = inputs(4099, 12);
      const b = inputs(4099, 13);
      const expectedAdd = binary('add', a, b);
      addWasm(a, b, b);
      expectSame(b, expectedAdd, 'add into b');
      const z = inputs(33, 14);
      const expectedAxpy = binary('add', binary('mul', a.subarray(0, 33), Float32Array.of(0.5), 0), z);
      axpyWasm(0.5, a.subarray(0, 33), z, z); // 0.5 is exact in float32: bit-exact here
      expectSame(z, expectedAxpy, 'axpy into z');
    });
  });
}


describe('wasm elementwise on arrays that live in the wasm memory (zero-copy)', () => {
  it('x=[70001]: relu, relu backward, add in place and axpy read and write them where they are', () => {
    const rt = getWasm()!;
    const mark = rt.mark();
    try {
      const x0 = inputs(70001, 21);
      const z0 = inputs(70001, 22);
      const [x, z, y] = inWasm(x0, z0, new Float32Array(70001)) as [Float32Array, Float32Array, Float32Array];
      reluWasm(x, y);
      expectSame(y, relu(x0), 'relu');
      reluBackwardWasm(x, z, y);
      const expected = new Float32Array(70001);
      const zero = Float32Array.of(0);
      whereStrided(binary('le', x0, zero, 0), [1], 0, zero, [0], 0, z0, [1], 0, [70001], expected);
      expectSame(y, expected, 'relu backward');
      addWasm(x, z, x); // in place, x <- x + z
      expectSame(x, binary('add', x0, z0), 'add in place');
      axpyWasm(0.5, z, z, y); // 0.5 is exact: bit-exact
      expectSame(y, binary('add', binary('mul', z0, Float32Array.of(0.5), 0), z0), 'axpy');
      // a mix: input in the memory, output an ordinary array
      const out = new Float32Array(70001);
      addReluWasm(z, z, out);
      expectSame(out, relu(binary('add', z0, z0)), 'add+relu to an ordinary array');
      // the memory did not grow meanwhile, so every call above found x, z, y in it (none was staged)
      expect([x, z, y].map((a) => wasmOffsetOf(rt.memory.buffer, a) >= 0)).toEqual([true, true, true]);
    } finally {
      rt.release(mark);
    }
  });

  it('an output that partly overlaps an input in the memory is an error', () => {
    const rt = getWasm()!;
    const mark = rt.mark();
    try {
      const [buf] = inWasm(new Float32Array(40)) as [Float32Array];
      expect(() => reluWasm(buf.subarray(0, 32), buf.subarray(4, 36))).toThrow(/reluWasm: the output \(wasm bytes \d+\.\.\d+\) overlaps x .* without being the same array/);
    } finally {
      rt.release(mark);
    }
  });
});

describe('wasm elementwise argument errors', () => {
  it('names the argument, the expected and the actual value', () => {
    const x = new Float32Array(5);
    expect(() => reluWasm(x, new Float32Array(4))).toThrow(/reluWasm: y must have 5 elements \(as many as x\), got 4/);
    expect(() => addWasm(x, new Float64Array(5) as unknown as Float32Array, x)).toThrow(/addWasm: b must be a Float32Array, got Float64Array/);
    expect(() => reluBackwardWasm(x, x, new Float32Array(6))).toThrow(/reluBackwardWasm: dx must have 5 elements/);
    expect(() => axpyWasm('2' as unknown as number, x, x, x)).toThrow(/axpyWasm: alpha must be a number, got string 2/);
  });
});
