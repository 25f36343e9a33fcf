// TensorFlow.js peers: tfjs-backend-cpu (plain JS kernels) and tfjs-backend-wasm (XNNPACK,
// SIMD), both optional devDependencies loaded on first use. tfjs is NHWC: inputs are transposed
// and filters laid out HWIO once at prepare time, and outputs back to NCHW only when read for
// the check; neither is timed. Each timed call ends with dataSync() (the result on the host, as
// our kernels leave it) and disposes its output.
//
// Threads: tfjs-backend-wasm has a threaded SIMD build, but turns it off in Node on purpose
// (its WASM_HAS_MULTITHREAD_SUPPORT flag is false under IS_NODE, tfjs issue #3830); forcing the
// flag on fails at init with ERR_WORKER_PATH, because Emscripten's pthread worker is loaded from
// a blob: URL that Node's worker_threads refuse. So every tfjs row runs on one thread.
import { Unavailable } from '../runner.js';
import type { FloatArray, Prepared, Variant, WorkloadSpec } from '../types.js';
import type { ModelGraph } from './model_graph.js';

type Tf = typeof import('@tensorflow/tfjs-core');
type TfTensor = import('@tensorflow/tfjs-core').Tensor;
type Tensor4D = import('@tensorflow/tfjs-core').Tensor4D;
export type TfBackend = 'cpu' | 'wasm';

let loaded: Promise<Tf> | undefined;

async function loadTf(): Promise<Tf> {
  loaded ??= (async () => {
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-cpu');
    await import('@tensorflow/tfjs-backend-wasm');
    return tf;
  })();
  try {
    return await loaded;
  } catch (e) {
    throw new Unavailable(`tfjs not installed (${e instanceof Error ? e.message.split('\n')[0] : e})`);
  }
}

/** Make `backend` current; returns what it is (SIMD / threads as tfjs reports them). */
async function useBackend(tf: Tf, backend: TfBackend): Promise<string> {
  // tfjs-backend-cpu prints a banner suggesting tfjs-node on first use in Node; keep the
  // progress output readable.
  const warn = console.warn;
  console.warn = (...a: unknown[]) => {
    if (!String(a[0]).includes('tfjs-node')) warn(...a);
  };
  try {
    if (!(await tf.setBackend(backend))) throw new Unavailable(`tfjs backend '${backend}' failed to start`);
    await tf.ready();
    tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(1)).dataSync());
  } finally {
    console.warn = warn;
  }
  if (backend === 'cpu') return `tfjs-core ${tf.version_core} cpu`;
  const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
  const mt = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
  return `tfjs-core ${tf.version_core} wasm${simd ? ' SIMD' : ''}${mt ? ' threaded' : ', 1 thread: tfjs turns its threaded build off in Node'}`;
}

/** A prepared tfjs computation: `build` makes the input tensors, `call` the timed op. */
function prepared(tf: Tf, inputs: TfTensor[], call: () => TfTensor, toNchw: boolean): Prepared {
  let last: TfTensor | undefined;
  return {
    run() {
      last?.dispose();
      last = call();
      last.dataSync();
    },
    output(): FloatArray {
      if (!last) throw new Error('tfjs: output() before run()');
      const y = last;
      return tf.tidy(() => (toNchw ? tf.transpose(y, [0, 3, 1, 2]) : y).dataSync() as Float32Array);
    },
    dispose() {
      last?.dispose();
      for (const t of inputs) t.dispose();
    },
  };
}

/** OIHW float32 weights of one group [og, cg, kh, kw] → HWIO [kh, kw, cg, og]. */
function hwio(w: Float32Array, o0: number, og: number, cg: number, kh: number, kw: number): Float32Array {
  const out = new Float32Array(kh * kw * cg * og);
  for (let o = 0; o < og; o++)
    for (let c = 0; c < cg; c++)
      for (let i = 0; i < kh; i++)
        for (let j = 0; j < kw; j++) out[((i * kw + j) * cg + c) * og + o] = w[(((o0 + o) * cg + c) * kh + i) * kw + j] as number;
  return out;
}

export interface PeerInputs {
  [name: string]: Float32Array;
}

/** How tfjs does a spec, or why it cannot; undefined = no tfjs peer for this op. */
export function tfjsNote(spec: WorkloadSpec): string | undefined {
  if (spec.op === 'norm') return 'composed: tf.moments over the set axes, then (x − μ)·rsqrt(σ² + ε)·γ + β';
  if (spec.op === 'conv2d' && spec.groups > 1 && spec.groups !== spec.x[1]) {
    return `tfjs has no grouped conv: emulated as split into ${spec.groups} channel groups, ${spec.groups} conv2d calls, concat`;
  }
  return undefined;
}

export function tfjsVariant(backend: TfBackend, spec: WorkloadSpec, data: PeerInputs): Variant {
  const note = tfjsNote(spec);
  return {
    name: `tfjs-${backend}`,
    kind: 'peer',
    backend: `tfjs ${backend}`,
    threads: 1,
    ...(note ? { note } : {}),
    async prepare() {
      const tf = await loadTf();
      const what = await useBackend(tf, backend);
      return { ...build(tf, spec, data), backend: what };
    },
  };
}

