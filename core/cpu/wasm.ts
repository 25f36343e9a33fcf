// The WASM SIMD kernels (kernels/wasm/) as variants of the CPU device. They take float32 only
// (float64 keeps the TypeScript kernels, which gradcheck uses), stay in float32 end to end, and
// run on the thread pool (setNumThreads / RESGRAD_NUM_THREADS). Each registers with a rank above
// the TypeScript variants, so a float32 call takes the WASM path wherever the runtime loaded;
// where it did not (no SIMD, no SharedArrayBuffer), supports() says no and nothing changes.
import type { ConvGeometry } from '../../kernels/geometry.js';
import { conv2dBackwardInputWasm, conv2dBackwardWeightWasm, conv2dForwardWasm, packedWeightFloats } from '../../kernels/wasm/conv.js';
import { addReluWasm, addWasm, reluBackwardWasm, reluWasm, stridedCopyWasm, stridedDims } from '../../kernels/wasm/elementwise.js';
import { sgemmWasm } from '../../kernels/wasm/gemm.js';
import {
  groupedConv2dBackwardInputWasm,
  groupedConv2dBackwardWeightWasm,
  groupedConv2dForwardWasm,
  groupedConvSupports,
} from '../../kernels/wasm/grouped_conv.js';
import { normApplyWasm, normBackwardWasm, normForwardWasm, wasmNormSupports } from '../../kernels/wasm/norm.js';
import {
  adaptiveAvgPool2dBackwardWasm,
  adaptiveAvgPool2dForwardWasm,
  avgPool2dBackwardWasm,
  avgPool2dForwardWasm,
  maxPool2dBackwardWasm,
  maxPool2dForwardWasm,
} from '../../kernels/wasm/pool.js';
import { type AdamStepOptions, type SgdStepOptions, adamStepWasm, sgdStepWasm } from '../../kernels/wasm/optim.js';
import { describeWasm, getWasm } from '../../kernels/wasm/runtime.js';
import {
  winogradConv2dBackwardInputWasm,
  winogradConv2dBackwardWeightWasm,
  winogradConv2dForwardWasm,
  winogradPrefers,
  winogradPrefersWeightGradient,
  winogradSupports,
  winogradTuning,
  winogradWeightFloats,
} from '../../kernels/wasm/winograd.js';
import type { Tensor } from '../tensor.js';
import { allocOutput, setAllocator } from '../allocator.js';
import { setCpuFastPath, setCpuMemory } from '../cpu_backend.js';
import { allocArray } from '../dtype.js';
import { scopeDepth } from '../scope.js';
import { WasmHeap } from './wasm_heap.js';
import type { KernelAttrMap } from '../kernel_names.js';
import { catShape, contiguousStrides, isContiguous, numel } from '../shape.js';
import { runStep } from './elementwise.js';
import { batchedMatmul } from './matmul.js';
import { type CpuInput, type CpuOutput, registerCpuVariant } from './registry.js';

export { describeWasm };

/** The runtime loaded (SIMD and shared memory exist here). */
export const wasmAvailable = (): boolean => getWasm() !== null;
/** Relaxed-SIMD (FMA) modules loaded. */
export const wasmRelaxed = (): boolean => getWasm()?.relaxed ?? false;

const allF32 = (inputs: readonly CpuInput[]): boolean => inputs.every((t) => t.dtype === 'float32');
const dense = (t: CpuInput): boolean => isContiguous(t.shape, t.strides);

/** A contiguous input as exactly its elements (a view, no copy): float32 data, or int32 indices. */
function elements<T extends Float32Array | Int32Array>(t: CpuInput): T {
  return (t.buffer as T).subarray(t.offset, t.offset + numel(t.shape)) as T;
}
const f32 = (t: CpuInput): Float32Array => elements<Float32Array>(t);
const i32 = (t: CpuInput): Int32Array => elements<Int32Array>(t);

