// The Look tab's statistics: for a real activation x of shape [N, C, H, W] (the first conv of a
// ResNet-8 on four test images), which axes each norm averages over and the mean and (biased)
// variance of every group it makes. Then the check that these are the norm's own statistics:
// (x - mean) / sqrt(var + eps) must equal what the engine's norm function returns.
//   BatchNorm     one group per channel c:           over (N, H, W)      -> C groups
//   LayerNorm     one group per image n:             over (C, H, W)      -> N groups
//   InstanceNorm  one group per (n, c):              over (H, W)         -> N·C groups
//   GroupNorm     one group per (n, g), C/G channels: over (C/G, H, W)   -> N·G groups
import { noGrad } from '../autograd/graph.js';
import { add, div, sqrt, sub } from '../autograd/ops/elementwise.js';
import { mean, variance } from '../autograd/ops/reduce.js';
import { reshape } from '../autograd/ops/views.js';
import { manualSeed } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import { DataLoader, type ImageDataset } from '../data/index.js';
import type { Conv2d } from '../nn/layers/conv.js';
import { batchNorm, groupNorm, instanceNorm, layerNorm } from '../nn/ops/norm.js';
import { buildModel, type NormKind } from '../train/models.js';
import { ValueError } from '../core/errors.js';

export const NORM_NAMES: Record<NormKind, string> = { bn: 'BatchNorm', ln: 'LayerNorm', in: 'InstanceNorm', gn: 'GroupNorm' };
const EPS = 1e-5;

/** Channels of the first conv the Look tab reads (a ResNet-8 of this width) and the images it sees. */
export const LOOK_WIDTH = 8;
export const LOOK_IMAGES = 4;

/** The real activation the Look tab shows: conv1 of a seed-0 ResNet-8 on the first test images, [4, 8, 28, 28]. */
export function firstConvActivation(test: ImageDataset): Tensor {
  const x = new DataLoader(test, { batchSize: LOOK_IMAGES }).batchAt(0, 0).x;
  manualSeed(0);
  const model = buildModel({ model: 'cifarResNet8', norm: 'bn', groups: 1, width: LOOK_WIDTH }, test.channels, test.classes.length) as unknown as { conv1: Conv2d };
  return noGrad(() => model.conv1.forward(x));
}

export interface NormStats {
  kind: NormKind;
  /** The axes of [N, C, H, W] averaged over (C standing for a group of C/G channels in GroupNorm). */
  reduced: ('N' | 'C' | 'H' | 'W')[];
  /** What one group is, e.g. "channel c" or "image n, channels 4g..4g+3". */
  groupOf: string;
  /** Elements in each group. */
  groupSize: number;
  /** One label, mean and variance per group, in order. */
  labels: string[];
  mean: Float32Array;
  variance: Float32Array;
  /** max |normalised by these statistics - the engine's norm function| */
  maxDiff: number;
  fn: string;
}

/** The statistics of norm `kind` (GroupNorm with `groups` groups) on x [N, C, H, W]. */
export function normStats(x: Tensor, kind: NormKind, groups = 2): NormStats {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  if (kind === 'gn' && (!Number.isInteger(groups) || groups < 1 || C % groups !== 0)) {
    throw new ValueError(`groups must divide the ${C} channels, but got ${groups}`);
  }
  return noGrad(() => {
    // Bring each group's elements into one axis of a view: the statistics are then over dim 2
    // (or dims [0, 2] for BatchNorm, where a group spans the images).
    let view: Tensor;
    let dims: number[];
    let labels: string[];
    let reference: Tensor;
    let groupOf: string;
    let fn: string;
    let reduced: NormStats['reduced'];
    switch (kind) {
      case 'bn':
        view = reshape(x, [N, C, H * W]);
        dims = [0, 2];
        labels = Array.from({ length: C }, (_, c) => `c=${c}`);
        reference = batchNorm(x, null, null, null, null, { training: true, eps: EPS });
        groupOf = 'one channel c, across all N images';
        fn = 'F.batchNorm (training)';
        reduced = ['N', 'H', 'W'];
        break;
      case 'ln':
        view = reshape(x, [N, 1, C * H * W]);
        dims = [2];
        labels = Array.from({ length: N }, (_, n) => `n=${n}`);
        reference = layerNorm(x, [C, H, W], null, null, { eps: EPS });
        groupOf = 'one image n, all C channels';
        fn = 'F.layerNorm over [C, H, W]';
        reduced = ['C', 'H', 'W'];
        break;
      case 'in':
        view = reshape(x, [N, C, H * W]);
        dims = [2];
        labels = Array.from({ length: N * C }, (_, i) => `n=${Math.floor(i / C)} c=${i % C}`);
        reference = instanceNorm(x, null, null, null, null, { eps: EPS });
        groupOf = 'one channel c of one image n';
        fn = 'F.instanceNorm';
        reduced = ['H', 'W'];
        break;
      case 'gn': {
        const per = C / groups;
        view = reshape(x, [N, groups, per * H * W]);
        dims = [2];
        labels = Array.from({ length: N * groups }, (_, i) => `n=${Math.floor(i / groups)} g=${i % groups}`);
        reference = groupNorm(x, groups, null, null, { eps: EPS });
        groupOf = `one image n, ${per} channel${per === 1 ? '' : 's'} of group g (of ${groups})`;
        fn = `F.groupNorm with ${groups} groups`;
        reduced = ['C', 'H', 'W'];
        break;
      }
    }
    const mu = mean(view, dims, true);
    const v = variance(view, dims, { unbiased: false, keepdim: true });
    const normalised = reshape(div(sub(view, mu), sqrt(add(v, EPS))), [N, C, H, W]);
    const got = normalised.toArray() as Float32Array;
    const want = reference.toArray() as Float32Array;
    let maxDiff = 0;
    for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs((got[i] as number) - (want[i] as number)));
    const groupSize = (view.numel() / mu.numel()) | 0;
    return { kind, reduced, groupOf, groupSize, labels, mean: mu.toArray() as Float32Array, variance: v.toArray() as Float32Array, maxDiff, fn };
  });
}
