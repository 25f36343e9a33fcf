// BatchNorm on the WASM SIMD runtime (source kernels/wasm/src/bn.wat): normForward, normApply and
// normBackward of kernels/cpu/norm.ts for the 'batch' layout (x[N, C, S], one set per channel),
// on Float32Arrays, split over channels across the pool. Arrays that already live in the wasm
// memory are used in place, others are staged through the arena (stage() in elementwise.ts).
//
// The statistics are accumulated in f32x4 lanes over blocks of at most 1024 elements, each block
// folded into f64 (the variance block by block as Σ (x − block mean)², merged with Chan's rule):
// accurate in float32 for sets of millions of elements, with one trip through memory. bn.wat's
// header has the details. y is computed as (x − μ)·a + β with a = γ/√(σ² + ε) in float32.
//
// Fused ReLU ({ relu: true }): the forward returns relu(bn(x)) in the same pass, and the backward
// takes the gradient of that output, masks it by bn(x) > 0 (recomputed from x exactly as the forward
// computed it; β is needed for that) and goes on as the plain backward. relu(NaN) = NaN, and a NaN
// output passes its gradient (the mask is not bn(x) <= 0), as torch's threshold_backward.

import type { NormLayout } from '../geometry.js';
import { checkFloat32, checkNoPartialOverlap, checkSize, finishOutput, outputAt, runBySize, scratchOf, stage, wasmRuntimeFor } from './elementwise.js';
import type { WasmRuntime } from './runtime.js';

/** The layouts these kernels handle: BatchNorm's ('batch'). */
export function wasmNormSupports(l: NormLayout): boolean {
  return l.axes === 'batch';
}

function checkLayout(caller: string, l: NormLayout): void {
  if (l === null || typeof l !== 'object') throw new TypeError(`${caller}: l must be a NormLayout, got ${String(l)}`);
  if (l.axes !== 'batch') throw new RangeError(`${caller}: l.axes must be 'batch' (see wasmNormSupports), got '${String(l.axes)}'`);
  checkSize(caller, 'l.N', l.N);
  checkSize(caller, 'l.C', l.C);
  checkSize(caller, 'l.S', l.S);
  if (l.N * l.C * l.S > 0x1fffffff) throw new RangeError(`${caller}: N·C·S must be below 2^29 (wasm memory), got ${l.N * l.C * l.S}`);
}

function checkEps(caller: string, eps: number): void {
  if (typeof eps !== 'number' || !(eps >= 0)) throw new RangeError(`${caller}: eps must be a number >= 0, got ${String(eps)}`);
}

export interface NormWasmOptions {
  /** The forward is followed by a ReLU: y = max(γ x̂ + β, 0) (and the backward takes its gradient). */
  relu?: boolean;
}

export interface NormBackwardWasmOptions extends NormWasmOptions {
  /** β of the forward (null or undefined: 0); read only with relu, to recompute the ReLU's mask. */
  bias?: Float32Array | null;
}

function checkOptions(caller: string, opts: NormBackwardWasmOptions | undefined, C: number): void {
  if (opts === undefined) return;
  if (opts === null || typeof opts !== 'object') throw new TypeError(`${caller}: opts must be an object, got ${String(opts)}`);
  if (opts.relu !== undefined && typeof opts.relu !== 'boolean') throw new TypeError(`${caller}: opts.relu must be a boolean, got ${typeof opts.relu}`);
  if (opts.bias != null) checkFloat32(caller, 'opts.bias', opts.bias, C, 'C');
}

/** C floats: v (staged), or `fill` everywhere when v is null (γ = 1, β = 0). */
function putChannels(rt: WasmRuntime, home: ArrayBufferLike, v: Float32Array | null, C: number, fill: number): number {
  if (v !== null) return stage(rt, home, v);
  const at = rt.alloc(C * 4);
  rt.f32().fill(fill, at / 4, at / 4 + C);
  return at;
}

/** The checks normForwardWasm and normApplyWasm share (the statistics are outputs of one, inputs of the other); returns N·C·S. */
function checkForwardArgs(
  caller: string,
  x: Float32Array,
  l: NormLayout,
  eps: number,
  weight: Float32Array | null,
  bias: Float32Array | null,
  y: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  opts: NormWasmOptions | undefined,
): number {
  checkLayout(caller, l);
  checkOptions(caller, opts, l.C);
  checkEps(caller, eps);
  const n = l.N * l.C * l.S;
  checkFloat32(caller, 'x', x, n, 'N·C·S');
  checkFloat32(caller, 'y', y, n, 'N·C·S');
  checkFloat32(caller, 'mean', mean, l.C, 'C');
  checkFloat32(caller, 'variance', variance, l.C, 'C');
  if (weight !== null) checkFloat32(caller, 'weight', weight, l.C, 'C');
  if (bias !== null) checkFloat32(caller, 'bias', bias, l.C, 'C');
  return n;
}

/**
 * The fused forward with batch statistics, as normForward: mean and (biased) variance per channel,
 * then y = γ x̂ + β (and max(y, 0) with opts.relu). Null weight means γ = 1, null bias β = 0.
 * y may be x.
 */
