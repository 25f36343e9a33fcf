// The WASM SIMD convolution (kernels/wasm/conv.ts, source kernels/wasm/src/conv.gen.ts), forward
// (bias, ReLU) and backward (dX, dW, db), plain and relaxed-FMA, on 1, 2 and 3 threads, against
// conv2dDirect / conv2dBackwardDirect / conv2dBackwardBias run in float64 on the same float32
// inputs (the truth).
//
// Tolerance, per element: with S the same sum over absolute values (the direct kernel run on
// |x|, |w|, |dy|) and T the number of terms in that element's sum, each float32 rounding of a
// partial sum is at most 2^-24·S and the roundings behave like independent errors, so the total
// stays below ~sqrt(T)·2^-24·S; we allow (sqrt(T) + 2)·2^-23·S. T is Kg = C/groups·kh·kw for y,
// O/groups·kh·kw for dX, n·oh·ow for dW and db.

import { describe, expect, it, vi } from 'vitest';
import { Generator } from '../../core/random.js';
import { conv2dBackwardBias, conv2dBackwardDirect, conv2dDirect } from '../../kernels/cpu/conv2d.js';
import type { ConvGeometry } from '../../kernels/geometry.js';
import { conv2dBackwardBiasWasm, conv2dBackwardInputWasm, conv2dBackwardWeightWasm, conv2dForwardWasm, convTuning, forwardSplit } from '../../kernels/wasm/conv.js';
import { describeWasm, getNumThreads, getWasm, setNumThreads, type WasmRuntime } from '../../kernels/wasm/runtime.js';
import { onThreads } from '../helpers/wasm.js';

function runtime(): WasmRuntime {
  const rt = getWasm();
  if (rt === null) throw new Error(`no wasm runtime in Node: ${describeWasm()}`);
  return rt;
}

interface Spec {
  x: [number, number, number, number];
  w: [number, number, number, number];
  stride?: [number, number];
  /** top, bottom, left, right */
  pad?: [number, number, number, number];
  dil?: [number, number];
  groups?: number;
}

