// Views: new shape/strides/offset over the same storage, no data copied. Each backward maps
// the output's gradient back onto the input's shape.
import { type Device, getBackend } from '../../core/backend.js';
import { type DType, isDType, isFloat } from '../../core/dtype.js';
import { DTypeError, ShapeError, ValueError, fmtShape } from '../../core/errors.js';
import { checkShape, contiguousStrides, normalizeDim, numel } from '../../core/shape.js';
import { Tensor } from '../../core/tensor.js';
import { record, recordView } from '../graph.js';
import { makeView, run1, sumToShape } from './dispatch.js';

/** Resolve one -1 in a requested shape. */
function inferSize(shape: readonly number[], total: number, op: string): number[] {
  const out = [...shape];
  const neg = out.indexOf(-1);
  if (out.lastIndexOf(-1) !== neg) throw new ValueError(`${op}: only one dimension can be inferred (-1), got ${fmtShape(shape)}`);
  if (neg >= 0) {
    out[neg] = 1;
    checkShape(out, op);
    const known = numel(out);
    if (known === 0 || total % known !== 0) {
      throw new ShapeError(`${op}: shape ${fmtShape(shape)} is invalid for input of size ${total}`);
    }
    out[neg] = total / known;
  }
  checkShape(out, op);
  if (numel(out) !== total) throw new ShapeError(`${op}: shape ${fmtShape(shape)} is invalid for input of size ${total}`);
  return out;
}

/** view: reinterpret contiguous data with a new shape (error on strided data, as torch). */
export function view(x: Tensor, shape: readonly number[]): Tensor {
  const target = inferSize(shape, x.numel(), 'view');
  if (!x.isContiguous()) {
    throw new ShapeError(
      `view: size ${fmtShape(target)} is not compatible with the input's shape ${fmtShape(x.shape)} and strides ${fmtShape(x.strides)} ` +
        '(the data is not contiguous); use reshape(...) instead, which copies',
    );
  }
  const out = makeView(x, target, contiguousStrides(target), x.offset);
  return recordView(out, 'view', x, (g) => [reshape(g, x.shape)]);
}

/** reshape: a view when the data is contiguous, otherwise a contiguous copy first. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  inferSize(shape, x.numel(), 'reshape');
  return view(x.isContiguous() ? x : contiguous(x), shape);
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normalizeDim(startDim, x.ndim, 'flatten', 'startDim');
  const e = normalizeDim(endDim, x.ndim, 'flatten', 'endDim');
  if (s > e) throw new ValueError(`flatten: 'startDim' (${startDim}) cannot come after 'endDim' (${endDim})`);
  const shape = [...x.shape.slice(0, s), numel(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)];
  return reshape(x, shape);
}

/** A contiguous tensor with the same values (x itself when already contiguous). */
export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous()) return x;
  return record(run1('copy', [x]), 'contiguous', [x], (g) => [g], []);
}

/** A copy with its own storage; gradient flows through unchanged. */
export function clone(x: Tensor): Tensor {
  return record(run1('copy', [x]), 'clone', [x], (g) => [g], []);
}

/** The same data, cut from the graph. */
export function detach(x: Tensor): Tensor {
  return makeView(x, x.shape, x.strides, x.offset);
}

/** Convert to another dtype; the gradient is converted back. */
export function toDtype(x: Tensor, dtype: DType): Tensor {
  if (!isDType(dtype)) throw new DTypeError(`to: argument 'dtype' must be float32, float64 or int32, but got ${String(dtype)}`);
  if (x.dtype === dtype) return x;
  const out = run1('copy', [x], { dtype });
  if (!isFloat(dtype)) return out; // an int32 result carries no gradient (torch: requires_grad=False)
  return record(out, 'toDtype', [x], (g) => [run1('copy', [g], { dtype: x.dtype })], []);
}

/** Move to another device: upload, or read back synchronously; the gradient moves back. */
export function toDevice(x: Tensor, device: Device): Tensor {
  if (x.device === device) return x;
  const out = Tensor.fromArray(x.toArray(), x.shape, getBackend(device));
  return record(out, 'toDevice', [x], (g) => [toDevice(g, x.device)], []);
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  if (dims.length !== x.ndim) {
    throw new ShapeError(`permute: number of dims don't match: input has ${x.ndim} dims, 'dims' has ${dims.length} (${fmtShape(dims)})`);
  }
  const norm = dims.map((d) => normalizeDim(d, x.ndim, 'permute', 'dims'));
  if (new Set(norm).size !== norm.length) throw new ValueError(`permute: repeated dim in 'dims' ${fmtShape(dims)}`);
  const out = makeView(
    x,
    norm.map((d) => x.shape[d]),
    norm.map((d) => x.strides[d]),
    x.offset,
  );
  const inverse = new Array<number>(norm.length);
  norm.forEach((d, i) => {
    inverse[d] = i;
  });
  return recordView(out, 'permute', x, (g) => [permute(g, inverse)]);
}

export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  if (x.ndim === 0) return x;
  const a = normalizeDim(dim0, x.ndim, 'transpose', 'dim0');
  const b = normalizeDim(dim1, x.ndim, 'transpose', 'dim1');
  const dims = x.shape.map((_, i) => i);
  dims[a] = b;
  dims[b] = a;
  return permute(x, dims);
}

