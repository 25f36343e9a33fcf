// The WASM SIMD kernels (kernels/wasm/) as variants of the CPU device. They take float32 only
// (float64 keeps the TypeScript kernels, which gradcheck uses), stay in float32 end to end, and
// run on the thread pool (setNumThreads / RESGRAD_NUM_THREADS). Each registers with a rank above
// the TypeScript variants, so a float32 call takes the WASM path wherever the runtime loaded;
// where it did not (no SIMD, no SharedArrayBuffer), supports() says no and nothing changes.
import { allocOutput } from '../allocator.js';
import type { KernelAttrMap } from '../kernel_names.js';
import type { ConvGeometry } from '../../kernels/geometry.js';
import {
  groupedConv2dBackwardInputWasm,
  groupedConv2dBackwardWeightWasm,
  groupedConv2dForwardWasm,
  groupedConvSupports,
} from '../../kernels/wasm/grouped_conv.js';
import { getWasm } from '../../kernels/wasm/runtime.js';
import { type CpuInput, type CpuOutput, registerCpuVariant } from './registry.js';

/** The runtime loaded (SIMD and shared memory exist here). */
export const wasmAvailable = (): boolean => getWasm() !== null;
/** Relaxed-SIMD (FMA) modules loaded. */
export const wasmRelaxed = (): boolean => getWasm()?.relaxed ?? false;

const allF32 = (inputs: readonly CpuInput[]): boolean => inputs.every((t) => t.dtype === 'float32');

/** A contiguous float32 input as exactly its elements (a view, no copy). */
function f32(t: CpuInput): Float32Array {
  let n = 1;
  for (const s of t.shape) n *= s;
  return (t.buffer as Float32Array).subarray(t.offset, t.offset + n);
}

const newF32 = (n: number): Float32Array => allocOutput('float32', n) as Float32Array;
const out = (buffer: Float32Array, shape: number[]): CpuOutput => ({ buffer, dtype: 'float32', shape });

// ---- convolution --------------------------------------------------------------------------

type ConvAttrs = KernelAttrMap['conv2d'];

interface WasmConv {
  forward(x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, p: ConvGeometry): void;
  backwardInput(dy: Float32Array, w: Float32Array, dx: Float32Array, p: ConvGeometry): void;
  backwardWeight(dy: Float32Array, x: Float32Array, dw: Float32Array, p: ConvGeometry): void;
}

/** Register the forward and both backward kernels of one WASM conv variant. */
function registerWasmConv(name: string, about: string, rank: number, supports: (p: ConvGeometry) => boolean, k: WasmConv): void {
  const ok = (inputs: readonly CpuInput[], a: ConvAttrs) => allF32(inputs) && wasmAvailable() && supports(a.geom);
  registerCpuVariant('conv2d', {
    name, about, rank, supports: ok,
    run: ([x, w, b], { geom: p }) => {
      const y = newF32(p.n * p.o * p.oh * p.ow);
      k.forward(f32(x), f32(w), b ? f32(b) : null, y, p);
      return [out(y, [p.n, p.o, p.oh, p.ow])];
    },
  });
  registerCpuVariant('conv2dBackwardInput', {
    name, about, rank, supports: ok,
    run: ([dy, w], { geom: p }) => {
      const dx = newF32(p.n * p.c * p.h * p.w);
      k.backwardInput(f32(dy), f32(w), dx, p);
      return [out(dx, [p.n, p.c, p.h, p.w])];
    },
  });
  registerCpuVariant('conv2dBackwardWeight', {
    name, about, rank, supports: ok,
    run: ([dy, x], { geom: p }) => {
      const cg = p.c / p.groups;
      const dw = newF32(p.o * cg * p.kh * p.kw);
      k.backwardWeight(f32(dy), f32(x), dw, p);
      return [out(dw, [p.o, cg, p.kh, p.kw])];
    },
  });
}

registerWasmConv(
  'wasm-grouped',
  'WASM SIMD direct convolution for few channels per group (depthwise, ResNeXt), f32x4 over output pixels, threads over planes',
  40,
  groupedConvSupports,
  {
    forward: (x, w, b, y, p) => groupedConv2dForwardWasm(x, w, b, y, p, { relaxed: wasmRelaxed() }),
    backwardInput: (dy, w, dx, p) => groupedConv2dBackwardInputWasm(dy, w, dx, p, { relaxed: wasmRelaxed() }),
    backwardWeight: (dy, x, dw, p) => groupedConv2dBackwardWeightWasm(dy, x, dw, p, { relaxed: wasmRelaxed() }),
  },
);