function build(tf: Tf, spec: WorkloadSpec, d: PeerInputs): Prepared {
  switch (spec.op) {
    case 'gemm': {
      const a = tf.tensor2d(d.a!, [spec.M, spec.K]);
      const b = tf.tensor2d(d.b!, [spec.K, spec.N]);
      return prepared(tf, [a, b], () => tf.matMul(a, b), false);
    }
    case 'conv2d': {
      const [n, c, h, w] = spec.x;
      const [o, cg, kh, kw] = spec.w;
      const g = spec.groups;
      const x = tf.tidy(() => tf.transpose(tf.tensor4d(d.x!, [n, c, h, w]), [0, 2, 3, 1]));
      const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [spec.padding, spec.padding], [spec.padding, spec.padding], [0, 0]];
      if (g === 1) {
        const f = tf.tensor4d(hwio(d.w!, 0, o, cg, kh, kw), [kh, kw, cg, o]);
        return prepared(tf, [x, f], () => tf.conv2d(x as Tensor4D, f, spec.stride, pad), true);
      }
      if (g === c && o === c) {
        // depthwise: OIHW [c, 1, kh, kw] → tfjs's [kh, kw, c, channel multiplier 1]
        const fd = new Float32Array(kh * kw * c);
        for (let ch = 0; ch < c; ch++) for (let i = 0; i < kh * kw; i++) fd[i * c + ch] = d.w![ch * kh * kw + i] as number;
        const f = tf.tensor4d(fd, [kh, kw, c, 1]);
        return prepared(tf, [x, f], () => tf.depthwiseConv2d(x as Tensor4D, f, spec.stride, pad), true);
      }
      const og = o / g;
      const filters = Array.from({ length: g }, (_, gi) => tf.tensor4d(hwio(d.w!, gi * og, og, cg, kh, kw), [kh, kw, cg, og]));
      const call = () =>
        tf.tidy(() => {
          const xs = tf.split(x, g, 3);
          return tf.concat(xs.map((xg, gi) => tf.conv2d(xg as Tensor4D, filters[gi]!, spec.stride, pad)), 3);
        });
      return prepared(tf, [x, ...filters], call, true);
    }
    case 'pool2d': {
      const [n, c, h, w] = spec.x;
      const x = tf.tidy(() => tf.transpose(tf.tensor4d(d.x!, [n, c, h, w]), [0, 2, 3, 1])) as Tensor4D;
      const pool = spec.kind === 'max' ? tf.maxPool : tf.avgPool;
      return prepared(tf, [x], () => pool(x, spec.kernel, spec.stride, spec.padding), true);
    }
    case 'norm': {
      // tfjs has batchNorm with given statistics only: every kind is composed as a tfjs user
      // would, y = (x − μ)·rsqrt(σ² + ε)·γ + β with μ, σ² from tf.moments over the set's axes
      // (NHWC; GroupNorm through a [N, H, W, G, C/G] reshape).
      const [n, c, h, w] = spec.x as [number, number, number, number];
      const x = tf.tidy(() => tf.transpose(tf.tensor4d(d.x!, [n, c, h, w]), [0, 2, 3, 1]));
      const gamma = spec.axes === 'layer' ? tf.tidy(() => tf.transpose(tf.tensor3d(d.w!, [c, h, w]), [1, 2, 0])) : tf.tensor1d(d.w!);
      const beta = spec.axes === 'layer' ? tf.tidy(() => tf.transpose(tf.tensor3d(d.b!, [c, h, w]), [1, 2, 0])) : tf.tensor1d(d.b!);
      const g = spec.groups;
      const call = () =>
        tf.tidy(() => {
          const xs = spec.axes === 'group' ? tf.reshape(x, [n, h, w, g, c / g]) : x;
          const axes = { batch: [0, 1, 2], layer: [1, 2, 3], instance: [1, 2], group: [1, 2, 4] }[spec.axes];
          const { mean, variance } = tf.moments(xs, axes, true);
          const xhat = tf.reshape(tf.mul(tf.sub(xs, mean), tf.rsqrt(tf.add(variance, spec.eps))), [n, h, w, c]);
          return tf.add(tf.mul(xhat, gamma), beta);
        });
      return prepared(tf, [x, gamma, beta], call, true);
    }
    default:
      throw new Unavailable(`no tfjs peer for ${spec.op}`);
  }
}

/**
 * A lowered model (model_graph.ts) on tfjs: NHWC, convolutions as tf.fused.conv2d /
 * depthwiseConv2d with the folded bias and a fused ReLU (as tfjs-converter emits them), the
 * classifier as tf.fused.matMul. The input is transposed to NHWC at prepare time (not timed).
 */
