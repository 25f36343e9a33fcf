// Grouped and depthwise convolution on the WASM SIMD kernels of src/gconv.gen.ts: direct
// convolution vectorised over output pixels, for few channels per group (ResNeXt's 4 to 32,
// depthwise's 1), forward and both gradients, on float32 NCHW / OIHW arrays. Same meaning as
// kernels/cpu/conv2d.ts (conv2dDirect, conv2dBackwardDirect, conv2dBackwardBias); outputs are
// overwritten.
//
// Everything the kernels need besides the arrays is worked out here, once per call: the staged
// (padded, phase-split) plane layout, the tap tables (byte offsets of every kernel tap into a
// staged plane), the weights packed per output block as [tap][channel-in-block], and for the
// input gradient the sh·sw phases of the transposed convolution:
//   dx[c, ry + sh·u, rx + sw·v] = Σ_o Σ_{i∈I(ry), j∈J(rx)} dy[o, u + a_i, v + b_j] · w[o, c, i, j]
// where I(ry) are the taps i with (ry + pt − i·dh) ≡ 0 (mod sh), a_i = (ry + pt − i·dh) / sh (and
// likewise J, b_j along the columns): each phase is a stride-1 correlation with its own taps.
//
// Inputs are copied into the wasm arena and outputs copied back, except arrays that already are
// views of the wasm memory (tensors stored there), which the kernels read and write in place
// (an output sharing bytes with an input is refused).

import type { ConvGeometry } from '../geometry.js';
import { conv2dBackwardInputWasm, conv2dBackwardWeightWasm, hasNaN, hasNonFinite } from './conv.js';
import { finishOutput, outputAt, stage, wasmOffsetOf } from './elementwise.js';
import { kernelName, requireWasm, runSized, scratchThreads, type WasmKernelOptions } from './gemm.js';
import type { WasmRuntime } from './runtime.js';
import { DIRECT_FIELDS, DW_BLOCK, DW_TAPS, DW_UNROLL_MAX, DWEIGHT_FIELDS, FLAT_ALIGN, PASS_FIELDS } from './src/gconv.gen.js';

export type GroupedConvOptions = WasmKernelOptions;

export interface GroupedConvForwardOptions extends WasmKernelOptions {
  /** y = max(conv + bias, 0). */
  relu?: boolean;
}

export interface GroupedConvWeightOptions extends WasmKernelOptions {
  /** Also db[o] = Σ_{n, oy, ox} dy[n, o, oy, ox], in the same pass. */
  db?: Float32Array | null;
}

/**
 * Channels per group up to which the direct kernel is the one to use. Measured against the wasm
 * im2col + GEMM conv (one thread, ResNeXt-50's grouped 3×3 layers, Cg = 4..32, batch 1 and 8):
 * the direct kernel was 1.2-2.4x faster up to Cg = 16 and 0.9-1.5x at Cg = 32 (about even at
 * batch 1 on 7×7, ahead at batch 8); beyond, a group is a GEMM big enough to pack well.
 */
export const GROUPED_MAX_CHANNELS_PER_GROUP = 32;

/** The geometries this kernel is meant for: grouped (groups > 1) with at most 32 input channels per group, depthwise included. */
export function groupedConvSupports(p: ConvGeometry): boolean {
  return p.groups > 1 && p.c % p.groups === 0 && p.c / p.groups <= GROUPED_MAX_CHANNELS_PER_GROUP;
}

// ---- argument checks -------------------------------------------------------------------------

const GEOMETRY_KEYS = ['n', 'c', 'h', 'w', 'o', 'kh', 'kw', 'sh', 'sw', 'pt', 'pl', 'dh', 'dw', 'groups', 'oh', 'ow'] as const;

function checkGeometry(fn: string, p: ConvGeometry): void {
  for (const key of GEOMETRY_KEYS) {
    const v = p[key];
    const min = key === 'pt' || key === 'pl' || key === 'n' || key === 'oh' || key === 'ow' ? 0 : 1;
    if (!Number.isInteger(v) || v < min) throw new Error(`${fn}: geom.${key} must be an integer >= ${min}, got ${String(v)}`);
  }
  if (p.c % p.groups !== 0) throw new Error(`${fn}: geom.c (${p.c}) must be a multiple of geom.groups (${p.groups})`);
  if (p.o % p.groups !== 0) throw new Error(`${fn}: geom.o (${p.o}) must be a multiple of geom.groups (${p.groups})`);
}

