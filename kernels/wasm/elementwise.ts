// Elementwise float32 kernels on the WASM SIMD runtime (source kernels/wasm/src/ew.wat), for
// contiguous arrays of equal length:
//   reluWasm          y  = relu(x)            (NaN stays NaN, −0 gives +0, as UNARY_OPS.relu)
//   reluBackwardWasm  dx = x > 0 ? dy : 0     (autograd's where(x > 0, g, 0): 0 at x = 0 and x = NaN)
//   addWasm           y  = a + b
//   addReluWasm       y  = relu(a + b)        (the join of a residual block and its ReLU, one pass)
//   axpyWasm          y  = alpha·x + z        (float32 product, then float32 sum)
//   stridedCopyWasm   dst[view] = src[view]   (or +=): a strided view copied out, a view's adjoint
// Each stages its inputs into the arena, runs over the pool (in place over the first staged input,
// so the arena holds one array per input), copies the result out and releases the arena; arrays
// that already live in the wasm memory are used in place (see stage() below). Outputs may be the
// same array as an input.
//
// Also the small helpers the other memory-bound wrappers here share (norm.ts, pool.ts, optim.ts):
// the runtime or a clear error, argument checks, and the single-thread cut-off.

import { coalesce } from '../geometry.js';
import { describeWasm, getWasm, type WasmRuntime } from './runtime.js';

/**
 * minParallelElements: work below this many elements runs on the calling thread, since a round
 * trip through the pool costs more than streaming 256 KiB on one core. Mutable so that tests can
 * send every size through the pool (and a bench can probe the cut-off).
 */
export const wasmMemoryTuning = { minParallelElements: 1 << 16 };

/** The runtime, or an error naming the caller and why WebAssembly SIMD is unavailable. */
export function wasmRuntimeFor(caller: string): WasmRuntime {
  const rt = getWasm();
  if (rt === null) throw new Error(`${caller}: the WebAssembly SIMD runtime is unavailable here (${describeWasm()})`);
  return rt;
}

/** fn on the pool, or on this thread alone when it touches fewer than minParallelElements. */
export function runBySize(rt: WasmRuntime, fn: string, args: readonly number[], elements: number): void {
  if (elements < wasmMemoryTuning.minParallelElements) rt.runSingle(fn, args);
  else rt.run(fn, args);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return `${typeof v} ${String(v)}`;
}

/** A Float32Array of `length` elements (any length when undefined), or a TypeError / RangeError naming it. */
export function checkFloat32(caller: string, name: string, v: unknown, length?: number, why?: string): asserts v is Float32Array {
  if (!(v instanceof Float32Array)) throw new TypeError(`${caller}: ${name} must be a Float32Array, got ${describe(v)}`);
  if (length !== undefined && v.length !== length) {
    throw new RangeError(`${caller}: ${name} must have ${length} elements${why ? ` (${why})` : ''}, got ${v.length}`);
  }
}

/** A non-negative integer that fits a wasm i32 size, or a RangeError naming it. */
export function checkSize(caller: string, name: string, v: number, min = 0): void {
  if (!Number.isInteger(v) || v < min || v > 0x7fffffff) {
    throw new RangeError(`${caller}: ${name} must be an integer >= ${min}, got ${v}`);
  }
}

// ---- staging: zero-copy for arrays that already live in the wasm memory ---------------------
// An array the caller made over the wasm memory's buffer (a tensor's storage from a wasm-backed
// allocator) is handed to the kernel by its byte offset; any other array is copied into the arena
// first, and an output is copied back out of it afterwards. `home` is rt.memory.buffer as the
// wrapper found it on entry: staging may grow the memory, which gives memory.buffer a new object,
// and the decisions must not change halfway through a call. (A view made before an earlier growth
// sits on an older buffer object of the same memory: rt.owns() knows them all, so it is read in
// place too.)

export type Staged = Float32Array | Int32Array;

