// Generator of the Winograd module: the input, output, weight and gradient transforms of F(2×2, 3×3)
// convolution (kernels/wasm/winograd.ts runs them around 16 packed SGEMMs; docs/winograd.md explains
// the math), and their F(4×4, 3×3) twins (6×6 tiles, 36 GEMMs) further down.
//
// For a 4×4 input tile d (rows i, columns j) and a 3×3 filter g, the 2×2 output tile is
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
// with
//   Bᵀ = [1  0 −1  0]    G = [ 1    0    0 ]    Aᵀ = [1 1  1  0]
//        [0  1  1  0]        [ ½    ½    ½ ]         [0 1 −1 −1]
//        [0 −1  1  0]        [ ½   −½    ½ ]
//        [0  1  0 −1]        [ 0    0    1 ]
// Over channels the elementwise product becomes, for each of the 16 positions ξ of the 4×4
// transformed tile, a GEMM M_ξ (O × tiles) = U_ξ (O × C) · V_ξ (C × tiles).
//
// Layouts (floats, byte offsets passed in):
//   V[ξ][c][t] and M[ξ][o][t], t = (img·th + ty)·tw4 + tx, where th = ⌈oh/2⌉ tile rows and
//   tw4 = ⌈ow/2⌉ rounded up to 4 tile columns: every row of tiles is whole groups of four, so
//   each f32x4 holds 4 horizontally adjacent tiles and is stored whole (the extra tiles of an odd
//   width read padding zeros, and their outputs are never written).
//
// wino_input: one unit of work = one (image, channel) plane. The plane is first copied into the
//   thread's scratch with its padding made explicit (hp = 2·th + 2 rows, wp = 2·tw4 + 2 columns,
//   zeros outside the image; negative padding simply skips rows/columns), so the transform itself
//   has no edge cases. Tiles start every 2 columns: for 4 adjacent tiles the column j values are
//   the floats 2k + j (k = 0..3) of the padded row, which two f32x4 loads and an even/odd
//   shuffle deliver.
// wino_output: one unit = one (image, output channel) plane: the 16 M values of 4 adjacent tiles,
//   Aᵀ m A, + bias, ReLU, and the 2×2 results interleaved back into two rows of 8 output floats
//   (stored whole inside the image, lane by lane at its right edge).
// Units are split statically among the threads (each writes whole planes of V or of y: no two
// threads write the same bytes).

import { GEMM_A_PACKED, GEMM_ACCUMULATE, GEMM_B_PACKED, GEMM_SCRATCH_BYTES, gemmCore, transpose4 } from './gemm.gen.js';

export { GEMM_SCRATCH_BYTES };

/**
 * Bytes added to the stride between the 16 ξ matrices of V, M and E in the fused kernels' scratch.
 * Unpadded, the stride is often a multiple of 4096 (16 channels × 256 tiles × 4 bytes), so the 16
 * stores of one transformed tile, and the 16 loads of one output tile, all fall in the same L1
 * set (8 ways): padding by a cache line spreads them.
 */
export const XI_PAD = 64;

/** wino_output / wino_fwd flags. */
export const WINO_BIAS = 1;
export const WINO_RELU = 2;

const get = (n: string): string => `(local.get $${n})`;
const i32 = (n: number): string => `(i32.const ${n})`;

/** i8x16.shuffle of two f32x4 picking float lanes (0-3 from a, 4-7 from b). */
function shuffle32(a: string, b: string, lanes: readonly number[]): string {
  const bytes = lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]);
  return `(i8x16.shuffle ${bytes.join(' ')} ${a} ${b})`;
}

const add = (a: string, b: string): string => `(f32x4.add ${a} ${b})`;
const sub = (a: string, b: string): string => `(f32x4.sub ${a} ${b})`;

function helpers(): string {
  return `
  ;; dst[0..n) = 0
  (func $zero (param $dst i32) (param $n i32)
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
  ;; dst[0..n) = src[0..n)
  (func $copy (param $src i32) (param $dst i32) (param $n i32)
    (block $v_done (loop $v
      (br_if $v_done (i32.lt_s (local.get $n) (i32.const 4)))
      (v128.store (local.get $dst) (v128.load (local.get $src)))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $n (i32.sub (local.get $n) (i32.const 4)))
      (br $v)))
    (block $s_done (loop $s
      (br_if $s_done (i32.le_s (local.get $n) (i32.const 0)))
      (f32.store (local.get $dst) (f32.load (local.get $src)))
      (local.set $src (i32.add (local.get $src) (i32.const 4)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $s))))
  ;; The h×w plane at src into dst as hp×wp with dst[r][k] = src[r − pt][k − pl] (0 outside src).
  ;; Straight-line per row (it runs for every row of every plane a Winograd call reads): the zero
  ;; columns one float at a time (usually one or two), the source run by f32x4 with a last vector
  ;; that ends exactly at column c1 (overlapping the one before, same values).
  (func $pad_plane (param $src i32) (param $dst i32) (param $h i32) (param $w i32) (param $pt i32) (param $pl i32)
                   (param $hp i32) (param $wp i32)
    (local $r i32) (local $sr i32) (local $c0 i32) (local $c1 i32) (local $k i32) (local $s i32) (local $d i32) (local $e i32)
    ;; the columns that come from src: [c0, c1) = [max(0, pl), min(wp, w + pl))
    (local.set $c0 (select (local.get $pl) (i32.const 0) (i32.gt_s (local.get $pl) (i32.const 0))))
    (local.set $c1 (i32.add (local.get $w) (local.get $pl)))
    (if (i32.gt_s (local.get $c1) (local.get $wp)) (then (local.set $c1 (local.get $wp))))
    (if (i32.lt_s (local.get $c1) (local.get $c0)) (then (local.set $c1 (local.get $c0))))
    (block $done (loop $rows
      (br_if $done (i32.ge_s (local.get $r) (local.get $hp)))
      (local.set $sr (i32.sub (local.get $r) (local.get $pt)))
      (if (i32.or (i32.lt_s (local.get $sr) (i32.const 0)) (i32.ge_s (local.get $sr) (local.get $h)))
        (then
          (local.set $k (i32.const 0))
          (block $z4_done (loop $z4
            (br_if $z4_done (i32.gt_s (i32.add (local.get $k) (i32.const 4)) (local.get $wp)))
            (v128.store (i32.add (local.get $dst) (i32.shl (local.get $k) (i32.const 2))) (v128.const i32x4 0 0 0 0))
            (local.set $k (i32.add (local.get $k) (i32.const 4)))
            (br $z4)))
          (block $z1_done (loop $z1
            (br_if $z1_done (i32.ge_s (local.get $k) (local.get $wp)))
            (f32.store (i32.add (local.get $dst) (i32.shl (local.get $k) (i32.const 2))) (f32.const 0))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $z1))))
        (else
          (local.set $k (i32.const 0))
          (block $l_done (loop $left
            (br_if $l_done (i32.ge_s (local.get $k) (local.get $c0)))
            (f32.store (i32.add (local.get $dst) (i32.shl (local.get $k) (i32.const 2))) (f32.const 0))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $left)))
          (local.set $s (i32.add (local.get $src) (i32.shl (i32.add (i32.mul (local.get $sr) (local.get $w)) (i32.sub (local.get $c0) (local.get $pl))) (i32.const 2))))
          (local.set $d (i32.add (local.get $dst) (i32.shl (local.get $c0) (i32.const 2))))
          (local.set $e (i32.add (local.get $s) (i32.shl (i32.sub (local.get $c1) (local.get $c0)) (i32.const 2))))
          (if (i32.ge_s (i32.sub (local.get $c1) (local.get $c0)) (i32.const 4))
            (then
              (block $v_done (loop $v
                (br_if $v_done (i32.gt_u (i32.add (local.get $s) (i32.const 16)) (local.get $e)))
                (v128.store (local.get $d) (v128.load (local.get $s)))
                (local.set $s (i32.add (local.get $s) (i32.const 16)))
                (local.set $d (i32.add (local.get $d) (i32.const 16)))
                (br $v)))
              (if (i32.lt_u (local.get $s) (local.get $e)) (then
                (v128.store (i32.sub (i32.add (local.get $dst) (i32.shl (local.get $c1) (i32.const 2))) (i32.const 16))
                            (v128.load (i32.sub (local.get $e) (i32.const 16)))))))
            (else
              (block $s_done (loop $one
                (br_if $s_done (i32.ge_u (local.get $s) (local.get $e)))
                (f32.store (local.get $d) (f32.load (local.get $s)))
                (local.set $s (i32.add (local.get $s) (i32.const 4)))
                (local.set $d (i32.add (local.get $d) (i32.const 4)))
                (br $one)))))
          (local.set $k (local.get $c1))
          (block $r_done (loop $right
            (br_if $r_done (i32.ge_s (local.get $k) (local.get $wp)))
            (f32.store (i32.add (local.get $dst) (i32.shl (local.get $k) (i32.const 2))) (f32.const 0))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $right)))))
      (local.set $dst (i32.add (local.get $dst) (i32.shl (local.get $wp) (i32.const 2))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows))))`;
}

/**
 * The input transform's walk over a block, for F(m×m, 3×3): the plane's rows padded into $buf
 * (m·rows + 2 rows of wp = m·tw4 + 2 floats), then per tile row ty and group of 4 tiles `tile`,
 * with $p at the group's top-left padded float and $rs, $rs2 .. $rs{m+1} the byte offsets of the
 * rows below it; $out moves 16 bytes on, or $step2 after an odd group (the packed V's slivers).
 * The function declares inputWalkLocals(m).
 */