function checkArray(fn: string, name: string, a: unknown, length: number): asserts a is Float32Array {
  if (!(a instanceof Float32Array)) {
    throw new Error(`${fn}: ${name} must be a Float32Array, got ${a === null ? 'null' : (a as object)?.constructor?.name ?? typeof a}`);
  }
  if (a.length !== length) throw new Error(`${fn}: ${name} must have ${length} elements, got ${a.length}`);
}

// ---- layouts ---------------------------------------------------------------------------------

const roundUp = (x: number, m: number): number => Math.ceil(x / m) * m;
const posMod = (a: number, m: number): number => ((a % m) + m) % m;

/**
 * Staged planes (see src/gconv.gen.ts): per channel, sh·sw sub-planes of `rows` × `pk` floats;
 * source (iy, ix) at padded (iy + padT, ix + padL).
 */
interface Staging {
  sh: number;
  sw: number;
  rows: number;
  pk: number;
  padT: number;
  padL: number;
  /** bytes per sub-plane */
  sub: number;
  /** bytes per channel (all sub-planes) */
  plane: number;
  /** bytes of the staged region for k channels, with room for the last tile's reads past the end */
  bytes: number;
}

function staging(k: number, sh: number, sw: number, rows: number, pk: number, padT: number, padL: number): Staging {
  const sub = rows * pk * 4;
  const plane = sh * sw * sub;
  // a tile reads at most pk + FLAT_ALIGN floats past the last sub-plane (the junk columns of
  // the last row and the last tile's overhang)
  return { sh, sw, rows, pk, padT, padL, sub, plane, bytes: roundUp(k * plane + (pk + FLAT_ALIGN) * 4, 64) };
}

/** The staged x of the forward and the weight gradient: every output pixel's window inside it. */
function inputStaging(p: ConvGeometry, cg: number): Staging {
  const rows = p.oh + Math.floor(((p.kh - 1) * p.dh) / p.sh);
  const pk = p.ow + Math.floor(((p.kw - 1) * p.dw) / p.sw);
  return staging(cg, p.sh, p.sw, rows, pk, p.pt, p.pl);
}

/** Byte offsets of x's taps (c, i, j), c < cg, in the staged planes, in w's [c][i][j] order. */
function inputTaps(p: ConvGeometry, st: Staging, cg: number, padTo: number): Int32Array {
  const count = cg * p.kh * p.kw;
  const tab = new Int32Array(roundUp(count, padTo));
  let t = 0;
  for (let c = 0; c < cg; c++) {
    for (let i = 0; i < p.kh; i++) {
      for (let j = 0; j < p.kw; j++) {
        const row = i * p.dh;
        const col = j * p.dw;
        const subPlane = (row % p.sh) * p.sw + (col % p.sw);
        tab[t++] = c * st.plane + subPlane * st.sub + (Math.floor(row / p.sh) * st.pk + Math.floor(col / p.sw)) * 4;
      }
    }
  }
  return tab;
}

/** The staging fields of a descriptor, for planes of `src` (k channels per group, rows × cols). */
function stageFields(st: Staging, k: number, src: number, srcPlanes: number, rows: number, cols: number, scratch: number, perThread: number): Record<string, number> {
  const plane = rows * cols * 4;
  return {
    src, srcImage: srcPlanes * plane, srcGroup: k * plane, srcPlane: plane, srcRows: rows, srcCols: cols, k,
    stPlane: st.plane, stSH: st.sh, stSW: st.sw, stRows: st.rows, stPK: st.pk, stSub: st.sub, stPadT: st.padT, stPadL: st.padL, stBytes: st.bytes,
    scratch, scratchPerThread: perThread,
  };
}