/** a's byte offset in the wasm memory whose buffer is `home`, or -1 when it lives elsewhere. */
export function wasmOffsetOf(home: ArrayBufferLike, a: Staged): number {
  return a.buffer === home || getWasm()?.owns(a.buffer) ? a.byteOffset : -1;
}

/** Where a kernel reads `a`: its own bytes when it lives in the memory, else a copy in the arena. */
export function stage(rt: WasmRuntime, home: ArrayBufferLike, a: Staged): number {
  const own = wasmOffsetOf(home, a);
  if (own >= 0) return own;
  if (a instanceof Float32Array) return rt.put(a);
  const at = rt.alloc(a.byteLength);
  rt.i32().set(a, at / 4);
  return at;
}

/**
 * Where a kernel writes `out`: its own bytes when it lives in the memory, else `scratch` (the
 * arena copy of an input that the kernel may overwrite element by element) or a fresh allocation.
 */
export function outputAt(rt: WasmRuntime, home: ArrayBufferLike, out: Staged, scratch?: number): number {
  const own = wasmOffsetOf(home, out);
  if (own >= 0) return own;
  return scratch ?? rt.alloc(out.byteLength);
}

/** After the run: copy `out`'s result from `at` unless the kernel wrote it in place. */
export function finishOutput(rt: WasmRuntime, home: ArrayBufferLike, out: Staged, at: number): void {
  if (wasmOffsetOf(home, out) >= 0) return;
  if (out instanceof Float32Array) out.set(rt.f32().subarray(at / 4, at / 4 + out.length));
  else out.set(rt.i32().subarray(at / 4, at / 4 + out.length));
}

/** The arena copy of `a` (at `at`) that a kernel may overwrite, or undefined when `a` is read in place. */
export function scratchOf(home: ArrayBufferLike, a: Staged, at: number): number | undefined {
  return wasmOffsetOf(home, a) >= 0 ? undefined : at;
}

/**
 * An error when out and input both live in the wasm memory and overlap without being the same
 * bytes: threads would read elements another thread had already overwritten. (The same bytes, or
 * disjoint ones, are fine.)
 */
export function checkNoPartialOverlap(caller: string, home: ArrayBufferLike, outName: string, out: Staged, inName: string, input: Staged): void {
  const o = wasmOffsetOf(home, out);
  const i = wasmOffsetOf(home, input);
  if (o < 0 || i < 0) return;
  const same = o === i && out.byteLength === input.byteLength;
  const disjoint = o + out.byteLength <= i || i + input.byteLength <= o;
  if (!same && !disjoint) {
    throw new RangeError(
      `${caller}: ${outName} (wasm bytes ${o}..${o + out.byteLength}) overlaps ${inName} (bytes ${i}..${i + input.byteLength}) without being the same array`,
    );
  }
}

// ---- the kernels ---------------------------------------------------------------------------

/**
 * Stage `inputs` (all of out's length n), run fn(...before, ...inputs, out, n) and deliver out,
 * written over the first input's arena copy when it has one.
 */
function elementwise(caller: string, fn: string, names: string[], inputs: Float32Array[], out: Float32Array, before: number[] = []): void {
  const n = out.length;
  const rt = wasmRuntimeFor(caller);
  const home = rt.memory.buffer; // the memory as this call found it (see stage())
  if (n === 0) return;
  for (let i = 0; i < inputs.length; i++) checkNoPartialOverlap(caller, home, 'the output', out, names[i] as string, inputs[i] as Float32Array);
  const mark = rt.mark();
  try {
    const at = inputs.map((a) => stage(rt, home, a));
    const o = outputAt(rt, home, out, scratchOf(home, inputs[0] as Float32Array, at[0] as number));
    runBySize(rt, fn, [...before, ...at, o, n], n);
    finishOutput(rt, home, out, o);
  } finally {
    rt.release(mark);
  }
}

