// Generator of the convolution module (and its relaxed-SIMD twin): 2-D convolution on NCHW data
// with groups, as kernels/cpu/conv2d.ts defines it, by im2col + the packed SGEMM of gemm.gen.ts,
// whose serial core this module embeds so that each thread runs im2col and GEMM back to back on
// its own share, in one call from JavaScript (no round trip per image and group).
//
// With Cg = C/groups, Og = O/groups, Kg = Cg·kh·kw, L = oh·ow, and for one image and group g:
//   cols[(c·kh + i)·kw + j, l] = x[g·Cg + c, oy·sh − pt + i·dh, ox·sw − pl + j·dw]   (l = oy·ow + ox; 0 outside)
//   forward    y_g  = W_g · cols  (+ b, ReLU)          W_g = w[g·Og .. +Og] as an Og×Kg matrix
//   backward   dX   = col2im(W_gᵀ · dY_g)              (Wᵀ read through strides)
//              dW_g = Σ_n dY_g · cols_gᵀ              (colsᵀ read through strides)
//              db[o] = Σ_n Σ_l dY[n, o, l]
// col2im is im2col's adjoint: it adds each entry back into the pixel it was read from.
//
// Work split. Each piece of work writes its own part of the output (no locks); threads take
// pieces from an atomic counter (the JS side zeroes it) until none is left, so a thread that a
// busy core slows down simply takes fewer pieces:
//   forward: (piece, block) items: pieces of at most P output pixels of one image, each cut
//     into blocks of R output channels. One block: im2col of the piece (Kg×len, stays in
//     cache), then the Og×len×Kg GEMM with bias and ReLU fused in its write-back. With few
//     pixels (a batch-1 image) two pieces per thread leave a core idle whenever the other starts
//     late or runs slow, and more pieces pack W again for each; so the caller cuts the channels
//     into blocks instead: a thread packs each piece it touches once and runs its blocks on it.
//   backward input: (image, group, block of input channels); the cols rows of a channel scatter
//     only into that channel's plane, so a block owns whole planes of dX.
//   backward weight: (group, block of columns of dW = rows of cols); a block im2cols only its
//     rows, for every image, and accumulates its columns of dW over the batch.
//   bias: the O output channels, split statically.
// A 1×1, stride-1, unpadded convolution needs no im2col: each image's [C, H·W] block is cols.
//
// Geometry arrives as 16 i32s in memory, in CONV_GEOMETRY_FIELDS order.

import { GEMM_A_PACKED, GEMM_ACCUMULATE, GEMM_B_PACKED, GEMM_BIAS_ROW, GEMM_RELU, GEMM_SCRATCH_BYTES, gemmCore, KC, MR, NR } from './gemm.gen.js';

/** The order of the ConvGeometry fields in the i32 block the entry points read. */
export const CONV_GEOMETRY_FIELDS = [
  'n', 'c', 'h', 'w', 'o', 'kh', 'kw', 'sh', 'sw', 'pt', 'pl', 'dh', 'dw', 'groups', 'oh', 'ow',
] as const;

/** conv_fwd flags. */
export const CONV_BIAS = 1;
export const CONV_RELU = 2;

/** Per-thread scratch of the conv entry points: GEMM scratch, then cols (Kg·P floats). */
export { GEMM_SCRATCH_BYTES };

/** Locals $n .. $ow loaded from the geometry block at $geom (declare them with geomLocals()). */
function loadGeom(fields: readonly (typeof CONV_GEOMETRY_FIELDS)[number][]): string {
  return fields
    .map((f) => `(local.set $${f} (i32.load offset=${4 * CONV_GEOMETRY_FIELDS.indexOf(f)} (local.get $geom)))`)
    .join('\n    ');
}
const geomLocals = (fields: readonly string[]): string => fields.map((f) => `(local $${f} i32)`).join(' ');

/** Copy, zero and scatter-add runs of floats (SIMD for unit stride and for stride 2). */
function runs(): string {
  return `
  ;; dst[0..n) = 0
  (func $zero_run (param $dst i32) (param $n i32)
    (block $v_done (loop $v
      (br_if $v_done (i32.lt_s (local.get $n) (i32.const 4)))
      (v128.store (local.get $dst) (v128.const i32x4 0 0 0 0))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $n (i32.sub (local.get $n) (i32.const 4)))
      (br $v)))
    (block $s_done (loop $s
      (br_if $s_done (i32.le_s (local.get $n) (i32.const 0)))
      (f32.store (local.get $dst) (f32.const 0))
      (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $s))))

  ;; dst[k] = src[k·stride] for k < n
  (func $copy_run (param $src i32) (param $dst i32) (param $n i32) (param $stride i32)
    (if (i32.eq (local.get $stride) (i32.const 1))
      (then
        (block $v_done (loop $v
          (br_if $v_done (i32.lt_s (local.get $n) (i32.const 4)))
          (v128.store (local.get $dst) (v128.load (local.get $src)))
          (local.set $src (i32.add (local.get $src) (i32.const 16)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
          (local.set $n (i32.sub (local.get $n) (i32.const 4)))
          (br $v)))))
    (if (i32.eq (local.get $stride) (i32.const 2))
      (then
        ;; the even lanes of two vectors; needs 8 readable floats, all within the run: n >= 5
        (block $v_done (loop $v
          (br_if $v_done (i32.lt_s (local.get $n) (i32.const 5)))
          (v128.store (local.get $dst)
            (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27
              (v128.load (local.get $src)) (v128.load offset=16 (local.get $src))))
          (local.set $src (i32.add (local.get $src) (i32.const 32)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
          (local.set $n (i32.sub (local.get $n) (i32.const 4)))
          (br $v)))))
    (block $s_done (loop $s
      (br_if $s_done (i32.le_s (local.get $n) (i32.const 0)))
      (f32.store (local.get $dst) (f32.load (local.get $src)))
      (local.set $src (i32.add (local.get $src) (i32.shl (local.get $stride) (i32.const 2))))
      (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $s))))

  ;; dst[k·stride] += src[k] for k < n
  (func $add_run (param $src i32) (param $dst i32) (param $n i32) (param $stride i32)
    (if (i32.eq (local.get $stride) (i32.const 1))
      (then
        (block $v_done (loop $v
          (br_if $v_done (i32.lt_s (local.get $n) (i32.const 4)))
          (v128.store (local.get $dst) (f32x4.add (v128.load (local.get $dst)) (v128.load (local.get $src))))
          (local.set $src (i32.add (local.get $src) (i32.const 16)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
          (local.set $n (i32.sub (local.get $n) (i32.const 4)))
          (br $v)))))
    (block $s_done (loop $s
      (br_if $s_done (i32.le_s (local.get $n) (i32.const 0)))
      (f32.store (local.get $dst) (f32.add (f32.load (local.get $dst)) (f32.load (local.get $src))))
      (local.set $src (i32.add (local.get $src) (i32.const 4)))
      (local.set $dst (i32.add (local.get $dst) (i32.shl (local.get $stride) (i32.const 2))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $s))))`;
}