// Every WASM kernel overwrites all of its output: no need to zero it first.
const newF32 = (n: number): Float32Array => allocOutput('float32', n, false) as Float32Array;

// ---- tensor storage in the WASM memory (core/cpu/wasm_heap.ts) ---------------------------------
// Inside a tidy() scope, float32 and int32 kernel outputs are blocks of the WASM heap, read and
// written in place by the WASM kernels; the scope frees them at its end. Elsewhere, plain arrays.

let heap: WasmHeap | null | undefined;

/** The heap, made on first use; null where the WASM runtime is unavailable. */
export function wasmHeap(): WasmHeap | null {
  if (heap === undefined) {
    const rt = getWasm();
    heap = rt === null || !rt.shared ? null : new WasmHeap(rt); // an unshared memory detaches views on growth
  }
  return heap;
}

setAllocator({
  name: 'wasm heap inside tidy() scopes, js heap elsewhere',
  alloc(dtype, size, zeroed = true) {
    if (scopeDepth() > 0 && dtype !== 'float64') {
      const block = wasmHeap()?.alloc(dtype, size);
      if (block) {
        if (zeroed) block.fill(0);
        return block;
      }
    }
    return allocArray(dtype, size);
  },
});

setCpuFastPath(() => (wasmAvailable() ? describeWasm() : ''));

setCpuMemory({
  owns: (buffer) => (heap?.holds(buffer) ?? false) && !heap?.isPinned(buffer),
  free: (buffer) => {
    heap?.free(buffer);
  },
  pinnedCopy: (buffer) => {
    if (!(buffer instanceof Float32Array) || buffer.length === 0) return null;
    const h = wasmHeap();
    if (h === null || h.isPinned(buffer)) return null;
    const block = h.allocPinned('float32', buffer.length);
    block?.set(buffer);
    return block;
  },
});
const out = (buffer: Float32Array, shape: number[]): CpuOutput => ({ buffer, dtype: 'float32', shape });

// ---- convolution --------------------------------------------------------------------------

type ConvAttrs = KernelAttrMap['conv2d'];

interface WasmConv {
  /** wIn: w's kernel input (its storage and version), for a kernel that caches a form of w */
  forward(x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, p: ConvGeometry, relu: boolean, wIn: CpuInput): void;
  backwardInput(dy: Float32Array, w: Float32Array, dx: Float32Array, p: ConvGeometry): void;
  backwardWeight(dy: Float32Array, x: Float32Array, dw: Float32Array, p: ConvGeometry): void;
}

/** A cost rule per kernel of a conv variant (absent: always preferred where supported). */
type ConvPrefers = Partial<Record<keyof WasmConv, (p: ConvGeometry) => boolean>>;

/** Register the forward and both backward kernels of one WASM conv variant. */
function registerWasmConv(name: string, about: string, rank: number, supports: (p: ConvGeometry) => boolean, k: WasmConv, prefers: ConvPrefers = {}): void {
  const ok = (inputs: readonly CpuInput[], a: ConvAttrs) => allF32(inputs) && wasmAvailable() && supports(a.geom);
  const rule = (kernel: keyof WasmConv) => {
    const f = prefers[kernel];
    return f ? { prefers: (_: readonly CpuInput[], a: ConvAttrs) => f(a.geom) } : {};
  };
  registerCpuVariant('conv2d', {
    name, about, rank, supports: ok, ...rule('forward'),
    run: ([x, w, b], { geom: p, relu }) => {
      const y = newF32(p.n * p.o * p.oh * p.ow);
      k.forward(f32(x), f32(w), b ? f32(b) : null, y, p, relu === true, w);
      return [out(y, [p.n, p.o, p.oh, p.ow])];
    },
  });
  registerCpuVariant('conv2dBackwardInput', {
    name, about, rank, supports: ok, ...rule('backwardInput'),
    run: ([dy, w], { geom: p }) => {
      const dx = newF32(p.n * p.c * p.h * p.w);
      k.backwardInput(f32(dy), f32(w), dx, p);
      return [out(dx, [p.n, p.c, p.h, p.w])];
    },
  });
  registerCpuVariant('conv2dBackwardWeight', {
    name, about, rank, supports: ok, ...rule('backwardWeight'),
    run: ([dy, x], { geom: p }) => {
      const cg = p.c / p.groups;
      const dw = newF32(p.o * cg * p.kh * p.kw);
      k.backwardWeight(f32(dy), f32(x), dw, p);
      return [out(dw, [p.o, cg, p.kh, p.kw])];
    },
  });
}

