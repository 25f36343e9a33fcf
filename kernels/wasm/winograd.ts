// Winograd F(2×2, 3×3) and F(4×4, 3×3) convolution on the WASM SIMD kernels (source kernels/wasm/src/winograd.gen.ts;
// the math, and when it pays, in docs/winograd.md). Same meaning as kernels/cpu/conv2d.ts for a
// 3×3, stride-1, undilated, ungrouped convolution (NCHW, weight [O, C, 3, 3], cross-correlation,
// any top/left padding, bottom/right implied by oh/ow), in float32; outputs are overwritten.
//
//   forward      y  = Aᵀ [ U_ξ · V_ξ ]_ξ A (+ bias) (ReLU)   U = G g Gᵀ (16×O×C),  V = Bᵀ d B (16×C×tiles)
//   input grad   dx = the same convolution of dy, padded by 2 − pt / 2 − pl, with the weights
//                flipped (w[o, c, 2 − i, 2 − j]) and transposed (O and C swapped):
//                  dx[c, iy, ix] = Σ_{o, i, j} dy[o, iy − (2 − pt) + i, ix − (2 − pl) + j] · w[o, c, 2 − i, 2 − j]
//                which holds for any padding, asymmetric or larger than 2 (negative padding there
//                just skips rows/columns of dy).
//
// Two ways to run it (winogradTuning.fused):
//   fused (default): wino_fwd, one call; each thread takes blocks of tile rows of one image from an
//     atomic counter and runs input transform, the 16 GEMMs M_ξ = U_ξ · V_ξ (the packed SGEMM's
//     serial core, embedded) and output transform on them, V and M in its own scratch (cache).
//   phased: per chunk of images, wino_input (threads split (image, channel) planes), the 16 GEMMs
//     on the threaded packed SGEMM (gemmPtr), wino_output (threads split (image, output channel)
//     planes); V and M of a whole chunk go through memory (CHUNK_BYTES of arena).
// F(4×4, 3×3) (6×6 tiles, 36 GEMMs) takes planes of at least 16×16 in all three kernels (layoutFor).
// The weight transform (wino_wt / wino_wt4, O·C filters every call) runs on the pool too: at batch
// 1 it costs as much as the GEMMs unless it is fast (transformWeightsReference is its reference).

import type { ConvGeometry } from '../geometry.js';
import { checkConvGeometry, conv2dBackwardInputPtr, conv2dBackwardWeightWasm, conv2dForwardPtr, findNaN, hasNaN } from './conv.js';
import { checkNoPartialOverlap, finishOutput, outputAt, stage, wasmOffsetOf } from './elementwise.js';
import { gemmPtr, kernelName, requireWasm, runSized, scratchThreads, threadsFor, type WasmKernelOptions } from './gemm.js';
import type { WasmRuntime } from './runtime.js';
import { KC } from './src/gemm.gen.js';
import { GEMM_SCRATCH_BYTES, WINO_BIAS, WINO_RELU, WT4, XI_PAD } from './src/winograd.gen.js';

export interface WinogradForwardOptions extends WasmKernelOptions {
  /** y = max(conv + bias, 0). */
  relu?: boolean;
  /**
   * A home for U that outlives the call (winogradWeightFloats(geom) floats in wasm memory): with
   * `ready` the call reads U from it instead of transforming w; without, it transforms w into it.
   * The caller keeps it matched to w (core/cpu/wasm.ts caches it per weight storage and version).
   */
  u?: { data: Float32Array; ready: boolean };
}

/** Arena bytes for V and M of one chunk of images (at least one image per chunk). */
const CHUNK_BYTES = 24 << 20;

/**
 * winogradSupports thresholds, measured here on one thread at 2x the load of its 2 cores (rough;
 * docs/winograd.md): c = o = 8 at 32x32 ran level with im2col (0.93x), 12 won 1.6x, 16 1.5x, so
 * c·o >= 128. Blocks of tiles never span two images, so the GEMMs' N is at most one image's tiles:
 * at 4x4 outputs (4 tiles, 8 with the lane padding) 64 channels still won 1.4x but 128 lost (0.77x:
 * the 16 transformed weight matrices are packed again for every 8 tiles) and 2x2 lost (0.63x), so
 * at least 16 tiles (⌈oh/2⌉·⌈ow/2⌉, 8x8 outputs) per image.
 */
