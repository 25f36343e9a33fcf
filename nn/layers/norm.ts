// Normalisation layers with torch.nn's constructors, defaults and state-dict names:
// parameters `weight` (γ, ones) and `bias` (β, zeros); buffers `running_mean` (zeros),
// `running_var` (ones) and `num_batches_tracked` (int32 here; int64 in torch).
//   BatchNorm1d/2d   affine true,  trackRunningStats true,  momentum 0.1 (null: cumulative average)
//   InstanceNorm2d   affine false, trackRunningStats false, momentum 0.1
//   LayerNorm        elementwiseAffine true (γ, β of normalizedShape), no running stats
//   GroupNorm        affine true, no running stats
// eps is 1e-5 everywhere.
import { ones, zeros } from '../../core/creation.js';
import type { FloatDType } from '../../core/dtype.js';
import { ValueError } from '../../core/errors.js';
import type { Tensor } from '../../core/tensor.js';
import { noGrad } from '../../autograd/graph.js';
import { add } from '../../autograd/ops/elementwise.js';
import { squeeze, unsqueeze } from '../../autograd/ops/views.js';
import { Module } from '../module.js';
import { batchNorm, batchNormRelu, groupNorm, instanceNorm, layerNorm } from '../ops/norm.js';

function checkCount(layer: string, arg: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) throw new ValueError(`${layer}: argument '${arg}' must be a positive integer, but got ${v}`);
}

export interface BatchNormModuleOptions {
  eps?: number;
  /** Weight of each new batch in the running averages; null: cumulative average 1/numBatchesTracked. */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
  dtype?: FloatDType;
}

/** What BatchNorm and InstanceNorm share (torch's _NormBase): per-channel γ, β and running stats. */
abstract class NormBase extends Module {
  declare weight: Tensor | null;
  declare bias: Tensor | null;
  declare running_mean: Tensor | null;
  declare running_var: Tensor | null;
  declare num_batches_tracked: Tensor | null;
  readonly eps: number;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;

  constructor(
    readonly numFeatures: number,
    opts: BatchNormModuleOptions,
    defaults: { affine: boolean; trackRunningStats: boolean },
  ) {
    super();
    checkCount(this.constructor.name, 'numFeatures', numFeatures);
    this.eps = opts.eps ?? 1e-5;
    this.affine = opts.affine ?? defaults.affine;
    this.trackRunningStats = opts.trackRunningStats ?? defaults.trackRunningStats;
    const dtype = opts.dtype ?? 'float32';
    this.registerParameter('weight', this.affine ? ones([numFeatures], { dtype }) : null);
    this.registerParameter('bias', this.affine ? zeros([numFeatures], { dtype }) : null);
    const track = this.trackRunningStats;
    this.registerBuffer('running_mean', track ? zeros([numFeatures], { dtype }) : null);
    this.registerBuffer('running_var', track ? ones([numFeatures], { dtype }) : null);
    this.registerBuffer('num_batches_tracked', track ? zeros([], { dtype: 'int32' }) : null);
  }

  /** running_mean ← 0, running_var ← 1, num_batches_tracked ← 0. */
  resetRunningStats(): void {
    noGrad(() => {
      this.running_mean?.assign(zeros([]));
      this.running_var?.assign(ones([]));
      this.num_batches_tracked?.assign(zeros([], { dtype: 'int32' }));
    });
  }

  /** Running stats reset, γ ← 1, β ← 0. */
  resetParameters(): void {
    this.resetRunningStats();
    noGrad(() => {
      this.weight?.assign(ones([]));
      this.bias?.assign(zeros([]));
    });
  }
}

/** torch's _BatchNorm.forward: count the batch, pick the averaging factor, normalise. */
abstract class BatchNormBase extends NormBase {
  readonly momentum: number | null;
  constructor(numFeatures: number, opts: BatchNormModuleOptions = {}) {
    super(numFeatures, opts, { affine: true, trackRunningStats: true });
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
  }

  protected abstract checkInputDim(x: Tensor): void;

  forward(x: Tensor): Tensor {
    return this.normalize(x, false);
  }

  /** relu(this.forward(x)) with the ReLU fused into the norm's kernels (F.batchNormRelu); no hooks run. */
  forwardRelu(x: Tensor): Tensor {
    return this.normalize(x, true);
  }

  private normalize(x: Tensor, relu: boolean): Tensor {
    this.checkInputDim(x);
    let factor = this.momentum ?? 0;
    const counter = this.num_batches_tracked;
    if (this.training && this.trackRunningStats && counter) {
      noGrad(() => counter.assign(add(counter, 1)));
      factor = this.momentum === null ? 1 / counter.item() : this.momentum;
    }
    // Batch statistics in training, and in eval when there are no running stats to use.
    const useBatchStats = this.training || (this.running_mean === null && this.running_var === null);
    // Running stats are read in eval, and updated in training only when tracked.
    const passStats = !this.training || this.trackRunningStats;
    return (relu ? batchNormRelu : batchNorm)(x, passStats ? this.running_mean : null, passStats ? this.running_var : null, this.weight, this.bias, {
      training: useBatchStats,
      momentum: factor,
      eps: this.eps,
    });
  }
}

