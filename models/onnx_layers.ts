// ONNX emitters for the nn layers: each writes the nodes of one module's eval-mode forward into
// the graph and returns its output value (models/onnx.ts walks the module tree and calls them).
//
// Eval-mode BatchNorm is an affine map per channel c: y = s·z + (β − μ·s), s = γ / √(σ² + ε).
// When it follows a convolution z = W∗x + b whose output nothing else reads, it folds into it
// (foldBatchNorm, the default):  W'[c] = W[c]·s[c],  b'[c] = β[c] + (b[c] − μ[c])·s[c],
// computed in float64 and rounded to float32 once. Otherwise it is a BatchNormalization node.
// GroupNorm is InstanceNormalization over [N, G, C/G·H·W] then the per-channel affine (ONNX's
// own GroupNormalization, opset 18, had a per-group scale until opset 21); LayerNorm is
// LayerNormalization from opset 17 and mean/variance nodes before.
import { fmtShape } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import type { Flatten, Linear } from '../nn/layers/basic.js';
import type { Conv2d } from '../nn/layers/conv.js';
import type { BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm } from '../nn/layers/norm.js';
import type { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from '../nn/layers/pool.js';
import { conv2dGeometry, pair } from '../nn/ops/conv.js';
import { poolOutputSize } from '../nn/ops/pool.js';
import { OnnxExportError, type OnnxGraph, type Value } from './onnx_graph.js';

const values = (t: Tensor): Float64Array => Float64Array.from(t.toArray() as ArrayLike<number>);
/** A tensor's values as float32 (toArray() is a fresh copy: float32 tensors are not copied again). */
const floats = (t: Tensor): Float32Array => {
  const a = t.toArray();
  return a instanceof Float32Array ? a : Float32Array.from(a as ArrayLike<number>);
};
const filled = (n: number, v: number): Float64Array => new Float64Array(n).fill(v);
/** The dotted path of a child module ('' is the root). */
export const child = (path: string, name: string): string => (path ? `${path}.${name}` : name);
/** A path as error messages show it. */
export const where = (path: string): string => (path === '' ? '<root>' : path);

/** The input must have one of these ranks (batch dim included). */
export function need(x: Value, ranks: number[], what: string): void {
  if (!ranks.includes(x.shape.length)) {
    throw new OnnxExportError(`${what}: expected a ${ranks.join('D or ')}D input with a batch dim, but got shape ${fmtShape(x.shape)}`);
  }
}

export function emitConv(g: OnnxGraph, m: Conv2d, x: Value, path: string): Value {
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
export function emitRunningStatsNorm(g: OnnxGraph, m: RunningStatsNorm, x: Value, path: string, ranks: number[]): Value {
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
    // the initializers are the graph's own copies: scale them in place (float64 product, one rounding)
    const w = g.floatData(wName);
    const perChannel = w.length / c;
    for (let o = 0; o < c; o++) {
      const s = scale[o] as number;
      for (let i = o * perChannel; i < (o + 1) * perChannel; i++) w[i] = (w[i] as number) * s;
    }
    const b = bName ? g.floatData(bName) : new Float32Array(c);
    for (let o = 0; o < c; o++) b[o] = (shift[o] as number) + (b[o] as number) * (scale[o] as number);
    if (!bName) conv.inputs[2] = g.floats(`${path}.bias`, [c], b);
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

export function emitInstanceNorm(g: OnnxGraph, m: InstanceNorm2d, x: Value, path: string): Value {
  // with tracked statistics, eval mode normalises by the running ones: a BatchNorm in all but name
  if (m.trackRunningStats) return emitRunningStatsNorm(g, m, x, path, [4]);
  const what = `exportOnnx: InstanceNorm2d '${where(path)}'`;
  need(x, [4], what);
  if (x.shape[1] !== m.numFeatures) throw new OnnxExportError(`${what}: expected ${m.numFeatures} channels in dim 1, but got input of shape ${fmtShape(x.shape)}`);
  return channelAffine(g, instanceNormalization(g, x, m.eps, path), m.weight, m.bias, path);
}

export function emitGroupNorm(g: OnnxGraph, m: GroupNorm, x: Value, path: string): Value {
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

export function emitLayerNorm(g: OnnxGraph, m: LayerNorm, x: Value, path: string): Value {
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

export function emitMaxPool(g: OnnxGraph, m: MaxPool2d, x: Value, path: string): Value {
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

export function emitAvgPool(g: OnnxGraph, m: AvgPool2d, x: Value, path: string): Value {
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

export function emitAdaptiveAvgPool(g: OnnxGraph, m: AdaptiveAvgPool2d, x: Value, path: string): Value {
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
export function flattenFrom1(g: OnnxGraph, x: Value, name: string): Value {
  const rest = x.shape.slice(1).reduce((a, b) => a * b, 1);
  return g.add('Flatten', name, [x], [x.shape[0] as number, rest], { axis: 1 });
}

export function emitFlatten(g: OnnxGraph, m: Flatten, x: Value, path: string): Value {
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

export function emitLinear(g: OnnxGraph, m: Linear, x: Value, path: string): Value {
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

/** a + b of one shape (the residual sum). */
export function add(g: OnnxGraph, a: Value, b: Value, name: string): Value {
  if (fmtShape(a.shape) !== fmtShape(b.shape)) throw new OnnxExportError(`exportOnnx: '${name}' adds shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)}, which differ`);
  return g.add('Add', name, [a, b], a.shape);
}

export const relu = (g: OnnxGraph, x: Value, name: string): Value => g.add('Relu', name, [x], x.shape);
