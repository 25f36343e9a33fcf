// Just enough of ONNX's protobuf encoding to build one-node (or few-node) models in memory for
// onnxruntime, so that no model files are committed. Protobuf wire format: each field is a key
// varint (field_number << 3 | wire_type) then the value; wire type 0 = varint (ints, enums),
// 2 = length-delimited (strings, bytes, nested messages, packed repeated), 5 = 32-bit (float).
// Field numbers are from onnx.proto (IR version 10).

/**
 * Appends protobuf fields. Bytes go into chunks (large weights stay one Uint8Array each, never a
 * JS array of numbers), so a whole ResNet-50 (100 MB of initializers) serialises in one pass.
 */
class Writer {
  private chunks: Uint8Array[] = [];
  private small: number[] = [];
  private length = 0;

  private flush(): void {
    if (this.small.length) {
      this.chunks.push(Uint8Array.from(this.small));
      this.small = [];
    }
  }
  private byte(b: number): void {
    this.small.push(b);
    this.length++;
  }
  varint(v: number): this {
    // values here are non-negative integers below 2^53 (dims, enums, versions, byte lengths)
    let x = v;
    while (x >= 0x80) {
      this.byte((x % 0x80) | 0x80);
      x = Math.floor(x / 0x80);
    }
    this.byte(x);
    return this;
  }
  key(field: number, wire: 0 | 2 | 5): this {
    return this.varint(field * 8 + wire);
  }
  int(field: number, v: number): this {
    return this.key(field, 0).varint(v);
  }
  float(field: number, v: number): this {
    this.key(field, 5);
    for (const b of new Uint8Array(new Float32Array([v]).buffer)) this.byte(b);
    return this;
  }
  raw(field: number, data: Uint8Array): this {
    this.key(field, 2).varint(data.length);
    this.flush();
    this.chunks.push(data);
    this.length += data.length;
    return this;
  }
  string(field: number, s: string): this {
    return this.raw(field, new TextEncoder().encode(s));
  }
  message(field: number, m: Writer): this {
    return this.raw(field, m.finish());
  }
  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_INTS = 7;

export type AttrValue = number | number[] | { float: number };

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, AttrValue>;
}

export interface OnnxModelSpec {
  nodes: OnnxNode[];
  /** graph inputs, fed at run time */
  inputs: { name: string; shape: number[] }[];
  outputs: { name: string; shape: number[] }[];
  /** constant float32 tensors baked into the model (weights) */
  initializers?: { name: string; shape: number[]; data: Float32Array }[];
  opset?: number;
}

function attribute(name: string, v: AttrValue): Writer {
  const w = new Writer().string(1, name); // AttributeProto.name
  if (Array.isArray(v)) {
    for (const x of v) w.int(8, x); // ints (unpacked repeated int64)
    return w.int(20, ATTR_INTS); // type
  }
  if (typeof v === 'number') return w.int(3, v).int(20, ATTR_INT); // i
  return w.float(2, v.float).int(20, ATTR_FLOAT); // f
}

function valueInfo(name: string, shape: number[]): Writer {
  const dims = new Writer();
  for (const d of shape) dims.message(1, new Writer().int(1, d)); // TensorShapeProto.dim.dim_value
  const tensorType = new Writer().int(1, FLOAT).message(2, dims); // elem_type, shape
  return new Writer().string(1, name).message(2, new Writer().message(1, tensorType)); // name, type.tensor_type
}

/** Serialise a ModelProto. */
export function onnxModel(spec: OnnxModelSpec): Uint8Array {
  const graph = new Writer();
  spec.nodes.forEach((n, i) => {
    const node = new Writer();
    for (const x of n.inputs) node.string(1, x);
    for (const y of n.outputs) node.string(2, y);
    node.string(3, `${n.op}_${i}`).string(4, n.op);
    for (const [k, v] of Object.entries(n.attrs ?? {})) node.message(5, attribute(k, v));
    graph.message(1, node); // GraphProto.node
  });
  graph.string(2, 'resgrad_bench');
  for (const t of spec.initializers ?? []) {
    const tensor = new Writer();
    for (const d of t.shape) tensor.int(1, d); // dims
    tensor.int(2, FLOAT).string(8, t.name).raw(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)); // data_type, name, raw_data (little-endian)
    graph.message(5, tensor); // GraphProto.initializer
  }
  for (const i of spec.inputs) graph.message(11, valueInfo(i.name, i.shape));
  for (const o of spec.outputs) graph.message(12, valueInfo(o.name, o.shape));
  return new Writer()
    .int(1, 10) // ir_version
    .string(2, 'resgrad-bench') // producer_name
    .message(7, graph)
    .message(8, new Writer().string(1, '').int(2, spec.opset ?? 21)) // opset_import (default domain)
    .finish();
}