/** min / max of two locals, inline (a select, no call); `tmp` holds an expression's value first. */
function imin(a: string, tmp: string, bExpr?: string): string {
  if (bExpr === undefined) return `(select (local.get $${a}) (local.get $${tmp}) (i32.lt_s (local.get $${a}) (local.get $${tmp})))`;
  return `(select (local.get $${a}) (local.tee $${tmp} ${bExpr}) (i32.lt_s (local.get $${a}) (local.get $${tmp})))`;
}
const imax = (a: string, b: string): string => `(select (local.get $${a}) (local.get $${b}) (i32.gt_s (local.get $${a}) (local.get $${b})))`;

const PATCH_FIELDS = ['h', 'w', 'kh', 'kw', 'sh', 'sw', 'pt', 'pl', 'dh', 'dw', 'oh', 'ow'] as const;

/**
 * im2col and col2im over rows [r0, r1) of one image's group (row = (c·kh + i)·kw + j, c counted
 * from the plane at $img) and output pixels [l0, l1); cols row r − r0 lives at cols + (r − r0)·ld·4.
 * Both walk the same segments: for each row and each output row oy in the pixel range, the
 * columns ox in [oxA, oxB) split into padding, the valid range [lo, hi) of tap j, and padding.
 */
function patchWalk(name: '$im2col' | '$col2im'): string {
  const gather = name === '$im2col';
  const onPadding = gather ? '(call $zero_run (local.get $d) (local.get $cnt))' : '';
  const segment = gather
    ? `(if (i32.gt_s (local.get $a) (local.get $oxA))
              (then (call $zero_run (local.get $d) (i32.sub (local.get $a) (local.get $oxA)))))
            (call $copy_run (i32.add (local.get $src) (i32.shl (i32.mul (local.get $a) (local.get $sw)) (i32.const 2)))
                            (i32.add (local.get $d) (i32.shl (i32.sub (local.get $a) (local.get $oxA)) (i32.const 2)))
                            (i32.sub (local.get $b) (local.get $a)) (local.get $sw))
            (if (i32.gt_s (local.get $oxB) (local.get $b))
              (then (call $zero_run (i32.add (local.get $d) (i32.shl (i32.sub (local.get $b) (local.get $oxA)) (i32.const 2)))
                                    (i32.sub (local.get $oxB) (local.get $b)))))`
    : `(call $add_run (i32.add (local.get $d) (i32.shl (i32.sub (local.get $a) (local.get $oxA)) (i32.const 2)))
                           (i32.add (local.get $src) (i32.shl (i32.mul (local.get $a) (local.get $sw)) (i32.const 2)))
                           (i32.sub (local.get $b) (local.get $a)) (local.get $sw))`;
  return `
  ;; ${gather ? 'cols[r − r0, l − l0] = x[c, iy, ix] (0 in the padding)' : 'dx[c, iy, ix] += cols[r − r0, l − l0] (padding entries dropped)'}
  (func ${name} (param $geom i32) (param $img i32) (param $r0 i32) (param $r1 i32) (param $l0 i32) (param $l1 i32)
                (param $cols i32) (param $ld i32)
    ${geomLocals(PATCH_FIELDS)}
    (local $r i32) (local $c i32) (local $i i32) (local $j i32) (local $taps i32) (local $plane i32)
    (local $xs i32) (local $lo i32) (local $hi i32) (local $l i32) (local $oy i32) (local $oxA i32) (local $oxB i32)
    (local $cnt i32) (local $iy i32) (local $a i32) (local $b i32) (local $d i32) (local $src i32)
    (local $oy0 i32) (local $ox0 i32) (local $left i32) (local $shifted i32) (local $vA i32) (local $vB i32) (local $off i32)
    ${loadGeom(PATCH_FIELDS)}
    (local.set $shifted (i32.and (i32.and (i32.eq (local.get $sh) (i32.const 1)) (i32.eq (local.get $sw) (i32.const 1)))
                                 (i32.and (i32.eq (local.get $w) (local.get $ow)) (i32.lt_u (local.get $pl) (i32.const 1024)))))
    (local.set $taps (i32.mul (local.get $kh) (local.get $kw)))
    (local.set $oy0 (i32.div_u (local.get $l0) (local.get $ow)))
    (local.set $ox0 (i32.sub (local.get $l0) (i32.mul (local.get $oy0) (local.get $ow))))
    (local.set $r (local.get $r0))
    (block $rows_done (loop $rows
      (br_if $rows_done (i32.ge_s (local.get $r) (local.get $r1)))
      (local.set $c (i32.div_u (local.get $r) (local.get $taps)))
      (local.set $j (i32.rem_u (local.get $r) (local.get $kw)))
      (local.set $i (i32.rem_u (i32.div_u (local.get $r) (local.get $kw)) (local.get $kh)))
      (local.set $plane (i32.add (local.get $img) (i32.shl (i32.mul (i32.mul (local.get $c) (local.get $h)) (local.get $w)) (i32.const 2))))
      ;; tap j reads column ox·sw + xs; it is inside [0, w) for ox in [lo, hi)
      (local.set $xs (i32.sub (i32.mul (local.get $j) (local.get $dw)) (local.get $pl)))
      (local.set $lo (select (i32.const 0)
                             (i32.div_u (i32.sub (i32.sub (local.get $sw) (i32.const 1)) (local.get $xs)) (local.get $sw))
                             (i32.ge_s (local.get $xs) (i32.const 0))))
      (local.set $hi (select (i32.const 0)
                             (i32.add (i32.div_u (i32.sub (i32.sub (local.get $w) (i32.const 1)) (local.get $xs)) (local.get $sw)) (i32.const 1))
                             (i32.lt_s (i32.sub (i32.sub (local.get $w) (i32.const 1)) (local.get $xs)) (i32.const 0))))
      (local.set $lo (call $min (local.get $lo) (local.get $ow)))
      (local.set $hi (call $max (call $min (local.get $hi) (local.get $ow)) (local.get $lo)))
      (local.set $d (i32.add (local.get $cols) (i32.shl (i32.mul (i32.sub (local.get $r) (local.get $r0)) (local.get $ld)) (i32.const 2))))
      ${shiftedRows(gather)}
      ;; segments: output row oy from column oxA, first at (oy0, ox0); iy follows oy in steps of sh
      (local.set $l (local.get $l0))
      (local.set $oxA (local.get $ox0))
      (local.set $iy (i32.add (i32.sub (i32.mul (local.get $oy0) (local.get $sh)) (local.get $pt)) (i32.mul (local.get $i) (local.get $dh))))
      (block $segs_done (loop $segs
        (br_if $segs_done (i32.ge_s (local.get $l) (local.get $l1)))
        (local.set $cnt (i32.sub (local.get $ow) (local.get $oxA)))
        (local.set $cnt ${imin('cnt', 'left', '(i32.sub (local.get $l1) (local.get $l))')})
        (local.set $oxB (i32.add (local.get $oxA) (local.get $cnt)))
        (if (i32.lt_u (local.get $iy) (local.get $h))
          (then
            ;; a = clamp(lo, oxA, oxB), b = clamp(hi, a, oxB)
            (local.set $a ${imax('lo', 'oxA')})
            (local.set $a ${imin('a', 'oxB')})
            (local.set $b ${imin('hi', 'oxB')})
            (local.set $b ${imax('b', 'a')})
            ;; src = &x[c, iy, xs] (column 0 of the tap; ox = a is at a·sw past it)
            (local.set $src (i32.add (local.get $plane)
                                     (i32.shl (i32.add (i32.mul (local.get $iy) (local.get $w)) (local.get $xs)) (i32.const 2))))
            ${segment})
          (else ${onPadding}))
        (local.set $d (i32.add (local.get $d) (i32.shl (local.get $cnt) (i32.const 2))))
        (local.set $l (i32.add (local.get $l) (local.get $cnt)))
        (local.set $oxA (i32.const 0))
        (local.set $iy (i32.add (local.get $iy) (local.get $sh)))
        (br $segs)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows))))`;
}