function inputWalk(m: 2 | 4, tile: string): string {
  const sh = m === 2 ? 1 : 2;
  const below = Array.from({ length: m }, (_, i) => i + 2)
    .map((r) => `(local.set $rs${r} (i32.add (local.get $rs${r === 2 ? '' : r - 1}) (local.get $rs)))`)
    .join(' ');
  return `
    (local.set $wp (i32.add (i32.shl (local.get $tw4) (i32.const ${sh})) (i32.const 2)))
    (local.set $rs (i32.shl (local.get $wp) (i32.const 2)))
    ${below}
    (call $pad_plane (local.get $src) (local.get $buf) (local.get $h) (local.get $w) (local.get $pt) (local.get $pl)
      (i32.add (i32.shl (local.get $rows) (i32.const ${sh})) (i32.const 2)) (local.get $wp))
    (block $rows_done (loop $rows
      (br_if $rows_done (i32.ge_s (local.get $ty) (local.get $rows)))
      (local.set $p (i32.add (local.get $buf) (i32.mul (i32.shl (local.get $ty) (i32.const ${sh})) (local.get $rs))))
      (local.set $tx (i32.const 0))
      (block $cols_done (loop $cols
        (br_if $cols_done (i32.ge_s (local.get $tx) (local.get $tw4)))
          ${tile}
        (local.set $p (i32.add (local.get $p) (i32.const ${16 * m})))
        ;; the next group of 4 tiles: 16 bytes on, or after an odd group step2 (16, or to the next
        ;; NR-tile sliver of a packed V)
        (local.set $out (i32.add (local.get $out) (select (local.get $step2) (i32.const 16) (local.get $odd))))
        (local.set $odd (i32.xor (local.get $odd) (i32.const 1)))
        (local.set $tx (i32.add (local.get $tx) (i32.const 4)))
        (br $cols)))
      (local.set $ty (i32.add (local.get $ty) (i32.const 1)))
      (br $rows)))`;
}

/** The i32 locals inputWalk(m) uses. */
function inputWalkLocals(m: 2 | 4): string {
  const below = Array.from({ length: m }, (_, i) => `(local $rs${i + 2} i32)`).join(' ');
  return `(local $wp i32) (local $rs i32) ${below} (local $ty i32) (local $tx i32) (local $p i32) (local $sp i32) (local $odd i32)`;
}

/**
 * The output transform's walk, for F(m×m, 3×3): per tile row ty (output rows $oy + m·ty on) and
 * group of 4 tiles, `tile` with $dst at the group's first output float and $left the output
 * columns from there to the row's end (<= 0 for padding tiles); $src moves 16 bytes per group.
 * Uses the locals $ty $tx $left $dst.
 */
function outputWalk(m: 2 | 4, tile: string): string {
  const sh = m === 2 ? 1 : 2;
  return `
    (block $rows_done (loop $rows
      (br_if $rows_done (i32.ge_s (local.get $ty) (local.get $rows)))
      (local.set $tx (i32.const 0))
      (block $cols_done (loop $cols
        (br_if $cols_done (i32.ge_s (local.get $tx) (local.get $tw4)))
        (local.set $left (i32.sub (local.get $ow) (i32.shl (local.get $tx) (i32.const ${sh}))))
        (local.set $dst (i32.add (local.get $plane)
          (i32.shl (i32.add (i32.mul (local.get $oy) (local.get $ow)) (i32.shl (local.get $tx) (i32.const ${sh}))) (i32.const 2))))
          ${tile}
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $tx (i32.add (local.get $tx) (i32.const 4)))
        (br $cols)))
      (local.set $oy (i32.add (local.get $oy) (i32.const ${m})))
      (local.set $ty (i32.add (local.get $ty) (i32.const 1)))
      (br $rows)))`;
}

/**
 * V = Bᵀ d B for the 4 adjacent tiles whose top-left input float is at $p (padded rows $rs bytes
 * apart), stored at $out + ξ·$vs (ξ = 4i + k). Bᵀ first, on the raw rows: e_i = (Bᵀ d) row i is
 * a sum of two padded rows (rows 0 − 2, 1 + 2, 2 − 1, 1 − 3), taken on the four vectors that hold
 * floats 0-3, 4-7, 2-5 and 6-9 of them; then per e_i the even/odd shuffles give column j of the 4
 * tiles (floats 2k + j) and B its four columns. Working one e_i at a time keeps about ten vectors
 * live (the 16 of a whole Bᵀ d B would spill), at the price of reloading rows from L1.
 */
function inputTile(): string {
  const lines: string[] = [`(local.set $sp ${get('out')})`];
  const rowAt = (r: number): string => (r === 0 ? get('p') : `(i32.add ${get('p')} ${r === 1 ? get('rs') : get(`rs${r}`)})`);
  const combos: [number, number, 'add' | 'sub'][] = [
    [0, 2, 'sub'],
    [1, 2, 'add'],
    [2, 1, 'sub'],
    [1, 3, 'sub'],
  ];
  const offsets = { ra: 0, rb: 16, rc: 8, rd: 24 } as const;
  for (const [r0, r1, op] of combos) {
    for (const [name, off] of Object.entries(offsets)) {
      const ld = (r: number): string => `(v128.load offset=${off} ${rowAt(r)})`;
      lines.push(`(local.set $${name} ${op === 'add' ? add(ld(r0), ld(r1)) : sub(ld(r0), ld(r1))})`);
    }
    // column j of the 4 tiles: floats 2k + j (k = 0..3)
    lines.push(`(local.set $d0 ${shuffle32(get('ra'), get('rb'), [0, 2, 4, 6])})`);
    lines.push(`(local.set $d1 ${shuffle32(get('ra'), get('rb'), [1, 3, 5, 7])})`);
    lines.push(`(local.set $d2 ${shuffle32(get('rc'), get('rd'), [0, 2, 4, 6])})`);
    lines.push(`(local.set $d3 ${shuffle32(get('rc'), get('rd'), [1, 3, 5, 7])})`);
    // (e B) columns: d0 − d2, d1 + d2, d2 − d1, d1 − d3
    for (const v of [sub(get('d0'), get('d2')), add(get('d1'), get('d2')), sub(get('d2'), get('d1')), sub(get('d1'), get('d3'))]) {
      lines.push(`(v128.store ${get('sp')} ${v}) (local.set $sp (i32.add ${get('sp')} ${get('vs')}))`);
    }
  }
  return lines.join('\n            ');
}

function inputPlane(): string {
  return `
  ;; V[ξ][t] (at $out + ξ·$vs bytes, tile row ty at $out + ty·tw4·4, or in a packed V group g of 4
  ;; tiles at $out + (g >> 1)·(step2 + 16) + (g & 1)·16) = (Bᵀ d B)_ξ for the tile rows
  ;; [0, rows) of the h×w plane at $src whose first output row is 2·ty0, the padded rows going
  ;; through $buf: (pt, pl) is the padding as seen from tile row ty0 (pt − 2·ty0 of the plane).
  (func $in_plane (param $src i32) (param $buf i32) (param $h i32) (param $w i32) (param $pt i32) (param $pl i32)
                  (param $rows i32) (param $tw4 i32) (param $out i32) (param $vs i32) (param $step2 i32)
    ${inputWalkLocals(2)}
    (local $ra v128) (local $rb v128) (local $rc v128) (local $rd v128)
    (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128)
    ${inputWalk(2, inputTile())})`;
}

function inputEntry(): string {
  return `
  ;; wino_input: V[ξ][c][t] = (Bᵀ d B)_ξ for every tile t of images [0, nimg) of x (NCHW, c×h×w planes).
  (func (export "wino_input") (param $tid i32) (param $nt i32)
        (param $x i32) (param $v i32) (param $scratch i32) (param $perThread i32)
        (param $nimg i32) (param $c i32) (param $h i32) (param $w i32) (param $pt i32) (param $pl i32)
        (param $th i32) (param $tw4 i32)
    (local $u i32) (local $u1 i32) (local $img i32) (local $ch i32) (local $T i32)
    (local.set $T (i32.mul (i32.mul (local.get $nimg) (local.get $th)) (local.get $tw4)))
    (local.set $u (call $part (i32.mul (local.get $nimg) (local.get $c)) (local.get $tid) (local.get $nt)))
    (local.set $u1 (call $part (i32.mul (local.get $nimg) (local.get $c)) (i32.add (local.get $tid) (i32.const 1)) (local.get $nt)))
    (block $units_done (loop $units
      (br_if $units_done (i32.ge_s (local.get $u) (local.get $u1)))
      (local.set $img (i32.div_u (local.get $u) (local.get $c)))
      (local.set $ch (i32.rem_u (local.get $u) (local.get $c)))
      (call $in_plane
        (i32.add (local.get $x) (i32.shl (i32.mul (local.get $u) (i32.mul (local.get $h) (local.get $w))) (i32.const 2)))
        (i32.add (local.get $scratch) (i32.mul (local.get $tid) (local.get $perThread)))
        (local.get $h) (local.get $w) (local.get $pt) (local.get $pl) (local.get $th) (local.get $tw4)
        ;; V[0][ch][img·th·tw4]
        (i32.add (local.get $v) (i32.shl (i32.add (i32.mul (local.get $ch) (local.get $T))
                                                  (i32.mul (i32.mul (local.get $img) (local.get $th)) (local.get $tw4))) (i32.const 2)))
        (i32.shl (i32.mul (local.get $c) (local.get $T)) (i32.const 2)) (i32.const 16))
      (local.set $u (i32.add (local.get $u) (i32.const 1)))
      (br $units))))`;
}

/** Y = Aᵀ m A (+ bias, ReLU) for the 4 adjacent tiles whose M values start at $src (ξ stride $ms), into rows of y. */
function outputTile(): string {
  const lines: string[] = [];
  const m = (xi: number): string =>
    `(v128.load ${xi === 0 ? get('src') : `(i32.add ${get('src')} ${xi === 1 ? get('ms') : `(i32.mul ${get('ms')} ${i32(xi)})`})`})`;
  // (Aᵀ m) rows, column k: s0k = m0k + m1k + m2k, s1k = m1k − m2k − m3k
  for (let k = 0; k < 4; k++) {
    lines.push(`(local.set $m0 ${m(k)}) (local.set $m1 ${m(4 + k)}) (local.set $m2 ${m(8 + k)}) (local.set $m3 ${m(12 + k)})`);
    lines.push(`(local.set $s0${k} ${add(add(get('m0'), get('m1')), get('m2'))})`);
    lines.push(`(local.set $s1${k} ${sub(sub(get('m1'), get('m2')), get('m3'))})`);
  }
  for (let a = 0; a < 2; a++) {
    const s = (k: number): string => get(`s${a}${k}`);
    // (Aᵀ m) A: ya0 = sa0 + sa1 + sa2, ya1 = sa1 − sa2 − sa3; + bias; ReLU when asked
    lines.push(`(local.set $y0 ${add(add(add(s(0), s(1)), s(2)), get('bv'))})`);
    lines.push(`(local.set $y1 ${add(sub(sub(s(1), s(2)), s(3)), get('bv'))})`);
    lines.push(`(if ${get('relu')} (then
              (local.set $y0 (f32x4.max (local.get $y0) (v128.const f32x4 0 0 0 0)))
              (local.set $y1 (f32x4.max (local.get $y1) (v128.const f32x4 0 0 0 0)))))`);
    // output row 2ty + a, columns 2tx .. 2tx + 7: y0[0] y1[0] y0[1] y1[1] | y0[2] y1[2] y0[3] y1[3]
    lines.push(`(local.set $lo ${shuffle32(get('y0'), get('y1'), [0, 4, 1, 5])})`);
    lines.push(`(local.set $hi ${shuffle32(get('y0'), get('y1'), [2, 6, 3, 7])})`);
    const lanes = [0, 1, 2, 3].map((j) => `(if (i32.gt_s ${get('left')} ${i32(j)}) (then (f32.store offset=${4 * j} ${get('dst')} (f32x4.extract_lane ${j} ${get('lo')}))))`);
    const lanesHi = [0, 1, 2, 3].map((j) => `(if (i32.gt_s ${get('left')} ${i32(4 + j)}) (then (f32.store offset=${16 + 4 * j} ${get('dst')} (f32x4.extract_lane ${j} ${get('hi')}))))`);
    lines.push(`(if (i32.lt_s (i32.add (local.get $oy) ${i32(a)}) (local.get $oh))
            (then
              (if (i32.ge_s ${get('left')} (i32.const 8))
                (then (v128.store ${get('dst')} ${get('lo')}) (v128.store offset=16 ${get('dst')} ${get('hi')}))
                (else ${lanes.join(' ')} ${lanesHi.join(' ')}))))`);
    if (a === 0) lines.push(`(local.set $dst (i32.add ${get('dst')} (i32.shl ${get('ow')} (i32.const 2))))`);
  }
  return lines.join('\n            ');
}