/**
 * Forms of a conv's weights derived once and kept for inference: Winograd's transformed weights U
 * (2.25-4x the weights) and the im2col GEMM's packed weights (the weights again, rows in slivers).
 * Kept per weight storage, only for pinned weights (a module's parameters, nn/fuse.ts's folded
 * weights), and only from the second call with the same storage version on, so a training step
 * (which writes its weights every step) never fills one. An entry is stamped with the offset, the
 * version and the form's layout; its block is pinned, freed when the weights change (the next
 * call sees a new version) or by the garbage collector with the entry.
 */
interface DerivedWeights {
  offset: number;
  version: number;
  layout: string;
  data: Float32Array | null;
}
interface WeightFormCache {
  /** Switch and counters (tests and A/B runs). */
  readonly stats: { enabled: boolean; fills: number; hits: number };
  readonly entries: WeakMap<object, DerivedWeights>;
}
const winogradForms: WeightFormCache = { stats: { enabled: true, fills: 0, hits: 0 }, entries: new WeakMap() };
const packedForms: WeightFormCache = { stats: { enabled: true, fills: 0, hits: 0 }, entries: new WeakMap() };
/** Switch and counters of the Winograd U cache. */
export const winogradWeightCache = winogradForms.stats;
/** Switch and counters of the packed-weight cache of the im2col forward. */
export const packedWeightCache = packedForms.stats;

/** The home of w's derived form (floats, layout): filled this call (ready false) or read (ready true); undefined: derive per call. */
function cachedWeights(cache: WeightFormCache, wIn: CpuInput, floats: number, layout: string): { data: Float32Array; ready: boolean } | undefined {
  const h = wasmHeap();
  if (!cache.stats.enabled || wIn.version === undefined || h === null || !h.isPinned(wIn.buffer)) return undefined;
  const e = cache.entries.get(wIn.buffer);
  const same = e !== undefined && e.offset === wIn.offset && e.version === wIn.version && e.layout === layout;
  if (!same) {
    // first sight of this version: a form of an older one is stale, and nothing else holds it
    if (e?.data) h.free(e.data);
    cache.entries.set(wIn.buffer, { offset: wIn.offset, version: wIn.version, layout, data: null });
    return undefined;
  }
  if (e.data !== null) {
    cache.stats.hits++;
    return { data: e.data, ready: true };
  }
  const data = h.allocPinned('float32', floats) as Float32Array | null;
  if (data === null) return undefined; // the pinned budget is spent: derive per call, as before
  e.data = data;
  cache.stats.fills++;
  return { data, ready: false };
}

function cachedWinogradWeights(wIn: CpuInput, p: ConvGeometry): { data: Float32Array; ready: boolean } | undefined {
  const { floats, layout } = winogradWeightFloats(p);
  return cachedWeights(winogradForms, wIn, floats, layout);
}

/** The packed weights of a groups = 1 forward (others pack as they go). */
function cachedPackedWeights(wIn: CpuInput, p: ConvGeometry): { data: Float32Array; ready: boolean } | undefined {
  return p.groups === 1 ? cachedWeights(packedForms, wIn, packedWeightFloats(p), `packed ${p.o}x${p.c * p.kh * p.kw}`) : undefined;
}

