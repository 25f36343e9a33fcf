// Pooling ops (torch.nn.functional names and defaults): maxPool2d (+ indices), avgPool2d,
// adaptiveAvgPool2d. Each forward runs one kernel and records the matching backward kernel.
import type { PoolGeometry } from '../../kernels/geometry.js';
import { assertFloat } from '../../core/dtype.js';
import { ShapeError, ValueError, fmtShape } from '../../core/errors.js';
import type { Tensor } from '../../core/tensor.js';
import { record } from '../../autograd/graph.js';
import { run1, runKernel } from '../../autograd/ops/dispatch.js';
import { contiguous, squeeze, unsqueeze } from '../../autograd/ops/views.js';
import { type IntPair, pair } from './conv.js';

/**
 * PyTorch's pooling output size: ⌊(in + 2p − d(k−1) − 1 (+ s − 1 if ceil)) / s⌋ + 1, and with
 * ceilMode the last window must start inside the input or its left padding.
 */
export function poolOutputSize(inSize: number, k: number, s: number, p: number, d: number, ceilMode: boolean): number {
  let out = Math.floor((inSize + 2 * p - d * (k - 1) - 1 + (ceilMode ? s - 1 : 0)) / s) + 1;
  if (ceilMode && (out - 1) * s >= inSize + p) out--;
  return out;
}

/** Shared checks: a non-empty 3D/4D float input; returns it as 4D and whether it was batched. */
function batched(x: Tensor, op: string): [Tensor, boolean] {
  if ((x.ndim !== 3 && x.ndim !== 4) || x.shape.slice(1).some((s) => s === 0)) {
    throw new ShapeError(`${op}: expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, but got: ${fmtShape(x.shape)}`);
  }
  assertFloat(x.dtype, op);
  return x.ndim === 4 ? [x, true] : [unsqueeze(x, 0), false];
}

function poolGeometry(x: Tensor, kernelSize: IntPair, stride: IntPair | undefined, padding: IntPair, dilation: IntPair, ceilMode: boolean, op: string): PoolGeometry {
  const [kh, kw] = pair(kernelSize, op, 'kernelSize', 1, 'kernel size should be greater than zero');
  const [sh, sw] = pair(stride ?? [kh, kw], op, 'stride', 1, 'stride should be greater than zero');
  const [ph, pw] = pair(padding, op, 'padding', 0, 'negative padding is not supported');
  const [dh, dw] = pair(dilation, op, 'dilation', 1, 'dilation should be greater than zero');
  if (ph > Math.floor(kh / 2) || pw > Math.floor(kw / 2)) {
    throw new ValueError(`${op}: pad should be smaller than or equal to half of kernel size, but got padding=${fmtShape([ph, pw])}, kernelSize=${fmtShape([kh, kw])}`);
  }
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const oh = poolOutputSize(h, kh, sh, ph, dh, ceilMode);
  const ow = poolOutputSize(w, kw, sw, pw, dw, ceilMode);
  if (oh < 1 || ow < 1) {
    throw new ShapeError(`${op}: given input size: (${c}x${h}x${w}). Calculated output size: (${c}x${oh}x${ow}). Output size is too small`);
  }
  return { planes: n * c, h, w, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw };
}

export interface MaxPool2dOptions {
  /** Defaults to kernelSize. */
  stride?: IntPair;
  padding?: IntPair;
  dilation?: IntPair;
  ceilMode?: boolean;
}

/** Max pooling that also returns the int32 indices of the maxima (flat h·W + w within each plane). */
export function maxPool2dWithIndices(input: Tensor, kernelSize: IntPair, opts: MaxPool2dOptions = {}): [Tensor, Tensor] {
  const op = 'maxPool2d';
  const [x4, isBatched] = batched(input, op);
  const p = poolGeometry(x4, kernelSize, opts.stride, opts.padding ?? 0, opts.dilation ?? 1, opts.ceilMode ?? false, op);
  const [y, idx] = runKernel('maxPool2d', [contiguous(x4)], { geom: p }) as [Tensor, Tensor];
  // backward reads only the indices (which the caller also gets and could write into)
  record(y, op, [x4], (g) => [run1('maxPool2dBackward', [contiguous(g), idx], { geom: p, inputShape: x4.shape })], [idx]);
  return isBatched ? [y, idx] : [squeeze(y, 0), squeeze(idx, 0)];
}

export function maxPool2d(input: Tensor, kernelSize: IntPair, opts: MaxPool2dOptions = {}): Tensor {
  return maxPool2dWithIndices(input, kernelSize, opts)[0];
}

export interface AvgPool2dOptions {
  /** Defaults to kernelSize. */
  stride?: IntPair;
  padding?: IntPair;
  ceilMode?: boolean;
  /** Count the zero padding in the divisor (default true, as torch). */
  countIncludePad?: boolean;
  /** Divide every window by this number instead. */
  divisorOverride?: number | null;
}

export function avgPool2d(input: Tensor, kernelSize: IntPair, opts: AvgPool2dOptions = {}): Tensor {
  const op = 'avgPool2d';
  const [x4, isBatched] = batched(input, op);
  const p = poolGeometry(x4, kernelSize, opts.stride, opts.padding ?? 0, 1, opts.ceilMode ?? false, op);
  const d = opts.divisorOverride ?? 0;
  if (opts.divisorOverride !== undefined && opts.divisorOverride !== null && (d === 0 || !Number.isInteger(d))) {
    throw new ValueError(`${op}: divisor must be a non-zero integer, but got divisorOverride=${d}`);
  }
  const options = { countIncludePad: opts.countIncludePad ?? true, divisorOverride: d };
  const y = run1('avgPool2d', [contiguous(x4)], { geom: p, options });
  record(y, op, [x4], (g) => [run1('avgPool2dBackward', [contiguous(g)], { geom: p, options, inputShape: x4.shape })]);
  return isBatched ? y : squeeze(y, 0);
}

/** Output size as a number or [h, w]; null keeps that input dim (as None in torch). */
export type AdaptiveSize = number | readonly [number | null, number | null];

/** Average over adaptive windows [⌊o·In/Out⌋, ⌈(o+1)·In/Out⌉) so the output is exactly outputSize. */
export function adaptiveAvgPool2d(input: Tensor, outputSize: AdaptiveSize): Tensor {
  const op = 'adaptiveAvgPool2d';
  const [x4, isBatched] = batched(input, op);
  const [h, w] = x4.shape.slice(2) as [number, number];
  const [rh, rw] = typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize;
  const oh = rh ?? h;
  const ow = rw ?? w;
  if (!Number.isInteger(oh) || !Number.isInteger(ow) || oh < 1 || ow < 1) {
    throw new ValueError(`${op}: argument 'outputSize' must be positive integers (or null), but got ${JSON.stringify(outputSize)}`);
  }
  const y = run1('adaptiveAvgPool2d', [contiguous(x4)], { oh, ow });
  record(y, op, [x4], (g) => [run1('adaptiveAvgPool2dBackward', [contiguous(g)], { inputShape: x4.shape })]);
  return isBatched ? y : squeeze(y, 0);
}