function outputPlane(): string {
  return `
  ;; The tile rows [0, rows) (M values at $src + ξ·$ms, row ty at $src + ty·tw4·4) into output rows
  ;; 2·ty0 + ... of the oh×ow plane at $plane (oy is 2·ty0): Aᵀ m A + bias $bv, ReLU when $relu.
  (func $out_plane (param $src i32) (param $ms i32) (param $plane i32) (param $oy i32) (param $oh i32) (param $ow i32)
                   (param $rows i32) (param $tw4 i32) (param $bv v128) (param $relu i32)
    (local $ty i32) (local $tx i32) (local $left i32) (local $dst i32)
    (local $m0 v128) (local $m1 v128) (local $m2 v128) (local $m3 v128)
    (local $s00 v128) (local $s01 v128) (local $s02 v128) (local $s03 v128)
    (local $s10 v128) (local $s11 v128) (local $s12 v128) (local $s13 v128)
    (local $y0 v128) (local $y1 v128) (local $lo v128) (local $hi v128)
    ${outputWalk(2, outputTile())})`;
}

/** The bias of output channel $ch as an f32x4 (zero without WINO_BIAS). */
const biasSplat = `(if (result v128) (i32.and (local.get $flags) ${i32(WINO_BIAS)})
        (then (v128.load32_splat (i32.add (local.get $bias) (i32.shl (local.get $ch) (i32.const 2)))))
        (else (v128.const i32x4 0 0 0 0)))`;

function outputEntry(): string {
  return `
  ;; wino_output: y[img][o] = Aᵀ M A (+ bias[o]) (ReLU) for images [0, nimg), y NCHW with o×oh×ow planes.
  (func (export "wino_output") (param $tid i32) (param $nt i32)
        (param $m i32) (param $y i32) (param $bias i32) (param $flags i32)
        (param $nimg i32) (param $o i32) (param $oh i32) (param $ow i32) (param $th i32) (param $tw4 i32)
    (local $u i32) (local $u1 i32) (local $img i32) (local $ch i32) (local $T i32)
    (local.set $T (i32.mul (i32.mul (local.get $nimg) (local.get $th)) (local.get $tw4)))
    (local.set $u (call $part (i32.mul (local.get $nimg) (local.get $o)) (local.get $tid) (local.get $nt)))
    (local.set $u1 (call $part (i32.mul (local.get $nimg) (local.get $o)) (i32.add (local.get $tid) (i32.const 1)) (local.get $nt)))
    (block $units_done (loop $units
      (br_if $units_done (i32.ge_s (local.get $u) (local.get $u1)))
      (local.set $img (i32.div_u (local.get $u) (local.get $o)))
      (local.set $ch (i32.rem_u (local.get $u) (local.get $o)))
      (call $out_plane
        ;; M[0][ch][img·th·tw4]
        (i32.add (local.get $m) (i32.shl (i32.add (i32.mul (local.get $ch) (local.get $T))
                                                  (i32.mul (i32.mul (local.get $img) (local.get $th)) (local.get $tw4))) (i32.const 2)))
        (i32.shl (i32.mul (local.get $o) (local.get $T)) (i32.const 2))
        (i32.add (local.get $y) (i32.shl (i32.mul (local.get $u) (i32.mul (local.get $oh) (local.get $ow))) (i32.const 2)))
        (i32.const 0) (local.get $oh) (local.get $ow) (local.get $th) (local.get $tw4)
        ${biasSplat}
        (i32.and (local.get $flags) ${i32(WINO_RELU)}))
      (local.set $u (i32.add (local.get $u) (i32.const 1)))
      (br $units))))`;
}

/**
 * wino_fwd: the whole convolution, fused per thread. Units = (image, block of `rows` tile rows),
 * taken from the atomic counter at $counter: the input transform of the block into V (16 × cin ×
 * TB, TB = rows·tw4 tiles), 16 serial GEMMs M_ξ = U_ξ · V_ξ, the output transform into y, all in
 * the thread's scratch (GEMM packing, then V, M, the padded rows), so V and M stay in cache.
 */
function fusedEntry(suffix: string, m: 2 | 4 = 2): string {
  // F(m×m, 3×3): tiles of m×m outputs from (m+2)×(m+2) inputs, X = (m+2)² transformed positions ξ
  const X = (m + 2) * (m + 2);
  const sh = m === 2 ? 1 : 2; // log2 m
  const inPlane = m === 2 ? '$in_plane' : '$in_plane6';
  const outPlane = m === 2 ? '$out_plane' : '$out_plane6';
  return `
  (func (export "wino_fwd${m === 2 ? '' : '4'}${suffix}") (param $tid i32) (param $nt i32)
        (param $x i32) (param $u i32) (param $bias i32) (param $y i32) (param $flags i32)
        (param $n i32) (param $cin i32) (param $h i32) (param $w i32) (param $cout i32) (param $oh i32) (param $ow i32)
        (param $pt i32) (param $pl i32) (param $th i32) (param $tw4 i32) (param $brows i32)
        (param $counter i32) (param $scratch i32) (param $perThread i32) (param $packed i32)
    (local $blocks i32) (local $unit i32) (local $img i32) (local $ty0 i32) (local $rows i32) (local $TB i32)
    (local $gs i32) (local $v i32) (local $m i32) (local $buf i32) (local $vs i32) (local $ms i32) (local $xi i32) (local $ch i32)
    (local $ust i32) (local $step2 i32) (local $cstep i32) (local $gflags i32) (local $half i32)
    (local.set $gs (i32.add (local.get $scratch) (i32.mul (local.get $tid) (local.get $perThread))))
    (local.set $v (i32.add (local.get $gs) ${i32(GEMM_SCRATCH_BYTES)}))
    ;; V and M hold X·cin and X·cout rows of brows·tw4 tiles (V's rounded up to whole NR-tile slivers), X = (m + 2)²
    (local.set $m (i32.add (local.get $v) (i32.add (i32.shl (i32.mul (i32.mul (local.get $cin) ${i32(X)})
      (i32.and (i32.add (i32.mul (local.get $brows) (local.get $tw4)) (i32.const 7)) (i32.const -8))) (i32.const 2)) ${i32(X * XI_PAD)})))
    ;; packed: U_ξ is in MR-row slivers (⌈cout/4⌉·4 rows), V_ξ written in NR-tile slivers, the GEMMs pack nothing
    ;; U_ξ's stride in floats: its plane and XI_PAD (kernels/wasm/winograd.ts uSize)
    (local.set $ust (i32.add (select (i32.mul (i32.and (i32.add (local.get $cout) (i32.const 3)) (i32.const -4)) (local.get $cin))
                                     (i32.mul (local.get $cout) (local.get $cin)) (local.get $packed)) ${i32(XI_PAD / 4)}))
    (local.set $step2 (select (i32.sub (i32.shl (local.get $cin) (i32.const 5)) (i32.const 16)) (i32.const 16) (local.get $packed)))
    (local.set $gflags (select ${i32(GEMM_A_PACKED | GEMM_B_PACKED)} (i32.const 0) (local.get $packed)))
    (local.set $buf (i32.add (local.get $m) (i32.add (i32.shl (i32.mul (i32.mul (local.get $cout) ${i32(X)}) (i32.mul (local.get $brows) (local.get $tw4))) (i32.const 2)) ${i32(X * XI_PAD)})))
    (local.set $blocks (i32.div_u (i32.add (local.get $th) (i32.sub (local.get $brows) (i32.const 1))) (local.get $brows)))
    (block $done (loop $work
      (local.set $unit (i32.atomic.rmw.add (local.get $counter) (i32.const 1)))
      (br_if $done (i32.ge_u (local.get $unit) (i32.mul (local.get $n) (local.get $blocks))))
      (local.set $img (i32.div_u (local.get $unit) (local.get $blocks)))
      (local.set $ty0 (i32.mul (i32.rem_u (local.get $unit) (local.get $blocks)) (local.get $brows)))
      (local.set $rows (i32.sub (local.get $th) (local.get $ty0)))
      (if (i32.gt_s (local.get $rows) (local.get $brows)) (then (local.set $rows (local.get $brows))))
      (local.set $TB (i32.mul (local.get $rows) (local.get $tw4)))
      (local.set $vs (i32.add (i32.shl (i32.mul (local.get $cin) (i32.and (i32.add (local.get $TB) (i32.const 7)) (i32.const -8))) (i32.const 2)) ${i32(XI_PAD)}))
      (local.set $ms (i32.add (i32.shl (i32.mul (local.get $cout) (local.get $TB)) (i32.const 2)) ${i32(XI_PAD)}))
      ;; channel c's first group: V[ξ][c][0..TB) at c·TB·4, or packed at c·NR·4 (sliver 0, row k = c)
      (local.set $cstep (select (i32.const 32) (i32.shl (local.get $TB) (i32.const 2)) (local.get $packed)))
      ;; V[ξ][c][0..TB)
      (local.set $ch (i32.const 0))
      (block $in_done (loop $in
        (br_if $in_done (i32.ge_s (local.get $ch) (local.get $cin)))
        (call ${inPlane}
          (i32.add (local.get $x) (i32.shl (i32.mul (i32.add (i32.mul (local.get $img) (local.get $cin)) (local.get $ch))
                                                    (i32.mul (local.get $h) (local.get $w))) (i32.const 2)))
          (local.get $buf) (local.get $h) (local.get $w)
          (i32.sub (local.get $pt) (i32.shl (local.get $ty0) ${i32(sh)})) (local.get $pl)
          (local.get $rows) (local.get $tw4)
          (i32.add (local.get $v) (i32.mul (local.get $ch) (local.get $cstep)))
          (local.get $vs) (local.get $step2))
        (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
        (br $in)))
      ;; packed, TB ≡ 4 (mod 8): the last sliver's upper 4 tiles are padding, zero for every ξ and c
      (if (i32.and (local.get $packed) (i32.and (local.get $TB) (i32.const 4))) (then
        (local.set $half (i32.add (local.get $v) (i32.add (i32.shl (i32.mul (i32.shr_u (local.get $TB) (i32.const 3)) (local.get $cin)) (i32.const 5)) (i32.const 16))))
        (local.set $xi (i32.const 0))
        (block $z_done (loop $zx
          (br_if $z_done (i32.ge_s (local.get $xi) ${i32(X)}))
          (local.set $ch (i32.const 0))
          (block $zc_done (loop $zc
            (br_if $zc_done (i32.ge_s (local.get $ch) (local.get $cin)))
            (v128.store (i32.add (i32.add (local.get $half) (i32.mul (local.get $xi) (local.get $vs))) (i32.shl (local.get $ch) (i32.const 5)))
                        (v128.const i32x4 0 0 0 0))
            (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
            (br $zc)))
          (local.set $xi (i32.add (local.get $xi) (i32.const 1)))
          (br $zx)))))
      ;; M_ξ (cout × TB) = U_ξ (cout × cin) · V_ξ (cin × TB)
      (local.set $xi (i32.const 0))
      (block $g_done (loop $g
        (br_if $g_done (i32.ge_s (local.get $xi) ${i32(X)}))
        (call $gemm_serial (local.get $cout) (local.get $TB) (local.get $cin)
          (i32.add (local.get $u) (i32.shl (i32.mul (local.get $xi) (local.get $ust)) (i32.const 2))) (local.get $cin) (i32.const 1)
          (i32.add (local.get $v) (i32.mul (local.get $xi) (local.get $vs))) (local.get $TB) (i32.const 1)
          (i32.add (local.get $m) (i32.mul (local.get $xi) (local.get $ms))) (local.get $TB)
          (local.get $gflags) (i32.const 0) (i32.const 0) (local.get $gs))
        (local.set $xi (i32.add (local.get $xi) (i32.const 1)))
        (br $g)))
      ;; y[img][ch][2·ty0 ..]
      (local.set $ch (i32.const 0))
      (block $out_done (loop $out
        (br_if $out_done (i32.ge_s (local.get $ch) (local.get $cout)))
        ;; F(4×4) also hands the output transform the last 512 bytes of the thread's scratch
        (call ${outPlane}
          (i32.add (local.get $m) (i32.shl (i32.mul (local.get $ch) (local.get $TB)) (i32.const 2)))
          (local.get $ms)
          (i32.add (local.get $y) (i32.shl (i32.mul (i32.add (i32.mul (local.get $img) (local.get $cout)) (local.get $ch))
                                                    (i32.mul (local.get $oh) (local.get $ow))) (i32.const 2)))
          (i32.shl (local.get $ty0) ${i32(sh)}) (local.get $oh) (local.get $ow) (local.get $rows) (local.get $tw4)
          ${biasSplat}
          (i32.and (local.get $flags) ${i32(WINO_RELU)})${m === 4 ? ' (i32.sub (i32.add (local.get $gs) (local.get $perThread)) (i32.const 512))' : ''})
        (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
        (br $out)))
      (br $work))))`;
}


