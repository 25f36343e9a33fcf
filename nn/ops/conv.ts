// F.conv2d: checks the arguments as PyTorch does, works out the geometry, runs the backend's
// conv kernels and records the backward (dX by col2im of Wᵀ·dY, dW by dY·colsᵀ, db by a sum;
// the derivation sits with the kernels in kernels/cpu/conv2d.ts).
import type { ConvGeometry } from '../../kernels/geometry.js';
import { assertFloat } from '../../core/dtype.js';
import { DTypeError, ShapeError, ValueError, fmtShape } from '../../core/errors.js';
import type { Tensor } from '../../core/tensor.js';
import { record } from '../../autograd/graph.js';
import { run1 } from '../../autograd/ops/dispatch.js';
import { contiguous, squeeze, unsqueeze } from '../../autograd/ops/views.js';

export type IntPair = number | readonly [number, number];

/** A number or [h, w] pair as [h, w], each an integer >= min (PyTorch's messages on failure). */
export function pair(v: IntPair, op: string, arg: string, min: number, what: string): [number, number] {
  const ok = typeof v === 'number' || (Array.isArray(v) && v.length === 2);
  if (!ok) throw new ValueError(`${op}: argument '${arg}' must be an int or a pair of ints, but got ${JSON.stringify(v)}`);
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  for (const k of p) {
    if (!Number.isInteger(k)) throw new ValueError(`${op}: argument '${arg}' must contain integers, but got ${fmtShape(p)}`);
    if (k < min) throw new ValueError(`${op}: ${what}, but got ${arg}=${fmtShape(p)}`);
  }
  return p;
}

export interface Conv2dOptions {
  stride?: IntPair;
  /** Zero padding: per side [h, w], or 'valid' (none) or 'same' (output size = input size; stride 1 only). */
  padding?: IntPair | 'same' | 'valid';
  dilation?: IntPair;
  groups?: number;
}

/** Validate conv2d's arguments and return the geometry of the (batched) call. */
export function conv2dGeometry(xShape: readonly number[], wShape: readonly number[], opts: Conv2dOptions, op = 'conv2d'): ConvGeometry {
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups)) throw new ValueError(`${op}: argument 'groups' must be an integer, but got ${groups}`);
  if (groups <= 0) throw new ValueError(`${op}: non-positive groups is not supported, but got groups=${groups}`);
  const [sh, sw] = pair(opts.stride ?? 1, op, 'stride', 1, 'non-positive stride is not supported');
  const [dh, dw] = pair(opts.dilation ?? 1, op, 'dilation', 1, 'dilation should be greater than zero');
  if (wShape.length !== 4) {
    throw new ShapeError(`${op}: expected 4-dimensional weight for 4-dimensional input ${fmtShape(xShape)}, but got ${wShape.length}-dimensional weight of size ${fmtShape(wShape)} instead`);
  }
  const [n, c, h, w] = xShape as [number, number, number, number];
  const [o, cg, kh, kw] = wShape as [number, number, number, number];
  if (c % groups !== 0) {
    throw new ShapeError(`${op}: input channels (${c}) must be divisible by groups (${groups}); input of size ${fmtShape(xShape)}`);
  }
  if (o % groups !== 0) {
    throw new ShapeError(`${op}: given groups=${groups}, expected weight to be divisible by ${groups} at dimension 0, but got weight of size ${fmtShape(wShape)} instead`);
  }
  if (cg * groups !== c) {
    throw new ShapeError(`${op}: given groups=${groups}, weight of size ${fmtShape(wShape)}, expected input ${fmtShape(xShape)} to have ${cg * groups} channels, but got ${c} channels instead`);
  }
  // Per-side padding [top, bottom, left, right]. 'same': total d·(k−1), the odd one extra at the end.
  let pt: number, pb: number, pl: number, pr: number;
  const padding = opts.padding ?? 0;
  if (padding === 'valid') [pt, pb, pl, pr] = [0, 0, 0, 0];
  else if (padding === 'same') {
    if (sh !== 1 || sw !== 1) throw new ValueError(`${op}: padding='same' is not supported for strided convolutions (stride=${fmtShape([sh, sw])})`);
    const th = dh * (kh - 1);
    const tw = dw * (kw - 1);
    [pt, pb, pl, pr] = [Math.floor(th / 2), th - Math.floor(th / 2), Math.floor(tw / 2), tw - Math.floor(tw / 2)];
  } else if (typeof padding === 'string') {
    throw new ValueError(`${op}: invalid padding string '${padding}', should be one of {'valid', 'same'}`);
  } else {
    const [ph, pw] = pair(padding, op, 'padding', 0, 'negative padding is not supported');
    [pt, pb, pl, pr] = [ph, ph, pw, pw];
  }
  const effH = dh * (kh - 1) + 1;
  const effW = dw * (kw - 1) + 1;
  const paddedH = h + pt + pb;
  const paddedW = w + pl + pr;
  if (paddedH < effH || paddedW < effW) {
    throw new ShapeError(
      `${op}: calculated padded input size per channel: (${paddedH} x ${paddedW}). Kernel size: (${effH} x ${effW}). Kernel size can't be greater than actual input size`,
    );
  }
  const oh = Math.floor((paddedH - effH) / sh) + 1;
  const ow = Math.floor((paddedW - effW) / sw) + 1;
  return { n, c, h, w, o, kh, kw, sh, sw, pt, pl, dh, dw, groups, oh, ow };
}

