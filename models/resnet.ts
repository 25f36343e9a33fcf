// ResNet and ResNeXt as in torchvision 0.14 (same module tree, so the same state-dict keys and
// shapes), written on our nn layers. Each block computes H(x) = F(x) + shortcut(x): the layers
// only have to learn the residual F = H − x (He et al., 2016).
import { ValueError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { flatten } from '../autograd/ops/views.js';
import * as init from '../nn/init.js';
import { Linear, ReLU, Sequential } from '../nn/layers/basic.js';
import { Conv2d } from '../nn/layers/conv.js';
import { convBn, convBnLayer, residualJoin } from '../nn/fuse.js';
import { BatchNorm2d, GroupNorm } from '../nn/layers/norm.js';
import { AdaptiveAvgPool2d, MaxPool2d } from '../nn/layers/pool.js';
import { Module } from '../nn/module.js';

/** A module that maps one tensor to one tensor (norms, shortcuts, Sequential). */
export type Layer = Module & { forward(x: Tensor): Tensor };
/** Makes the norm layer that follows a conv with `channels` outputs (BatchNorm2d by default). */
export type NormLayer = (channels: number) => Layer;
const defaultNorm: NormLayer = (c) => new BatchNorm2d(c);

/** 3×3 convolution with padding 1 (no bias: the norm layer after it has its own shift β). */
export function conv3x3(inPlanes: number, outPlanes: number, stride = 1, groups = 1, dilation = 1): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 3, { stride, padding: dilation, groups, dilation, bias: false });
}

/** 1×1 convolution: mixes channels, used to change widths and in projection shortcuts. */
export function conv1x1(inPlanes: number, outPlanes: number, stride = 1): Conv2d {
  return new Conv2d(inPlanes, outPlanes, 1, { stride, bias: false });
}

export interface BlockOptions {
  stride?: number;
  downsample?: Layer | null;
  groups?: number;
  baseWidth?: number;
  dilation?: number;
  normLayer?: NormLayer;
}

/** Two 3×3 convs: F(x) = bn2(conv2(relu(bn1(conv1(x))))); out = relu(F(x) + shortcut(x)). */
export class BasicBlock extends Module {
  static readonly expansion = 1;
  declare conv1: Conv2d;
  declare bn1: Layer;
  declare relu: ReLU;
  declare conv2: Conv2d;
  declare bn2: Layer;
  declare downsample: Layer | null;

  constructor(inPlanes: number, planes: number, opts: BlockOptions = {}) {
    super();
    if ((opts.groups ?? 1) !== 1 || (opts.baseWidth ?? 64) !== 64) {
      throw new ValueError('BasicBlock only supports groups=1 and baseWidth=64');
    }
    if ((opts.dilation ?? 1) > 1) throw new ValueError('Dilation > 1 not supported in BasicBlock');
    const norm = opts.normLayer ?? defaultNorm;
    const stride = opts.stride ?? 1;
    this.registerModule('conv1', conv3x3(inPlanes, planes, stride));
    this.registerModule('bn1', norm(planes));
    this.registerModule('relu', new ReLU());
    this.registerModule('conv2', conv3x3(planes, planes));
    this.registerModule('bn2', norm(planes));
    this.registerModule('downsample', opts.downsample ?? null);
  }

  forward(x: Tensor): Tensor {
    // convBn folds each conv → norm (→ relu) into one convolution at inference (nn/fuse.ts)
    let out = convBn(this.conv1, this.bn1, this.relu, x);
    out = convBn(this.conv2, this.bn2, null, out);
    const identity = this.downsample ? convBnLayer(this.downsample, x) : x;
    return residualJoin(this.relu, out, identity);
  }
}

/**
 * 1×1 → 3×3 → 1×1 with `expansion` = 4 (torchvision puts the stride on the 3×3, "ResNet v1.5").
 * With groups > 1 the 3×3 is a grouped conv: ResNeXt's split-transform-merge (Xie et al., 2017),
 * width = planes · baseWidth/64 · groups channels in the middle.
 */
