// Creating tensors: from data (nested arrays or typed arrays), constants, ranges and random draws.
// Every argument is checked before any memory is taken: a shape, a value or an option of the
// wrong kind is a ResgradError naming the argument, a number the dtype cannot hold is an
// OverflowError (never a wrap-around), and a tensor too large to make is a SizeError.
import { checkAllocation } from './allocator.js';
import { type Device, getBackend } from './backend.js';
import { type DType, type TypedArray, allocArray, castArray, dtypeOfArray, isDType, toInt32 } from './dtype.js';
import { DTypeError, OverflowError, ShapeError, SizeError, ValueError, fmtShape } from './errors.js';
import { Generator, defaultGenerator } from './random.js';
import { MAX_NUMEL, checkShape, describeValue, numel } from './shape.js';
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
    throw new DTypeError(`${op}: argument 'dtype' must be one of float32, float64, int32, but got ${describeValue(dtype)}`);
  }
  return dtype;
}

/** The options object, checked: `zeros([2], 'float64')` is an error, not a silent float32. */
function checkOptions<O extends TensorOptions>(opts: O | undefined, op: string): O {
  if (opts === undefined) return {} as O;
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new ValueError(`${op}: argument 'options' must be an object such as { dtype: 'float64' }, but got ${describeValue(opts)}`);
  }
  if (opts.requiresGrad !== undefined && typeof opts.requiresGrad !== 'boolean') {
    throw new ValueError(`${op}: option 'requiresGrad' must be a boolean, but got ${describeValue(opts.requiresGrad)}`);
  }
  return opts;
}

function checkNumber(v: unknown, op: string, arg: string): number {
  if (typeof v !== 'number') throw new ValueError(`${op}: argument '${arg}' must be a number, but got ${describeValue(v)}`);
  return v;
}

