// Winograd F(2×2, 3×3) convolution in WASM SIMD (kernels/wasm/winograd.ts): forward (bias, ReLU)
// and input gradient, on 1 and 2 threads, plain and relaxed-FMA GEMM, against conv2dDirect /
// conv2dBackwardDirect run in float64 on the same float32 inputs (the truth); fused (per-thread
// blocks, large and small) and phased (three threaded passes) alike.
//
// Tolerance, per element: S is the same sum over absolute values (the direct kernel on |x|, |w|,
// |b|) and T the number of products in the element (9·C forward, 9·O for dx). The im2col test
// (wasm_conv.test.ts) allows (√T + 2)·2⁻²³·S for float32 sums of T products. Winograd rounds
// transformed values instead of the products themselves: each output is a signed sum of products
// of (Bᵀ d B) and (G g Gᵀ) entries, and summing those with absolute values weighs the direct
// products by up to (8/3)² ≈ 7.1 (per dimension, y₀ = m₀ + m₁ + m₂ reaches 8 half- or unit-weight
// products of g and d where the direct sum has 3), so the same rounding argument, on magnitudes
// up to 7.1·S, gives a tolerance 8× the im2col one. Any indexing mistake shows as errors of the
// order of S itself, far above it.
//
// Accuracy next to im2col: on each geometry the largest error relative to S must be within 6× the
// im2col WASM kernel's (conv.ts) on the same data, plus one float32 ulp of S (measured: 0.5-4.3×,
// the high end on tiny sums where both errors are a few ulps).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Generator } from '../../core/random.js';
import { conv2dBackwardDirect, conv2dDirect } from '../../kernels/cpu/conv2d.js';
import type { ConvGeometry } from '../../kernels/geometry.js';
import { conv2dBackwardInputWasm, conv2dBackwardWeightWasm, conv2dForwardWasm } from '../../kernels/wasm/conv.js';
import { wasmTuning } from '../../kernels/wasm/gemm.js';
import { describeWasm, getNumThreads, getWasm, setNumThreads, type WasmRuntime } from '../../kernels/wasm/runtime.js';
import {
  winogradConv2dBackwardInputWasm,
  winogradConv2dBackwardWeightWasm,
  winogradConv2dForwardWasm, winogradSupports, winogradTileSize, winogradTuning,
  transformWeightsReference, transformWeightsWasm } from '../../kernels/wasm/winograd.js';

function runtime(): WasmRuntime {
  const rt = getWasm();
  if (rt === null) throw new Error(`no wasm runtime in Node: ${describeWasm()}`);
  return rt;
}

interface Spec {
  /** n, c, h, w */
  x: [number, number, number, number];
  o: number;
  /** top, bottom, left, right */
  pad: [number, number, number, number];
}

function geometryOf(s: Spec): ConvGeometry {
  const [n, c, h, w] = s.x;
  const [pt, pb, pl, pr] = s.pad;
  return { n, c, h, w, o: s.o, kh: 3, kw: 3, sh: 1, sw: 1, pt, pl, dh: 1, dw: 1, groups: 1, oh: h + pt + pb - 2, ow: w + pl + pr - 2 };
}

const name = (s: Spec): string => `x=[${s.x}] w=[${s.o},${s.x[1]},3,3] p=${s.pad.join(',')}`;

const SPECS: Spec[] = [
  { x: [1, 1, 1, 1], o: 1, pad: [1, 1, 1, 1] }, // 1×1 image, batch 1
  { x: [1, 3, 2, 2], o: 5, pad: [1, 1, 1, 1] },
  { x: [2, 3, 3, 3], o: 2, pad: [0, 0, 0, 0] }, // 'valid': a single output pixel
  { x: [1, 5, 5, 7], o: 6, pad: [1, 1, 1, 1] },
  { x: [2, 7, 7, 5], o: 3, pad: [2, 2, 2, 2] }, // pad 2: outputs larger than inputs
  { x: [1, 6, 7, 7], o: 9, pad: [0, 0, 0, 0] }, // 'valid', odd output 5×5
  { x: [2, 3, 6, 9], o: 5, pad: [1, 0, 2, 1] }, // asymmetric
  { x: [1, 2, 8, 5], o: 3, pad: [0, 2, 1, 0] }, // asymmetric the other way
  { x: [1, 4, 6, 5], o: 3, pad: [3, 1, 0, 3] }, // padding past 2 (dx reads dy with negative padding)
  { x: [1, 5, 31, 31], o: 7, pad: [1, 1, 1, 1] }, // odd 31×31, several tile groups per row
  { x: [3, 16, 10, 12], o: 12, pad: [1, 1, 1, 1] },
  { x: [2, 33, 9, 17], o: 20, pad: [1, 1, 1, 1] },
  { x: [1, 300, 6, 6], o: 5, pad: [1, 1, 1, 1] }, // K = C = 300 > the GEMM's KC (256)
  { x: [9, 5, 6, 7], o: 6, pad: [1, 1, 1, 1] }, // dw: blocks of several whole images, a short last one
];