// ---- F(4×4, 3×3): 4×4 output tiles from 6×6 input tiles, 36 positions ξ -----------------------
//   Bᵀ = [4  0 −5  0 1 0]   G = [ 1/4     0     0 ]   Aᵀ = [1 1  1 1  1 0]
//        [0 −4 −4  1 1 0]       [−1/6  −1/6  −1/6 ]        [0 1 −1 2 −2 0]
//        [0  4 −4 −1 1 0]       [−1/6   1/6  −1/6 ]        [0 1  1 4  4 0]
//        [0 −2 −1  2 1 0]       [1/24  1/12   1/6 ]        [0 1 −1 8 −8 1]
//        [0  2 −1 −2 1 0]       [1/24 −1/12   1/6 ]
//        [0  4  0 −5 0 1]       [ 0      0     1  ]
// 36 multiplies per 16 outputs against F(2×2, 3×3)'s 16 per 4: the GEMMs shrink to 9/16. The
// wider transforms round more often (docs/winograd.md), so the forward takes it only for planes of
// at least 16×16 outputs (winogradTuning.tile4MinSize), where the 4-tile vectors are whole.

const mulc = (x: string, c: number): string => `(f32x4.mul ${x} (v128.const f32x4 ${c} ${c} ${c} ${c}))`;

/** Bᵀ z for a column of six vectors z0..z5 (the same formulas serve rows and columns). */
function bt6(z: readonly string[]): string[] {
  const [z0, z1, z2, z3, z4, z5] = z as [string, string, string, string, string, string];
  return [
    add(sub(mulc(z0, 4), mulc(z2, 5)), z4),
    sub(add(z3, z4), mulc(add(z1, z2), 4)),
    add(sub(z4, z3), mulc(sub(z1, z2), 4)),
    add(sub(z4, z2), mulc(sub(z3, z1), 2)),
    sub(sub(z4, z2), mulc(sub(z3, z1), 2)),
    add(sub(mulc(z1, 4), mulc(z3, 5)), z5),
  ];
}

/**
 * V = Bᵀ d B for the 4 adjacent tiles whose top-left input float is at $p (tile k at column 4k,
 * padded rows $rs bytes apart), stored at $out + ξ·$vs (ξ = 6i + j). Bᵀ first, on the raw rows
 * (five vectors: floats 0-19 of each row), one row e_i of Bᵀ d at a time; column j of the 4 tiles
 * (floats 4k + j) is a 4×4 transpose of e_i's first four vectors for j < 4, and lanes 0 and 1 of
 * its vectors 1-4 for j = 4, 5.
 */
function inputTile6(): string {
  const lines: string[] = [`(local.set $sp ${get('out')})`];
  const rowAt = (r: number): string => (r === 0 ? get('p') : `(i32.add ${get('p')} ${get(r === 1 ? 'rs' : `rs${r}`)})`);
  for (let i = 0; i < 6; i++) {
    for (let v = 0; v < 5; v++) {
      const R = [0, 1, 2, 3, 4, 5].map((r) => `(v128.load offset=${16 * v} ${rowAt(r)})`);
      lines.push(`(local.set $e${v} ${bt6(R)[i]})`);
    }
    lines.push(transpose4(['e0', 'e1', 'e2', 'e3'], ['c0', 'c1', 'c2', 'c3']));
    lines.push(`(local.set $u0 ${shuffle32(get('e1'), get('e2'), [0, 4, 1, 5])})`);
    lines.push(`(local.set $u1 ${shuffle32(get('e3'), get('e4'), [0, 4, 1, 5])})`);
    lines.push(`(local.set $c4 ${shuffle32(get('u0'), get('u1'), [0, 1, 4, 5])})`);
    lines.push(`(local.set $c5 ${shuffle32(get('u0'), get('u1'), [2, 3, 6, 7])})`);
    for (const v of bt6(['c0', 'c1', 'c2', 'c3', 'c4', 'c5'].map(get))) {
      lines.push(`(v128.store ${get('sp')} ${v}) (local.set $sp (i32.add ${get('sp')} ${get('vs')}))`);
    }
  }
  return lines.join('\n            ');
}

function inputPlane6(): string {
  return `
  ;; $in_plane for F(4×4, 3×3): V[ξ][t] for the tile rows [0, rows) (tile row ty from padded row 4·ty),
  ;; the plane padded through $buf (4·rows + 2 rows of 4·tw4 + 2 floats, read up to 2 floats past
  ;; a row's end: the caller leaves slack after $buf); $step2 as in $in_plane.
  (func $in_plane6 (param $src i32) (param $buf i32) (param $h i32) (param $w i32) (param $pt i32) (param $pl i32)
                   (param $rows i32) (param $tw4 i32) (param $out i32) (param $vs i32) (param $step2 i32)
    ${inputWalkLocals(4)}
    (local $e0 v128) (local $e1 v128) (local $e2 v128) (local $e3 v128) (local $e4 v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128) (local $c4 v128) (local $c5 v128)
    (local $u0 v128) (local $u1 v128) (local $u2 v128) (local $u3 v128)
    ${inputWalk(4, inputTile6())})`;
}

/**
 * Y = Aᵀ m A (+ bias, ReLU) for the 4 adjacent tiles whose M values start at $src (ξ = 6r + k,
 * stride $ms), one output row i at a time: s_k = (Aᵀ m)_{i,k} over k, then y_j = (s A)_j folded in
 * as each s_k is made, and a 4×4 transpose turns (y0..y3) over the tiles into 16 consecutive
 * output floats (tile k's columns 4k..4k+3).
 */