/**
 * The fast path of im2col and col2im for stride 1 with w = ow (a 'same' convolution): then pixel l
 * of cols row r reads (or sends its gradient to) x[plane + l + off], with one offset
 * off = (i·dh − pt)·w + xs for the whole row. So the pixels whose input row exists, [vA, vB), are
 * one contiguous copy (or add); in each of those output rows only the few columns outside the
 * tap's valid range [lo, hi) land on a neighbouring row instead of the padding:
 *   im2col: copy, then set those cols entries to 0 (and zero the pixels of padding rows);
 *   col2im: first set those cols entries to −0 (x + −0 = x exactly, for x = ±0 too), then add,
 *     leaving out the pixels whose target falls outside this plane (all among the −0 ones), so no
 *     byte outside the thread's own planes is touched.
 * The im2col copy may read up to pl floats before the plane and (kw−1)·dw after it: still inside
 * wasm memory (the arena starts CONTROL_BYTES in, and the scratch comes after the input).
 */
function shiftedRows(gather: boolean): string {
  // cols pixels [oxA, oxB) of this row := ±0, one store each (a run is a column or two)
  const clearPixels = `(block $z_done (loop $z
                  (br_if $z_done (i32.ge_s (local.get $oxA) (local.get $oxB)))
                  (f32.store (i32.add (local.get $d) (i32.shl (i32.sub (local.get $oxA) (local.get $l0)) (i32.const 2))) (f32.const ${gather ? '0' : '-0'}))
                  (local.set $oxA (i32.add (local.get $oxA) (i32.const 1)))
                  (br $z)))`;
  const clearOutside = `(if (i32.or (i32.gt_s (local.get $lo) (i32.const 0)) (i32.lt_s (local.get $hi) (local.get $ow)))
            (then
              (local.set $oy (i32.div_u (local.get $vA) (local.get $ow)))
              (local.set $l (i32.mul (local.get $oy) (local.get $ow)))
              (block $fix_done (loop $fix
                (br_if $fix_done (i32.ge_s (local.get $l) (local.get $vB)))
                ;; [l, l + lo) and [l + hi, l + ow), clipped to [vA, vB)
                (local.set $oxA ${imax('l', 'vA')})
                (local.set $oxB (i32.add (local.get $l) (local.get $lo)))
                (local.set $oxB ${imin('oxB', 'vB')})
                ${clearPixels}
                (local.set $oxA (i32.add (local.get $l) (local.get $hi)))
                (local.set $oxA ${imax('oxA', 'vA')})
                (local.set $oxB (i32.add (local.get $l) (local.get $ow)))
                (local.set $oxB ${imin('oxB', 'vB')})
                ${clearPixels}
                (local.set $l (i32.add (local.get $l) (local.get $ow)))
                (br $fix)))))`;
  const at = (l: string): string => `(i32.add (local.get $d) (i32.shl (i32.sub ${l} (local.get $l0)) (i32.const 2)))`;
  const body = gather
    ? `(call $zero_run (local.get $d) (i32.sub (local.get $vA) (local.get $l0)))
          (call $copy_run (i32.add (local.get $plane) (i32.shl (i32.add (local.get $vA) (local.get $off)) (i32.const 2)))
                          ${at('(local.get $vA)')} (i32.sub (local.get $vB) (local.get $vA)) (i32.const 1))
          (call $zero_run ${at('(local.get $vB)')} (i32.sub (local.get $l1) (local.get $vB)))
          ${clearOutside}`
    : `${clearOutside}
          ;; targets inside the plane: l + off in [0, h·w)
          (local.set $a (i32.sub (i32.const 0) (local.get $off)))
          (local.set $a ${imax('a', 'vA')})
          (local.set $b (i32.sub (i32.mul (local.get $h) (local.get $w)) (local.get $off)))
          (local.set $b ${imin('b', 'vB')})
          (if (i32.gt_s (local.get $b) (local.get $a))
            (then (call $add_run ${at('(local.get $a)')}
                                 (i32.add (local.get $plane) (i32.shl (i32.add (local.get $a) (local.get $off)) (i32.const 2)))
                                 (i32.sub (local.get $b) (local.get $a)) (i32.const 1))))`;
  return `(if (local.get $shifted)
        (then
          ;; output rows [a, b) read input rows inside the image: pixels [vA, vB) of the piece
          (local.set $a (call $max (i32.const 0) (i32.sub (local.get $pt) (i32.mul (local.get $i) (local.get $dh)))))
          (local.set $b (call $min (local.get $oh) (i32.sub (i32.add (local.get $h) (local.get $pt)) (i32.mul (local.get $i) (local.get $dh)))))
          (local.set $vA (call $min (call $max (i32.mul (local.get $a) (local.get $ow)) (local.get $l0)) (local.get $l1)))
          (local.set $vB (call $max (call $min (i32.mul (local.get $b) (local.get $ow)) (local.get $l1)) (local.get $vA)))
          (local.set $off (i32.add (i32.mul (i32.sub (i32.mul (local.get $i) (local.get $dh)) (local.get $pt)) (local.get $w)) (local.get $xs)))
          ${body}
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br $rows)))`;
}

