// Weights you can trust: saveSafetensors writes a SHA-256 per tensor into "__metadata__"
// (resgrad.sha256.<name>), the loader checks them and names a corrupted tensor; files without
// hashes (torch's, or resgrad's before this) still load.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Generator, type Tensor, ValueError, io, randn, tensor } from '../../index.js';

const g = new Generator(14);
const tensors = () => ({
  'layer1.weight': randn([4, 3], { generator: g }),
  'layer1.bias': randn([4], { dtype: 'float64', generator: g }),
  steps: tensor([7], { dtype: 'int32' }),
});
const original = tensors();

/** Header JSON and where the data starts. */
function header(bytes: Uint8Array): { json: Record<string, unknown>; dataStart: number } {
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  return { json: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), dataStart: 8 + n };
}
function entry(bytes: Uint8Array, name: string): { begin: number; end: number } {
  const { json, dataStart } = header(bytes);
  const [b, e] = (json[name] as { data_offsets: [number, number] }).data_offsets;
  return { begin: dataStart + b, end: dataStart + e };
}
const same = (a: Tensor, b: Tensor) => {
  expect(a.dtype).toBe(b.dtype);
  expect([...a.shape]).toEqual([...b.shape]);
  expect(Array.from(a.toArray())).toEqual(Array.from(b.toArray()));
};

describe('hashes in the header', () => {
  const bytes = io.serializeSafetensors(original, { metadata: { format: 'pt' } });

  it('one resgrad.sha256.<name> per tensor: SHA-256 of `<dtype><shape JSON>` and the data bytes', () => {
    const meta = header(bytes).json.__metadata__ as Record<string, string>;
    expect(Object.keys(meta).sort()).toEqual(['format', 'resgrad.sha256.layer1.bias', 'resgrad.sha256.layer1.weight', 'resgrad.sha256.steps']);
    const { begin, end } = entry(bytes, 'layer1.weight');
    const want = createHash('sha256').update('F32[4,3]').update(bytes.subarray(begin, end)).digest('hex');
    expect(meta['resgrad.sha256.layer1.weight']).toBe(want);
  });

  it('Python checks them as the module comment says', () => {
    const dir = mkdtempSync(join(tmpdir(), 'resgrad-verify-'));
    const path = join(dir, 'w.safetensors');
    writeFileSync(path, bytes);
    const py = `
import hashlib, json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n]); meta = h.pop('__metadata__'); data = b[8 + n:]
for name, e in h.items():
    s, t = e['data_offsets']
    d = hashlib.sha256(f"{e['dtype']}{json.dumps(e['shape'], separators=(',', ':'))}".encode() + data[s:t]).hexdigest()
    assert d == meta['resgrad.sha256.' + name], name
print(len(h))
`;
    expect(execFileSync('/usr/bin/python3', ['-c', py, path]).toString().trim()).toBe('3');
  });

  it('the loader returns the user metadata only, and a re-save writes fresh hashes', () => {
    const back = io.loadSafetensorsWithMetadata(bytes, { verify: true });
    expect(back.metadata).toEqual({ format: 'pt' });
    const again = io.serializeSafetensors({ only: back.tensors.steps as Tensor }, { metadata: { ...back.metadata, 'resgrad.sha256.gone': 'stale' } });
    expect(Object.keys(header(again).json.__metadata__ as object).sort()).toEqual(['format', 'resgrad.sha256.only']);
    expect(() => io.loadSafetensors(again, { verify: true })).not.toThrow();
  });

  it('hashes: false writes a plain file', () => {
    const plain = io.serializeSafetensors(original, { hashes: false });
    expect(header(plain).json.__metadata__).toBeUndefined();
  });
});

