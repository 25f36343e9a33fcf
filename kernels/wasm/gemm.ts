// SGEMM on the WASM SIMD kernels (kernels/wasm/src/gemm.gen.ts):
//   C[i, j] = (accumulate ? C[i, j] : 0) + Σ_k A[i, k] · B[k, j]  (+ rowBias[i]) (+ colBias[j]), then ReLU if asked
// with A and B read through strides (transposes are free) and C row-major with leading dimension
// ldc, as kernels/cpu/gemm.ts's GemmArgs, in float32 throughout (float32 accumulation, as every
// peer does). The bias and ReLU are applied once, after the full sum.
//
// Two levels: sgemmWasm stages Float32Arrays through the arena and copies C back; gemmPtr runs on
// data already in wasm memory (byte offsets), which is what other wasm kernels build on.

import {
  GEMM_ACCUMULATE,
  GEMM_BIAS_COL,
  GEMM_BIAS_ROW,
  GEMM_PAR_ZERO_BYTES,
  GEMM_RELU,
  GEMM_STATIC,
  gemmScratchBytes,
} from './src/gemm.gen.js';
import { describeWasm, getNumThreads, getWasm, type WasmRuntime } from './runtime.js';

export interface WasmKernelOptions {
  /** Use the relaxed-SIMD twin (fused multiply-add); an error where it is unavailable (rt.relaxed false). */
  relaxed?: boolean;
}

/**
 * Tuning shared by the wasm GEMM and conv wrappers. minParallelMacs: problems with fewer
 * multiply-adds run on the calling thread, since a round trip through the pool (~5-9 µs here)
 * costs more (tests set it to 0 to run even tiny shapes on every thread). Measured on this 2-core
 * VM (load ~1), SGEMM n³ on 1 vs 2 threads: 32³ 2.6 vs 6.0 µs, 48³ 8.0 vs 12.9 µs, 64³ 16-17 vs
 * 18-20 µs, 96³ 56-77 vs 39-53 µs; the cut-off sits below the GEMM's break-even since the conv
 * kernels do more work per multiply-add (im2col).
 *
 * gemmStaticMaxMacs: a threaded GEMM of at most this many multiply-adds splits C statically, each
 * thread packing its own panels; a larger one shares each packed panel of B between the threads and
 * hands out tiles dynamically, with a barrier per panel. GFLOP/s static vs shared, plain / FMA, on
 * 2 threads here: 64³ and 96³ a tie, 128³ 48.7 / 65.2 vs 42.7 / 51.6, 192³ 43.2 / 67.4 vs
 * 51.4 / 67.9, 256³ 37.3 / 47.6 vs 47.3 / 62.8, 1024³ a tie when the machine is quiet. On an idle
 * 16-core Xeon: 64³ on 4 threads 42.0 / 50.4 vs 33.9 / 37.7, 160³ and 256³ on 4 threads the shared
 * panel wins (66.3 vs 62.1 and 58.1 vs 53.7 plain), 1024³ 40.7 / 45.9 vs 48.9 / 59.4 on 2 threads
 * and 66.2 / 89.3 vs 87.0 / 102.4 on 4.
 */
export const wasmTuning = { minParallelMacs: 1 << 17, gemmStaticMaxMacs: 1 << 21 };

/** The runtime, or an error naming the caller and why WebAssembly SIMD is unavailable. */
export function requireWasm(caller: string): WasmRuntime {
  const rt = getWasm();
  if (rt === null) throw new Error(`${caller}: the WebAssembly SIMD runtime is unavailable here (${describeWasm()})`);
  return rt;
}

/** The export to call: `base`, or `base_relaxed` when opts.relaxed (which must then be available). */
export function kernelName(rt: WasmRuntime, caller: string, base: string, opts: WasmKernelOptions | undefined): string {
  if (opts?.relaxed !== true) return base;
  if (!rt.relaxed) throw new Error(`${caller}: opts.relaxed is true but relaxed SIMD is not available here (${describeWasm()})`);
  return `${base}_relaxed`;
}

/** run() on the pool, or runSingle() when the work is too small to share (macs multiply-adds). */
export function runSized(rt: WasmRuntime, fn: string, args: readonly number[], macs: number): void {
  if (macs < wasmTuning.minParallelMacs) rt.runSingle(fn, args);
  else rt.run(fn, args);
}

/** Threads the next runSized() call uses, as far as it is known now (for choosing a work split). */
export function threadsFor(rt: WasmRuntime, macs: number): number {
  return macs < wasmTuning.minParallelMacs ? 1 : rt.threads;
}

/**
 * Threads to size per-thread scratch for: at least as many as the next runSized() call can use.
 * In a page, workers that become ready between rt.threads and run() join that run, so scratch is
 * sized for every thread asked for (getNumThreads() bounds what run() uses), never fewer.
 */
export function scratchThreads(macs: number): number {
  return macs < wasmTuning.minParallelMacs ? 1 : getNumThreads();
}

export function checkCount(caller: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`${caller}: ${name} must be a non-negative integer, got ${v}`);
}

