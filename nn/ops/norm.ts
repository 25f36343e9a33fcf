// F.batchNorm, F.layerNorm, F.instanceNorm, F.groupNorm: one fused kernel pair (normForward /
// normBackward, kernels/cpu/norm.ts) with four layouts, plus PyTorch 1.13's argument checks and
// running-statistics updates. Each norm reads x as [N, C, S]:
//   batch     x [N, C, *]          statistics per channel (over the batch and space)
//   layer     x [*, K…] → [M, K, 1]  statistics per row of the normalizedShape's K elements
//   instance  x [N, C, *]          statistics per (sample, channel)
//   group     x [N, C, *]          statistics per (sample, group of C/G channels)
// In eval mode (BatchNorm, InstanceNorm with running stats) the statistics are fixed per
// channel, i.e. laid out as 'batch', and the backward drops the terms through μ and σ².
// The composed versions at the end build the same maths from primitive ops; tests use them
// to cross-check the fused backward.
import { assertFloat } from '../../core/dtype.js';
import { DTypeError, ShapeError, ValueError, fmtShape } from '../../core/errors.js';
import { numel, shapesEqual } from '../../core/shape.js';
import type { Tensor } from '../../core/tensor.js';
import type { NormLayout } from '../../kernels/geometry.js';
import { noGrad, record } from '../../autograd/graph.js';
import { runKernel } from '../../autograd/ops/dispatch.js';
import { add, div, mul, relu as reluOp, sqrt, sub } from '../../autograd/ops/elementwise.js';
import { mean, variance } from '../../autograd/ops/reduce.js';
import { reshape } from '../../autograd/ops/views.js';

const DEFAULT_EPS = 1e-5;

// ---- the two fused ops -------------------------------------------------------------------

/** γ and β that are present, in kernel-input order. */
const present = (...ts: (Tensor | null)[]): Tensor[] => ts.filter((t): t is Tensor => t !== null);

function affineAttrs(layout: NormLayout, eps: number, weight: Tensor | null, bias: Tensor | null, relu = false) {
  return { ...layout, eps, hasWeight: weight !== null, hasBias: bias !== null, ...(relu ? { relu } : {}) };
}

/** Gradients for [x, weight?, bias?] from the fused backward kernel. */
function normGrads(
  x: Tensor,
  g: Tensor,
  layout: NormLayout,
  stats: [Tensor, Tensor],
  eps: number,
  weight: Tensor | null,
  bias: Tensor | null,
  batchStats: boolean,
  relu: boolean,
): Tensor[] {
  // with the fused ReLU the kernel recomputes y (to mask g by y > 0), so it reads β too
  const [gx, gw, gb] = runKernel('normBackward', [x, g, ...stats, ...present(weight), ...(relu ? present(bias) : [])], {
    ...affineAttrs(layout, eps, weight, bias, relu),
    batchStats,
  }) as [Tensor, Tensor, Tensor];
  return [gx, ...(weight ? [reshape(gw, weight.shape)] : []), ...(bias ? [reshape(gb, bias.shape)] : [])];
}

/**
 * Normalise x by the statistics of its own sets; returns y (with its backward) and μ, σ² per set.
 * With relu, y = relu(norm(x)) from the same kernel pass (CPU only: batchNorm decides).
 */
function normWithBatchStats(
  op: string,
  x: Tensor,
  layout: NormLayout,
  weight: Tensor | null,
  bias: Tensor | null,
  eps: number,
  relu = false,
): { y: Tensor; mean: Tensor; variance: Tensor } {
  const params = present(weight, bias);
  const [y, mu, sigma2] = runKernel('normForward', [x, ...params], affineAttrs(layout, eps, weight, bias, relu)) as [Tensor, Tensor, Tensor];
  record(y, op, [x, ...params], (g) => normGrads(x, g, layout, [mu, sigma2], eps, weight, bias, true, relu));
  return { y, mean: mu, variance: sigma2 };
}

/** Normalise x[N, C, S] by fixed per-channel statistics (running averages). */
function normWithFixedStats(
  op: string,
  x: Tensor,
  layout: NormLayout,
  stats: [Tensor, Tensor],
  weight: Tensor | null,
  bias: Tensor | null,
  eps: number,
  relu = false,
): Tensor {
  const params = present(weight, bias);
  const y = runKernel('normApply', [x, ...stats, ...params], affineAttrs(layout, eps, weight, bias, relu))[0] as Tensor;
  // backward reads the statistics too: a running-stat update before backward must be caught
  return record(y, op, [x, ...params], (g) => normGrads(x, g, layout, stats, eps, weight, bias, false, relu), [x, ...params, ...stats]);
}

