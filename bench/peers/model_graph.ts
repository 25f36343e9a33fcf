// A model's module tree, lowered to a small graph that a peer library can rebuild, so that the
// peers compute the very function our model does, with its weights. The walk knows the layers of
// the torchvision ResNets (ResNet, Bottleneck, BasicBlock, Sequential, Conv2d, BatchNorm2d, ReLU,
// MaxPool2d, AdaptiveAvgPool2d(1), Linear) and names any other class it meets.
//
// Eval-mode BatchNorm is an affine map per channel, y = s·z + (β − μ·s) with s = γ / √(σ² + ε).
// After a convolution z = W∗x + b it folds into the convolution: W' = s·W (per output channel),
// b' = s·b + β − μ·s — what a model converter does for tfjs, and what onnxruntime does itself.
// A ReLU right after a conv or an add is fused into it (tfjs's fused conv2d; onnxruntime fuses
// Conv+Relu on its own). Folding is done in float64 and rounded once.
import type { Tensor } from '../../index.js';
import { BasicBlock, Bottleneck, ResNet } from '../../models/resnet.js';
import { Linear, ReLU, Sequential } from '../../nn/layers/basic.js';
import { Conv2d } from '../../nn/layers/conv.js';
import { BatchNorm2d } from '../../nn/layers/norm.js';
import { AdaptiveAvgPool2d, MaxPool2d } from '../../nn/layers/pool.js';
import type { Module } from '../../nn/module.js';

export type ModelNode =
  | {
      op: 'conv';
      x: string;
      y: string;
      /** OIHW, I = C / groups */
      w: Float32Array;
      wShape: [number, number, number, number];
      bias: Float32Array | null;
      stride: [number, number];
      /** [top, left, bottom, right] */
      pads: [number, number, number, number];
      dilation: [number, number];
      groups: number;
      relu: boolean;
    }
  | { op: 'affine'; x: string; y: string; scale: Float32Array; shift: Float32Array; relu: boolean }
  | { op: 'relu'; x: string; y: string }
  | { op: 'maxpool'; x: string; y: string; kernel: [number, number]; stride: [number, number]; pads: [number, number, number, number] }
  | { op: 'add'; a: string; b: string; y: string; relu: boolean }
  /** mean over H, W: [N, C, H, W] → [N, C, 1, 1] */
  | { op: 'globalAvgPool'; x: string; y: string }
  /** [N, C, 1, 1] → [N, C] */
  | { op: 'flatten'; x: string; y: string }
  /** y = x·Wᵀ + b, W [out, in] */
  | { op: 'linear'; x: string; y: string; w: Float32Array; wShape: [number, number]; bias: Float32Array | null };

export interface ModelGraph {
  input: string;
  inputShape: number[];
  output: string;
  outputShape: number[];
  nodes: ModelNode[];
}

type Pair = number | readonly [number, number];
const pair = (p: Pair): [number, number] => (typeof p === 'number' ? [p, p] : [p[0], p[1]]);

const f32 = (t: Tensor): Float32Array => Float32Array.from(t.toArray() as ArrayLike<number>);

class Lowering {
  readonly nodes: ModelNode[] = [];
  private readonly producer = new Map<string, ModelNode>();
  private readonly consumers = new Map<string, number>();
  /** Values whose producer was rewritten by a fusion: reading one is a bug in the walk. */
  private readonly dead = new Set<string>();
  private count = 0;

  fresh(): string {
    return `v${this.count++}`;
  }
  use(v: string): string {
    if (this.dead.has(v)) throw new Error(`model lowering: value ${v} was fused away and read again`);
    this.consumers.set(v, (this.consumers.get(v) ?? 0) + 1);
    return v;
  }
  emit(n: ModelNode): string {
    this.nodes.push(n);
    this.producer.set(n.y, n);
    return n.y;
  }
  /** The node that made v, if nothing has read v yet (so it can be rewritten in place). */
  private soleProducer(v: string): ModelNode | undefined {
    return (this.consumers.get(v) ?? 0) === 0 ? this.producer.get(v) : undefined;
  }
  /** Rename v's producer output to a new value, v becoming dead: fusions return a new name. */
  private renamed(n: ModelNode): string {
    const y = this.fresh();
    this.dead.add(n.y);
    this.producer.delete(n.y);
    n.y = y;
    this.producer.set(y, n);
    return y;
  }

  conv(m: Conv2d, x: string): string {
    if (typeof m.padding === 'string') throw new Error(`model lowering: Conv2d padding '${m.padding}' is not lowered`);
    const [ph, pw] = pair(m.padding);
    return this.emit({
      op: 'conv', x: this.use(x), y: this.fresh(), w: f32(m.weight), wShape: m.weight.shape as [number, number, number, number],
      bias: m.bias ? f32(m.bias) : null, stride: pair(m.stride), pads: [ph, pw, ph, pw], dilation: pair(m.dilation), groups: m.groups, relu: false,
    });
  }