export const winogradTuning = {
  minChannelProduct: 128,
  minTilesPerImage: 16,
  /**
   * fused: each thread runs input transform, 16 serial GEMMs and output transform on its own
   * blocks of about blockTiles tiles (wino_fwd; V and M stay in cache); otherwise three phases over
   * chunks of whole images with the threaded gemmPtr between them (kept for comparison and tests).
   */
  fused: true,
  blockTiles: 256,
  /** The weight gradient by Winograd too (wino_bwd_weight) where the variant is chosen; else im2col. */
  weightGradient: true,
  /**
   * The weight gradient's partial sums: at most dwParts of them, and at most dwPartialBytes of Z in
   * all (16·O·C floats each). Their number sets how many threads can share one weight gradient.
   */
  dwParts: 8,
  dwPartialBytes: 64 << 20,
  /**
   * winogradPrefers: the registry picks Winograd for the forward and the input gradient only for
   * n·oh·ow >= minPixels. The weight transform (o·c filters, every call) is paid back by the
   * multiplies saved per output pixel. Measured at batch 1 on this 2-core VM, forward, Winograd
   * vs im2col (ms, 1 / 2 threads): 256 ch 14² (196 pixels, ResNet-50's layer3) 3.8 / 1.9 vs
   * 6.0 / 3.3; 256 ch 10² 2.4 / 1.5 vs 3.1 / 3.6; 256 ch 8² 1.4 / 1.3 vs 2.0 / 1.0; 512 ch 7²
   * (49, layer4) 8.9 / 8.4 vs 8.0 / 3.5.
   */
  minPixels: 100,
  /**
   * winogradPrefersWeightGradient: the same for the weight gradient, whose per-thread partial
   * sums of Z (16·o·c floats each) and their reduction cost o·c·16 per part however few the
   * pixels: at batch 1, 256 ch 14² takes 53 / 29 ms against im2col's 5.8 / 3.0, and 128 ch 28²
   * 13 / 7.5 against 5.6 / 2.8.
   */
  minPixelsWeightGradient: 1024,
  /**
   * The fused forward, the input gradient and the weight gradient take F(4×4, 3×3) — 36 multiplies per 16 outputs
   * against F(2×2, 3×3)'s 16 per 4 — for output planes at least this many pixels high and wide
   * (0: never). Below 16 the 4-tile vectors of a tile row are partly padding (8×8: half).
   */
  tile4MinSize: 16,
};

/** ⌈a/b⌉ */
const cdiv = (a: number, b: number): number => Math.ceil(a / b);

/** How a plan runs, decided once: the weight transform and the kernels must agree on it. */
export interface Layout {
  /**
   * The output tile side m of F(m×m, 3×3): 4 for big enough planes on the fused path with at most
   * one row / column of padding on each side, else 2. (Wider padding leaves outputs whose window
   * is all zeros: torch gives exactly 0 there, F(4×4)'s 6×6 tiles the rounding noise of their
   * real neighbours.)
   */
  m: 2 | 4;
  /**
   * U in packed-A slivers and V written as packed-B slivers, so the fused path's GEMMs per block
   * pack nothing: when K = cin fits one slice of the GEMM.
   */
  packed: boolean;
}

function layoutFor(q: Plan): Layout {
  const min = winogradTuning.tile4MinSize;
  const bottom = q.oh + 2 - q.h - q.pt;
  const right = q.ow + 2 - q.w - q.pl;
  const narrowPad = q.pt <= 1 && q.pl <= 1 && bottom <= 1 && right <= 1;
  const fused = winogradTuning.fused;
  return { m: fused && min > 0 && q.oh >= min && q.ow >= min && narrowPad ? 4 : 2, packed: fused && q.cin <= KC };
}

/** The tile size m of F(m×m, 3×3) the kernels take for this convolution (its forward, and its weight gradient). */
export function winogradTileSize(p: ConvGeometry): 2 | 4 {
  return layoutFor(forwardPlan(p)).m;
}

/** The forward of geometry p as a Plan (the input gradient's plan is the transposed one). */
function forwardPlan(p: ConvGeometry): Plan {
  return { n: p.n, cin: p.c, h: p.h, w: p.w, cout: p.o, oh: p.oh, ow: p.ow, pt: p.pt, pl: p.pl };
}

/** Is this a convolution the Winograd kernels compute (3×3, stride 1, dilation 1, groups 1)? */
function computable(p: ConvGeometry): boolean {
  return p.kh === 3 && p.kw === 3 && p.sh === 1 && p.sw === 1 && p.dh === 1 && p.dw === 1 && p.groups === 1;
}

/** True where the Winograd kernels compute this convolution and should beat im2col. */
export function winogradSupports(p: ConvGeometry): boolean {
  return computable(p) && p.c * p.o >= winogradTuning.minChannelProduct && cdiv(p.oh, 2) * cdiv(p.ow, 2) >= winogradTuning.minTilesPerImage;
}

