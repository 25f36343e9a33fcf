// CPU adapters for reductions, softmax and gather.
import { gatherBackward, gatherForward } from '../../kernels/cpu/gather.js';
import { argReduce, reduceStrided } from '../../kernels/cpu/reduce.js';
import { softmaxForward } from '../../kernels/cpu/softmax.js';
import { reduceContiguous } from '../../kernels/cpu/contiguous.js';
import { type CpuInput, registerCpuKernel, registerCpuVariant } from './registry.js';
import { runStep } from './elementwise.js';
import { allocOutput } from '../allocator.js';
import { type DType, type TypedArray, narrowToInt32 } from '../dtype.js';
import { numel } from '../shape.js';

/** [outer, n, inner] sizes around `dim`. */
function around(shape: readonly number[], dim: number): [number, number, number] {
  // a 0-d tensor is one element along its only (virtual) dim
  return [numel(shape.slice(0, dim)), shape[dim] ?? 1, numel(shape.slice(dim + 1))];
}

/**
 * The output array of a reduction, and how to finish it. torch sums int32 into int64, which
 * resgrad lacks: an int32 sum is written into a float64 array (the kernels already accumulate in
 * float64, exact while partial sums stay below 2^53 in magnitude: always, for fewer than 2^22
 * elements), then narrowed to int32 with a check, so a sum past 2^31 - 1 is an OverflowError
 * naming the value instead of a silent wrap-around. (prod is internal only and keeps wrapping.)
 */
function reduceOutput(op: string, dtype: DType, size: number): [TypedArray, (o: TypedArray) => TypedArray] {
  if (dtype === 'int32' && op === 'sum') return [new Float64Array(size), (o) => narrowToInt32(o, op)];
  return [allocOutput(dtype, size), (o) => o];
}

// reduce: attrs.dims are reduced; the output has the keepdim shape.
registerCpuKernel('reduce', ([x], attrs) => {
  const dims = attrs.dims;
  const reduce = x.shape.map((_, d) => dims.includes(d));
  const shape = x.shape.map((s, d) => (reduce[d] ? 1 : s));
  const dtype = attrs.dtype ?? x.dtype;
  const [o, finish] = reduceOutput(attrs.op, dtype, numel(shape));
  reduceStrided(attrs.op, x.buffer, x.shape, x.strides, x.offset, reduce, o);
  return [{ buffer: finish(o), dtype, shape }];
});

/** [outer, n, inner] when the reduced dims (size-1 dims aside) are neighbours; else null. */
function reducedBlock(x: CpuInput, dims: readonly number[]): [number, number, number] | null {
  const idx = x.shape.map((_, d) => d).filter((d) => dims.includes(d) && x.shape[d] !== 1);
  if (idx.length === 0) return [numel(x.shape), 1, 1];
  const first = idx[0];
  const last = idx[idx.length - 1];
  for (let d = first; d <= last; d++) if (x.shape[d] !== 1 && !dims.includes(d)) return null;
  return [numel(x.shape.slice(0, first)), numel(x.shape.slice(first, last + 1)), numel(x.shape.slice(last + 1))];
}

registerCpuVariant('reduce', {
  name: 'contiguous',
  about: 'out[o, j] = ⊕_k x[o, k, j] over a dense [outer, n, inner] view, one loop per op',
  rank: 10,
  supports: ([x], attrs) => runStep(x) === 1 && reducedBlock(x, attrs.dims) !== null,
  run: ([x], attrs) => {
    const [outer, n, inner] = reducedBlock(x, attrs.dims) as [number, number, number];
    const shape = x.shape.map((s, d) => (attrs.dims.includes(d) ? 1 : s));
    const dtype = attrs.dtype ?? x.dtype;
    const [o, finish] = reduceOutput(attrs.op, dtype, numel(shape));
    reduceContiguous(attrs.op, x.buffer, x.offset, outer, n, inner, o);
    return [{ buffer: finish(o), dtype, shape }];
  },
});

// argReduce: x contiguous; output int32 with the keepdim shape.
registerCpuKernel('argReduce', ([x], attrs) => {
  const dim = attrs.dim;
  const [outer, n, inner] = around(x.shape, dim);
  const shape = x.shape.map((s, d) => (d === dim ? 1 : s));
  const o = new Int32Array(outer * inner);
  argReduce(attrs.op, x.buffer, outer, n, inner, o);
  return [{ buffer: o, dtype: 'int32', shape }];
});

registerCpuKernel('softmax', ([x], attrs) => {
  const [outer, n, inner] = around(x.shape, attrs.dim);
  const o = allocOutput(x.dtype, numel(x.shape)) as Float32Array | Float64Array;
  softmaxForward(x.buffer as Float32Array | Float64Array, outer, n, inner, o, attrs.log);
  return [{ buffer: o, dtype: x.dtype, shape: x.shape }];
});

// gather: x and index contiguous; index has x's shape except along dim.
registerCpuKernel('gather', ([x, index], attrs) => {
  const dim = attrs.dim;
  const [outer, m, inner] = around(index.shape, dim);
  const o = allocOutput(x.dtype, numel(index.shape));
  gatherForward(x.buffer, x.shape[dim], index.buffer as Int32Array, outer, m, inner, o);
  return [{ buffer: o, dtype: x.dtype, shape: index.shape }];
});

registerCpuKernel('gatherBackward', ([g, index], attrs) => {
  const dim = attrs.dim;
  const shape = attrs.shape;
  const [outer, m, inner] = around(index.shape, dim);
  const o = allocOutput(g.dtype, numel(shape));
  gatherBackward(g.buffer, index.buffer as Int32Array, outer, m, inner, shape[dim], o);
  return [{ buffer: o, dtype: g.dtype, shape }];
});
