// The Look tab's residual block: the first block of a ResNet-8 (seed 0, in training mode on the
// four Look images), opened up. For image 0 it gives, channel by channel,
//   x                   the block's input (the stem's relu(bn(conv(image))))
//   F(x)                the residual branch bn2(conv2(relu(bn1(conv1(x)))))
//   relu(F(x) + x)      the block's output, with the identity shortcut
//   relu(F(x))          the same block without it (the plain twin's block)
// and how much of the input survives in each output (the correlation with x).
import { noGrad } from '../autograd/graph.js';
import { add, relu } from '../autograd/ops/elementwise.js';
import { manualSeed } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import { DataLoader, type ImageDataset } from '../data/index.js';
import type { CifarBlock, CifarResNet } from '../models/cifar.js';
import { buildModel } from '../train/models.js';
import { LOOK_IMAGES, LOOK_WIDTH } from './norms.js';

export interface BlockMaps {
  channels: number;
  height: number;
  width: number;
  /** Each [C·H·W] for image 0. */
  rows: { name: string; maps: Float32Array }[];
  /** Pearson correlation of each output with the block's input, over all of image 0's values. */
  keepsInput: { withShortcut: number; withoutShortcut: number };
  /** Share of output values the final relu sets to zero. */
  zeroed: { withShortcut: number; withoutShortcut: number };
  /** max |relu(F(x) + x) - layer1.0's own forward(x)|: the pieces are the block's. */
  maxDiffFromBlock: number;
}

function correlation(a: Float32Array, b: Float32Array): number {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) {
    ma += a[i] as number;
    mb += b[i] as number;
  }
  ma /= a.length;
  mb /= b.length;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    const da = (a[i] as number) - ma;
    const db = (b[i] as number) - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
}

const zeroShare = (a: Float32Array): number => a.reduce((n, v) => n + (v === 0 ? 1 : 0), 0) / a.length;

export function residualBlockMaps(test: ImageDataset): BlockMaps {
  const x = new DataLoader(test, { batchSize: LOOK_IMAGES }).batchAt(0, 0).x;
  manualSeed(0);
  const model = buildModel({ model: 'cifarResNet8', norm: 'bn', groups: 1, width: LOOK_WIDTH }, test.channels, test.classes.length) as unknown as CifarResNet;
  model.train();
  const block = model.layer1.children()[0] as CifarBlock;
  return noGrad(() => {
    const input = model.relu.forward(model.bn1.forward(model.conv1.forward(x)));
    const branch = block.bn2.forward(block.conv2.forward(block.relu.forward(block.bn1.forward(block.conv1.forward(input)))));
    const [, c, h, w] = input.shape as [number, number, number, number];
    const first = (t: Tensor) => (t.toArray() as Float32Array).slice(0, c * h * w);
    const xs = first(input);
    const with_ = first(relu(add(branch, input)));
    const without = first(relu(branch));
    const own = first(block.forward(input));
    let maxDiffFromBlock = 0;
    for (let i = 0; i < own.length; i++) maxDiffFromBlock = Math.max(maxDiffFromBlock, Math.abs((own[i] as number) - (with_[i] as number)));
    return {
      channels: c,
      height: h,
      width: w,
      rows: [
        { name: 'block input x', maps: xs },
        { name: 'residual branch F(x)', maps: first(branch) },
        { name: 'with shortcut: relu(F(x) + x)', maps: with_ },
        { name: 'without shortcut: relu(F(x))', maps: without },
      ],
      keepsInput: { withShortcut: correlation(with_, xs), withoutShortcut: correlation(without, xs) },
      zeroed: { withShortcut: zeroShare(with_), withoutShortcut: zeroShare(without) },
      maxDiffFromBlock,
    };
  });
}
