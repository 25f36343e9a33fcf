// dtypes: how numbers are stored. float32 is the default; float64 is what gradcheck uses;
// int32 holds labels, indices and comparison masks (resgrad has no bool dtype).
import { DTypeError, OverflowError } from './errors.js';

export type DType = 'float32' | 'float64' | 'int32';
export type FloatDType = 'float32' | 'float64';
export type TypedArray = Float32Array | Float64Array | Int32Array;

export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32'];

export function isDType(x: unknown): x is DType {
  return x === 'float32' || x === 'float64' || x === 'int32';
}

export function isFloat(dtype: DType): dtype is FloatDType {
  return dtype === 'float32' || dtype === 'float64';
}

/** A zero-filled typed array of `size` elements for `dtype`. */
export function allocArray(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(size);
    case 'float64':
      return new Float64Array(size);
    case 'int32':
      return new Int32Array(size);
  }
}

export function dtypeOfArray(a: TypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  return 'int32';
}

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = { float32: 4, float64: 8, int32: 4 };

/** The integers an int32 holds: [-2^31, 2^31 - 1]. */
export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;
const INT32_RANGE = `int32 holds integers in [${INT32_MIN}, ${INT32_MAX}]`;

/**
 * `v` as an int32, truncated toward zero as torch converts a float to an integer type; NaN,
 * Infinity and values outside the int32 range are an OverflowError, never a wrap-around (a typed
 * array would store 3e9 as -1294967296 and NaN as 0). `where` says where the value came from,
 * e.g. " at index 3" or " (argument 'fillValue')".
 */
export function toInt32(v: number, op: string, where = ''): number {
  const t = Math.trunc(v);
  if (!(t >= INT32_MIN && t <= INT32_MAX)) {
    const why = Number.isNaN(v) ? ' (int32 has no NaN)' : Number.isFinite(v) ? '' : ' (int32 has no infinity)';
    throw new OverflowError(`${op}: value ${v}${where} cannot be converted to int32 without overflow${why}: ${INT32_RANGE}`);
  }
  return t;
}

/**
 * Values computed wider (a float64 accumulator, e.g. an int32 sum) narrowed to int32, refusing
 * any that int32 cannot hold exactly. `op` names the operation in the message.
 */
export function narrowToInt32(src: ArrayLike<number>, op: string): Int32Array {
  const out = new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (!(v >= INT32_MIN && v <= INT32_MAX && Number.isInteger(v))) {
      throw new OverflowError(
        `${op}: the int32 result ${v} at output index ${i} does not fit in int32 (${INT32_RANGE}); convert the input with .to('float64') first (exact up to 2^53)`,
      );
    }
    out[i] = v;
  }
  return out;
}

/**
 * Copy `src` into a fresh array of `dtype`. Into int32, values truncate toward zero (as torch)
 * and anything int32 cannot hold is an OverflowError naming the value and its index.
 */
export function castArray(src: ArrayLike<number>, dtype: DType, op = 'cast'): TypedArray {
  const out = allocArray(dtype, src.length);
  if (dtype === 'int32' && !(src instanceof Int32Array)) {
    for (let i = 0; i < src.length; i++) out[i] = toInt32(src[i], op, ` at index ${i}`);
    return out;
  }
  for (let i = 0; i < src.length; i++) out[i] = src[i];
  return out;
}

/** PyTorch type promotion among our dtypes: float64 > float32 > int32. */
export function promoteTypes(a: DType, b: DType): DType {
  if (a === 'float64' || b === 'float64') return 'float64';
  if (a === 'float32' || b === 'float32') return 'float32';
  return 'int32';
}

/**
 * torch.result_type of two tensors: a 0-d tensor beside a dimensioned one only decides the
 * dtype when its category (integer < floating) is higher, so float32[3] + float64[] is float32
 * while int32[3] + float64[] is float64.
 */
export function resultType(a: { dtype: DType; ndim: number }, b: { dtype: DType; ndim: number }): DType {
  if (a.ndim === 0 !== (b.ndim === 0) && isFloat(a.dtype) === isFloat(b.dtype)) return a.ndim === 0 ? b.dtype : a.dtype;
  return promoteTypes(a.dtype, b.dtype);
}

/** Throws unless `dtype` is a floating type; `op` and `arg` name the caller in the message. */
export function assertFloat(dtype: DType, op: string, arg = 'input'): void {
  if (!isFloat(dtype)) {
    throw new DTypeError(
      `${op}: argument '${arg}' must be a floating point tensor (float32 or float64), but got ${dtype}`,
    );
  }
}