/** BatchNorm over [N, C] or [N, C, L]: statistics per feature C. */
export class BatchNorm1d extends BatchNormBase {
  protected checkInputDim(x: Tensor): void {
    if (x.ndim !== 2 && x.ndim !== 3) throw new ValueError(`BatchNorm1d: expected 2D or 3D input (got ${x.ndim}D input)`);
  }
}

/** BatchNorm over [N, C, H, W]: statistics per channel over (N, H, W). */
export class BatchNorm2d extends BatchNormBase {
  protected checkInputDim(x: Tensor): void {
    if (x.ndim !== 4) throw new ValueError(`BatchNorm2d: expected 4D input (got ${x.ndim}D input)`);
  }
}

export interface InstanceNormModuleOptions {
  eps?: number;
  momentum?: number;
  affine?: boolean;
  trackRunningStats?: boolean;
  dtype?: FloatDType;
}

/**
 * InstanceNorm over [N, C, H, W] (or unbatched [C, H, W]): statistics per (sample, channel)
 * over (H, W). With trackRunningStats, training updates running averages and eval uses them;
 * num_batches_tracked is kept for the state dict but, as in torch, not counted.
 */
export class InstanceNorm2d extends NormBase {
  readonly momentum: number;
  constructor(numFeatures: number, opts: InstanceNormModuleOptions = {}) {
    super(numFeatures, opts, { affine: false, trackRunningStats: false });
    this.momentum = opts.momentum ?? 0.1;
  }

  forward(x: Tensor): Tensor {
    if (x.ndim !== 3 && x.ndim !== 4) throw new ValueError(`InstanceNorm2d: expected 3D or 4D input (got ${x.ndim}D input)`);
    const batched = x.ndim === 4 ? x : unsqueeze(x, 0);
    const y = instanceNorm(batched, this.running_mean, this.running_var, this.weight, this.bias, {
      useInputStats: this.training || !this.trackRunningStats,
      momentum: this.momentum,
      eps: this.eps,
    });
    return x.ndim === 4 ? y : squeeze(y, 0);
  }
}

export interface LayerNormModuleOptions {
  eps?: number;
  elementwiseAffine?: boolean;
  dtype?: FloatDType;
}

/** LayerNorm over the trailing dims `normalizedShape`, with one γ and β per normalised element. */
export class LayerNorm extends Module {
  declare weight: Tensor | null;
  declare bias: Tensor | null;
  readonly normalizedShape: readonly number[];
  readonly eps: number;
  readonly elementwiseAffine: boolean;

  constructor(normalizedShape: number | readonly number[], opts: LayerNormModuleOptions = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    for (const s of this.normalizedShape) checkCount('LayerNorm', 'normalizedShape', s);
    this.eps = opts.eps ?? 1e-5;
    this.elementwiseAffine = opts.elementwiseAffine ?? true;
    const dtype = opts.dtype ?? 'float32';
    this.registerParameter('weight', this.elementwiseAffine ? ones(this.normalizedShape, { dtype }) : null);
    this.registerParameter('bias', this.elementwiseAffine ? zeros(this.normalizedShape, { dtype }) : null);
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, { eps: this.eps });
  }
}

export interface GroupNormModuleOptions {
  eps?: number;
  affine?: boolean;
  dtype?: FloatDType;
}

/** GroupNorm: channels split into numGroups groups; statistics per (sample, group). */
export class GroupNorm extends Module {
  declare weight: Tensor | null;
  declare bias: Tensor | null;
  readonly eps: number;
  readonly affine: boolean;

  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    opts: GroupNormModuleOptions = {},
  ) {
    super();
    checkCount('GroupNorm', 'numGroups', numGroups);
    checkCount('GroupNorm', 'numChannels', numChannels);
    if (numChannels % numGroups !== 0) {
      throw new ValueError(`GroupNorm: numChannels must be divisible by numGroups, but got numChannels=${numChannels} and numGroups=${numGroups}`);
    }
    this.eps = opts.eps ?? 1e-5;
    this.affine = opts.affine ?? true;
    const dtype = opts.dtype ?? 'float32';
    this.registerParameter('weight', this.affine ? ones([numChannels], { dtype }) : null);
    this.registerParameter('bias', this.affine ? zeros([numChannels], { dtype }) : null);
  }

  forward(x: Tensor): Tensor {
    return groupNorm(x, this.numGroups, this.weight, this.bias, { eps: this.eps });
  }
}
