// Creating tensors: from data (nested arrays or typed arrays), constants, ranges and random draws.
import { type Device, getBackend } from './backend.js';
import { type DType, type TypedArray, allocArray, castArray, dtypeOfArray, isDType } from './dtype.js';
import { DTypeError, ShapeError, ValueError, fmtShape } from './errors.js';
import { type Generator, defaultGenerator } from './random.js';
import { checkShape, numel } from './shape.js';
import { Tensor } from './tensor.js';

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
  device?: Device;
}
export interface RandomOptions extends TensorOptions {
  generator?: Generator;
}

export type NestedArray = number | readonly NestedArray[];

function checkDType(dtype: unknown, op: string): DType {
  if (!isDType(dtype)) {
    throw new DTypeError(`${op}: argument 'dtype' must be one of float32, float64, int32, but got ${String(dtype)}`);
  }
  return dtype;
}

/** Wrap a host array as a tensor on `opts.device`, applying requiresGrad. */
function finish(data: TypedArray, shape: readonly number[], opts: TensorOptions): Tensor {
  const t = Tensor.fromArray(data, shape, getBackend(opts.device ?? 'cpu'));
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let cur: NestedArray = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0] as NestedArray;
    if (cur === undefined) break;
  }
  return shape;
}

function flatten(data: NestedArray, shape: readonly number[], out: number[], dim: number, op: string): void {
  if (dim === shape.length) {
    if (typeof data !== 'number') throw new ValueError(`${op}: expected a number at depth ${dim}, got ${typeof data}`);
    out.push(data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[dim]) {
    throw new ShapeError(
      `${op}: ragged nested array: expected sequence of length ${shape[dim]} at dim ${dim} (inferred shape ${fmtShape(shape)}), got ${Array.isArray(data) ? data.length : typeof data}`,
    );
  }
  for (const item of data) flatten(item, shape, out, dim + 1, op);
}

/**
 * `tensor(data, { shape, dtype, requiresGrad, device })`. Nested arrays of integers give int32
 * and anything else float32, as torch.tensor does (int64 there); typed arrays keep their dtype
 * unless `dtype` says otherwise, and need `shape` unless 1-D.
 */
export function tensor(data: NestedArray | TypedArray, opts: TensorOptions & { shape?: readonly number[] } = {}): Tensor {
  const op = 'tensor';
  let flat: TypedArray;
  let shape: number[];
  if (ArrayBuffer.isView(data)) {
    const arr = data as TypedArray;
    const dtype = opts.dtype === undefined ? dtypeOfArray(arr) : checkDType(opts.dtype, op);
    flat = castArray(arr, dtype);
    shape = opts.shape ? [...opts.shape] : [arr.length];
  } else {
    const inferred = inferShape(data);
    const values: number[] = [];
    flatten(data, inferred, values, 0, op);
    // an empty list is float32, as torch.tensor([])
    const ints = values.length > 0 && values.every(Number.isInteger);
    const dtype = opts.dtype === undefined ? (ints ? 'int32' : 'float32') : checkDType(opts.dtype, op);
    flat = castArray(values, dtype);
    shape = opts.shape ? [...opts.shape] : inferred;
  }
  checkShape(shape, op);
  if (numel(shape) !== flat.length) {
    throw new ShapeError(`${op}: shape ${fmtShape(shape)} is invalid for input of size ${flat.length}`);
  }
  return finish(flat, shape, opts);
}

export function full(shape: readonly number[], value: number, opts: TensorOptions = {}): Tensor {
  checkShape(shape, 'full');
  const dtype = opts.dtype === undefined ? 'float32' : checkDType(opts.dtype, 'full');
  const data = allocArray(dtype, numel(shape));
  if (value !== 0) data.fill(value);
  return finish(data, shape, opts);
}
export const zeros = (shape: readonly number[], opts: TensorOptions = {}): Tensor => full(shape, 0, opts);
export const ones = (shape: readonly number[], opts: TensorOptions = {}): Tensor => full(shape, 1, opts);

/** Values start, start+step, ... below end (int32 when all three are integers, as torch). */
export function arange(start: number, end?: number, step = 1, opts: TensorOptions = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (step === 0 || !Number.isFinite(step)) throw new ValueError(`arange: argument 'step' must be nonzero and finite, but got ${step}`);
  if ((end - start) / step < 0) {
    throw new ValueError(`arange: upper bound and larger bound inconsistent with step sign (start=${start}, end=${end}, step=${step})`);
  }
  const n = Math.ceil((end - start) / step);
  const allInt = [start, end, step].every(Number.isInteger);
  const dtype = opts.dtype ?? (allInt ? 'int32' : 'float32');
  const data = allocArray(checkDType(dtype, 'arange'), n);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return finish(data, [n], opts);
}

function floatDType(opts: TensorOptions, op: string): DType {
  const dtype = opts.dtype === undefined ? 'float32' : checkDType(opts.dtype, op);
  if (dtype === 'int32') throw new DTypeError(`${op}: argument 'dtype' must be a floating type, but got int32`);
  return dtype;
}

/** Standard normal draws from the seeded generator. */
export function randn(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  checkShape(shape, 'randn');
  const g = opts.generator ?? defaultGenerator;
  const data = allocArray(floatDType(opts, 'randn'), numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = g.normal();
  return finish(data, shape, opts);
}

/** Uniform draws in [0, 1). */
export function rand(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  checkShape(shape, 'rand');
  const g = opts.generator ?? defaultGenerator;
  const data = allocArray(floatDType(opts, 'rand'), numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = g.uniform();
  return finish(data, shape, opts);
}

/** Uniform integers in [low, high) as int32 by default. */
export function randint(low: number, high: number, shape: readonly number[], opts: RandomOptions = {}): Tensor {
  checkShape(shape, 'randint');
  if (!(Number.isInteger(low) && Number.isInteger(high)) || high <= low) {
    throw new ValueError(`randint: expected integers low < high, but got low=${low}, high=${high}`);
  }
  const g = opts.generator ?? defaultGenerator;
  const data = allocArray(opts.dtype ?? 'int32', numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = g.integer(low, high);
  return finish(data, shape, opts);
}

const like = (t: Tensor, opts: TensorOptions): TensorOptions => ({ dtype: t.dtype, device: t.device, ...opts });
export const zerosLike = (t: Tensor, opts: TensorOptions = {}): Tensor => zeros(t.shape, like(t, opts));
export const onesLike = (t: Tensor, opts: TensorOptions = {}): Tensor => ones(t.shape, like(t, opts));
export const fullLike = (t: Tensor, value: number, opts: TensorOptions = {}): Tensor => full(t.shape, value, like(t, opts));
export const randnLike = (t: Tensor, opts: RandomOptions = {}): Tensor => randn(t.shape, like(t, opts));
export const randLike = (t: Tensor, opts: RandomOptions = {}): Tensor => rand(t.shape, like(t, opts));
