// ONNX export: an eval-mode model becomes an ONNX graph (opset 13..21, float32) that
// onnxruntime, TensorRT, OpenVINO or a browser runtime can run.
//
// The graph is not traced. The exporter walks the module tree with one emitter per module class;
// a composite's emitter (ResNet, Bottleneck, CifarBlock, ...) writes the same dataflow as that
// class's forward(), a leaf's emitter (Conv2d, BatchNorm2d, ...; models/onnx_layers.ts) writes
// one or a few ONNX nodes. A class without an emitter, or a subclass that overrides forward(), is
// an error naming the class and its path in the model: silently exporting a different function
// would be worse. Forward hooks are not part of the exported graph. Weights are written as
// float32 whatever the model's dtype; the input is float32 [N, ...exampleInput.shape[1:]].
import { ValueError, fmtShape } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { Dropout, Flatten, Identity, Linear, ReLU, Sequential } from '../nn/layers/basic.js';
import { Conv2d } from '../nn/layers/conv.js';
import { BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm } from '../nn/layers/norm.js';
import { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from '../nn/layers/pool.js';
import { Module } from '../nn/module.js';
import { CifarBlock, CifarResNet, PadShortcut } from './cifar.js';
import { INPUT, OUTPUT, OnnxExportError, OnnxGraph, type Value } from './onnx_graph.js';
import {
  add,
  child,
  emitAdaptiveAvgPool,
  emitAvgPool,
  emitConv,
  emitFlatten,
  emitGroupNorm,
  emitInstanceNorm,
  emitLayerNorm,
  emitLinear,
  emitMaxPool,
  emitRunningStatsNorm,
  flattenFrom1,
  need,
  relu,
  where,
} from './onnx_layers.js';
import { type OnnxModel, encodeOnnxModel } from './onnx_proto.js';
import { BasicBlock, Bottleneck, ResNet } from './resnet.js';
import { writeFileAtomic } from './safetensors.js';

export { OnnxExportError } from './onnx_graph.js';

export interface OnnxExportOptions {
  /** ONNX opset of the default domain, 13..21 (default 17). */
  opset?: number;
  /** Fold each eval-mode BatchNorm that follows a convolution into its weights (default true). */
  foldBatchNorm?: boolean;
}

/** The IR version that goes with each opset (onnx/helper.py's table). */
const IR_VERSION: Record<number, number> = { 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10 };

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
  const proc = (globalThis as { process?: { getBuiltinModule?: unknown } }).process;
  if (!proc?.getBuiltinModule) throw new OnnxExportError('exportOnnx: writing a file needs Node.js >= 20.16; in a browser use serializeOnnx() for the bytes');
  const bytes = serializeOnnx(model, exampleInput, opts); // every check runs before the disk is touched
  writeFileAtomic(path, bytes);
}
