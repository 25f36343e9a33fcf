// The 'contiguous' variants of unary, binary, reduce and copy against the strided reference
// kernels: same arithmetic in the same order, so the outputs must be equal bit for bit (NaN
// where the reference has NaN), on dense runs with offsets, broadcast scalars, size-1 and empty
// dims, every dtype, and values that include NaN and ±Infinity.
import { describe, expect, it } from 'vitest';
import { type CpuInput, traceVariants } from '../../core/cpu/registry.js';
import { allocArray, type DType } from '../../core/dtype.js';
import { contiguousStrides, numel } from '../../core/shape.js';
import { Generator, randn, tensor } from '../../index.js';
import { BINARY_OPS, UNARY_OPS } from '../../kernels/cpu/elementwise.js';
import { expectSameAsReference, variantNamed } from '../helpers/variants.js';

const gen = new Generator(7);

/** A dense input of `shape` at `offset` inside a larger buffer, with some NaN and ±Infinity. */
function denseInput(dtype: DType, shape: number[], offset: number): CpuInput {
  const buffer = allocArray(dtype, offset + numel(shape) + 3);
  for (let i = 0; i < buffer.length; i++) {
    const u = gen.uniform();
    if (dtype === 'int32') buffer[i] = Math.floor(u * 21) - 10;
    else buffer[i] = u < 0.03 ? Number.NaN : u < 0.05 ? Number.POSITIVE_INFINITY : u < 0.07 ? Number.NEGATIVE_INFINITY : (u - 0.5) * 8;
  }
  return { buffer, dtype, shape, strides: contiguousStrides(shape), offset };
}

/** One element at `offset`, broadcast over `shape` (every stride 0). */
function scalarInput(dtype: DType, shape: number[], offset: number): CpuInput {
  const x = denseInput(dtype, [1], offset);
  return { ...x, shape, strides: shape.map(() => 0) };
}

const SHAPES: number[][] = [[7], [3, 5], [2, 1, 9], [4, 3, 1, 5], [1, 1], [0, 4], [2, 3, 4, 5]];
const DTYPES: DType[] = ['float32', 'float64', 'int32'];

describe("'contiguous' variants equal the strided reference bit for bit", () => {
  for (const dtype of DTYPES) {
    for (const shape of SHAPES) {
      it(`unary every op dtype=${dtype} x=[${shape}] offset=3`, () => {
        for (const op of Object.keys(UNARY_OPS) as (keyof typeof UNARY_OPS)[]) {
          expectSameAsReference('unary', 'contiguous', [denseInput(dtype, shape, 3)], { op }, `${op} x=[${shape}]`);
        }
      });

      it(`binary every op dtype=${dtype} a=b=[${shape}], and one side a broadcast scalar`, () => {
        for (const op of Object.keys(BINARY_OPS) as (keyof typeof BINARY_OPS)[]) {
          const a = denseInput(dtype, shape, 2);
          const b = denseInput(dtype, shape, 5);
          expectSameAsReference('binary', 'contiguous', [a, b], { op, dtype }, `${op} dense`);
          expectSameAsReference('binary', 'contiguous', [a, scalarInput(dtype, shape, 1)], { op, dtype }, `${op} b scalar`);
          expectSameAsReference('binary', 'contiguous', [scalarInput(dtype, shape, 4), b], { op, dtype }, `${op} a scalar`);
        }
      });

      it(`reduce sum/prod/max/min dtype=${dtype} x=[${shape}] over every block of neighbouring dims`, () => {
        const x = denseInput(dtype, shape, 1);
        for (let first = 0; first < shape.length; first++) {
          for (let last = first; last < shape.length; last++) {
            const dims = Array.from({ length: last - first + 1 }, (_, i) => first + i);
            for (const op of ['sum', 'prod', 'max', 'min'] as const) {
              expectSameAsReference('reduce', 'contiguous', [x], { op, dims }, `${op} dims=[${dims}]`);
            }
          }
        }
      });
    }
  }

  it('binary with a different result dtype (int32 + float32 -> float32)', () => {
    const a = denseInput('int32', [4, 6], 0);
    const b = denseInput('float32', [4, 6], 2);
    expectSameAsReference('binary', 'contiguous', [a, b], { op: 'add', dtype: 'float32' }, 'int32+float32');
  });

  it('copy of a dense run at an offset; a cast is left to the reference', () => {
    const x = denseInput('float32', [3, 4, 5], 6);
    expectSameAsReference('copy', 'contiguous', [x], {}, 'copy');
    expect(variantNamed('copy', 'contiguous').supports([x], { dtype: 'float64' })).toBe(false);
  });

  it('views that are not one run are left to the reference', () => {
    const x = denseInput('float32', [4, 6], 0);
    const t: CpuInput = { ...x, shape: [6, 4], strides: [1, 6] }; // a transpose
    expect(variantNamed('unary', 'contiguous').supports([t], { op: 'neg' })).toBe(false);
    const rowBroadcast: CpuInput = { ...x, shape: [4, 6], strides: [0, 1] }; // [6] expanded to [4, 6]
    expect(variantNamed('binary', 'contiguous').supports([x, rowBroadcast], { op: 'add', dtype: 'float32' })).toBe(false);
    // dims 0 and 2 of [2, 3, 4] are not neighbours
    const y = denseInput('float32', [2, 3, 4], 0);
    expect(variantNamed('reduce', 'contiguous').supports([y], { op: 'sum', dims: [0, 2] })).toBe(false);
    // ... unless the dim between them has size 1
    const z = denseInput('float32', [2, 1, 4], 0);
    expectSameAsReference('reduce', 'contiguous', [z], { op: 'sum', dims: [0, 2] }, 'sum dims=[0,2] of [2,1,4]');
  });

  it('the public ops take the contiguous variant on dense float64 tensors', () => {
    const x = randn([5, 7], { dtype: 'float64' });
    const { used } = traceVariants(() => {
      x.sum(1);
      x.exp();
      x.mul(tensor(3, { dtype: 'float64' }));
    });
    expect([...(used.get('reduce') ?? [])]).toEqual(['contiguous']);
    expect([...(used.get('unary') ?? [])]).toEqual(['contiguous']);
    expect([...(used.get('binary') ?? [])]).toEqual(['contiguous']);
  });
});