function randomSpecs(count: number, seed: number): Spec[] {
  const g = new Generator(seed);
  const r = (lo: number, hi: number): number => g.integer(lo, hi + 1);
  const out: Spec[] = [];
  while (out.length < count) {
    const s: Spec = { x: [r(1, 3), r(1, 9), r(1, 13), r(1, 13)], o: r(1, 9), pad: [r(0, 3), r(0, 3), r(0, 3), r(0, 3)] };
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
  /** float64 truths (without bias) and their sums over absolute values */
  y: Float64Array;
  yAbs: Float64Array;
  dx: Float64Array;
  dxAbs: Float64Array;
  dw: Float64Array;
  dwAbs: Float64Array;
}

function prepare(s: Spec, seed: number): Prepared {
  const geom = geometryOf(s);
  const g = new Generator(seed);
  const fill = (n: number): Float32Array => Float32Array.from({ length: n }, () => g.normal());
  const x = fill(geom.n * geom.c * geom.h * geom.w);
  const w = fill(geom.o * geom.c * 9);
  const b = fill(geom.o);
  const dy = fill(geom.n * geom.o * geom.oh * geom.ow);
  const f64 = (a: Float32Array, abs = false): Float64Array => Float64Array.from(a, abs ? Math.abs : (v) => v);
  const y = new Float64Array(dy.length);
  const yAbs = new Float64Array(dy.length);
  conv2dDirect(f64(x), f64(w), null, y, geom);
  conv2dDirect(f64(x, true), f64(w, true), null, yAbs, geom);
  const dx = new Float64Array(x.length);
  const dxAbs = new Float64Array(x.length);
  conv2dBackwardDirect(f64(dy), f64(x), f64(w), dx, null, geom);
  conv2dBackwardDirect(f64(dy, true), f64(x, true), f64(w, true), dxAbs, null, geom);
  const dw = new Float64Array(w.length);
  const dwAbs = new Float64Array(w.length);
  conv2dBackwardDirect(f64(dy), f64(x), f64(w), null, dw, geom);
  conv2dBackwardDirect(f64(dy, true), f64(x, true), f64(w, true), null, dwAbs, geom);
  return { geom, x, w, b, dy, y, yAbs, dx, dxAbs, dw, dwAbs };
}

/**
 * Σ over tiles of |Gᵀ| (|A| |dY| |Aᵀ| ⊙ |Bᵀ| |d| |B|) |G| in float64, for F(m×m, 3×3): every
 * float32 rounding in the Winograd weight gradient (the transforms, each product, the sums over
 * tiles) is at most a few units of 2⁻²⁴ of a term of this sum, so (√tiles + 8)·2⁻²³ of it bounds
 * the error (the tile sums are random-signed in float32; the 8 covers the 2-3 roundings of each
 * transform).
 */
function winogradDwAbs(p: Prepared, m: 2 | 4): Float64Array {
  const { geom: q } = p;
  const n = m + 2;
  const X = n * n;
  // |A| (n×m), |Bᵀ| (n×n), |G| (n×3)
  const aAbs = m === 2 ? [[1, 0], [1, 1], [1, 1], [0, 1]] : [[1, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1], [1, 2, 4, 8], [1, 2, 4, 8], [0, 0, 0, 1]];
  const bAbs = m === 2
    ? [[1, 0, 1, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 1, 0, 1]]
    : [[4, 0, 5, 0, 1, 0], [0, 4, 4, 1, 1, 0], [0, 4, 4, 1, 1, 0], [0, 2, 1, 2, 1, 0], [0, 2, 1, 2, 1, 0], [0, 4, 0, 5, 0, 1]];
  const gAbs = m === 2
    ? [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], [0, 0, 1]]
    : [[1 / 4, 0, 0], [1 / 6, 1 / 6, 1 / 6], [1 / 6, 1 / 6, 1 / 6], [1 / 24, 1 / 12, 1 / 6], [1 / 24, 1 / 12, 1 / 6], [0, 0, 1]];
  const out = new Float64Array(q.o * q.c * 9);
  const e = new Float64Array(q.o * X);
  const v = new Float64Array(q.c * X);
  for (let img = 0; img < q.n; img++) {
    for (let ty = 0; ty < Math.ceil(q.oh / m); ty++) {
      for (let tx = 0; tx < Math.ceil(q.ow / m); tx++) {
        for (let o = 0; o < q.o; o++) {
          const dy = (a: number, b: number): number => {
            const yy = m * ty + a;
            const xx = m * tx + b;
            return yy < q.oh && xx < q.ow ? Math.abs(p.dy[((img * q.o + o) * q.oh + yy) * q.ow + xx] as number) : 0;
          };
          for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) {
            let sum = 0;
            for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) sum += (aAbs[i]![a] as number) * dy(a, b) * (aAbs[k]![b] as number);
            e[o * X + n * i + k] = sum;
          }
        }
        for (let c = 0; c < q.c; c++) {
          const d = (a: number, b: number): number => {
            const yy = m * ty + a - q.pt;
            const xx = m * tx + b - q.pl;
            return yy >= 0 && yy < q.h && xx >= 0 && xx < q.w ? Math.abs(p.x[((img * q.c + c) * q.h + yy) * q.w + xx] as number) : 0;
          };
          for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) {
            let sum = 0;
            for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) sum += (bAbs[i]![a] as number) * d(a, b) * (bAbs[k]![b] as number);
            v[c * X + n * i + k] = sum;
          }
        }
        for (let o = 0; o < q.o; o++) for (let c = 0; c < q.c; c++) {
          for (let u = 0; u < 3; u++) for (let w = 0; w < 3; w++) {
            let sum = 0;
            for (let i = 0; i < n; i++) for (let k = 0; k < n; k++) {
              sum += (gAbs[i]![u] as number) * (e[o * X + n * i + k] as number) * (v[c * X + n * i + k] as number) * (gAbs[k]![w] as number);
            }
            out[(o * q.c + c) * 9 + 3 * u + w] = (out[(o * q.c + c) * 9 + 3 * u + w] as number) + sum;
          }
        }
      }
    }
  }
  return out;
}

