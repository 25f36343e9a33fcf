// Grouped and depthwise convolution on the WASM SIMD kernels of src/gconv.gen.ts: direct
// convolution vectorised over output pixels, for few channels per group (ResNeXt's 4 or 8,
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

import type { ConvGeometry } from '../geometry.js';
import { describeWasm, getWasm, type WasmRuntime } from './runtime.js';
import { DIRECT_FIELDS, DW_BLOCK, DW_TAPS, DWEIGHT_FIELDS, PASS_FIELDS } from './src/gconv.gen.js';

export interface GroupedConvOptions {
  /** Use the relaxed-SIMD twin (fused multiply-add); an error where it is unavailable (rt.relaxed false). */
  relaxed?: boolean;
}

export interface GroupedConvForwardOptions extends GroupedConvOptions {
  /** y = max(conv + bias, 0). */
  relu?: boolean;
}

export interface GroupedConvWeightOptions extends GroupedConvOptions {
  /** Also db[o] = Σ_{n, oy, ox} dy[n, o, oy, ox], in the same pass. */
  db?: Float32Array | null;
}

/** Channels per group up to which the direct kernel is the one to use (beyond, im2col + GEMM wins). */
export const GROUPED_MAX_CHANNELS_PER_GROUP = 16;

/** The geometries this kernel is meant for: grouped (groups > 1) with at most 16 input channels per group, depthwise included. */
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

function runtime(fn: string): WasmRuntime {
  const rt = getWasm();
  if (rt === null) throw new Error(`${fn}: ${describeWasm()}`);
  return rt;
}

function kernelName(rt: WasmRuntime, fn: string, base: string, opts: GroupedConvOptions | undefined): string {
  if (opts?.relaxed !== true) return base;
  if (!rt.relaxed) throw new Error(`${fn}: opts.relaxed is true but relaxed SIMD is not available here (${describeWasm()})`);
  return `${base}_relaxed`;
}

// ---- layouts ---------------------------------------------------------------------------------

const roundUp = (x: number, m: number): number => Math.ceil(x / m) * m;
const posMod = (a: number, m: number): number => ((a % m) + m) % m;

/** Staged planes: PH rows of S phases of PK floats, source placed at (padT, padL). */
interface Staging {
  rows: number;
  phases: number;
  pk: number;
  padT: number;
  padL: number;
  /** bytes per staged plane */
  plane: number;
  /** bytes per staged row (all phases) */
  row: number;
}

function staging(rows: number, phases: number, pk: number, padT: number, padL: number): Staging {
  const row = phases * pk * 4;
  return { rows, phases, pk, padT, padL, row, plane: rows * row };
}

/** The staged x of the forward and the weight gradient: every output pixel's window inside it. */
function inputStaging(p: ConvGeometry): Staging {
  const rows = (p.oh - 1) * p.sh + (p.kh - 1) * p.dh + 1;
  // output columns up to ⌈ow/4⌉·4 − 1 are read (the last vector of a row), plus the kernel's reach
  const pk = roundUp(Math.max(p.ow, 1), 4) + Math.floor(((p.kw - 1) * p.dw) / p.sw);
  return staging(rows, p.sw, pk, p.pt, p.pl);
}