export class Bottleneck extends Module {
  static readonly expansion = 4;
  declare conv1: Conv2d;
  declare bn1: Layer;
  declare conv2: Conv2d;
  declare bn2: Layer;
  declare conv3: Conv2d;
  declare bn3: Layer;
  declare relu: ReLU;
  declare downsample: Layer | null;

  constructor(inPlanes: number, planes: number, opts: BlockOptions = {}) {
    super();
    const norm = opts.normLayer ?? defaultNorm;
    const groups = opts.groups ?? 1;
    const width = Math.floor(planes * ((opts.baseWidth ?? 64) / 64)) * groups;
    this.registerModule('conv1', conv1x1(inPlanes, width));
    this.registerModule('bn1', norm(width));
    this.registerModule('conv2', conv3x3(width, width, opts.stride ?? 1, groups, opts.dilation ?? 1));
    this.registerModule('bn2', norm(width));
    this.registerModule('conv3', conv1x1(width, planes * Bottleneck.expansion));
    this.registerModule('bn3', norm(planes * Bottleneck.expansion));
    this.registerModule('relu', new ReLU());
    this.registerModule('downsample', opts.downsample ?? null);
  }

  forward(x: Tensor): Tensor {
    let out = convBn(this.conv1, this.bn1, this.relu, x);
    out = convBn(this.conv2, this.bn2, this.relu, out);
    out = convBn(this.conv3, this.bn3, null, out);
    const identity = this.downsample ? convBnLayer(this.downsample, x) : x;
    return residualJoin(this.relu, out, identity);
  }
}

export type BlockType = typeof BasicBlock | typeof Bottleneck;

export interface ResNetOptions {
  numClasses?: number;
  /** Zero γ of each block's last norm, so every block starts as the identity (Goyal et al.). */
  zeroInitResidual?: boolean;
  groups?: number;
  widthPerGroup?: number;
  /** Dilate instead of striding in layer2..4 (for segmentation backbones). */
  replaceStrideWithDilation?: [boolean, boolean, boolean];
  normLayer?: NormLayer;
  /** Input channels of the stem (3 for RGB; 1 for Fashion-MNIST). */
  inChannels?: number;
}

export class ResNet extends Module {
  declare conv1: Conv2d;
  declare bn1: Layer;
  declare relu: ReLU;
  declare maxpool: MaxPool2d;
  declare layer1: Sequential;
  declare layer2: Sequential;
  declare layer3: Sequential;
  declare layer4: Sequential;
  declare avgpool: AdaptiveAvgPool2d;
  declare fc: Linear;
  private inPlanes = 64;
  private dilation = 1;
  private readonly groups: number;
  private readonly baseWidth: number;
  private readonly norm: NormLayer;