/** A zero-filled array for a new tensor, after the shape, element-count and budget checks. */
function allocFor(dtype: DType, shape: readonly number[], op: string): TypedArray {
  checkShape(shape, op);
  const n = numel(shape);
  checkAllocation(dtype, n, op);
  try {
    return allocArray(dtype, n);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new SizeError(`${op}: the JavaScript engine could not allocate a ${dtype} tensor of shape ${fmtShape(shape)} (${e.message})`);
  }
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
    if (typeof data !== 'number') {
      throw new ValueError(
        `${op}: argument 'data' must be a number, a nested array of numbers or a typed array, but got ${describeValue(data)}${dim > 0 ? ` at depth ${dim}` : ''}`,
      );
    }
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

/** Typed arrays tensor() takes: ours keep their dtype, other integer ones become int32. */
export type AnyTypedArray = TypedArray | Uint8Array | Uint8ClampedArray | Int8Array | Uint16Array | Int16Array | Uint32Array | BigInt64Array | BigUint64Array;

/** A typed array's values as numbers: other integer arrays become int32 data (checked), 64-bit ones too. */
function typedValues(arr: AnyTypedArray): { values: ArrayLike<number>; dtype: DType } {
  if (arr instanceof Float32Array || arr instanceof Float64Array || arr instanceof Int32Array) return { values: arr, dtype: dtypeOfArray(arr) };
  if (arr instanceof BigInt64Array || arr instanceof BigUint64Array) {
    // Number() of a 64-bit value past 2^53 rounds, but then it is far outside int32 anyway
    return { values: Array.from(arr, (v) => Number(v)), dtype: 'int32' };
  }
  return { values: arr, dtype: 'int32' };
}

/**
 * `tensor(data, { shape, dtype, requiresGrad, device })`. Nested arrays of integers give int32
 * and anything else float32, as torch.tensor does (int64 there); typed arrays keep their dtype
 * (other integer arrays give int32) unless `dtype` says otherwise, and need `shape` unless 1-D.
 * Values go into int32 truncated toward zero; one that int32 cannot hold is an OverflowError.
 */
export function tensor(data: NestedArray | AnyTypedArray, options?: TensorOptions & { shape?: readonly number[] }): Tensor {
  const op = 'tensor';
  const opts = checkOptions(options, op);
  let values: ArrayLike<number>;
  let dtype: DType;
  let inferredInt = false;
  let shape: readonly number[];
  if (ArrayBuffer.isView(data)) {
    if (data instanceof DataView) throw new ValueError(`${op}: argument 'data' must be a typed array, not a DataView`);
    const t = typedValues(data as AnyTypedArray);
    values = t.values;
    dtype = opts.dtype === undefined ? t.dtype : checkDType(opts.dtype, op);
    shape = opts.shape ?? [values.length];
  } else {
    const inferred = inferShape(data);
    const flat: number[] = [];
    flatten(data, inferred, flat, 0, op);
    values = flat;
    // an empty list is float32, as torch.tensor([])
    inferredInt = opts.dtype === undefined && flat.length > 0 && flat.every(Number.isInteger);
    dtype = opts.dtype === undefined ? (inferredInt ? 'int32' : 'float32') : checkDType(opts.dtype, op);
    shape = opts.shape ?? inferred;
  }
  checkShape(shape, op, opts.shape ? 'shape' : 'data');
  if (numel(shape) !== values.length) {
    throw new ShapeError(`${op}: shape ${fmtShape(shape)} is invalid for input of size ${values.length}`);
  }
  checkAllocation(dtype, values.length, op);
  let flat: TypedArray;
  try {
    flat = castArray(values, dtype, op);
  } catch (e) {
    // integer data becomes int32 when no dtype is given (int64 in torch, which we do not have)
    if (inferredInt && e instanceof OverflowError) throw new OverflowError(`${e.message}; integer data becomes int32 unless a dtype is given, e.g. { dtype: 'float64' }`);
    throw e;
  }
  return finish(flat, shape, opts);
}

const FLOAT32_MAX = 3.4028234663852886e38;

/** A fill value as `dtype` holds it: int32 truncates (and refuses what does not fit); float32 refuses finite values past its range, as torch.full does. */
function fillValue(value: unknown, dtype: DType, op: string): number {
  const v = checkNumber(value, op, 'fillValue');
  if (dtype === 'int32') return toInt32(v, op, " (argument 'fillValue')");
  if (dtype === 'float32' && Number.isFinite(v) && Math.abs(v) > FLOAT32_MAX && !Number.isFinite(Math.fround(v))) {
    throw new OverflowError(`${op}: value ${v} (argument 'fillValue') cannot be converted to float32 without overflow: float32's largest finite value is ${FLOAT32_MAX}`);
  }
  return v;
}

function filled(op: string, shape: readonly number[], value: number, options: TensorOptions | undefined): Tensor {
  const opts = checkOptions(options, op);
  const dtype = opts.dtype === undefined ? 'float32' : checkDType(opts.dtype, op);
  const v = fillValue(value, dtype, op);
  const data = allocFor(dtype, shape, op);
  if (v !== 0) data.fill(v);
  return finish(data, shape, opts);
}

export const full = (shape: readonly number[], value: number, opts?: TensorOptions): Tensor => filled('full', shape, value, opts);
export const zeros = (shape: readonly number[], opts?: TensorOptions): Tensor => filled('zeros', shape, 0, opts);
export const ones = (shape: readonly number[], opts?: TensorOptions): Tensor => filled('ones', shape, 1, opts);

/**
 * Values start, start+step, ... below end (int32 when all three are integers, as torch). The
 * count is ceil((end - start) / step); a NaN or infinite bound, a zero or non-finite step, or a
 * count past MAX_NUMEL is refused. Into int32, start and step truncate toward zero (as torch),
 * and a range whose values int32 cannot hold is an OverflowError (torch wraps around).
 */
export function arange(start: number, end?: number, step = 1, options?: TensorOptions): Tensor {
  const op = 'arange';
  const opts = checkOptions(options, op);
  checkNumber(start, op, 'start');
  if (end === undefined) {
    end = start;
    start = 0;
  }
  checkNumber(end, op, 'end');
  checkNumber(step, op, 'step');
  if (step === 0 || Number.isNaN(step)) throw new ValueError(`${op}: argument 'step' must be nonzero, but got ${step}`);
  if (!Number.isFinite(start) || !Number.isFinite(end) || !Number.isFinite(step)) {
    throw new ValueError(`${op}: unsupported range: ${start} -> ${end} with step ${step} (start, end and step must be finite)`);
  }
  if ((end - start) / step < 0) {
    throw new ValueError(`${op}: upper bound and larger bound inconsistent with step sign (start=${start}, end=${end}, step=${step})`);
  }
  const n = Math.ceil((end - start) / step);
  const allInt = [start, end, step].every(Number.isInteger);
  const dtype = opts.dtype === undefined ? (allInt ? 'int32' : 'float32') : checkDType(opts.dtype, op);
  if (n > MAX_NUMEL) {
    throw new SizeError(`${op}: the range ${start} -> ${end} with step ${step} has ${n} elements, more than a tensor may have (MAX_NUMEL = 2^31 - 1 = ${MAX_NUMEL})`);
  }
  if (dtype === 'int32') {
    const first = toInt32(start, op, " (argument 'start')");
    const s = Math.trunc(step);
    if (s === 0) throw new ValueError(`${op}: argument 'step' must be nonzero, but ${step} truncates to 0 for dtype int32`);
    if (n > 0) toInt32(first + (n - 1) * s, op, ` (the last element of the range ${start} -> ${end} with step ${step})`);
    const data = allocFor(dtype, [n], op);
    for (let i = 0; i < n; i++) data[i] = first + i * s;
    return finish(data, [n], opts);
  }
  const data = allocFor(dtype, [n], op);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return finish(data, [n], opts);
}

function floatDType(opts: TensorOptions, op: string): DType {
  const dtype = opts.dtype === undefined ? 'float32' : checkDType(opts.dtype, op);
  if (dtype === 'int32') throw new DTypeError(`${op}: argument 'dtype' must be a floating type, but got int32`);
  return dtype;
}

function generatorOf(opts: RandomOptions, op: string): Generator {
  if (opts.generator === undefined) return defaultGenerator;
  if (!(opts.generator instanceof Generator)) {
    throw new ValueError(`${op}: option 'generator' must be a Generator (new Generator(seed)), but got ${describeValue(opts.generator)}`);
  }
  return opts.generator;
}

/** Standard normal draws from the seeded generator. */
export function randn(shape: readonly number[], options?: RandomOptions): Tensor {
  const opts = checkOptions(options, 'randn');
  const g = generatorOf(opts, 'randn');
  const data = allocFor(floatDType(opts, 'randn'), shape, 'randn');
  for (let i = 0; i < data.length; i++) data[i] = g.normal();
  return finish(data, shape, opts);
}

/** Uniform draws in [0, 1). */
export function rand(shape: readonly number[], options?: RandomOptions): Tensor {
  const opts = checkOptions(options, 'rand');
  const g = generatorOf(opts, 'rand');
  const data = allocFor(floatDType(opts, 'rand'), shape, 'rand');
  for (let i = 0; i < data.length; i++) data[i] = g.uniform();
  return finish(data, shape, opts);
}

/**
 * Uniform integers in [low, high), int32 by default. For int32 the bounds must lie in
 * [-2^31, 2^31] (high is exclusive), as torch checks them against the dtype; a float dtype takes
 * any safe integers (the generator draws 53 bits, so ranges up to 2^53 are uniform).
 */
export function randint(low: number, high: number, shape: readonly number[], options?: RandomOptions): Tensor {
  const op = 'randint';
  const opts = checkOptions(options, op);
  for (const [arg, v] of [['low', low], ['high', high]] as const) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      throw new ValueError(`${op}: argument '${arg}' must be an integer (at most 2^53 in magnitude), but got ${typeof v === 'number' ? v : describeValue(v)}`);
    }
  }
  if (high <= low) throw new ValueError(`${op}: expected 'low' < 'high', but got low=${low}, high=${high}`);
  const dtype = opts.dtype === undefined ? 'int32' : checkDType(opts.dtype, op);
  if (dtype === 'int32') {
    toInt32(low, op, " (argument 'low')");
    toInt32(high - 1, op, " (argument 'high' - 1, the largest value drawn)");
  }
  const g = generatorOf(opts, op);
  const data = allocFor(dtype, shape, op);
  for (let i = 0; i < data.length; i++) data[i] = g.integer(low, high);
  return finish(data, shape, opts);
}