/** Should the registry's own choice take Winograd for this forward or input gradient (enough pixels to repay the weight transform)? */
export function winogradPrefers(p: ConvGeometry): boolean {
  return p.n * p.oh * p.ow >= winogradTuning.minPixels;
}

/** The same for the weight gradient (enough pixels to repay its partial sums). */
export function winogradPrefersWeightGradient(p: ConvGeometry): boolean {
  return p.n * p.oh * p.ow >= winogradTuning.minPixelsWeightGradient;
}

function checkGeometry(caller: string, p: ConvGeometry): void {
  checkConvGeometry(caller, p);
  const want = { kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, groups: 1 } as const;
  for (const [f, v] of Object.entries(want) as [keyof typeof want, number][]) {
    if (p[f] !== v) throw new RangeError(`${caller}: geom.${f} must be ${v} (Winograd covers 3x3 stride-1 undilated ungrouped convolution), got ${p[f]}`);
  }
}

function checkArray(caller: string, name: string, arr: unknown, needed: number, what: string): asserts arr is Float32Array {
  if (!(arr instanceof Float32Array)) {
    throw new TypeError(`${caller}: ${name} must be a Float32Array, got ${arr === null ? 'null' : typeof arr === 'object' ? arr.constructor.name : typeof arr}`);
  }
  if (arr.length < needed) throw new RangeError(`${caller}: ${name} must hold ${what} = ${needed} floats, got ${arr.length}`);
}


/**
 * U[ξ][r][k] = (G g Gᵀ)_ξ into the arena ((m+2)²·rows·cols floats), by wino_wt / wino_wt4 on the
 * pool (kernels/wasm/src/winograd.gen.ts): o·c filters every call, so at batch 1 (ResNet-50's
 * layer3: 65,536 filters for 196 output pixels) it costs as much as the GEMMs unless it is fast.
 * Bit for bit the reference below (same float64 operations, one rounding to float32).
 */
function transformWeights(rt: WasmRuntime, rows: number, cols: number, w: Float32Array, flip: boolean, layout: Layout, into?: number): number {
  const { plane, xiStride, floats } = uSize(rows, cols, layout);
  const at = into ?? rt.alloc(floats * 4);
  if (layout.packed && plane !== rows * cols) rt.f32().fill(0, at / 4, at / 4 + floats);
  const pw = stage(rt, rt.memory.buffer, w.subarray(0, rows * cols * 9));
  const X = (layout.m + 2) ** 2;
  runSized(rt, layout.m === 2 ? 'wino_wt' : 'wino_wt4', [pw, at, rows, cols, flip ? 1 : 0, layout.packed ? 1 : 0, xiStride], rows * cols * X * 4);
  return at;
}

/** Floats of U for the forward of geom (opts.u of winogradConv2dForwardWasm), and its layout's name. */
export function winogradWeightFloats(geom: ConvGeometry): { floats: number; layout: string } {
  const layout = layoutFor(forwardPlan(geom));
  return { floats: uSize(geom.o, geom.c, layout).floats, layout: `F(${layout.m}x${layout.m})${layout.packed ? ' packed' : ''}` };
}

/** transformWeights into a fresh Float32Array (for the tests, against transformWeightsReference). */
export function transformWeightsWasm(rows: number, cols: number, w: Float32Array, flip: boolean, layout: Layout): Float32Array {
  const rt = requireWasm('transformWeightsWasm');
  const mark = rt.mark();
  try {
    const at = transformWeights(rt, rows, cols, w, flip, layout);
    // the planes, with zeros in the padding between them (which no kernel reads)
    const { plane, xiStride, floats } = uSize(rows, cols, layout);
    const u = new Float32Array(floats);
    for (let off = 0; off < floats; off += xiStride) u.set(rt.f32().subarray(at / 4 + off, at / 4 + off + plane), off);
    return u;
  } finally {
    rt.release(mark);
  }
}

/**
 * The floats of one U_ξ (plane: rows rounded up to 4 when packed, times cols), the stride from one
 * U_ξ to the next (plane and a cache line, XI_PAD: with a power-of-two plane the transform's
 * (m+2)² stores of one filter would all land in one L1 and one L2 set), and all of U.
 */
function uSize(rows: number, cols: number, { m, packed }: Layout): { plane: number; xiStride: number; floats: number } {
  const plane = (packed ? Math.ceil(rows / 4) * 4 : rows) * cols;
  const xiStride = plane + XI_PAD / 4;
  return { plane, xiStride, floats: (m + 2) ** 2 * xiStride };
}