/** y = relu(x): x where x is positive or NaN, else +0. y may be x. */
export function reluWasm(x: Float32Array, y: Float32Array): void {
  const caller = 'reluWasm';
  checkFloat32(caller, 'x', x);
  checkFloat32(caller, 'y', y, x.length, 'as many as x');
  elementwise(caller, 'ew_relu', ['x'], [x], y);
}

/**
 * dx = x > 0 ? dy : 0 (the gradient of relu at x; 0 where x is 0 or NaN). dx may be dy or x.
 * relu's output y can stand in for x: y > 0 exactly where x > 0.
 */
export function reluBackwardWasm(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
  const caller = 'reluBackwardWasm';
  checkFloat32(caller, 'x', x);
  checkFloat32(caller, 'dy', dy, x.length, 'as many as x');
  checkFloat32(caller, 'dx', dx, x.length, 'as many as x');
  // ew_relu_backward reads (x, dy): dy is staged first, and dx lands on its arena copy
  const n = x.length;
  const rt = wasmRuntimeFor(caller);
  const home = rt.memory.buffer; // the memory as this call found it (see stage())
  if (n === 0) return;
  checkNoPartialOverlap(caller, home, 'dx', dx, 'x', x);
  checkNoPartialOverlap(caller, home, 'dx', dx, 'dy', dy);
  const mark = rt.mark();
  try {
    const g = stage(rt, home, dy);
    const xs = stage(rt, home, x);
    const o = outputAt(rt, home, dx, scratchOf(home, dy, g));
    runBySize(rt, 'ew_relu_backward', [xs, g, o, n], n);
    finishOutput(rt, home, dx, o);
  } finally {
    rt.release(mark);
  }
}

/** y = a + b. y may be a or b. */
export function addWasm(a: Float32Array, b: Float32Array, y: Float32Array): void {
  const caller = 'addWasm';
  checkFloat32(caller, 'a', a);
  checkFloat32(caller, 'b', b, a.length, 'as many as a');
  checkFloat32(caller, 'y', y, a.length, 'as many as a');
  elementwise(caller, 'ew_add', ['a', 'b'], [a, b], y);
}

/** y = relu(a + b), the float32 sum rounded first. y may be a or b. */
export function addReluWasm(a: Float32Array, b: Float32Array, y: Float32Array): void {
  const caller = 'addReluWasm';
  checkFloat32(caller, 'a', a);
  checkFloat32(caller, 'b', b, a.length, 'as many as a');
  checkFloat32(caller, 'y', y, a.length, 'as many as a');
  elementwise(caller, 'ew_add_relu', ['a', 'b'], [a, b], y);
}

/** y = alpha·x + z, alpha rounded to float32, the product rounded before the sum. y may be x or z. */
export function axpyWasm(alpha: number, x: Float32Array, z: Float32Array, y: Float32Array): void {
  const caller = 'axpyWasm';
  if (typeof alpha !== 'number') throw new TypeError(`${caller}: alpha must be a number, got ${describe(alpha)}`);
  checkFloat32(caller, 'x', x);
  checkFloat32(caller, 'z', z, x.length, 'as many as x');
  checkFloat32(caller, 'y', y, x.length, 'as many as x');
  elementwise(caller, 'ew_axpy', ['x', 'z'], [x, z], y, [alpha]);
}

// ---- strided views --------------------------------------------------------------------------

/**
 * The dims of a pair of views after merging the neighbours both walk as one and dropping size-1
 * dims (coalesce), padded in front to four; null when more than four remain (ew_strided walks at
 * most four).
 */
export function stridedDims(shape: readonly number[], srcStrides: readonly number[], dstStrides: readonly number[]): { n: number[]; s: number[]; d: number[] } | null {
  const [n, s, d] = coalesce(shape, srcStrides, dstStrides, dstStrides);
  if (n.length > 4) return null;
  while (n.length < 4) {
    n.unshift(1);
    s.unshift(0);
    d.unshift(0);
  }
  return { n, s, d };
}

