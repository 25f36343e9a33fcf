// The CIFAR-10 networks of the ResNet paper (He et al. 2016, section 4.2): depth 6n+2, three
// stages of n basic blocks at 16, 32 and 64 channels (32², 16², 8² for 32² inputs), global
// average pooling and a linear classifier. `cifarPlain` is the same stack without shortcuts:
// the pair behind the paper's "degradation" experiment (deeper plain nets train worse).
// Two knobs beyond the paper: `width` scales the stages (width, 2·width, 4·width) and `groups`
// splits each block's first 3×3 conv into groups, ResNeXt style (see CifarBlock).
import { ValueError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { cat } from '../autograd/ops/join.js';
import { flatten, slice } from '../autograd/ops/views.js';
import { zeros } from '../core/creation.js';
import * as init from '../nn/init.js';
import { Linear, ReLU, Sequential } from '../nn/layers/basic.js';
import { Conv2d } from '../nn/layers/conv.js';
import { convBn, convBnLayer, residualJoin } from '../nn/fuse.js';
import { BatchNorm2d } from '../nn/layers/norm.js';
import { AdaptiveAvgPool2d } from '../nn/layers/pool.js';
import { Module } from '../nn/module.js';
import { type Layer, type NormLayer, conv1x1, conv3x3 } from './resnet.js';

/**
 * 'A': the shortcut subsamples x (stride 2) and zero-pads the new channels: no parameters.
 * 'B': a projection (1×1 conv + norm) where the shape changes, identity elsewhere.
 * 'none': no shortcut at all (the plain network).
 */
export type Shortcut = 'A' | 'B' | 'none';

/** Option A shortcut: x[:, :, ::s, ::s] with (out − in)/2 zero channels on each side. */
export class PadShortcut extends Module {
  constructor(
    readonly inPlanes: number,
    readonly outPlanes: number,
    readonly stride: number,
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    const s = this.stride;
    const sub = s === 1 ? x : slice(slice(x, 2, 0, undefined, s), 3, 0, undefined, s);
    const extra = this.outPlanes - this.inPlanes;
    if (extra === 0) return sub;
    const before = Math.floor(extra / 2);
    const pad = (c: number) => zeros([sub.shape[0], c, sub.shape[2], sub.shape[3]], { dtype: sub.dtype, device: sub.device });
    const parts = before > 0 ? [pad(before), sub, pad(extra - before)] : [sub, pad(extra)];
    return cat(parts, 1);
  }
}

/**
 * The CIFAR basic block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), or no "+" when plain.
 * With groups > 1, conv1 is grouped (split-transform: each group of channels is convolved on its
 * own) and conv2 stays dense (merge). Grouping conv2 too would keep every group of channels apart
 * from the stem to the classifier: option A shortcuts only pad and subsample, so nothing would mix
 * them again, and the net would be `groups` thin nets side by side.
 */
export class CifarBlock extends Module {
  declare conv1: Conv2d;
  declare bn1: Layer;
  declare relu: ReLU;
  declare conv2: Conv2d;
  declare bn2: Layer;
  declare shortcut: Layer | null;

  constructor(inPlanes: number, planes: number, stride: number, kind: Shortcut, norm: NormLayer, groups = 1) {
    super();
    this.registerModule('conv1', conv3x3(inPlanes, planes, stride, groups));
    this.registerModule('bn1', norm(planes));
    this.registerModule('relu', new ReLU());
    this.registerModule('conv2', conv3x3(planes, planes));
    this.registerModule('bn2', norm(planes));
    const changes = stride !== 1 || inPlanes !== planes;
    let shortcut: Layer | null = null;
    if (kind === 'A') shortcut = changes ? new PadShortcut(inPlanes, planes, stride) : null;
    if (kind === 'B' && changes) shortcut = new Sequential(conv1x1(inPlanes, planes, stride), norm(planes));
    this.registerModule('shortcut', shortcut);
    this.plain = kind === 'none';
  }
  /** No shortcut: the plain twin of the block (the ONNX exporter reads it too). */
  readonly plain: boolean;

  forward(x: Tensor): Tensor {
    // convBn folds conv → norm (→ relu) into one convolution at inference (nn/fuse.ts)
    let out = convBn(this.conv1, this.bn1, this.relu, x);
    if (this.plain) return convBn(this.conv2, this.bn2, this.relu, out);
    out = convBn(this.conv2, this.bn2, null, out);
    return residualJoin(this.relu, out, this.shortcut ? convBnLayer(this.shortcut, x) : x);
  }
}

export interface CifarOptions {
  numClasses?: number;
  /** 3 for CIFAR, 1 for (Fashion-)MNIST. */
  inChannels?: number;
  /** Shortcut kind for cifarResNet (the paper's CIFAR nets use 'A'). */
  shortcut?: 'A' | 'B';
  normLayer?: NormLayer;
  /** Channels of the first stage (default 16); the stages have width, 2·width and 4·width. */
  width?: number;
  /** Groups of each block's first 3×3 conv (default 1); must divide width. */
  groups?: number;
}

export class CifarResNet extends Module {
  declare conv1: Conv2d;
  declare bn1: Layer;
  declare relu: ReLU;
  declare layer1: Sequential;
  declare layer2: Sequential;
  declare layer3: Sequential;
  declare avgpool: AdaptiveAvgPool2d;
  declare fc: Linear;

  constructor(
    readonly depth: number,
    kind: Shortcut,
    opts: CifarOptions = {},
  ) {
    super();
    if (!Number.isInteger(depth) || depth < 8 || (depth - 2) % 6 !== 0) {
      throw new ValueError(`CIFAR ResNet depth must be 6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110, ...), but got ${depth}`);
    }
    const n = (depth - 2) / 6;
    const width = opts.width ?? 16;
    const groups = opts.groups ?? 1;
    if (!Number.isInteger(width) || width < 1) throw new ValueError(`CIFAR ResNet: 'width' must be a positive integer, but got ${width}`);
    if (!Number.isInteger(groups) || groups < 1) throw new ValueError(`CIFAR ResNet: 'groups' must be a positive integer, but got ${groups}`);
    // Every grouped conv1 reads width, 2·width or 4·width channels: width % groups == 0 covers all.
    if (width % groups !== 0) {
      throw new ValueError(
        `CIFAR ResNet: 'groups' (${groups}) must divide the channels of every stage (${width}, ${2 * width}, ${4 * width} for width=${width}), but ${width} % ${groups} = ${width % groups}`,
      );
    }
    const norm = opts.normLayer ?? ((c: number) => new BatchNorm2d(c));
    this.registerModule('conv1', conv3x3(opts.inChannels ?? 3, width));
    this.registerModule('bn1', norm(width));
    this.registerModule('relu', new ReLU());
    let inPlanes = width;
    [width, 2 * width, 4 * width].forEach((planes, stage) => {
      const blocks: Module[] = [];
      for (let i = 0; i < n; i++) {
        blocks.push(new CifarBlock(inPlanes, planes, i === 0 && stage > 0 ? 2 : 1, kind, norm, groups));
        inPlanes = planes;
      }
      this.registerModule(`layer${stage + 1}`, new Sequential(...blocks));
    });
    this.registerModule('avgpool', new AdaptiveAvgPool2d([1, 1]));
    this.registerModule('fc', new Linear(4 * width, opts.numClasses ?? 10));
    for (const m of this.modules()) {
      if (m instanceof Conv2d) init.kaimingNormal(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
    }
  }

  forward(x: Tensor): Tensor {
    let out = convBn(this.conv1, this.bn1, this.relu, x);
    out = this.layer3.forward(this.layer2.forward(this.layer1.forward(out)));
    return this.fc.forward(flatten(this.avgpool.forward(out), 1));
  }
}

/** ResNet-{20, 32, 44, 56, 110} of the paper (option A shortcuts by default). */
export const cifarResNet = (depth: number, opts: CifarOptions = {}) => new CifarResNet(depth, opts.shortcut ?? 'A', opts);
/** The plain twin: identical layers, no shortcuts. */
export const cifarPlain = (depth: number, opts: Omit<CifarOptions, 'shortcut'> = {}) => new CifarResNet(depth, 'none', opts);