function outputTile6(): string {
  const lines: string[] = [];
  // m(6r + k): column k walks from $src by $ms, row r is r·6·$ms further (locals $r1..$r5)
  const m = (xi: number): string => {
    const r = Math.floor(xi / 6);
    return `(v128.load ${r === 0 ? get('pk') : `(i32.add ${get('pk')} ${get(`r${r}`)})`})`;
  };
  // pass 1: T[i][k] = (Aᵀ m)_{i,k} for the 6 columns k into the 24 vectors at $tb, column by column
  for (let k = 0; k < 6; k++) {
    lines.push(`(local.set $pk ${k === 0 ? get('src') : `(i32.add ${get('src')} ${get(`k${k}`)})`})`);
    lines.push(`(local.set $m0 ${m(0)}) (local.set $m1 ${m(6)}) (local.set $m2 ${m(12)}) (local.set $m3 ${m(18)}) (local.set $m4 ${m(24)}) (local.set $m5 ${m(30)})`);
    const [m0, m1, m2, m3, m4, m5] = [0, 1, 2, 3, 4, 5].map((r) => get(`m${r}`)) as [string, string, string, string, string, string];
    const t = [add(add(add(m0, m1), add(m2, m3)), m4), add(sub(m1, m2), mulc(sub(m3, m4), 2)), add(add(m1, m2), mulc(add(m3, m4), 4)), add(add(sub(m1, m2), mulc(sub(m3, m4), 8)), m5)];
    for (let i = 0; i < 4; i++) lines.push(`(v128.store offset=${16 * (6 * i + k)} ${get('tb')} ${t[i]})`);
  }
  // pass 2, per output row i: s_k = T[i][k]
  const aRow = (i: number, k: number): string => `(v128.load offset=${16 * (6 * i + k)} ${get('tb')})`;
  for (let i = 0; i < 4; i++) {
    const s = (k: number): string => `(local.set $s${k} ${aRow(i, k)})`;
    const yLines = [
      s(0), s(1), s(2),
      `(local.set $y0 ${add(add(get('s0'), get('s1')), get('s2'))}) (local.set $y1 ${sub(get('s1'), get('s2'))})`,
      `(local.set $y2 ${add(get('s1'), get('s2'))}) (local.set $y3 ${sub(get('s1'), get('s2'))})`,
      s(3), s(4),
      `(local.set $y0 ${add(get('y0'), add(get('s3'), get('s4')))}) (local.set $y1 ${add(get('y1'), mulc(sub(get('s3'), get('s4')), 2))})`,
      `(local.set $y2 ${add(get('y2'), mulc(add(get('s3'), get('s4')), 4))}) (local.set $y3 ${add(get('y3'), mulc(sub(get('s3'), get('s4')), 8))})`,
      s(5),
      `(local.set $y3 ${add(get('y3'), get('s5'))})`,
      ...[0, 1, 2, 3].map((j) => `(local.set $y${j} ${add(get(`y${j}`), get('bv'))})`),
      `(if ${get('relu')} (then ${[0, 1, 2, 3].map((j) => `(local.set $y${j} (f32x4.max ${get(`y${j}`)} (v128.const f32x4 0 0 0 0)))`).join(' ')}))`,
      transpose4(['y0', 'y1', 'y2', 'y3'], ['t0', 't1', 't2', 't3']),
    ];
    const lanes = [0, 1, 2, 3].flatMap((k) =>
      [0, 1, 2, 3].map((j) => `(if (i32.gt_s ${get('left')} ${i32(4 * k + j)}) (then (f32.store offset=${16 * k + 4 * j} ${get('dst')} (f32x4.extract_lane ${j} ${get(`t${k}`)}))))`),
    );
    lines.push(`(if (i32.lt_s (i32.add (local.get $oy) ${i32(i)}) (local.get $oh))
            (then
              ${yLines.join('\n              ')}
              (if (i32.ge_s ${get('left')} (i32.const 16))
                (then ${[0, 1, 2, 3].map((k) => `(v128.store offset=${16 * k} ${get('dst')} ${get(`t${k}`)})`).join(' ')})
                (else ${lanes.join(' ')}))))`);
    if (i < 3) lines.push(`(local.set $dst (i32.add ${get('dst')} (i32.shl ${get('ow')} (i32.const 2))))`);
  }
  return lines.join('\n            ');
}

function outputPlane6(): string {
  return `
  ;; $out_plane for F(4×4, 3×3): tile row ty into output rows oy + 4·ty .. + 3 (those below oh skipped);
  ;; $tb: 384 bytes of the thread's scratch for Aᵀ m of one group of 4 tiles.
  (func $out_plane6 (param $src i32) (param $ms i32) (param $plane i32) (param $oy i32) (param $oh i32) (param $ow i32)
                    (param $rows i32) (param $tw4 i32) (param $bv v128) (param $relu i32) (param $tb i32)
    (local $ty i32) (local $tx i32) (local $left i32) (local $dst i32) (local $pk i32)
    (local $k1 i32) (local $k2 i32) (local $k3 i32) (local $k4 i32) (local $k5 i32)
    (local $r1 i32) (local $r2 i32) (local $r3 i32) (local $r4 i32) (local $r5 i32)
    (local $m0 v128) (local $m1 v128) (local $m2 v128) (local $m3 v128) (local $m4 v128) (local $m5 v128)
    (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $s4 v128) (local $s5 v128)
    (local $y0 v128) (local $y1 v128) (local $y2 v128) (local $y3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local $u0 v128) (local $u1 v128) (local $u2 v128) (local $u3 v128)
    ;; k·ms (column k) and 6·r·ms (row r), once
    (local.set $k1 (local.get $ms))
    ${[2, 3, 4, 5].map((k) => `(local.set $k${k} (i32.add (local.get $k${k - 1}) (local.get $ms)))`).join(' ')}
    (local.set $r1 (i32.mul (local.get $ms) (i32.const 6)))
    ${[2, 3, 4, 5].map((r) => `(local.set $r${r} (i32.add (local.get $r${r - 1}) (local.get $r1)))`).join(' ')}
    ${outputWalk(4, outputTile6())})`;
}

/**
 * E = A dY Aᵀ (4×4 from a 2×2 tile of dy; A = [[1,0],[1,1],[1,−1],[0,−1]]) for the 4 adjacent
 * tiles whose top-left dy float is at $p (padded rows $rs bytes apart), stored at $out + ξ·$es.
 */
function gradTile(): string {
  const lines: string[] = [];
  for (let a = 0; a < 2; a++) {
    const row = a === 0 ? get('p') : `(i32.add ${get('p')} ${get('rs')})`;
    lines.push(`(local.set $ra (v128.load ${row}))`);
    lines.push(`(local.set $rb (v128.load offset=16 ${row}))`);
    // columns 0 and 1 of the 4 tiles: floats 2k and 2k + 1
    lines.push(`(local.set $c${a}0 ${shuffle32(get('ra'), get('rb'), [0, 2, 4, 6])})`);
    lines.push(`(local.set $c${a}1 ${shuffle32(get('ra'), get('rb'), [1, 3, 5, 7])})`);
  }
  const zero = '(v128.const i32x4 0 0 0 0)';
  // (dY Aᵀ) row a: ca0, ca0 + ca1, ca0 − ca1, −ca1
  const r = (a: number, k: number): string => {
    const c0 = get(`c${a}0`);
    const c1 = get(`c${a}1`);
    return [c0, add(c0, c1), sub(c0, c1), sub(zero, c1)][k] as string;
  };
  for (let k = 0; k < 4; k++) {
    lines.push(`(local.set $r0 ${r(0, k)}) (local.set $r1 ${r(1, k)})`);
    // A (dY Aᵀ), column k: rows r0, r0 + r1, r0 − r1, −r1
    const rows = [get('r0'), add(get('r0'), get('r1')), sub(get('r0'), get('r1')), sub(zero, get('r1'))];
    rows.forEach((v, i) => {
      const xi = 4 * i + k;
      const at = xi === 0 ? get('out') : `(i32.add ${get('out')} ${xi === 1 ? get('es') : `(i32.mul ${get('es')} ${i32(xi)})`})`;
      lines.push(`(v128.store ${at} ${v})`);
    });
  }
  return lines.join('\n            ');
}

/**
 * The dY transform's walk over a block, for F(m×m, 3×3): the block's m·rows dy rows, padded through
 * $buf to m·rows × m·tw4 (dy is 0 past the plane: those tiles add nothing) unless they are whole
 * already (ow = m·tw4, m·rows rows left: read in place); then per tile row ty and group of 4 tiles
 * `tile`, with $p at the group's top-left float ($rs bytes a row), $out 16 bytes on per group.
 * `rowOffsets` runs once $rs is known (the offsets of further rows a tile reads). Uses the locals
 * $wp $rs $ty $tx $p.
 */
function gradWalk(m: 2 | 4, tile: string, rowOffsets = ''): string {
  const sh = m === 2 ? 1 : 2;
  return `
    (local.set $wp (i32.shl (local.get $tw4) (i32.const ${sh})))
    (local.set $rs (i32.shl (local.get $wp) (i32.const 2)))
    ${rowOffsets}
    (if (i32.and (i32.eq (local.get $ow) (local.get $wp)) (i32.ge_s (local.get $oh) (i32.shl (local.get $rows) (i32.const ${sh}))))
      (then (local.set $buf (local.get $src)))
      (else
        (call $pad_plane (local.get $src) (local.get $buf) (local.get $oh) (local.get $ow) (i32.const 0) (i32.const 0)
          (i32.shl (local.get $rows) (i32.const ${sh})) (local.get $wp))))
    (block $rows_done (loop $rows
      (br_if $rows_done (i32.ge_s (local.get $ty) (local.get $rows)))
      (local.set $p (i32.add (local.get $buf) (i32.mul (i32.shl (local.get $ty) (i32.const ${sh})) (local.get $rs))))
      (local.set $tx (i32.const 0))
      (block $cols_done (loop $cols
        (br_if $cols_done (i32.ge_s (local.get $tx) (local.get $tw4)))
          ${tile}
        (local.set $p (i32.add (local.get $p) (i32.const ${16 * m})))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (local.set $tx (i32.add (local.get $tx) (i32.const 4)))
        (br $cols)))
      (local.set $ty (i32.add (local.get $ty) (i32.const 1)))
      (br $rows)))`;
}

function gradPlane(): string {
  return `
  ;; E[ξ][t] (at $out + ξ·$es bytes, tile row ty at $out + ty·tw4·4) = (A dY Aᵀ)_ξ for the tile rows
  ;; [0, rows) of the oh×ow dy plane at $src (already at the block's first row): gradWalk(2).
  (func $grad_plane (param $src i32) (param $buf i32) (param $oh i32) (param $ow i32)
                    (param $rows i32) (param $tw4 i32) (param $out i32) (param $es i32)
    (local $wp i32) (local $rs i32) (local $ty i32) (local $tx i32) (local $p i32)
    (local $ra v128) (local $rb v128) (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $r0 v128) (local $r1 v128)
    ${gradWalk(2, gradTile())})`;
}

/**
 * A times a column (or row) d0..d3 of a 4×4 dY tile, for F(4×4, 3×3): A = (Aᵀ)ᵀ with Aᵀ the
 * output transform's [[1,1,1,1,1,0],[0,1,−1,2,−2,0],[0,1,1,4,4,0],[0,1,−1,8,−8,1]], so
 * (d0, d0+d1+d2+d3, d0−d1+d2−d3, d0+2d1+4d2+8d3, d0−2d1+4d2−8d3, d3), with the shared sums once.
 */