function checkTensor(t: unknown, op: string): Tensor {
  if (!(t instanceof Tensor)) throw new ValueError(`${op}: argument 'input' must be a Tensor, but got ${describeValue(t)}`);
  return t;
}
/** The shape and options of a `*Like` call: `t`'s dtype and device unless `options` say otherwise. */
function like(t: unknown, options: TensorOptions | undefined, op: string): [readonly number[], TensorOptions] {
  const src = checkTensor(t, op);
  return [src.shape, { dtype: src.dtype, device: src.device, ...checkOptions(options, op) }];
}
export function zerosLike(t: Tensor, opts?: TensorOptions): Tensor {
  const [shape, o] = like(t, opts, 'zerosLike');
  return filled('zerosLike', shape, 0, o);
}
export function onesLike(t: Tensor, opts?: TensorOptions): Tensor {
  const [shape, o] = like(t, opts, 'onesLike');
  return filled('onesLike', shape, 1, o);
}
export function fullLike(t: Tensor, value: number, opts?: TensorOptions): Tensor {
  const [shape, o] = like(t, opts, 'fullLike');
  return filled('fullLike', shape, value, o);
}
export function randnLike(t: Tensor, opts?: RandomOptions): Tensor {
  const [shape, o] = like(t, opts, 'randnLike');
  return randn(shape, o);
}
export function randLike(t: Tensor, opts?: RandomOptions): Tensor {
  const [shape, o] = like(t, opts, 'randLike');
  return rand(shape, o);
}
