// Elementwise float32 kernels on the WASM SIMD runtime (source kernels/wasm/src/ew.wat), for
// contiguous arrays of equal length:
//   reluWasm          y  = relu(x)            (NaN stays NaN, −0 gives +0, as UNARY_OPS.relu)
//   reluBackwardWasm  dx = x > 0 ? dy : 0     (autograd's where(x > 0, g, 0): 0 at x = 0 and x = NaN)
//   addWasm           y  = a + b
//   addReluWasm       y  = relu(a + b)        (the join of a residual block and its ReLU, one pass)
//   axpyWasm          y  = alpha·x + z        (float32 product, then float32 sum)
// Each stages its inputs into the arena, runs over the pool (in place over the first staged input,
// so the arena holds one array per input), copies the result out and releases the arena. Outputs
// may be the same array as an input.
//
// Also the small helpers the other memory-bound wrappers here share (norm.ts, pool.ts, optim.ts):
// the runtime or a clear error, argument checks, and the single-thread cut-off.

import { describeWasm, getWasm, type WasmRuntime } from './runtime.js';

/**
 * Work below this many elements runs on the calling thread: a round trip through the pool costs
 * more than streaming 256 KiB on one core.
 */
export const MIN_PARALLEL_ELEMENTS = 1 << 16;

/** The runtime, or an error naming the caller and why WebAssembly SIMD is unavailable. */
export function wasmRuntimeFor(caller: string): WasmRuntime {
  const rt = getWasm();
  if (rt === null) throw new Error(`${caller}: the WebAssembly SIMD runtime is unavailable here (${describeWasm()})`);
  return rt;
}

/** fn on the pool, or on this thread alone when it touches fewer than MIN_PARALLEL_ELEMENTS. */
export function runBySize(rt: WasmRuntime, fn: string, args: readonly number[], elements: number): void {
  if (elements < MIN_PARALLEL_ELEMENTS) rt.runSingle(fn, args);
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

/** Copies n floats at byte offset `at` of the arena into out. */
export function copyOut(rt: WasmRuntime, at: number, out: Float32Array): void {
  out.set(rt.f32().subarray(at / 4, at / 4 + out.length));
}

// ---- the kernels ---------------------------------------------------------------------------

/** Stage `inputs` (all of one length n), run fn(…inputs, out = first input, n), copy into out. */
function unaryLike(caller: string, fn: string, inputs: Float32Array[], out: Float32Array, before: number[] = []): void {
  const n = inputs[0]!.length;
  const rt = wasmRuntimeFor(caller);
  if (n === 0) return;
  const mark = rt.mark();
  try {
    const at = inputs.map((a) => rt.put(a));
    runBySize(rt, fn, [...before, ...at, at[0]!, n], n);
    copyOut(rt, at[0]!, out);
  } finally {
    rt.release(mark);
  }
}

/** y = relu(x): x where x is positive or NaN, else +0. y may be x. */
export function reluWasm(x: Float32Array, y: Float32Array): void {
  const caller = 'reluWasm';
  checkFloat32(caller, 'x', x);
  checkFloat32(caller, 'y', y, x.length, 'as many as x');
  unaryLike(caller, 'ew_relu', [x], y);
}

/** dx = x > 0 ? dy : 0 (the gradient of relu at x; 0 where x is 0 or NaN). dx may be dy or x. */
export function reluBackwardWasm(x: Float32Array, dy: Float32Array, dx: Float32Array): void {
  const caller = 'reluBackwardWasm';
  checkFloat32(caller, 'x', x);
  checkFloat32(caller, 'dy', dy, x.length, 'as many as x');
  checkFloat32(caller, 'dx', dx, x.length, 'as many as x');
  // the kernel writes over its third argument: stage dy first so dx lands on dy's copy
  const n = x.length;
  const rt = wasmRuntimeFor(caller);
  if (n === 0) return;
  const mark = rt.mark();
  try {
    const g = rt.put(dy);
    const xs = rt.put(x);
    runBySize(rt, 'ew_relu_backward', [xs, g, g, n], n);
    copyOut(rt, g, dx);
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
  unaryLike(caller, 'ew_add', [a, b], y);
}

/** y = relu(a + b), the float32 sum rounded first. y may be a or b. */
export function addReluWasm(a: Float32Array, b: Float32Array, y: Float32Array): void {
  const caller = 'addReluWasm';
  checkFloat32(caller, 'a', a);
  checkFloat32(caller, 'b', b, a.length, 'as many as a');
  checkFloat32(caller, 'y', y, a.length, 'as many as a');
  unaryLike(caller, 'ew_add_relu', [a, b], y);
}

/** y = alpha·x + z, alpha rounded to float32, the product rounded before the sum. y may be x or z. */
export function axpyWasm(alpha: number, x: Float32Array, z: Float32Array, y: Float32Array): void {
  const caller = 'axpyWasm';
  if (typeof alpha !== 'number') throw new TypeError(`${caller}: alpha must be a number, got ${describe(alpha)}`);
  checkFloat32(caller, 'x', x);
  checkFloat32(caller, 'z', z, x.length, 'as many as x');
  checkFloat32(caller, 'y', y, x.length, 'as many as x');
  unaryLike(caller, 'ew_axpy', [x, z], y, [alpha]);
}