/**
 * The reference of wino_wt / wino_wt4, loops a learner can check: U[ξ][r][k] = (G g Gᵀ)_ξ, U_ξ
 * every xiStride floats (uSize), G = [[1,0,0],[½,½,½],[½,−½,½],[0,0,1]] for F(2×2) (transformWeights6 for F(4×4)).
 * g is the 3×3 filter of (r, k): w[(r·cols + k)·9 + t] for the forward (r = o, k = c), and
 * w[(k·rows + r)·9 + 8 − t] (rotated 180°, c and o swapped) when `flip` (the input gradient).
 * `packed` lays each U_ξ out as the GEMM's packed A (wino_fwd's packed mode): slivers of MR = 4 rows,
 * [r div 4][k][r mod 4], rows past `rows` zero, so no block packs it again.
 */
export function transformWeightsReference(rows: number, cols: number, w: Float32Array, flip: boolean, layout: Layout): Float32Array {
  const { xiStride, floats } = uSize(rows, cols, layout);
  const u = new Float32Array(floats);
  // where (r, k) of U_ξ sits within its ξ plane
  const place = layout.packed ? (r: number, k: number) => (r >> 2) * cols * 4 + k * 4 + (r & 3) : (r: number, k: number) => r * cols + k;
  if (layout.m === 4) {
    transformWeights6(u, xiStride, place, rows, cols, w, flip);
    return u;
  }
  // one row of (G g) Gᵀ from a row [x0, x1, x2] of G g: [x0, ½(x0+x1+x2), ½(x0−x1+x2), x2]
  const putRow = (o: number, x0: number, x1: number, x2: number) => {
    u[o] = x0;
    u[o + xiStride] = 0.5 * (x0 + x1 + x2);
    u[o + 2 * xiStride] = 0.5 * (x0 - x1 + x2);
    u[o + 3 * xiStride] = x2;
  };
  const step = flip ? -1 : 1; // the filter read forwards, or backwards from its last tap
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < cols; k++) {
      const b = flip ? (k * rows + r) * 9 + 8 : (r * cols + k) * 9;
      // g00..g22: the filter, row-major
      const g00 = w[b]!, g01 = w[b + step]!, g02 = w[b + 2 * step]!;
      const g10 = w[b + 3 * step]!, g11 = w[b + 4 * step]!, g12 = w[b + 5 * step]!;
      const g20 = w[b + 6 * step]!, g21 = w[b + 7 * step]!, g22 = w[b + 8 * step]!;
      // G g (4×3): rows [g0·], ½(g0· + g1· + g2·), ½(g0· − g1· + g2·), [g2·]
      const off = place(r, k);
      putRow(off, g00, g01, g02);
      putRow(off + 4 * xiStride, 0.5 * (g00 + g10 + g20), 0.5 * (g01 + g11 + g21), 0.5 * (g02 + g12 + g22));
      putRow(off + 8 * xiStride, 0.5 * (g00 - g10 + g20), 0.5 * (g01 - g11 + g21), 0.5 * (g02 - g12 + g22));
      putRow(off + 12 * xiStride, g20, g21, g22);
    }
  }
  return u;
}

/**
 * U = G g Gᵀ (6×6, ξ = 6i + j) for F(4×4, 3×3), G = [[¼,0,0],[−⅙,−⅙,−⅙],[−⅙,⅙,−⅙],[1/24,1/12,⅙],[1/24,−1/12,⅙],[0,0,1]],
 * into u at ξ·xiStride + place(r, k); the filters read as transformWeightsReference reads them.
 */
