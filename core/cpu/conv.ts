// CPU adapters for convolution: the TypeScript variants. Inputs arrive contiguous (the op makes
// them so); attrs.geom is the ConvGeometry the op worked out. Variants: 'direct' (reference),
// 'im2col', 'depthwise' (groups = C > 1). They run on float64 arrays: float32 tensors are
// converted on the way in and rounded once on the way out (the WASM variants in core/cpu/wasm.ts
// stay in float32).
import {
  conv2dBackwardBias,
  conv2dBackwardDirect,
  conv2dBackwardInputIm2col,
  conv2dBackwardWeightIm2col,
  conv2dDepthwise,
  conv2dDepthwiseBackward,
  conv2dDirect,
  conv2dIm2col,
} from '../../kernels/cpu/conv2d.js';
import { reluInPlace } from '../../kernels/cpu/elementwise.js';
import type { ConvGeometry } from '../../kernels/geometry.js';
import { allocOutput } from '../allocator.js';
import type { DType } from '../dtype.js';
import type { KernelAttrMap } from '../kernel_names.js';
import { type CpuInput, type CpuOutput, registerCpuVariant } from './registry.js';

type FloatArray = Float32Array | Float64Array;
type ConvAttrs = KernelAttrMap['conv2d'];

/**
 * A contiguous input's elements as a Float64Array: float64 data as a view (no copy), float32
 * converted by the native TypedArray.set, so the fast kernels only ever see one array type.
 */
function f64(t: CpuInput): Float64Array {
  const size = t.shape.reduce((a, b) => a * b, 1);
  const view = (t.buffer as FloatArray).subarray(t.offset, t.offset + size);
  if (view instanceof Float64Array) return view;
  const r = new Float64Array(size);
  r.set(view);
  return r;
}

/** A float64 result in the caller's dtype (float32 rounds once, at the end). */
function toDtype(r: Float64Array, dtype: DType): FloatArray {
  if (dtype === 'float64') return r;
  const o = allocOutput('float32', r.length) as Float32Array;
  o.set(r);
  return o;
}

/** One conv variant's four kernels, on float64 arrays (float32 converted at the edges). */
interface ConvKernels {
  forward(x: Float64Array, w: Float64Array, bias: Float64Array | null, y: Float64Array, p: ConvGeometry): void;
  backwardInput(dy: Float64Array, w: Float64Array, dx: Float64Array, p: ConvGeometry): void;
  backwardWeight(dy: Float64Array, x: Float64Array, dw: Float64Array, p: ConvGeometry): void;
}

const none = new Float64Array(0);

const KERNELS: Record<'direct' | 'im2col' | 'depthwise', ConvKernels> = {
  direct: {
    forward: conv2dDirect,
    backwardInput: (dy, w, dx, p) => conv2dBackwardDirect(dy, none, w, dx, null, p),
    backwardWeight: (dy, x, dw, p) => conv2dBackwardDirect(dy, x, none, null, dw, p),
  },
  im2col: { forward: conv2dIm2col, backwardInput: conv2dBackwardInputIm2col, backwardWeight: conv2dBackwardWeightIm2col },
  depthwise: {
    forward: conv2dDepthwise,
    backwardInput: (dy, w, dx, p) => conv2dDepthwiseBackward(dy, none, w, dx, null, p),
    backwardWeight: (dy, x, dw, p) => conv2dDepthwiseBackward(dy, x, none, null, dw, p),
  },
};

const out = (r: Float64Array, dtype: DType, shape: number[]): CpuOutput => ({ buffer: toDtype(r, dtype), dtype, shape });

/** Register the forward and both backward kernels of one TypeScript conv variant. */
function registerConv(name: keyof typeof KERNELS, about: string, rank: number, supports: (p: ConvGeometry) => boolean): void {
  const k = KERNELS[name];
  const ok = (_: readonly CpuInput[], a: ConvAttrs) => supports(a.geom);
  registerCpuVariant('conv2d', {
    name, about, rank, supports: ok,
    run: ([x, w, b], { geom: p, relu: withRelu }) => {
      const y = allocOutput('float64', p.n * p.o * p.oh * p.ow) as Float64Array;
      k.forward(f64(x), f64(w), b ? f64(b) : null, y, p);
      if (withRelu) reluInPlace(y);
      return [out(y, x.dtype, [p.n, p.o, p.oh, p.ow])];
    },
  });
  registerCpuVariant('conv2dBackwardInput', {
    name, about, rank, supports: ok,
    run: ([dy, w], { geom: p }) => {
      const dx = allocOutput('float64', p.n * p.c * p.h * p.w) as Float64Array;
      k.backwardInput(f64(dy), f64(w), dx, p);
      return [out(dx, dy.dtype, [p.n, p.c, p.h, p.w])];
    },
  });
  registerCpuVariant('conv2dBackwardWeight', {
    name, about, rank, supports: ok,
    run: ([dy, x], { geom: p }) => {
      const cg = p.c / p.groups;
      const dw = allocOutput('float64', p.o * cg * p.kh * p.kw) as Float64Array;
      k.backwardWeight(f64(dy), f64(x), dw, p);
      return [out(dw, dy.dtype, [p.o, cg, p.kh, p.kw])];
    },
  });
}

registerConv('direct', 'TypeScript direct convolution: the formula read literally (7 loops)', 0, () => true);
registerConv('im2col', 'TypeScript im2col + blocked GEMM per image and group, col2im backward', 10, () => true);
registerConv('depthwise', 'TypeScript depthwise kernel (groups = channels)', 20, (p) => p.groups === p.c && p.c > 1);

// conv2dBackwardBias: [dy] -> db = Σ over n, oy, ox of dy
registerCpuVariant('conv2dBackwardBias', {
  name: 'reference',
  about: 'TypeScript row sums',
  rank: 0,
  supports: () => true,
  run: ([dy], { geom: p }) => {
    const db = new Float64Array(p.o);
    conv2dBackwardBias(f64(dy), db, p);
    return [out(db, dy.dtype, [p.o])];
  },
});
