// Loader fuzz: seeded corruptions of real files with hashes (byte flips, truncations, appended
// bytes, length-field edits, JSON breakage, and structured header edits of offsets, dtypes,
// shapes, names and hashes). With verify: true every outcome must be a SafetensorsError or a load
// whose tensors equal the original bit for bit: never another exception type, a hang or a silent
// change. Without verify the loader must still only ever throw SafetensorsErrors.
import { describe, expect, it } from 'vitest';
import { Generator, type Tensor, io, randn, tensor } from '../../index.js';

const CASES = 3000;
const rng = new Generator(20261130);
const int = (n: number): number => rng.integer(0, n); // uniform in [0, n)
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;

const g = new Generator(7);
const ORIGINALS: Record<string, Tensor>[] = [
  {
    'conv.weight': randn([3, 4], { generator: g }),
    'bn.running_var': randn([5], { dtype: 'float64', generator: g }),
    labels: tensor([[1, -2], [3, 2147483647]], { dtype: 'int32' }),
    scale: randn([], { generator: g }),
    empty: randn([0, 3], { generator: g }),
  },
  { steps: tensor([12, 0, -7], { dtype: 'int32' }), w: randn([2, 2, 2], { dtype: 'float64', generator: g }) },
];
const FILES = [
  io.serializeSafetensors(ORIGINALS[0] as Record<string, Tensor>, { metadata: { format: 'pt' } }),
  io.serializeSafetensors(ORIGINALS[1] as Record<string, Tensor>, { int32As: 'I64' }),
];

function headerOf(bytes: Uint8Array): { json: Record<string, Record<string, unknown>>; dataStart: number } {
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  return { json: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), dataStart: 8 + n };
}

