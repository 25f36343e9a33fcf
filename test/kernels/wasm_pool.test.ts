// The WASM SIMD pooling kernels (kernels/wasm/pool.ts, source kernels/wasm/src/pool.wat) against
// the TS kernels of kernels/cpu/pool2d.ts, on 1, 2 and 3 threads.
//
// Geometries: the ResNet stem's max pool (3x3, stride 2, padding 1) on odd and even planes,
// stride 1 (the four-wide SIMD path with contiguous loads), stride 3 (scalar only), dilation,
// ceil-mode edges, batch 1, and random geometries; with 2 and 3 threads every case goes through the
// pool (minParallelElements = 0), planes split among threads. Inputs hold NaN, -inf and many ties
// (values on a grid of 1/4) for the max rules.
//
// Tolerances (u = 2^-24):
// - max pooling selects, so y, idx and the backward (whose sums are taken in the same order as the
//   reference, each one float32 addition) must match exactly.
// - average pooling sums a window of k floats one after another in float32 (the reference sums in
//   double): |Δ| <= k·u·Σ|x|/divisor, and the global average sums in blocks (<= ~131u·Σ|x|/hw).
//   Windows here hold at most 1024 elements, so 2^-14·avg(|x|) (avg(|x|) being the same pooling of
//   |x|, computed by the reference) bounds every case, plus u·|y| for the final rounding.
// - their backward adds float32(dy/divisor) where the reference adds the double quotient: one
//   rounding per contribution, |Δ| <= 2^-20·Σ|dy|/divisor over the windows (the reference's backward
//   of |dy|).
// Arrays that already live in the wasm memory are used in place (zero-copy) and must give the
// same bits as ordinary arrays, which are staged through the arena.

import { describe, expect, it } from 'vitest';
import { Generator } from '../../core/random.js';
import type { AvgPoolOptions, PoolGeometry } from '../../kernels/geometry.js';
import {
  adaptiveAvgPool2dBackward,
  adaptiveAvgPool2dForward,
  avgPool2dBackward,
  avgPool2dForward,
  maxPool2dBackward,
  maxPool2dForward,
} from '../../kernels/cpu/pool2d.js';
import {
  adaptiveAvgPool2dBackwardWasm,
  adaptiveAvgPool2dForwardWasm,
  avgPool2dBackwardWasm,
  avgPool2dForwardWasm,
  maxPool2dBackwardWasm,
  maxPool2dForwardWasm,
} from '../../kernels/wasm/pool.js';
import { getWasm, } from '../../kernels/wasm/runtime.js';
import { wasmOffsetOf } from '../../kernels/wasm/elementwise.js';
import { inWasm, onThreads } from '../helpers/wasm.js';

const U = 2 ** -24;

/** Output size along one axis, PyTorch's formula (ceil mode drops a window that starts in the padding). */
function outSize(size: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const span = size + 2 * p - d * (k - 1) - 1;
  let o = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (o - 1) * s >= size + p) o--;
  return o;
}

interface Spec {
  planes: number;
  h: number;
  w: number;
  k: [number, number];
  s: [number, number];
  p: [number, number];
  d: [number, number];
  ceil: boolean;
}

function geometry(c: Spec, dilated: boolean): PoolGeometry {
  const [dh, dw] = dilated ? c.d : [1, 1];
  return {
    planes: c.planes,
    h: c.h,
    w: c.w,
    oh: outSize(c.h, c.k[0], c.s[0], c.p[0], dh, c.ceil),
    ow: outSize(c.w, c.k[1], c.s[1], c.p[1], dw, c.ceil),
    kh: c.k[0],
    kw: c.k[1],
    sh: c.s[0],
    sw: c.s[1],
    ph: c.p[0],
    pw: c.p[1],
    dh,
    dw,
  };
}

const name = (p: PoolGeometry): string =>
  `x=[${p.planes},${p.h},${p.w}] k=${p.kh}x${p.kw} s=${p.sh},${p.sw} p=${p.ph},${p.pw}${p.dh > 1 || p.dw > 1 ? ` d=${p.dh},${p.dw}` : ''} -> ${p.oh}x${p.ow}`;