function at6(d: readonly string[]): string[] {
  const [d0, d1, d2, d3] = d as [string, string, string, string];
  const even = add(d0, d2);
  const odd = add(d1, d3);
  const even4 = add(d0, mulc(d2, 4));
  const odd8 = add(mulc(d1, 2), mulc(d3, 8));
  return [d0, add(even, odd), sub(even, odd), add(even4, odd8), sub(even4, odd8), d3];
}

/**
 * E = A dY Aᵀ (6×6 from a 4×4 tile of dy) for the 4 adjacent tiles whose top-left dy float is at
 * $p (tile k at column 4k, padded rows $rs bytes apart), stored at $out + ξ·$es (ξ = 6i + j).
 * Two passes through the 384 bytes at $tb, as the output transform: per dy row a, a 4×4 transpose
 * gives column j of the 4 tiles and A its six combinations (dY Aᵀ, row a); then per column j of
 * that, A down the four rows.
 */
function gradTile6(): string {
  const lines: string[] = [];
  for (let a = 0; a < 4; a++) {
    const row = a === 0 ? get('p') : `(i32.add ${get('p')} ${get(a === 1 ? 'rs' : `rs${a}`)})`;
    for (let v = 0; v < 4; v++) lines.push(`(local.set $d${v} (v128.load offset=${16 * v} ${row}))`);
    lines.push(transpose4(['d0', 'd1', 'd2', 'd3'], ['c0', 'c1', 'c2', 'c3']));
    at6(['c0', 'c1', 'c2', 'c3'].map(get)).forEach((v, j) => {
      lines.push(`(v128.store offset=${16 * (6 * a + j)} ${get('tb')} ${v})`);
    });
  }
  for (let j = 0; j < 6; j++) {
    for (let a = 0; a < 4; a++) lines.push(`(local.set $d${a} (v128.load offset=${16 * (6 * a + j)} ${get('tb')}))`);
    at6(['d0', 'd1', 'd2', 'd3'].map(get)).forEach((v, i) => {
      const xi = 6 * i + j;
      const at = xi === 0 ? get('out') : `(i32.add ${get('out')} (i32.mul ${get('es')} ${i32(xi)}))`;
      lines.push(`(v128.store ${at} ${v})`);
    });
  }
  return lines.join('\n            ');
}

function gradPlane6(): string {
  return `
  ;; $grad_plane for F(4×4, 3×3): tile row ty from dy row 4·ty (gradWalk(4)); $tb: 384 bytes of the
  ;; thread's scratch.
  (func $grad_plane6 (param $src i32) (param $buf i32) (param $oh i32) (param $ow i32)
                     (param $rows i32) (param $tw4 i32) (param $out i32) (param $es i32) (param $tb i32)
    (local $wp i32) (local $rs i32) (local $rs2 i32) (local $rs3 i32) (local $ty i32) (local $tx i32) (local $p i32)
    (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $d3 v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (local $u0 v128) (local $u1 v128) (local $u2 v128) (local $u3 v128)
    ${gradWalk(4, gradTile6(), '(local.set $rs2 (i32.shl (local.get $rs) (i32.const 1))) (local.set $rs3 (i32.add (local.get $rs2) (local.get $rs)))')})`;
}

/**
 * wino_bwd_weight: Z_ξ (cout × cin) = Σ_tiles E_ξ · V_ξᵀ, E = A dY Aᵀ, V = Bᵀ d B, from which the
 * caller makes dW = Gᵀ Z G (differentiating Y = Aᵀ[(G g Gᵀ) ⊙ V]A: ∂L/∂g = Gᵀ[(A dY Aᵀ) ⊙ V]G).
 * Units: $ipb whole images (when $brows = th) or one image's block of $brows tile rows. They are
 * cut into $parts fixed partial sums (partial p sums units [part(units, p, parts), part(units, p + 1,
 * parts)) in order), and the threads share out the partials, not the units: the numbers added and
 * their order depend on $parts alone, so 1, 2 or n threads give the same bits. A thread sums a
 * partial into the Z of its scratch (16·cout·cin floats after the GEMM's; then E, V and the padded
 * rows) and copies it to $zout + p·16·cout·cin floats; the caller adds the partials in order.
 * wino_bwd_weight4 is the same for F(4×4, 3×3): 36 ξ, 6×6 input tiles ($in_plane6), E from 4×4 dy
 * tiles ($grad_plane6, whose two passes use the 384 bytes at $tbOff in the thread's scratch).
 */
function gradEntry(suffix: string, m: 2 | 4 = 2): string {
  const X = (m + 2) * (m + 2);
  const sh = m === 2 ? 1 : 2;
  const inPlane = m === 2 ? '$in_plane' : '$in_plane6';
  return `
  (func (export "wino_bwd_weight${m === 2 ? '' : '4'}${suffix}") (param $tid i32) (param $nt i32)
        (param $x i32) (param $dy i32)
        (param $n i32) (param $cin i32) (param $h i32) (param $w i32) (param $cout i32) (param $oh i32) (param $ow i32)
        (param $pt i32) (param $pl i32) (param $th i32) (param $tw4 i32) (param $brows i32) (param $ipb i32)
        (param $scratch i32) (param $perThread i32) (param $parts i32) (param $zout i32) (param $tbOff i32)
    (local $blocks i32) (local $units i32) (local $unit i32) (local $u1 i32) (local $img0 i32) (local $ni i32) (local $i i32)
    (local $p i32) (local $p1 i32) (local $zn i32)
    (local $ty0 i32) (local $rows i32) (local $TB i32) (local $pt0 i32)
    (local $gs i32) (local $z i32) (local $v i32) (local $e i32) (local $buf i32) (local $vs i32) (local $es i32)
    (local $xi i32) (local $ch i32) (local $tb i32) (local $tbuf i32)
    (local.set $gs (i32.add (local.get $scratch) (i32.mul (local.get $tid) (local.get $perThread))))
    (local.set $z (i32.add (local.get $gs) ${i32(GEMM_SCRATCH_BYTES)}))
    (local.set $v (i32.add (local.get $z) (i32.shl (i32.mul (i32.mul (local.get $cout) (local.get $cin)) ${i32(X)}) (i32.const 2))))
    (local.set $tbuf (i32.add (local.get $gs) (local.get $tbOff)))
    ;; V and E hold X·cin and X·cout rows of ipb·brows·tw4 tiles, X = (m + 2)²; F(4×4)'s E transform uses $tbOff bytes into the scratch
    (local.set $tb (i32.mul (i32.mul (local.get $ipb) (local.get $brows)) (local.get $tw4)))
    (local.set $e (i32.add (local.get $v) (i32.add (i32.shl (i32.mul (i32.mul (local.get $cin) ${i32(X)}) (local.get $tb)) (i32.const 2)) ${i32(X * XI_PAD)})))
    (local.set $buf (i32.add (local.get $e) (i32.add (i32.shl (i32.mul (i32.mul (local.get $cout) ${i32(X)}) (local.get $tb)) (i32.const 2)) ${i32(X * XI_PAD)})))
    (local.set $blocks (i32.div_u (i32.add (local.get $th) (i32.sub (local.get $brows) (i32.const 1))) (local.get $brows)))
    (local.set $units (i32.mul (i32.div_u (i32.add (local.get $n) (i32.sub (local.get $ipb) (i32.const 1))) (local.get $ipb)) (local.get $blocks)))
    (local.set $zn (i32.mul (i32.mul (local.get $cout) (local.get $cin)) ${i32(X)}))
    ;; this thread's share of the partials; partial p: Z = 0, Z += the units of p, then out to $zout
    (local.set $p (call $part (local.get $parts) (local.get $tid) (local.get $nt)))
    (local.set $p1 (call $part (local.get $parts) (i32.add (local.get $tid) (i32.const 1)) (local.get $nt)))
    (block $parts_done (loop $partials
    (br_if $parts_done (i32.ge_u (local.get $p) (local.get $p1)))
    (call $zero (local.get $z) (local.get $zn))
    (local.set $unit (call $part (local.get $units) (local.get $p) (local.get $parts)))
    (local.set $u1 (call $part (local.get $units) (i32.add (local.get $p) (i32.const 1)) (local.get $parts)))
    (block $done (loop $work
      (br_if $done (i32.ge_u (local.get $unit) (local.get $u1)))
      (local.set $img0 (i32.mul (i32.div_u (local.get $unit) (local.get $blocks)) (local.get $ipb)))
      (local.set $ni (i32.sub (local.get $n) (local.get $img0)))
      (if (i32.gt_s (local.get $ni) (local.get $ipb)) (then (local.set $ni (local.get $ipb))))
      (local.set $ty0 (i32.mul (i32.rem_u (local.get $unit) (local.get $blocks)) (local.get $brows)))
      (local.set $rows (i32.sub (local.get $th) (local.get $ty0)))
      (if (i32.gt_s (local.get $rows) (local.get $brows)) (then (local.set $rows (local.get $brows))))
      ;; tiles per image in this block, then in the whole block
      (local.set $tb (i32.mul (local.get $rows) (local.get $tw4)))
      (local.set $TB (i32.mul (local.get $ni) (local.get $tb)))
      (local.set $vs (i32.add (i32.shl (i32.mul (local.get $cin) (local.get $TB)) (i32.const 2)) ${i32(XI_PAD)}))
      (local.set $es (i32.add (i32.shl (i32.mul (local.get $cout) (local.get $TB)) (i32.const 2)) ${i32(XI_PAD)}))
      (local.set $pt0 (i32.sub (local.get $pt) (i32.shl (local.get $ty0) ${i32(sh)})))
      (local.set $i (i32.const 0))
      (block $imgs_done (loop $imgs
        (br_if $imgs_done (i32.ge_s (local.get $i) (local.get $ni)))
        ;; V[ξ][c][i·tb ..]
        (local.set $ch (i32.const 0))
        (block $in_done (loop $in
          (br_if $in_done (i32.ge_s (local.get $ch) (local.get $cin)))
          (call ${inPlane}
            (i32.add (local.get $x) (i32.shl (i32.mul (i32.add (i32.mul (i32.add (local.get $img0) (local.get $i)) (local.get $cin)) (local.get $ch))
                                                      (i32.mul (local.get $h) (local.get $w))) (i32.const 2)))
            (local.get $buf) (local.get $h) (local.get $w) (local.get $pt0) (local.get $pl)
            (local.get $rows) (local.get $tw4)
            (i32.add (local.get $v) (i32.shl (i32.add (i32.mul (local.get $ch) (local.get $TB)) (i32.mul (local.get $i) (local.get $tb))) (i32.const 2)))
            (local.get $vs) (i32.const 16))
          (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
          (br $in)))
        ;; E[ξ][o][i·tb ..] from dy rows m·ty0 ..
        (local.set $ch (i32.const 0))
        (block $g_done (loop $g
          (br_if $g_done (i32.ge_s (local.get $ch) (local.get $cout)))
          (call ${m === 2 ? '$grad_plane' : '$grad_plane6'}
            (i32.add (local.get $dy) (i32.shl (i32.add (i32.mul (i32.add (i32.mul (i32.add (local.get $img0) (local.get $i)) (local.get $cout)) (local.get $ch))
                                                               (i32.mul (local.get $oh) (local.get $ow)))
                                                      (i32.mul (i32.shl (local.get $ty0) ${i32(sh)}) (local.get $ow))) (i32.const 2)))
            (local.get $buf)
            (i32.sub (local.get $oh) (i32.shl (local.get $ty0) ${i32(sh)})) (local.get $ow)
            (local.get $rows) (local.get $tw4)
            (i32.add (local.get $e) (i32.shl (i32.add (i32.mul (local.get $ch) (local.get $TB)) (i32.mul (local.get $i) (local.get $tb))) (i32.const 2)))
            (local.get $es)${m === 2 ? '' : ' (local.get $tbuf)'})
          (local.set $ch (i32.add (local.get $ch) (i32.const 1)))
          (br $g)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $imgs)))
      ;; Z_ξ (cout × cin) += E_ξ (cout × TB) · V_ξᵀ (TB × cin)
      (local.set $xi (i32.const 0))
      (block $mm_done (loop $mm
        (br_if $mm_done (i32.ge_s (local.get $xi) ${i32(X)}))
        (call $gemm_serial (local.get $cout) (local.get $cin) (local.get $TB)
          (i32.add (local.get $e) (i32.mul (local.get $xi) (local.get $es))) (local.get $TB) (i32.const 1)
          (i32.add (local.get $v) (i32.mul (local.get $xi) (local.get $vs))) (i32.const 1) (local.get $TB)
          (i32.add (local.get $z) (i32.shl (i32.mul (local.get $xi) (i32.mul (local.get $cout) (local.get $cin))) (i32.const 2))) (local.get $cin)
          ${i32(GEMM_ACCUMULATE)} (i32.const 0) (i32.const 0) (local.get $gs))
        (local.set $xi (i32.add (local.get $xi) (i32.const 1)))
        (br $mm)))
      (local.set $unit (i32.add (local.get $unit) (i32.const 1)))
      (br $work)))
    (call $copy (local.get $z) (i32.add (local.get $zout) (i32.shl (i32.mul (local.get $p) (local.get $zn)) (i32.const 2))) (local.get $zn))
    (local.set $p (i32.add (local.get $p) (i32.const 1)))
    (br $partials))))`;
}

