// 2-D pooling on the WASM SIMD runtime (source kernels/wasm/src/pool.wat): the kernels of
// kernels/cpu/pool2d.ts on contiguous NCHW Float32Arrays (planes = N·C), split over planes across
// the pool, with the same arguments and results (arrays that already live in the wasm memory are
// used in place, others are staged through the arena: stage() in elementwise.ts):
//   maxPool2dForwardWasm / maxPool2dBackwardWasm        (PyTorch's tie and NaN rules, int32 indices)
//   avgPool2dForwardWasm / avgPool2dBackwardWasm        (countIncludePad, divisorOverride)
//   adaptiveAvgPool2dForwardWasm / ...BackwardWasm      (SIMD for the global 1 x 1 case)
// The backward functions overwrite dx; the TS kernels add into a dx the caller zero-filled, which
// gives the same values. One deliberate difference: an empty max window (possible only with
// dilation) reports an index past its plane, and its gradient goes nowhere here, where
// maxPool2dBackward adds it into the next plane.

import type { AvgPoolOptions, PoolGeometry } from '../geometry.js';
import { checkFloat32, checkNoPartialOverlap, checkSize, finishOutput, outputAt, runBySize, type Staged, stage, wasmRuntimeFor } from './elementwise.js';

function checkGeometry(caller: string, p: PoolGeometry): void {
  if (p === null || typeof p !== 'object') throw new TypeError(`${caller}: p must be a PoolGeometry, got ${String(p)}`);
  for (const k of ['planes', 'h', 'w', 'oh', 'ow', 'ph', 'pw'] as const) checkSize(caller, `p.${k}`, p[k]);
  for (const k of ['kh', 'kw', 'sh', 'sw', 'dh', 'dw'] as const) checkSize(caller, `p.${k}`, p[k], 1);
  checkExtent(caller, p.planes, p.h, p.w, p.oh, p.ow);
}

/** Sizes whose byte counts and flat indices stay inside wasm's 32-bit arithmetic. */
function checkExtent(caller: string, planes: number, h: number, w: number, oh: number, ow: number): void {
  const limit = 0x1fffffff;
  if (planes * h * w > limit || planes * oh * ow > limit) {
    throw new RangeError(`${caller}: planes·h·w and planes·oh·ow must be below 2^29, got ${planes * h * w} and ${planes * oh * ow}`);
  }
}

function checkAvgOptions(caller: string, o: AvgPoolOptions): void {
  if (o === null || typeof o !== 'object') throw new TypeError(`${caller}: o must be AvgPoolOptions, got ${String(o)}`);
  if (typeof o.countIncludePad !== 'boolean') throw new TypeError(`${caller}: o.countIncludePad must be a boolean, got ${typeof o.countIncludePad}`);
  checkSize(caller, 'o.divisorOverride', o.divisorOverride);
}

/**
 * One pooling call: stage `inputs` (read in place when they live in the wasm memory), place
 * `outputs`, run fn(...input offsets, ...output offsets, ...sizes) split by `work`, and deliver the
 * outputs. Nothing runs when the first output is empty; an output overlapping an input in the
 * wasm memory (other than exactly) is an error.
 */
function runPool(caller: string, fn: string, inputs: [string, Staged][], outputs: [string, Staged][], sizes: number[], work: number): void {
  const rt = wasmRuntimeFor(caller);
  const home = rt.memory.buffer; // the memory as this call found it (see stage())
  if ((outputs[0] as [string, Staged])[1].length === 0) return;
  for (const [on, o] of outputs) for (const [inName, i] of inputs) checkNoPartialOverlap(caller, home, on, o, inName, i);
  const mark = rt.mark();
  try {
    const ins = inputs.map(([, a]) => stage(rt, home, a));
    const outs = outputs.map(([, a]) => outputAt(rt, home, a));
    runBySize(rt, fn, [...ins, ...outs, ...sizes], work);
    for (const [k, [, a]] of outputs.entries()) finishOutput(rt, home, a, outs[k] as number);
  } finally {
    rt.release(mark);
  }
}

/** Max pooling as maxPool2dForward: y = the window's max, idx = its flat h·w position in the plane. */
export function maxPool2dForwardWasm(x: Float32Array, y: Float32Array, idx: Int32Array, p: PoolGeometry): void {
  const caller = 'maxPool2dForwardWasm';
  checkGeometry(caller, p);
  checkFloat32(caller, 'x', x, p.planes * p.h * p.w, 'planes·h·w');
  checkFloat32(caller, 'y', y, p.planes * p.oh * p.ow, 'planes·oh·ow');
  if (!(idx instanceof Int32Array)) throw new TypeError(`${caller}: idx must be an Int32Array, got ${String(idx)}`);
  if (idx.length !== y.length) throw new RangeError(`${caller}: idx must have ${y.length} elements (planes·oh·ow), got ${idx.length}`);
  const sizes = [p.planes, p.h, p.w, p.oh, p.ow, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.dh, p.dw];
  runPool(caller, 'pool_max_forward', [['x', x]], [['y', y], ['idx', idx]], sizes, x.length + y.length);
}