/** The largest element index a view reaches (its offset when it is empty). */
function lastIndex(offset: number, shape: readonly number[], strides: readonly number[]): number {
  let last = offset;
  for (let k = 0; k < shape.length; k++) last += ((shape[k] as number) - 1) * (strides[k] as number);
  return last;
}

/**
 * dst[dstOffset + Σ i_k·dstStrides_k] = src[srcOffset + Σ i_k·srcStrides_k] for every index i of
 * `shape` (row-major order), or += when `accumulate`: a strided view copied out, the adjoint of a
 * view, a slab of cat. Strides are in elements and must be >= 0, the views must fit in four dims
 * once merged (stridedDims) and must not share bytes. Writing, threads split the outermost dim;
 * accumulating runs on this thread alone, in row-major order, so a view that sends several
 * elements to one place (a broadcast) sums them as the TypeScript kernel does.
 */
export function stridedCopyWasm(
  src: Float32Array,
  srcOffset: number,
  srcStrides: readonly number[],
  dst: Float32Array,
  dstOffset: number,
  dstStrides: readonly number[],
  shape: readonly number[],
  accumulate: boolean,
): void {
  const caller = 'stridedCopyWasm';
  checkFloat32(caller, 'src', src);
  checkFloat32(caller, 'dst', dst);
  if (srcStrides.length !== shape.length || dstStrides.length !== shape.length) {
    throw new RangeError(`${caller}: srcStrides and dstStrides must have one entry per dim of shape (${shape.length}), got ${srcStrides.length} and ${dstStrides.length}`);
  }
  for (let k = 0; k < shape.length; k++) {
    checkSize(caller, `shape[${k}]`, shape[k] as number);
    checkSize(caller, `srcStrides[${k}]`, srcStrides[k] as number);
    checkSize(caller, `dstStrides[${k}]`, dstStrides[k] as number);
  }
  checkSize(caller, 'srcOffset', srcOffset);
  checkSize(caller, 'dstOffset', dstOffset);
  const count = shape.reduce((a, b) => a * b, 1);
  if (count === 0) return;
  const dims = stridedDims(shape, srcStrides, dstStrides);
  if (dims === null) throw new RangeError(`${caller}: the views need more than four dims once merged (shape [${shape.join(', ')}])`);
  const srcLast = lastIndex(srcOffset, shape, srcStrides);
  const dstLast = lastIndex(dstOffset, shape, dstStrides);
  if (srcLast >= src.length) throw new RangeError(`${caller}: the source view reaches element ${srcLast}, past src's ${src.length}`);
  if (dstLast >= dst.length) throw new RangeError(`${caller}: the destination view reaches element ${dstLast}, past dst's ${dst.length}`);
  const rt = wasmRuntimeFor(caller);
  const home = rt.memory.buffer; // the memory as this call found it (see stage())
  const so = wasmOffsetOf(home, src);
  const dOwn = wasmOffsetOf(home, dst);
  if (so >= 0 && dOwn >= 0 && so < dOwn + dst.byteLength && dOwn < so + src.byteLength) {
    throw new RangeError(`${caller}: dst (wasm bytes ${dOwn}..${dOwn + dst.byteLength}) overlaps src (bytes ${so}..${so + src.byteLength})`);
  }
  const mark = rt.mark();
  try {
    const s = stage(rt, home, src);
    const d = stage(rt, home, dst); // in and out: the elements outside the view stay as they are
    const args = [s + 4 * srcOffset, d + 4 * dstOffset, ...dims.n, ...dims.s, ...dims.d, accumulate ? 1 : 0];
    if (accumulate) rt.runSingle('ew_strided', args);
    else runBySize(rt, 'ew_strided', args, count);
    finishOutput(rt, home, dst, d);
  } finally {
    rt.release(mark);
  }
}