/** The output blocks of a group of m channels, as the kernel walks them: 4s, then a 2, then a 1. */
function directBlocks(m: number): { o0: number; ob: number }[] {
  const blocks: { o0: number; ob: number }[] = [];
  let o0 = 0;
  for (const ob of [4, 2, 1]) {
    while (m - o0 >= ob) {
      blocks.push({ o0, ob });
      o0 += ob;
    }
  }
  return blocks;
}

/**
 * Weights packed for the direct core, written straight into the arena: for group g and block
 * (o0, ob) of its m outputs, [t][k] = src[g·gStride + (o0 + k)·oStride + tapAt[t]] for the kt
 * taps, at float offset (g·m + o0)·kt (what the kernel computes from g and o0).
 */
function putPackedWeights(rt: WasmRuntime, src: Float32Array, groups: number, m: number, gStride: number, oStride: number, tapAt: Int32Array): number {
  const kt = tapAt.length;
  const at = rt.alloc(Math.max(groups * m * kt * 4, 4));
  const out = rt.f32();
  let q = at / 4;
  for (let g = 0; g < groups; g++) {
    for (const { o0, ob } of directBlocks(m)) {
      for (let t = 0; t < kt; t++) {
        const s = g * gStride + o0 * oStride + tapAt[t]!;
        for (let k = 0; k < ob; k++) out[q++] = src[s + k * oStride]!;
      }
    }
  }
  return at;
}

interface Pass {
  tab: number;
  kt: number;
  w: number;
  wGroup: number;
  /** output rows (of the phase) */
  rows: number;
  /** byte offset of the pass's first output row in an output plane */
  outOff: number;
}

/** Writes a descriptor (fields in `order`, then the passes) into the arena; returns its offset. */
function putDescriptor(rt: WasmRuntime, order: readonly string[], values: Record<string, number>, passes: readonly Pass[] = []): number {
  const words = new Int32Array(order.length + passes.length * PASS_FIELDS.length);
  order.forEach((name, i) => {
    const v = values[name];
    if (v === undefined) throw new Error(`grouped_conv: descriptor field '${name}' missing`);
    words[i] = v;
  });
  passes.forEach((pass, p) => {
    PASS_FIELDS.forEach((name, i) => {
      words[order.length + p * PASS_FIELDS.length + i] = pass[name];
    });
  });
  return putInts(rt, words);
}

function putInts(rt: WasmRuntime, words: Int32Array): number {
  const at = rt.alloc(Math.max(words.byteLength, 4));
  rt.i32().set(words, at / 4);
  return at;
}

/**
 * Resident arrays (views of the wasm memory, see stage() in ./elementwise.js) are used in place,
 * so an output that shares bytes with an input would be read after being overwritten: refused.
 */
function checkDisjoint(fn: string, home: ArrayBufferLike, outs: Record<string, Float32Array | null>, ins: Record<string, Float32Array | null>): void {
  for (const [outName, out] of Object.entries(outs)) {
    const o = out ? wasmOffsetOf(home, out) : -1;
    if (o < 0 || !out) continue;
    for (const [inName, input] of Object.entries(ins)) {
      const i = input ? wasmOffsetOf(home, input) : -1;
      if (i < 0 || !input) continue;
      if (o < i + input.byteLength && i < o + out.byteLength) {
        throw new RangeError(`${fn}: ${outName} (wasm bytes ${o}..${o + out.byteLength}) overlaps ${inName} (bytes ${i}..${i + input.byteLength})`);
      }
    }
  }
}

/** Where an output is written (in place when resident, else the arena) and how to deliver it. */
function stageOut(rt: WasmRuntime, home: ArrayBufferLike, a: Float32Array): { at: number; finish(): void } {
  const at = outputAt(rt, home, a);
  return { at, finish: () => finishOutput(rt, home, a, at) };
}

function zeros(rt: WasmRuntime, count: number): number {
  const at = rt.alloc(count * 4);
  rt.f32().fill(0, at / 4, at / 4 + count);
  return at;
}

const F32_BITS = new Float32Array(1);
const I32_OF_F32 = new Int32Array(F32_BITS.buffer);
function f32Bits(v: number): number {
  F32_BITS[0] = v;
  return I32_OF_F32[0]!;
}

// ---- forward ---------------------------------------------------------------------------------