// ---- pointer level -------------------------------------------------------------------------

/** A GEMM on wasm memory: a, b, c, rowBias, colBias are byte offsets; strides and ldc are in elements. */
export interface GemmPtrArgs {
  M: number;
  N: number;
  K: number;
  a: number;
  aRowStride: number;
  aColStride: number;
  b: number;
  bRowStride: number;
  bColStride: number;
  c: number;
  ldc: number;
  accumulate?: boolean;
  /** Byte offset of M floats added to the rows of C, or undefined. */
  rowBias?: number;
  /** Byte offset of N floats added to the columns of C, or undefined. */
  colBias?: number;
  relu?: boolean;
}

/** Runs the GEMM on data already in rt's memory (scratch comes from the arena and is released). */
export function gemmPtr(rt: WasmRuntime, g: GemmPtrArgs, opts?: WasmKernelOptions): void {
  const caller = 'gemmPtr';
  for (const k of ['M', 'N', 'K', 'a', 'aRowStride', 'aColStride', 'b', 'bRowStride', 'bColStride', 'c', 'ldc'] as const) {
    checkCount(caller, k, g[k]);
  }
  if (g.rowBias !== undefined) checkCount(caller, 'rowBias', g.rowBias);
  if (g.colBias !== undefined) checkCount(caller, 'colBias', g.colBias);
  const fn = kernelName(rt, caller, 'gemm_f32', opts);
  if (g.M === 0 || g.N === 0) return;
  let flags =
    (g.accumulate ? GEMM_ACCUMULATE : 0) |
    (g.rowBias !== undefined ? GEMM_BIAS_ROW : 0) |
    (g.colBias !== undefined ? GEMM_BIAS_COL : 0) |
    (g.relu ? GEMM_RELU : 0);
  const macs = g.M * g.N * g.K;
  if (macs <= wasmTuning.gemmStaticMaxMacs) flags |= GEMM_STATIC;
  const mark = rt.mark();
  try {
    // the work counters (zeroed) first, then the packed panels (shared or per thread)
    const scratch = rt.alloc(gemmScratchBytes(scratchThreads(macs)));
    rt.i32().fill(0, scratch / 4, (scratch + GEMM_PAR_ZERO_BYTES) / 4);
    runSized(
      rt,
      fn,
      [g.M, g.N, g.K, g.a, g.aRowStride, g.aColStride, g.b, g.bRowStride, g.bColStride, g.c, g.ldc, flags, g.rowBias ?? 0, g.colBias ?? 0, scratch],
      macs,
    );
  } finally {
    rt.release(mark);
  }
}

// ---- typed arrays --------------------------------------------------------------------------
// A Float32Array that already lives in the runtime's (shared) memory, such as a tensor of the
// CPU backend's WASM heap, is used where it is: its byte offset goes to the kernel, and an output
// there is written in place. Anything else is copied into the arena and the output copied back.
// An in-place output that overlaps an in-place input is staged instead (the kernels do not work
// in place). With an unshared memory growth detaches views, so everything is staged there.

/**
 * Byte offset of arr when it is a view on rt's shared memory below the arena's top (memory that
 * someone holds: reserved, or allocated under an open mark), else undefined. A view on free arena
 * space is not used in place: the kernel's own scratch could land on it.
 */
export function inWasmMemory(rt: WasmRuntime, arr: Float32Array): number | undefined {
  return rt.shared && rt.owns(arr.buffer) && arr.byteOffset + arr.byteLength <= rt.mark() ? arr.byteOffset : undefined;
}

/**
 * The byte offsets of arrays in rt's memory: each where it is, or a copy in the arena (release with
 * the caller's mark). All are located before anything is copied, so that a copy cannot land on an
 * array that was still to be located.
 */
export function stageIn(rt: WasmRuntime, arrays: readonly Float32Array[]): number[] {
  const where = arrays.map((a) => inWasmMemory(rt, a));
  return arrays.map((a, i) => where[i] ?? rt.put(a));
}

/** Whether out (in place in wasm memory) shares bytes with any of the inputs that are in place there too. */
export function overlapsInPlace(rt: WasmRuntime, out: Float32Array, inputs: readonly (Float32Array | null | undefined)[]): boolean {
  const o = inWasmMemory(rt, out);
  if (o === undefined) return false;
  return inputs.some((a) => {
    const p = a == null ? undefined : inWasmMemory(rt, a);
    return p !== undefined && p < o + out.byteLength && o < p + a!.byteLength;
  });
}

/** kernels/cpu/gemm.ts's GemmArgs on Float32Arrays, plus the fused epilogue. */
export interface SgemmWasmArgs {
  M: number;
  N: number;
  K: number;
  a: Float32Array;
  aOffset: number;
  aRowStride: number;
  aColStride: number;
  b: Float32Array;
  bOffset: number;
  bRowStride: number;
  bColStride: number;
  c: Float32Array;
  cOffset: number;
  ldc: number;
  /** Add into C instead of overwriting it. */
  accumulate?: boolean;
  /** rowBias[i] is added to row i of C (length >= M). */
  rowBias?: Float32Array | null;
  /** colBias[j] is added to column j of C (length >= N). */
  colBias?: Float32Array | null;
  /** max(·, 0) after the bias. */
  relu?: boolean;
}

