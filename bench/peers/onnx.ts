// onnxruntime-node peer (optional devDependency; install with ONNXRUNTIME_NODE_INSTALL=skip, its
// CPU binary ships in the package). Each workload becomes a small ONNX model built in memory
// (onnx_proto.ts): activations are graph inputs fed per call, weights are initializers (as in a
// real model, so ORT may prepack them). One row per thread count of the run (intraOpNumThreads;
// inter-op 1, sequential). session.run is async: the harness times it deferred.
import { Unavailable } from '../runner.js';
import { threadedName } from '../threads.js';
import type { FloatArray, Variant, WorkloadSpec } from '../types.js';
import type { ModelGraph } from './model_graph.js';
import { type OnnxModelSpec, type OnnxNode, onnxModel } from './onnx_proto.js';
import type { PeerInputs } from './tfjs.js';

type Ort = typeof import('onnxruntime-node');

let loaded: Promise<Ort> | undefined;

async function loadOrt(): Promise<Ort> {
  loaded ??= import('onnxruntime-node').then((m) => ((m as { default?: Ort }).default ?? m) as Ort);
  try {
    return await loaded;
  } catch (e) {
    throw new Unavailable(`onnxruntime-node not installed (${e instanceof Error ? e.message.split('\n')[0] : e})`);
  }
}

/** An ONNX model, its fed inputs, and the output the check reads. */
export interface OrtGraph {
  model: OnnxModelSpec;
  feeds: Record<string, { data: Float32Array; shape: number[] }>;
  output: string;
}

/** The ONNX graph for a spec, or undefined when there is none. */
function graphOf(spec: WorkloadSpec, d: PeerInputs): OrtGraph | undefined {
  switch (spec.op) {
    case 'gemm': {
      // Both matrices are inputs: this is C = A·B on arbitrary matrices, and our blocked kernel
      // packs B on every call too.
      const a = [spec.M, spec.K];
      const b = [spec.K, spec.N];
      return {
        model: {
          nodes: [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['c'] }],
          inputs: [{ name: 'a', shape: a }, { name: 'b', shape: b }],
          outputs: [{ name: 'c', shape: [spec.M, spec.N] }],
        },
        feeds: { a: { data: d.a!, shape: a }, b: { data: d.b!, shape: b } },
        output: 'c',
      };
    }
    case 'conv2d': {
      const [n, , h, w] = spec.x;
      const [o, , kh, kw] = spec.w;
      const oh = Math.floor((h + 2 * spec.padding - kh) / spec.stride) + 1;
      const ow = Math.floor((w + 2 * spec.padding - kw) / spec.stride) + 1;
      const p = spec.padding;
      return {
        model: {
          nodes: [{
            op: 'Conv', inputs: ['x', 'w'], outputs: ['y'],
            attrs: { kernel_shape: [kh, kw], strides: [spec.stride, spec.stride], pads: [p, p, p, p], group: spec.groups },
          }],
          inputs: [{ name: 'x', shape: spec.x }],
          outputs: [{ name: 'y', shape: [n, o, oh, ow] }],
          initializers: [{ name: 'w', shape: spec.w, data: d.w! }],
        },
        feeds: { x: { data: d.x!, shape: spec.x } },
        output: 'y',
      };
    }
    case 'pool2d': {
      const [n, c, h, w] = spec.x;
      const k = spec.kernel;
      const p = spec.padding;
      const oh = Math.floor((h + 2 * p - k) / spec.stride) + 1;
      const ow = Math.floor((w + 2 * p - k) / spec.stride) + 1;
      return {
        model: {
          nodes: [{
            op: spec.kind === 'max' ? 'MaxPool' : 'AveragePool', inputs: ['x'], outputs: ['y'],
            attrs: { kernel_shape: [k, k], strides: [spec.stride, spec.stride], pads: [p, p, p, p] },
          }],
          inputs: [{ name: 'x', shape: spec.x }],
          outputs: [{ name: 'y', shape: [n, c, oh, ow] }],
        },
        feeds: { x: { data: d.x!, shape: spec.x } },
        output: 'y',
      };
    }
    case 'norm': {
      // ORT's BatchNormalization normalises with given (running) statistics; batch statistics
      // need its training build. Layer/Instance/GroupNormalization compute their own.
      if (spec.pass !== 'forward' || spec.axes === 'batch') return undefined;
      const [, c, h, w] = spec.x as [number, number, number, number];
      const cShape = spec.axes === 'layer' ? [c, h, w] : [c];
      const op = { layer: 'LayerNormalization', instance: 'InstanceNormalization', group: 'GroupNormalization' }[spec.axes];
      const attrs = { epsilon: { float: spec.eps }, ...(spec.axes === 'layer' ? { axis: 1 } : {}), ...(spec.axes === 'group' ? { num_groups: spec.groups } : {}) };
      return {
        model: {
          nodes: [{ op, inputs: ['x', 'scale', 'bias'], outputs: ['y'], attrs }],
          inputs: [{ name: 'x', shape: spec.x }],
          outputs: [{ name: 'y', shape: spec.x }],
          initializers: [{ name: 'scale', shape: cShape, data: d.w! }, { name: 'bias', shape: cShape, data: d.b! }],
        },
        feeds: { x: { data: d.x!, shape: spec.x } },
        output: 'y',
      };
    }
    default:
      return undefined;
  }
}