function geometryOf(s: Spec): ConvGeometry {
  const [n, c, h, w] = s.x;
  const [o, , kh, kw] = s.w;
  const [sh, sw] = s.stride ?? [1, 1];
  const [pt, pb, pl, pr] = s.pad ?? [0, 0, 0, 0];
  const [dh, dw] = s.dil ?? [1, 1];
  const oh = Math.floor((h + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((w + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
  return { n, c, h, w, o, kh, kw, sh, sw, pt, pl, dh, dw, groups: s.groups ?? 1, oh, ow };
}

const name = (s: Spec): string => {
  const g = geometryOf(s);
  return `x=[${s.x}] w=[${s.w}] s=${g.sh},${g.sw} p=${(s.pad ?? [0, 0, 0, 0]).join(',')} d=${g.dh},${g.dw} g=${g.groups}`;
};

const SPECS: Spec[] = [
  { x: [1, 3, 7, 9], w: [5, 3, 3, 3], pad: [1, 1, 1, 1] }, // batch 1
  { x: [2, 4, 11, 10], w: [6, 2, 3, 3], stride: [2, 2], pad: [1, 1, 1, 1], dil: [2, 2], groups: 2 },
  { x: [2, 3, 9, 8], w: [4, 3, 4, 4], pad: [1, 2, 1, 2] }, // padding='same' with an even kernel (asymmetric)
  { x: [2, 3, 9, 8], w: [4, 3, 3, 5], pad: [2, 2, 4, 4], dil: [2, 2] }, // 'same' with dilation
  { x: [2, 8, 6, 7], w: [8, 2, 3, 3], pad: [1, 1, 1, 1], groups: 4 },
  { x: [3, 16, 5, 6], w: [12, 16, 1, 1] }, // 1×1 stride 1: no im2col
  { x: [2, 8, 5, 5], w: [6, 4, 1, 1], groups: 2 }, // 1×1 grouped
  { x: [2, 8, 7, 9], w: [4, 8, 1, 1], stride: [2, 2] }, // 1×1 stride 2 (a ResNet downsample)
  { x: [2, 3, 23, 21], w: [8, 3, 7, 7], stride: [2, 2], pad: [3, 3, 3, 3] }, // the 7×7 s2 stem
  { x: [2, 6, 9, 9], w: [6, 1, 3, 3], pad: [1, 1, 1, 1], groups: 6 }, // depthwise
  { x: [1, 6, 8, 7], w: [12, 1, 3, 3], stride: [2, 1], pad: [1, 1, 1, 1], groups: 6 }, // depthwise, multiplier 2
  { x: [1, 16, 40, 40], w: [8, 16, 3, 3], pad: [1, 1, 1, 1] }, // L = 1600: several pixel pieces per image
  { x: [1, 300, 12, 12], w: [5, 300, 3, 3], pad: [1, 1, 1, 1] }, // Kg = 2700 > KC, pieces of 64 pixels
  { x: [2, 2, 3, 3], w: [3, 2, 2, 2], pad: [3, 3, 3, 3] }, // whole output rows in the padding
  { x: [2, 5, 1, 1], w: [7, 5, 1, 1] }, // 1×1 images
  { x: [1, 4, 5, 17], w: [9, 4, 2, 3], stride: [3, 2], pad: [0, 1, 2, 0], dil: [1, 3] },
  // few pixels, many output channels
  { x: [1, 12, 4, 3], w: [42, 12, 3, 3], pad: [1, 1, 1, 1] }, // too few channels to block: smaller pieces
  { x: [1, 8, 3, 2], w: [80, 4, 2, 2], pad: [1, 0, 1, 0], groups: 2 }, // grouped: whole pieces
  // on 2 and 3 threads the forward cuts these into blocks of output channels (BLOCKED, below)
  { x: [1, 300, 6, 5], w: [100, 300, 3, 3], pad: [1, 1, 1, 1] }, // Kg = 2700: 11 K slices, L = 30 (a tail of 6)
  { x: [1, 520, 7, 7], w: [97, 520, 1, 1] }, // 1×1, Kg = 520 (a slice of 8), 97 channels (a partial sliver)
  { x: [1, 16, 40, 40], w: [96, 16, 1, 1] }, // 1×1, L = 1600 > NC: two pieces of 800
  { x: [2, 16, 20, 20], w: [64, 16, 3, 3], pad: [1, 1, 1, 1], stride: [2, 1] }, // two images, stride 2
];
const BLOCKED = SPECS.slice(-4);

function randomSpecs(count: number, seed: number): Spec[] {
  const g = new Generator(seed);
  const r = (lo: number, hi: number): number => g.integer(lo, hi + 1);
  const out: Spec[] = [];
  while (out.length < count) {
    const groups = [1, 1, 2, 3, 4][r(0, 4)] as number;
    const kh = r(1, 4);
    const kw = r(1, 4);
    const s: Spec = {
      x: [r(1, 3), groups * r(1, 4), r(1, 12), r(1, 13)],
      w: [groups * r(1, 6), 0, kh, kw],
      stride: [r(1, 3), r(1, 3)],
      pad: [r(0, 2), r(0, 2), r(0, 2), r(0, 2)],
      dil: [r(1, 2), r(1, 2)],
      groups,
    };
    s.w[1] = s.x[1] / groups;
    const geo = geometryOf(s);
    if (geo.oh > 0 && geo.ow > 0) out.push(s);
  }
  return out;
}

interface Prepared {
  geom: ConvGeometry;
  x: Float32Array;
  w: Float32Array;
  b: Float32Array;
  dy: Float32Array;
  /** float64 truths and their sums over absolute values */
  y: Float64Array;
  yAbs: Float64Array;
  dx: Float64Array;
  dxAbs: Float64Array;
  dw: Float64Array;
  dwAbs: Float64Array;
  db: Float64Array;
  dbAbs: Float64Array;
}

const prepared = new Map<string, Prepared>();

function prepare(s: Spec, seed: number): Prepared {
  const key = `${name(s)} seed=${seed}`;
  const hit = prepared.get(key);
  if (hit) return hit;
  const geom = geometryOf(s);
  const g = new Generator(seed);
  const fill = (n: number): Float32Array => Float32Array.from({ length: n }, () => g.normal());
  const x = fill(geom.n * geom.c * geom.h * geom.w);
  const w = fill(geom.o * (geom.c / geom.groups) * geom.kh * geom.kw);
  const b = fill(geom.o);
  const dy = fill(geom.n * geom.o * geom.oh * geom.ow);
  const f64 = (a: Float32Array, abs = false): Float64Array => Float64Array.from(a, abs ? Math.abs : (v) => v);
  const y = new Float64Array(dy.length);
  const yAbs = new Float64Array(dy.length);
  conv2dDirect(f64(x), f64(w), f64(b), y, geom);
  conv2dDirect(f64(x, true), f64(w, true), f64(b, true), yAbs, geom);
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  const dxAbs = new Float64Array(x.length);
  const dwAbs = new Float64Array(w.length);
  conv2dBackwardDirect(f64(dy), f64(x), f64(w), dx, dw, geom);
  conv2dBackwardDirect(f64(dy, true), f64(x, true), f64(w, true), dxAbs, dwAbs, geom);
  const db = new Float64Array(geom.o);
  const dbAbs = new Float64Array(geom.o);
  conv2dBackwardBias(f64(dy), db, geom);
  conv2dBackwardBias(f64(dy, true), dbAbs, geom);
  const p = { geom, x, w, b, dy, y, yAbs, dx, dxAbs, dw, dwAbs, db, dbAbs };
  prepared.set(key, p);
  return p;
}

function expectWithin(label: string, got: Float32Array, want: ArrayLike<number>, abs: ArrayLike<number>, terms: number): void {
  expect(got.length, `${label} length`).toBe(want.length);
  const perS = (Math.sqrt(terms) + 2) * 2 ** -23;
  for (let i = 0; i < got.length; i++) {
    const tol = perS * (abs[i] as number);
    if (!(Math.abs((got[i] as number) - (want[i] as number)) <= tol)) {
      throw new Error(`${label}: element ${i} is ${got[i]}, expected ${want[i]} (tolerance ${tol})`);
    }
  }
}

/** Forward (with or without bias, ReLU or not) and the three backward kernels of one spec. */
function check(s: Spec, relaxed: boolean, seed: number, bias: boolean, relu: boolean): void {
  const p = prepare(s, seed);
  const { geom } = p;
  const label = `${name(s)}${relaxed ? ' relaxed' : ''}`;
  const Kg = (geom.c / geom.groups) * geom.kh * geom.kw;
  const L = geom.oh * geom.ow;
  // outputs start as NaN so that an element the kernel forgets to write fails the comparison
  const y = new Float32Array(p.dy.length).fill(Number.NaN);
  conv2dForwardWasm(p.x, p.w, bias ? p.b : null, y, geom, { relaxed, relu });
  const want = Float64Array.from(p.y);
  const abs = Float64Array.from(p.yAbs);
  if (!bias) {
    for (let i = 0; i < want.length; i++) {
      const o = Math.floor(i / L) % geom.o;
      want[i] = (want[i] as number) - (p.b[o] as number);
      abs[i] = (abs[i] as number) - Math.abs(p.b[o] as number);
    }
  }
  if (relu) for (let i = 0; i < want.length; i++) want[i] = Math.max(want[i] as number, 0);
  expectWithin(`${label} y${bias ? ' +b' : ''}${relu ? ' relu' : ''}`, y, want, abs, Kg + 1);

  const dx = new Float32Array(p.x.length).fill(Number.NaN);
  conv2dBackwardInputWasm(p.dy, p.w, dx, geom, { relaxed });
  expectWithin(`${label} dx`, dx, p.dx, p.dxAbs, (geom.o / geom.groups) * geom.kh * geom.kw);

  const dw = new Float32Array(p.w.length).fill(Number.NaN);
  conv2dBackwardWeightWasm(p.dy, p.x, dw, geom, { relaxed });
  expectWithin(`${label} dw`, dw, p.dw, p.dwAbs, geom.n * L);

  const db = new Float32Array(geom.o).fill(Number.NaN);
  conv2dBackwardBiasWasm(p.dy, db, geom);
  expectWithin(`${label} db`, db, p.db, p.dbAbs, geom.n * L);
}

const VARIANTS = runtime().relaxed ? [false, true] : [false];
const RANDOM = randomSpecs(14, 5);

describe('wasm conv: work split', () => {
  it('the forward cuts a few pixels of many channels into channel blocks, on more than one thread', () => {
    for (const s of BLOCKED) {
      const g = geometryOf(s);
      expect(forwardSplit(g, 1).rows, name(s)).toBe(g.o);
      for (const nt of [2, 3]) {
        const { P, rows } = forwardSplit(g, nt);
        expect(rows, `${name(s)} nt=${nt}`).toBeLessThan(g.o);
        expect(rows % 4, `${name(s)} nt=${nt}`).toBe(0);
        expect(rows, `${name(s)} nt=${nt}`).toBeGreaterThanOrEqual(convTuning.minBlockRows);
        expect(P, `${name(s)} nt=${nt}`).toBeLessThanOrEqual(1024);
      }
    }
    // a batch of many pieces, few channels and groups keep whole pieces
    expect(forwardSplit(geometryOf({ x: [8, 64, 56, 56], w: [64, 64, 3, 3], pad: [1, 1, 1, 1] }), 2).rows).toBe(64);
    expect(forwardSplit(geometryOf({ x: [1, 12, 4, 3], w: [42, 12, 3, 3], pad: [1, 1, 1, 1] }), 2).rows).toBe(42);
    expect(forwardSplit(geometryOf({ x: [1, 8, 3, 2], w: [80, 4, 2, 2], pad: [1, 0, 1, 0], groups: 2 }), 2).rows).toBe(40);
    // ResNet-50's last stage at batch 1: 512 channels in blocks of 64 on 2 threads
    expect(forwardSplit(geometryOf({ x: [1, 512, 7, 7], w: [512, 512, 3, 3], pad: [1, 1, 1, 1] }), 2)).toEqual({ P: 56, rows: 64 });
  });

  it('channel blocks give the same floats as whole pieces (the same sums in the same order), bias and ReLU', () => {
    for (const [i, s] of BLOCKED.entries()) {
      const geom = geometryOf(s);
      const g = new Generator(40 + i);
      const fill = (n: number): Float32Array => Float32Array.from({ length: n }, () => g.normal());
      const p = { geom, x: fill(geom.n * geom.c * geom.h * geom.w), w: fill(geom.o * (geom.c / geom.groups) * geom.kh * geom.kw), b: fill(geom.o) };
      const yLen = geom.n * geom.o * geom.oh * geom.ow;
      const run = (nt: number): Float32Array => {
        const previous = getNumThreads();
        setNumThreads(nt);
        try {
          const y = new Float32Array(yLen).fill(Number.NaN);
          conv2dForwardWasm(p.x, p.w, p.b, y, p.geom, { relu: true });
          return y;
        } finally {
          setNumThreads(previous);
        }
      };
      const whole = run(1);
      expect(run(2), name(s)).toEqual(whole);
      expect(run(3), name(s)).toEqual(whole);
    }
  });
});

describe('wasm conv: relaxed-SIMD detection', () => {
  it('the relaxed conv entry points exist exactly when rt.relaxed (which only fails where relaxed SIMD does not validate)', () => {
    const rt = runtime();
    for (const fn of ['conv_fwd', 'conv_bwd_input', 'conv_bwd_weight']) expect(rt.has(`${fn}_relaxed`), fn).toBe(rt.relaxed);
    // (module (func (param v128 v128 v128) (result v128) (f32x4.relaxed_madd ...)))
    const probe = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11]);
    expect(rt.relaxed).toBe(WebAssembly.validate(probe));
  });
});

for (const nt of [1, 2, 3]) {
  describe(`wasm conv on ${nt} thread${nt > 1 ? 's' : ''}`, () => {
    onThreads(nt);

    for (const relaxed of VARIANTS) {
      const kind = relaxed ? 'relaxed' : 'plain';
      SPECS.forEach((s, i) => {
        it(`${kind}: conv2d ${name(s)} forward (bias, relu) and backward`, () => {
          check(s, relaxed, 20 + i, i % 2 === 0, i % 3 !== 1);
        });
      });
      it(`${kind}: ${RANDOM.length} random geometries (odd sizes, strides, padding, dilation, groups 1-4)`, () => {
        RANDOM.forEach((s, i) => {
          check(s, relaxed, 200 + i, i % 3 !== 0, i % 2 === 0);
        });
      });
    }
  });
}

describe('wasm conv: arrays that already live in wasm memory', () => {
  const spec: Spec = { x: [2, 6, 7, 8], w: [6, 6, 3, 3], pad: [1, 1, 1, 1] }; // y has x's shape
  const view = (rt: WasmRuntime, a: Float32Array): Float32Array => {
    const v = new Float32Array(rt.memory.buffer, rt.alloc(a.byteLength), a.length);
    v.set(a);
    return v;
  };
  it('forward and backward read and write in place (nothing copied into the arena)', () => {
    const rt = runtime();
    const p = prepare(spec, 77);
    const m = rt.mark();
    const put = vi.spyOn(rt, 'put');
    try {
      const [x, w, b, dy] = [p.x, p.w, p.b, p.dy].map((a) => view(rt, a)) as [Float32Array, Float32Array, Float32Array, Float32Array];
      const [y, dx, dw, db] = [p.y.length, p.x.length, p.w.length, p.geom.o].map((n) => view(rt, new Float32Array(n).fill(Number.NaN))) as [Float32Array, Float32Array, Float32Array, Float32Array];
      conv2dForwardWasm(x, w, b, y, p.geom);
      conv2dBackwardInputWasm(dy, w, dx, p.geom);
      conv2dBackwardWeightWasm(dy, x, dw, p.geom);
      conv2dBackwardBiasWasm(dy, db, p.geom);
      expect(put, 'nothing is copied into the arena').not.toHaveBeenCalled();
      const L = p.geom.oh * p.geom.ow;
      expectWithin('y', y, p.y, p.yAbs, 6 * 9 + 1);
      expectWithin('dx', dx, p.dx, p.dxAbs, 6 * 9);
      expectWithin('dw', dw, p.dw, p.dwAbs, 2 * L);
      expectWithin('db', db, p.db, p.dbAbs, 2 * L);
    } finally {
      put.mockRestore();
      rt.release(m);
    }
  });
  it('y on the same memory as x (same shape): staged, so x is read before y is written', () => {
    const rt = runtime();
    const p = prepare(spec, 77);
    const m = rt.mark();
    try {
      const x = view(rt, p.x);
      conv2dForwardWasm(x, p.w, p.b, x, p.geom);
      expectWithin('y', x, p.y, p.yAbs, 6 * 9 + 1);
    } finally {
      rt.release(m);
    }
  });
});

describe('wasm conv: an empty batch', () => {
  it('n = 0: nothing to write forward; dW and db are empty sums (zeros), 1×1 and 3×3', () => {
    for (const k of [1, 3]) {
      const geom = geometryOf({ x: [0, 4, 5, 5], w: [6, 4, k, k], pad: [1, 1, 1, 1].map(() => (k - 1) / 2) as [number, number, number, number] });
      const w = new Float32Array(6 * 4 * k * k).fill(1);
      conv2dForwardWasm(new Float32Array(0), w, null, new Float32Array(0), geom);
      conv2dBackwardInputWasm(new Float32Array(0), w, new Float32Array(0), geom);
      const dw = new Float32Array(w.length).fill(Number.NaN);
      conv2dBackwardWeightWasm(new Float32Array(0), new Float32Array(0), dw, geom);
      expect([...dw].every((v) => v === 0), `dw k=${k}`).toBe(true);
      const db = new Float32Array(6).fill(Number.NaN);
      conv2dBackwardBiasWasm(new Float32Array(0), db, geom);
      expect([...db]).toEqual([0, 0, 0, 0, 0, 0]);
    }
  });
});

describe('wasm conv: argument errors name the argument, the expected and the actual value', () => {
  const geom = geometryOf({ x: [2, 4, 5, 5], w: [6, 2, 3, 3], groups: 2 });
  const x = new Float32Array(2 * 4 * 25);
  const w = new Float32Array(6 * 2 * 9);
  const y = new Float32Array(2 * 6 * 9);
  it('rejects short arrays, bad geometry and wrong types', () => {
    expect(() => conv2dForwardWasm(x.subarray(1), w, null, y, geom)).toThrow(/conv2dForwardWasm: x must hold n·c·h·w = 200 floats, got 199/);
    expect(() => conv2dForwardWasm(x, w, new Float32Array(5), y, geom)).toThrow(/bias must hold o = 6 floats, got 5/);
    expect(() => conv2dBackwardInputWasm(y, w, new Float32Array(3), geom)).toThrow(/dx must hold n·c·h·w = 200 floats, got 3/);
    expect(() => conv2dBackwardWeightWasm(y, x, w, { ...geom, groups: 3 })).toThrow(/geom.c \(4\) must be divisible by geom.groups \(3\)/);
    expect(() => conv2dBackwardBiasWasm(y, new Float32Array(6), { ...geom, sh: 0 })).toThrow(/geom.sh must be at least 1, got 0/);
    expect(() => conv2dForwardWasm(x, w, null, y, { ...geom, kh: 1.5 })).toThrow(/geom.kh must be a non-negative integer, got 1.5/);
    expect(() => conv2dForwardWasm(Array.from(x) as unknown as Float32Array, w, null, y, geom)).toThrow(/x must be a Float32Array, got Array/);
  });
  it('refuses relaxed where it is unavailable', () => {
    const call = () => conv2dForwardWasm(x, w, null, y, geom, { relaxed: true });
    if (runtime().relaxed) expect(call).not.toThrow();
    else expect(call).toThrow(/opts.relaxed is true but relaxed SIMD is not available/);
  });
});
