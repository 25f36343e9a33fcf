// The slice of ONNX's protobuf schema (onnx/onnx.proto) that a CNN export needs, encoded by hand.
//
// Protobuf wire format: a message is a run of fields; each field is a key varint
// (fieldNumber·8 + wireType) followed by its value. Wire type 0 is a varint (int32/int64/enum:
// 7 bits per byte, low bits first, high bit set on every byte but the last; a negative int64 is
// its 64-bit two's complement, so 10 bytes), 2 is length-delimited (a varint byte count, then the
// bytes: strings, raw bytes, nested messages), 5 is a little-endian 32-bit float.
//
// Field numbers used here (onnx.proto, IR version 7..10):
//   ModelProto          ir_version 1, producer_name 2, producer_version 3, doc_string 6,
//                       graph 7, opset_import 8
//   OperatorSetIdProto  domain 1, version 2
//   GraphProto          node 1, name 2, initializer 5, doc_string 10, input 11, output 12
//   NodeProto           input 1, output 2, name 3, op_type 4, attribute 5
//   AttributeProto      name 1, f 2, i 3, s 4, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, INTS 7)
//   TensorProto         dims 1, data_type 2 (FLOAT 1, INT64 7), name 8, raw_data 9
//   ValueInfoProto      name 1, type 2;  TypeProto tensor_type 1;  TypeProto.Tensor elem_type 1,
//                       shape 2;  TensorShapeProto dim 1;  Dimension dim_value 1, dim_param 2

/**
 * A message under construction: its encoded pieces in order. Big byte arrays (weights) are kept
 * by reference and nested messages splice their pieces in, so the whole model is copied once,
 * in `bytes()`.
 */
export class ProtoMessage {
  private readonly pieces: Uint8Array[] = [];
  private pending: number[] = [];
  private size = 0;

  private push(b: number): void {
    this.pending.push(b);
    this.size++;
  }

  private seal(): void {
    if (this.pending.length > 0) {
      this.pieces.push(Uint8Array.from(this.pending));
      this.pending = [];
    }
  }

  /** A varint of any integer in the int64 range (negatives as two's complement). */
  private varint(v: number): void {
    if (!Number.isSafeInteger(v)) throw new RangeError(`protobuf varint: ${v} is not a safe integer`);
    if (v >= 0) {
      let rest = v;
      while (rest >= 128) {
        this.push((rest % 128) + 128);
        rest = Math.floor(rest / 128);
      }
      this.push(rest);
      return;
    }
    let rest = BigInt.asUintN(64, BigInt(v));
    while (rest >= 128n) {
      this.push(Number(rest & 127n) + 128);
      rest >>= 7n;
    }
    this.push(Number(rest));
  }

  private key(field: number, wireType: 0 | 2 | 5): void {
    this.varint(field * 8 + wireType);
  }

  int(field: number, v: number): this {
    this.key(field, 0);
    this.varint(v);
    return this;
  }

  float(field: number, v: number): this {
    this.key(field, 5);
    const four = new Uint8Array(4);
    new DataView(four.buffer).setFloat32(0, v, true);
    for (const b of four) this.push(b);
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.key(field, 2);
    this.varint(data.byteLength);
    this.seal();
    this.pieces.push(data);
    this.size += data.byteLength;
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, m: ProtoMessage): this {
    this.key(field, 2);
    this.varint(m.size);
    this.seal();
    m.seal();
    this.pieces.push(...m.pieces);
    this.size += m.size;
    return this;
  }

  /** The encoded message as one array. */
  encode(): Uint8Array {
    this.seal();
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.pieces) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }
}

/** An attribute value: an int, a list of ints, a float ({ float }) or a string ({ string }). */
export type OnnxAttr = number | readonly number[] | { float: number } | { string: string };

export interface OnnxNode {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, OnnxAttr>;
}

/** A constant tensor of the graph (weights, shape and index vectors), stored as raw little-endian bytes. */
export interface OnnxInitializer {
  name: string;
  dims: readonly number[];
  data: Float32Array | BigInt64Array;
}

/** A graph input or output: a float32 tensor whose dims are sizes or symbolic names ('N'). */
export interface OnnxValueInfo {
  name: string;
  dims: readonly (number | string)[];
}

export interface OnnxModel {
  graphName: string;
  docString?: string;
  nodes: readonly OnnxNode[];
  initializers: Iterable<OnnxInitializer>;
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
  opset: number;
  irVersion: number;
  producerName: string;
  producerVersion?: string;
}

const ELEM_FLOAT = 1;
const ELEM_INT64 = 7;

function attribute(name: string, v: OnnxAttr): ProtoMessage {
  const a = new ProtoMessage().string(1, name);
  if (typeof v === 'number') return a.int(3, v).int(20, 2);
  if (Array.isArray(v)) {
    for (const i of v as readonly number[]) a.int(8, i);
    return a.int(20, 7);
  }
  if ('float' in (v as object)) return a.float(2, (v as { float: number }).float).int(20, 1);
  return a.string(4, (v as { string: string }).string).int(20, 3);
}

function node(n: OnnxNode): ProtoMessage {
  const m = new ProtoMessage();
  for (const i of n.inputs) m.string(1, i);
  for (const o of n.outputs) m.string(2, o);
  m.string(3, n.name).string(4, n.op);
  for (const [k, v] of Object.entries(n.attrs ?? {})) m.message(5, attribute(k, v));
  return m;
}

function initializer(t: OnnxInitializer): ProtoMessage {
  const m = new ProtoMessage();
  for (const d of t.dims) m.int(1, d);
  m.int(2, t.data instanceof Float32Array ? ELEM_FLOAT : ELEM_INT64).string(8, t.name);
  // raw_data is little-endian; typed arrays are in the platform's order, little-endian everywhere we run
  return m.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

function valueInfo(v: OnnxValueInfo): ProtoMessage {
  const shape = new ProtoMessage();
  for (const d of v.dims) shape.message(1, typeof d === 'number' ? new ProtoMessage().int(1, d) : new ProtoMessage().string(2, d));
  const tensorType = new ProtoMessage().int(1, ELEM_FLOAT).message(2, shape);
  return new ProtoMessage().string(1, v.name).message(2, new ProtoMessage().message(1, tensorType));
}

/** Encode a ModelProto. */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const graph = new ProtoMessage();
  for (const n of model.nodes) graph.message(1, node(n));
  graph.string(2, model.graphName);
  for (const t of model.initializers) graph.message(5, initializer(t));
  if (model.docString) graph.string(10, model.docString);
  for (const i of model.inputs) graph.message(11, valueInfo(i));
  for (const o of model.outputs) graph.message(12, valueInfo(o));
  return new ProtoMessage()
    .int(1, model.irVersion)
    .string(2, model.producerName)
    .string(3, model.producerVersion ?? '')
    .message(7, graph)
    .message(8, new ProtoMessage().string(1, '').int(2, model.opset))
    .encode();
}