const FIXED: Spec[] = [
  { planes: 3, h: 17, w: 17, k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1], ceil: false }, // the stem, odd
  { planes: 6, h: 112, w: 112, k: [3, 3], s: [2, 2], p: [1, 1], d: [1, 1], ceil: false }, // the stem, 75264 elements
  { planes: 1, h: 9, w: 30, k: [2, 3], s: [1, 1], p: [0, 1], d: [1, 1], ceil: false }, // stride 1, batch 1
  { planes: 2, h: 10, w: 23, k: [3, 2], s: [3, 3], p: [1, 1], d: [1, 1], ceil: true }, // stride 3: scalar only
  { planes: 4, h: 11, w: 29, k: [3, 3], s: [2, 2], p: [1, 1], d: [2, 2], ceil: true }, // dilated
  { planes: 5, h: 8, w: 8, k: [2, 2], s: [2, 2], p: [0, 0], d: [1, 1], ceil: false },
  { planes: 7, h: 100, w: 101, k: [3, 3], s: [1, 2], p: [1, 0], d: [1, 1], ceil: true }, // 70700 elements
];

function randomSpecs(count: number, seed: number): Spec[] {
  const g = new Generator(seed);
  const specs: Spec[] = [];
  while (specs.length < count) {
    const k: [number, number] = [1 + g.integer(0, 3), 1 + g.integer(0, 4)];
    const c: Spec = {
      planes: 1 + g.integer(0, 4),
      h: 1 + g.integer(0, 13),
      w: 1 + g.integer(0, 27),
      k,
      s: [1 + g.integer(0, 3), 1 + g.integer(0, 3)],
      p: [g.integer(0, Math.floor(k[0] / 2) + 1), g.integer(0, Math.floor(k[1] / 2) + 1)],
      d: [1 + g.integer(0, 2), 1 + g.integer(0, 2)],
      ceil: g.uniform() < 0.3,
    };
    const p = geometry(c, true);
    const q = geometry(c, false);
    if (p.oh > 0 && p.ow > 0 && q.oh > 0 && q.ow > 0) specs.push(c);
  }
  return specs;
}

/** Values on a grid of 1/4 (many ties) with ~3% NaN and ~2% -inf. */
function maxInput(n: number, seed: number): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: n }, () => {
    const r = g.uniform();
    return r < 0.03 ? Number.NaN : r < 0.05 ? Number.NEGATIVE_INFINITY : g.integer(-8, 8) / 4;
  });
}

function normals(n: number, seed: number): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from({ length: n }, () => g.normal());
}

/** True when every window of the geometry has at least one tap (only dilation can make one empty). */
function noEmptyWindow(idx: Int32Array, p: PoolGeometry): boolean {
  return idx.every((i) => i >= 0 && i < p.h * p.w);
}

function expectExact(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  expect(actual.length, `${label} length`).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    if (!(Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)))) expect.fail(`${label} at ${i}: ${a} vs ${e}`);
  }
}

function expectWithin(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: ArrayLike<number>, label: string): void {
  expect(actual.length, `${label} length`).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    if (!(Math.abs(a - e) <= (tol[i] as number))) expect.fail(`${label} at ${i}: ${a} vs ${e} (tolerance ${tol[i]})`);
  }
}

const abs = (a: Float32Array): Float32Array => a.map(Math.abs);

function checkMax(p: PoolGeometry, seed: number): void {
  const x = maxInput(p.planes * p.h * p.w, seed);
  const out = p.planes * p.oh * p.ow;
  const y = new Float32Array(out).fill(99);
  const idx = new Int32Array(out).fill(-7);
  maxPool2dForwardWasm(x, y, idx, p);
  const ry = new Float32Array(out);
  const ridx = new Int32Array(out);
  maxPool2dForward(x, ry, ridx, p);
  expectExact(y, ry, 'y');
  expectExact(idx, ridx, 'idx');
  const dy = normals(out, seed + 1);
  const dx = new Float32Array(x.length).fill(99); // overwritten, not added into
  maxPool2dBackwardWasm(dy, idx, dx, p);
  const rdx = new Float32Array(x.length);
  if (noEmptyWindow(ridx, p)) {
    maxPool2dBackward(dy, ridx, rdx, p);
  } else {
    // an empty window's index points past its plane: the reference adds its gradient into the
    // next plane, the wasm kernel drops it (its output is a constant -inf)
    const plane = p.h * p.w;
    for (let q = 0; q < p.planes; q++) {
      for (let k = 0; k < p.oh * p.ow; k++) {
        const i = ridx[q * p.oh * p.ow + k] as number;
        if (i < plane) rdx[q * plane + i] = (rdx[q * plane + i] as number) + (dy[q * p.oh * p.ow + k] as number);
      }
    }
  }
  expectExact(dx, rdx, 'dx');
}

