// 2-D convolution (NCHW, weight [O, C/groups, kh, kw]) on the WASM SIMD kernels
// (kernels/wasm/src/conv.gen.ts): im2col + the packed SGEMM per thread, with bias and ReLU fused
// into the GEMM's write-back; backward through col2im (dX), the same GEMM with transposed
// operands (dW) and row sums (db). Same meaning as kernels/cpu/conv2d.ts (conv2dDirect,
// conv2dBackwardDirect, conv2dBackwardBias), in float32; outputs are overwritten, not accumulated.
//
// The *Wasm functions take Float32Arrays: views on the runtime's memory (tensors of the CPU
// backend's WASM heap) are used in place, anything else is staged through the arena and the
// output copied back. The *Ptr functions run on byte offsets into wasm memory.

import type { ConvGeometry } from '../geometry.js';
import { CONV_BIAS, CONV_GEOMETRY_FIELDS, CONV_RELU, GEMM_SCRATCH_BYTES } from './src/conv.gen.js';
import { NC } from './src/gemm.gen.js';
import {
  checkCount,
  inWasmMemory,
  kernelName,
  overlapsInPlace,
  requireWasm,
  runSized,
  scratchThreads,
  stageIn,
  threadsFor,
  type WasmKernelOptions,
} from './gemm.js';
import { runBySize, wasmOffsetOf } from './elementwise.js';
import { getNumThreads, type WasmRuntime } from './runtime.js';

export interface ConvForwardWasmOptions extends WasmKernelOptions {
  /** y = max(conv + bias, 0). */
  relu?: boolean;
  /**
   * A home for w packed as the GEMM reads it (packedWeightFloats(geom) floats in wasm memory;
   * groups = 1): with `ready` the call reads the packed w from it instead of packing w as it goes;
   * without, it packs w into it first. The caller keeps it matched to w (core/cpu/wasm.ts caches
   * it per weight storage and version, for inference).
   */
  wPacked?: { data: Float32Array; ready: boolean };
}

/**
 * Floats of im2col columns a thread keeps per piece of output pixels: Kg·P <= this, so the piece
 * (and the GEMM's packed copy of it) stays in L2 while the GEMM reads it.
 */
const COLS_BUDGET_FLOATS = 1 << 17;
/** The fewest pixels per piece, so that the weights (packed again for each piece) are amortised. */
const MIN_PIECE = 64;

const roundUp = (v: number, m: number): number => Math.ceil(v / m) * m;

/** Derived sizes of a geometry. */
function sizes(p: ConvGeometry) {
  const cg = p.c / p.groups;
  const og = p.o / p.groups;
  const Kg = cg * p.kh * p.kw;
  const L = p.oh * p.ow;
  const pointwise = p.kh === 1 && p.kw === 1 && p.sh === 1 && p.sw === 1 && p.pt === 0 && p.pl === 0 && p.oh === p.h && p.ow === p.w;
  // pixels per piece: as many as the budget allows (at least MIN_PIECE; a whole image when x is
  // cols), then evened out so that an image splits into equal pieces (1024 pixels with room for
  // 904 -> 2 × 512, not 904 + 120)
  const most = pointwise ? Math.max(8, roundUp(L, 8)) : Math.max(MIN_PIECE, Math.floor(COLS_BUDGET_FLOATS / Kg / 8) * 8);
  const P = Math.max(8, roundUp(Math.ceil(L / Math.max(1, Math.ceil(L / most))), 8));
  const perThread = GEMM_SCRATCH_BYTES + (pointwise ? 0 : roundUp(Kg * P * 4, 64));
  return { cg, og, Kg, L, P, perThread, xLen: p.n * p.c * p.h * p.w, yLen: p.n * p.o * L, wLen: p.o * Kg };
}

/**
 * Does `a` hold ±Inf or NaN? (x − x is 0 for every finite x and NaN otherwise.) The kernels that
 * multiply zeros a convolution does not (padding around dY) check a small operand (the weights)
 * with this and hand the call to im2col, which multiplies exactly the zeros torch does.
 */
export function hasNonFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) {
    const v = a[i] as number;
    if (v - v !== 0) return true;
  }
  return false;
}

