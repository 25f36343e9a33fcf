// safetensors: a file written by Python loads equal, our files round-trip, saving is atomic, and
// truncated or malformed files are SafetensorsErrors (never a crash or a hang).
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Tensor, arange, io, manualSeed, nn, randn, tensor, zeros } from '../../index.js';
import { type EncodedTensor, loadFixture } from '../helpers/oracle.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'oracle', 'fixtures');
const tmp = () => mkdtempSync(join(tmpdir(), 'resgrad-io-'));

/** A safetensors image from a header object and data bytes (for crafting bad files). */
function build(header: unknown, data: Uint8Array = new Uint8Array(0), headerText = JSON.stringify(header)): Uint8Array {
  const h = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const LOADED_DTYPE: Record<string, string> = { F32: 'float32', F64: 'float64', F16: 'float32', BF16: 'float32', I64: 'int32', I32: 'int32', U8: 'int32', BOOL: 'int32' };

describe('loading a file written by PyTorch (gen_io.py)', () => {
  const c = loadFixture('io')[0] as unknown as {
    file: string;
    metadata: Record<string, string>;
    dtypes: Record<string, string>;
    tensors: Record<string, EncodedTensor>;
  };
  const path = join(fixtures, c.file);

  it('every dtype (F32 F64 F16 BF16 I64 I32 U8 BOOL, 0-d, empty) loads with torch values', () => {
    for (const source of [path, new Uint8Array(readFileSync(path)), readFileSync(path)]) {
      const { tensors, metadata } = io.loadSafetensorsWithMetadata(source);
      expect(metadata).toEqual(c.metadata);
      expect(Object.keys(tensors).sort()).toEqual(Object.keys(c.tensors).sort());
      for (const [name, e] of Object.entries(c.tensors)) {
        const t = tensors[name] as Tensor;
        expect(t.dtype, name).toBe(LOADED_DTYPE[c.dtypes[name] as string]);
        expect([...t.shape], name).toEqual(e.shape);
        // exact: every value is representable in the loaded dtype (±0 and ±Infinity included)
        expect([...t.toArray()], name).toEqual(e.data.map(Number));
      }
    }
  });

  it('I64 num_batches_tracked loads into an int32 buffer of a module', () => {
    class Counter extends nn.Module {
      numBatchesTracked!: Tensor;
      constructor() {
        super();
        this.registerBuffer('num_batches_tracked', zeros([], { dtype: 'int32' }));
      }
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    const m = new Counter();
    const sd = io.loadSafetensors(path);
    m.loadStateDict({ num_batches_tracked: sd['bn1.num_batches_tracked'] as Tensor });
    expect(m.stateDict().num_batches_tracked?.toArray()).toEqual(sd['bn1.num_batches_tracked']?.toArray());
    expect(m.stateDict().num_batches_tracked?.dtype).toBe('int32');
  });
});

describe('round trip', () => {
  it('f32 [2,3], f64 [4], int32 [2,2], 0-d, empty [0,3], a transposed view, metadata', () => {
    manualSeed(3);
    const tensors: Record<string, Tensor> = {
      a: randn([2, 3]),
      b: randn([4], { dtype: 'float64' }),
      c: tensor([[1, -2], [2147483647, -2147483648]], { dtype: 'int32' }),
      scalar: tensor(new Float64Array([Math.PI]), { shape: [] }),
      empty: zeros([0, 3]),
      view: randn([3, 4]).transpose(0, 1),
    };
    const dir = tmp();
    const path = join(dir, 'w.safetensors');
    io.saveSafetensors(path, tensors, { metadata: { format: 'pt' } });
    const back = io.loadSafetensorsWithMetadata(path);
    expect(back.metadata).toEqual({ format: 'pt' });
    for (const [k, t] of Object.entries(tensors)) {
      const u = back.tensors[k] as Tensor;
      expect(u.dtype, k).toBe(t.dtype);
      expect([...u.shape], k).toEqual([...t.shape]);
      expect([...u.toArray()], k).toEqual([...t.toArray()]);
    }
    // the data region starts 8-byte aligned, as the reference writer pads the header
    const bytes = readFileSync(path);
    expect((8 + bytes.readUInt32LE(0)) % 8).toBe(0);
  });

  it("int32As: 'I64' writes int64 (as torch stores num_batches_tracked) and reads back int32", () => {
    const t = tensor([5, -7, 123456], { dtype: 'int32' });
    const bytes = io.serializeSafetensors({ n: t }, { int32As: 'I64' });
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + new DataView(bytes.buffer).getUint32(0, true))));
    expect(header.n.dtype).toBe('I64');
    expect([...(io.loadSafetensors(bytes).n as Tensor).toArray()]).toEqual([...t.toArray()]);
  });

  it('a model state dict saved and loaded into a fresh model gives the same outputs', () => {
    manualSeed(1);
    const make = () => new nn.Sequential(new nn.Linear(4, 6), new nn.ReLU(), new nn.Linear(6, 2));
    const a = make();
    const b = make(); // different random init
    const x = randn([3, 4]);
    const path = join(tmp(), 'model.safetensors');
    io.saveSafetensors(path, a.stateDict());
    b.loadStateDict(io.loadSafetensors(path));
    expect([...b.forward(x).toArray()]).toEqual([...a.forward(x).toArray()]);
  });

  it("a tensor named '__proto__' in a file stays an ordinary key", () => {
    const bytes = build(null, new Uint8Array(4), '{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}');
    const sd = io.loadSafetensors(bytes);
    expect(Object.keys(sd)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(sd)).toBe(Object.prototype);
  });

  it('refuses names and values it cannot write', () => {
    expect(() => io.serializeSafetensors({ __metadata__: zeros([1]) })).toThrow(io.SafetensorsError);
    expect(() => io.serializeSafetensors({ a: 3 as unknown as Tensor })).toThrow(/not a Tensor/);
  });
});

