// Joining and indexing: cat, stack, gather, indexSelect.
import { promoteTypes } from '../../core/dtype.js';
import { DTypeError, ShapeError, ValueError, fmtShape } from '../../core/errors.js';
import { normalizeDim } from '../../core/shape.js';
import type { Tensor } from '../../core/tensor.js';
import { record } from '../graph.js';
import { run1 } from './dispatch.js';
import { contiguous, expand, narrow, reshape, toDtype, unsqueeze } from './views.js';

/** Concatenate along `dim`; the backward hands each input its slab of the gradient. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new ValueError("cat: argument 'tensors' must be a non-empty list of tensors");
  const first = tensors[0] as Tensor;
  const d = normalizeDim(dim, first.ndim, 'cat');
  tensors.forEach((t, i) => {
    if (t.ndim === 0) throw new ShapeError(`cat: zero-dimensional tensor (at position ${i}) cannot be concatenated`);
    const ok = t.ndim === first.ndim && t.shape.every((s, k) => k === d || s === first.shape[k]);
    if (!ok) {
      throw new ShapeError(`cat: sizes of tensors must match except in dimension ${d}: tensor 0 has shape ${fmtShape(first.shape)} but tensor ${i} has shape ${fmtShape(t.shape)}`);
    }
  });
  const dtype = tensors.map((t) => t.dtype).reduce(promoteTypes);
  const inputs = tensors.map((t) => toDtype(t, dtype));
  const out = run1('cat', inputs, { dim: d });
  return record(out, 'cat', inputs, (g) => {
    let start = 0;
    return inputs.map((t) => {
      const part = narrow(g, d, start, t.shape[d]);
      start += t.shape[d];
      return part;
    });
  }, []);
}

/** Stack along a new dim `dim`. */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new ValueError("stack: argument 'tensors' must be a non-empty list of tensors");
  const first = tensors[0] as Tensor;
  tensors.forEach((t, i) => {
    if (t.shape.length !== first.ndim || t.shape.some((s, k) => s !== first.shape[k])) {
      throw new ShapeError(`stack: expects each tensor to be equal size, but got ${fmtShape(first.shape)} at entry 0 and ${fmtShape(t.shape)} at entry ${i}`);
    }
  });
  const d = normalizeDim(dim, first.ndim + 1, 'stack');
  return cat(
    tensors.map((t) => unsqueeze(t, d)),
    d,
  );
}

/**
 * gather(x, dim, index): out[..., j, ...] = x[..., index[..., j, ...], ...] along `dim`; index
 * is int32 with x's shape except along dim. Backward scatter-adds into zeros of x's shape.
 */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  const d = normalizeDim(dim, x.ndim, 'gather');
  if (index.dtype !== 'int32') throw new DTypeError(`gather: argument 'index' must be an int32 tensor, but got ${index.dtype}`);
  if (index.ndim !== x.ndim || index.shape.some((s, k) => k !== d && s !== x.shape[k])) {
    throw new ShapeError(`gather: argument 'index' has shape ${fmtShape(index.shape)}, expected the shape of 'input' ${fmtShape(x.shape)} except in dimension ${d}`);
  }
  const idx = contiguous(index);
  let out: Tensor;
  try {
    out = run1('gather', [contiguous(x), idx], { dim: d });
  } catch (e) {
    if (e instanceof RangeError) throw new ValueError(`gather: ${e.message} (dim ${d} of 'input' with shape ${fmtShape(x.shape)})`);
    throw e;
  }
  // the index is read by backward: writing into it (or into the caller's index it may be) would misroute the gradient
  return record(out, 'gather', [x], (g) => [run1('gatherBackward', [contiguous(g), idx], { dim: d, shape: x.shape })], [idx]);
}

/** indexSelect(x, dim, index): the slices x[..., index[j], ...] for a 1-D int32 index. */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  const d = normalizeDim(dim, x.ndim, 'indexSelect');
  if (index.ndim !== 1) throw new ShapeError(`indexSelect: argument 'index' must be 1-D, but got shape ${fmtShape(index.shape)}`);
  const shape = [...x.shape];
  shape[d] = index.shape[0];
  const view = x.shape.map((_, k) => (k === d ? index.shape[0] : 1));
  return gather(x, d, contiguous(expand(reshape(index, view), shape)));
}
