// The WASM SIMD grouped / depthwise convolution (kernels/wasm/grouped_conv.ts, source
// kernels/wasm/src/gconv.gen.ts), plain and relaxed-FMA, on 1 and 2 threads, forward (with bias
// and ReLU), input gradient, weight gradient and bias gradient, against the TypeScript reference
// kernels conv2dDirect / conv2dBackwardDirect / conv2dBackwardBias run in float64 on the same
// float32 inputs (the truth).
//
// Tolerance, per element: each output is a sum of T products (forward: Cg·kh·kw taps + the bias;
// dX: at most Og·kh·kw; dW: N·oh·ow pixels; db: N·oh·ow). With S = the same sum over absolute
// values (the reference run on |inputs|), every float32 rounding of a partial sum is at most
// 2^-24·S and they behave like independent errors, so the total stays below ~sqrt(T)·2^-24·S; we
// allow (sqrt(T) + 2)·2^-23·S, twice that. The fused multiply-add of the relaxed kernel rounds
// less often, so it is inside the same bound; ReLU is 1-Lipschitz and does not widen it.

import { describe, expect, it } from 'vitest';
import { Generator } from '../../core/random.js';
import { conv2dBackwardBias, conv2dBackwardDirect, conv2dDirect } from '../../kernels/cpu/conv2d.js';
import type { ConvGeometry } from '../../kernels/geometry.js';
import {
  groupedConv2dBackwardInputWasm,
  groupedConv2dBackwardWeightWasm,
  groupedConv2dForwardWasm,
  groupedConvSupports,
} from '../../kernels/wasm/grouped_conv.js';
import { describeWasm, getWasm, type WasmRuntime } from '../../kernels/wasm/runtime.js';
import { onThreads } from '../helpers/wasm.js';

function runtime(): WasmRuntime {
  const rt = getWasm();
  if (rt === null) throw new Error(`no wasm runtime in Node: ${describeWasm()}`);
  return rt;
}

interface Case {
  x: [number, number, number, number];
  /** [o, c/groups, kh, kw] */
  w: [number, number, number, number];
  s?: [number, number];
  /** top, bottom, left, right (bottom / right may be negative: they only set oh / ow) */
  pad?: [number, number, number, number];
  d?: [number, number];
  g: number;
  bias?: boolean;
  relu?: boolean;
}

