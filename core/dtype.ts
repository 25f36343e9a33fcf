// dtypes: how numbers are stored. float32 is the default; float64 is what gradcheck uses;
// int32 holds labels, indices and comparison masks (resgrad has no bool dtype).
import { DTypeError } from './errors.js';

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

/** Copy `src` into a fresh array of `dtype` (values converted as JS numbers; int32 truncates). */
export function castArray(src: ArrayLike<number>, dtype: DType): TypedArray {
  const out = allocArray(dtype, src.length);
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