const ALL = CONV_GEOMETRY_FIELDS;

/** Locals every entry point derives from the geometry. */
function derived(): string {
  return `
    (local.set $cg (i32.div_u (local.get $c) (local.get $groups)))
    (local.set $og (i32.div_u (local.get $o) (local.get $groups)))
    (local.set $taps (i32.mul (local.get $kh) (local.get $kw)))
    (local.set $Kg (i32.mul (local.get $cg) (local.get $taps)))
    (local.set $L (i32.mul (local.get $oh) (local.get $ow)))
    (local.set $hw (i32.mul (local.get $h) (local.get $w)))
    (local.set $pointwise (i32.and (i32.and (i32.eq (local.get $taps) (i32.const 1))
                                            (i32.and (i32.eq (local.get $sh) (i32.const 1)) (i32.eq (local.get $sw) (i32.const 1))))
                                   (i32.and (i32.and (i32.eqz (local.get $pt)) (i32.eqz (local.get $pl)))
                                            (i32.and (i32.eq (local.get $oh) (local.get $h)) (i32.eq (local.get $ow) (local.get $w))))))
    (local.set $gs (i32.add (local.get $scratch) (i32.mul (local.get $tid) (local.get $perThread))))
    (local.set $cols (i32.add (local.get $gs) (i32.const ${GEMM_SCRATCH_BYTES})))`;
}
const derivedLocals =
  '(local $cg i32) (local $og i32) (local $taps i32) (local $Kg i32) (local $L i32) (local $hw i32) (local $pointwise i32) (local $gs i32) (local $cols i32)';

/** byte offset expression: base + (expr)·4 */
const at = (base: string, elems: string): string => `(i32.add ${base} (i32.shl ${elems} (i32.const 2)))`;
const get = (name: string): string => `(local.get $${name})`;
const i32 = (n: number): string => `(i32.const ${n})`;
const mul = (a: string, b: string): string => `(i32.mul ${a} ${b})`;
const add = (a: string, b: string): string => `(i32.add ${a} ${b})`;

/** The next chunk of work for this thread: an atomic ticket from the counter at $counter. */
const nextChunk = '(i32.atomic.rmw.add (local.get $counter) (i32.const 1))';

/**
 * conv_pack_weights: W (M×K, row-major) as the GEMM's packed A, K slice by K slice: slice pc (of kc =
 * min(KC, K − pc) columns) at dst + pc·M4 floats (M4 = M rounded up to MR), all M rows in MR-row
 * slivers of kc·MR floats (zero rows past M). Threads take slices in turn.
 */
function packWeights(): string {
  return `
  (func (export "conv_pack_weights") (param $tid i32) (param $nt i32) (param $w i32) (param $M i32) (param $K i32) (param $dst i32)
    (local $pc i32) (local $M4 i32)
    (local.set $M4 (i32.and (i32.add (local.get $M) (i32.const ${MR - 1})) (i32.const ${-MR})))
    (local.set $pc (i32.mul (local.get $tid) ${i32(KC)}))
    (block $done (loop $slices
      (br_if $done (i32.ge_s (local.get $pc) (local.get $K)))
      (call $pack_a ${at(get('w'), get('pc'))} (local.get $K) (i32.const 1) (local.get $M)
                    (call $min ${i32(KC)} (i32.sub (local.get $K) (local.get $pc))) ${at(get('dst'), mul(get('pc'), get('M4')))})
      (local.set $pc (i32.add (local.get $pc) (i32.mul (local.get $nt) ${i32(KC)})))
      (br $slices))))`;
}

