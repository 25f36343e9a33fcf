// CPU adapters for the elementwise family: copy, unary, binary, where, scatterView, cat.
import { binaryStrided, copyStrided, scatterAddStrided, unaryStrided, whereStrided } from '../../kernels/cpu/elementwise.js';
import { type CpuOutput, registerCpuKernel } from './registry.js';
import { allocOutput } from '../allocator.js';
import { allocArray } from '../dtype.js';
import type { DType, TypedArray } from '../dtype.js';
import { contiguousStrides, numel } from '../shape.js';

const out = (dtype: DType, shape: readonly number[]): { buffer: TypedArray; dtype: DType; shape: readonly number[] } => ({
  buffer: allocOutput(dtype, numel(shape)),
  dtype,
  shape,
});

// copy: contiguous copy of a view, optionally cast to attrs.dtype.
registerCpuKernel('copy', ([x], attrs) => {
  const o = out(attrs.dtype ?? x.dtype, x.shape);
  copyStrided(x.buffer, x.shape, x.strides, x.offset, o.buffer);
  return [o];
});

registerCpuKernel('unary', ([x], attrs) => {
  const o = out(x.dtype, x.shape);
  unaryStrided(attrs.op, x.buffer, x.shape, x.strides, x.offset, o.buffer);
  return [o];
});

// binary: a and b are views already broadcast to the output shape; attrs.dtype is the result type.
registerCpuKernel('binary', ([a, b], attrs) => {
  const o = out(attrs.dtype, a.shape);
  binaryStrided(attrs.op, a.buffer, a.strides, a.offset, b.buffer, b.strides, b.offset, a.shape, o.buffer);
  return [o];
});

registerCpuKernel('where', ([c, a, b]) => {
  const o = out(a.dtype, a.shape);
  whereStrided(c.buffer, c.strides, c.offset, a.buffer, a.strides, a.offset, b.buffer, b.strides, b.offset, a.shape, o.buffer);
  return [o];
});

// scatterView: the adjoint of a view. out = zeros(attrs.shape); out[view] += g.
registerCpuKernel('scatterView', ([g], attrs) => {
  const o = out(g.dtype, attrs.shape);
  const gc = allocArray(g.dtype, numel(g.shape));
  copyStrided(g.buffer, g.shape, g.strides, g.offset, gc);
  scatterAddStrided(gc, g.shape, attrs.strides, attrs.offset, o.buffer);
  return [o];
});

// cat along attrs.dim: each input is written into its slab of the output.
registerCpuKernel('cat', (xs, attrs) => {
  const dim = attrs.dim;
  const first = xs[0];
  const shape = [...first.shape];
  shape[dim] = xs.reduce((s, x) => s + x.shape[dim], 0);
  const o: CpuOutput = out(first.dtype, shape);
  const os = contiguousStrides(shape);
  let start = 0;
  for (const x of xs) {
    const tmp = allocArray(x.dtype, numel(x.shape));
    copyStrided(x.buffer, x.shape, x.strides, x.offset, tmp);
    scatterAddStrided(tmp, x.shape, os, start * os[dim], o.buffer);
    start += x.shape[dim];
  }
  return [o];
});