// Each WASM conv comes twice: plain SIMD128 and the relaxed-SIMD twin whose micro-kernels use a
// fused multiply-add (f32x4.relaxed_madd). The FMA twin ranks higher and exists only where the
// engine validates relaxed SIMD; the plain one is the fallback (and both are tested).
for (const relaxed of [false, true]) {
  const tag = relaxed ? '-fma' : '';
  const only = relaxed ? wasmRelaxed : () => true;
  const o = { relaxed };
  registerWasmConv(
    `wasm-im2col${tag}`,
    `WASM SIMD im2col + packed 4x8 GEMM${relaxed ? ' (relaxed FMA)' : ''}, col2im backward, threads over pixels or channels`,
    30 + (relaxed ? 1 : 0),
    () => only(),
    {
      forward: (x, w, b, y, p, relu, wIn) => conv2dForwardWasm(x, w, b, y, p, { ...o, relu, wPacked: cachedPackedWeights(wIn, p) }),
      backwardInput: (dy, w, dx, p) => conv2dBackwardInputWasm(dy, w, dx, p, o),
      backwardWeight: (dy, x, dw, p) => conv2dBackwardWeightWasm(dy, x, dw, p, o),
    },
  );
  registerWasmConv(
    `wasm-winograd${tag}`,
    `WASM SIMD Winograd for 3x3 stride-1 convs: F(4x4,3x3) on planes from 16x16 (4x fewer multiplies), else F(2x2,3x3) (2.25x; docs/winograd.md)${relaxed ? ' (relaxed FMA)' : ''}, forward, input and weight gradients`,
    35 + (relaxed ? 1 : 0),
    (p) => only() && winogradSupports(p),
    {
      forward: (x, w, b, y, p, relu, wIn) => winogradConv2dForwardWasm(x, w, b, y, p, { ...o, relu, u: cachedWinogradWeights(wIn, p) }),
      backwardInput: (dy, w, dx, p) => winogradConv2dBackwardInputWasm(dy, w, dx, p, o),
      backwardWeight: (dy, x, dw, p) =>
        winogradTuning.weightGradient ? winogradConv2dBackwardWeightWasm(dy, x, dw, p, o) : conv2dBackwardWeightWasm(dy, x, dw, p, o),
    },
    { forward: winogradPrefers, backwardInput: winogradPrefers, backwardWeight: winogradPrefersWeightGradient },
  );
  registerWasmConv(
    `wasm-grouped${tag}`,
    `WASM SIMD direct convolution for few channels per group (depthwise, ResNeXt)${relaxed ? ' (relaxed FMA)' : ''}, threads over planes`,
    40 + (relaxed ? 1 : 0),
    (p) => only() && groupedConvSupports(p),
    {
      forward: (x, w, b, y, p, relu) => groupedConv2dForwardWasm(x, w, b, y, p, { ...o, relu }),
      backwardInput: (dy, w, dx, p) => groupedConv2dBackwardInputWasm(dy, w, dx, p, o),
      backwardWeight: (dy, x, dw, p) => groupedConv2dBackwardWeightWasm(dy, x, dw, p, o),
    },
  );

  // ---- matmul: one packed SGEMM per batch entry, A and B read through their strides
  registerCpuVariant('matmul', {
    name: `wasm-simd${tag}`,
    about: `WASM SIMD packed, cache-blocked SGEMM, 4x8 f32x4 micro-kernel${relaxed ? ' (relaxed FMA)' : ''}, float32 accumulation`,
    rank: 30 + (relaxed ? 1 : 0),
    supports: (inputs) => allF32(inputs) && wasmAvailable() && only(),
    run: ([a, b]) => batchedMatmul(a, b, (g) => sgemmWasm(g as Parameters<typeof sgemmWasm>[0], o)),
  });
}

// ---- BatchNorm (the 'batch' layout; LN, IN, GN keep the TypeScript kernels)