function forward(suffix: string): string {
  return `
  ;; conv_fwd: y = conv(x, w) (+ bias) (ReLU). The work is n·ceil(L/P) pieces of P output pixels
  ;; of one image, each cut into ceil(Og/R) blocks of R output channels ($chunk = R; 0 or >= Og:
  ;; one block, every group); threads take (piece, block) items from the counter, piece-major,
  ;; until none is left.
  ;; - One block, w as it is ($wp = 0): im2col the piece and run the GEMM, which packs both.
  ;; - Several blocks (groups = 1, P <= NC): a thread im2cols and packs a piece once, into every K
  ;;   slice of the packed-B area at the end of its scratch, when it takes its first block of
  ;;   that piece, then runs each block on that packed B. Small blocks let a batch-1 image of few
  ;;   pixels and many channels keep both cores busy to the end, with no row of W packed twice.
  ;; - $wp (groups = 1): W already packed by conv_pack_weights, read from there.
  ;; The last two run the GEMM one K slice at a time (the first overwrites, the rest accumulate,
  ;; the last applies the epilogue): the same sums in the same order as the GEMM's own K loop, so
  ;; the same floats however the work is cut.
  (func (export "conv_fwd${suffix}") (param $tid i32) (param $nt i32) (param $geom i32)
        (param $x i32) (param $wt i32) (param $bias i32) (param $y i32) (param $flags i32) (param $wp i32)
        (param $P i32) (param $chunk i32) (param $counter i32) (param $scratch i32) (param $perThread i32)
    ${geomLocals(ALL)} ${derivedLocals}
    (local $ppi i32) (local $chunks i32) (local $q i32) (local $img i32) (local $l0 i32) (local $len i32)
    (local $g i32) (local $xg i32) (local $B i32) (local $rsb i32) (local $gflags i32)
    (local $R i32) (local $blocks i32) (local $piece i32) (local $cur i32) (local $o0 i32) (local $o1 i32)
    (local $bp i32) (local $len8 i32) (local $pc i32) (local $kc i32) (local $sflags i32) (local $o4 i32)
    (local $A i32) (local $rsa i32) (local $Bs i32)
    ${loadGeom(ALL)}
    ${derived()}
    (local.set $gflags (i32.or (select (i32.const ${GEMM_BIAS_ROW}) (i32.const 0) (i32.and (local.get $flags) (i32.const ${CONV_BIAS})))
                               (select (i32.const ${GEMM_RELU}) (i32.const 0) (i32.and (local.get $flags) (i32.const ${CONV_RELU})))))
    (if (i32.eqz (local.get $L)) (then (return)))
    (local.set $ppi (i32.div_u (i32.add (local.get $L) (i32.sub (local.get $P) (i32.const 1))) (local.get $P)))
    (local.set $chunks (i32.mul (local.get $n) (local.get $ppi)))
    (local.set $R (select (local.get $chunk) (local.get $og)
                          (i32.and (i32.gt_s (local.get $chunk) (i32.const 0)) (i32.lt_s (local.get $chunk) (local.get $og)))))
    (local.set $blocks (i32.div_u (i32.add (local.get $og) (i32.sub (local.get $R) (i32.const 1))) (local.get $R)))
    (local.set $o4 (i32.and (i32.add (local.get $og) (i32.const ${MR - 1})) (i32.const ${-MR})))
    ;; the packed B of a piece: Kg rows of len8 = roundUp(len, ${NR}) floats, at the end of the thread's scratch
    (local.set $bp (i32.sub (i32.add (local.get $gs) (local.get $perThread))
                            (i32.shl (i32.mul (local.get $Kg) (i32.and (i32.add (local.get $P) (i32.const ${NR - 1})) (i32.const ${-NR})))
                                     (i32.const 2))))
    (local.set $cur (i32.const -1))
    (local.set $q ${nextChunk})
    (block $done (loop $items
      (br_if $done (i32.ge_u (local.get $q) (i32.mul (local.get $chunks) (local.get $blocks))))
      (local.set $piece (i32.div_u (local.get $q) (local.get $blocks)))
      (local.set $img (i32.div_u (local.get $piece) (local.get $ppi)))
      (local.set $l0 (i32.mul (i32.sub (local.get $piece) (i32.mul (local.get $img) (local.get $ppi))) (local.get $P)))
      (local.set $len (call $min (local.get $P) (i32.sub (local.get $L) (local.get $l0))))
      (if (i32.and (i32.eq (local.get $blocks) (i32.const 1)) (i32.eqz (local.get $wp)))
        (then
          (local.set $g (i32.const 0))
          (loop $groups_loop
            (local.set $xg ${at(get('x'), mul(add(mul(get('img'), get('c')), mul(get('g'), get('cg'))), get('hw')))})
            (if (local.get $pointwise)
              (then
                (local.set $B ${at(get('xg'), get('l0'))})
                (local.set $rsb (local.get $L)))
              (else
                (call $im2col (local.get $geom) (local.get $xg) (i32.const 0) (local.get $Kg)
                              (local.get $l0) (i32.add (local.get $l0) (local.get $len)) (local.get $cols) (local.get $len))
                (local.set $B (local.get $cols))
                (local.set $rsb (local.get $len))))
            ;; y[img, g·Og .. +Og, l0 .. +len] = W[g·Og .., Kg] · cols[Kg, len] (+ bias) (ReLU)
            (call $gemm_serial (local.get $og) (local.get $len) (local.get $Kg)
              ${at(get('wt'), mul(mul(get('g'), get('og')), get('Kg')))} (local.get $Kg) (i32.const 1)
              (local.get $B) (local.get $rsb) (i32.const 1)
              ${at(get('y'), add(mul(add(mul(get('img'), get('o')), mul(get('g'), get('og'))), get('L')), get('l0')))} (local.get $L)
              (local.get $gflags) ${at(get('bias'), mul(get('g'), get('og')))} (i32.const 0) (local.get $gs))
            (local.set $g (i32.add (local.get $g) (i32.const 1)))
            (br_if $groups_loop (i32.lt_s (local.get $g) (local.get $groups)))))
        (else
          ;; groups = 1 here. B: the piece itself (cols, or x for a 1×1), or its packed form
          (local.set $len8 (i32.and (i32.add (local.get $len) (i32.const ${NR - 1})) (i32.const ${-NR})))
          (if (i32.ne (local.get $piece) (local.get $cur))
            (then
              (if (local.get $pointwise)
                (then
                  (local.set $B ${at(get('x'), add(mul(mul(get('img'), get('c')), get('hw')), get('l0')))})
                  (local.set $rsb (local.get $L)))
                (else
                  (call $im2col (local.get $geom) ${at(get('x'), mul(mul(get('img'), get('c')), get('hw')))} (i32.const 0) (local.get $Kg)
                                (local.get $l0) (i32.add (local.get $l0) (local.get $len)) (local.get $cols) (local.get $len))
                  (local.set $B (local.get $cols))
                  (local.set $rsb (local.get $len))))
              (local.set $cur (local.get $piece))
              ;; several blocks: K slice pc (rows pc .. pc + kc of B) packed at bp + pc·len8 floats
              (if (i32.gt_s (local.get $blocks) (i32.const 1))
                (then
                  (local.set $pc (i32.const 0))
                  (loop $pack_loop
                    (call $pack_b ${at(get('B'), mul(get('pc'), get('rsb')))} (local.get $rsb) (i32.const 1)
                                  (call $min ${i32(KC)} (i32.sub (local.get $Kg) (local.get $pc))) (local.get $len)
                                  ${at(get('bp'), mul(get('pc'), get('len8')))})
                    (local.set $pc (i32.add (local.get $pc) ${i32(KC)}))
                    (br_if $pack_loop (i32.lt_s (local.get $pc) (local.get $Kg))))))))
          ;; y[img, o0 .. o1, l0 .. +len] = W[o0 .. o1, Kg] · B[Kg, len] (+ bias) (ReLU), K slice by K slice
          (local.set $o0 (i32.mul (i32.sub (local.get $q) (i32.mul (local.get $piece) (local.get $blocks))) (local.get $R)))
          (local.set $o1 (call $min (local.get $og) (i32.add (local.get $o0) (local.get $R))))
          (local.set $pc (i32.const 0))
          (loop $slice_loop
            (local.set $kc (call $min ${i32(KC)} (i32.sub (local.get $Kg) (local.get $pc))))
            (local.set $sflags
              (i32.or (select ${i32(GEMM_ACCUMULATE)} (i32.const 0) (i32.gt_s (local.get $pc) (i32.const 0)))
                      (select (local.get $gflags) (i32.const 0) (i32.ge_s (i32.add (local.get $pc) (local.get $kc)) (local.get $Kg)))))
            ;; A: rows o0.. of slice pc of the packed W (sliver o0/${MR} of kc·${MR} floats), or of W itself
            (if (local.get $wp)
              (then
                (local.set $A ${at(get('wp'), add(mul(get('pc'), get('o4')), mul(get('o0'), get('kc'))))})
                (local.set $sflags (i32.or (local.get $sflags) ${i32(GEMM_A_PACKED)})))
              (else (local.set $A ${at(get('wt'), add(mul(get('o0'), get('Kg')), get('pc')))})))
            (if (i32.gt_s (local.get $blocks) (i32.const 1))
              (then
                (local.set $Bs ${at(get('bp'), mul(get('pc'), get('len8')))})
                (local.set $sflags (i32.or (local.get $sflags) ${i32(GEMM_B_PACKED)})))
              (else (local.set $Bs ${at(get('B'), mul(get('pc'), get('rsb')))})))
            (call $gemm_serial (i32.sub (local.get $o1) (local.get $o0)) (local.get $len) (local.get $kc)
              (local.get $A) (local.get $Kg) (i32.const 1)
              (local.get $Bs) (local.get $rsb) (i32.const 1)
              ${at(get('y'), add(mul(add(mul(get('img'), get('o')), get('o0')), get('L')), get('l0')))} (local.get $L)
              (local.get $sflags) ${at(get('bias'), get('o0'))} (i32.const 0) (local.get $gs))
            (local.set $pc (i32.add (local.get $pc) ${i32(KC)}))
            (br_if $slice_loop (i32.lt_s (local.get $pc) (local.get $Kg))))))
      (local.set $q ${nextChunk})
      (br $items))))`;
}