describe('verify', () => {
  const bytes = io.serializeSafetensors(original);

  it('a clean file loads equal under every verify mode', () => {
    for (const verify of [true, false, 'if-present'] as const) {
      const back = io.loadSafetensors(bytes, { verify });
      for (const [k, t] of Object.entries(original)) same(back[k] as Tensor, t);
    }
  });

  it('one flipped data bit names the corrupted tensor (and verify: false loads it changed)', () => {
    const bad = bytes.slice();
    const { begin } = entry(bad, 'layer1.bias');
    bad[begin + 3] ^= 0x10;
    expect(() => io.loadSafetensors(bad, { verify: true })).toThrow(io.SafetensorsError);
    expect(() => io.loadSafetensors(bad, { verify: true })).toThrow(/verify: tensor 'layer1.bias' is corrupted: the SHA-256 of its dtype, shape and data is [0-9a-f]{64}, but the file says [0-9a-f]{64}/);
    expect(() => io.loadSafetensors(bad)).toThrow(/'layer1.bias' is corrupted/); // 'if-present' is the default
    const changed = io.loadSafetensors(bad, { verify: false })['layer1.bias'] as Tensor;
    expect(Array.from(changed.toArray())).not.toEqual(Array.from((original['layer1.bias'] as Tensor).toArray()));
  });

  it('an edited shape or dtype with the same byte count is caught too', () => {
    const { json, dataStart } = header(bytes);
    const edit = (f: (h: Record<string, { dtype: string; shape: number[] }>) => void) => {
      const h = structuredClone(json) as Record<string, { dtype: string; shape: number[] }>;
      f(h);
      let text = JSON.stringify(h);
      text += ' '.repeat(dataStart - 8 - text.length);
      const out = bytes.slice();
      out.set(new TextEncoder().encode(text), 8);
      return out;
    };
    const reshaped = edit((h) => {
      (h['layer1.weight'] as { shape: number[] }).shape = [3, 4];
    });
    expect(() => io.loadSafetensors(reshaped, { verify: false })).not.toThrow();
    expect(() => io.loadSafetensors(reshaped, { verify: true })).toThrow(/tensor 'layer1.weight' is corrupted/);
    const retyped = edit((h) => {
      (h.steps as { dtype: string }).dtype = 'F32';
    });
    expect(() => io.loadSafetensors(retyped, { verify: true })).toThrow(/tensor 'steps' is corrupted/);
  });

  it('a renamed tensor: its hash belongs to no tensor, and it has none', () => {
    const { dataStart } = header(bytes);
    const text = new TextDecoder().decode(bytes.subarray(8, dataStart));
    const renamed = bytes.slice();
    renamed.set(new TextEncoder().encode(text.replace('"steps":{', '"stepz":{')), 8);
    expect(() => io.loadSafetensors(renamed, { verify: true })).toThrow(/verify: hash 'resgrad.sha256.steps' belongs to no tensor in the file/);
  });

  it('a file without hashes: verify: true says so; if-present and false load it', () => {
    const plain = io.serializeSafetensors(original, { hashes: false, metadata: { format: 'pt' } });
    expect(() => io.loadSafetensors(plain, { verify: true })).toThrow(/verify: the file has no resgrad.sha256.\* hashes to check .* load it with \{ verify: 'if-present' \} or \{ verify: false \}/);
    for (const verify of ['if-present', false] as const) same(io.loadSafetensors(plain, { verify }).steps as Tensor, original.steps);
    same(io.loadSafetensors(plain).steps as Tensor, original.steps);
  });

  it('a file from another writer (the layout safetensors.torch.save_file writes, no hashes) still loads', () => {
    const dir = mkdtempSync(join(tmpdir(), 'resgrad-verify-'));
    const path = join(dir, 'other.safetensors');
    const py = `
import json, struct, sys
t = {'w': ('F32', [2, 3], struct.pack('<6f', *range(6))), 'n': ('I64', [], struct.pack('<q', 5))}
h, data = {'__metadata__': {'format': 'pt'}}, b''
for k, (dtype, shape, raw) in t.items():
    h[k] = {'dtype': dtype, 'shape': shape, 'data_offsets': [len(data), len(data) + len(raw)]}
    data += raw
s = json.dumps(h).encode(); s += b' ' * ((8 - len(s) % 8) % 8)
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(s)) + s + data)
`;
    execFileSync('/usr/bin/python3', ['-c', py, path]);
    const back = io.loadSafetensors(path);
    expect(Array.from((back.w as Tensor).toArray())).toEqual([0, 1, 2, 3, 4, 5]);
    expect((back.n as Tensor).item()).toBe(5);
    expect(() => io.loadSafetensors(readFileSync(path), { verify: true })).toThrow(/has no resgrad.sha256/);
  });

  it('a bad verify option is a ValueError', () => {
    expect(() => io.loadSafetensors(bytes, { verify: 'yes' as never })).toThrow(/loadSafetensors: option 'verify' must be true, false or 'if-present', but got 'yes'/);
    expect(() => io.loadSafetensors(bytes, 'strict' as never)).toThrow(ValueError);
    expect(() => io.loadSafetensors(42 as never)).toThrow(/argument 'source' must be a path, a Uint8Array or an ArrayBuffer/);
  });
});

describe('the portable SHA-256 (used where node:crypto is missing) equals node:crypto', () => {
  it('on lengths around every padding boundary and in uneven chunks', () => {
    const data = new Uint8Array(1000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 7) & 0xff;
    for (const n of [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000]) {
      const want = createHash('sha256').update(data.subarray(0, n)).digest('hex');
      expect(io.sha256Hex([data.subarray(0, n)], true), `length ${n}`).toBe(want);
      const cut = Math.floor(n / 3);
      const chunks = [data.subarray(0, cut), data.subarray(cut, Math.min(cut + 1, n)), data.subarray(Math.min(cut + 1, n), n)];
      expect(io.sha256Hex(chunks, true), `length ${n} in 3 chunks`).toBe(want);
    }
    expect(io.sha256Hex([new TextEncoder().encode('abc')], true)).toBe(createHash('sha256').update('abc').digest('hex'));
  });

  it('so a file written without node:crypto carries the same hashes', () => {
    const crypto = process.getBuiltinModule('node:crypto');
    const big = randn([300], { generator: new Generator(1) });
    const withNode = io.serializeSafetensors({ big });
    const { begin, end } = entry(withNode, 'big');
    expect(io.sha256Hex([new TextEncoder().encode('F32[300]'), withNode.subarray(begin, end)], true)).toBe(
      crypto.createHash('sha256').update('F32[300]').update(withNode.subarray(begin, end)).digest('hex'),
    );
  });
});