const bnOk = (inputs: readonly CpuInput[], a: KernelAttrMap['normForward']) => allF32(inputs) && inputs.every(dense) && wasmAvailable() && wasmNormSupports(a);
const BN_ABOUT = 'WASM SIMD BatchNorm: f32x4 sums folded into float64 per block, threads over channels';

registerCpuVariant('normForward', {
  name: 'wasm', about: BN_ABOUT, rank: 30, supports: bnOk,
  run: (inputs, a) => {
    const x = inputs[0];
    let next = 1;
    const weight = a.hasWeight ? f32(inputs[next++]) : null;
    const bias = a.hasBias ? f32(inputs[next++]) : null;
    const y = newF32(a.N * a.C * a.S);
    const mean = newF32(a.C);
    const variance = newF32(a.C);
    normForwardWasm(f32(x), a, a.eps, weight, bias, y, mean, variance, { relu: a.relu === true });
    return [out(y, [...x.shape]), out(mean, [a.C]), out(variance, [a.C])];
  },
});

registerCpuVariant('normApply', {
  name: 'wasm', about: BN_ABOUT, rank: 30, supports: bnOk,
  run: (inputs, a) => {
    const [x, mean, variance] = inputs;
    let next = 3;
    const weight = a.hasWeight ? f32(inputs[next++]) : null;
    const bias = a.hasBias ? f32(inputs[next++]) : null;
    const y = newF32(a.N * a.C * a.S);
    normApplyWasm(f32(x), a, f32(mean), f32(variance), a.eps, weight, bias, y, { relu: a.relu === true });
    return [out(y, [...x.shape])];
  },
});

registerCpuVariant('normBackward', {
  name: 'wasm', about: BN_ABOUT, rank: 30, supports: bnOk,
  run: (inputs, a) => {
    const [x, gy, mean, variance] = inputs;
    const weight = a.hasWeight ? f32(inputs[4]) : null;
    const bias = a.relu && a.hasBias ? f32(inputs[a.hasWeight ? 5 : 4]) : null;
    const gx = newF32(a.N * a.C * a.S);
    const gWeight = newF32(a.C);
    const gBias = newF32(a.C);
    normBackwardWasm(f32(x), f32(gy), a, f32(mean), f32(variance), a.eps, weight, a.batchStats, gx, gWeight, gBias, { relu: a.relu === true, bias });
    return [out(gx, [...x.shape]), out(gWeight, [a.C]), out(gBias, [a.C])];
  },
});

// ---- pooling (planes of contiguous NCHW)

const POOL_ABOUT = 'WASM SIMD pooling, threads over planes';
const poolOk = (inputs: readonly CpuInput[]) => inputs.every((t) => t.dtype !== 'float64') && allF32(inputs.slice(0, 1)) && wasmAvailable();


registerCpuVariant('maxPool2d', {
  name: 'wasm', about: POOL_ABOUT, rank: 30, supports: poolOk,
  run: ([x], { geom: p }) => {
    const y = newF32(p.planes * p.oh * p.ow);
    const idx = new Int32Array(p.planes * p.oh * p.ow);
    maxPool2dForwardWasm(f32(x), y, idx, p);
    const shape = [x.shape[0], x.shape[1], p.oh, p.ow];
    return [out(y, shape), { buffer: idx, dtype: 'int32', shape }];
  },
});

registerCpuVariant('maxPool2dBackward', {
  name: 'wasm', about: POOL_ABOUT, rank: 30, supports: poolOk,
  run: ([dy, idx], { geom: p, inputShape }) => {
    const dx = newF32(p.planes * p.h * p.w);
    maxPool2dBackwardWasm(f32(dy), i32(idx), dx, p);
    return [out(dx, [...inputShape])];
  },
});

registerCpuVariant('avgPool2d', {
  name: 'wasm', about: POOL_ABOUT, rank: 30, supports: poolOk,
  run: ([x], { geom: p, options }) => {
    const y = newF32(p.planes * p.oh * p.ow);
    avgPool2dForwardWasm(f32(x), y, p, options);
    return [out(y, [x.shape[0], x.shape[1], p.oh, p.ow])];
  },
});

