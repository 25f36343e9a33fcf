// Property-based (fast-check): binary ops with NumPy/PyTorch broadcasting over random shapes,
// contiguous and transposed operands, float32/float64/int32, against a naive index-by-index
// reference written here; and broadcastShapes against the rule itself.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type DType, Generator, ShapeError, type Tensor, autograd, tensor } from '../../index.js';
import { prod, unravel } from '../helpers/indexing.js';

type Op = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | 'eq' | 'lt' | 'ge';
// What each op computes on one pair of numbers (int32 results of comparisons are 0/1).
const REF: Record<Op, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => a ** b,
  maximum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : Math.max(a, b)),
  minimum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? Number.NaN : Math.min(a, b)),
  eq: (a, b) => (a === b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
};
const OPS = Object.keys(REF) as Op[];



/** Flat row-major position of the element that `outIdx` reads from an operand of `shape`. */
function broadcastSource(outIdx: readonly number[], shape: readonly number[]): number {
  const lead = outIdx.length - shape.length;
  let flat = 0;
  for (let d = 0; d < shape.length; d++) flat = flat * (shape[d] as number) + (shape[d] === 1 ? 0 : (outIdx[d + lead] as number));
  return flat;
}

/** Values for an operand: small integers for int32, normals otherwise (rounded for float32). */
function values(n: number, dtype: DType, g: Generator): number[] {
  return Array.from({ length: n }, () => {
    if (dtype === 'int32') return g.integer(-3, 4);
    const v = g.normal();
    return dtype === 'float32' ? Math.fround(v) : v;
  });
}

/** A tensor with these logical values; `transposed` stores it with reversed strides. */
function operand(vals: number[], shape: number[], dtype: DType, transposed: boolean): Tensor {
  const t = tensor(Float64Array.from(vals), { shape, dtype });
  if (!transposed || shape.length < 2) return t;
  const rev = shape.map((_, i) => shape.length - 1 - i);
  const v = autograd.permute(autograd.contiguous(autograd.permute(t, rev)), rev);
  expect(v.isContiguous()).toBe(shape.filter((s) => s > 1).length < 2);
  return v;
}

/** An output shape and two operand shapes that broadcast to it (dims dropped on the left or set to 1). */
const broadcastCase = fc
  .array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 4 })
  .chain((out) =>
    fc.record({
      out: fc.constant(out),
      dropA: fc.integer({ min: 0, max: out.length }),
      dropB: fc.integer({ min: 0, max: out.length }),
      onesA: fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
      onesB: fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
      op: fc.constantFrom(...OPS),
      dtypeA: fc.constantFrom<DType>('float32', 'float64', 'int32'),
      dtypeB: fc.constantFrom<DType>('float32', 'float64', 'int32'),
      transA: fc.boolean(),
      transB: fc.boolean(),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    }),
  );

const promote = (a: DType, b: DType): DType => (a === 'float64' || b === 'float64' ? 'float64' : a === 'float32' || b === 'float32' ? 'float32' : 'int32');
const isFloat = (d: DType): boolean => d !== 'int32';
/** PyTorch's result type: a 0-d operand only decides it when its category (int < float) is higher. */
function resultType(a: DType, rankA: number, b: DType, rankB: number): DType {
  if ((rankA === 0) !== (rankB === 0) && isFloat(a) === isFloat(b)) return rankA === 0 ? b : a;
  return promote(a, b);
}

describe('broadcasting binary ops (property)', () => {
  it('op(a, b) equals the naive elementwise reference for random broadcastable shapes', () => {
    fc.assert(
      fc.property(broadcastCase, (c) => {
        const shapeA = c.out.slice(c.dropA).map((s, i) => (c.onesA[i + c.dropA] ? 1 : s));
        const shapeB = c.out.slice(c.dropB).map((s, i) => (c.onesB[i + c.dropB] ? 1 : s));
        // the true output shape: dims where both operands were reduced to 1 stay 1
        const lead = c.out.length - Math.min(c.dropA, c.dropB);
        const outShape = c.out.slice(c.out.length - lead).map((_, k) => {
          const d = k + c.out.length - lead;
          const sa = d >= c.dropA ? (shapeA[d - c.dropA] as number) : 1;
          const sb = d >= c.dropB ? (shapeB[d - c.dropB] as number) : 1;
          return Math.max(sa, sb);
        });
        const g = new Generator(c.seed);
        const va = values(prod(shapeA), c.dtypeA, g);
        const vb = values(prod(shapeB), c.dtypeB, g);
        const a = operand(va, shapeA, c.dtypeA, c.transA);
        const b = operand(vb, shapeB, c.dtypeB, c.transB);
        const out = (autograd as unknown as Record<Op, (x: Tensor, y: Tensor) => Tensor>)[c.op](a, b);

        const compare = c.op === 'eq' || c.op === 'lt' || c.op === 'ge';
        const common = resultType(c.dtypeA, shapeA.length, c.dtypeB, shapeB.length);
        // both operands are converted to the computation dtype first (a float64 0-d operand is
        // rounded to float32 beside a float32 tensor), then the result is stored in `dtype`
        const compute: DType = c.op === 'div' && common === 'int32' ? 'float32' : common;
        const dtype: DType = compare ? 'int32' : compute;
        const cast = compute === 'float32' ? Math.fround : (v: number) => v;
        expect(out.dtype).toBe(dtype);
        expect([...out.shape]).toEqual(outShape);
        const round = dtype === 'float32' ? Math.fround : dtype === 'int32' ? (v: number) => v | 0 : (v: number) => v;
        const expected = Array.from({ length: prod(outShape) }, (_, i) => {
          const idx = unravel(i, outShape);
          return round(REF[c.op](cast(va[broadcastSource(idx, shapeA)] as number), cast(vb[broadcastSource(idx, shapeB)] as number)));
        });
        expect(Array.from(out.toArray())).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('broadcastShapes follows the rule: align right, sizes equal or 1, else a ShapeError', () => {
    const shape = fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 4 });
    fc.assert(
      fc.property(shape, shape, (sa, sb) => {
        const n = Math.max(sa.length, sb.length);
        const pa = [...new Array<number>(n - sa.length).fill(1), ...sa];
        const pb = [...new Array<number>(n - sb.length).fill(1), ...sb];
        const ok = pa.every((x, i) => x === pb[i] || x === 1 || pb[i] === 1);
        const a = tensor(new Float64Array(prod(sa)), { shape: sa });
        const b = tensor(new Float64Array(prod(sb)), { shape: sb });
        if (ok) expect([...autograd.add(a, b).shape]).toEqual(pa.map((x, i) => Math.max(x, pb[i] as number)));
        else expect(() => autograd.add(a, b)).toThrow(ShapeError);
      }),
      { numRuns: 300 },
    );
  });
});