export function hasOrtPeer(spec: WorkloadSpec): boolean {
  return graphOf(spec, new Proxy({}, { get: () => new Float32Array(0) })) !== undefined;
}

export function ortVariant(spec: WorkloadSpec, d: PeerInputs, threads: number): Variant {
  return ortGraphVariant(() => {
    const g = graphOf(spec, d);
    if (!g) throw new Unavailable(`no onnxruntime peer for ${spec.op}`);
    return g;
  }, threads);
}

/** The onnxruntime row of a graph built at prepare time (a whole model's graph is big: built only when run). */
export function ortGraphVariant(graph: () => OrtGraph, threads: number, note?: string): Variant {
  return {
    name: threadedName('onnxruntime', threads),
    kind: 'peer',
    backend: 'onnxruntime-node cpu',
    threads,
    isAsync: true,
    ...(note ? { note } : {}),
    async prepare() {
      const ort = await loadOrt();
      const g = graph();
      const session = await ort.InferenceSession.create(onnxModel(g.model), {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
      const feeds: Record<string, InstanceType<Ort['Tensor']>> = {};
      for (const [k, v] of Object.entries(g.feeds)) feeds[k] = new ort.Tensor('float32', v.data, v.shape);
      let last: FloatArray = new Float32Array(0);
      return {
        async run() {
          const out = await session.run(feeds);
          last = out[g.output]!.data as Float32Array;
        },
        output: () => last,
        backend: `onnxruntime-node ${ort.env.versions?.node ?? ''} cpu EP, ${threads} intra-op thread${threads > 1 ? 's' : ''}`,
        dispose: () => session.release(),
      };
    },
  };
}

/** The ONNX model of a lowered model graph (model_graph.ts): weights as initializers, x fed. */
export function onnxOfModel(g: ModelGraph, x: Float32Array): OrtGraph {
  const nodes: OnnxNode[] = [];
  const initializers: NonNullable<OnnxModelSpec['initializers']> = [];
  const weight = (name: string, shape: number[], data: Float32Array): string => {
    initializers.push({ name, shape, data });
    return name;
  };
  /** op into y, or into a temporary then Relu into y */
  const maybeRelu = (n: OnnxNode, relu: boolean, y: string): void => {
    if (!relu) return void nodes.push({ ...n, outputs: [y] });
    nodes.push({ ...n, outputs: [`${y}_pre`] }, { op: 'Relu', inputs: [`${y}_pre`], outputs: [y] });
  };
  for (const n of g.nodes) {
    switch (n.op) {
      case 'conv': {
        const inputs = [n.x, weight(`${n.y}_w`, n.wShape, n.w)];
        if (n.bias) inputs.push(weight(`${n.y}_b`, [n.wShape[0]], n.bias));
        const attrs = { kernel_shape: [n.wShape[2], n.wShape[3]], strides: n.stride, pads: n.pads, dilations: n.dilation, group: n.groups };
        maybeRelu({ op: 'Conv', inputs, outputs: [], attrs }, n.relu, n.y);
        break;
      }
      case 'affine': {
        const c = [n.scale.length, 1, 1];
        nodes.push({ op: 'Mul', inputs: [n.x, weight(`${n.y}_s`, c, n.scale)], outputs: [`${n.y}_m`] });
        maybeRelu({ op: 'Add', inputs: [`${n.y}_m`, weight(`${n.y}_t`, c, n.shift)], outputs: [] }, n.relu, n.y);
        break;
      }
      case 'relu':
        nodes.push({ op: 'Relu', inputs: [n.x], outputs: [n.y] });
        break;
      case 'maxpool':
        nodes.push({ op: 'MaxPool', inputs: [n.x], outputs: [n.y], attrs: { kernel_shape: n.kernel, strides: n.stride, pads: n.pads } });
        break;
      case 'add':
        maybeRelu({ op: 'Add', inputs: [n.a, n.b], outputs: [] }, n.relu, n.y);
        break;
      case 'globalAvgPool':
        nodes.push({ op: 'GlobalAveragePool', inputs: [n.x], outputs: [n.y] });
        break;
      case 'flatten':
        nodes.push({ op: 'Flatten', inputs: [n.x], outputs: [n.y], attrs: { axis: 1 } });
        break;
      case 'linear': {
        const inputs = [n.x, weight(`${n.y}_w`, n.wShape, n.w)];
        if (n.bias) inputs.push(weight(`${n.y}_b`, [n.wShape[0]], n.bias));
        nodes.push({ op: 'Gemm', inputs, outputs: [n.y], attrs: { transB: 1 } });
        break;
      }
    }
  }
  return {
    model: { nodes, inputs: [{ name: g.input, shape: g.inputShape }], outputs: [{ name: g.output, shape: g.outputShape }], initializers },
    feeds: { [g.input]: { data: x, shape: g.inputShape } },
    output: g.output,
  };
}
