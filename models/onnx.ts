// ONNX export: an eval-mode model becomes an ONNX graph (opset 13..21, float32) that
// onnxruntime, TensorRT, OpenVINO or a browser runtime can run.
//
// The graph is not traced. The exporter walks the module tree with one emitter per module class;
// a composite's emitter (ResNet, Bottleneck, CifarBlock, ...) writes the same dataflow as that
// class's forward(), a leaf's emitter (Conv2d, BatchNorm2d, ...) writes one or a few ONNX nodes.
// A class without an emitter, or a subclass that overrides forward(), is an error naming the class
// and its path in the model: silently exporting a different function would be worse. Forward
// hooks are not part of the exported graph.
//
// Eval-mode BatchNorm is an affine map per channel c: y = s·z + (β − μ·s), s = γ / √(σ² + ε).
// When it follows a convolution z = W∗x + b whose output nothing else reads, it folds into it
// (foldBatchNorm, the default):  W'[c] = W[c]·s[c],  b'[c] = β[c] + (b[c] − μ[c])·s[c],
// computed in float64 and rounded to float32 once. Otherwise it is a BatchNormalization node.
// GroupNorm is InstanceNormalization over [N, G, C/G·H·W] then the per-channel affine (ONNX's
// own GroupNormalization, opset 18, had a per-group scale until opset 21); LayerNorm is
// LayerNormalization from opset 17 and mean/variance nodes before.
import type * as NodeFs from 'node:fs';
import type * as NodePath from 'node:path';
import type { Tensor } from '../core/tensor.js';
import { ValueError, fmtShape } from '../core/errors.js';
import { Dropout, Flatten, Identity, Linear, ReLU, Sequential } from '../nn/layers/basic.js';
import { Conv2d } from '../nn/layers/conv.js';
import { BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm } from '../nn/layers/norm.js';
import { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from '../nn/layers/pool.js';
import { Module } from '../nn/module.js';
import { conv2dGeometry, pair } from '../nn/ops/conv.js';
import { poolOutputSize } from '../nn/ops/pool.js';
import { CifarBlock, CifarResNet, PadShortcut } from './cifar.js';
import { INPUT, OUTPUT, OnnxExportError, OnnxGraph, type Value } from './onnx_graph.js';
import { type OnnxModel, encodeOnnxModel } from './onnx_proto.js';
import { BasicBlock, Bottleneck, ResNet } from './resnet.js';

export { OnnxExportError } from './onnx_graph.js';

export interface OnnxExportOptions {
  /** ONNX opset of the default domain, 13..21 (default 17). */
  opset?: number;
  /** Fold each eval-mode BatchNorm that follows a convolution into its weights (default true). */
  foldBatchNorm?: boolean;
}

/** The IR version that goes with each opset (onnx/helper.py's table). */
const IR_VERSION: Record<number, number> = { 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10 };

const values = (t: Tensor): Float64Array => Float64Array.from(t.toArray() as ArrayLike<number>);
/** A tensor's values as float32 (toArray() is a fresh copy: float32 tensors are not copied again). */
const floats = (t: Tensor): Float32Array => {
  const a = t.toArray();
  return a instanceof Float32Array ? a : Float32Array.from(a as ArrayLike<number>);
};
const filled = (n: number, v: number): Float64Array => new Float64Array(n).fill(v);
const child = (path: string, name: string): string => (path ? `${path}.${name}` : name);
const where = (path: string): string => (path === '' ? '<root>' : path);

function need(x: Value, ranks: number[], what: string): void {
  if (!ranks.includes(x.shape.length)) {
    throw new OnnxExportError(`${what}: expected a ${ranks.join('D or ')}D input with a batch dim, but got shape ${fmtShape(x.shape)}`);
  }
}

function emitConv(g: OnnxGraph, m: Conv2d, x: Value, path: string): Value {
  const what = `exportOnnx: Conv2d '${where(path)}'`;
  need(x, [4], what);
  const geo = conv2dGeometry(x.shape, m.weight.shape, { stride: m.stride, padding: m.padding, dilation: m.dilation, groups: m.groups }, what);
  // ONNX pads: [top, left, bottom, right]; 'same' puts the odd pixel at the end, as torch
  let pads: number[];
  if (m.padding === 'valid') pads = [0, 0, 0, 0];
  else if (m.padding === 'same') {
    const th = geo.dh * (geo.kh - 1);
    const tw = geo.dw * (geo.kw - 1);
    pads = [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
  } else {
    const [ph, pw] = pair(m.padding, what, 'padding', 0, 'negative padding is not supported');
    pads = [ph, pw, ph, pw];
  }
  const params = [g.floats(`${path}.weight`, m.weight.shape, floats(m.weight))];
  if (m.bias) params.push(g.floats(`${path}.bias`, m.bias.shape, floats(m.bias)));
  return g.add('Conv', path, [x, ...params], [geo.n, geo.o, geo.oh, geo.ow], {
    kernel_shape: [geo.kh, geo.kw],
    strides: [geo.sh, geo.sw],
    pads,
    dilations: [geo.dh, geo.dw],
    group: geo.groups,
  });
}

type RunningStatsNorm = BatchNorm1d | BatchNorm2d | InstanceNorm2d;

/** y = scale·x + shift per channel, from eval-mode running statistics. */
function affineOf(m: RunningStatsNorm): { scale: Float64Array; shift: Float64Array } {
  const c = m.numFeatures;
  const mean = values(m.running_mean as Tensor);
  const variance = values(m.running_var as Tensor);
  const gamma = m.weight ? values(m.weight) : filled(c, 1);
  const beta = m.bias ? values(m.bias) : filled(c, 0);
  const scale = new Float64Array(c);
  const shift = new Float64Array(c);
  for (let i = 0; i < c; i++) {
    scale[i] = (gamma[i] as number) / Math.sqrt((variance[i] as number) + m.eps);
    shift[i] = (beta[i] as number) - (mean[i] as number) * (scale[i] as number);
  }
  return { scale, shift };
}

/** A norm that uses running statistics in eval: folded into the conv before it, or BatchNormalization. */
function emitRunningStatsNorm(g: OnnxGraph, m: RunningStatsNorm, x: Value, path: string, ranks: number[]): Value {
  const what = `exportOnnx: ${m.constructor.name} '${where(path)}'`;
  need(x, ranks, what);
  const c = m.numFeatures;
  if (x.shape[1] !== c) throw new OnnxExportError(`${what}: expected ${c} channels in dim 1, but got input of shape ${fmtShape(x.shape)}`);
  if (!m.running_mean || !m.running_var) {
    throw new OnnxExportError(`${what} has no running statistics (trackRunningStats=false), so even in eval mode it normalises each batch by its own statistics; ONNX's BatchNormalization cannot express that`);
  }
  const conv = g.foldBatchNorm ? g.unreadProducer(x) : undefined;
  if (conv?.op === 'Conv') {
    // conv's inputs: x, W [C, C_in/groups, kh, kw], and b [C] if it has one
    const { scale, shift } = affineOf(m);
    const [wName, bName] = [conv.inputs[1] as string, conv.inputs[2]];
    const w = g.floatData(wName);
    const b = bName ? g.floatData(bName) : new Float32Array(c);
    const perChannel = w.length / c;
    const folded = new Float32Array(w.length);
    for (let o = 0; o < c; o++) {
      const s = scale[o] as number;
      for (let i = o * perChannel; i < (o + 1) * perChannel; i++) folded[i] = (w[i] as number) * s;
    }
    const foldedBias = Float32Array.from(shift, (t, o) => t + (b[o] as number) * (scale[o] as number));
    g.setFloatData(wName, folded);
    if (bName) g.setFloatData(bName, foldedBias);
    else conv.inputs[2] = g.floats(`${path}.bias`, [c], foldedBias);
    return g.rename(x, path);
  }
  const inputs = [
    g.floats(`${path}.weight`, [c], m.weight ? floats(m.weight) : new Float32Array(c).fill(1)),
    g.floats(`${path}.bias`, [c], m.bias ? floats(m.bias) : new Float32Array(c)),
    g.floats(`${path}.running_mean`, [c], floats(m.running_mean)),
    g.floats(`${path}.running_var`, [c], floats(m.running_var)),
  ];
  return g.add('BatchNormalization', path, [x, ...inputs], x.shape, { epsilon: { float: m.eps } });
}

/** γ·x + β with γ, β [C] broadcast over the dims after the channel dim. */
function channelAffine(g: OnnxGraph, x: Value, weight: Tensor | null, bias: Tensor | null, path: string): Value {
  const dims = [x.shape[1] as number, ...x.shape.slice(2).map(() => 1)];
  let y = x;
  if (weight) y = g.add('Mul', `${path}.mul`, [y, g.floats(`${path}.weight`, dims, floats(weight))], x.shape);
  if (bias) y = g.add('Add', `${path}.add`, [y, g.floats(`${path}.bias`, dims, floats(bias))], x.shape);
  return y;
}

/** InstanceNormalization with unit scale and zero shift (the affine, if any, comes after). */
function instanceNormalization(g: OnnxGraph, x: Value, eps: number, path: string): Value {
  const c = x.shape[1] as number;
  const scale = g.floats(`${path}.unit_scale`, [c], new Float32Array(c).fill(1));
  const shift = g.floats(`${path}.zero_shift`, [c], new Float32Array(c));
  return g.add('InstanceNormalization', path, [x, scale, shift], x.shape, { epsilon: { float: eps } });
}

function emitInstanceNorm(g: OnnxGraph, m: InstanceNorm2d, x: Value, path: string): Value {
  // with tracked statistics, eval mode normalises by the running ones: a BatchNorm in all but name
  if (m.trackRunningStats) return emitRunningStatsNorm(g, m, x, path, [4]);
  const what = `exportOnnx: InstanceNorm2d '${where(path)}'`;
  need(x, [4], what);
  if (x.shape[1] !== m.numFeatures) throw new OnnxExportError(`${what}: expected ${m.numFeatures} channels in dim 1, but got input of shape ${fmtShape(x.shape)}`);
  return channelAffine(g, instanceNormalization(g, x, m.eps, path), m.weight, m.bias, path);
}

function emitGroupNorm(g: OnnxGraph, m: GroupNorm, x: Value, path: string): Value {
  const what = `exportOnnx: GroupNorm '${where(path)}'`;
  if (x.shape.length < 2 || x.shape[1] !== m.numChannels) {
    throw new OnnxExportError(`${what}: expected input with ${m.numChannels} channels in dim 1, but got shape ${fmtShape(x.shape)}`);
  }
  const n = x.shape[0] as number;
  const groups = m.numGroups;
  const perGroup = x.shape.slice(1).reduce((a, b) => a * b, 1) / groups;
  // Reshape's 0 copies the (dynamic) batch size
  const grouped = g.add('Reshape', `${path}.group`, [x, g.int64s(`${path}.group_shape`, [0, groups, perGroup])], [n, groups, perGroup]);
  const normed = instanceNormalization(g, grouped, m.eps, `${path}.norm`);
  const back = g.add('Reshape', `${path}.ungroup`, [normed, g.int64s(`${path}.shape`, [0, ...x.shape.slice(1)])], x.shape);
  return channelAffine(g, back, m.weight, m.bias, path);
}

function emitLayerNorm(g: OnnxGraph, m: LayerNorm, x: Value, path: string): Value {
  const what = `exportOnnx: LayerNorm '${where(path)}'`;
  const k = m.normalizedShape.length;
  const tail = x.shape.slice(x.shape.length - k);
  if (x.shape.length <= k || tail.some((d, i) => d !== m.normalizedShape[i])) {
    throw new OnnxExportError(`${what}: normalizedShape ${fmtShape(m.normalizedShape)} must be the trailing dims of an input with a batch dim, but got shape ${fmtShape(x.shape)}`);
  }
  const numel = tail.reduce((a, b) => a * b, 1);
  const weight = g.floats(`${path}.weight`, tail, m.weight ? floats(m.weight) : new Float32Array(numel).fill(1));
  const bias = g.floats(`${path}.bias`, tail, m.bias ? floats(m.bias) : new Float32Array(numel));
  if (g.opset >= 17) return g.add('LayerNormalization', path, [x, weight, bias], x.shape, { axis: -k, epsilon: { float: m.eps } });
  // before opset 17: (x − mean) / √(var + ε) over the last k dims, then γ, β
  const axes = Array.from({ length: k }, (_, i) => i - k);
  const reduced = [...x.shape.slice(0, x.shape.length - k), ...tail.map(() => 1)];
  const mean = g.add('ReduceMean', `${path}.mean`, [x], reduced, { axes, keepdims: 1 });
  const centred = g.add('Sub', `${path}.centred`, [x, mean], x.shape);
  const squares = g.add('Mul', `${path}.squares`, [centred, centred], x.shape);
  const variance = g.add('ReduceMean', `${path}.var`, [squares], reduced, { axes, keepdims: 1 });
  const eps = g.floats(`${path}.eps`, [], Float32Array.of(m.eps));
  const std = g.add('Sqrt', `${path}.std`, [g.add('Add', `${path}.var_eps`, [variance, eps], reduced)], reduced);
  const normed = g.add('Div', `${path}.normed`, [centred, std], x.shape);
  return g.add('Add', path, [g.add('Mul', `${path}.scaled`, [normed, weight], x.shape), bias], x.shape);
}

function emitMaxPool(g: OnnxGraph, m: MaxPool2d, x: Value, path: string): Value {
  const what = `exportOnnx: MaxPool2d '${where(path)}'`;
  need(x, [4], what);
  const o = m.options;
  const [kh, kw] = pair(m.kernelSize, what, 'kernelSize', 1, 'kernel size should be greater than zero');
  const [sh, sw] = pair(o.stride ?? [kh, kw], what, 'stride', 1, 'stride should be greater than zero');
  const [ph, pw] = pair(o.padding ?? 0, what, 'padding', 0, 'negative padding is not supported');
  const [dh, dw] = pair(o.dilation ?? 1, what, 'dilation', 1, 'dilation should be greater than zero');
  const ceil = o.ceilMode ?? false;
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const shape = [n, c, poolOutputSize(h, kh, sh, ph, dh, ceil), poolOutputSize(w, kw, sw, pw, dw, ceil)];
  return g.add('MaxPool', path, [x], shape, { kernel_shape: [kh, kw], strides: [sh, sw], pads: [ph, pw, ph, pw], dilations: [dh, dw], ceil_mode: ceil ? 1 : 0 });
}

function emitAvgPool(g: OnnxGraph, m: AvgPool2d, x: Value, path: string): Value {
  const what = `exportOnnx: AvgPool2d '${where(path)}'`;
  need(x, [4], what);
  const o = m.options;
  if (o.divisorOverride !== undefined && o.divisorOverride !== null) {
    throw new OnnxExportError(`${what}: divisorOverride=${o.divisorOverride} has no ONNX AveragePool equivalent; export supports divisorOverride unset`);
  }
  const [kh, kw] = pair(m.kernelSize, what, 'kernelSize', 1, 'kernel size should be greater than zero');
  const [sh, sw] = pair(o.stride ?? [kh, kw], what, 'stride', 1, 'stride should be greater than zero');
  const [ph, pw] = pair(o.padding ?? 0, what, 'padding', 0, 'negative padding is not supported');
  const ceil = o.ceilMode ?? false;
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const shape = [n, c, poolOutputSize(h, kh, sh, ph, 1, ceil), poolOutputSize(w, kw, sw, pw, 1, ceil)];
  const countIncludePad = o.countIncludePad ?? true;
  return g.add('AveragePool', path, [x], shape, { kernel_shape: [kh, kw], strides: [sh, sw], pads: [ph, pw, ph, pw], ceil_mode: ceil ? 1 : 0, count_include_pad: countIncludePad ? 1 : 0 });
}

function emitAdaptiveAvgPool(g: OnnxGraph, m: AdaptiveAvgPool2d, x: Value, path: string): Value {
  const what = `exportOnnx: AdaptiveAvgPool2d '${where(path)}'`;
  need(x, [4], what);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const [rh, rw] = typeof m.outputSize === 'number' ? [m.outputSize, m.outputSize] : m.outputSize;
  const oh = rh ?? h;
  const ow = rw ?? w;
  if (oh === 1 && ow === 1) return g.add('GlobalAveragePool', path, [x], [n, c, 1, 1]);
  // equal windows only: then adaptive pooling is a plain average pool with kernel = stride = in/out
  if (h % oh !== 0 || w % ow !== 0) {
    throw new OnnxExportError(`${what}: output size ${fmtShape([oh, ow])} does not divide the input size ${fmtShape([h, w])}; export supports output 1x1 or sizes that divide the input`);
  }
  const k = [h / oh, w / ow];
  return g.add('AveragePool', path, [x], [n, c, oh, ow], { kernel_shape: k, strides: k });
}

/** torch.flatten(x, 1): ONNX's Flatten with axis 1 gives [N, rest]. */
function flattenFrom1(g: OnnxGraph, x: Value, name: string): Value {
  const rest = x.shape.slice(1).reduce((a, b) => a * b, 1);
  return g.add('Flatten', name, [x], [x.shape[0] as number, rest], { axis: 1 });
}

function emitFlatten(g: OnnxGraph, m: Flatten, x: Value, path: string): Value {
  const rank = x.shape.length;
  const start = m.startDim < 0 ? m.startDim + rank : m.startDim;
  const end = m.endDim < 0 ? m.endDim + rank : m.endDim;
  if (start < 1 || end < start || end >= rank) {
    throw new OnnxExportError(`exportOnnx: Flatten '${where(path)}' (startDim=${m.startDim}, endDim=${m.endDim}) on shape ${fmtShape(x.shape)}: export needs 1 <= startDim <= endDim < ${rank} (the batch dim stays dynamic)`);
  }
  if (start === 1 && end === rank - 1) return flattenFrom1(g, x, path);
  const merged = x.shape.slice(start, end + 1).reduce((a, b) => a * b, 1);
  const shape = [...x.shape.slice(0, start), merged, ...x.shape.slice(end + 1)];
  return g.add('Reshape', path, [x, g.int64s(`${path}.shape`, [0, ...shape.slice(1)])], shape);
}

function emitLinear(g: OnnxGraph, m: Linear, x: Value, path: string): Value {
  const what = `exportOnnx: Linear '${where(path)}'`;
  if (x.shape.length < 2 || x.shape[x.shape.length - 1] !== m.inFeatures) {
    throw new OnnxExportError(`${what}: expected an input [N, ..., ${m.inFeatures}], but got shape ${fmtShape(x.shape)}`);
  }
  const shape = [...x.shape.slice(0, -1), m.outFeatures];
  if (x.shape.length === 2) {
    // Gemm: y = x·Wᵀ + b with W [out, in] as stored (transB)
    const inputs = [g.floats(`${path}.weight`, m.weight.shape, floats(m.weight))];
    if (m.bias) inputs.push(g.floats(`${path}.bias`, m.bias.shape, floats(m.bias)));
    return g.add('Gemm', path, [x, ...inputs], shape, { transB: 1 });
  }
  // more leading dims: MatMul with Wᵀ [in, out], then the bias
  const w = floats(m.weight);
  const wt = new Float32Array(w.length);
  for (let o = 0; o < m.outFeatures; o++) for (let i = 0; i < m.inFeatures; i++) wt[i * m.outFeatures + o] = w[o * m.inFeatures + i] as number;
  const y = g.add('MatMul', m.bias ? `${path}.matmul` : path, [x, g.floats(`${path}.weight_t`, [m.inFeatures, m.outFeatures], wt)], shape);
  return m.bias ? g.add('Add', path, [y, g.floats(`${path}.bias`, m.bias.shape, floats(m.bias))], shape) : y;
}

function add(g: OnnxGraph, a: Value, b: Value, name: string): Value {
  if (fmtShape(a.shape) !== fmtShape(b.shape)) throw new OnnxExportError(`exportOnnx: '${name}' adds shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}, which differ`);
  return g.add('Add', name, [a, b], a.shape);
}

const relu = (g: OnnxGraph, x: Value, name: string): Value => g.add('Relu', name, [x], x.shape);

/** The child module `name` of m applied to x. */
function sub(g: OnnxGraph, m: Module, name: string, x: Value, path: string): Value {
  const c = (m as unknown as Record<string, unknown>)[name];
  if (!(c instanceof Module)) throw new OnnxExportError(`exportOnnx: ${m.constructor.name} '${where(path)}' has no child module '${name}'`);
  return emitModule(g, c, x, child(path, name));
}

function emitBasicBlock(g: OnnxGraph, m: BasicBlock, x: Value, path: string): Value {
  let out = relu(g, sub(g, m, 'bn1', sub(g, m, 'conv1', x, path), path), child(path, 'relu'));
  out = sub(g, m, 'bn2', sub(g, m, 'conv2', out, path), path);
  const identity = m.downsample ? sub(g, m, 'downsample', x, path) : x;
  return relu(g, add(g, out, identity, child(path, 'add')), child(path, 'relu'));
}

function emitBottleneck(g: OnnxGraph, m: Bottleneck, x: Value, path: string): Value {
  let out = relu(g, sub(g, m, 'bn1', sub(g, m, 'conv1', x, path), path), child(path, 'relu'));
  out = relu(g, sub(g, m, 'bn2', sub(g, m, 'conv2', out, path), path), child(path, 'relu'));
  out = sub(g, m, 'bn3', sub(g, m, 'conv3', out, path), path);
  const identity = m.downsample ? sub(g, m, 'downsample', x, path) : x;
  return relu(g, add(g, out, identity, child(path, 'add')), child(path, 'relu'));
}

function emitResNet(g: OnnxGraph, m: ResNet, x: Value, path: string): Value {
  let out = relu(g, sub(g, m, 'bn1', sub(g, m, 'conv1', x, path), path), child(path, 'relu'));
  out = sub(g, m, 'maxpool', out, path);
  for (const layer of ['layer1', 'layer2', 'layer3', 'layer4']) out = sub(g, m, layer, out, path);
  out = flattenFrom1(g, sub(g, m, 'avgpool', out, path), child(path, 'flatten'));
  return sub(g, m, 'fc', out, path);
}

/** Option A: x[:, :, ::s, ::s] (Slice with steps), then zero channels on both sides (Pad). */
function emitPadShortcut(g: OnnxGraph, m: PadShortcut, x: Value, path: string): Value {
  const what = `exportOnnx: PadShortcut '${where(path)}'`;
  need(x, [4], what);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  if (c !== m.inPlanes) throw new OnnxExportError(`${what}: expected ${m.inPlanes} channels, but got input of shape ${fmtShape(x.shape)}`);
  const s = m.stride;
  let out = x;
  if (s !== 1) {
    const bounds = [g.int64s(`${path}.starts`, [0, 0]), g.int64s(`${path}.ends`, [h, w]), g.int64s(`${path}.axes`, [2, 3]), g.int64s(`${path}.steps`, [s, s])];
    out = g.add('Slice', `${path}.subsample`, [x, ...bounds], [n, c, Math.ceil(h / s), Math.ceil(w / s)]);
  }
  const extra = m.outPlanes - m.inPlanes;
  if (extra === 0) return out;
  const before = Math.floor(extra / 2);
  // pads: begins of dims 0..3, then ends of dims 0..3
  const pads = g.int64s(`${path}.pads`, [0, before, 0, 0, 0, extra - before, 0, 0]);
  return g.add('Pad', path, [out, pads], [n, m.outPlanes, out.shape[2] as number, out.shape[3] as number], { mode: { string: 'constant' } });
}

function emitCifarBlock(g: OnnxGraph, m: CifarBlock, x: Value, path: string): Value {
  // CifarBlock keeps "no shortcut at all" (the plain net) in a private field
  const plain = (m as unknown as { plain?: unknown }).plain;
  if (typeof plain !== 'boolean') throw new OnnxExportError(`exportOnnx: CifarBlock '${where(path)}' no longer has its 'plain' flag; the exporter needs updating`);
  let out = relu(g, sub(g, m, 'bn1', sub(g, m, 'conv1', x, path), path), child(path, 'relu'));
  out = sub(g, m, 'bn2', sub(g, m, 'conv2', out, path), path);
  if (plain) return relu(g, out, child(path, 'relu'));
  const shortcut = m.shortcut ? sub(g, m, 'shortcut', x, path) : x;
  return relu(g, add(g, out, shortcut, child(path, 'add')), child(path, 'relu'));
}

function emitCifarResNet(g: OnnxGraph, m: CifarResNet, x: Value, path: string): Value {
  let out = relu(g, sub(g, m, 'bn1', sub(g, m, 'conv1', x, path), path), child(path, 'relu'));
  for (const layer of ['layer1', 'layer2', 'layer3']) out = sub(g, m, layer, out, path);
  out = flattenFrom1(g, sub(g, m, 'avgpool', out, path), child(path, 'flatten'));
  return sub(g, m, 'fc', out, path);
}

function emitSequential(g: OnnxGraph, m: Sequential, x: Value, path: string): Value {
  let out = x;
  for (const [name, c] of m.namedChildren()) out = emitModule(g, c, out, child(path, name));
  return out;
}

// biome-ignore lint/suspicious/noExplicitAny: each emitter takes its own class
type Emitter = (g: OnnxGraph, m: any, x: Value, path: string) => Value;
// biome-ignore lint/suspicious/noExplicitAny: constructors of any arity
type ModuleClass = abstract new (...args: any[]) => Module;

const EMITTERS: [ModuleClass, Emitter][] = [
  [Conv2d, emitConv],
  [BatchNorm2d, (g, m, x, p) => emitRunningStatsNorm(g, m, x, p, [4])],
  [BatchNorm1d, (g, m, x, p) => emitRunningStatsNorm(g, m, x, p, [2, 3])],
  [InstanceNorm2d, emitInstanceNorm],
  [GroupNorm, emitGroupNorm],
  [LayerNorm, emitLayerNorm],
  [ReLU, (g, _m, x, p) => relu(g, x, p)],
  [MaxPool2d, emitMaxPool],
  [AvgPool2d, emitAvgPool],
  [AdaptiveAvgPool2d, emitAdaptiveAvgPool],
  [Flatten, emitFlatten],
  [Linear, emitLinear],
  [Identity, (_g, _m, x) => x],
  [Dropout, (_g, _m, x) => x], // the identity in eval mode
  [Sequential, emitSequential],
  [BasicBlock, emitBasicBlock],
  [Bottleneck, emitBottleneck],
  [ResNet, emitResNet],
  [PadShortcut, emitPadShortcut],
  [CifarBlock, emitCifarBlock],
  [CifarResNet, emitCifarResNet],
];

function emitModule(g: OnnxGraph, m: Module, x: Value, path: string): Value {
  for (const [cls, emit] of EMITTERS) {
    if (!(m instanceof cls)) continue;
    // the instance's own forward is a hook wrapper; the class's is on the prototype chain
    if (Reflect.get(Object.getPrototypeOf(m), 'forward') !== cls.prototype.forward) {
      throw new OnnxExportError(`exportOnnx: ${m.constructor.name} at '${where(path)}' overrides forward() of ${cls.name}; the exporter only knows ${cls.name}'s dataflow`);
    }
    return emit(g, m, x, path);
  }
  throw new OnnxExportError(
    `exportOnnx: no ONNX export for module class ${m.constructor.name} at '${where(path)}'; supported: ${EMITTERS.map(([c]) => c.name).join(', ')}`,
  );
}

/** Check the arguments, then build the graph of model(exampleInput) with a dynamic batch dim. */
export function onnxModelOf(model: Module, exampleInput: Tensor, opts: OnnxExportOptions = {}): OnnxModel {
  if (!(model instanceof Module)) throw new ValueError(`exportOnnx: argument 'model' must be a Module, but got ${describe(model)}`);
  const x = exampleInput as unknown;
  const shape = (x as { shape?: unknown }).shape;
  if (typeof x !== 'object' || x === null || !Array.isArray(shape) || typeof (x as { dtype?: unknown }).dtype !== 'string') {
    throw new ValueError(`exportOnnx: argument 'exampleInput' must be a Tensor, but got ${describe(x)}`);
  }
  if (exampleInput.dtype === 'int32') throw new ValueError("exportOnnx: argument 'exampleInput' must be a float tensor, but got dtype int32");
  if (shape.length < 2) throw new ValueError(`exportOnnx: argument 'exampleInput' must have a batch dim and at least one more, but got shape ${fmtShape(shape)}`);
  const opset = opts.opset ?? 17;
  if (IR_VERSION[opset] === undefined) throw new ValueError(`exportOnnx: argument 'opts.opset' must be an integer from 13 to 21, but got ${opset}`);
  const fold = opts.foldBatchNorm ?? true;
  if (typeof fold !== 'boolean') throw new ValueError(`exportOnnx: argument 'opts.foldBatchNorm' must be a boolean, but got ${describe(fold)}`);
  for (const [name, m] of model.namedModules()) {
    if (m.training) {
      throw new OnnxExportError(`exportOnnx: the model must be in eval mode (call model.eval()), but module '${where(name)}' (${m.constructor.name}) has training=true`);
    }
  }
  for (const [name, t] of [...model.namedParameters(), ...model.namedBuffers()]) {
    if (t.device !== 'cpu') throw new OnnxExportError(`exportOnnx: '${name}' is on device '${t.device}'; move the model to the CPU first (model.to('cpu'))`);
  }

  const g = new OnnxGraph(opset, fold);
  const input: Value = { name: INPUT, shape: [...shape] };
  let out = emitModule(g, model, input, '');
  if (out.name === input.name) out = g.add('Identity', 'identity', [input], input.shape);
  out = g.rename(out, OUTPUT, { reserved: true });
  return {
    graphName: model.constructor.name,
    docString: `${model.constructor.name} exported by resgrad (opset ${opset}${fold ? ', BatchNorm folded into the convolutions' : ''})`,
    nodes: g.nodes,
    initializers: [...g.initializers.values()],
    inputs: [{ name: input.name, dims: ['N', ...shape.slice(1)] }],
    outputs: [{ name: out.name, dims: ['N', ...out.shape.slice(1)] }],
    opset,
    irVersion: IR_VERSION[opset] as number,
    producerName: 'resgrad',
  };
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** The ONNX model (ModelProto bytes) of an eval-mode model, for the input shape of exampleInput with a dynamic batch dim 'N'. */
export function serializeOnnx(model: Module, exampleInput: Tensor, opts: OnnxExportOptions = {}): Uint8Array {
  return encodeOnnxModel(onnxModelOf(model, exampleInput, opts));
}

/**
 * Write the ONNX model of an eval-mode `model` to `path` (see serializeOnnx). The file appears
 * whole or not at all: the bytes go to a temporary file in the same folder, which is fsynced and
 * renamed over `path`.
 */
export function exportOnnx(model: Module, exampleInput: Tensor, path: string, opts: OnnxExportOptions = {}): void {
  if (typeof path !== 'string' || path === '') throw new ValueError(`exportOnnx: argument 'path' must be a non-empty string, but got ${describe(path)}`);
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown; pid?: number } }).process;
  if (!proc?.getBuiltinModule) throw new OnnxExportError('exportOnnx: writing a file needs Node.js >= 20.16; in a browser use serializeOnnx() for the bytes');
  const fs = proc.getBuiltinModule('node:fs') as typeof NodeFs;
  const P = proc.getBuiltinModule('node:path') as typeof NodePath;
  const bytes = serializeOnnx(model, exampleInput, opts); // every check runs before the disk is touched
  const dir = P.dirname(P.resolve(path));
  const tmp = P.join(dir, `.${P.basename(path)}.${proc.pid ?? 0}.${Math.random().toString(36).slice(2)}.tmp`);
  const fd = fs.openSync(tmp, 'wx', 0o644);
  try {
    try {
      for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, bytes.length - done);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  try {
    // make the rename durable too, where the platform lets a folder be fsynced
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    // best effort
  }
}