function checkAvg(p: PoolGeometry, o: AvgPoolOptions, seed: number): void {
  const x = normals(p.planes * p.h * p.w, seed);
  const out = p.planes * p.oh * p.ow;
  const y = new Float32Array(out);
  avgPool2dForwardWasm(x, y, p, o);
  const ry = new Float64Array(out);
  const scale = new Float64Array(out);
  avgPool2dForward(Float64Array.from(x), ry, p, o);
  avgPool2dForward(Float64Array.from(abs(x)), scale, p, o);
  expectWithin(
    y,
    ry,
    scale.map((s, i) => 2 ** -14 * s + U * Math.abs(ry[i] as number)),
    'y',
  );
  const dy = normals(out, seed + 1);
  const dx = new Float32Array(x.length).fill(99);
  avgPool2dBackwardWasm(dy, dx, p, o);
  const rdx = new Float64Array(x.length);
  const dscale = new Float64Array(x.length);
  avgPool2dBackward(Float64Array.from(dy), rdx, p, o);
  avgPool2dBackward(Float64Array.from(abs(dy)), dscale, p, o);
  expectWithin(
    dx,
    rdx,
    dscale.map((s) => 2 ** -20 * s),
    'dx',
  );
}

function checkAdaptive(planes: number, h: number, w: number, oh: number, ow: number, seed: number): void {
  const x = normals(planes * h * w, seed);
  const out = planes * oh * ow;
  const y = new Float32Array(out);
  adaptiveAvgPool2dForwardWasm(x, y, planes, h, w, oh, ow);
  const ry = new Float64Array(out);
  const scale = new Float64Array(out);
  adaptiveAvgPool2dForward(Float64Array.from(x), ry, planes, h, w, oh, ow);
  adaptiveAvgPool2dForward(Float64Array.from(abs(x)), scale, planes, h, w, oh, ow);
  expectWithin(
    y,
    ry,
    scale.map((s, i) => 2 ** -14 * s + U * Math.abs(ry[i] as number)),
    'y',
  );
  const dy = normals(out, seed + 1);
  const dx = new Float32Array(x.length).fill(99);
  adaptiveAvgPool2dBackwardWasm(dy, dx, planes, h, w, oh, ow);
  const rdx = new Float64Array(x.length);
  const dscale = new Float64Array(x.length);
  adaptiveAvgPool2dBackward(Float64Array.from(dy), rdx, planes, h, w, oh, ow);
  adaptiveAvgPool2dBackward(Float64Array.from(abs(dy)), dscale, planes, h, w, oh, ow);
  expectWithin(
    dx,
    rdx,
    dscale.map((s) => 2 ** -20 * s),
    'dx',
  );
}

const AVG_OPTIONS: AvgPoolOptions[] = [
  { countIncludePad: true, divisorOverride: 0 },
  { countIncludePad: false, divisorOverride: 0 },
  { countIncludePad: true, divisorOverride: 5 },
];

for (const threads of [1, 2, 3]) {
  describe(`wasm pooling, ${threads} thread(s)`, () => {
    onThreads(threads);

    FIXED.forEach((c, k) => {
      const pm = geometry(c, true);
      it(`max ${name(pm)}: y, idx and dx exactly as the reference`, () => checkMax(pm, 10 * k));
      const pa = geometry(c, false);
      for (const o of AVG_OPTIONS) {
        it(`avg ${name(pa)} countIncludePad=${o.countIncludePad} divisorOverride=${o.divisorOverride}`, () => checkAvg(pa, o, 10 * k + 1));
      }
    });

    it('max and avg on 150 random geometries (odd sizes, strides 1-3, padding, dilation, ceil mode)', () => {
      randomSpecs(150, 5 + threads).forEach((c, k) => {
        checkMax(geometry(c, true), 1000 + k);
        checkAvg(geometry(c, false), AVG_OPTIONS[k % 3] as AvgPoolOptions, 2000 + k);
      });
    });

    for (const [planes, h, w, oh, ow] of [
      [6, 7, 7, 1, 1], // ResNet's head
      [1, 1, 1, 1, 1],
      [10, 83, 85, 1, 1], // 70550 elements: blocks of 1024 in the plane sum
      [3, 13, 11, 5, 4],
      [2, 5, 6, 7, 9], // upsampling windows
      [4, 9, 1, 3, 1],
    ] as const) {
      it(`adaptive avg x=[${planes},${h},${w}] -> ${oh}x${ow}`, () => checkAdaptive(planes, h, w, oh, ow, planes + h + w));
    }
  });
}