/** running ← (1 − momentum)·running + momentum·batch, in place and outside autograd. */
function updateRunning(running: Tensor, batch: Tensor, momentum: number): void {
  noGrad(() => running.assign(add(mul(running, 1 - momentum), mul(batch, momentum))));
}

// ---- argument checks ---------------------------------------------------------------------

/** A per-channel tensor (weight, bias, running stats) must hold C values; weight and bias share x's dtype. */
function checkPerChannel(op: string, arg: string, t: Tensor | null | undefined, x: Tensor, C: number, sameDtype: boolean): void {
  if (!t) return;
  if (t.numel() !== C) {
    throw new ShapeError(
      `${op}: argument '${arg}' should contain ${C} elements (one per channel of the input of shape ${fmtShape(x.shape)}), not ${t.numel()}`,
    );
  }
  checkDtype(op, arg, t, x, sameDtype);
}

function checkDtype(op: string, arg: string, t: Tensor, x: Tensor, sameDtype: boolean): void {
  if (sameDtype && t.dtype !== x.dtype) {
    throw new DTypeError(`${op}: expected '${arg}' to have the input's dtype ${x.dtype}, but got ${t.dtype}`);
  }
  if (!sameDtype) assertFloat(t.dtype, op, arg);
  if (t.device !== x.device) throw new ValueError(`${op}: '${arg}' is on '${t.device}' but the input is on '${x.device}'`);
}

/** [N, C, S] for an input [N, C, *]. */
function ncs(op: string, x: Tensor): [number, number, number] {
  assertFloat(x.dtype, op);
  if (x.ndim < 2) {
    throw new ShapeError(`${op}: expected an input of shape [N, C, *] with at least 2 dimensions, but got ${fmtShape(x.shape)}`);
  }
  return [x.shape[0], x.shape[1], numel(x.shape.slice(2))];
}

function checkEps(op: string, eps: number): void {
  if (!(eps >= 0)) throw new ValueError(`${op}: argument 'eps' must be non-negative, but got ${eps}`);
}

// ---- the four norms ----------------------------------------------------------------------

export interface BatchNormOptions {
  /** Normalise by the batch's statistics (and update the running ones); default false, as torch. */
  training?: boolean;
  /** Weight of the new batch statistics in the running averages; default 0.1. */
  momentum?: number;
  eps?: number;
}

/**
 * Batch normalisation of x [N, C, *] per channel. Training: normalise by the batch mean and
 * biased variance over (N, *), and, when given, update runningMean / runningVar in place with
 * the mean and the unbiased variance (Bessel: ·m/(m−1), m = N·∏*). Eval: normalise by the
 * running statistics.
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  opts: BatchNormOptions = {},
): Tensor {
  return batchNormWith('batchNorm', x, runningMean, runningVar, weight, bias, opts, false);
}

/**
 * relu(batchNorm(...)) with the ReLU fused into the norm's kernels (not in torch.nn.functional,
 * which composes the two): on the CPU the forward writes relu(y) in its one pass, and the backward
 * masks the incoming gradient by y > 0 inside the norm's backward pass (y recomputed there from
 * x, the statistics, γ and β). On the GPU it is batchNorm, then relu.
 */
export function batchNormRelu(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  opts: BatchNormOptions = {},
): Tensor {
  // on the GPU: the norm then relu, its argument errors still naming batchNormRelu
  if (x.device !== 'cpu') return reluOp(batchNormWith('batchNormRelu', x, runningMean, runningVar, weight, bias, opts, false));
  return batchNormWith('batchNormRelu', x, runningMean, runningVar, weight, bias, opts, true);
}

function batchNormWith(
  op: string,
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  opts: BatchNormOptions,
  relu: boolean,
): Tensor {
  const [N, C, S] = ncs(op, x);
  const training = opts.training ?? false;
  const momentum = opts.momentum ?? 0.1;
  const eps = opts.eps ?? DEFAULT_EPS;
  checkEps(op, eps);
  checkPerChannel(op, 'runningMean', runningMean, x, C, false);
  checkPerChannel(op, 'runningVar', runningVar, x, C, false);
  checkPerChannel(op, 'weight', weight, x, C, true);
  checkPerChannel(op, 'bias', bias, x, C, true);
  const layout: NormLayout = { axes: 'batch', N, C, S, groups: 1 };
  if (!training) {
    if (!runningMean || !runningVar) {
      throw new ValueError(`${op}: ${runningMean ? 'runningVar' : 'runningMean'} must be defined in evaluation mode (training: false)`);
    }
    return normWithFixedStats(op, x, layout, [runningMean, runningVar], weight, bias, eps, relu);
  }
  if (N * S === 1) {
    throw new ValueError(`${op}: Expected more than 1 value per channel when training, got input size ${fmtShape(x.shape)}`);
  }
  const { y, mean: mu, variance: sigma2 } = normWithBatchStats(op, x, layout, weight, bias, eps, relu);
  const m = N * S;
  if (runningMean) updateRunning(runningMean, mu, momentum);
  if (runningVar) updateRunning(runningVar, noGrad(() => mul(sigma2, m / (m - 1))), momentum);
  return y;
}