registerCpuVariant('avgPool2dBackward', {
  name: 'wasm', about: POOL_ABOUT, rank: 30, supports: poolOk,
  run: ([dy], { geom: p, options, inputShape }) => {
    const dx = newF32(p.planes * p.h * p.w);
    avgPool2dBackwardWasm(f32(dy), dx, p, options);
    return [out(dx, [...inputShape])];
  },
});

registerCpuVariant('adaptiveAvgPool2d', {
  name: 'wasm', about: POOL_ABOUT, rank: 30, supports: poolOk,
  run: ([x], { oh, ow }) => {
    const [n, c, h, w] = x.shape;
    const y = newF32(n * c * oh * ow);
    adaptiveAvgPool2dForwardWasm(f32(x), y, n * c, h, w, oh, ow);
    return [out(y, [n, c, oh, ow])];
  },
});

registerCpuVariant('adaptiveAvgPool2dBackward', {
  name: 'wasm', about: POOL_ABOUT, rank: 30, supports: poolOk,
  run: ([dy], { inputShape }) => {
    const [n, c, h, w] = inputShape;
    const [, , oh, ow] = dy.shape;
    const dx = newF32(n * c * h * w);
    adaptiveAvgPool2dBackwardWasm(f32(dy), dx, n * c, h, w, oh, ow);
    return [out(dx, [n, c, h, w])];
  },
});

// ---- elementwise: the memory-bound ops of a training step (relu, its backward, the residual add,
// and the add+relu of a residual join)
// on dense float32 operands of one shape; broadcasts, strided views and other ops stay in TypeScript.

const EW_ABOUT = 'WASM SIMD elementwise on dense float32, threads over chunks';
const WASM_BINARY = { add: addWasm, addRelu: addReluWasm, reluBackward: reluBackwardWasm } as const;

registerCpuVariant('unary', {
  name: 'wasm', about: EW_ABOUT, rank: 30,
  supports: ([x], a) => a.op === 'relu' && x.dtype === 'float32' && dense(x) && wasmAvailable(),
  run: ([x]) => {
    const y = newF32(f32(x).length);
    reluWasm(f32(x), y);
    return [out(y, [...x.shape])];
  },
});

registerCpuVariant('binary', {
  name: 'wasm', about: EW_ABOUT, rank: 30,
  supports: (inputs, a) => a.op in WASM_BINARY && a.dtype === 'float32' && allF32(inputs) && inputs.every(dense) && wasmAvailable(),
  run: ([x, y], a) => {
    const z = newF32(f32(x).length);
    WASM_BINARY[a.op as keyof typeof WASM_BINARY](f32(x), f32(y), z);
    return [out(z, [...x.shape])];
  },
});

// ---- strided views: a view copied out, a view's adjoint, cat (the glue of slicing and padding,
// e.g. the option-A shortcut of the CIFAR ResNets); dense copies keep the typed-array set()

const STRIDED_ABOUT = 'WASM strided copy of float32 views (up to four dims once merged), f32x4 on unit-stride runs';
const fitsFour = (shape: readonly number[], a: readonly number[], b: readonly number[]): boolean =>
  a.every((v) => v >= 0) && b.every((v) => v >= 0) && stridedDims(shape, a, b) !== null;

registerCpuVariant('copy', {
  name: 'wasm', about: STRIDED_ABOUT, rank: 30,
  supports: ([x], a) =>
    x.dtype === 'float32' && (a.dtype ?? 'float32') === 'float32' && runStep(x) !== 1 && fitsFour(x.shape, x.strides, contiguousStrides(x.shape)) && wasmAvailable(),
  run: ([x]) => {
    const y = newF32(numel(x.shape));
    stridedCopyWasm(x.buffer as Float32Array, x.offset, x.strides, y, 0, contiguousStrides(x.shape), x.shape, false);
    return [out(y, [...x.shape])];
  },
});