/** Largest |got − want| / S over the elements (S floored at the smallest normal float32). */
function worstRelative(got: Float32Array, want: ArrayLike<number>, abs: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const e = Math.abs((got[i] as number) - (want[i] as number)) / Math.max(abs[i] as number, 2 ** -126);
    if (!(e <= worst)) worst = e; // NaN (an element never written) wins
  }
  return worst;
}

function expectWithin(label: string, got: Float32Array, want: ArrayLike<number>, abs: ArrayLike<number>, terms: number): void {
  expect(got.length, `${label} length`).toBe(want.length);
  const perS = 8 * (Math.sqrt(terms) + 2) * 2 ** -23;
  for (let i = 0; i < got.length; i++) {
    const tol = perS * (abs[i] as number);
    if (!(Math.abs((got[i] as number) - (want[i] as number)) <= tol)) {
      throw new Error(`${label}: element ${i} is ${got[i]}, expected ${want[i]} (tolerance ${tol})`);
    }
  }
}

/**
 * How far Winograd's worst relative error may be from im2col's on the same data: F(2×2, 3×3) within
 * 6×, F(4×4, 3×3) (the forward and dX on big planes) within `tile4Factor`×; its transforms carry
 * 4, 5 and 8 where F(2×2)'s carry 1, so its rounding errors are that much larger (measured worst
 * over these cases and seeds: 31.8×).
 */
const near = { factor: 6 };
function expectNearIm2col(label: string, wino: number, im2col: number, factor = near.factor): void {
  if (!(wino <= factor * im2col + 2 ** -23)) throw new Error(`${label}: Winograd error ${wino / 2 ** -23} ulps of S, im2col ${im2col / 2 ** -23} (allowed ${factor}×)`);
}