/** y = conv(x, w) + bias (then ReLU if opts.relu); x [n, c, h, w], w [o, c/groups, kh, kw], y [n, o, oh, ow]. */
export function groupedConv2dForwardWasm(
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  y: Float32Array,
  geom: ConvGeometry,
  opts?: GroupedConvForwardOptions,
): void {
  const fn = 'groupedConv2dForwardWasm';
  checkGeometry(fn, geom);
  const p = geom;
  const cg = p.c / p.groups;
  const og = p.o / p.groups;
  const macs = p.n * p.o * p.oh * p.ow * cg * p.kh * p.kw;
  const kt = cg * p.kh * p.kw;
  checkArray(fn, 'x', x, p.n * p.c * p.h * p.w);
  checkArray(fn, 'w', w, p.o * kt);
  if (bias !== null) checkArray(fn, 'bias', bias, p.o);
  checkArray(fn, 'y', y, p.n * p.o * p.oh * p.ow);
  const rt = requireWasm(fn);
  const kernel = kernelName(rt, fn, 'gconv_direct', opts);
  if (y.length === 0) return;
  const st = inputStaging(p, cg);
  const planeB = roundUp(p.oh * st.pk, FLAT_ALIGN) * 4;
  const perThread = st.bytes + 4 * planeB;
  const home = rt.memory.buffer; // the memory as this call found it (see stage())
  checkDisjoint(fn, home, { y }, { x, w, bias });
  const mark = rt.mark();
  try {
    const xAt = stage(rt, home, x);
    const out = stageOut(rt, home, y);
    const biasAt = bias ? stage(rt, home, bias) : zeros(rt, p.o);
    const pass: Pass = {
      tab: putInts(rt, inputTaps(p, st, cg, 1)),
      kt,
      w: putPackedWeights(rt, w, p.groups, og, og * kt, kt, Int32Array.from({ length: kt }, (_, t) => t)),
      wGroup: og * kt * 4,
      rows: p.oh,
      outOff: 0,
    };
    const scratch = rt.alloc(perThread * scratchThreads(macs));
    const plane = p.oh * p.ow * 4;
    const d = putDescriptor(
      rt,
      DIRECT_FIELDS,
      {
        ...stageFields(st, cg, xAt, p.c, p.h, p.w, scratch, perThread),
        n: p.n, groups: p.groups, m: og, blocks: directBlocks(og).length,
        phaseB: 4 * planeB, planeB,
        out: out.at, outImage: p.o * plane, outGroup: og * plane, outChan: plane,
        bias: biasAt, lo: f32Bits(opts?.relu ? 0 : -Infinity),
        passes: 1, outPhases: 1, outW: p.ow, outRowStep: p.ow * 4,
      },
      [pass],
    );
    runSized(rt, kernel, [d], macs);
    out.finish();
  } finally {
    rt.release(mark);
  }
}

// ---- input gradient ----------------------------------------------------------------------------

/** One kernel tap of a phase of the transposed convolution: kernel index and its shift into dy. */
interface PhaseTap {
  k: number;
  shift: number;
}

/** Taps i < k with (r + pad − i·d) ≡ 0 (mod s), each with shift (r + pad − i·d) / s. */
function phaseTaps(r: number, pad: number, k: number, d: number, s: number): PhaseTap[] {
  const taps: PhaseTap[] = [];
  for (let i = 0; i < k; i++) {
    const e = r + pad - i * d;
    if (posMod(e, s) === 0) taps.push({ k: i, shift: e / s });
  }
  return taps;
}

/** The phases along one axis: count of output positions r + s·u < size, and their taps. */
function axisPhases(size: number, s: number, pad: number, k: number, d: number): { count: number; taps: PhaseTap[] }[] {
  return Array.from({ length: s }, (_, r) => ({ count: Math.max(0, Math.ceil((size - r) / s)), taps: phaseTaps(r, pad, k, d, s) }));
}