/** Byte offsets of x's taps (c, i, j), c < cg, in the staged planes, in w's [c][i][j] order. */
function inputTaps(p: ConvGeometry, st: Staging, cg: number, padTo: number): Int32Array {
  const count = cg * p.kh * p.kw;
  const tab = new Int32Array(roundUp(count, padTo));
  let t = 0;
  for (let c = 0; c < cg; c++) {
    for (let i = 0; i < p.kh; i++) {
      for (let j = 0; j < p.kw; j++) {
        const col = j * p.dw;
        tab[t++] = c * st.plane + i * p.dh * st.row + ((col % p.sw) * st.pk + Math.floor(col / p.sw)) * 4;
      }
    }
  }
  return tab;
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
 * Weights packed for the direct core: for group g and block (o0, ob), [t][k] = weight(g, o0 + k, t)
 * for the kt taps, at float offset g·m·kt + o0·kt (what the kernel computes from g and o0).
 */
function packWeights(groups: number, m: number, kt: number, weight: (g: number, o: number, t: number) => number): Float32Array {
  const out = new Float32Array(groups * m * kt);
  for (let g = 0; g < groups; g++) {
    for (const { o0, ob } of directBlocks(m)) {
      const base = (g * m + o0) * kt;
      for (let t = 0; t < kt; t++) for (let k = 0; k < ob; k++) out[base + t * ob + k] = weight(g, o0 + k, t);
    }
  }
  return out;
}

interface Pass {
  tab: number;
  kt: number;
  w: number;
  wGroup: number;
  rows: number;
  cols: number;
  srcRow: number;
  outOff: number;
  outRow: number;
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

/** alloc + copy in, with `slack` spare bytes after the data (zeroed) for vector reads past the end. */
function putWithSlack(rt: WasmRuntime, src: Float32Array, slack: number): number {
  const at = rt.alloc(src.byteLength + slack);
  const f = rt.f32();
  f.set(src, at / 4);
  f.fill(0, at / 4 + src.length, (at + src.byteLength + slack) / 4);
  return at;
}

function zeros(rt: WasmRuntime, count: number): number {
  const at = rt.alloc(count * 4);
  rt.f32().fill(0, at / 4, at / 4 + count);
  return at;
}

function copyOut(rt: WasmRuntime, at: number, dst: Float32Array): void {
  dst.set(rt.f32().subarray(at / 4, at / 4 + dst.length));
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
  const T = p.kh * p.kw;
  checkArray(fn, 'x', x, p.n * p.c * p.h * p.w);
  checkArray(fn, 'w', w, p.o * cg * T);
  if (bias !== null) checkArray(fn, 'bias', bias, p.o);
  checkArray(fn, 'y', y, p.n * p.o * p.oh * p.ow);
  const rt = runtime(fn);
  const kernel = kernelName(rt, fn, 'gconv_direct', opts);
  if (y.length === 0) return;
  const st = inputStaging(p);
  const kt = cg * T;
  const mark = rt.mark();
  try {
    const xAt = rt.put(x);
    const yAt = rt.alloc(y.byteLength);
    const biasAt = bias ? rt.put(bias) : zeros(rt, p.o);
    const wAt = rt.put(packWeights(p.groups, og, kt, (g, o, t) => w[(g * og + o) * kt + t]!));
    const tabAt = putInts(rt, inputTaps(p, st, cg, 1));
    const perThread = roundUp(cg * st.plane, 64);
    const scratch = rt.alloc(perThread * rt.threads);
    const plane = p.oh * p.ow * 4;
    const pass: Pass = { tab: tabAt, kt, w: wAt, wGroup: og * kt * 4, rows: p.oh, cols: p.ow, srcRow: p.sh * st.row, outOff: 0, outRow: p.ow * 4 };
    const d = putDescriptor(
      rt,
      DIRECT_FIELDS,
      {
        ...inputFields(p, st, xAt, cg),
        n: p.n, groups: p.groups, m: og, blocks: directBlocks(og).length,
        scratch, scratchPerThread: perThread, tmpPhase: 0,
        out: yAt, outImage: p.o * plane, outGroup: og * plane, outChan: plane,
        bias: biasAt, lo: f32Bits(opts?.relu ? 0 : -Infinity),
        passes: 1, outPhases: 1, outW: p.ow, outRowStep: p.ow * 4,
      },
      [pass],
    );
    rt.run(kernel, [d]);
    copyOut(rt, yAt, y);
  } finally {
    rt.release(mark);
  }
}

/** The staging fields of a descriptor that stages x (forward and weight gradient). */
function inputFields(p: ConvGeometry, st: Staging, xAt: number, cg: number): Record<string, number> {
  return {
    src: xAt, srcImage: p.c * p.h * p.w * 4, srcGroup: cg * p.h * p.w * 4, srcPlane: p.h * p.w * 4, srcRows: p.h, srcCols: p.w, k: cg,
    stPlane: st.plane, stRows: st.rows, stPhases: st.phases, stPK: st.pk, stPadT: st.padT, stPadL: st.padL,
  };
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
  checkArray(fn, 'dy', dy, p.n * p.o * p.oh * p.ow);
  checkArray(fn, 'w', w, p.o * cg * T);
  checkArray(fn, 'dx', dx, p.n * p.c * p.h * p.w);
  const rt = runtime(fn);
  const kernel = kernelName(rt, fn, 'gconv_direct', opts);
  if (dx.length === 0) return;
  if (dy.length === 0) {
    dx.fill(0);
    return;
  }
  // the phases: rows ry (U of them each), columns rx (V each), and their taps
  const rowPhases = Array.from({ length: p.sh }, (_, ry) => ({ count: Math.max(0, Math.ceil((p.h - ry) / p.sh)), taps: phaseTaps(ry, p.pt, p.kh, p.dh, p.sh) }));
  const colPhases = Array.from({ length: p.sw }, (_, rx) => ({ count: Math.max(0, Math.ceil((p.w - rx) / p.sw)), taps: phaseTaps(rx, p.pl, p.kw, p.dw, p.sw) }));
  // the staged dy: padded so that every tap of every phase reads inside it
  let padT = 0;
  let padL = 0;
  for (const ph of rowPhases) for (const t of ph.taps) if (ph.count > 0) padT = Math.max(padT, -t.shift);
  for (const ph of colPhases) for (const t of ph.taps) if (ph.count > 0) padL = Math.max(padL, -t.shift);
  let rows = 1;
  let pk = 4;
  for (const ph of rowPhases) for (const t of ph.taps) if (ph.count > 0) rows = Math.max(rows, ph.count + t.shift + padT);
  for (const ph of colPhases) for (const t of ph.taps) if (ph.count > 0) pk = Math.max(pk, Math.max(ph.count, 4) + t.shift + padL);
  const st = staging(rows, 1, pk, padT, padL);

  const mark = rt.mark();
  try {
    const dyAt = rt.put(dy);
    const dxAt = rt.alloc(dx.byteLength);
    const biasAt = zeros(rt, p.c);
    const passes: Pass[] = [];
    let maxPhase = 0;
    for (let ry = 0; ry < p.sh; ry++) {
      for (let rx = 0; rx < p.sw; rx++) {
        const rp = rowPhases[ry]!;
        const cp = colPhases[rx]!;
        // taps (o, i, j), o outermost, with their offsets into the staged dy planes
        const taps: { o: number; i: number; j: number }[] = [];
        const offsets: number[] = [];
        for (let o = 0; o < og; o++) {
          for (const ti of rp.taps) {
            for (const tj of cp.taps) {
              taps.push({ o, i: ti.k, j: tj.k });
              offsets.push(o * st.plane + (ti.shift + padT) * st.row + (tj.shift + padL) * 4);
            }
          }
        }
        const kt = taps.length;
        const packed = packWeights(p.groups, cg, kt, (g, c, t) => {
          const tap = taps[t]!;
          return w[(((g * og + tap.o) * cg + c) * p.kh + tap.i) * p.kw + tap.j]!;
        });
        passes.push({
          tab: putInts(rt, Int32Array.from(offsets)),
          kt,
          w: rt.put(packed),
          wGroup: cg * kt * 4,
          rows: rp.count,
          cols: cp.count,
          srcRow: st.row,
          outOff: (ry * p.w + rx) * 4,
          outRow: p.sh * p.w * 4,
        });
        maxPhase = Math.max(maxPhase, rp.count * cp.count);
      }
    }
    const tmpPhase = p.sw > 1 ? roundUp(4 * maxPhase * 4, 64) : 0;
    const perThread = roundUp(og * st.plane, 64) + p.sw * tmpPhase;
    const scratch = rt.alloc(perThread * rt.threads);
    const plane = p.h * p.w * 4;
    const dyPlane = p.oh * p.ow * 4;
    const d = putDescriptor(
      rt,
      DIRECT_FIELDS,
      {
        n: p.n, groups: p.groups, m: cg, blocks: directBlocks(cg).length,
        src: dyAt, srcImage: p.o * dyPlane, srcGroup: og * dyPlane, srcPlane: dyPlane, srcRows: p.oh, srcCols: p.ow, k: og,
        stPlane: st.plane, stRows: st.rows, stPhases: 1, stPK: st.pk, stPadT: st.padT, stPadL: st.padL,
        scratch, scratchPerThread: perThread, tmpPhase,
        out: dxAt, outImage: p.c * plane, outGroup: cg * plane, outChan: plane,
        bias: biasAt, lo: f32Bits(-Infinity),
        passes: passes.length, outPhases: p.sw, outW: p.w, outRowStep: p.sh * p.w * 4,
      },
      passes,
    );
    rt.run(kernel, [d]);
    copyOut(rt, dxAt, dx);
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
  const T = p.kh * p.kw;
  checkArray(fn, 'dy', dy, p.n * p.o * p.oh * p.ow);
  checkArray(fn, 'x', x, p.n * p.c * p.h * p.w);
  checkArray(fn, 'dw', dw, p.o * cg * T);
  const db = opts?.db ?? null;
  if (db !== null) checkArray(fn, 'opts.db', db, p.o);
  const rt = runtime(fn);
  const kernel = kernelName(rt, fn, 'gconv_dweight', opts);
  if (p.n === 0 || p.oh === 0 || p.ow === 0) {
    dw.fill(0);
    db?.fill(0);
    return;
  }
  const st = inputStaging(p);
  const kt = cg * T;
  const mark = rt.mark();
  try {
    // the last vector of a row reads up to 3 floats past dy's end (masked off)
    const dyAt = putWithSlack(rt, dy, 16);
    const xAt = rt.put(x);
    const dwAt = rt.alloc(dw.byteLength);
    const dbAt = db ? rt.alloc(db.byteLength) : 0;
    const tabAt = putInts(rt, inputTaps(p, st, cg, DW_TAPS));
    const perThread = roundUp(cg * st.plane, 64);
    const scratch = rt.alloc(perThread * rt.threads);
    const dyPlane = p.oh * p.ow * 4;
    const d = putDescriptor(rt, DWEIGHT_FIELDS, {
      ...inputFields(p, st, xAt, cg),
      n: p.n, groups: p.groups, m: og, blocks: Math.ceil(og / DW_BLOCK),
      scratch, scratchPerThread: perThread,
      dy: dyAt, dyImage: p.o * dyPlane, dyGroup: og * dyPlane, dyChan: dyPlane, oh: p.oh, ow: p.ow, srcRow: p.sh * st.row,
      tab: tabAt, kt, dw: dwAt, db: dbAt,
    });
    rt.run(kernel, [d]);
    copyOut(rt, dwAt, dw);
    if (db) copyOut(rt, dbAt, db);
  } finally {
    rt.release(mark);
  }
}
