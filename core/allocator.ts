// Where kernel outputs come from. Every CPU kernel asks this one allocator for its fresh output
// arrays, so a different policy (a recycling pool, arrays inside WebAssembly memory) plugs in
// at one place. The default is the plain one: a new zero-filled typed array, freed by the GC.
//
// It is also the one place that refuses tensors too large to make: an output over the memory
// budget (bytes per tensor, 4 GiB unless setMemoryBudget or RESGRAD_MAX_TENSOR_BYTES says
// otherwise) is a SizeError naming the op and the size, before any memory is touched, instead
// of a raw RangeError or minutes spent filling gigabytes that a mistyped shape asked for.
import { DTYPE_BYTES, type DType, type TypedArray, allocArray } from './dtype.js';
import { SizeError, ValueError } from './errors.js';
import { MAX_NUMEL } from './shape.js';

export interface Allocator {
  readonly name: string;
  /** An array of `size` elements of `dtype`: zero-filled, unless `zeroed` is false (the caller overwrites every element). */
  alloc(dtype: DType, size: number, zeroed?: boolean): TypedArray;
}

export const heapAllocator: Allocator = { name: 'heap', alloc: (dtype, size) => allocArray(dtype, size) };

let current: Allocator = heapAllocator;

export function setAllocator(a: Allocator): Allocator {
  const prev = current;
  current = a;
  return prev;
}

export function getAllocator(): Allocator {
  return current;
}

// ---- the memory budget ------------------------------------------------------------------------

/**
 * 4 GiB per tensor: ten times the largest activation of a ResNet-50 training step at batch 256,
 * and the size of a whole 32-bit WebAssembly memory. Past it a shape is far more often a typo
 * than a need; a user who needs more raises it.
 */
export const DEFAULT_MEMORY_BUDGET = 2 ** 32;
export const MEMORY_BUDGET_ENV = 'RESGRAD_MAX_TENSOR_BYTES';

/** null until first use, when the environment variable (if any) is read. */
let budget: number | null = null;

function checkBudget(bytes: unknown, source: string): number {
  if (typeof bytes !== 'number' || !(bytes > 0)) {
    throw new ValueError(`${source} must be a positive number of bytes (or Infinity for no budget), but got ${typeof bytes === 'string' ? `'${bytes}'` : String(bytes)}`);
  }
  return bytes;
}

function envBudget(): number {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const raw = env?.[MEMORY_BUDGET_ENV];
  if (raw === undefined || raw.trim() === '') return DEFAULT_MEMORY_BUDGET;
  const bytes = Number(raw);
  // a malformed setting is reported at every allocation until fixed, never silently ignored
  return checkBudget(Number.isNaN(bytes) ? raw : bytes, `the environment variable ${MEMORY_BUDGET_ENV}`);
}

/** The most bytes one tensor may take (Infinity: only MAX_NUMEL applies). */
export function getMemoryBudget(): number {
  budget ??= envBudget();
  return budget;
}

/** Set the per-tensor byte budget; returns the previous one. Infinity turns the budget off. */
export function setMemoryBudget(bytes: number): number {
  const prev = budget ?? DEFAULT_MEMORY_BUDGET;
  budget = checkBudget(bytes, "setMemoryBudget: argument 'bytes'");
  return prev;
}

/** Forget any setMemoryBudget: the next allocation reads RESGRAD_MAX_TENSOR_BYTES (or the default) again. */
export function resetMemoryBudget(): void {
  budget = null;
}

/** `4294967296 bytes (4.00 GiB)`, `3145728 bytes (3.00 MiB)`, `1028 bytes`. */
export function fmtBytes(bytes: number): string {
  if (bytes === Number.POSITIVE_INFINITY) return 'unlimited';
  if (bytes >= 2 ** 30) return `${bytes} bytes (${(bytes / 2 ** 30).toFixed(2)} GiB)`;
  if (bytes >= 2 ** 20) return `${bytes} bytes (${(bytes / 2 ** 20).toFixed(2)} MiB)`;
  return `${bytes} bytes`;
}

/**
 * Throw a SizeError unless a tensor of `size` elements of `dtype` may be made: at most MAX_NUMEL
 * elements and within the memory budget. `op` names the caller in the message.
 */
export function checkAllocation(dtype: DType, size: number, op: string): void {
  if (!Number.isInteger(size) || size < 0) throw new SizeError(`${op}: cannot make a ${dtype} tensor of ${size} elements (not a whole number)`);
  if (size > MAX_NUMEL) {
    throw new SizeError(`${op}: a ${dtype} tensor of ${size} elements is more than a tensor may have (MAX_NUMEL = 2^31 - 1 = ${MAX_NUMEL}; resgrad's indices are int32)`);
  }
  const bytes = size * DTYPE_BYTES[dtype];
  const limit = getMemoryBudget();
  if (bytes > limit) {
    throw new SizeError(
      `${op}: a ${dtype} tensor of ${size} elements needs ${fmtBytes(bytes)}, more than the memory budget of ${fmtBytes(limit)} per tensor; ` +
        `raise it with setMemoryBudget(bytes) or the environment variable ${MEMORY_BUDGET_ENV}`,
    );
  }
}

// ---- which op is allocating ------------------------------------------------------------------

let currentOp: string | null = null;

/** Run `fn` with `op` named in any size error its allocations raise (the backend wraps each kernel in this). */
export function allocatingFor<T>(op: string, fn: () => T): T {
  const prev = currentOp;
  currentOp = op;
  try {
    return fn();
  } finally {
    currentOp = prev;
  }
}

/**
 * A kernel output of `size` elements from the current allocator (zeroed unless `zeroed` is
 * false), after the size checks; an engine that still cannot provide it gives a SizeError too.
 */
export function allocOutput(dtype: DType, size: number, zeroed = true): TypedArray {
  const op = currentOp ?? 'kernel output';
  checkAllocation(dtype, size, op);
  try {
    return current.alloc(dtype, size, zeroed);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new SizeError(`${op}: the JavaScript engine could not allocate a ${dtype} tensor of ${size} elements, ${fmtBytes(size * DTYPE_BYTES[dtype])} (${e.message})`);
  }
}