function check(s: Spec, seed: number, bias: boolean, relu: boolean, relaxed: boolean): void {
  const p = prepare(s, seed);
  const { geom } = p;
  const label = `${name(s)}${relaxed ? ' relaxed' : ''}`;
  // outputs start as NaN so that an element the kernel forgets to write fails the comparison
  const y = new Float32Array(p.dy.length).fill(Number.NaN);
  winogradConv2dForwardWasm(p.x, p.w, bias ? p.b : null, y, geom, { relu, relaxed });
  const L = geom.oh * geom.ow;
  const want = Float64Array.from(p.y);
  const abs = Float64Array.from(p.yAbs);
  for (let i = 0; i < want.length; i++) {
    const o = Math.floor(i / L) % geom.o;
    if (bias) {
      want[i] = (want[i] as number) + (p.b[o] as number);
      abs[i] = (abs[i] as number) + Math.abs(p.b[o] as number);
    }
    if (relu) want[i] = Math.max(want[i] as number, 0);
  }
  expectWithin(`${label} y${bias ? ' +b' : ''}${relu ? ' relu' : ''}`, y, want, abs, 9 * geom.c + 1);
  const ref = new Float32Array(y.length);
  conv2dForwardWasm(p.x, p.w, bias ? p.b : null, ref, geom, { relu, relaxed });
  expectNearIm2col(`${label} y vs im2col`, worstRelative(y, want, abs), worstRelative(ref, want, abs));

  const dx = new Float32Array(p.x.length).fill(Number.NaN);
  winogradConv2dBackwardInputWasm(p.dy, p.w, dx, geom, { relaxed });
  expectWithin(`${label} dx`, dx, p.dx, p.dxAbs, 9 * geom.o);
  const refDx = new Float32Array(dx.length);
  conv2dBackwardInputWasm(p.dy, p.w, refDx, geom, { relaxed });
  expectNearIm2col(`${label} dx vs im2col`, worstRelative(dx, p.dx, p.dxAbs), worstRelative(refDx, p.dx, p.dxAbs));

  // dW: the tolerance is taken on the Winograd formula's own magnitudes (winogradDwAbs), since the
  // transformed tiles pair dy with x values no direct product pairs it with (an element whose
  // direct products are all padding has S = 0, but gets ± rounding noise of its neighbours)
  const dw = new Float32Array(p.w.length).fill(Number.NaN);
  winogradConv2dBackwardWeightWasm(p.dy, p.x, dw, geom, { relaxed });
  const m = winogradTileSize(geom);
  const tiles = geom.n * Math.ceil(geom.oh / m) * Math.ceil(geom.ow / m);
  const dwAbs = winogradDwAbs(p, m);
  for (let i = 0; i < dw.length; i++) {
    const tol = (Math.sqrt(tiles) + 8) * 2 ** -23 * (dwAbs[i] as number);
    if (!(Math.abs((dw[i] as number) - (p.dw[i] as number)) <= tol)) {
      throw new Error(`${label} dw: element ${i} is ${dw[i]}, expected ${p.dw[i]} (tolerance ${tol})`);
    }
  }
  const refDw = new Float32Array(dw.length);
  conv2dBackwardWeightWasm(p.dy, p.x, refDw, geom, { relaxed });
  expectNearIm2col(`${label} dw vs im2col`, worstRelative(dw, p.dw, dwAbs), worstRelative(refDw, p.dw, dwAbs), 6);
}

const VARIANTS = runtime().relaxed ? [false, true] : [false];
const RANDOM = randomSpecs(16, 11);

/** The ways to run it: fused blocks of ~256 tiles, fused blocks of one or two tile rows (many blocks per image, a short last one), three phases. */
const MODES = [
  { name: 'fused', fused: true, blockTiles: 256, tile4MinSize: 0 },
  { name: 'fused small blocks', fused: true, blockTiles: 8, tile4MinSize: 0 },
  { name: 'phased', fused: false, blockTiles: 256, tile4MinSize: 0 },
  // F(4×4, 3×3) on every plane, however small (the registry takes it from 16×16 outputs)
  { name: 'fused F(4×4)', fused: true, blockTiles: 256, tile4MinSize: 1 },
  { name: 'fused F(4×4) small blocks', fused: true, blockTiles: 8, tile4MinSize: 1 },
];
const TILE4_FACTOR = 48;