export function normForwardWasm(
  x: Float32Array,
  l: NormLayout,
  eps: number,
  weight: Float32Array | null,
  bias: Float32Array | null,
  y: Float32Array,
  mean: Float32Array,
  variance: Float32Array,
  opts?: NormWasmOptions,
): void {
  const caller = 'normForwardWasm';
  const n = checkForwardArgs(caller, x, l, eps, weight, bias, y, mean, variance, opts);
  const rt = wasmRuntimeFor(caller);
  const home = rt.memory.buffer; // the memory as this call found it (see stage())
  if (l.C === 0) return;
  checkNoPartialOverlap(caller, home, 'y', y, 'x', x);
  const mark = rt.mark();
  try {
    const xs = stage(rt, home, x);
    // y may be written over x (its arena copy, or x itself): a channel is read in full before its y
    const ys = outputAt(rt, home, y, scratchOf(home, x, xs));
    const ms = outputAt(rt, home, mean);
    const vs = outputAt(rt, home, variance);
    const gs = putChannels(rt, home, weight, l.C, 1);
    const bs = putChannels(rt, home, bias, l.C, 0);
    runBySize(rt, 'bn_forward_train', [xs, ys, ms, vs, gs, bs, l.N, l.C, l.S, eps, opts?.relu ? 1 : 0], n);
    finishOutput(rt, home, y, ys);
    finishOutput(rt, home, mean, ms);
    finishOutput(rt, home, variance, vs);
  } finally {
    rt.release(mark);
  }
}

/** y = (x − μ_c)/√(σ²_c + ε)·γ_c + β_c with given per-channel statistics, as normApply (then max(y, 0) with opts.relu). y may be x. */
export function normApplyWasm(
  x: Float32Array,
  l: NormLayout,
  mean: Float32Array,
  variance: Float32Array,
  eps: number,
  weight: Float32Array | null,
  bias: Float32Array | null,
  y: Float32Array,
  opts?: NormWasmOptions,
): void {
  const caller = 'normApplyWasm';
  const n = checkForwardArgs(caller, x, l, eps, weight, bias, y, mean, variance, opts);
  const rt = wasmRuntimeFor(caller);
  const home = rt.memory.buffer; // the memory as this call found it (see stage())
  if (n === 0) return;
  checkNoPartialOverlap(caller, home, 'y', y, 'x', x);
  const mark = rt.mark();
  try {
    const xs = stage(rt, home, x);
    const ys = outputAt(rt, home, y, scratchOf(home, x, xs));
    const ms = stage(rt, home, mean);
    const vs = stage(rt, home, variance);
    const gs = putChannels(rt, home, weight, l.C, 1);
    const bs = putChannels(rt, home, bias, l.C, 0);
    runBySize(rt, 'bn_apply', [xs, ys, ms, vs, gs, bs, l.N, l.C, l.S, eps, opts?.relu ? 1 : 0], n);
    finishOutput(rt, home, y, ys);
  } finally {
    rt.release(mark);
  }
}

/**
 * The fused backward, as normBackward: gWeight = Σ gy·x̂ and gBias = Σ gy per channel (always
 * filled), and gx = r(γ gy − A/m − x̂ B/m) with batch statistics (batchStats) or r γ gy with fixed
 * ones. gx may be gy. With opts.relu, gy is the gradient of relu(bn(x)) (opts.bias is the forward's
 * β) and everything is the gradient of that composite.
 */
export function normBackwardWasm(
  x: Float32Array,
  gy: Float32Array,
  l: NormLayout,
  mean: Float32Array,
  variance: Float32Array,
  eps: number,
  weight: Float32Array | null,
  batchStats: boolean,
  gx: Float32Array,
  gWeight: Float32Array,
  gBias: Float32Array,
  opts?: NormBackwardWasmOptions,
): void {
  const caller = 'normBackwardWasm';
  checkLayout(caller, l);
  checkOptions(caller, opts, l.C);
  checkEps(caller, eps);
  const n = l.N * l.C * l.S;
  checkFloat32(caller, 'x', x, n, 'N·C·S');
  checkFloat32(caller, 'gy', gy, n, 'N·C·S');
  checkFloat32(caller, 'gx', gx, n, 'N·C·S');
  checkFloat32(caller, 'mean', mean, l.C, 'C');
  checkFloat32(caller, 'variance', variance, l.C, 'C');
  checkFloat32(caller, 'gWeight', gWeight, l.C, 'C');
  checkFloat32(caller, 'gBias', gBias, l.C, 'C');
  if (weight !== null) checkFloat32(caller, 'weight', weight, l.C, 'C');
  if (typeof batchStats !== 'boolean') throw new TypeError(`${caller}: batchStats must be a boolean, got ${typeof batchStats}`);
  const rt = wasmRuntimeFor(caller);
  const home = rt.memory.buffer; // the memory as this call found it (see stage())
  if (l.C === 0) return;
  checkNoPartialOverlap(caller, home, 'gx', gx, 'gy', gy);
  checkNoPartialOverlap(caller, home, 'gx', gx, 'x', x);
  const mark = rt.mark();
  try {
    const gs = stage(rt, home, gy);
    // gx may be written over gy: each element reads its own gy (and x) before its store
    const gxs = outputAt(rt, home, gx, scratchOf(home, gy, gs));
    const xs = stage(rt, home, x);
    const ms = stage(rt, home, mean);
    const vs = stage(rt, home, variance);
    const ws = putChannels(rt, home, weight, l.C, 1);
    const relu = opts?.relu === true;
    const bs = relu ? putChannels(rt, home, opts?.bias ?? null, l.C, 0) : ws; // β is read only with relu
    const gw = outputAt(rt, home, gWeight);
    const gb = outputAt(rt, home, gBias);
    runBySize(rt, 'bn_backward', [xs, gs, ms, vs, ws, l.N, l.C, l.S, eps, batchStats ? 1 : 0, gxs, gw, gb, bs, relu ? 1 : 0], n);
    finishOutput(rt, home, gx, gxs);
    finishOutput(rt, home, gWeight, gw);
    finishOutput(rt, home, gBias, gb);
  } finally {
    rt.release(mark);
  }
}