export interface LayerNormOptions {
  eps?: number;
}

/**
 * Layer normalisation over the trailing dims given by normalizedShape: every row of
 * K = ∏ normalizedShape elements gets its own mean and variance; weight and bias have
 * normalizedShape (one γ, β per normalised element).
 */
export function layerNorm(
  x: Tensor,
  normalizedShape: number | readonly number[],
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  opts: LayerNormOptions = {},
): Tensor {
  const op = 'layerNorm';
  assertFloat(x.dtype, op);
  const shape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
  const eps = opts.eps ?? DEFAULT_EPS;
  checkEps(op, eps);
  if (shape.length === 0) {
    throw new ValueError(`${op}: Expected normalizedShape to be at least 1-dimensional, i.e., containing at least one element, but got normalizedShape = []`);
  }
  const trailing = x.shape.slice(x.ndim - shape.length);
  if (x.ndim < shape.length || !shapesEqual(trailing, shape)) {
    throw new ShapeError(
      `${op}: Given normalizedShape=${fmtShape(shape)}, expected input with shape [*, ${shape.join(', ')}], but got input of size ${fmtShape(x.shape)}`,
    );
  }
  for (const [arg, t] of [['weight', weight], ['bias', bias]] as const) {
    if (!t) continue;
    if (!shapesEqual(t.shape, shape)) {
      throw new ShapeError(`${op}: Expected ${arg} to be of same shape as normalizedShape, but got ${arg} of shape ${fmtShape(t.shape)} and normalizedShape = ${fmtShape(shape)}`);
    }
    checkDtype(op, arg, t, x, true);
  }
  const K = numel(shape);
  const layout: NormLayout = { axes: 'layer', N: K === 0 ? 0 : x.numel() / K, C: K, S: 1, groups: 1 };
  return normWithBatchStats(op, x, layout, weight, bias, eps).y;
}

export interface InstanceNormOptions {
  /** Normalise by each instance's own statistics (true, default) or by the running ones. */
  useInputStats?: boolean;
  momentum?: number;
  eps?: number;
}

/**
 * Instance normalisation of x [N, C, *]: every (sample, channel) gets its own mean and
 * variance over *. With running stats and useInputStats, they are updated with the batch
 * average of the per-instance means and unbiased variances (as torch, which runs batch norm
 * over [1, N·C, *] and averages the N copies of the running stats).
 */
export function instanceNorm(
  x: Tensor,
  runningMean: Tensor | null = null,
  runningVar: Tensor | null = null,
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  opts: InstanceNormOptions = {},
): Tensor {
  const op = 'instanceNorm';
  const [N, C, S] = ncs(op, x);
  const useInputStats = opts.useInputStats ?? true;
  const momentum = opts.momentum ?? 0.1;
  const eps = opts.eps ?? DEFAULT_EPS;
  checkEps(op, eps);
  checkPerChannel(op, 'runningMean', runningMean, x, C, false);
  checkPerChannel(op, 'runningVar', runningVar, x, C, false);
  checkPerChannel(op, 'weight', weight, x, C, true);
  checkPerChannel(op, 'bias', bias, x, C, true);
  if (!useInputStats) {
    if (!runningMean || !runningVar) {
      throw new ValueError(`${op}: Expected runningMean and runningVar to be defined when useInputStats is false`);
    }
    return normWithFixedStats(op, x, { axes: 'batch', N, C, S, groups: 1 }, [runningMean, runningVar], weight, bias, eps);
  }
  if (S === 1) {
    throw new ValueError(`${op}: Expected more than 1 spatial element when training, got input size ${fmtShape(x.shape)}`);
  }
  const { y, mean: mu, variance: sigma2 } = normWithBatchStats(op, x, { axes: 'instance', N, C, S, groups: 1 }, weight, bias, eps);
  if (runningMean) updateRunning(runningMean, noGrad(() => mean(reshape(mu, [N, C]), 0)), momentum);
  if (runningVar) updateRunning(runningVar, noGrad(() => mean(mul(reshape(sigma2, [N, C]), S / (S - 1)), 0)), momentum);
  return y;
}

export interface GroupNormOptions {
  eps?: number;
}

/**
 * Group normalisation of x [N, C, *]: the C channels are split into numGroups groups of C/G
 * consecutive channels; every (sample, group) gets its own mean and variance over its channels
 * and *. weight and bias are per channel.
 */