function transformWeights6(
  u: Float32Array,
  xiStride: number,
  place: (r: number, k: number) => number,
  rows: number,
  cols: number,
  w: Float32Array,
  flip: boolean,
): void {
  // G times a 3-vector (x0, x1, x2), into out[0..6), in float64; multiplied by G's entries, never
  // divided (kernels/wasm/src/winograd.gen.ts gTimes does the same operations in the same order)
  const { m6, k6, k12, k24 } = WT4;
  const gx = (x0: number, x1: number, x2: number, out: Float64Array): void => {
    const outer = x0 * k24 + x2 * k6;
    out[0] = x0 * 0.25;
    out[1] = (x0 + x1 + x2) * m6;
    out[2] = (x0 - x1 + x2) * m6;
    out[3] = outer + x1 * k12;
    out[4] = outer - x1 * k12;
    out[5] = x2;
  };
  const c0 = new Float64Array(6);
  const c1 = new Float64Array(6);
  const c2 = new Float64Array(6);
  const row = new Float64Array(6);
  const step = flip ? -1 : 1;
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < cols; k++) {
      const b = flip ? (k * rows + r) * 9 + 8 : (r * cols + k) * 9;
      // G g, column by column: column j of g is (g0j, g1j, g2j)
      gx(w[b]!, w[b + 3 * step]!, w[b + 6 * step]!, c0);
      gx(w[b + step]!, w[b + 4 * step]!, w[b + 7 * step]!, c1);
      gx(w[b + 2 * step]!, w[b + 5 * step]!, w[b + 8 * step]!, c2);
      const off = place(r, k);
      for (let i = 0; i < 6; i++) {
        // row i of (G g) Gᵀ = G applied to row i of G g
        gx(c0[i]!, c1[i]!, c2[i]!, row);
        for (let j = 0; j < 6; j++) u[off + (6 * i + j) * xiStride] = row[j]!;
      }
    }
  }
}

/** One Winograd convolution on wasm memory: cin×h×w planes in, cout×oh×ow planes out. */
interface Plan {
  n: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  oh: number;
  ow: number;
  pt: number;
  pl: number;
}

function runWinograd(
  rt: WasmRuntime,
  t: { input: number; u: number; bias?: number; output: number },
  q: Plan,
  relu: boolean,
  opts: WasmKernelOptions | undefined,
  layout: Layout,
): void {
  if (winogradTuning.fused) runFused(rt, t, q, relu, opts, layout);
  else runPhased(rt, t, q, relu, opts);
}

/** wino_fwd: per-thread blocks of tile rows, taken from an atomic counter. */
function runFused(
  rt: WasmRuntime,
  t: { input: number; u: number; bias?: number; output: number },
  q: Plan,
  relu: boolean,
  opts: WasmKernelOptions | undefined,
  { m, packed }: Layout,
): void {
  const fn = kernelName(rt, 'winograd', m === 2 ? 'wino_fwd' : 'wino_fwd4', opts);
  const X = (m + 2) * (m + 2);
  const th = cdiv(q.oh, m);
  const tw4 = cdiv(cdiv(q.ow, m), 4) * 4;
  const macs = q.n * th * tw4 * X * q.cin * q.cout;
  const nt = threadsFor(rt, macs);
  let brows = Math.max(1, Math.min(th, Math.floor(winogradTuning.blockTiles / tw4)));
  // at least two blocks per thread where the batch allows it
  if (q.n * cdiv(th, brows) < 2 * nt) brows = Math.max(1, cdiv(th, cdiv(2 * nt, q.n)));
  const wp = m * tw4 + 2;
  const tb8 = cdiv(brows * tw4, 8) * 8; // V in whole slivers of 8 tiles
  // the padded rows, with 64 bytes of slack: F(4×4)'s input transform reads 2 floats past a row
  // and, last, 512 bytes for F(4×4)'s output transform (Aᵀ m of one group of 4 tiles)
  const perThread = GEMM_SCRATCH_BYTES + X * (q.cin * tb8 + q.cout * brows * tw4) * 4 + 2 * X * XI_PAD + cdiv((m * brows + 2) * wp * 4 + 64, 64) * 64 + 512;
  const flags = (t.bias !== undefined ? WINO_BIAS : 0) | (relu ? WINO_RELU : 0);
  const mark = rt.mark();
  try {
    const counter = rt.alloc(64);
    rt.i32()[counter / 4] = 0;
    const scratch = rt.alloc(scratchThreads(macs) * cdiv(perThread, 64) * 64);
    runSized(
      rt,
      fn,
      [t.input, t.u, t.bias ?? 0, t.output, flags, q.n, q.cin, q.h, q.w, q.cout, q.oh, q.ow, q.pt, q.pl, th, tw4, brows, counter, scratch, cdiv(perThread, 64) * 64, packed ? 1 : 0],
      macs,
    );
  } finally {
    rt.release(mark);
  }
}