/**
 * Does `a` hold a NaN? A weight gradient that multiplied extra zeros (junk columns) or cancelled
 * terms (Winograd's Gᵀ Z G) is NaN wherever that met an Inf; where it holds no NaN, every Inf it
 * met was a real term, so it is what im2col gives. Checking the small output this way costs
 * nothing next to scanning the input.
 */
export function hasNaN(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== a[i]) return true;
  return false;
}

/**
 * hasNaN for n floats at byte offset `at` of rt's memory, by SIMD over the pool (util_find_nan):
 * cheap enough for a large output, where a JavaScript loop would cost a good part of the kernel.
 */
export function findNaN(rt: WasmRuntime, at: number, n: number): boolean {
  if (n === 0) return false;
  const mark = rt.mark();
  try {
    const threads = Math.max(1, getNumThreads());
    const flags = rt.alloc(4 * threads);
    rt.i32().fill(0, flags / 4, flags / 4 + threads);
    runBySize(rt, 'util_find_nan', [at, n, flags], n);
    return rt.i32().subarray(flags / 4, flags / 4 + threads).some((f) => f !== 0);
  } finally {
    rt.release(mark);
  }
}

export function checkConvGeometry(caller: string, p: ConvGeometry): void {
  if (typeof p !== 'object' || p === null) throw new TypeError(`${caller}: geom must be a ConvGeometry object, got ${String(p)}`);
  for (const f of CONV_GEOMETRY_FIELDS) checkCount(caller, `geom.${f}`, p[f]);
  for (const f of ['c', 'h', 'w', 'o', 'kh', 'kw', 'sh', 'sw', 'dh', 'dw', 'groups'] as const) {
    if (p[f] < 1) throw new RangeError(`${caller}: geom.${f} must be at least 1, got ${p[f]}`);
  }
  if (p.c % p.groups !== 0) throw new RangeError(`${caller}: geom.c (${p.c}) must be divisible by geom.groups (${p.groups})`);
  if (p.o % p.groups !== 0) throw new RangeError(`${caller}: geom.o (${p.o}) must be divisible by geom.groups (${p.groups})`);
  const elems = Math.max(p.n * p.c * p.h * p.w, p.n * p.o * p.oh * p.ow, p.o * (p.c / p.groups) * p.kh * p.kw);
  if (elems * 4 >= 2 ** 32) throw new RangeError(`${caller}: ${elems} floats in one tensor do not fit a wasm memory (4 GiB)`);
}

function checkArray(caller: string, name: string, arr: unknown, needed: number, what: string): void {
  if (!(arr instanceof Float32Array)) {
    throw new TypeError(`${caller}: ${name} must be a Float32Array, got ${arr === null ? 'null' : typeof arr === 'object' ? arr.constructor.name : typeof arr}`);
  }
  if (arr.length < needed) throw new RangeError(`${caller}: ${name} must hold ${what} = ${needed} floats, got ${arr.length}`);
}

/** The geometry as the 16 i32s the kernels read, in the arena (release with the caller's mark). */
function putGeometry(rt: WasmRuntime, p: ConvGeometry): number {
  const at = rt.alloc(4 * CONV_GEOMETRY_FIELDS.length);
  const view = rt.i32();
  CONV_GEOMETRY_FIELDS.forEach((f, i) => {
    view[at / 4 + i] = p[f];
  });
  return at;
}

/**
 * Runs a conv entry point: args, then the piece size P (pixels), the block size `chunk` (the
 * entry point's unit of work), a zeroed work counter and the per-thread scratch (extraBytes more
 * than sizes() gives, at its end, when the entry point asks for them).
 */
function runConv(
  rt: WasmRuntime,
  fn: string,
  p: ConvGeometry,
  args: readonly number[],
  macs: number,
  P: number,
  chunk: number,
  extraBytes = 0,
): void {
  const perThread = sizes(p).perThread + roundUp(extraBytes, 64);
  const mark = rt.mark();
  try {
    const geom = putGeometry(rt, p);
    const counter = rt.alloc(64);
    rt.i32()[counter / 4] = 0;
    const scratch = rt.alloc(scratchThreads(macs) * perThread);
    runSized(rt, fn, [geom, ...args, P, chunk, counter, scratch, perThread], macs);
  } finally {
    rt.release(mark);
  }
}