function backwardInput(suffix: string): string {
  return `
  ;; conv_bwd_input: dx = col2im(W_gᵀ · dY_g). The work is (image, group, block of $chunk input
  ;; channels): the cols rows of a channel scatter only into its own plane of dX, so a block owns
  ;; its planes. Threads take blocks from the counter until none is left.
  (func (export "conv_bwd_input${suffix}") (param $tid i32) (param $nt i32) (param $geom i32)
        (param $dy i32) (param $wt i32) (param $dx i32)
        (param $P i32) (param $chunk i32) (param $counter i32) (param $scratch i32) (param $perThread i32)
    ${geomLocals(ALL)} ${derivedLocals}
    (local $bpg i32) (local $chunks i32) (local $q i32) (local $rest i32)
    (local $img i32) (local $ch i32) (local $g i32) (local $cl i32) (local $nch i32)
    (local $dxp i32) (local $dyg i32) (local $wA i32) (local $rows i32) (local $l0 i32) (local $len i32)
    ${loadGeom(ALL)}
    ${derived()}
    ;; bpg blocks per (image, group); block q = ((img·groups) + g)·bpg + b
    (local.set $bpg (i32.div_u (i32.add (local.get $cg) (i32.sub (local.get $chunk) (i32.const 1))) (local.get $chunk)))
    (local.set $chunks (i32.mul (i32.mul (local.get $n) (local.get $groups)) (local.get $bpg)))
    (local.set $q ${nextChunk})
    (block $done (loop $blocks
      (br_if $done (i32.ge_u (local.get $q) (local.get $chunks)))
      (local.set $img (i32.div_u (local.get $q) (i32.mul (local.get $groups) (local.get $bpg))))
      (local.set $rest (i32.sub (local.get $q) (i32.mul (local.get $img) (i32.mul (local.get $groups) (local.get $bpg)))))
      (local.set $g (i32.div_u (local.get $rest) (local.get $bpg)))
      (local.set $cl (i32.mul (i32.sub (local.get $rest) (i32.mul (local.get $g) (local.get $bpg))) (local.get $chunk)))
      (local.set $nch (call $min (local.get $chunk) (i32.sub (local.get $cg) (local.get $cl))))
      (local.set $ch (i32.add (i32.mul (local.get $g) (local.get $cg)) (local.get $cl)))
      (local.set $dxp ${at(get('dx'), mul(add(mul(get('img'), get('c')), get('ch')), get('hw')))})
      (local.set $dyg ${at(get('dy'), mul(add(mul(get('img'), get('o')), mul(get('g'), get('og'))), get('L')))})
      ;; (W_gᵀ)[kk, oo] = w[(g·Og + oo)·Kg + cl·taps + kk]: row stride 1, column stride Kg
      (local.set $wA ${at(get('wt'), add(mul(mul(get('g'), get('og')), get('Kg')), mul(get('cl'), get('taps'))))})
      (local.set $rows (i32.mul (local.get $nch) (local.get $taps)))
      (if (local.get $pointwise)
        (then
          (call $gemm_serial (local.get $nch) (local.get $L) (local.get $og)
            (local.get $wA) (i32.const 1) (local.get $Kg) (local.get $dyg) (local.get $L) (i32.const 1)
            (local.get $dxp) (local.get $L) (i32.const 0) (i32.const 0) (i32.const 0) (local.get $gs)))
        (else
          (call $zero_run (local.get $dxp) (i32.mul (local.get $nch) (local.get $hw)))
          (local.set $l0 (i32.const 0))
          (block $pieces_done (loop $pieces
            (br_if $pieces_done (i32.ge_s (local.get $l0) (local.get $L)))
            (local.set $len (call $min (local.get $P) (i32.sub (local.get $L) (local.get $l0))))
            (call $gemm_serial (local.get $rows) (local.get $len) (local.get $og)
              (local.get $wA) (i32.const 1) (local.get $Kg) ${at(get('dyg'), get('l0'))} (local.get $L) (i32.const 1)
              (local.get $cols) (local.get $len) (i32.const 0) (i32.const 0) (i32.const 0) (local.get $gs))
            (call $col2im (local.get $geom) (local.get $dxp) (i32.const 0) (local.get $rows)
                          (local.get $l0) (i32.add (local.get $l0) (local.get $len)) (local.get $cols) (local.get $len))
            (local.set $l0 (i32.add (local.get $l0) (local.get $len)))
            (br $pieces)))))
      (local.set $q ${nextChunk})
      (br $blocks))))`;
}