/** dx = 0, then dx[plane, idx] += dy: the gradient goes to the position that won. */
export function maxPool2dBackwardWasm(dy: Float32Array, idx: Int32Array, dx: Float32Array, p: PoolGeometry): void {
  const caller = 'maxPool2dBackwardWasm';
  checkGeometry(caller, p);
  checkFloat32(caller, 'dy', dy, p.planes * p.oh * p.ow, 'planes·oh·ow');
  checkFloat32(caller, 'dx', dx, p.planes * p.h * p.w, 'planes·h·w');
  if (!(idx instanceof Int32Array)) throw new TypeError(`${caller}: idx must be an Int32Array, got ${String(idx)}`);
  if (idx.length !== dy.length) throw new RangeError(`${caller}: idx must have ${dy.length} elements (planes·oh·ow), got ${idx.length}`);
  runPool(caller, 'pool_max_backward', [['dy', dy], ['idx', idx]], [['dx', dx]], [p.planes, p.h * p.w, p.oh * p.ow], dx.length + dy.length);
}

/** The sizes pool_avg_forward and pool_avg_backward take after their two arrays. */
function avgSizes(p: PoolGeometry, o: AvgPoolOptions): number[] {
  return [p.planes, p.h, p.w, p.oh, p.ow, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, o.countIncludePad ? 1 : 0, o.divisorOverride];
}

/** Average pooling as avgPool2dForward (dilation is not part of average pooling: p.dh, p.dw are ignored). */
export function avgPool2dForwardWasm(x: Float32Array, y: Float32Array, p: PoolGeometry, o: AvgPoolOptions): void {
  const caller = 'avgPool2dForwardWasm';
  checkGeometry(caller, p);
  checkAvgOptions(caller, o);
  checkFloat32(caller, 'x', x, p.planes * p.h * p.w, 'planes·h·w');
  checkFloat32(caller, 'y', y, p.planes * p.oh * p.ow, 'planes·oh·ow');
  runPool(caller, 'pool_avg_forward', [['x', x]], [['y', y]], avgSizes(p, o), x.length + y.length);
}

/** dx = 0, then dx[window] += dy / divisor, with the windows and divisors of the forward. */
export function avgPool2dBackwardWasm(dy: Float32Array, dx: Float32Array, p: PoolGeometry, o: AvgPoolOptions): void {
  const caller = 'avgPool2dBackwardWasm';
  checkGeometry(caller, p);
  checkAvgOptions(caller, o);
  checkFloat32(caller, 'dy', dy, p.planes * p.oh * p.ow, 'planes·oh·ow');
  checkFloat32(caller, 'dx', dx, p.planes * p.h * p.w, 'planes·h·w');
  runPool(caller, 'pool_avg_backward', [['dy', dy]], [['dx', dx]], avgSizes(p, o), dx.length + dy.length);
}

function checkAdaptive(caller: string, planes: number, h: number, w: number, oh: number, ow: number): void {
  checkSize(caller, 'planes', planes);
  checkSize(caller, 'h', h);
  checkSize(caller, 'w', w);
  checkSize(caller, 'oh', oh, 1);
  checkSize(caller, 'ow', ow, 1);
  checkExtent(caller, planes, h, w, oh, ow);
}

/** Adaptive average pooling as adaptiveAvgPool2dForward; oh = ow = 1 is the global average. */
export function adaptiveAvgPool2dForwardWasm(x: Float32Array, y: Float32Array, planes: number, h: number, w: number, oh: number, ow: number): void {
  const caller = 'adaptiveAvgPool2dForwardWasm';
  checkAdaptive(caller, planes, h, w, oh, ow);
  checkFloat32(caller, 'x', x, planes * h * w, 'planes·h·w');
  checkFloat32(caller, 'y', y, planes * oh * ow, 'planes·oh·ow');
  runPool(caller, 'pool_adaptive_forward', [['x', x]], [['y', y]], [planes, h, w, oh, ow], x.length + y.length);
}

/** dx = 0, then dx[window] += dy / |window|; oh = ow = 1 fills each plane with dy / (h·w). */
export function adaptiveAvgPool2dBackwardWasm(dy: Float32Array, dx: Float32Array, planes: number, h: number, w: number, oh: number, ow: number): void {
  const caller = 'adaptiveAvgPool2dBackwardWasm';
  checkAdaptive(caller, planes, h, w, oh, ow);
  checkFloat32(caller, 'dy', dy, planes * oh * ow, 'planes·oh·ow');
  checkFloat32(caller, 'dx', dx, planes * h * w, 'planes·h·w');
  runPool(caller, 'pool_adaptive_backward', [['dy', dy]], [['dx', dx]], [planes, h, w, oh, ow], dx.length + dy.length);
}