/** ceil(a / b) */
const cdiv = (a: number, b: number): number => Math.ceil(a / b);

// ---- pointer level (byte offsets into rt's memory) -------------------------------------------

/** y = conv(x, w) (+ bias) (ReLU); bias is a byte offset or undefined. */
export function conv2dForwardPtr(
  rt: WasmRuntime,
  t: { x: number; w: number; bias?: number; y: number; wPacked?: number },
  p: ConvGeometry,
  opts?: ConvForwardWasmOptions,
): void {
  const caller = 'conv2dForwardPtr';
  checkConvGeometry(caller, p);
  if (t.wPacked !== undefined && p.groups !== 1) throw new RangeError(`${caller}: t.wPacked needs geom.groups = 1, got ${p.groups}`);
  const fn = kernelName(rt, caller, 'conv_fwd', opts);
  const s = sizes(p);
  const macs = s.yLen * s.Kg;
  const { P, rows } = forwardSplit(p, threadsFor(rt, macs));
  const flags = (t.bias !== undefined ? CONV_BIAS : 0) | (opts?.relu ? CONV_RELU : 0);
  // blocks of channels: room for a piece's packed B (Kg rows of P rounded up to 8 floats)
  const blocked = rows < s.og;
  runConv(rt, fn, p, [t.x, t.w, t.bias ?? 0, t.y, flags, t.wPacked ?? 0], macs, P, blocked ? rows : 0, blocked ? s.Kg * roundUp(P, 8) * 4 : 0);
}

/**
 * Tuning of the forward's work split: itemsPerThread, the (piece, block) items it aims at per
 * thread (0: whole pieces only); minBlockRows, the fewest output channels in a block. ResNet-50
 * at batch 1 on 2 threads of this 2-core VM (noisy), interleaved in one process, medians of 20-30:
 * 4 items per thread 161.1 ms against whole pieces' 167.6; against 1, 8 and 16 items per thread
 * level (129.8 vs 128.0, 134.0 vs 128.2, 139.4 vs 137.6).
 */
export const convTuning = { itemsPerThread: 4, minBlockRows: 32 };

/**
 * How the forward splits its work over nt threads: pieces of P pixels, each in blocks of `rows`
 * output channels (rows = Og: whole pieces). Many pieces (a batch): whole pieces, as many as the
 * scratch budget allows. Few (a batch-1 image): pieces of at most NC pixels (the GEMM's packed
 * panel), cut into channel blocks of at least minBlockRows until there are itemsPerThread items
 * per thread; where the channels are too few for that, smaller pieces, two per thread.
 */
export function forwardSplit(p: ConvGeometry, nt: number): { P: number; rows: number } {
  const s = sizes(p);
  const pieces = (P: number): number => p.n * cdiv(s.L, P);
  const target = convTuning.itemsPerThread * nt;
  if (nt > 1 && p.groups === 1 && pieces(s.P) < target) {
    const P = s.P <= NC ? s.P : roundUp(cdiv(s.L, cdiv(s.L, NC)), 8);
    const blocks = Math.min(cdiv(target, pieces(P)), Math.floor(s.og / convTuning.minBlockRows));
    if (blocks > 1) return { P, rows: roundUp(cdiv(s.og, blocks), 4) };
  }
  // whole pieces, at least two per thread (a batch-1 image of few pixels is cut finer)
  const P = pieces(s.P) < 2 * nt ? Math.max(8, roundUp(cdiv(s.L, cdiv(2 * nt, p.n)), 8)) : s.P;
  return { P, rows: s.og };
}