/** wino_input, 16 × gemmPtr, wino_output over chunks of whole images. */
function runPhased(
  rt: WasmRuntime,
  t: { input: number; u: number; bias?: number; output: number },
  q: Plan,
  relu: boolean,
  opts: WasmKernelOptions | undefined,
): void {
  const th = cdiv(q.oh, 2);
  const tw4 = cdiv(cdiv(q.ow, 2), 4) * 4;
  const tilesPerImage = th * tw4;
  const perImage = 16 * tilesPerImage * (q.cin + q.cout) * 4;
  const chunk = Math.max(1, Math.min(q.n, Math.floor(CHUNK_BYTES / perImage)));
  const hp = 2 * th + 2;
  const wp = 2 * tw4 + 2;
  const perThread = cdiv(hp * wp * 4, 64) * 64;
  const flags = (t.bias !== undefined ? WINO_BIAS : 0) | (relu ? WINO_RELU : 0);
  const uStride = uSize(q.cout, q.cin, { m: 2, packed: false }).xiStride; // U_ξ to U_ξ+1, in floats (phased: F(2×2), unpacked)
  const mark = rt.mark();
  try {
    const macsPerImage = tilesPerImage * 16 * q.cin * q.cout;
    const scratch = rt.alloc(scratchThreads(macsPerImage * chunk) * perThread);
    const v = rt.alloc(16 * q.cin * tilesPerImage * chunk * 4);
    const m = rt.alloc(16 * q.cout * tilesPerImage * chunk * 4);
    for (let i0 = 0; i0 < q.n; i0 += chunk) {
      const nimg = Math.min(chunk, q.n - i0);
      const T = nimg * tilesPerImage;
      const macs = macsPerImage * nimg;
      const input = t.input + i0 * q.cin * q.h * q.w * 4;
      const output = t.output + i0 * q.cout * q.oh * q.ow * 4;
      runSized(rt, 'wino_input', [input, v, scratch, perThread, nimg, q.cin, q.h, q.w, q.pt, q.pl, th, tw4], macs);
      for (let xi = 0; xi < 16; xi++) {
        gemmPtr(
          rt,
          {
            M: q.cout, N: T, K: q.cin,
            a: t.u + xi * uStride * 4, aRowStride: q.cin, aColStride: 1,
            b: v + xi * q.cin * T * 4, bRowStride: T, bColStride: 1,
            c: m + xi * q.cout * T * 4, ldc: T,
          },
          opts,
        );
      }
      runSized(rt, 'wino_output', [m, output, t.bias ?? 0, flags, nimg, q.cout, q.oh, q.ow, th, tw4], macs);
    }
  } finally {
    rt.release(mark);
  }
}

/** y = conv(x, w) + bias (bias may be null), then ReLU if opts.relu; y is overwritten. */
export function winogradConv2dForwardWasm(
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  y: Float32Array,
  geom: ConvGeometry,
  opts?: WinogradForwardOptions,
): void {
  const caller = 'winogradConv2dForwardWasm';
  checkGeometry(caller, geom);
  const p = geom;
  const xLen = p.n * p.c * p.h * p.w;
  const yLen = p.n * p.o * p.oh * p.ow;
  checkArray(caller, 'x', x, xLen, 'n·c·h·w');
  checkArray(caller, 'w', w, p.o * p.c * 9, 'o·c·3·3');
  if (bias !== null) checkArray(caller, 'bias', bias, p.o, 'o');
  checkArray(caller, 'y', y, yLen, 'n·o·oh·ow');
  const rt = requireWasm(caller);
  kernelName(rt, caller, 'wino_fwd', opts); // the relaxed check, before any work
  if (yLen === 0) return;
  const home = rt.memory.buffer;
  const ys = y.subarray(0, yLen);
  const xs = x.subarray(0, xLen);
  checkNoPartialOverlap(caller, home, 'y', ys, 'x', xs);
  const mark = rt.mark();
  try {
    const px = stage(rt, home, xs);
    const pb = bias === null ? undefined : stage(rt, home, bias.subarray(0, p.o));
    const plan = forwardPlan(p);
    const layout = layoutFor(plan);
    // U from the caller's home for it (opts.u: read when ready, else filled), or the arena
    const uAt = opts?.u ? wasmOffsetOf(home, opts.u.data) : -1;
    if (opts?.u && (uAt < 0 || opts.u.data.length < uSize(p.o, p.c, layout).floats)) {
      throw new RangeError(`${caller}: opts.u.data must be ${uSize(p.o, p.c, layout).floats} floats in wasm memory (winogradWeightFloats), got ${opts.u.data.length}${uAt < 0 ? ' outside it' : ''}`);
    }
    const u = uAt >= 0 && opts?.u?.ready ? uAt : transformWeights(rt, p.o, p.c, w, false, layout, uAt >= 0 ? uAt : undefined);
    // y over x itself: chunk k's output would overwrite later chunks' input, so it goes to the arena
    const same = wasmOffsetOf(home, ys) === px;
    const py = same ? rt.alloc(yLen * 4) : outputAt(rt, home, ys);
    runWinograd(rt, { input: px, u, bias: pb, output: py }, plan, opts?.relu === true, opts, layout);
    // The transforms add and subtract a tile's inputs, so an Inf meets itself with both signs: NaN
    // where the convolution (and torch) gives ±Inf, kept by a ReLU where torch's gives 0. A NaN in
    // y (x is still intact) sends the call to im2col, which sums torch's terms one by one.
    if (findNaN(rt, py, yLen)) conv2dForwardPtr(rt, { x: px, w: stage(rt, home, w.subarray(0, p.o * p.c * 9)), bias: pb, y: py }, geom, opts);
    if (same) ys.set(rt.f32().subarray(py / 4, py / 4 + yLen));
    else finishOutput(rt, home, ys, py);
  } finally {
    rt.release(mark);
  }
}