for (const nt of [1, 2]) {
  for (const mode of MODES) {
    describe(`wasm winograd ${mode.name} on ${nt} thread${nt > 1 ? 's' : ''}`, () => {
      let previous = { threads: 1, minParallelMacs: 0, fused: true, blockTiles: 256, tile4MinSize: 16 };
      beforeAll(() => {
        previous = {
          threads: getNumThreads(), minParallelMacs: wasmTuning.minParallelMacs, fused: winogradTuning.fused,
          blockTiles: winogradTuning.blockTiles, tile4MinSize: winogradTuning.tile4MinSize,
        };
        setNumThreads(nt);
        wasmTuning.minParallelMacs = 0; // every shape on every thread, however small
        winogradTuning.fused = mode.fused;
        winogradTuning.blockTiles = mode.blockTiles;
        winogradTuning.tile4MinSize = mode.tile4MinSize;
        near.factor = mode.tile4MinSize > 0 ? TILE4_FACTOR : 6;
      });
      afterAll(() => {
        setNumThreads(previous.threads);
        wasmTuning.minParallelMacs = previous.minParallelMacs;
        winogradTuning.fused = previous.fused;
        winogradTuning.blockTiles = previous.blockTiles;
        winogradTuning.tile4MinSize = previous.tile4MinSize;
        near.factor = 6;
      });
      for (const relaxed of VARIANTS) {
        const kind = relaxed ? 'relaxed' : 'plain';
        SPECS.forEach((s, i) => {
          it(`${kind}: conv2d ${name(s)} forward${i % 2 === 0 ? ' +bias' : ''}${i % 3 !== 1 ? ' relu' : ''}, input and weight gradients`, () => {
            check(s, 30 + i, i % 2 === 0, i % 3 !== 1, relaxed);
          });
        });
        it(`${kind}: ${RANDOM.length} random geometries (batch 1-3, odd sizes, padding 0-3 per side)`, () => {
          RANDOM.forEach((s, i) => {
            check(s, 300 + i, i % 3 !== 0, i % 2 === 0, relaxed);
          });
        });
      }
    });
  }
}

describe('wasm winograd: arrays that live in the wasm memory', () => {
  it('reads x and writes y in place, also when y is x itself (and dx is dy)', () => {
    const rt = runtime();
    const s: Spec = { x: [3, 4, 7, 6], o: 4, pad: [1, 1, 1, 1] }; // same shape in and out
    const p = prepare(s, 7);
    const at = rt.reserve(p.x.length * 4 * 2);
    expect(at, 'reserve needs the arena at its floor').toBeGreaterThanOrEqual(0);
    const inMemory = new Float32Array(rt.memory.buffer, at, p.x.length);
    const out = new Float32Array(rt.memory.buffer, at + p.x.length * 4, p.x.length);
    inMemory.set(p.x);
    winogradConv2dForwardWasm(inMemory, p.w, null, out, p.geom);
    expectWithin('y in memory', out, p.y, p.yAbs, 9 * p.geom.c);
    winogradConv2dForwardWasm(inMemory, p.w, null, inMemory, p.geom);
    expectWithin('y over x', inMemory, p.y, p.yAbs, 9 * p.geom.c);
    inMemory.set(p.dy);
    winogradConv2dBackwardInputWasm(inMemory, p.w, inMemory, p.geom);
    expectWithin('dx over dy', inMemory, p.dx, p.dxAbs, 9 * p.geom.o);
  });
});

// The weight transform (wino_wt / wino_wt4) against its TypeScript reference: the same float64
// operations in the same order, each entry rounded to float32 once, so bit for bit. Odd row and
// column counts reach the one-filter tail of both unit kinds (row pairs when packed, column pairs
// otherwise) and a packed sliver with rows past the end.
describe('wasm winograd: weight transform equals its reference bit for bit', () => {
  const shapes: [number, number][] = [[1, 1], [3, 5], [4, 4], [7, 2], [16, 9], [33, 17]];
  for (const nt of [1, 2]) {
    for (const m of [2, 4] as const) {
      for (const packed of [false, true]) {
        it(`F(${m}×${m}) ${packed ? 'packed' : 'row-major'} forward and flipped, ${nt} thread${nt > 1 ? 's' : ''}`, () => {
          const previous = { threads: getNumThreads(), minParallelMacs: wasmTuning.minParallelMacs };
          setNumThreads(nt);
          wasmTuning.minParallelMacs = 0;
          try {
            const gen = new Generator(71 + m);
            for (const [rows, cols] of shapes) {
              // values across many binades, and exact zeros, so a dropped term or a reordered sum shows
              const w = Float32Array.from({ length: rows * cols * 9 + 3 }, (_, i) => (i % 7 === 0 ? 0 : (gen.uniform() - 0.5) * 2 ** Math.floor(gen.uniform() * 12 - 6)));
              for (const flip of [false, true]) {
                const layout = { m, packed };
                const want = transformWeightsReference(rows, cols, w, flip, layout);
                const got = transformWeightsWasm(rows, cols, w, flip, layout);
                expect(got.length).toBe(want.length);
                const bad = got.findIndex((v, i) => !Object.is(v, want[i]));
                expect(bad, `rows ${rows} cols ${cols} flip ${flip}: first difference at ${bad}: ${got[bad]} vs ${want[bad]}`).toBe(-1);
              }
            }
          } finally {
            setNumThreads(previous.threads);
            wasmTuning.minParallelMacs = previous.minParallelMacs;
          }
        });
      }
    }
  }
});