/** dx = ∂L/∂x given dy = ∂L/∂y: the transposed convolution (dx [n, c, h, w] overwritten). */
export function groupedConv2dBackwardInputWasm(
  dy: Float32Array,
  w: Float32Array,
  dx: Float32Array,
  geom: ConvGeometry,
  opts?: GroupedConvOptions,
): void {
  const fn = 'groupedConv2dBackwardInputWasm';
  checkGeometry(fn, geom);
  const p = geom;
  const cg = p.c / p.groups;
  const og = p.o / p.groups;
  const T = p.kh * p.kw;
  const macs = p.n * p.o * p.oh * p.ow * cg * T;
  checkArray(fn, 'dy', dy, p.n * p.o * p.oh * p.ow);
  checkArray(fn, 'w', w, p.o * cg * T);
  checkArray(fn, 'dx', dx, p.n * p.c * p.h * p.w);
  const rt = requireWasm(fn);
  const kernel = kernelName(rt, fn, 'gconv_direct', opts);
  if (dx.length === 0) return;
  if (dy.length === 0) {
    dx.fill(0);
    return;
  }
  // The core correlates dY *with its zero padding* with the transposed kernel: a ±Inf or NaN
  // weight would meet those zeros (0·Inf = NaN) and reach pixels that torch's dX leaves finite.
  // im2col's col2im sends back only the real (pixel, output) pairs.
  if (hasNonFinite(w.subarray(0, p.o * cg * T))) {
    conv2dBackwardInputWasm(dy, w, dx, geom, opts);
    return;
  }
  const rowPhases = axisPhases(p.h, p.sh, p.pt, p.kh, p.dh);
  const colPhases = axisPhases(p.w, p.sw, p.pl, p.kw, p.dw);
  // dy staged with enough zeros around that every tap of every phase reads inside it:
  // phase output (u, v) with tap shifts (a, b) reads staged dy (u + a + padT, v + b + padL)
  const live = <T extends { count: number; taps: PhaseTap[] }>(ph: T[]): PhaseTap[][] => ph.filter((q) => q.count > 0).map((q) => q.taps);
  const shifts = (ph: { count: number; taps: PhaseTap[] }[]): number[] => live(ph).flat().map((t) => t.shift);
  const padT = Math.max(0, ...shifts(rowPhases).map((a) => -a));
  const padL = Math.max(0, ...shifts(colPhases).map((b) => -b));
  const reach = (ph: { count: number; taps: PhaseTap[] }[], pad: number): number =>
    Math.max(1, ...ph.filter((q) => q.count > 0).flatMap((q) => q.taps.map((t) => q.count + t.shift + pad)));
  const st = staging(og, 1, 1, reach(rowPhases, padT), reach(colPhases, padL), padT, padL);
  const maxRows = Math.max(...rowPhases.map((q) => q.count));
  const planeB = roundUp(maxRows * st.pk, FLAT_ALIGN) * 4;
  const perThread = st.bytes + p.sw * 4 * planeB;

  const home = rt.memory.buffer; // the memory as this call found it (see stage())
  checkDisjoint(fn, home, { dx }, { dy, w });
  const mark = rt.mark();
  try {
    const dyAt = stage(rt, home, dy);
    const out = stageOut(rt, home, dx);
    const biasAt = zeros(rt, p.c);
    const passes: Pass[] = [];
    rowPhases.forEach((rp, ry) => {
      for (const cp of colPhases) {
        // taps (o, i, j), o outermost, as offsets into the staged dy planes
        const taps: { o: number; i: number; j: number }[] = [];
        const offsets: number[] = [];
        for (let o = 0; o < og; o++) {
          for (const a of rp.taps) {
            for (const b of cp.taps) {
              taps.push({ o, i: a.k, j: b.k });
              offsets.push(o * st.plane + ((a.shift + padT) * st.pk + b.shift + padL) * 4);
            }
          }
        }
        passes.push({
          tab: putInts(rt, Int32Array.from(offsets)),
          kt: taps.length,
          w: putPackedWeights(rt, w, p.groups, cg, og * cg * T, T, Int32Array.from(taps, (tap) => tap.o * cg * T + tap.i * p.kw + tap.j)),
          wGroup: cg * taps.length * 4,
          rows: rp.count,
          outOff: ry * p.w * 4,
        });
      }
    });
    const scratch = rt.alloc(perThread * scratchThreads(macs));
    const plane = p.h * p.w * 4;
    const d = putDescriptor(
      rt,
      DIRECT_FIELDS,
      {
        ...stageFields(st, og, dyAt, p.o, p.oh, p.ow, scratch, perThread),
        n: p.n, groups: p.groups, m: cg, blocks: directBlocks(cg).length,
        phaseB: 4 * planeB, planeB,
        out: out.at, outImage: p.c * plane, outGroup: cg * plane, outChan: plane,
        bias: biasAt, lo: f32Bits(-Infinity),
        passes: passes.length, outPhases: p.sw, outW: p.w, outRowStep: p.sh * p.w * 4,
      },
      passes,
    );
    runSized(rt, kernel, [d], macs);
    out.finish();
  } finally {
    rt.release(mark);
  }
}