/** dx = ∂L/∂x for dy = ∂L/∂y; dx is overwritten. */
export function winogradConv2dBackwardInputWasm(dy: Float32Array, w: Float32Array, dx: Float32Array, geom: ConvGeometry, opts?: WasmKernelOptions): void {
  const caller = 'winogradConv2dBackwardInputWasm';
  checkGeometry(caller, geom);
  const p = geom;
  const xLen = p.n * p.c * p.h * p.w;
  const yLen = p.n * p.o * p.oh * p.ow;
  checkArray(caller, 'dy', dy, yLen, 'n·o·oh·ow');
  checkArray(caller, 'w', w, p.o * p.c * 9, 'o·c·3·3');
  checkArray(caller, 'dx', dx, xLen, 'n·c·h·w');
  const rt = requireWasm(caller);
  kernelName(rt, caller, 'wino_fwd', opts);
  if (xLen === 0) return;
  const home = rt.memory.buffer;
  const dxs = dx.subarray(0, xLen);
  const dys = dy.subarray(0, yLen);
  checkNoPartialOverlap(caller, home, 'dx', dxs, 'dy', dys);
  const mark = rt.mark();
  try {
    const pdy = stage(rt, home, dys);
    // U'[ξ][c][o] from w'[c][o][i][j] = w[o][c][2 − i][2 − j]
    const plan: Plan = { n: p.n, cin: p.o, h: p.oh, w: p.ow, cout: p.c, oh: p.h, ow: p.w, pt: 2 - p.pt, pl: 2 - p.pl };
    const layout = layoutFor(plan);
    const u = transformWeights(rt, p.c, p.o, w, true, layout);
    const same = wasmOffsetOf(home, dxs) === pdy; // dx over dy itself: as in the forward
    const pdx = same ? rt.alloc(xLen * 4) : outputAt(rt, home, dxs);
    runWinograd(rt, { input: pdy, u, output: pdx }, plan, false, opts, layout);
    // dX here is the forward on dY *with zero padding*: a non-finite weight meets those zeros
    // (0·Inf = NaN) in pixels torch's dX leaves finite, and an Inf in dY meets itself with both
    // signs in the transforms (NaN for ±Inf). A NaN in dx sends the call to im2col, whose col2im
    // sends back only the real (pixel, output) pairs, torch's terms one by one.
    if (findNaN(rt, pdx, xLen)) conv2dBackwardInputPtr(rt, { dy: pdy, w: stage(rt, home, w.subarray(0, p.o * p.c * 9)), dx: pdx }, geom, opts);
    if (same) dxs.set(rt.f32().subarray(pdx / 4, pdx / 4 + xLen));
    else finishOutput(rt, home, dxs, pdx);
  } finally {
    rt.release(mark);
  }
}

/**
 * dw = ∂L/∂w for dy = ∂L/∂y (summed over the batch); dw is overwritten. From Y = Aᵀ[(G g Gᵀ) ⊙
 * (Bᵀ d B)]A per tile, ∂L/∂g = Gᵀ[(A dY Aᵀ) ⊙ (Bᵀ d B)]G; summed over tiles and channels this is
 * Z_ξ (O × C) = Σ_t E_ξ[o][t] · V_ξ[c][t] (16 GEMMs with the tiles as K, wino_bwd_weight, each
 * thread summing its own blocks into its own Z), then dw[o, c] = Gᵀ Z[·][o][c] G here.
 */