describe('atomic save', () => {
  it('replaces an existing file and leaves no temporary file', () => {
    const dir = tmp();
    const path = join(dir, 'w.safetensors');
    io.saveSafetensors(path, { a: zeros([2]) });
    io.saveSafetensors(path, { b: arange(3, undefined, 1, { dtype: 'float32' }) });
    expect(readdirSync(dir)).toEqual(['w.safetensors']);
    expect(Object.keys(io.loadSafetensors(path))).toEqual(['b']);
  });

  it('a tensor that cannot be read leaves the old file untouched', () => {
    const dir = tmp();
    const path = join(dir, 'w.safetensors');
    io.saveSafetensors(path, { a: zeros([2]) });
    const before = readFileSync(path);
    const gone = zeros([4]);
    gone.dispose();
    expect(() => io.saveSafetensors(path, { a: zeros([2]), gone })).toThrow(/disposed/);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(readdirSync(dir)).toEqual(['w.safetensors']);
  });

  it('a failing rename (the target is a directory) removes the temporary file', () => {
    const dir = tmp();
    const target = join(dir, 'taken');
    mkdirSync(target);
    writeFileSync(join(target, 'x'), 'x');
    expect(() => io.saveSafetensors(target, { a: zeros([2]) })).toThrow();
    expect(readdirSync(dir)).toEqual(['taken']);
  });

  it('a missing directory is an error and creates nothing', () => {
    const dir = tmp();
    expect(() => io.saveSafetensors(join(dir, 'no', 'such', 'w.safetensors'), { a: zeros([2]) })).toThrow(/ENOENT/);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('truncated and malformed files are SafetensorsErrors', () => {
  const good = io.serializeSafetensors({ w: randn([3, 2]), d: randn([2], { dtype: 'float64' }), n: tensor([1, 2], { dtype: 'int32' }) }, { metadata: { k: 'v' } });
  const f32 = (n: number) => new Uint8Array(4 * n);
  const expectBad = (bytes: Uint8Array, message: RegExp) => {
    expect(() => io.loadSafetensors(bytes)).toThrow(io.SafetensorsError);
    expect(() => io.loadSafetensors(bytes)).toThrow(message);
  };

  it(`every truncation of a ${good.length}-byte file`, () => {
    for (let n = 0; n < good.length; n++) expect(() => io.loadSafetensors(good.subarray(0, n)), `prefix ${n}`).toThrow(io.SafetensorsError);
  });

  it('bad header length', () => {
    expectBad(new Uint8Array(5), /shorter than the 8-byte header length/);
    const huge = good.slice();
    new DataView(huge.buffer).setUint32(4, 0xffffffff, true);
    expectBad(huge, /header length \d+ exceeds/);
    const long = good.slice();
    new DataView(long.buffer).setUint32(0, good.length, true);
    expectBad(long, /exceeds/);
  });

  it('bad JSON, bad UTF-8, non-object header, bad metadata', () => {
    expectBad(build(null, undefined, '{"w": {"dtype": "F32",'), /not valid UTF-8 JSON/);
    const utf = build(null, undefined, '{"a":"    "}');
    utf[15] = 0xff;
    expectBad(utf, /not valid UTF-8 JSON/);
    expectBad(build([1, 2]), /not a JSON object/);
    expectBad(build({ w: 5 }), /header entry 'w' is not an object/);
    expectBad(build({ __metadata__: { a: 1 } }), /__metadata__ value for 'a' is not a string/);
  });

  it('unknown dtype, bad shape, bad offsets', () => {
    expectBad(build({ w: { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), /tensor 'w' has unknown dtype 'F8_E4M3'/);
    expectBad(build({ w: { shape: [1], data_offsets: [0, 4] } }, f32(1)), /no string 'dtype'/);
    expectBad(build({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32(1)), /invalid shape/);
    expectBad(build({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, f32(1)), /invalid shape/);
    expectBad(build({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, f32(1)), /invalid data_offsets/);
    expectBad(build({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, f32(1)), /end before begin/);
    expectBad(build({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, f32(1)), /beyond the 4 data bytes/);
    expectBad(build({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 8] } }, f32(2)), /needs 16 bytes, but data_offsets \[0, 8\] span 8/);
    expectBad(build({ w: { dtype: 'F32', shape: [1e300, 1e300], data_offsets: [0, 4] } }, f32(1)), /invalid shape|needs/);
  });

  it('overlapping offsets, holes and trailing bytes', () => {
    const two = (a: number[], b: number[]) => ({ a: { dtype: 'F32', shape: [2], data_offsets: a }, b: { dtype: 'F32', shape: [2], data_offsets: b } });
    expectBad(build(two([0, 8], [4, 12]), f32(3)), /tensors 'a' and 'b' overlap/);
    expectBad(build(two([0, 8], [12, 20]), f32(5)), /belong to no tensor \(a hole before 'b'\)/);
    expectBad(build(two([0, 8], [8, 16]), f32(5)), /4 data bytes after the last tensor/);
    expect(() => io.loadSafetensors(build(two([8, 16], [0, 8]), f32(4)))).not.toThrow();
  });

  it('an I64 value outside int32 names the tensor and the value', () => {
    const data = new BigInt64Array([1n, 2n ** 40n]);
    expectBad(build({ big: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, new Uint8Array(data.buffer)), /tensor 'big' \(I64\) holds 1099511627776 at index 1, which does not fit in int32/);
  });

  it('random byte corruption parses or throws SafetensorsError, nothing else', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (edits) => {
        const bad = good.slice();
        for (const [i, v] of edits) bad[i] = v;
        try {
          io.loadSafetensors(bad);
        } catch (e) {
          if (!(e instanceof io.SafetensorsError)) throw e;
        }
      }),
      { numRuns: 400, seed: 7 },
    );
  });
});