describe('wasm pooling on arrays that live in the wasm memory (zero-copy)', () => {
  it('max pool x=[6,112,112] forward and backward, adaptive average: inputs and outputs in the memory', () => {
    const rt = getWasm()!;
    const mark = rt.mark();
    try {
      const p = geometry(FIXED[1] as Spec, true);
      const x0 = maxInput(p.planes * p.h * p.w, 3);
      const out = p.planes * p.oh * p.ow;
      const ry = new Float32Array(out);
      const ridx = new Int32Array(out);
      maxPool2dForward(x0, ry, ridx, p);
      const dy0 = normals(out, 4);
      const rdx = new Float32Array(x0.length);
      maxPool2dBackward(dy0, ridx, rdx, p);
      const [x, y, dy, dx, g] = inWasm(x0, new Float32Array(out), dy0, new Float32Array(x0.length).fill(5), new Float32Array(p.planes));
      const [idx] = inWasm(new Int32Array(out));
      maxPool2dForwardWasm(x!, y!, idx!, p);
      expectExact(y!, ry, 'y');
      expectExact(idx!, ridx, 'idx');
      maxPool2dBackwardWasm(dy!, idx!, dx!, p);
      expectExact(dx!, rdx, 'dx');
      adaptiveAvgPool2dForwardWasm(dx!, g!, p.planes, p.h, p.w, 1, 1);
      const rg = new Float64Array(p.planes);
      adaptiveAvgPool2dForward(Float64Array.from(rdx), rg, p.planes, p.h, p.w, 1, 1);
      expectWithin(g!, rg, Array.from(rg, () => 1e-6), 'global average');
      expect(wasmOffsetOf(rt.memory.buffer, x!)).toBeGreaterThanOrEqual(0); // no growth: nothing was staged
    } finally {
      rt.release(mark);
    }
  });
});

describe('wasm pooling special cases and arguments', () => {
  it('x=[1,1,6]: NaN wins and the last NaN keeps it, ties go to the first position', () => {
    const p: PoolGeometry = { planes: 1, h: 1, w: 6, oh: 1, ow: 2, kh: 1, kw: 3, sh: 1, sw: 3, ph: 0, pw: 0, dh: 1, dw: 1 };
    const x = Float32Array.of(2, Number.NaN, Number.NaN, 5, 1, 5);
    const y = new Float32Array(2);
    const idx = new Int32Array(2);
    maxPool2dForwardWasm(x, y, idx, p);
    expect([Number.isNaN(y[0] as number), y[1], Array.from(idx)]).toEqual([true, 5, [2, 3]]);
  });

  it('0 planes: every kernel accepts the empty batch', () => {
    const p: PoolGeometry = { planes: 0, h: 4, w: 4, oh: 2, ow: 2, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0, dh: 1, dw: 1 };
    const e = new Float32Array(0);
    const none = new Int32Array(0);
    expect(() => {
      maxPool2dForwardWasm(e, e, none, p);
      maxPool2dBackwardWasm(e, none, e, p);
      avgPool2dForwardWasm(e, e, p, { countIncludePad: true, divisorOverride: 0 });
      avgPool2dBackwardWasm(e, e, p, { countIncludePad: false, divisorOverride: 0 });
      adaptiveAvgPool2dForwardWasm(e, e, 0, 4, 4, 1, 1);
      adaptiveAvgPool2dBackwardWasm(e, e, 0, 4, 4, 1, 1);
    }).not.toThrow();
  });

  it('errors name the argument, the expected and the actual value', () => {
    const p: PoolGeometry = { planes: 2, h: 4, w: 4, oh: 2, ow: 2, kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0, dh: 1, dw: 1 };
    const x = new Float32Array(32);
    const y = new Float32Array(8);
    expect(() => maxPool2dForwardWasm(x, y, new Int32Array(7), p)).toThrow(/maxPool2dForwardWasm: idx must have 8 elements \(planes·oh·ow\), got 7/);
    expect(() => maxPool2dForwardWasm(new Float32Array(31), y, new Int32Array(8), p)).toThrow(/x must have 32 elements \(planes·h·w\), got 31/);
    expect(() => maxPool2dBackwardWasm(y, new Int32Array(8), x, { ...p, sw: 0 })).toThrow(/maxPool2dBackwardWasm: p.sw must be an integer >= 1, got 0/);
    expect(() => avgPool2dForwardWasm(x, y, p, { countIncludePad: true, divisorOverride: -1 })).toThrow(/o.divisorOverride must be an integer >= 0, got -1/);
    expect(() => adaptiveAvgPool2dForwardWasm(x, y, 2, 4, 4, 0, 4)).toThrow(/adaptiveAvgPool2dForwardWasm: oh must be an integer >= 1, got 0/);
  });
});
