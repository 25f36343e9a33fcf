// Reductions. sum's backward broadcasts the gradient back over the reduced dims; mean and var
// are written in terms of sum, so their gradients come from the chain rule.
import { assertFloat } from '../../core/dtype.js';
import { ValueError, fmtShape } from '../../core/errors.js';
import { normalizeDim } from '../../core/shape.js';
import { Tensor } from '../../core/tensor.js';
import { record } from '../graph.js';
import { run1 } from './dispatch.js';
import { div, eq, mul, sub, where } from './elementwise.js';
import { contiguous, expand, reshape } from './views.js';

export type Dims = number | readonly number[] | undefined;

/** Normalised, sorted, unique dims; undefined means all. */
function resolveDims(x: Tensor, dim: Dims, op: string): number[] {
  // An empty list means every dim, as torch 1.13's sum(dim=[]) does.
  if (dim === undefined || (typeof dim !== 'number' && dim.length === 0)) return x.shape.map((_, i) => i);
  const list = typeof dim === 'number' ? [dim] : [...dim];
  const out = [...new Set(list.map((d) => normalizeDim(d, x.ndim, op)))].sort((a, b) => a - b);
  return out;
}

function keptShape(x: Tensor, dims: readonly number[], keepdim: boolean): number[] {
  return keepdim ? x.shape.map((s, i) => (dims.includes(i) ? 1 : s)) : x.shape.filter((_, i) => !dims.includes(i));
}

/** A reduction kernel result (keepdim layout) viewed with or without the reduced dims. */
function reduceKernel(op: 'sum' | 'max' | 'min', x: Tensor, dims: number[], keepdim: boolean): Tensor {
  if (x.ndim === 0) return run1('copy', [x]);
  const r = run1('reduce', [x], { op, dims });
  return new Tensor(r.storage, keptShape(x, dims, keepdim));
}

/** Σ over `dim` (all dims by default). Backward: every input element gets the output's gradient. */
export function sum(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  const dims = resolveDims(x, dim, 'sum');
  const out = reduceKernel('sum', x, dims, keepdim);
  return record(out, 'sum', [x], (g) => [expand(reshape(g, keptShape(x, dims, true)), x.shape)], []);
}

/** Σ x / n over `dim`. */
export function mean(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  assertFloat(x.dtype, 'mean');
  const dims = resolveDims(x, dim, 'mean');
  const n = dims.reduce((p, d) => p * x.shape[d], 1);
  return div(sum(x, dims, keepdim), n);
}

/**
 * max/min over `dim` (values only; use argmax for indices). The gradient is shared evenly by
 * all elements equal to the extremum, as torch.amax does.
 */
function extremum(op: 'max' | 'min', x: Tensor, dim: Dims, keepdim: boolean): Tensor {
  const dims = resolveDims(x, dim, op);
  if (dims.some((d) => x.shape[d] === 0)) {
    throw new ValueError(`${op}: cannot reduce over a dimension of size 0 (input shape ${fmtShape(x.shape)}): the reduction has no identity`);
  }
  const out = reduceKernel(op, x, dims, keepdim);
  return record(out, op, [x], (g) => {
    const shape = keptShape(x, dims, true);
    const hit = eq(x, expand(reshape(out, shape), x.shape));
    const count = sum(hit, dims, true);
    const share = div(reshape(g, shape), count);
    return [where(hit, expand(share, x.shape), 0)];
  }, [x, out]);
}
export const max = (x: Tensor, dim?: Dims, keepdim = false): Tensor => extremum('max', x, dim, keepdim);
export const min = (x: Tensor, dim?: Dims, keepdim = false): Tensor => extremum('min', x, dim, keepdim);

export interface VarOptions {
  /** Divide by n - 1 (Bessel's correction); torch's default. */
  unbiased?: boolean;
  keepdim?: boolean;
}

/** Var = Σ (x - mean)² / (n - 1) (or / n when unbiased is false). */
export function variance(x: Tensor, dim?: Dims, opts: VarOptions = {}): Tensor {
  assertFloat(x.dtype, 'var');
  const dims = resolveDims(x, dim, 'var');
  const n = dims.reduce((p, d) => p * x.shape[d], 1);
  const centered = sub(x, mean(x, dims, true));
  const ss = sum(mul(centered, centered), dims, opts.keepdim ?? false);
  return div(ss, Math.max(n - (opts.unbiased === false ? 0 : 1), 0));
}

/** Index of the largest value along `dim` (of the flattened tensor when dim is undefined). */
function argReduce(op: 'argmax' | 'argmin', x: Tensor, dim: number | undefined, keepdim: boolean): Tensor {
  if (x.numel() === 0) throw new ValueError(`${op}: expected a non-empty tensor, but got shape ${fmtShape(x.shape)}`);
  if (dim === undefined) {
    const flat = reshape(contiguous(x), [x.numel()]);
    const r = run1('argReduce', [flat], { op, dim: 0 });
    return new Tensor(r.storage, keepdim ? x.shape.map(() => 1) : []);
  }
  const d = normalizeDim(dim, x.ndim, op);
  const r = run1('argReduce', [contiguous(x)], { op, dim: d });
  return new Tensor(r.storage, keptShape(x, [d], keepdim));
}
export const argmax = (x: Tensor, dim?: number, keepdim = false): Tensor => argReduce('argmax', x, dim, keepdim);
export const argmin = (x: Tensor, dim?: number, keepdim = false): Tensor => argReduce('argmin', x, dim, keepdim);