function backwardWeight(suffix: string): string {
  return `
  ;; conv_bwd_weight: dW_g[:, r] = Σ_n dY_g · cols_gᵀ[:, r]. The work is (group, block of $chunk
  ;; columns r of dW, i.e. rows of cols): a block im2cols only its rows, for every image, and
  ;; accumulates its columns of dW over the batch. Threads take blocks from the counter.
  (func (export "conv_bwd_weight${suffix}") (param $tid i32) (param $nt i32) (param $geom i32)
        (param $dy i32) (param $x i32) (param $dwt i32)
        (param $P i32) (param $chunk i32) (param $counter i32) (param $scratch i32) (param $perThread i32)
    ${geomLocals(ALL)} ${derivedLocals}
    (local $bpg i32) (local $chunks i32) (local $q i32)
    (local $g i32) (local $rl i32) (local $rEnd i32) (local $nr i32)
    (local $dwp i32) (local $img i32) (local $xg i32) (local $dyg i32) (local $l0 i32) (local $len i32)
    (local $B i32) (local $csb i32) (local $gflags i32)
    ${loadGeom(ALL)}
    ${derived()}
    (if (local.get $pointwise) (then (local.set $P (local.get $L))))
    (local.set $bpg (i32.div_u (i32.add (local.get $Kg) (i32.sub (local.get $chunk) (i32.const 1))) (local.get $chunk)))
    (local.set $chunks (i32.mul (local.get $groups) (local.get $bpg)))
    (local.set $q ${nextChunk})
    (block $done (loop $blocks
      (br_if $done (i32.ge_u (local.get $q) (local.get $chunks)))
      (local.set $g (i32.div_u (local.get $q) (local.get $bpg)))
      (local.set $rl (i32.mul (i32.sub (local.get $q) (i32.mul (local.get $g) (local.get $bpg))) (local.get $chunk)))
      (local.set $rEnd (call $min (i32.add (local.get $rl) (local.get $chunk)) (local.get $Kg)))
      (local.set $nr (i32.sub (local.get $rEnd) (local.get $rl)))
      (local.set $dwp ${at(get('dwt'), add(mul(mul(get('g'), get('og')), get('Kg')), get('rl')))})
      (local.set $gflags (i32.const 0))
      (local.set $img (i32.const 0))
      (block $images_done (loop $images
        (br_if $images_done (i32.ge_s (local.get $img) (local.get $n)))
        (local.set $xg ${at(get('x'), mul(add(mul(get('img'), get('c')), mul(get('g'), get('cg'))), get('hw')))})
        (local.set $dyg ${at(get('dy'), mul(add(mul(get('img'), get('o')), mul(get('g'), get('og'))), get('L')))})
        (local.set $l0 (i32.const 0))
        (block $pieces_done (loop $pieces
          (br_if $pieces_done (i32.ge_s (local.get $l0) (local.get $L)))
          (local.set $len (call $min (local.get $P) (i32.sub (local.get $L) (local.get $l0))))
          (if (local.get $pointwise)
            (then
              ;; colsᵀ[l, kk] = x[(g·Cg + rl + kk)·L + l0 + l]
              (local.set $B ${at(get('xg'), add(mul(get('rl'), get('L')), get('l0')))})
              (local.set $csb (local.get $L)))
            (else
              (call $im2col (local.get $geom) (local.get $xg) (local.get $rl) (local.get $rEnd)
                            (local.get $l0) (i32.add (local.get $l0) (local.get $len)) (local.get $cols) (local.get $len))
              (local.set $B (local.get $cols))
              (local.set $csb (local.get $len))))
          (call $gemm_serial (local.get $og) (local.get $nr) (local.get $len)
            ${at(get('dyg'), get('l0'))} (local.get $L) (i32.const 1)
            (local.get $B) (i32.const 1) (local.get $csb)
            (local.get $dwp) (local.get $Kg) (local.get $gflags) (i32.const 0) (i32.const 0) (local.get $gs))
          (local.set $gflags (i32.const ${GEMM_ACCUMULATE}))
          (local.set $l0 (i32.add (local.get $l0) (local.get $len)))
          (br $pieces)))
        (local.set $img (i32.add (local.get $img) (i32.const 1)))
        (br $images)))
      ;; no image or no output pixel: dW is an empty sum (a K = 0 GEMM writes the zeros)
      (if (i32.eqz (local.get $gflags))
        (then (call $gemm_serial (local.get $og) (local.get $nr) (i32.const 0) (local.get $dy) (i32.const 0) (i32.const 0)
                (local.get $x) (i32.const 0) (i32.const 0) (local.get $dwp) (local.get $Kg) (i32.const 0)
                (i32.const 0) (i32.const 0) (local.get $gs))))
      (local.set $q ${nextChunk})
      (br $blocks))))`;
}