export function tfjsModelVariant(backend: TfBackend, graph: () => { g: ModelGraph; x: Float32Array }): Variant {
  return {
    name: `tfjs-${backend}`,
    kind: 'peer',
    backend: `tfjs ${backend}`,
    threads: 1,
    note: 'built from our module tree and weights, BN folded',
    async prepare() {
      const tf = await loadTf();
      const { g, x } = graph();
      const grouped = g.nodes.find((n) => n.op === 'conv' && n.groups > 1 && !(n.groups === n.wShape[0] && n.wShape[1] === 1));
      if (grouped) throw new Unavailable('tfjs has no grouped conv2d (only dense and depthwise): this model has grouped 3×3 layers');
      const what = await useBackend(tf, backend);
      return { ...buildModel(tf, g, x), backend: what };
    },
  };
}

function buildModel(tf: Tf, g: ModelGraph, x: Float32Array): Prepared {
  const [n, c, h, w] = g.inputShape as [number, number, number, number];
  const held: TfTensor[] = [];
  const keep = <T extends TfTensor>(t: T): T => {
    held.push(t);
    return t;
  };
  const input = keep(tf.tidy(() => tf.transpose(tf.tensor4d(x, [n, c, h, w]), [0, 2, 3, 1])));
  type Step = (v: Map<string, TfTensor>) => void;
  const steps: Step[] = g.nodes.map((node): Step => {
    switch (node.op) {
      case 'conv': {
        const [o, cg, kh, kw] = node.wShape;
        const depthwise = node.groups > 1;
        // depthwise OIHW [c, 1, kh, kw] → [kh, kw, c, 1]; dense OIHW → HWIO
        const filter = depthwise ? keep(tf.tensor4d(hwio(node.w, 0, o, 1, kh, kw), [kh, kw, o, 1])) : keep(tf.tensor4d(hwio(node.w, 0, o, cg, kh, kw), [kh, kw, cg, o]));
        const bias = node.bias ? keep(tf.tensor1d(node.bias)) : undefined;
        const [pt, pl, pb, pr] = node.pads;
        const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [pt, pb], [pl, pr], [0, 0]];
        const activation = node.relu ? 'relu' : 'linear';
        const args = { filter, strides: node.stride, dilations: node.dilation, bias, activation } as const;
        if (depthwise && (pt !== pb || pl !== pr || pt !== pl)) throw new Unavailable('tfjs fused depthwiseConv2d takes one symmetric padding');
        return (v) => {
          const xi = v.get(node.x) as Tensor4D;
          v.set(node.y, depthwise ? tf.fused.depthwiseConv2d({ x: xi, ...args, pad: pt }) : tf.fused.conv2d({ x: xi, ...args, pad }));
        };
      }
      case 'affine': {
        const scale = keep(tf.tensor1d(node.scale));
        const shift = keep(tf.tensor1d(node.shift));
        return (v) => {
          const y = tf.add(tf.mul(v.get(node.x)!, scale), shift);
          v.set(node.y, node.relu ? tf.relu(y) : y);
        };
      }
      case 'relu':
        return (v) => v.set(node.y, tf.relu(v.get(node.x)!));
      case 'maxpool': {
        const [pt, pl, pb, pr] = node.pads;
        if (pt !== pb || pl !== pr || pt !== pl) throw new Unavailable('tfjs maxPool takes one symmetric padding');
        return (v) => v.set(node.y, tf.maxPool(v.get(node.x) as Tensor4D, node.kernel, node.stride, pt));
      }
      case 'add':
        return (v) => {
          const y = tf.add(v.get(node.a)!, v.get(node.b)!);
          v.set(node.y, node.relu ? tf.relu(y) : y);
        };
      case 'globalAvgPool':
        return (v) => v.set(node.y, tf.mean(v.get(node.x)!, [1, 2], true));
      case 'flatten':
        // NHWC [N, 1, 1, C] → [N, C]: the same order as NCHW's flatten when H = W = 1
        return (v) => {
          const xi = v.get(node.x)!;
          if (xi.shape[1] !== 1 || xi.shape[2] !== 1) throw new Error(`tfjs model: flatten of ${xi.shape} (only [N, 1, 1, C])`);
          v.set(node.y, tf.reshape(xi, [xi.shape[0]!, -1]));
        };
      case 'linear': {
        // W [out, in] stored as [in, out], as a Keras Dense kernel: tfjs-backend-wasm 4.22's fused
        // matMul with transposeB and a bias is wrong here (off by 37 on [1,512]·[1000,512]ᵀ + b)
        const wt = keep(tf.tidy(() => tf.transpose(tf.tensor2d(node.w, node.wShape))));
        const bias = node.bias ? keep(tf.tensor1d(node.bias)) : undefined;
        return (v) => v.set(node.y, tf.fused.matMul({ a: v.get(node.x) as import('@tensorflow/tfjs-core').Tensor2D, b: wt, bias }));
      }
      default:
        throw new Error(`tfjs model: no step for ${(node as { op: string }).op}`);
    }
  });
  const call = () =>
    tf.tidy(() => {
      const values = new Map<string, TfTensor>([[g.input, input]]);
      for (const s of steps) s(values);
      return values.get(g.output)!;
    });
  return prepared(tf, held, call, g.outputShape.length === 4);
}
