// Shapes, strides and broadcasting. A tensor element at index (i0, ..., ik) lives at
// storage[offset + sum_d i_d * strides[d]]; views change shape/strides/offset, never data.
import { ShapeError, SizeError, ValueError, fmtShape } from './errors.js';

export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** Row-major strides: the last dim moves fastest. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

/** The shape cat gives along dim: the first part's shape with the parts' sizes along dim summed. */
export function catShape(parts: readonly { shape: Shape }[], dim: number): number[] {
  const shape = [...(parts[0] as { shape: Shape }).shape];
  shape[dim] = parts.reduce((s, x) => s + (x.shape[dim] as number), 0);
  return shape;
}

/** True when (shape, strides) walks memory in row-major order without gaps (size-1 dims ignored). */
export function isContiguous(shape: Shape, strides: readonly number[]): boolean {
  let expected = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    const size = shape[d];
    if (size === 1) continue;
    if (strides[d] !== expected) return false;
    expected *= size;
  }
  return true;
}

export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Wrap a possibly negative dim into [0, ndim); `arg` names it in the error. */
export function normalizeDim(dim: number, ndim: number, op: string, arg = 'dim'): number {
  const lo = ndim === 0 ? -1 : -ndim;
  const hi = ndim === 0 ? 0 : ndim - 1;
  if (!Number.isInteger(dim) || dim < lo || dim > hi) {
    throw new ValueError(
      `${op}: argument '${arg}' is out of range (expected to be in range of [${lo}, ${hi}], but got ${dim})`,
    );
  }
  return dim < 0 ? dim + Math.max(ndim, 1) : dim;
}

/**
 * The most elements one tensor may have: 2^31 - 1. Indices are int32 in resgrad (argmax, gather,
 * maxPool's indices), so every element must be reachable by one; it is also below every
 * JavaScript engine's typed-array length limit (2^32 in Node 20's V8) and keeps all index
 * arithmetic exact. The memory budget (core/allocator.ts) usually stops an allocation earlier.
 */
export const MAX_NUMEL = 2147483647;

/** How a value that is not a shape is described in a message: `the number 5`, `the string '3'`. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `[${v.map((x) => (typeof x === 'number' ? String(x) : describeValue(x))).join(', ')}]`;
  if (typeof v === 'string') return `the string '${v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `the ${typeof v} ${String(v)}`;
  if (typeof v === 'object') return `an object of type ${(v as object).constructor?.name ?? 'Object'}`;
  return String(v);
}

/**
 * Check a user-given shape: an array of non-negative integers (no NaN, Infinity or fractions)
 * with at most MAX_NUMEL elements in all. `op` and `arg` name the caller in the message.
 */
export function checkShape(shape: Shape, op: string, arg = 'shape'): void {
  if (!Array.isArray(shape)) {
    throw new ValueError(
      `${op}: argument '${arg}' must be an array of non-negative integers (e.g. [5] or [2, 3]), but got ${describeValue(shape)}`,
    );
  }
  let n = 1;
  for (let d = 0; d < shape.length; d++) {
    const s: unknown = shape[d];
    if (typeof s !== 'number' || !Number.isInteger(s) || s < 0) {
      throw new ValueError(
        `${op}: argument '${arg}' must be a list of non-negative integers, but got ${describeValue(shape)} (dim ${d} is ${typeof s === 'number' ? s : describeValue(s)})`,
      );
    }
    n *= s;
  }
  // each dim too (a [0, 1e300] shape is empty, but its strides would not be exact)
  if (n > MAX_NUMEL || shape.some((s) => s > MAX_NUMEL)) {
    throw new SizeError(
      `${op}: shape ${fmtShape(shape)} has ${n} elements, more than a tensor may have (MAX_NUMEL = 2^31 - 1 = ${MAX_NUMEL}; resgrad's indices are int32)`,
    );
  }
}

/**
 * NumPy/PyTorch broadcasting: align shapes on the right; each pair of sizes must be equal
 * or one of them 1. Returns the result shape or throws naming both arguments.
 */
export function broadcastShapes(a: Shape, b: Shape, op: string, names: [string, string] = ['input', 'other']): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = i < n - a.length ? 1 : a[i - (n - a.length)];
    const db = i < n - b.length ? 1 : b[i - (n - b.length)];
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(
        `${op}: the size of tensor '${names[0]}' (${da}) must match the size of tensor '${names[1]}' (${db}) ` +
          `at non-singleton dimension ${i}; shapes ${fmtShape(a)} and ${fmtShape(b)} cannot be broadcast`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides that read a tensor of (shape, strides) as if it had `outShape`: broadcast dims get stride 0. */
export function broadcastStrides(shape: Shape, strides: readonly number[], outShape: Shape): number[] {
  const n = outShape.length;
  const out = new Array<number>(n).fill(0);
  const lead = n - shape.length;
  for (let d = 0; d < shape.length; d++) {
    out[d + lead] = shape[d] === 1 && outShape[d + lead] !== 1 ? 0 : strides[d];
  }
  return out;
}