describe('wasm winograd: where it applies', () => {
  const g = (c: number, o: number, hw: number, extra: Partial<ConvGeometry> = {}): ConvGeometry => ({
    ...geometryOf({ x: [8, c, hw, hw], o, pad: [1, 1, 1, 1] }),
    ...extra,
  });
  it('winogradSupports: 3×3 stride 1 with enough channels and pixels; never strided, dilated, grouped or other kernels', () => {
    expect(winogradSupports(g(16, 16, 32))).toBe(true);
    expect(winogradSupports(g(32, 32, 16))).toBe(true);
    expect(winogradSupports(g(64, 64, 8))).toBe(true);
    expect(winogradSupports(g(64, 64, 56))).toBe(true);
    expect(winogradSupports(g(3, 16, 32))).toBe(false); // the RGB stem: too few channels
    expect(winogradSupports(g(12, 12, 32))).toBe(true);
    expect(winogradSupports(g(8, 8, 32))).toBe(false); // c·o = 64: level with im2col
    expect(winogradSupports(g(64, 64, 2))).toBe(false); // too few output pixels
    expect(winogradSupports(g(128, 128, 4))).toBe(false); // 4 tiles per image
    expect(winogradSupports(g(64, 64, 8, { sh: 2, sw: 2, oh: 4, ow: 4 }))).toBe(false);
    expect(winogradSupports(g(64, 64, 8, { dh: 2, dw: 2, oh: 6, ow: 6 }))).toBe(false);
    expect(winogradSupports(g(64, 64, 8, { groups: 2 }))).toBe(false);
    expect(winogradSupports(g(64, 64, 8, { kh: 1, kw: 1, pt: 0, pl: 0 }))).toBe(false);
  });
});

describe('wasm winograd: argument errors name the argument, the expected and the actual value', () => {
  const geom = geometryOf({ x: [2, 4, 5, 5], o: 6, pad: [1, 1, 1, 1] });
  const x = new Float32Array(2 * 4 * 25);
  const w = new Float32Array(6 * 4 * 9);
  const y = new Float32Array(2 * 6 * 25);
  it('rejects short arrays, unsupported geometry and wrong types', () => {
    expect(() => winogradConv2dForwardWasm(x.subarray(1), w, null, y, geom)).toThrow(/winogradConv2dForwardWasm: x must hold n·c·h·w = 200 floats, got 199/);
    expect(() => winogradConv2dForwardWasm(x, w.subarray(2), null, y, geom)).toThrow(/w must hold o·c·3·3 = 216 floats, got 214/);
    expect(() => winogradConv2dForwardWasm(x, w, new Float32Array(5), y, geom)).toThrow(/bias must hold o = 6 floats, got 5/);
    expect(() => winogradConv2dBackwardInputWasm(y, w, new Float32Array(3), geom)).toThrow(/winogradConv2dBackwardInputWasm: dx must hold n·c·h·w = 200 floats, got 3/);
    expect(() => winogradConv2dForwardWasm(x, w, null, y, { ...geom, sh: 2 })).toThrow(/geom.sh must be 1 .*got 2/);
    expect(() => winogradConv2dBackwardInputWasm(y, w, x, { ...geom, kh: 5 })).toThrow(/geom.kh must be 3 .*got 5/);
    expect(() => winogradConv2dForwardWasm(x, w, null, y, { ...geom, groups: 2 })).toThrow(/geom.groups must be 1 .*got 2/);
    expect(() => winogradConv2dForwardWasm(Array.from(x) as unknown as Float32Array, w, null, y, geom)).toThrow(/x must be a Float32Array, got Array/);
  });
  it('refuses relaxed where it is unavailable', () => {
    const call = () => winogradConv2dForwardWasm(x, w, null, y, geom, { relaxed: true });
    if (runtime().relaxed) expect(call).not.toThrow();
    else expect(call).toThrow(/opts.relaxed is true but relaxed SIMD is not available/);
  });
});
