// CPU adapters for convolution. Inputs arrive contiguous (the op makes them so); attrs.geom is
// the ConvGeometry the op worked out, attrs.impl picks the kernel ('im2col', 'direct',
// 'depthwise'; default: depthwise when groups = C > 1, else im2col). Every kernel runs on
// float64 arrays; float32 tensors are converted on the way in and rounded once on the way out.
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
import type { DType } from '../dtype.js';

type FloatArray = Float32Array | Float64Array;
export type ConvImpl = 'im2col' | 'direct' | 'depthwise';

/** Which conv kernel runs when attrs.impl is not given; tests and benchmarks switch it. */
export const convImpl: { current: ConvImpl | 'auto' } = { current: 'auto' };

function pick(attrs: KernelAttrs, p: ConvGeometry): ConvImpl {
  const want = (attrs.impl as ConvImpl | undefined) ?? convImpl.current;
  if (want !== 'auto') return want;
  return p.groups === p.c && p.c > 1 ? 'depthwise' : 'im2col';
}

/**
 * A contiguous input's elements as a Float64Array: float64 data as a view (no copy), float32
 * converted by the native TypedArray.set, so the fast kernels only ever see one array type.
 */
function f64(t: CpuInput): Float64Array {
  const size = t.shape.reduce((a, b) => a * b, 1);
  const view = (t.buffer as FloatArray).subarray(t.offset, t.offset + size);
  if (view instanceof Float64Array) return view;
  const out = new Float64Array(size);
  out.set(view);
  return out;
}

/** A float64 result in the caller's dtype (float32 rounds once, at the end). */
function toDtype(r: Float64Array, dtype: DType): FloatArray {
  if (dtype === 'float64') return r;
  const out = new Float32Array(r.length);
  out.set(r);
  return out;
}

// conv2d: [x, w, bias?] -> y
registerCpuKernel('conv2d', ([x, w, b], attrs) => {
  const p = attrs.geom as ConvGeometry;
  const y = new Float64Array(p.n * p.o * p.oh * p.ow);
  const bias = b ? f64(b) : null;
  const impl = pick(attrs, p);
  if (impl === 'direct') conv2dDirect(f64(x!), f64(w!), bias, y, p);
  else if (impl === 'depthwise') conv2dDepthwise(f64(x!), f64(w!), bias, y, p);
  else conv2dIm2col(f64(x!), f64(w!), bias, y, p);
  return [{ buffer: toDtype(y, x!.dtype), dtype: x!.dtype, shape: [p.n, p.o, p.oh, p.ow] }];
});

// conv2dBackwardInput: [dy, w] -> dx
registerCpuKernel('conv2dBackwardInput', ([dy, w], attrs) => {
  const p = attrs.geom as ConvGeometry;
  const dx = new Float64Array(p.n * p.c * p.h * p.w);
  const impl = pick(attrs, p);
  const none = new Float64Array(0);
  if (impl === 'direct') conv2dBackwardDirect(f64(dy!), none, f64(w!), dx, null, p);
  else if (impl === 'depthwise') conv2dDepthwiseBackward(f64(dy!), none, f64(w!), dx, null, p);
  else conv2dBackwardInputIm2col(f64(dy!), f64(w!), dx, p);
  return [{ buffer: toDtype(dx, dy!.dtype), dtype: dy!.dtype, shape: [p.n, p.c, p.h, p.w] }];
});

// conv2dBackwardWeight: [dy, x] -> dw
registerCpuKernel('conv2dBackwardWeight', ([dy, x], attrs) => {
  const p = attrs.geom as ConvGeometry;
  const cg = p.c / p.groups;
  const dw = new Float64Array(p.o * cg * p.kh * p.kw);
  const impl = pick(attrs, p);
  const none = new Float64Array(0);
  if (impl === 'direct') conv2dBackwardDirect(f64(dy!), f64(x!), none, null, dw, p);
  else if (impl === 'depthwise') conv2dDepthwiseBackward(f64(dy!), f64(x!), none, null, dw, p);
  else conv2dBackwardWeightIm2col(f64(dy!), f64(x!), dw, p);
  return [{ buffer: toDtype(dw, dy!.dtype), dtype: dy!.dtype, shape: [p.o, cg, p.kh, p.kw] }];
});

// conv2dBackwardBias: [dy] -> db
registerCpuKernel('conv2dBackwardBias', ([dy], attrs) => {
  const p = attrs.geom as ConvGeometry;
  const db = new Float64Array(p.o);
  conv2dBackwardBias(f64(dy!), db, p);
  return [{ buffer: toDtype(db, dy!.dtype), dtype: dy!.dtype, shape: [p.o] }];
});