  batchNorm(m: BatchNorm2d, x: string): string {
    if (m.training) throw new Error('model lowering: BatchNorm2d in training mode (the peers compute eval mode: call model.eval())');
    if (!m.running_mean || !m.running_var) throw new Error('model lowering: BatchNorm2d without running statistics');
    const mean = m.running_mean.toArray();
    const variance = m.running_var.toArray();
    const gamma = m.weight?.toArray();
    const beta = m.bias?.toArray();
    const C = mean.length;
    const s = new Float64Array(C);
    const t = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      s[c] = (gamma ? (gamma[c] as number) : 1) / Math.sqrt((variance[c] as number) + m.eps);
      t[c] = (beta ? (beta[c] as number) : 0) - (mean[c] as number) * (s[c] as number);
    }
    const prev = this.soleProducer(x);
    if (prev?.op === 'conv' && !prev.relu) {
      const per = prev.w.length / C;
      for (let o = 0; o < C; o++) for (let i = 0; i < per; i++) prev.w[o * per + i] = (prev.w[o * per + i] as number) * (s[o] as number);
      const bias = new Float32Array(C);
      for (let o = 0; o < C; o++) bias[o] = (prev.bias ? (prev.bias[o] as number) * (s[o] as number) : 0) + (t[o] as number);
      prev.bias = bias;
      return this.renamed(prev);
    }
    return this.emit({ op: 'affine', x: this.use(x), y: this.fresh(), scale: Float32Array.from(s), shift: Float32Array.from(t), relu: false });
  }

  relu(x: string): string {
    const prev = this.soleProducer(x);
    if (prev && (prev.op === 'conv' || prev.op === 'add' || prev.op === 'affine') && !prev.relu) {
      prev.relu = true;
      return this.renamed(prev);
    }
    return this.emit({ op: 'relu', x: this.use(x), y: this.fresh() });
  }

  add(a: string, b: string): string {
    return this.emit({ op: 'add', a: this.use(a), b: this.use(b), y: this.fresh(), relu: false });
  }

  module(m: Module, x: string): string {
    if (m instanceof ResNet) {
      let y = this.module(m.maxpool, this.module(m.relu, this.module(m.bn1, this.module(m.conv1, x))));
      for (const layer of [m.layer1, m.layer2, m.layer3, m.layer4]) y = this.module(layer, y);
      y = this.emit({ op: 'flatten', x: this.use(this.module(m.avgpool, y)), y: this.fresh() });
      return this.module(m.fc, y);
    }
    if (m instanceof Bottleneck) {
      let y = this.module(m.relu, this.module(m.bn1, this.module(m.conv1, x)));
      y = this.module(m.relu, this.module(m.bn2, this.module(m.conv2, y)));
      y = this.module(m.bn3, this.module(m.conv3, y));
      return this.relu(this.add(y, m.downsample ? this.module(m.downsample, x) : x));
    }
    if (m instanceof BasicBlock) {
      let y = this.module(m.relu, this.module(m.bn1, this.module(m.conv1, x)));
      y = this.module(m.bn2, this.module(m.conv2, y));
      return this.relu(this.add(y, m.downsample ? this.module(m.downsample, x) : x));
    }
    if (m instanceof Sequential) return m.children().reduce((y, c) => this.module(c, y), x);
    if (m instanceof Conv2d) return this.conv(m, x);
    if (m instanceof BatchNorm2d) return this.batchNorm(m, x);
    if (m instanceof ReLU) return this.relu(x);
    if (m instanceof MaxPool2d) {
      const o = m.options;
      if ((o.dilation !== undefined && pair(o.dilation).some((d) => d !== 1)) || o.ceilMode) throw new Error('model lowering: MaxPool2d with dilation or ceilMode is not lowered');
      const [ph, pw] = pair(o.padding ?? 0);
      return this.emit({ op: 'maxpool', x: this.use(x), y: this.fresh(), kernel: pair(m.kernelSize), stride: pair(o.stride ?? m.kernelSize), pads: [ph, pw, ph, pw] });
    }
    if (m instanceof AdaptiveAvgPool2d) {
      const size = m.outputSize;
      if (!(size === 1 || (Array.isArray(size) && size[0] === 1 && size[1] === 1))) throw new Error(`model lowering: AdaptiveAvgPool2d(${JSON.stringify(size)}) is not lowered (only output 1×1)`);
      return this.emit({ op: 'globalAvgPool', x: this.use(x), y: this.fresh() });
    }
    if (m instanceof Linear) {
      return this.emit({ op: 'linear', x: this.use(x), y: this.fresh(), w: f32(m.weight), wShape: m.weight.shape as [number, number], bias: m.bias ? f32(m.bias) : null });
    }
    throw new Error(`model lowering: no rule for ${m.constructor.name}`);
  }
}

/** Lower a float32 model in eval mode for an input of `inputShape` (NCHW) and its output's shape. */
export function lowerModel(model: Module, inputShape: number[], outputShape: number[]): ModelGraph {
  const l = new Lowering();
  const input = l.fresh();
  const output = l.module(model, input);
  return { input, inputShape, output, outputShape, nodes: l.nodes };
}