/**
 * conv2d(input [N, C, H, W] or [C, H, W], weight [O, C/groups, kh, kw], bias [O] | null, opts)
 * as torch.nn.functional.conv2d.
 */
export function conv2d(input: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  return convolve('conv2d', input, weight, bias, opts, false);
}

/**
 * relu(conv2d(input, weight, bias, opts)) with the ReLU fused into the convolution's write-back:
 * one pass over y instead of two (not in torch.nn.functional, which composes the two). Backward:
 * dy = g·[y > 0], then conv2d's backward.
 */
export function conv2dRelu(input: Tensor, weight: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  return convolve('conv2dRelu', input, weight, bias, opts, true);
}

function convolve(op: string, input: Tensor, weight: Tensor, bias: Tensor | null, opts: Conv2dOptions, relu: boolean): Tensor {
  if (input.ndim !== 3 && input.ndim !== 4) {
    throw new ShapeError(`${op}: expected 3D (unbatched) or 4D (batched) input, but got input of size: ${fmtShape(input.shape)}`);
  }
  if (input.ndim === 3) return squeeze(convolve(op, unsqueeze(input, 0), weight, bias, opts, relu), 0);
  assertFloat(input.dtype, op, 'input');
  if (weight.dtype !== input.dtype) {
    throw new DTypeError(`${op}: input type (${input.dtype}) and weight type (${weight.dtype}) should be the same`);
  }
  const p = conv2dGeometry(input.shape, weight.shape, opts, op);
  if (bias) {
    if (bias.ndim !== 1 || bias.shape[0] !== p.o) {
      throw new ShapeError(`${op}: given weight of size ${fmtShape(weight.shape)}, expected bias to be 1-dimensional with ${p.o} elements, but got bias of size ${fmtShape(bias.shape)} instead`);
    }
    if (bias.dtype !== input.dtype) throw new DTypeError(`${op}: input type (${input.dtype}) and bias type (${bias.dtype}) should be the same`);
  }
  const attrs = { geom: p };
  const x = contiguous(input);
  const w = contiguous(weight);
  const b = bias ? contiguous(bias) : null;
  const y = run1('conv2d', b ? [x, w, b] : [x, w], relu ? { geom: p, relu } : attrs);
  const inputs = bias ? [input, weight, bias] : [input, weight];
  return record(
    y,
    op,
    inputs,
    (g) => {
      // after the fused ReLU: dy = g·[y > 0], relu's mask read off its output (a NaN passes g)
      const dy = contiguous(relu ? run1('binary', [y, g], { op: 'reluBackward', dtype: g.dtype }) : g);
      return [
        input.requiresGrad ? run1('conv2dBackwardInput', [dy, w], attrs) : null,
        weight.requiresGrad ? run1('conv2dBackwardWeight', [dy, x], attrs) : null,
        bias?.requiresGrad ? run1('conv2dBackwardBias', [dy], attrs) : null,
      ];
    },
    relu ? [...inputs, y] : inputs,
  );
}
