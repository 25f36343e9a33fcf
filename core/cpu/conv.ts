// CPU adapters for convolution. Inputs arrive contiguous (the op makes them so); attrs.geom is
// the ConvGeometry the op worked out, attrs.impl picks the kernel ('im2col', 'direct',
// 'depthwise'; default: depthwise when groups = C > 1, else im2col).
import {
  type ConvGeometry,
  conv2dBackwardBias,
  conv2dBackwardDirect,
  conv2dBackwardInputIm2col,
  conv2dBackwardWeightIm2col,
  conv2dDepthwise,
  conv2dDepthwiseBackward,
  conv2dDirect,
  conv2dIm2col,
} from '../../kernels/cpu/conv2d.js';
import type { KernelAttrs } from '../backend.js';
import { type CpuInput, registerCpuKernel } from '../cpu_backend.js';
import { allocArray } from '../dtype.js';

type FloatArray = Float32Array | Float64Array;
export type ConvImpl = 'im2col' | 'direct' | 'depthwise';

/** Which conv kernel runs when attrs.impl is not given; tests and benchmarks switch it. */
export const convImpl: { current: ConvImpl | 'auto' } = { current: 'auto' };

function pick(attrs: KernelAttrs, p: ConvGeometry): ConvImpl {
  const want = (attrs.impl as ConvImpl | undefined) ?? convImpl.current;
  if (want !== 'auto') return want;
  return p.groups === p.c && p.c > 1 ? 'depthwise' : 'im2col';
}

/** The typed array of a contiguous input, starting at its first element. */
function data(t: CpuInput): FloatArray {
  const b = t.buffer as FloatArray;
  return t.offset === 0 ? b : b.subarray(t.offset);
}

// conv2d: [x, w, bias?] -> y
registerCpuKernel('conv2d', ([x, w, b], attrs) => {
  const p = attrs.geom as ConvGeometry;
  const shape = [p.n, p.o, p.oh, p.ow];
  const y = allocArray(x!.dtype, p.n * p.o * p.oh * p.ow) as FloatArray;
  const bias = b ? data(b) : null;
  const impl = pick(attrs, p);
  if (impl === 'direct') conv2dDirect(data(x!), data(w!), bias, y, p);
  else if (impl === 'depthwise') conv2dDepthwise(data(x!), data(w!), bias, y, p);
  else conv2dIm2col(data(x!), data(w!), bias, y, p);
  return [{ buffer: y, dtype: x!.dtype, shape }];
});

// conv2dBackwardInput: [dy, w] -> dx
registerCpuKernel('conv2dBackwardInput', ([dy, w], attrs) => {
  const p = attrs.geom as ConvGeometry;
  const dx = allocArray(dy!.dtype, p.n * p.c * p.h * p.w) as FloatArray;
  const impl = pick(attrs, p);
  const empty = new Float64Array(0);
  if (impl === 'direct') conv2dBackwardDirect(data(dy!), empty, data(w!), dx, null, p);
  else if (impl === 'depthwise') conv2dDepthwiseBackward(data(dy!), empty, data(w!), dx, null, p);
  else conv2dBackwardInputIm2col(data(dy!), data(w!), dx, p);
  return [{ buffer: dx, dtype: dy!.dtype, shape: [p.n, p.c, p.h, p.w] }];
});

// conv2dBackwardWeight: [dy, x] -> dw
registerCpuKernel('conv2dBackwardWeight', ([dy, x], attrs) => {
  const p = attrs.geom as ConvGeometry;
  const cg = p.c / p.groups;
  const dw = allocArray(dy!.dtype, p.o * cg * p.kh * p.kw) as FloatArray;
  const impl = pick(attrs, p);
  const empty = new Float64Array(0);
  if (impl === 'direct') conv2dBackwardDirect(data(dy!), data(x!), empty, null, dw, p);
  else if (impl === 'depthwise') conv2dDepthwiseBackward(data(dy!), data(x!), empty, null, dw, p);
  else conv2dBackwardWeightIm2col(data(dy!), data(x!), dw, p);
  return [{ buffer: dw, dtype: dy!.dtype, shape: [p.o, cg, p.kh, p.kw] }];
});

// conv2dBackwardBias: [dy] -> db
registerCpuKernel('conv2dBackwardBias', ([dy], attrs) => {
  const p = attrs.geom as ConvGeometry;
  const db = allocArray(dy!.dtype, p.o) as FloatArray;
  conv2dBackwardBias(data(dy!), db, p);
  return [{ buffer: db, dtype: dy!.dtype, shape: [p.o] }];
});
