// CPU adapters for reductions, softmax and gather.
import { gatherBackward, gatherForward } from '../../kernels/cpu/gather.js';
import { argReduce, reduceStrided } from '../../kernels/cpu/reduce.js';
import { softmaxForward } from '../../kernels/cpu/softmax.js';
import { registerCpuKernel } from './registry.js';
import { allocOutput } from '../allocator.js';
import { numel } from '../shape.js';

/** [outer, n, inner] sizes around `dim`. */
function around(shape: readonly number[], dim: number): [number, number, number] {
  // a 0-d tensor is one element along its only (virtual) dim
  return [numel(shape.slice(0, dim)), shape[dim] ?? 1, numel(shape.slice(dim + 1))];
}

// reduce: attrs.dims are reduced; the output has the keepdim shape.
registerCpuKernel('reduce', ([x], attrs) => {
  const dims = attrs.dims;
  const reduce = x.shape.map((_, d) => dims.includes(d));
  const shape = x.shape.map((s, d) => (reduce[d] ? 1 : s));
  const dtype = attrs.dtype ?? x.dtype;
  const o = allocOutput(dtype, numel(shape));
  reduceStrided(attrs.op, x.buffer, x.shape, x.strides, x.offset, reduce, o);
  return [{ buffer: o, dtype, shape }];
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