  constructor(block: BlockType, layers: [number, number, number, number], opts: ResNetOptions = {}) {
    super();
    this.norm = opts.normLayer ?? defaultNorm;
    this.groups = opts.groups ?? 1;
    this.baseWidth = opts.widthPerGroup ?? 64;
    const dilate = opts.replaceStrideWithDilation ?? [false, false, false];
    if (dilate.length !== 3) {
      throw new ValueError(`replaceStrideWithDilation should be null or a 3-element tuple, got ${JSON.stringify(dilate)}`);
    }
    // Stem: 7×7/2 conv and 3×3/2 max-pool take 224² to 56².
    this.registerModule('conv1', new Conv2d(opts.inChannels ?? 3, this.inPlanes, 7, { stride: 2, padding: 3, bias: false }));
    this.registerModule('bn1', this.norm(this.inPlanes));
    this.registerModule('relu', new ReLU());
    this.registerModule('maxpool', new MaxPool2d(3, { stride: 2, padding: 1 }));
    this.registerModule('layer1', this.makeLayer(block, 64, layers[0]));
    this.registerModule('layer2', this.makeLayer(block, 128, layers[1], 2, dilate[0]));
    this.registerModule('layer3', this.makeLayer(block, 256, layers[2], 2, dilate[1]));
    this.registerModule('layer4', this.makeLayer(block, 512, layers[3], 2, dilate[2]));
    this.registerModule('avgpool', new AdaptiveAvgPool2d([1, 1]));
    this.registerModule('fc', new Linear(512 * block.expansion, opts.numClasses ?? 1000));

    // torchvision's init: He-normal (fan_out, ReLU gain) for convs; norms start at γ=1, β=0.
    for (const m of this.modules()) {
      if (m instanceof Conv2d) init.kaimingNormal(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
      else if (m instanceof BatchNorm2d || m instanceof GroupNorm) {
        if (m.weight) init.ones(m.weight);
        if (m.bias) init.zeros(m.bias);
      }
    }
    if (opts.zeroInitResidual) {
      for (const m of this.modules()) {
        const last = m instanceof Bottleneck ? m.bn3 : m instanceof BasicBlock ? m.bn2 : null;
        const w = (last as { weight?: Tensor | null } | null)?.weight;
        if (w) init.zeros(w);
      }
    }
  }

  /**
   * A stage of `blocks` blocks. The first may change resolution (stride) and width, so its
   * shortcut is a projection: conv1x1 + norm ("option B"); the others keep the identity.
   */
  makeLayer(block: BlockType, planes: number, blocks: number, stride = 1, dilate = false): Sequential {
    let downsample: Layer | null = null;
    const previousDilation = this.dilation;
    if (dilate) {
      this.dilation *= stride;
      stride = 1;
    }
    if (stride !== 1 || this.inPlanes !== planes * block.expansion) {
      downsample = new Sequential(conv1x1(this.inPlanes, planes * block.expansion, stride), this.norm(planes * block.expansion));
    }
    const common = { groups: this.groups, baseWidth: this.baseWidth, normLayer: this.norm };
    const layers: Module[] = [new block(this.inPlanes, planes, { ...common, stride, downsample, dilation: previousDilation })];
    this.inPlanes = planes * block.expansion;
    for (let i = 1; i < blocks; i++) layers.push(new block(this.inPlanes, planes, { ...common, dilation: this.dilation }));
    return new Sequential(...layers);
  }

  forward(x: Tensor): Tensor {
    let out = this.maxpool.forward(convBn(this.conv1, this.bn1, this.relu, x));
    out = this.layer4.forward(this.layer3.forward(this.layer2.forward(this.layer1.forward(out))));
    return this.fc.forward(flatten(this.avgpool.forward(out), 1));
  }
}

export type ModelOptions = Omit<ResNetOptions, 'groups' | 'widthPerGroup'>;

export const resnet18 = (o: ModelOptions = {}) => new ResNet(BasicBlock, [2, 2, 2, 2], o);
export const resnet34 = (o: ModelOptions = {}) => new ResNet(BasicBlock, [3, 4, 6, 3], o);
export const resnet50 = (o: ModelOptions = {}) => new ResNet(Bottleneck, [3, 4, 6, 3], o);
export const resnet101 = (o: ModelOptions = {}) => new ResNet(Bottleneck, [3, 4, 23, 3], o);
export const resnet152 = (o: ModelOptions = {}) => new ResNet(Bottleneck, [3, 8, 36, 3], o);
/** ResNeXt-50 32×4d: 32 groups of width 4 in the first stage's 3×3 (128 channels). */
export const resnext50_32x4d = (o: ModelOptions = {}) => new ResNet(Bottleneck, [3, 4, 6, 3], { ...o, groups: 32, widthPerGroup: 4 });
export const resnext101_32x8d = (o: ModelOptions = {}) => new ResNet(Bottleneck, [3, 4, 23, 3], { ...o, groups: 32, widthPerGroup: 8 });
export const resnext101_64x4d = (o: ModelOptions = {}) => new ResNet(Bottleneck, [3, 4, 23, 3], { ...o, groups: 64, widthPerGroup: 4 });
/** Wide ResNet-50-2: the bottleneck's middle is twice as wide (widthPerGroup 128). */
export const wide_resnet50_2 = (o: ModelOptions = {}) => new ResNet(Bottleneck, [3, 4, 6, 3], { ...o, widthPerGroup: 128 });
export const wide_resnet101_2 = (o: ModelOptions = {}) => new ResNet(Bottleneck, [3, 4, 23, 3], { ...o, widthPerGroup: 128 });