// ---- weight gradient ----------------------------------------------------------------------------

/** dw = ∂L/∂w given dy and x (dw [o, c/groups, kh, kw] overwritten); opts.db gets ∂L/∂bias too. */
export function groupedConv2dBackwardWeightWasm(
  dy: Float32Array,
  x: Float32Array,
  dw: Float32Array,
  geom: ConvGeometry,
  opts?: GroupedConvWeightOptions,
): void {
  const fn = 'groupedConv2dBackwardWeightWasm';
  checkGeometry(fn, geom);
  const p = geom;
  const cg = p.c / p.groups;
  const og = p.o / p.groups;
  const macs = p.n * p.o * p.oh * p.ow * cg * p.kh * p.kw;
  const kt = cg * p.kh * p.kw;
  checkArray(fn, 'dy', dy, p.n * p.o * p.oh * p.ow);
  checkArray(fn, 'x', x, p.n * p.c * p.h * p.w);
  checkArray(fn, 'dw', dw, p.o * kt);
  const db = opts?.db ?? null;
  if (db !== null) checkArray(fn, 'opts.db', db, p.o);
  const rt = requireWasm(fn);
  const kernel = kernelName(rt, fn, 'gconv_dweight', opts);
  if (dy.length === 0) {
    dw.fill(0);
    db?.fill(0);
    return;
  }
  const st = inputStaging(p, cg);
  // dY staged flat like the forward's output: oh rows of pk floats, zero past ow
  const dysPlane = roundUp(roundUp(p.oh * st.pk, 4 * DW_UNROLL_MAX) * 4, 64);
  const perThread = st.bytes + DW_BLOCK * dysPlane;
  const home = rt.memory.buffer; // the memory as this call found it (see stage())
  checkDisjoint(fn, home, { dw, 'opts.db': db }, { dy, x });
  const mark = rt.mark();
  try {
    const dyAt = stage(rt, home, dy);
    const xAt = stage(rt, home, x);
    const dwOut = stageOut(rt, home, dw);
    const dbOut = db ? stageOut(rt, home, db) : null;
    const tabAt = putInts(rt, inputTaps(p, st, cg, DW_TAPS));
    const scratch = rt.alloc(perThread * scratchThreads(macs));
    const dyPlane = p.oh * p.ow * 4;
    const d = putDescriptor(rt, DWEIGHT_FIELDS, {
      ...stageFields(st, cg, xAt, p.c, p.h, p.w, scratch, perThread),
      n: p.n, groups: p.groups, m: og, blocks: Math.ceil(og / DW_BLOCK),
      dysPlane, dy: dyAt, dyImage: p.o * dyPlane, dyGroup: og * dyPlane, dyChan: dyPlane, oh: p.oh, ow: p.ow,
      tab: tabAt, kt, dw: dwOut.at, db: dbOut?.at ?? 0,
    });
    runSized(rt, kernel, [d], macs);
    dwOut.finish();
    dbOut?.finish();
  } finally {
    rt.release(mark);
  }
  // dY's junk columns (zeros) meet real pixels that no tap of a real output reads: a ±Inf or NaN
  // there gives 0·Inf = NaN in weights torch leaves finite. Then im2col, which reads exactly each
  // tap's pixels (and the padding, as torch), does dw again (db has no junk: it stands).
  if (hasNaN(dw.subarray(0, p.o * kt))) conv2dBackwardWeightWasm(dy, x, dw, geom, opts);
}