function geometry(c: Case): ConvGeometry {
  const [n, ch, h, w] = c.x;
  const [o, , kh, kw] = c.w;
  const [sh, sw] = c.s ?? [1, 1];
  const [pt, pb, pl, pr] = c.pad ?? [0, 0, 0, 0];
  const [dh, dw] = c.d ?? [1, 1];
  const oh = Math.floor((h + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((w + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
  return { n, c: ch, h, w, o, kh, kw, sh, sw, pt, pl, dh, dw, groups: c.g, oh, ow };
}

function name(c: Case): string {
  const p = geometry(c);
  const pad = c.pad ?? [0, 0, 0, 0];
  const padText = pad.every((v) => v === pad[0]) ? `p=${pad[0]}` : `p=[${pad.join(',')}]`;
  return (
    `conv2d x=[${c.x.join(',')}] w=[${c.w.join(',')}] s=${p.sh === p.sw ? p.sh : `[${p.sh},${p.sw}]`} ${padText}` +
    ` d=${p.dh === p.dw ? p.dh : `[${p.dh},${p.dw}]`} g=${c.g}${c.bias ? ' bias' : ''}${c.relu ? ' relu' : ''}`
  );
}

const CASES: Case[] = [
  // ResNeXt: groups of 4 in / 4 out, stride 1 and the stride-2 downsampling variant
  { x: [2, 128, 10, 9], w: [128, 4, 3, 3], pad: [1, 1, 1, 1], g: 32, bias: true },
  { x: [1, 128, 11, 12], w: [128, 4, 3, 3], s: [2, 2], pad: [1, 1, 1, 1], g: 32, bias: true, relu: true },
  // depthwise, channel multiplier 1 and 2, a wide row and rows narrower than 4
  { x: [2, 8, 13, 29], w: [8, 1, 3, 3], pad: [1, 1, 1, 1], g: 8, bias: true },
  { x: [2, 5, 9, 8], w: [10, 1, 3, 3], pad: [1, 1, 1, 1], g: 5, relu: true },
  { x: [1, 3, 4, 61], w: [3, 1, 3, 3], pad: [1, 1, 1, 1], g: 3 },
  { x: [2, 6, 5, 3], w: [12, 1, 3, 3], pad: [1, 1, 1, 1], g: 6, bias: true },
  { x: [1, 4, 3, 2], w: [8, 2, 1, 1], g: 2 },
  { x: [3, 2, 2, 1], w: [2, 1, 3, 3], pad: [1, 1, 1, 1], g: 2, bias: true, relu: true },
  // batch 1, odd sizes, an odd number of outputs per group (blocks 4 + 2 + 1)
  { x: [1, 6, 7, 9], w: [14, 3, 3, 3], pad: [1, 1, 1, 1], g: 2, bias: true },
  { x: [1, 6, 8, 8], w: [15, 3, 3, 3], pad: [1, 1, 1, 1], g: 3 },
  // stride 2, dilation 2, strides that differ by axis
  { x: [2, 8, 9, 11], w: [8, 2, 3, 3], s: [2, 2], pad: [1, 1, 1, 1], g: 4, bias: true },
  { x: [1, 6, 13, 10], w: [6, 2, 3, 3], pad: [2, 2, 2, 2], d: [2, 2], g: 3, relu: true },
  { x: [1, 6, 12, 11], w: [9, 2, 3, 3], s: [1, 2], pad: [2, 2, 1, 1], d: [2, 1], g: 3 },
  { x: [2, 4, 14, 9], w: [4, 1, 3, 5], s: [3, 1], pad: [1, 1, 2, 2], d: [1, 2], g: 4, bias: true },
  // asymmetric padding: the bottom / right padding implied by oh / ow differs from the top / left
  { x: [1, 4, 9, 11], w: [8, 2, 5, 5], s: [2, 2], pad: [2, 0, 0, 3], g: 2, bias: true },
  { x: [2, 6, 8, 7], w: [6, 1, 3, 3], pad: [0, 2, 2, 0], g: 6 },
  // oh / ow smaller than the input allows (a negative bottom / right "padding" crops), and top /
  // left padding wider than the kernel's reach
  { x: [1, 3, 7, 9], w: [6, 1, 3, 3], pad: [0, -4, 2, -3], g: 3, bias: true },
  { x: [1, 2, 4, 4], w: [2, 1, 2, 2], s: [3, 3], pad: [4, 3, 5, 2], g: 2 },
  // kernel 5×5 and 7×7, stride 3, padding wider than the kernel's reach, stride wider than the kernel
  { x: [1, 6, 10, 10], w: [6, 1, 5, 5], pad: [2, 2, 2, 2], g: 6, bias: true },
  { x: [2, 12, 11, 17], w: [9, 4, 7, 7], s: [3, 2], pad: [3, 3, 3, 3], g: 3, relu: true },
  { x: [1, 4, 5, 6], w: [4, 2, 1, 1], pad: [1, 2, 1, 1], g: 2 },
  { x: [1, 4, 7, 7], w: [4, 1, 1, 1], s: [2, 2], g: 4, bias: true },
  { x: [1, 4, 9, 9], w: [8, 1, 3, 3], s: [4, 4], pad: [1, 1, 1, 1], g: 4 },
  // rows written straight into the output (one column phase, a row at least a tile wide: 8
  // floats for blocks of 4 outputs, 16 for 2, 28 for 1): whole tiles only, and whole tiles then
  // narrow ones ending at the row's end; dX by row phases (sh = 2, sw = 1)
  { x: [1, 8, 4, 16], w: [8, 2, 3, 3], pad: [1, 1, 1, 1], g: 2, bias: true },
  { x: [1, 4, 5, 35], w: [6, 2, 3, 3], pad: [1, 1, 1, 1], g: 2, bias: true, relu: true },
  { x: [2, 3, 6, 56], w: [3, 1, 3, 3], pad: [1, 1, 1, 1], g: 3, relu: true },
  { x: [1, 2, 9, 30], w: [2, 1, 3, 3], s: [2, 1], pad: [1, 1, 1, 1], g: 2 },
  // 16 and 32 channels per group (the most groupedConvSupports accepts), 3 and 5 outputs per group
  { x: [1, 32, 6, 7], w: [6, 16, 3, 3], pad: [1, 1, 1, 1], g: 2, bias: true },
  { x: [2, 64, 5, 6], w: [10, 32, 3, 3], s: [2, 2], pad: [1, 1, 1, 1], g: 2, relu: true },
];

interface Truth {
  x: Float32Array;
  w: Float32Array;
  bias: Float32Array | null;
  dy: Float32Array;
  y: Float64Array;
  yAbs: Float64Array;
  dx: Float64Array;
  dxAbs: Float64Array;
  dw: Float64Array;
  dwAbs: Float64Array;
  db: Float64Array;
  dbAbs: Float64Array;
}

// The float64 references are the slow part: each case's is computed once, for every thread count.
const truths = new Map<Case, Truth>();

function truth(c: Case, seed: number): Truth {
  const hit = truths.get(c);
  if (hit) return hit;
  const p = geometry(c);
  const g = new Generator(seed);
  const fill = (n: number): Float32Array => Float32Array.from({ length: n }, () => g.normal());
  const x = fill(p.n * p.c * p.h * p.w);
  const w = fill(p.o * (p.c / p.groups) * p.kh * p.kw);
  const bias = c.bias ? fill(p.o) : null;
  const dy = fill(p.n * p.o * p.oh * p.ow);
  const f64 = (a: Float32Array): Float64Array => Float64Array.from(a);
  const abs = (a: Float32Array): Float64Array => Float64Array.from(a, Math.abs);
  const t: Truth = {
    x, w, bias, dy,
    y: new Float64Array(dy.length), yAbs: new Float64Array(dy.length),
    dx: new Float64Array(x.length), dxAbs: new Float64Array(x.length),
    dw: new Float64Array(w.length), dwAbs: new Float64Array(w.length),
    db: new Float64Array(p.o), dbAbs: new Float64Array(p.o),
  };
  conv2dDirect(f64(x), f64(w), bias && f64(bias), t.y, p);
  conv2dDirect(abs(x), abs(w), bias && abs(bias), t.yAbs, p);
  conv2dBackwardDirect(f64(dy), f64(x), f64(w), t.dx, t.dw, p);
  conv2dBackwardDirect(abs(dy), abs(x), abs(w), t.dxAbs, t.dwAbs, p);
  conv2dBackwardBias(f64(dy), t.db, p);
  conv2dBackwardBias(abs(dy), t.dbAbs, p);
  truths.set(c, t);
  return t;
}

/** Every element of got within (sqrt(terms) + 2)·2^-23·S of the truth (after `post`). */
function expectClose(what: string, got: Float32Array, want: Float64Array, abs: Float64Array, terms: number, post = (v: number): number => v): void {
  expect(got.length).toBe(want.length);
  const perS = (Math.sqrt(terms) + 2) * 2 ** -23;
  for (let i = 0; i < got.length; i++) {
    const v = post(want[i]!);
    const tol = perS * abs[i]!;
    if (!(Math.abs(got[i]! - v) <= tol)) throw new Error(`${what}[${i}] = ${got[i]}, expected ${v} (tolerance ${tol})`);
  }
}

function check(c: Case, relaxed: boolean, seed: number): void {
  const p = geometry(c);
  const t = truth(c, seed);
  const label = `${name(c)}${relaxed ? ' relaxed' : ''}`;
  const cg = p.c / p.groups;
  const og = p.o / p.groups;
  // outputs start as NaN: every element must be written
  const y = new Float32Array(t.y.length).fill(Number.NaN);
  groupedConv2dForwardWasm(t.x, t.w, t.bias, y, p, { relaxed, relu: c.relu ?? false });
  expectClose(`${label}: y`, y, t.y, t.yAbs, cg * p.kh * p.kw + 1, c.relu ? (v) => Math.max(v, 0) : undefined);
  const dx = new Float32Array(t.dx.length).fill(Number.NaN);
  groupedConv2dBackwardInputWasm(t.dy, t.w, dx, p, { relaxed });
  expectClose(`${label}: dx`, dx, t.dx, t.dxAbs, og * p.kh * p.kw);
  const dw = new Float32Array(t.dw.length).fill(Number.NaN);
  const db = new Float32Array(p.o).fill(Number.NaN);
  groupedConv2dBackwardWeightWasm(t.dy, t.x, dw, p, { relaxed, db });
  expectClose(`${label}: dw`, dw, t.dw, t.dwAbs, p.n * p.oh * p.ow);
  expectClose(`${label}: db`, db, t.db, t.dbAbs, p.n * p.oh * p.ow);
  // without db, dw alone
  const dw2 = new Float32Array(t.dw.length).fill(Number.NaN);
  groupedConv2dBackwardWeightWasm(t.dy, t.x, dw2, p, { relaxed });
  expect(Array.from(dw2)).toEqual(Array.from(dw));
}

const VARIANTS = runtime().relaxed ? [false, true] : [false];

for (const nt of [1, 2]) {
  describe(`wasm grouped conv on ${nt} thread${nt > 1 ? 's' : ''}`, () => {
    onThreads(nt);

    for (const relaxed of VARIANTS) {
      CASES.forEach((c, i) => {
        it(`${relaxed ? 'relaxed' : 'plain'}: ${name(c)}`, () => check(c, relaxed, 500 + i));
      });
    }

    it('random shapes: groups, channels per group, sizes, strides, padding, dilation', () => {
      const g = new Generator(11);
      for (let k = 0; k < 20; k++) {
        const groups = g.integer(1, 6);
        const cg = g.integer(1, 6);
        const og = g.integer(1, 7);
        const kh = g.integer(1, 6);
        const kw = g.integer(1, 6);
        const d: [number, number] = [g.integer(1, 3), g.integer(1, 3)];
        const pad: [number, number, number, number] = [g.integer(0, 4), g.integer(0, 4), g.integer(0, 4), g.integer(0, 4)];
        // input at least as large as the dilated kernel minus the padding, so oh, ow >= 1
        const h = Math.max(1, (kh - 1) * d[0] + 1 - pad[0] - pad[1]) + g.integer(0, 12);
        const w = Math.max(1, (kw - 1) * d[1] + 1 - pad[2] - pad[3]) + g.integer(0, 12);
        const c: Case = {
          x: [g.integer(1, 3), groups * cg, h, w],
          w: [groups * og, cg, kh, kw],
          s: [g.integer(1, 4), g.integer(1, 4)],
          pad, d, g: groups, bias: g.uniform() < 0.5, relu: g.uniform() < 0.3,
        };
        check(c, VARIANTS.length > 1 && k % 2 === 1, 900 + k);
      }
    });
  });
}

describe('wasm grouped conv: arrays that live in the wasm memory', () => {
  it('are read and written in place, with the same results as copied ones', () => {
    const rt = runtime();
    const c: Case = { x: [2, 8, 9, 7], w: [8, 2, 3, 3], s: [2, 1], pad: [1, 1, 1, 1], g: 4, bias: true };
    const p = geometry(c);
    const t = truth(c, 77);
    const y = new Float32Array(t.y.length);
    const dx = new Float32Array(t.dx.length);
    const dw = new Float32Array(t.dw.length);
    const db = new Float32Array(p.o);
    groupedConv2dForwardWasm(t.x, t.w, t.bias, y, p);
    groupedConv2dBackwardInputWasm(t.dy, t.w, dx, p);
    groupedConv2dBackwardWeightWasm(t.dy, t.x, dw, p, { db });
    const mark = rt.mark();
    try {
      // views of the memory: the arena allocations stay below the wrappers' own (stack order)
      const view = (src: Float32Array | number): Float32Array => {
        const n = typeof src === 'number' ? src : src.length;
        const at = rt.alloc(n * 4);
        const v = new Float32Array(rt.memory.buffer, at, n);
        if (typeof src !== 'number') v.set(src);
        else v.fill(Number.NaN);
        return v;
      };
      const [x, w, bias, dy] = [view(t.x), view(t.w), view(t.bias!), view(t.dy)];
      const [y2, dx2, dw2, db2] = [view(y.length), view(dx.length), view(dw.length), view(p.o)];
      groupedConv2dForwardWasm(x, w, bias, y2, p);
      groupedConv2dBackwardInputWasm(dy, w, dx2, p);
      groupedConv2dBackwardWeightWasm(dy, x, dw2, p, { db: db2 });
      expect(Array.from(y2)).toEqual(Array.from(y));
      expect(Array.from(dx2)).toEqual(Array.from(dx));
      expect(Array.from(dw2)).toEqual(Array.from(dw));
      expect(Array.from(db2)).toEqual(Array.from(db));
      // an output sharing bytes with an input would be read after being overwritten
      const xy = new Float32Array(rt.memory.buffer, x.byteOffset + 8, y.length);
      expect(() => groupedConv2dForwardWasm(x, w, bias, xy, p)).toThrow(/groupedConv2dForwardWasm: y \(wasm bytes \d+\.\.\d+\) overlaps x/);
      expect(() => groupedConv2dBackwardWeightWasm(dy, x, dw2, p, { db: new Float32Array(rt.memory.buffer, dy.byteOffset, p.o) })).toThrow(
        /opts.db \(wasm bytes \d+\.\.\d+\) overlaps dy/,
      );
    } finally {
      rt.release(mark);
    }
  });
});

describe('wasm grouped conv: arguments', () => {
  const c: Case = { x: [1, 4, 5, 5], w: [4, 2, 3, 3], pad: [1, 1, 1, 1], g: 2 };
  const p = geometry(c);
  const x = new Float32Array(100);
  const w = new Float32Array(72);
  const y = new Float32Array(100);

  it('groupedConvSupports: grouped or depthwise with at most 32 channels per group', () => {
    expect(groupedConvSupports(p)).toBe(true);
    expect(groupedConvSupports({ ...p, c: 128, o: 128, groups: 128 })).toBe(true);
    expect(groupedConvSupports({ ...p, c: 64, groups: 2 })).toBe(true);
    expect(groupedConvSupports({ ...p, c: 66, groups: 2 })).toBe(false);
    expect(groupedConvSupports({ ...p, groups: 1 })).toBe(false);
  });

  it('bad geometry, lengths and types are named in the error', () => {
    expect(() => groupedConv2dForwardWasm(x, w, null, y, { ...p, sh: 0 })).toThrow(/groupedConv2dForwardWasm: geom.sh must be an integer >= 1, got 0/);
    expect(() => groupedConv2dForwardWasm(x, w, null, y, { ...p, pt: 1.5 })).toThrow(/geom.pt must be an integer >= 0, got 1.5/);
    expect(() => groupedConv2dForwardWasm(x, w, null, y, { ...p, groups: 3 })).toThrow(/geom.c \(4\) must be a multiple of geom.groups \(3\)/);
    expect(() => groupedConv2dForwardWasm(x.subarray(1), w, null, y, p)).toThrow(/x must have 100 elements, got 99/);
    expect(() => groupedConv2dForwardWasm(x, w, new Float32Array(3), y, p)).toThrow(/bias must have 4 elements, got 3/);
    expect(() => groupedConv2dBackwardInputWasm(y, new Float64Array(72) as unknown as Float32Array, x, p)).toThrow(
      /groupedConv2dBackwardInputWasm: w must be a Float32Array, got Float64Array/,
    );
    expect(() => groupedConv2dBackwardWeightWasm(y, x, w, p, { db: new Float32Array(5) })).toThrow(/opts.db must have 4 elements, got 5/);
    if (!runtime().relaxed) {
      expect(() => groupedConv2dForwardWasm(x, w, null, y, p, { relaxed: true })).toThrow(/relaxed SIMD is not available/);
    }
  });

  it('empty batch: y untouched (empty), dw and db zero', () => {
    const q = { ...p, n: 0 };
    groupedConv2dForwardWasm(new Float32Array(0), w, null, new Float32Array(0), q);
    const dw = new Float32Array(72).fill(1);
    const db = new Float32Array(4).fill(1);
    groupedConv2dBackwardWeightWasm(new Float32Array(0), new Float32Array(0), dw, q, { db });
    expect(dw.every((v) => v === 0) && db.every((v) => v === 0)).toBe(true);
  });
});