/** dx = ∂L/∂x from dy and w. */
export function conv2dBackwardInputPtr(rt: WasmRuntime, t: { dy: number; w: number; dx: number }, p: ConvGeometry, opts?: WasmKernelOptions): void {
  const caller = 'conv2dBackwardInputPtr';
  checkConvGeometry(caller, p);
  const fn = kernelName(rt, caller, 'conv_bwd_input', opts);
  const s = sizes(p);
  const macs = s.yLen * s.Kg;
  // blocks of input channels: one per (image, group) on one thread, else about 3 per thread
  const nt = threadsFor(rt, macs);
  const chunk = nt === 1 ? s.cg : cdiv(s.cg, Math.min(s.cg, cdiv(3 * nt, p.n * p.groups)));
  runConv(rt, fn, p, [t.dy, t.w, t.dx], macs, s.P, chunk);
}

/** dw = ∂L/∂w from dy and x. */
export function conv2dBackwardWeightPtr(rt: WasmRuntime, t: { dy: number; x: number; dw: number }, p: ConvGeometry, opts?: WasmKernelOptions): void {
  const caller = 'conv2dBackwardWeightPtr';
  checkConvGeometry(caller, p);
  const fn = kernelName(rt, caller, 'conv_bwd_weight', opts);
  const s = sizes(p);
  const macs = s.yLen * s.Kg;
  // blocks of dW columns (8-aligned): the whole group on one thread, else about 3 per thread
  const nt = threadsFor(rt, macs);
  const chunk = nt === 1 ? s.Kg : Math.min(s.Kg, roundUp(cdiv(s.Kg, cdiv(3 * nt, p.groups)), 8));
  runConv(rt, fn, p, [t.dy, t.x, t.dw], macs, s.P, chunk);
}

/** db[o] = Σ dy[:, o, :, :]. */
export function conv2dBackwardBiasPtr(rt: WasmRuntime, t: { dy: number; db: number }, p: ConvGeometry): void {
  checkConvGeometry('conv2dBackwardBiasPtr', p);
  const mark = rt.mark();
  try {
    runSized(rt, 'conv_bwd_bias', [putGeometry(rt, p), t.dy, t.db], sizes(p).yLen);
  } finally {
    rt.release(mark);
  }
}

// ---- typed arrays ---------------------------------------------------------------------------

/**
 * Runs body on the inputs' and the output's byte offsets in wasm memory: each where it is (a view
 * on the runtime's memory) or staged through the arena (inputs copied in, the output copied back),
 * all inside one arena mark (see gemm.ts: inWasmMemory).
 */
function staged(rt: WasmRuntime, inputs: (Float32Array | null)[], out: Float32Array, body: (ptrs: number[], out: number) => void): void {
  const mark = rt.mark();
  try {
    // where everything is, decided before anything is copied into the arena
    const inPlace = inWasmMemory(rt, out) !== undefined && !overlapsInPlace(rt, out, inputs);
    const present = inputs.filter((a): a is Float32Array => a !== null);
    const offsets = stageIn(rt, present);
    const ptrs = inputs.map((a) => (a === null ? -1 : (offsets[present.indexOf(a)] as number)));
    const o = inPlace ? out.byteOffset : rt.alloc(out.byteLength);
    body(ptrs, o);
    if (!inPlace) out.set(rt.f32().subarray(o / 4, o / 4 + out.length));
  } finally {
    rt.release(mark);
  }
}

/** y = conv(x, w) + bias (bias may be null), then ReLU if opts.relu; y is overwritten. */
export function conv2dForwardWasm(
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  y: Float32Array,
  geom: ConvGeometry,
  opts?: ConvForwardWasmOptions,
): void {
  const caller = 'conv2dForwardWasm';
  checkConvGeometry(caller, geom);
  const s = sizes(geom);
  checkArray(caller, 'x', x, s.xLen, 'n·c·h·w');
  checkArray(caller, 'w', w, s.wLen, 'o·(c/groups)·kh·kw');
  if (bias !== null) checkArray(caller, 'bias', bias, geom.o, 'o');
  checkArray(caller, 'y', y, s.yLen, 'n·o·oh·ow');
  const rt = requireWasm(caller);
  kernelName(rt, caller, 'conv_fwd', opts);
  const wp = opts?.wPacked;
  const wpAt = wp ? wasmOffsetOf(rt.memory.buffer, wp.data) : -1;
  if (wp && (geom.groups !== 1 || wpAt < 0 || wp.data.length < packedWeightFloats(geom))) {
    throw new RangeError(
      `${caller}: opts.wPacked.data must be ${packedWeightFloats(geom)} floats in wasm memory (packedWeightFloats) for groups = 1, got ${wp.data.length}${wpAt < 0 ? ' outside it' : ''} for groups = ${geom.groups}`,
    );
  }
  staged(rt, [x.subarray(0, s.xLen), w.subarray(0, s.wLen), bias?.subarray(0, geom.o) ?? null], y.subarray(0, s.yLen), ([px, pw, pb], py) => {
    if (wp && !wp.ready) runSized(rt, 'conv_pack_weights', [pw!, geom.o, s.Kg, wpAt], s.wLen);
    conv2dForwardPtr(rt, { x: px!, w: pw!, bias: pb === -1 ? undefined : pb, y: py, wPacked: wp ? wpAt : undefined }, geom, opts);
  });
}