// out = zeros(attrs.shape); out[view] += g, in g's row-major order on one thread (as the TS kernel)
registerCpuVariant('scatterView', {
  name: 'wasm', about: STRIDED_ABOUT, rank: 30,
  supports: ([g], a) => g.dtype === 'float32' && fitsFour(g.shape, g.strides, a.strides) && wasmAvailable(),
  run: ([g], a) => {
    const o = allocOutput('float32', numel(a.shape)) as Float32Array;
    stridedCopyWasm(g.buffer as Float32Array, g.offset, g.strides, o, a.offset, a.strides, g.shape, true);
    return [out(o, [...a.shape])];
  },
});

registerCpuVariant('cat', {
  name: 'wasm', about: STRIDED_ABOUT, rank: 30,
  supports: (xs, a) => {
    if (!xs.every((x) => x.dtype === 'float32') || !wasmAvailable()) return false;
    const os = contiguousStrides(catShape(xs, a.dim));
    return xs.every((x) => fitsFour(x.shape, x.strides, os));
  },
  run: (xs, a) => {
    const shape = catShape(xs, a.dim);
    const os = contiguousStrides(shape);
    const y = newF32(numel(shape));
    let start = 0;
    for (const x of xs) {
      stridedCopyWasm(x.buffer as Float32Array, x.offset, x.strides, y, start * (os[a.dim] as number), os, x.shape, false);
      start += x.shape[a.dim] as number;
    }
    return [out(y, shape)];
  },
});

// ---- optimizer steps: one fused pass per parameter, in place ----------------------------------

/** t's elements when it is a dense float32 cpu tensor covering its whole storage; else null. */
function wholeF32(t: Tensor | null): Float32Array | null {
  if (t === null || t.device !== 'cpu' || t.dtype !== 'float32' || !t.isContiguous() || t.offset !== 0 || t.storage.size !== t.numel()) return null;
  return t.storage.buffer as Float32Array;
}

/** How many parameter updates took the fused path (for tests that must prove they did). */
export const fusedSteps = { sgd: 0, adam: 0 };

/**
 * One torch SGD step on p (and its momentum buffer) by the fused WASM kernel, when p and its grad
 * are dense float32 cpu tensors; false (nothing done) otherwise. `buffer()` is asked for the
 * momentum buffer (null without momentum) only once p qualifies, so a parameter that takes the
 * op-by-op path never has one made for nothing.
 */
export function fusedSgdStep(p: Tensor, buffer: () => Tensor | null, firstStep: boolean, o: SgdStepOptions): boolean {
  const param = wholeF32(p);
  const grad = wholeF32(p.grad);
  if (!wasmAvailable() || param === null || grad === null) return false;
  const buf = buffer();
  const mom = wholeF32(buf);
  if (buf !== null && mom === null) return false;
  sgdStepWasm(param, grad, mom, firstStep, o);
  fusedSteps.sgd++;
  p.storage.version++;
  if (buf) buf.storage.version++;
  return true;
}

/** One Adam/AdamW step by the fused WASM kernel (as fusedSgdStep); `step` counts from 1. */
export function fusedAdamStep(p: Tensor, expAvg: Tensor, expAvgSq: Tensor, maxExpAvgSq: Tensor | null, step: number, o: AdamStepOptions): boolean {
  const arrays = [wholeF32(p), wholeF32(p.grad), wholeF32(expAvg), wholeF32(expAvgSq)];
  const maxSq = wholeF32(maxExpAvgSq);
  if (!wasmAvailable() || arrays.some((a) => a === null) || (maxExpAvgSq !== null && maxSq === null)) return false;
  const [param, grad, m, v] = arrays as Float32Array[];
  adamStepWasm(param, grad, m, v, maxSq, step, o);
  fusedSteps.adam++;
  for (const t of [p, expAvg, expAvgSq, maxExpAvgSq]) if (t) t.storage.version++;
  return true;
}
