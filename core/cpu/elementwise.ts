// CPU adapters for the elementwise family: copy, unary, binary, where, scatterView, cat.
import { binaryContiguous, unaryContiguous } from '../../kernels/cpu/contiguous.js';
import { binaryStrided, copyStrided, scatterAddStrided, scatterStrided, unaryStrided, whereStrided } from '../../kernels/cpu/elementwise.js';
import { type CpuInput, type CpuOutput, registerCpuKernel, registerCpuVariant } from './registry.js';
import { allocOutput } from '../allocator.js';
import { allocArray, castArray } from '../dtype.js';
import type { DType, TypedArray } from '../dtype.js';
import { catShape, contiguousStrides, numel } from '../shape.js';

const out = (dtype: DType, shape: readonly number[]): { buffer: TypedArray; dtype: DType; shape: readonly number[] } => ({
  buffer: allocOutput(dtype, numel(shape)),
  dtype,
  shape,
});

// copy: contiguous copy of a view, optionally cast to attrs.dtype. A float cast to int32
// truncates toward zero as torch does; NaN, infinities and values past the int32 range are an
// OverflowError (torch leaves them undefined; a typed array would store 0 or wrap around).
registerCpuKernel('copy', ([x], attrs) => {
  if (attrs.dtype === 'int32' && x.dtype !== 'int32') {
    const wide = new Float64Array(numel(x.shape));
    copyStrided(x.buffer, x.shape, x.strides, x.offset, wide);
    return [{ buffer: castArray(wide, 'int32', 'to'), dtype: 'int32', shape: x.shape }];
  }
  const o = out(attrs.dtype ?? x.dtype, x.shape);
  copyStrided(x.buffer, x.shape, x.strides, x.offset, o.buffer);
  return [o];
});

registerCpuVariant('copy', {
  name: 'contiguous', about: 'one typed-array set() of a dense run', rank: 10,
  supports: ([x], attrs) => runStep(x) === 1 && (attrs.dtype ?? x.dtype) === x.dtype,
  run: ([x]) => {
    const o = out(x.dtype, x.shape);
    const n = o.buffer.length;
    o.buffer.set(x.buffer.subarray(x.offset, x.offset + n));
    return [o];
  },
});

registerCpuKernel('unary', ([x], attrs) => {
  const o = out(x.dtype, x.shape);
  unaryStrided(attrs.op, x.buffer, x.shape, x.strides, x.offset, o.buffer);
  return [o];
});

/**
 * How a view walks its storage: 1 when it is one unbroken row-major run, 0 when it is a single
 * element broadcast everywhere (every stride of a dim longer than 1 is 0), -1 otherwise.
 */
export function runStep(x: CpuInput): 1 | 0 | -1 {
  let expected = 1;
  let broadcast = true;
  let dense = true;
  for (let d = x.shape.length - 1; d >= 0; d--) {
    const n = x.shape[d];
    if (n === 1) continue;
    if (x.strides[d] !== 0) broadcast = false;
    if (x.strides[d] !== expected) dense = false;
    expected *= n;
  }
  return dense ? 1 : broadcast ? 0 : -1;
}

const CONTIGUOUS_ABOUT = 'one TypeScript loop per op over dense runs (no odometer, no callback)';

registerCpuVariant('unary', {
  name: 'contiguous', about: CONTIGUOUS_ABOUT, rank: 10,
  supports: ([x]) => runStep(x) === 1,
  run: ([x], attrs) => {
    const o = out(x.dtype, x.shape);
    unaryContiguous(attrs.op, x.buffer, x.offset, o.buffer.length, o.buffer);
    return [o];
  },
});

// binary: a and b are views already broadcast to the output shape; attrs.dtype is the result type.
registerCpuKernel('binary', ([a, b], attrs) => {
  const o = out(attrs.dtype, a.shape);
  binaryStrided(attrs.op, a.buffer, a.strides, a.offset, b.buffer, b.strides, b.offset, a.shape, o.buffer);
  return [o];
});

registerCpuVariant('binary', {
  name: 'contiguous', about: CONTIGUOUS_ABOUT, rank: 10,
  supports: ([a, b]) => {
    const sa = runStep(a);
    const sb = runStep(b);
    return sa >= 0 && sb >= 0 && sa + sb > 0;
  },
  run: ([a, b], attrs) => {
    const o = out(attrs.dtype, a.shape);
    const sa = runStep(a) as 0 | 1;
    const sb = runStep(b) as 0 | 1;
    binaryContiguous(attrs.op, a.buffer, a.offset, sa, b.buffer, b.offset, sb, o.buffer.length, o.buffer);
    return [o];
  },
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

// cat along attrs.dim: each input is written into its slab of the output (every element once).
registerCpuKernel('cat', (xs, attrs) => {
  const dim = attrs.dim;
  const shape = catShape(xs, dim);
  const o: CpuOutput = out(xs[0].dtype, shape);
  const os = contiguousStrides(shape);
  let start = 0;
  for (const x of xs) {
    const tmp = allocArray(x.dtype, numel(x.shape));
    copyStrided(x.buffer, x.shape, x.strides, x.offset, tmp);
    scatterStrided(tmp, x.shape, os, start * os[dim], o.buffer); // a copy: −0 stays −0, as torch's cat
    start += x.shape[dim];
  }
  return [o];
});