/** One module's text: plain SIMD (with the separate transform entries), or the relaxed-FMA twin of wino_fwd. */

/**
 * wino_dw_finish: dw = Gᵀ Z G for every (o, c) of the weight gradient, Z summed over the partials
 * first: Z[ξ][oc] = Σ_k zout[k][ξ][oc] (k in order, in float64, from 0), then with
 * G = [[1,0,0],[½,½,½],[½,−½,½],[0,0,1]] on both sides, (Gᵀ z)_0 = z0 + ½(z1 + z2),
 * (Gᵀ z)_1 = ½(z1 − z2), (Gᵀ z)_2 = ½(z1 + z2) + z3, in float64, each weight rounded to float32 once.
 * wino_dw_finish4 is the same over F(4×4)'s 36 ξ with its 6×3 G (multiplied by ¼, ⅙, 1/12, 1/24).
 * Thread tid takes a share of the o·c pairs ($plane of them), two at a time in the two lanes of
 * f64x2 (each lane the scalar sequence of operations, so the bits are the scalar loop's).
 */
function finishEntry(m: 2 | 4 = 2): string {
  const X = (m + 2) * (m + 2);
  // two pairs (oc, oc + 1) at once, one in each f64x2 lane: every lane does the scalar sequence
  const f64 = (v: number): string => `(f64x2.splat (f64.const ${hexF64(v)}))`;
  const zz = (xi: number): string => `(local.get $z${xi})`;
  const xis = Array.from({ length: X }, (_, xi) => xi);
  const lines = xis.map((xi) => `(local.set $z${xi} (v128.const i64x2 0 0))`);
  // Z[ξ] for these pairs: sum of the partials, k ascending (the two floats of pairs oc, oc + 1, or
  // of oc alone and a zero for an odd last pair)
  const sum = xis.map((xi) => {
    const at = `(i32.add (local.get $q) (i32.mul (local.get $ps) (i32.const ${xi})))`;
    const two = `(if (result v128) (local.get $both) (then (v128.load64_zero ${at})) (else (v128.load32_zero ${at})))`;
    return `(local.set $z${xi} (f64x2.add (local.get $z${xi}) (f64x2.promote_low_f32x4 ${two})))`;
  });
  const fadd = (a: string, b: string): string => `(f64x2.add ${a} ${b})`;
  const fsub = (a: string, b: string): string => `(f64x2.sub ${a} ${b})`;
  const fmul = (a: string, b: string): string => `(f64x2.mul ${a} ${b})`;
  // Gᵀ times a column z0..z{m+1}: the three rows u = 0..2
  const gt = (z: string[]): string[] => {
    if (m === 2) {
      const [z0, z1, z2, z3] = z as [string, string, string, string];
      return [fadd(z0, fmul(f64(0.5), fadd(z1, z2))), fmul(f64(0.5), fsub(z1, z2)), fadd(fmul(f64(0.5), fadd(z1, z2)), z3)];
    }
    // G = [[¼,0,0],[−⅙,−⅙,−⅙],[−⅙,⅙,−⅙],[1/24,1/12,⅙],[1/24,−1/12,⅙],[0,0,1]]
    const [z0, z1, z2, z3, z4, z5] = z as [string, string, string, string, string, string];
    return [
      fadd(fadd(fmul(z0, f64(0.25)), fmul(fadd(z1, z2), f64(WT4.m6))), fmul(fadd(z3, z4), f64(WT4.k24))),
      fadd(fmul(fsub(z2, z1), f64(WT4.k6)), fmul(fsub(z3, z4), f64(WT4.k12))),
      fadd(fadd(fmul(fadd(z1, z2), f64(WT4.m6)), fmul(fadd(z3, z4), f64(WT4.k6))), z5),
    ];
  };
  const n = m + 2;
  // Gᵀ Z: rows u = 0..2, columns j, into $g{n·u + j}
  const gz: string[] = [];
  for (let j = 0; j < n; j++) {
    for (const [u, e] of gt(Array.from({ length: n }, (_, i) => zz(n * i + j))).entries()) gz.push(`(local.set $g${n * u + j} ${e})`);
  }
  // (Gᵀ Z) G: row u of it times G, i.e. Gᵀ applied to the row; pair oc's weight from lane 0, and
  // pair oc + 1's (36 bytes on) from lane 1
  const out: string[] = [];
  for (let u = 0; u < 3; u++) {
    for (const [v, e] of gt(Array.from({ length: n }, (_, k) => `(local.get $g${n * u + k})`)).entries()) {
      out.push(`(local.set $r ${e})`);
      out.push(`(f32.store offset=${12 * u + 4 * v} (local.get $d) (f32.demote_f64 (f64x2.extract_lane 0 (local.get $r))))`);
      out.push(`(local.set $s${3 * u + v} (f32.demote_f64 (f64x2.extract_lane 1 (local.get $r))))`);
    }
  }
  const store2 = Array.from({ length: 9 }, (_, t) => `(f32.store offset=${36 + 4 * t} (local.get $d) (local.get $s${t}))`);
  return `
  (func (export "wino_dw_finish${m === 2 ? '' : '4'}") (param $tid i32) (param $nt i32) (param $zout i32) (param $parts i32) (param $plane i32) (param $dw i32)
    (local $oc i32) (local $oc1 i32) (local $k i32) (local $q i32) (local $ps i32) (local $d i32) (local $both i32) (local $r v128)
    ${xis.map((xi) => `(local $z${xi} v128)`).join(' ')}
    ${Array.from({ length: 3 * n }, (_, i) => `(local $g${i} v128)`).join(' ')}
    ${Array.from({ length: 9 }, (_, i) => `(local $s${i} f32)`).join(' ')}
    ;; ξ stride of a partial, in bytes
    (local.set $ps (i32.shl (local.get $plane) (i32.const 2)))
    (local.set $oc (call $part (local.get $plane) (local.get $tid) (local.get $nt)))
    (local.set $oc1 (call $part (local.get $plane) (i32.add (local.get $tid) (i32.const 1)) (local.get $nt)))
    (block $done (loop $pairs
      (br_if $done (i32.ge_u (local.get $oc) (local.get $oc1)))
      (local.set $both (i32.lt_u (i32.add (local.get $oc) (i32.const 1)) (local.get $oc1)))
      ${lines.join(' ')}
      (local.set $k (i32.const 0))
      (block $k_done (loop $partials
        (br_if $k_done (i32.ge_u (local.get $k) (local.get $parts)))
        ;; partial k, ξ = 0, these pairs
        (local.set $q (i32.add (local.get $zout) (i32.shl (i32.add (i32.mul (local.get $k) (i32.mul (local.get $plane) ${i32(X)})) (local.get $oc)) (i32.const 2))))
        ${sum.join('\n        ')}
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $partials)))
      ${gz.join('\n      ')}
      (local.set $d (i32.add (local.get $dw) (i32.mul (local.get $oc) (i32.const 36))))
      ${out.join('\n      ')}
      (if (local.get $both) (then ${store2.join(' ')}))
      (local.set $oc (i32.add (local.get $oc) (i32.const 2)))
      (br $pairs))))`;
}

/** A float64 as an exact WAT hex literal (no decimal rounding in between). */
function hexF64(v: number): string {
  if (v === 0) return Object.is(v, -0) ? '-0x0p+0' : '0x0p+0';
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, v);
  const hi = dv.getUint32(0);
  const lo = dv.getUint32(4);
  const exp = ((hi >>> 20) & 0x7ff) - 1023;
  const mant = ((hi & 0xfffff).toString(16).padStart(5, '0') + lo.toString(16).padStart(8, '0')).replace(/0+$/, '');
  return `${v < 0 ? '-' : ''}0x1${mant ? `.${mant}` : ''}p${exp >= 0 ? '+' : ''}${exp}`;
}