export function winogradConv2dBackwardWeightWasm(dy: Float32Array, x: Float32Array, dw: Float32Array, geom: ConvGeometry, opts?: WasmKernelOptions): void {
  const caller = 'winogradConv2dBackwardWeightWasm';
  checkGeometry(caller, geom);
  const p = geom;
  const xLen = p.n * p.c * p.h * p.w;
  const yLen = p.n * p.o * p.oh * p.ow;
  const wLen = p.o * p.c * 9;
  checkArray(caller, 'dy', dy, yLen, 'n·o·oh·ow');
  checkArray(caller, 'x', x, xLen, 'n·c·h·w');
  checkArray(caller, 'dw', dw, wLen, 'o·c·3·3');
  const rt = requireWasm(caller);
  kernelName(rt, caller, 'wino_bwd_weight', opts); // the relaxed check, before any work
  if (p.n === 0 || p.oh === 0 || p.ow === 0) {
    dw.fill(0, 0, wLen); // an empty sum
    return;
  }
  const home = rt.memory.buffer;
  // F(4×4) where the forward would take it (the same rule on the same geometry), else F(2×2)
  const m = winogradTileSize(p);
  const fn = kernelName(rt, caller, m === 2 ? 'wino_bwd_weight' : 'wino_bwd_weight4', opts);
  const X = (m + 2) ** 2;
  const th = cdiv(p.oh, m);
  const tw4 = cdiv(cdiv(p.ow, m), 4) * 4;
  const perImage = th * tw4;
  const macs = p.n * perImage * X * p.c * p.o;
  const zFloats = X * p.o * p.c;
  // Z is summed in `parts` partial sums whose number depends on the sizes, never on the thread
  // count, so dw has the same bits on 1, 2 or n threads (up to `parts` of them work at once)
  const parts = Math.max(1, Math.min(winogradTuning.dwParts, Math.floor(winogradTuning.dwPartialBytes / (4 * zFloats))));
  // blocks of about blockTiles tiles: whole images (ipb of them) or one image's brows tile rows;
  // at least two blocks per partial where the batch allows it
  let brows = Math.max(1, Math.min(th, Math.floor(winogradTuning.blockTiles / tw4)));
  let ipb = brows === th ? Math.max(1, Math.floor(winogradTuning.blockTiles / perImage)) : 1;
  if (ipb > 1 && cdiv(p.n, ipb) < 2 * parts) ipb = Math.max(1, Math.floor(p.n / (2 * parts)));
  if (ipb === 1 && p.n * cdiv(th, brows) < 2 * parts) brows = Math.max(1, cdiv(th, cdiv(2 * parts, Math.max(1, p.n))));
  const tb = ipb * brows * tw4;
  // the padded rows (the input's, with 64 bytes of slack: F(4×4)'s input transform reads 2 floats
  // past a row), then F(4×4)'s 384 bytes for its dY transform
  const wp = m * tw4 + 2;
  const tbOff = GEMM_SCRATCH_BYTES + 4 * (zFloats + X * (p.c + p.o) * tb + (m * brows + 2) * wp) + 2 * X * XI_PAD + 64;
  const perThread = cdiv(tbOff + 384, 64) * 64;
  const dws = dw.subarray(0, wLen);
  checkNoPartialOverlap(caller, home, 'dw', dws, 'x', x.subarray(0, xLen));
  checkNoPartialOverlap(caller, home, 'dw', dws, 'dy', dy.subarray(0, yLen));
  const mark = rt.mark();
  try {
    const px = stage(rt, home, x.subarray(0, xLen));
    const pdy = stage(rt, home, dy.subarray(0, yLen));
    const scratch = rt.alloc(scratchThreads(macs) * perThread);
    const zout = rt.alloc(parts * zFloats * 4);
    runSized(rt, fn, [px, pdy, p.n, p.c, p.h, p.w, p.o, p.oh, p.ow, p.pt, p.pl, th, tw4, brows, ipb, scratch, perThread, parts, zout, tbOff], macs);
    // dw[o, c] = Gᵀ Z G with Z the float64 sum of the partials, in wasm (wino_dw_finish, _finish4)
    const at = outputAt(rt, home, dws);
    runSized(rt, m === 2 ? 'wino_dw_finish' : 'wino_dw_finish4', [zout, parts, p.o * p.c, at], zFloats * parts);
    finishOutput(rt, home, dws, at);
  } finally {
    rt.release(mark);
  }
  // Gᵀ Z G cancels a pixel out of the taps that do not read it (tap row 0 gets d2 from Z0, Z1 and
  // Z2 with coefficients −1, ½, ½), and adds an Inf output gradient with both signs: an Inf leaves
  // Inf − Inf = NaN in weights that torch leaves finite or ±Inf. Then im2col does dw again.
  if (hasNaN(dws)) conv2dBackwardWeightWasm(dy, x, dw, geom, opts);
}