/** A file with header `json` (length field matching, as a careful tamperer would write it) and `data`. */
function withHeader(json: unknown, data: Uint8Array): Uint8Array {
  const text = new TextEncoder().encode(JSON.stringify(json));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setUint32(0, text.length, true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

const DTYPES = ['F32', 'F64', 'I32', 'I64', 'U32', 'F16', 'BF16', 'I16', 'U8', 'BOOL', 'Q4', '', 5, null];
const JUNK = [0x7b, 0x7d, 0x5b, 0x5d, 0x22, 0x2c, 0x3a, 0x30, 0x2d, 0x61, 0x00, 0xff, 0x20, 0x5c];

/** One structured edit of one header entry (or of the hashes). */
function editHeader(bytes: Uint8Array): [string, Uint8Array] {
  const { json, dataStart } = headerOf(bytes);
  const data = bytes.subarray(dataStart);
  const names = Object.keys(json).filter((k) => k !== '__metadata__');
  const name = pick(names);
  const e = json[name] as Record<string, unknown>; // well-formed before the edit
  const shape = e.shape as number[];
  const offsets = e.data_offsets as number[];
  const meta = (json.__metadata__ ?? {}) as Record<string, unknown>;
  const kind = int(12);
  switch (kind) {
    case 0:
      e.dtype = pick(DTYPES);
      break;
    case 1: {
      const s = [...shape];
      if (s.length) s[int(s.length)] = (s[int(s.length)] as number) + pick([-1, 1, 2]);
      else s.push(pick([0, 1, 2]));
      e.shape = s;
      break;
    }
    case 2:
      e.shape = pick<unknown>([[...shape].reverse(), [shape.reduce((a, b) => a * b, 1)], [...shape, 1], [1, ...shape], [2.5], [-1], ['3'], null, [2 ** 60], [0, 2 ** 40]]);
      break;
    case 3: {
      const k = int(2);
      e.data_offsets = offsets.map((o, i) => (i === k ? o + pick([-8, -4, -1, 1, 4, 8]) : o));
      break;
    }
    case 4: {
      const other = json[pick(names)] as Record<string, unknown>;
      [e.data_offsets, other.data_offsets] = [other.data_offsets, e.data_offsets];
      break;
    }
    case 5:
      e.data_offsets = pick<unknown>([[offsets[1], offsets[0]], [offsets[0]], [-1, 4], [0, 2 ** 53], '0,4', null]);
      break;
    case 6:
      delete json[name];
      break;
    case 7:
      json[`${name}_renamed`] = e;
      delete json[name];
      break;
    case 8: {
      const k = `resgrad.sha256.${name}`;
      const h = String(meta[k]);
      const i = int(h.length);
      meta[k] = h.slice(0, i) + (h[i] === '0' ? '1' : '0') + h.slice(i + 1);
      break;
    }
    case 9:
      delete meta[`resgrad.sha256.${name}`];
      break;
    case 10:
      meta[pick(['resgrad.sha256.ghost', 'format', `resgrad.sha256.${name}`])] = pick([3, null, '', 'x']);
      break;
    default:
      json.__metadata__ = pick([null, [], 'pt', {}]) as never;
  }
  return [`header edit ${kind} of '${name}'`, withHeader(json, data)];
}

/** One seeded corruption of `bytes`, and what it was. */
function mutate(bytes: Uint8Array): [string, Uint8Array] {
  const out = bytes.slice();
  const { dataStart } = headerOf(bytes);
  switch (int(7)) {
    case 0: {
      const flips = 1 + int(4);
      for (let i = 0; i < flips; i++) out[int(out.length)] ^= 1 + int(255);
      return [`${flips} byte flip(s)`, out];
    }
    case 1: {
      const at = int(dataStart - 8) + 8; // inside the header: JSON breakage and whitespace
      out[at] = pick(JUNK);
      return [`header byte ${at} := ${out[at]}`, out];
    }
    case 2: {
      const n = int(bytes.length);
      return [`truncated to ${n} bytes`, bytes.slice(0, n)];
    }
    case 3: {
      const extra = Uint8Array.from({ length: 1 + int(16) }, () => int(256));
      const longer = new Uint8Array(bytes.length + extra.length);
      longer.set(bytes);
      longer.set(extra, bytes.length);
      return [`${extra.length} bytes appended`, longer];
    }
    case 4: {
      const view = new DataView(out.buffer);
      const n = view.getUint32(0, true);
      const v = pick([n + 1, n - 1, n + 8, n - 8, 0, 2 ** 32 - 1, n + int(64)]);
      view.setUint32(0, Math.max(0, v), true);
      if (int(4) === 0) view.setUint32(4, 1 + int(255), true); // a header length past 2^32
      return [`header length ${n} -> ${view.getUint32(0, true)} (high word ${view.getUint32(4, true)})`, out];
    }
    case 5: {
      const at = 8 + int(dataStart - 8);
      const shorter = new Uint8Array(out.length - 1);
      shorter.set(out.subarray(0, at));
      shorter.set(out.subarray(at + 1), at);
      return [`header byte ${at} deleted`, shorter];
    }
    default:
      return editHeader(bytes);
  }
}

function sameTensors(back: Record<string, Tensor>, original: Record<string, Tensor>): string | null {
  const keys = Object.keys(back).sort();
  if (JSON.stringify(keys) !== JSON.stringify(Object.keys(original).sort())) return `keys ${keys.join(',')}`;
  for (const k of keys) {
    const a = back[k] as Tensor;
    const b = original[k] as Tensor;
    if (a.dtype !== b.dtype || JSON.stringify(a.shape) !== JSON.stringify(b.shape)) return `${k}: ${a.dtype}${JSON.stringify(a.shape)}`;
    const x = new Uint8Array(a.toArray().buffer);
    const y = new Uint8Array(b.toArray().buffer);
    if (x.length !== y.length || x.some((v, i) => v !== y[i])) return `${k}: values changed`;
  }
  return null;
}

describe(`safetensors loader fuzz: ${CASES} seeded corruptions of files with hashes`, () => {
  it('verify: true gives a SafetensorsError or the original tensors; no verify gives a SafetensorsError or a load', () => {
    const problems: string[] = [];
    const tally = { rejected: 0, loadedEqual: 0, unverifiedChanged: 0 };
    for (let c = 0; c < CASES; c++) {
      const f = int(FILES.length);
      const [what, bytes] = mutate(FILES[f] as Uint8Array);
      const label = `case ${c} (file ${f}, ${what})`;
      try {
        const back = io.loadSafetensors(bytes, { verify: true });
        const diff = sameTensors(back, ORIGINALS[f] as Record<string, Tensor>);
        if (diff) problems.push(`${label}: verified load changed ${diff}`);
        else tally.loadedEqual++;
      } catch (e) {
        if (e instanceof io.SafetensorsError) tally.rejected++;
        else problems.push(`${label}: ${(e as Error).name}: ${(e as Error).message}`);
      }
      try {
        const back = io.loadSafetensors(bytes, { verify: false });
        if (sameTensors(back, ORIGINALS[f] as Record<string, Tensor>)) tally.unverifiedChanged++;
      } catch (e) {
        if (!(e instanceof io.SafetensorsError)) problems.push(`${label} without verify: ${(e as Error).name}: ${(e as Error).message}`);
      }
    }
    expect(problems.slice(0, 10)).toEqual([]);
    expect(tally.rejected + tally.loadedEqual).toBe(CASES);
    // the fuzz reaches both outcomes, and without the hashes some corruptions would have passed
    expect(tally.rejected).toBeGreaterThan(CASES / 2);
    expect(tally.loadedEqual).toBeGreaterThan(0);
    expect(tally.unverifiedChanged).toBeGreaterThan(0);
  });
});