/** Matrix transpose of a ≤2-D tensor (torch's .t()). */
export function t(x: Tensor): Tensor {
  if (x.ndim > 2) throw new ShapeError(`t: expects a tensor with <= 2 dimensions, but input has ${x.ndim}`);
  return x.ndim < 2 ? x : transpose(x, 0, 1);
}

/** Broadcast to a bigger shape with stride 0 (no copy); -1 keeps a size. Backward sums. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const lead = shape.length - x.ndim;
  if (lead < 0) {
    throw new ShapeError(`expand: the number of sizes provided (${shape.length}) must be greater or equal to the number of dimensions in the tensor (${x.ndim})`);
  }
  const target: number[] = [];
  const strides: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    const want = shape[d];
    if (d < lead) {
      if (want < 0) throw new ValueError(`expand: the expanded size ${want} is not allowed in a leading, non-existing dimension ${d}`);
      target.push(want);
      strides.push(0);
      continue;
    }
    const have = x.shape[d - lead];
    const size = want === -1 ? have : want;
    if (size !== have && have !== 1) {
      throw new ShapeError(
        `expand: the expanded size of the tensor (${size}) must match the existing size (${have}) at non-singleton dimension ${d}. Target sizes: ${fmtShape(shape)}. Tensor sizes: ${fmtShape(x.shape)}`,
      );
    }
    target.push(size);
    strides.push(size !== have ? 0 : x.strides[d - lead]);
  }
  checkShape(target, 'expand');
  const out = makeView(x, target, strides, x.offset);
  return recordView(out, 'expand', x, (g) => [sumToShape(g, x.shape, x.dtype)]);
}

export function expandAs(x: Tensor, other: Tensor): Tensor {
  return expand(x, other.shape);
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  const d = normalizeDim(dim, x.ndim + 1, 'unsqueeze');
  const shape = [...x.shape];
  const strides = [...x.strides];
  shape.splice(d, 0, 1);
  strides.splice(d, 0, d < x.ndim ? x.strides[d] * x.shape[d] : 1);
  return recordView(makeView(x, shape, strides, x.offset), 'unsqueeze', x, (g) => [reshape(g, x.shape)]);
}

/** Drop size-1 dims (all of them, or only `dim` if it has size 1). */
export function squeeze(x: Tensor, dim?: number): Tensor {
  const drop =
    dim === undefined
      ? x.shape.map((s) => s === 1)
      : x.shape.map((s, i) => i === normalizeDim(dim, x.ndim, 'squeeze') && s === 1);
  const shape = x.shape.filter((_, i) => !drop[i]);
  const strides = x.strides.filter((_, i) => !drop[i]);
  return recordView(makeView(x, shape, strides, x.offset), 'squeeze', x, (g) => [reshape(g, x.shape)]);
}

/**
 * x[..., start:end:step, ...] along `dim`, with Python's clamping and negative indices.
 * Backward scatters the gradient back into zeros of the input's shape.
 */
export function slice(x: Tensor, dim: number, start = 0, end?: number, step = 1): Tensor {
  const d = normalizeDim(dim, x.ndim, 'slice');
  if (!Number.isInteger(step) || step <= 0) throw new ValueError(`slice: argument 'step' must be a positive integer, but got ${step}`);
  const n = x.shape[d];
  const clamp = (i: number): number => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
  const s = clamp(start);
  const e = Math.max(clamp(end ?? n), s);
  const len = Math.ceil((e - s) / step);
  const shape = [...x.shape];
  shape[d] = len;
  const strides = [...x.strides];
  strides[d] = x.strides[d] * step;
  const out = makeView(x, shape, strides, x.offset + s * x.strides[d]);
  // Where the slice sits inside a contiguous tensor of x's shape: the adjoint scatters there.
  const cs = contiguousStrides(x.shape);
  const gStrides = [...cs];
  gStrides[d] = cs[d] * step;
  return recordView(out, 'slice', x, (g) => [run1('scatterView', [g], { shape: x.shape, strides: gStrides, offset: s * cs[d] })]);
}

/** torch.narrow: `length` elements from `start` along `dim` (strict bounds). */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  const d = normalizeDim(dim, x.ndim, 'narrow');
  const n = x.shape[d];
  const s = start < 0 ? start + n : start;
  if (!Number.isInteger(length) || length < 0 || s < 0 || s + length > n) {
    throw new ValueError(`narrow: start (${start}) + length (${length}) exceeds dimension size (${n}) of dim ${dim}`);
  }
  return slice(x, d, s, s + length);
}

/** Index one position along `dim`, removing that dim (x[:, i] style). */
export function select(x: Tensor, dim: number, index: number): Tensor {
  const d = normalizeDim(dim, x.ndim, 'select');
  const n = x.shape[d];
  if (!Number.isInteger(index) || index < -n || index >= n) {
    throw new ValueError(`select: index ${index} out of range for tensor of size ${fmtShape(x.shape)} at dimension ${dim}`);
  }
  const i = index < 0 ? index + n : index;
  return squeeze(slice(x, d, i, i + 1), d);
}
