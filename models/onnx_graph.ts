// The graph an ONNX export builds: nodes in execution order, named initializers (weights and
// small int64 vectors), and the static shape of every value, so that each emitter can check its
// input and size its output as the module's forward would. The batch dim (dim 0) is written as
// the symbol 'N' in the model's input and output; every other dim is fixed by the example input.
import { ResgradError } from '../core/errors.js';
import type { OnnxAttr, OnnxInitializer, OnnxNode } from './onnx_proto.js';

/** Why a model cannot be exported: an unknown module, a training-mode model, a layer ONNX cannot express. */
export class OnnxExportError extends ResgradError {}

/** A tensor flowing through the graph: its ONNX name and its shape for the example input. */
export interface Value {
  readonly name: string;
  readonly shape: readonly number[];
}

export const INPUT = 'input';
export const OUTPUT = 'output';

export class OnnxGraph {
  readonly nodes: OnnxNode[] = [];
  readonly initializers = new Map<string, OnnxInitializer>();
  private readonly producers = new Map<string, OnnxNode>();
  private readonly reads = new Map<string, number>();
  /** Outputs renamed after a rewrite (a BatchNorm folded into its conv): reading one is an exporter bug. */
  private readonly retired = new Set<string>();
  /** The graph's input and output names are kept out of the pool that modules' names come from. */
  private readonly taken = new Set<string>([INPUT, OUTPUT]);

  constructor(
    readonly opset: number,
    readonly foldBatchNorm: boolean,
  ) {}

  /** `base`, or `base_1`, `base_2`, ... if taken: every value and initializer name is unique. */
  fresh(base: string): string {
    const root = base === '' ? 'value' : base;
    let name = root;
    for (let i = 1; this.taken.has(name); i++) name = `${root}_${i}`;
    this.taken.add(name);
    return name;
  }

  private read(v: Value | string): string {
    if (typeof v === 'string') return v;
    if (this.retired.has(v.name)) throw new OnnxExportError(`exportOnnx: internal error: value '${v.name}' was rewritten and then read again`);
    this.reads.set(v.name, (this.reads.get(v.name) ?? 0) + 1);
    return v.name;
  }

  /** Append a node with one output named after `name` (usually the module's path). */
  add(op: string, name: string, inputs: readonly (Value | string)[], shape: readonly number[], attrs?: Record<string, OnnxAttr>): Value {
    const out = this.fresh(name);
    const node: OnnxNode = { op, name: out, inputs: inputs.map((i) => this.read(i)), outputs: [out], ...(attrs ? { attrs } : {}) };
    this.nodes.push(node);
    this.producers.set(out, node);
    return { name: out, shape: [...shape] };
  }

  /** A float32 initializer; returns its (unique) name. */
  floats(name: string, dims: readonly number[], data: Float32Array): string {
    return this.constant(name, dims, data);
  }

  /** The values of a float32 initializer (the graph's own copy: an emitter may rewrite them, as BN folding does). */
  floatData(name: string): Float32Array {
    const data = this.initializers.get(name)?.data;
    if (!(data instanceof Float32Array)) throw new OnnxExportError(`exportOnnx: internal error: no float32 initializer '${name}'`);
    return data;
  }

  /** An int64 vector initializer (shapes, pads, slice bounds). */
  int64s(name: string, values: readonly number[]): string {
    return this.constant(name, [values.length], BigInt64Array.from(values, (v) => BigInt(v)));
  }

  private constant(name: string, dims: readonly number[], data: Float32Array | BigInt64Array): string {
    const unique = this.fresh(name);
    this.initializers.set(unique, { name: unique, dims: [...dims], data });
    return unique;
  }

  /** The node that computed v, if no node has read v yet (so it may still be rewritten). */
  unreadProducer(v: Value): OnnxNode | undefined {
    return this.reads.has(v.name) ? undefined : this.producers.get(v.name);
  }

  /** Rename the output of v's producer (v itself is retired): the rewritten node now yields a new value. */
  rename(v: Value, name: string, opts: { reserved?: boolean } = {}): Value {
    const node = this.unreadProducer(v);
    if (!node) throw new OnnxExportError(`exportOnnx: internal error: value '${v.name}' has no unread producer to rename`);
    const out = opts.reserved ? name : this.fresh(name);
    node.outputs[0] = out;
    node.name = out;
    this.producers.delete(v.name);
    this.producers.set(out, node);
    this.retired.add(v.name);
    return { name: out, shape: v.shape };
  }
}