/**
 * G times a column (x0, x1, x2) of a 3×3 filter, as kernels/wasm/winograd.ts's reference computes it
 * (same operations, same order, in float64), as WAT f64x2 expressions: F(2×2)'s 4 rows or F(4×4)'s 6.
 */
export function gTimes(m: 2 | 4, x0: string, x1: string, x2: string): string[] {
  const c = (v: number): string => `(f64x2.splat (f64.const ${hexF64(v)}))`;
  const fadd = (a: string, b: string): string => `(f64x2.add ${a} ${b})`;
  const fsub = (a: string, b: string): string => `(f64x2.sub ${a} ${b})`;
  const fmul = (a: string, b: string): string => `(f64x2.mul ${a} ${b})`;
  if (m === 2) return [x0, fmul(c(0.5), fadd(fadd(x0, x1), x2)), fmul(c(0.5), fadd(fsub(x0, x1), x2)), x2];
  const outer = fadd(fmul(x0, c(WT4.k24)), fmul(x2, c(WT4.k6)));
  return [
    fmul(x0, c(0.25)),
    fmul(fadd(fadd(x0, x1), x2), c(WT4.m6)),
    fmul(fadd(fsub(x0, x1), x2), c(WT4.m6)),
    fadd(outer, fmul(x1, c(WT4.k12))),
    fsub(outer, fmul(x1, c(WT4.k12))),
    x2,
  ];
}

/** F(4×4)'s G entries other than ¼ and 1, as float64 factors (multiplied, never divided: a division is ~10× a multiply). */
export const WT4 = { m6: -1 / 6, k6: 1 / 6, k12: 1 / 12, k24: 1 / 24 };

/**
 * wino_wt / wino_wt4: U_ξ = (G g Gᵀ)_ξ for every filter g of a 3×3 conv weight, in float64 (two
 * filters per f64x2), each entry rounded to float32 once: kernels/wasm/winograd.ts's
 * transformWeights, bit for bit.
 *   filter (r, k) is w[(r·cols + k)·9 + t], or w[(k·rows + r)·9 + 8 − t] when $flip (the input
 *   gradient: rotated 180°, in and out channels swapped);
 *   U_ξ[r][k] is at u + ξ·xiStride + (r·cols + k), or, when $packed, at (r div 4)·cols·4 + k·4 + r mod 4
 *   (the GEMM's packed-A slivers; rows past $rows are left alone, the caller zeroes them).
 * A unit is two filters whose U entries are adjacent: rows (r, r+1) when packed, columns (k, k+1)
 * otherwise; an odd last one computes its filter twice and stores one lane. Consecutive units
 * store consecutive floats of every U_ξ, whose stride is padded (XI_PAD) against set conflicts. Thread tid takes a
 * contiguous share of the units.
 */
function weightEntry(m: 2 | 4): string {
  const g = (t: number): string => `(local.get $g${t})`;
  const cl = (i: number, j: number): string => `(local.get $c${3 * i + j})`;
  const loads = Array.from({ length: 9 }, (_, t) => {
    const at = (base: string): string => `(f32.load (i32.add ${get(base)} (i32.mul ${i32(t)} ${get('st')})))`;
    return `(local.set $g${t} (f64x2.replace_lane 1 (f64x2.splat (f64.promote_f32 ${at('s1')})) (f64.promote_f32 ${at('s2')})))`;
  });
  // G g, column j: rows i of column j into $c[3i + j]
  const cols: string[] = [];
  for (let j = 0; j < 3; j++) {
    for (const [i, e] of gTimes(m, g(j), g(3 + j), g(6 + j)).entries()) cols.push(`(local.set $c${3 * i + j} ${e})`);
  }
  // (G g) Gᵀ: row i is G applied to row i of G g; entry ξ = (m + 2)·i + j
  const rowsOut: string[] = [];
  for (let i = 0; i < m + 2; i++) for (const e of gTimes(m, cl(i, 0), cl(i, 1), cl(i, 2))) rowsOut.push(e);
  const store2 = rowsOut.map((e) => `(v128.store64_lane 0 ${get('a')} (f32x4.demote_f64x2_zero ${e})) (local.set $a (i32.add ${get('a')} ${get('ps')}))`);
  const store1 = rowsOut.map((e) => `(f32.store ${get('a')} (f32.demote_f64 (f64x2.extract_lane 0 ${e}))) (local.set $a (i32.add ${get('a')} ${get('ps')}))`);
  const src = (r: string, k: string): string =>
    `(i32.add ${get('w')} (i32.shl (if (result i32) ${get('flip')}
        (then (i32.add (i32.mul (i32.add (i32.mul ${get(k)} ${get('rows')}) ${get(r)}) ${i32(9)}) ${i32(8)}))
        (else (i32.mul (i32.add (i32.mul ${get(r)} ${get('cols')}) ${get(k)}) ${i32(9)}))) ${i32(2)}))`;
  return `
  (func (export "wino_wt${m === 2 ? '' : '4'}") (param $tid i32) (param $nt i32) (param $w i32) (param $u i32) (param $rows i32) (param $cols i32)
                                 (param $flip i32) (param $packed i32) (param $xiStride i32)
    (local $n i32) (local $half i32) (local $id i32) (local $id1 i32) (local $r i32) (local $k i32) (local $r2 i32) (local $k2 i32)
    (local $both i32) (local $s1 i32) (local $s2 i32) (local $st i32) (local $ps i32) (local $a i32)
    ${Array.from({ length: 9 }, (_, t) => `(local $g${t} v128)`).join(' ')}
    ${Array.from({ length: 3 * (m + 2) }, (_, t) => `(local $c${t} v128)`).join(' ')}
    (local.set $ps (i32.shl ${get('xiStride')} ${i32(2)}))
    (local.set $st (select ${i32(-4)} ${i32(4)} ${get('flip')}))
    ;; units: packed, two per (sliver, k) ordered so that their stores run on through the sliver
    ;; ((k, rows 4s..4s+1), (k, 4s+2..4s+3), (k + 1, 4s..4s+1), ...); else ⌈cols/2⌉ per row
    (if ${get('packed')}
      (then (local.set $n (i32.mul (i32.shl (i32.shr_u (i32.add ${get('rows')} ${i32(3)}) ${i32(2)}) ${i32(1)}) ${get('cols')})))
      (else (local.set $half (i32.shr_u (i32.add ${get('cols')} ${i32(1)}) ${i32(1)})) (local.set $n (i32.mul ${get('rows')} ${get('half')}))))
    (local.set $id (call $part ${get('n')} ${get('tid')} ${get('nt')}))
    (local.set $id1 (call $part ${get('n')} (i32.add ${get('tid')} ${i32(1)}) ${get('nt')}))
    (block $done (loop $units
      (br_if $done (i32.ge_u ${get('id')} ${get('id1')}))
      (if ${get('packed')}
        (then
          (local.set $r (i32.add (i32.shl (i32.div_u ${get('id')} (i32.shl ${get('cols')} ${i32(1)})) ${i32(2)})
                                 (i32.shl (i32.and ${get('id')} ${i32(1)}) ${i32(1)})))
          (local.set $k (i32.rem_u (i32.shr_u ${get('id')} ${i32(1)}) ${get('cols')}))
          (local.set $r2 (i32.add ${get('r')} ${i32(1)})) (local.set $k2 ${get('k')})
          (local.set $both (i32.lt_u ${get('r2')} ${get('rows')}))
          (local.set $a (i32.add (i32.add (i32.mul (i32.shr_u ${get('r')} ${i32(2)}) (i32.shl ${get('cols')} ${i32(2)}))
                                          (i32.shl ${get('k')} ${i32(2)})) (i32.and ${get('r')} ${i32(3)}))))
        (else
          (local.set $r (i32.div_u ${get('id')} ${get('half')}))
          (local.set $k (i32.shl (i32.rem_u ${get('id')} ${get('half')}) ${i32(1)}))
          (local.set $r2 ${get('r')}) (local.set $k2 (i32.add ${get('k')} ${i32(1)}))
          (local.set $both (i32.lt_u ${get('k2')} ${get('cols')}))
          (local.set $a (i32.add (i32.mul ${get('r')} ${get('cols')}) ${get('k')}))))
      (if (i32.eqz ${get('both')}) (then (local.set $r2 ${get('r')}) (local.set $k2 ${get('k')})))
      ;; (a packed sliver's rows past the end: nothing to compute, the caller zeroed them)
      (if (i32.ge_u ${get('r')} ${get('rows')}) (then (local.set $id (i32.add ${get('id')} ${i32(1)})) (br $units)))
      (local.set $a (i32.add ${get('u')} (i32.shl ${get('a')} ${i32(2)})))
      (local.set $s1 ${src('r', 'k')})
      (local.set $s2 ${src('r2', 'k2')})
      ${loads.join('\n      ')}
      ${cols.join('\n      ')}
      (if ${get('both')}
        (then ${store2.join('\n          ')})
        (else ${store1.join('\n          ')}))
      (local.set $id (i32.add ${get('id')} ${i32(1)}))
      (br $units))))`;
}

export function moduleText(relaxed: boolean): string {
  return `;; generated by kernels/wasm/src/winograd.gen.ts${relaxed ? ' (relaxed-SIMD twin)' : ''}
(module
  (import "env" "memory" (memory 1 65536 shared))
${gemmCore(relaxed)}
${helpers()}
${inputPlane()}
${outputPlane()}
${relaxed ? '' : `${inputEntry()}\n${outputEntry()}\n${finishEntry()}\n${finishEntry(4)}\n${weightEntry(2)}\n${weightEntry(4)}`}
${fusedEntry(relaxed ? '_relaxed' : '')}
${inputPlane6()}
${outputPlane6()}
${fusedEntry(relaxed ? '_relaxed' : '', 4)}
${gradPlane()}
${gradPlane6()}
${gradEntry(relaxed ? '_relaxed' : '')}
${gradEntry(relaxed ? '_relaxed' : '', 4)})
`;
}

/** The modules `winograd` and `winograd.relaxed` (scripts/build-wasm.ts). */
export function generate(): Record<string, string> {
  return { winograd: moduleText(false), 'winograd.relaxed': moduleText(true) };
}