export function groupNorm(x: Tensor, numGroups: number, weight: Tensor | null = null, bias: Tensor | null = null, opts: GroupNormOptions = {}): Tensor {
  const op = 'groupNorm';
  assertFloat(x.dtype, op);
  if (x.ndim < 2) throw new ShapeError(`${op}: Expected at least 2 dimensions for input tensor but received ${x.ndim}`);
  const [N, C, S] = ncs(op, x);
  const eps = opts.eps ?? DEFAULT_EPS;
  checkEps(op, eps);
  if (!Number.isInteger(numGroups) || numGroups <= 0) {
    throw new ValueError(`${op}: argument 'numGroups' must be a positive integer, but got ${numGroups}`);
  }
  if (C % numGroups !== 0) {
    throw new ShapeError(
      `${op}: Expected number of channels in input to be divisible by numGroups, but got input of shape ${fmtShape(x.shape)} and numGroups=${numGroups}`,
    );
  }
  if (N * (C / numGroups) * S === 1) {
    throw new ValueError(
      `${op}: Expected more than 1 value per channel when training, got input size ${fmtShape(x.shape)} with numGroups=${numGroups} (one value per group)`,
    );
  }
  for (const [arg, t] of [['weight', weight], ['bias', bias]] as const) {
    if (t && (t.ndim !== 1 || t.shape[0] !== C)) {
      throw new ShapeError(
        `${op}: Expected ${arg} to be a vector of size equal to the number of channels in input, but got ${arg} of shape ${fmtShape(t.shape)} and input of shape ${fmtShape(x.shape)}`,
      );
    }
    if (t) checkDtype(op, arg, t, x, true);
  }
  return normWithBatchStats(op, x, { axes: 'group', N, C, S, groups: numGroups }, weight, bias, eps).y;
}

// ---- composed from primitive ops (for tests: an independent backward via autograd) ---------

/** (x − μ)/√(σ² + ε)·γ + β with γ, β viewed as `affineShape`. */
function composedAffine(xhat: Tensor, weight: Tensor | null, bias: Tensor | null, affineShape: number[]): Tensor {
  let y = xhat;
  if (weight) y = mul(y, reshape(weight, affineShape));
  if (bias) y = add(y, reshape(bias, affineShape));
  return y;
}

function composedNormalize(x: Tensor, mu: Tensor, sigma2: Tensor, eps: number): Tensor {
  return div(sub(x, mu), sqrt(add(sigma2, eps)));
}

/** Mean and biased variance over `dims`, kept for broadcasting. */
function composedStats(x: Tensor, dims: number[]): [Tensor, Tensor] {
  return [mean(x, dims, true), variance(x, dims, { unbiased: false, keepdim: true })];
}

function channelShape(x: Tensor): number[] {
  return x.shape.map((s, d) => (d === 1 ? s : 1));
}

/** batchNorm's output from mean/var/sqrt/div (no running-stat updates). */
export function composedBatchNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  opts: { training: boolean; eps?: number },
): Tensor {
  const cs = channelShape(x);
  const dims = x.shape.map((_, d) => d).filter((d) => d !== 1);
  const [mu, sigma2] = opts.training ? composedStats(x, dims) : [reshape(runningMean!, cs), reshape(runningVar!, cs)];
  return composedAffine(composedNormalize(x, mu, sigma2, opts.eps ?? DEFAULT_EPS), weight, bias, cs);
}

export function composedLayerNorm(x: Tensor, normalizedShape: readonly number[], weight: Tensor | null, bias: Tensor | null, opts: { eps?: number } = {}): Tensor {
  const dims = normalizedShape.map((_, i) => x.ndim - normalizedShape.length + i);
  const [mu, sigma2] = composedStats(x, dims);
  return composedAffine(composedNormalize(x, mu, sigma2, opts.eps ?? DEFAULT_EPS), weight, bias, [...normalizedShape]);
}

export function composedInstanceNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  opts: { useInputStats: boolean; eps?: number },
): Tensor {
  const cs = channelShape(x);
  const dims = x.shape.map((_, d) => d).filter((d) => d >= 2);
  const [mu, sigma2] = opts.useInputStats ? composedStats(x, dims) : [reshape(runningMean!, cs), reshape(runningVar!, cs)];
  return composedAffine(composedNormalize(x, mu, sigma2, opts.eps ?? DEFAULT_EPS), weight, bias, cs);
}

export function composedGroupNorm(x: Tensor, numGroups: number, weight: Tensor | null, bias: Tensor | null, opts: { eps?: number } = {}): Tensor {
  const grouped = reshape(x, [x.shape[0], numGroups, -1]);
  const [mu, sigma2] = composedStats(grouped, [2]);
  const xhat = reshape(composedNormalize(grouped, mu, sigma2, opts.eps ?? DEFAULT_EPS), x.shape);
  return composedAffine(xhat, weight, bias, channelShape(x));
}