/** One past the last element index a strided rows×cols operand touches (offset when it is empty). */
function spanEnd(offset: number, rows: number, cols: number, rowStride: number, colStride: number): number {
  return rows === 0 || cols === 0 ? offset : offset + (rows - 1) * rowStride + (cols - 1) * colStride + 1;
}

function checkFloat32(caller: string, name: string, v: unknown): void {
  if (!(v instanceof Float32Array)) {
    throw new TypeError(`${caller}: ${name} must be a Float32Array, got ${v === null ? 'null' : typeof v === 'object' ? v.constructor.name : typeof v}`);
  }
}

function checkLength(caller: string, name: string, arr: Float32Array, needed: number, why: string): void {
  if (arr.length < needed) throw new RangeError(`${caller}: ${name} is too short: needs ${needed} elements (${why}), got ${arr.length}`);
}

/** C (+)= A·B (+ bias) (ReLU) on Float32Arrays; same meaning as gemmReference plus the epilogue. */
export function sgemmWasm(g: SgemmWasmArgs, opts?: WasmKernelOptions): void {
  const caller = 'sgemmWasm';
  const { M, N, K } = g;
  for (const k of ['M', 'N', 'K', 'aOffset', 'aRowStride', 'aColStride', 'bOffset', 'bRowStride', 'bColStride', 'cOffset', 'ldc'] as const) {
    checkCount(caller, k, g[k]);
  }
  checkFloat32(caller, 'a', g.a);
  checkFloat32(caller, 'b', g.b);
  checkFloat32(caller, 'c', g.c);
  if (g.rowBias != null) checkFloat32(caller, 'rowBias', g.rowBias);
  if (g.colBias != null) checkFloat32(caller, 'colBias', g.colBias);
  if (M > 1 && g.ldc < N) throw new RangeError(`${caller}: ldc must be at least N = ${N} (rows of C must not overlap), got ${g.ldc}`);
  const aEnd = spanEnd(g.aOffset, M, K, g.aRowStride, g.aColStride);
  const bEnd = spanEnd(g.bOffset, K, N, g.bRowStride, g.bColStride);
  const cEnd = spanEnd(g.cOffset, M, N, g.ldc, 1);
  checkLength(caller, 'a', g.a, aEnd, 'aOffset + (M-1)·aRowStride + (K-1)·aColStride + 1');
  checkLength(caller, 'b', g.b, bEnd, 'bOffset + (K-1)·bRowStride + (N-1)·bColStride + 1');
  checkLength(caller, 'c', g.c, cEnd, 'cOffset + (M-1)·ldc + N');
  if (g.rowBias != null) checkLength(caller, 'rowBias', g.rowBias, M, 'M');
  if (g.colBias != null) checkLength(caller, 'colBias', g.colBias, N, 'N');
  const rt = requireWasm(caller);
  kernelName(rt, caller, 'gemm_f32', opts); // the relaxed check, before any work
  if (M === 0 || N === 0) return;

  const mark = rt.mark();
  try {
    // Only the span each operand touches is staged (from its first to its last element).
    const aSpan = g.a.subarray(g.aOffset, aEnd);
    const bSpan = g.b.subarray(g.bOffset, bEnd);
    const rowSpan = g.rowBias?.subarray(0, M);
    const colSpan = g.colBias?.subarray(0, N);
    // C in place, or its span staged: copied in when it is read (accumulate) or when it has gaps
    // between rows that the copy back must leave as they were (decided before anything is copied)
    const cSpan = g.c.subarray(g.cOffset, cEnd);
    const inPlace = inWasmMemory(rt, cSpan) !== undefined && !overlapsInPlace(rt, cSpan, [aSpan, bSpan, rowSpan, colSpan]);
    const inputs = [aSpan, bSpan, ...(rowSpan ? [rowSpan] : []), ...(colSpan ? [colSpan] : [])];
    const [a, b, ...biases] = stageIn(rt, inputs) as [number, number, ...number[]];
    const rowBias = rowSpan ? biases[0] : undefined;
    const colBias = colSpan ? biases[rowSpan ? 1 : 0] : undefined;
    const c = inPlace ? cSpan.byteOffset : g.accumulate || (M > 1 && g.ldc !== N) ? rt.put(cSpan) : rt.alloc(cSpan.byteLength);
    gemmPtr(
      rt,
      {
        M, N, K,
        a, aRowStride: g.aRowStride, aColStride: g.aColStride,
        b, bRowStride: g.bRowStride, bColStride: g.bColStride,
        c, ldc: g.ldc,
        accumulate: g.accumulate === true, rowBias, colBias, relu: g.relu === true,
      },
      opts,
    );
    if (!inPlace) cSpan.set(rt.f32().subarray(c / 4, c / 4 + cSpan.length));
  } finally {
    rt.release(mark);
  }
}