function backwardBias(): string {
  return `
  ;; conv_bwd_bias: db[o] = Σ_n Σ_l dy[n, o, l] for thread tid's output channels
  (func (export "conv_bwd_bias") (param $tid i32) (param $nt i32) (param $geom i32) (param $dy i32) (param $db i32)
    ${geomLocals(ALL)}
    (local $L i32) (local $oc i32) (local $o1 i32) (local $img i32) (local $p i32) (local $k i32)
    (local $v0 v128) (local $v1 v128) (local $s f32)
    ${loadGeom(ALL)}
    (local.set $L (i32.mul (local.get $oh) (local.get $ow)))
    (local.set $oc (call $part (local.get $o) (local.get $tid) (local.get $nt)))
    (local.set $o1 (call $part (local.get $o) (i32.add (local.get $tid) (i32.const 1)) (local.get $nt)))
    (block $done (loop $channels
      (br_if $done (i32.ge_s (local.get $oc) (local.get $o1)))
      (local.set $v0 (v128.const i32x4 0 0 0 0))
      (local.set $v1 (v128.const i32x4 0 0 0 0))
      (local.set $s (f32.const 0))
      (local.set $img (i32.const 0))
      (block $images_done (loop $images
        (br_if $images_done (i32.ge_s (local.get $img) (local.get $n)))
        (local.set $p ${at(get('dy'), mul(add(mul(get('img'), get('o')), get('oc')), get('L')))})
        (local.set $k (local.get $L))
        (block $v_done (loop $v
          (br_if $v_done (i32.lt_s (local.get $k) (i32.const 8)))
          (local.set $v0 (f32x4.add (local.get $v0) (v128.load (local.get $p))))
          (local.set $v1 (f32x4.add (local.get $v1) (v128.load offset=16 (local.get $p))))
          (local.set $p (i32.add (local.get $p) (i32.const 32)))
          (local.set $k (i32.sub (local.get $k) (i32.const 8)))
          (br $v)))
        (block $s_done (loop $sc
          (br_if $s_done (i32.le_s (local.get $k) (i32.const 0)))
          (local.set $s (f32.add (local.get $s) (f32.load (local.get $p))))
          (local.set $p (i32.add (local.get $p) (i32.const 4)))
          (local.set $k (i32.sub (local.get $k) (i32.const 1)))
          (br $sc)))
        (local.set $img (i32.add (local.get $img) (i32.const 1)))
        (br $images)))
      (local.set $v0 (f32x4.add (local.get $v0) (local.get $v1)))
      (f32.store ${at(get('db'), get('oc'))}
        (f32.add (local.get $s)
          (f32.add (f32.add (f32x4.extract_lane 0 (local.get $v0)) (f32x4.extract_lane 1 (local.get $v0)))
                   (f32.add (f32x4.extract_lane 2 (local.get $v0)) (f32x4.extract_lane 3 (local.get $v0))))))
      (local.set $oc (i32.add (local.get $oc) (i32.const 1)))
      (br $channels))))`;
}

/** One module's text: `conv`, or with relaxed `conv.relaxed` (GEMM entries only, suffixed _relaxed). */
export function moduleText(relaxed: boolean): string {
  const suffix = relaxed ? '_relaxed' : '';
  return `;; generated by kernels/wasm/src/conv.gen.ts${relaxed ? ' (relaxed-SIMD twin)' : ''}
(module
  (import "env" "memory" (memory 1 65536 shared))
${gemmCore(relaxed)}
${runs()}
${patchWalk('$im2col')}
${patchWalk('$col2im')}
${forward(suffix)}
${relaxed ? '' : packWeights()}
${backwardInput(suffix)}
${backwardWeight(suffix)}
${relaxed ? '' : backwardBias()})
`;
}

/** The modules `conv` and `conv.relaxed` (scripts/build-wasm.ts). */
export function generate(): Record<string, string> {
  return { conv: moduleText(false), 'conv.relaxed': moduleText(true) };
}
