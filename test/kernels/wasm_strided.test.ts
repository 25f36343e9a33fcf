// The 'wasm' variants of copy, scatterView and cat (kernels/wasm/elementwise.ts stridedCopyWasm,
// source ew.wat ew_strided) against the TypeScript reference kernels: the same float32 values
// moved (copy, cat) or added in the same row-major order (scatterView), so the outputs must be
// equal bit for bit, NaN, ±Infinity and −0 included, on 1 and 2 threads. Views: slices with steps
// (the option-A shortcut's x[:, :, ::2, ::2]), transposes, broadcasts (stride 0, whose adjoint
// sums), offsets, size-1 and empty dims; cat of dense and strided inputs along every dim.
import { describe, expect, it } from 'vitest';
import type { CpuInput } from '../../core/cpu/registry.js';
import { contiguousStrides } from '../../core/shape.js';
import { Generator } from '../../index.js';
import { stridedCopyWasm } from '../../kernels/wasm/elementwise.js';
import { expectSameAsReference } from '../helpers/variants.js';
import { onThreads } from '../helpers/wasm.js';

const gen = new Generator(11);

/** A float32 storage of `size` elements with some NaN, ±Infinity and −0 among the values. */
function storage(size: number): Float32Array {
  const b = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const u = gen.uniform();
    b[i] = u < 0.03 ? Number.NaN : u < 0.05 ? Number.POSITIVE_INFINITY : u < 0.07 ? Number.NEGATIVE_INFINITY : u < 0.1 ? -0 : (u - 0.5) * 8;
  }
  return b;
}

/** The view (shape, strides, offset) over a fresh storage just big enough for it, plus `extra`. */
function view(shape: number[], strides: number[], offset: number, extra = 3): CpuInput {
  let last = offset;
  for (let k = 0; k < shape.length; k++) last += Math.max(0, (shape[k] as number) - 1) * (strides[k] as number);
  return { buffer: storage(last + 1 + extra), dtype: 'float32', shape, strides, offset };
}

/** [name, shape, strides, offset]: views a copy reads, a scatterView writes through. */
const VIEWS: [string, number[], number[], number][] = [
  ['x[:, :, ::2, ::2] of [3,4,9,10]', [3, 4, 5, 5], [360, 90, 20, 2], 0],
  ['x[:, 1:, ::2, 1::2] of [2,5,8,8]', [2, 4, 4, 4], [320, 64, 16, 2], 65],
  ['transpose [6,7] -> [7,6]', [7, 6], [1, 7], 0],
  ['permute [2,3,4,5] -> [5,2,4,3]', [5, 2, 4, 3], [1, 60, 5, 20], 4],
  ['row broadcast [1,9] -> [5,9]', [5, 9], [0, 1], 2],
  ['column broadcast [6,1] -> [6,11]', [6, 11], [1, 0], 0],
  ['scalar broadcast -> [3,4,5]', [3, 4, 5], [0, 0, 0], 7],
  ['every 3rd of 100, offset 1', [33], [3], 1],
  ['size-1 dims [1,4,1,6] strided', [1, 4, 1, 6], [99, 12, 5, 2], 3],
  ['5 dims that merge to 4', [2, 3, 2, 2, 5], [120, 40, 20, 10, 2], 0],
  ['empty [0,4] strided', [0, 4], [8, 2], 0],
];

for (const threads of [1, 2]) {
  describe(`'wasm' strided variants equal the reference bit for bit, ${threads} thread${threads > 1 ? 's' : ''}`, () => {
    onThreads(threads);
    for (const [name, shape, strides, offset] of VIEWS) {
      it(`copy ${name}`, () => {
        expectSameAsReference('copy', 'wasm', [view(shape, strides, offset)], {}, `copy ${name}`);
      });
      it(`scatterView ${name}`, () => {
        // g dense, written through the view into zeros of the view's storage shape
        const base = view(shape, strides, offset);
        const g = view(shape, contiguousStrides(shape), 0);
        const attrs = { shape: [base.buffer.length], strides, offset };
        expectSameAsReference('scatterView', 'wasm', [g], attrs, `scatterView ${name}`);
      });
    }
    it('scatterView with a strided g (a transposed gradient)', () => {
      const g = view([6, 5], [1, 6], 0);
      expectSameAsReference('scatterView', 'wasm', [g], { shape: [80], strides: [12, 2], offset: 3 }, 'scatterView strided g');
    });

    for (const dim of [0, 1, 2, 3]) {
      it(`cat of dense, strided and empty inputs along dim ${dim}`, () => {
        const shapes = [2, 3, 4, 5].map((_, k) => [2, 3, 4, 5].map((v, d) => (d === dim ? [1, 3, 0, 2][k] as number : v)));
        const xs = shapes.map((s, k) => {
          if (k === 1) {
            // a strided input: every other element of a bigger storage along the last dim
            const st = contiguousStrides(s).map((v) => v * 2);
            return view(s, st, 1);
          }
          return view(s, contiguousStrides(s), k);
        });
        expectSameAsReference('cat', 'wasm', xs, { dim }, `cat dim ${dim}`);
      });
    }
    it('cat of the option-A shortcut: zeros, a ::2 slice, zeros along channels', () => {
      const pad = view([2, 4, 3, 3], contiguousStrides([2, 4, 3, 3]), 0);
      pad.buffer.fill(0);
      const sub = view([2, 8, 3, 3], [8 * 36, 36, 12, 2], 0);
      expectSameAsReference('cat', 'wasm', [pad, sub, pad], { dim: 1 }, 'cat shortcut');
    });
  });
}

describe('stridedCopyWasm: bad arguments', () => {
  const src = new Float32Array(10);
  const dst = new Float32Array(10);
  it('a view past the end of src or dst is refused, naming it', () => {
    expect(() => stridedCopyWasm(src, 2, [2], dst, 0, [1], [5], false)).toThrow(/source view reaches element 10, past src's 10/);
    expect(() => stridedCopyWasm(src, 0, [1], dst, 2, [2], [5], false)).toThrow(/destination view reaches element 10, past dst's 10/);
  });
  it('negative strides and mismatched stride lists are refused', () => {
    expect(() => stridedCopyWasm(src, 9, [-1], dst, 0, [1], [5], false)).toThrow(/srcStrides\[0\] must be an integer >= 0, got -1/);
    expect(() => stridedCopyWasm(src, 0, [1, 1], dst, 0, [1], [5], false)).toThrow(/one entry per dim of shape \(1\), got 2 and 1/);
  });
  it('more than four dims once merged is refused', () => {
    const big = new Float32Array(128);
    expect(() => stridedCopyWasm(big, 0, [81, 27, 9, 3, 1], new Float32Array(32), 0, [16, 8, 4, 2, 1], [2, 2, 2, 2, 2], false)).toThrow(
      /more than four dims once merged/,
    );
  });
  it('writes exactly the view and leaves the rest of dst alone', () => {
    const s = Float32Array.from({ length: 10 }, (_, i) => i + 1);
    const d = new Float32Array(10).fill(-7);
    stridedCopyWasm(s, 0, [2], d, 1, [3], [3], false);
    expect(Array.from(d)).toEqual([-7, 1, -7, -7, 3, -7, -7, 5, -7, -7]);
  });
});