/** Floats of w packed as the forward's GEMM reads it (opts.wPacked of conv2dForwardWasm; groups = 1). */
export function packedWeightFloats(geom: ConvGeometry): number {
  return roundUp(geom.o, 4) * (geom.c / geom.groups) * geom.kh * geom.kw;
}

/** dx = ∂L/∂x for dy = ∂L/∂y; dx is overwritten. */
export function conv2dBackwardInputWasm(dy: Float32Array, w: Float32Array, dx: Float32Array, geom: ConvGeometry, opts?: WasmKernelOptions): void {
  const caller = 'conv2dBackwardInputWasm';
  checkConvGeometry(caller, geom);
  const s = sizes(geom);
  checkArray(caller, 'dy', dy, s.yLen, 'n·o·oh·ow');
  checkArray(caller, 'w', w, s.wLen, 'o·(c/groups)·kh·kw');
  checkArray(caller, 'dx', dx, s.xLen, 'n·c·h·w');
  const rt = requireWasm(caller);
  kernelName(rt, caller, 'conv_bwd_input', opts);
  staged(rt, [dy.subarray(0, s.yLen), w.subarray(0, s.wLen)], dx.subarray(0, s.xLen), ([pdy, pw], pdx) => {
    conv2dBackwardInputPtr(rt, { dy: pdy!, w: pw!, dx: pdx }, geom, opts);
  });
}

/** dw = ∂L/∂w for dy = ∂L/∂y (summed over the batch); dw is overwritten. */
export function conv2dBackwardWeightWasm(dy: Float32Array, x: Float32Array, dw: Float32Array, geom: ConvGeometry, opts?: WasmKernelOptions): void {
  const caller = 'conv2dBackwardWeightWasm';
  checkConvGeometry(caller, geom);
  const s = sizes(geom);
  checkArray(caller, 'dy', dy, s.yLen, 'n·o·oh·ow');
  checkArray(caller, 'x', x, s.xLen, 'n·c·h·w');
  checkArray(caller, 'dw', dw, s.wLen, 'o·(c/groups)·kh·kw');
  const rt = requireWasm(caller);
  kernelName(rt, caller, 'conv_bwd_weight', opts);
  staged(rt, [dy.subarray(0, s.yLen), x.subarray(0, s.xLen)], dw.subarray(0, s.wLen), ([pdy, px], pdw) => {
    conv2dBackwardWeightPtr(rt, { dy: pdy!, x: px!, dw: pdw }, geom, opts);
  });
}

/** db[o] = Σ_{n, oy, ox} dy[n, o, oy, ox]; db is overwritten. */
export function conv2dBackwardBiasWasm(dy: Float32Array, db: Float32Array, geom: ConvGeometry): void {
  const caller = 'conv2dBackwardBiasWasm';
  checkConvGeometry(caller, geom);
  const s = sizes(geom);
  checkArray(caller, 'dy', dy, s.yLen, 'n·o·oh·ow');
  checkArray(caller, 'db', db, geom.o, 'o');
  const rt = requireWasm(caller);
  staged(rt, [dy.subarray(0, s.yLen)], db.subarray(0, geom.o), ([pdy], pdb) => {
    conv2dBackwardBiasPtr(rt, { dy: pdy!, db: pdb }, geom);
  });
}
