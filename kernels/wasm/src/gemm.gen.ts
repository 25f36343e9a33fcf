// Generator of the SGEMM module (and its relaxed-SIMD twin):
//   C[i, j] = (accumulate ? C[i, j] : 0) + Σ_k A[i, k] · B[k, j]  (+ biasRow[i]) (+ biasCol[j]), then max(·, 0) if relu
// with A[i, k] = a[i·rsa + k·csa] and B[k, j] = b[k·rsb + j·csb] (element strides, so transposes
// are free) and C row-major with leading dimension ldc (elements). Pointers are byte offsets.
//
// BLIS loop order: for each NC-wide panel of B (jc) and KC-deep slice of K (pc), B[pc.., jc..] is
// packed into column slivers of NR = 8 (k-major: 8 floats per k); for each MC-tall block of A
// (ic) A[ic.., pc..] is packed into row slivers of MR = 4 (4 floats per k). The 4×8 micro-kernel
// then streams one A sliver (4 broadcasts per k) against one B sliver (two f32x4 per k) into 8
// f32x4 accumulators: 8 + 2 + 4 = 14 vector registers (+1 scratch without FMA) <= 15, the budget
// V8's optimizing tier has (../shared/DESIGN.md). The sliver of B (KC·8·4 = 8 KiB) stays in L1,
// the packed block of A (MC·KC·4 = 128 KiB) in L2.
//
// The epilogue (bias, ReLU) is applied exactly once, when the last K slice is written back.
// Partial tiles at the right and bottom edges are computed whole into a scratch tile (the packs
// are zero-padded) and only their valid corner is written, so an Inf or NaN in one row of A
// (which turns the zero padding of B into NaN in that row's padded columns) never reaches C.
//
// The core (packing, micro-kernel, serial GEMM) is exported as WAT text so the conv module can
// embed it and run im2col + GEMM per thread without a round trip through JavaScript.

export const MR = 4;
export const NR = 8;
export const KC = 256;
export const MC = 128;
export const NC = 1024;

/** Flags of gemm_f32 (bit mask). */
export const GEMM_ACCUMULATE = 1;
export const GEMM_BIAS_ROW = 2;
export const GEMM_BIAS_COL = 4;
export const GEMM_RELU = 8;
/** Split C statically between the threads, each packing its own panels (no shared panel, no barrier). */
export const GEMM_STATIC = 16;
/**
 * $gemm_serial only: `a` is already packed as pack_a lays it out, all M rows in MR-row slivers of
 * K·MR floats (zero rows past M), and K <= KC (one slice); rsa and csa are ignored.
 */
export const GEMM_A_PACKED = 32;
/** $gemm_serial only: `b` is already packed as pack_b lays it out (NR-column slivers of K·NR floats, zero columns past N), K <= KC and N <= NC. */
export const GEMM_B_PACKED = 64;

const PACK_A_BYTES = MC * KC * 4;
const PACK_B_BYTES = KC * NC * 4;
const TILE_BYTES = MR * NR * 4;
/** Bytes of per-thread scratch the serial GEMM needs (packed A block, packed B panel, edge tile). */
export const GEMM_SCRATCH_BYTES = PACK_A_BYTES + PACK_B_BYTES + TILE_BYTES;

const get = (name: string): string => `(local.get $${name})`;
const i32 = (n: number): string => `(i32.const ${n})`;

/** i8x16.shuffle of two f32x4 picking float lanes l0..l3 (0-3 from a, 4-7 from b). */
function shuffle32(a: string, b: string, lanes: readonly number[]): string {
  const bytes = lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]);
  return `(i8x16.shuffle ${bytes.join(' ')} ${a} ${b})`;
}

/**
 * Transpose of the 4×4 block held in locals r0..r3 (rows) into t0..t3 (columns), through the
 * scratch locals u0..u3: u0 = (r0[0] r1[0] r0[1] r1[1]), u1 = (r2[0] r3[0] r2[1] r3[1]), ... then
 * t0 = (u0[0] u0[1] u1[0] u1[1]) = column 0, and so on.
 */
export function transpose4(r: readonly string[], t: readonly string[]): string {
  const [r0, r1, r2, r3] = r.map(get) as [string, string, string, string];
  return `
      (local.set $u0 ${shuffle32(r0, r1, [0, 4, 1, 5])})
      (local.set $u1 ${shuffle32(r2, r3, [0, 4, 1, 5])})
      (local.set $u2 ${shuffle32(r0, r1, [2, 6, 3, 7])})
      (local.set $u3 ${shuffle32(r2, r3, [2, 6, 3, 7])})
      (local.set $${t[0]} ${shuffle32('(local.get $u0)', '(local.get $u1)', [0, 1, 4, 5])})
      (local.set $${t[1]} ${shuffle32('(local.get $u0)', '(local.get $u1)', [2, 3, 6, 7])})
      (local.set $${t[2]} ${shuffle32('(local.get $u2)', '(local.get $u3)', [0, 1, 4, 5])})
      (local.set $${t[3]} ${shuffle32('(local.get $u2)', '(local.get $u3)', [2, 3, 6, 7])})`;
}

/** Small integer helpers shared by the gemm and conv modules. */
export function intHelpers(): string {
  return `
  (func $min (param $a i32) (param $b i32) (result i32)
    (select (local.get $a) (local.get $b) (i32.lt_s (local.get $a) (local.get $b))))
  (func $max (param $a i32) (param $b i32) (result i32)
    (select (local.get $a) (local.get $b) (i32.gt_s (local.get $a) (local.get $b))))
  ;; floor(n · tid / nt) without overflowing i32
  (func $part (param $n i32) (param $tid i32) (param $nt i32) (result i32)
    (i32.wrap_i64 (i64.div_u (i64.mul (i64.extend_i32_u (local.get $n)) (i64.extend_i32_u (local.get $tid)))
                             (i64.extend_i32_u (local.get $nt)))))`;
}

/** pack_a: A[0..mc, 0..kc] (a points at its first element) into MR-row slivers at dst, zero-padded. */
function packA(): string {
  return `
  ;; dst[s·kc·4 + k·4 + i] = A[4s + i, k] (0 for rows past mc)
  (func $pack_a (param $a i32) (param $rsa i32) (param $csa i32) (param $mc i32) (param $kc i32) (param $dst i32)
    (local $i0 i32) (local $h i32) (local $k i32) (local $i i32) (local $p i32) (local $src i32)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local $u0 v128) (local $u1 v128) (local $u2 v128) (local $u3 v128)
    (local.set $p (local.get $dst))
    (block $slivers_done (loop $slivers
      (br_if $slivers_done (i32.ge_s (local.get $i0) (local.get $mc)))
      (local.set $h (call $min (i32.sub (local.get $mc) (local.get $i0)) ${i32(MR)}))
      (local.set $src (i32.add (local.get $a) (i32.shl (i32.mul (local.get $i0) (local.get $rsa)) (i32.const 2))))
      (local.set $k (i32.const 0))
      (if (i32.and (i32.eq (local.get $h) ${i32(MR)}) (i32.eq (local.get $csa) (i32.const 1)))
        (then
          ;; row-major A: four rows of 4 k's, transposed in registers
          (block $t_done (loop $t
            (br_if $t_done (i32.gt_s (i32.add (local.get $k) (i32.const 4)) (local.get $kc)))
            (local.set $r0 (v128.load (local.get $src)))
            (local.set $r1 (v128.load (i32.add (local.get $src) (i32.shl (local.get $rsa) (i32.const 2)))))
            (local.set $r2 (v128.load (i32.add (local.get $src) (i32.shl (local.get $rsa) (i32.const 3)))))
            (local.set $r3 (v128.load (i32.add (local.get $src) (i32.mul (local.get $rsa) (i32.const 12)))))
            ${transpose4(['r0', 'r1', 'r2', 'r3'], ['t0', 't1', 't2', 't3'])}
            (v128.store (local.get $p) (local.get $t0))
            (v128.store offset=16 (local.get $p) (local.get $t1))
            (v128.store offset=32 (local.get $p) (local.get $t2))
            (v128.store offset=48 (local.get $p) (local.get $t3))
            (local.set $p (i32.add (local.get $p) (i32.const 64)))
            (local.set $src (i32.add (local.get $src) (i32.const 16)))
            (local.set $k (i32.add (local.get $k) (i32.const 4)))
            (br $t)))))
      (if (i32.and (i32.eq (local.get $h) ${i32(MR)}) (i32.eq (local.get $rsa) (i32.const 1)))
        (then
          ;; column-major A (a transposed operand): the 4 rows of one k are contiguous
          (block $c_done (loop $c
            (br_if $c_done (i32.ge_s (local.get $k) (local.get $kc)))
            (v128.store (local.get $p) (v128.load (local.get $src)))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (local.set $src (i32.add (local.get $src) (i32.shl (local.get $csa) (i32.const 2))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $c)))))
      ;; the rest (general strides, the k tail, a partial sliver): one element at a time
      (block $s_done (loop $s
        (br_if $s_done (i32.ge_s (local.get $k) (local.get $kc)))
        (local.set $i (i32.const 0))
        (loop $row
          (f32.store (local.get $p)
            (if (result f32) (i32.lt_s (local.get $i) (local.get $h))
              (then (f32.load (i32.add (local.get $src)
                      (i32.shl (i32.mul (local.get $i) (local.get $rsa)) (i32.const 2)))))
              (else (f32.const 0))))
          (local.set $p (i32.add (local.get $p) (i32.const 4)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $row (i32.lt_s (local.get $i) ${i32(MR)})))
        (local.set $src (i32.add (local.get $src) (i32.shl (local.get $csa) (i32.const 2))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $s)))
      (local.set $i0 (i32.add (local.get $i0) ${i32(MR)}))
      (br $slivers))))`;
}

/** pack_b: B[0..kc, 0..nc] (b points at its first element) into NR-column slivers at dst, zero-padded. */
function packB(): string {
  return `
  ;; dst[s·kc·8 + k·8 + j] = B[k, 8s + j] (0 for columns past nc)
  (func $pack_b (param $b i32) (param $rsb i32) (param $csb i32) (param $kc i32) (param $nc i32) (param $dst i32)
    (local $j0 i32) (local $w i32) (local $k i32) (local $j i32) (local $p i32) (local $src i32) (local $cs4 i32)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local $u0 v128) (local $u1 v128) (local $u2 v128) (local $u3 v128)
    (local.set $p (local.get $dst))
    (local.set $cs4 (i32.shl (local.get $csb) (i32.const 2)))
    (block $slivers_done (loop $slivers
      (br_if $slivers_done (i32.ge_s (local.get $j0) (local.get $nc)))
      (local.set $w (call $min (i32.sub (local.get $nc) (local.get $j0)) ${i32(NR)}))
      (local.set $src (i32.add (local.get $b) (i32.shl (i32.mul (local.get $j0) (local.get $csb)) (i32.const 2))))
      (local.set $k (i32.const 0))
      (if (i32.and (i32.eq (local.get $w) ${i32(NR)}) (i32.eq (local.get $csb) (i32.const 1)))
        (then
          ;; row-major B: the 8 columns of one k are contiguous
          (block $r_done (loop $r
            (br_if $r_done (i32.ge_s (local.get $k) (local.get $kc)))
            (v128.store (local.get $p) (v128.load (local.get $src)))
            (v128.store offset=16 (local.get $p) (v128.load offset=16 (local.get $src)))
            (local.set $p (i32.add (local.get $p) (i32.const 32)))
            (local.set $src (i32.add (local.get $src) (i32.shl (local.get $rsb) (i32.const 2))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $r)))))
      (if (i32.and (i32.eq (local.get $w) ${i32(NR)}) (i32.eq (local.get $rsb) (i32.const 1)))
        (then
          ;; column-major B (a transposed operand): 4 k's of each column are contiguous; two 4×4
          ;; transposes give the 8 columns of 4 consecutive k's
          (block $t_done (loop $t
            (br_if $t_done (i32.gt_s (i32.add (local.get $k) (i32.const 4)) (local.get $kc)))
            (local.set $r0 (v128.load (local.get $src)))
            (local.set $r1 (v128.load (i32.add (local.get $src) (local.get $cs4))))
            (local.set $r2 (v128.load (i32.add (local.get $src) (i32.shl (local.get $cs4) (i32.const 1)))))
            (local.set $r3 (v128.load (i32.add (local.get $src) (i32.mul (local.get $cs4) (i32.const 3)))))
            ${transpose4(['r0', 'r1', 'r2', 'r3'], ['t0', 't1', 't2', 't3'])}
            (v128.store (local.get $p) (local.get $t0))
            (v128.store offset=32 (local.get $p) (local.get $t1))
            (v128.store offset=64 (local.get $p) (local.get $t2))
            (v128.store offset=96 (local.get $p) (local.get $t3))
            (local.set $r0 (v128.load (i32.add (local.get $src) (i32.shl (local.get $cs4) (i32.const 2)))))
            (local.set $r1 (v128.load (i32.add (local.get $src) (i32.mul (local.get $cs4) (i32.const 5)))))
            (local.set $r2 (v128.load (i32.add (local.get $src) (i32.mul (local.get $cs4) (i32.const 6)))))
            (local.set $r3 (v128.load (i32.add (local.get $src) (i32.mul (local.get $cs4) (i32.const 7)))))
            ${transpose4(['r0', 'r1', 'r2', 'r3'], ['t0', 't1', 't2', 't3'])}
            (v128.store offset=16 (local.get $p) (local.get $t0))
            (v128.store offset=48 (local.get $p) (local.get $t1))
            (v128.store offset=80 (local.get $p) (local.get $t2))
            (v128.store offset=112 (local.get $p) (local.get $t3))
            (local.set $p (i32.add (local.get $p) (i32.const 128)))
            (local.set $src (i32.add (local.get $src) (i32.const 16)))
            (local.set $k (i32.add (local.get $k) (i32.const 4)))
            (br $t)))))
      ;; the rest (general strides, the k tail, a partial sliver): one element at a time
      (block $s_done (loop $s
        (br_if $s_done (i32.ge_s (local.get $k) (local.get $kc)))
        (local.set $j (i32.const 0))
        (loop $col
          (f32.store (local.get $p)
            (if (result f32) (i32.lt_s (local.get $j) (local.get $w))
              (then (f32.load (i32.add (local.get $src) (i32.mul (local.get $j) (local.get $cs4)))))
              (else (f32.const 0))))
          (local.set $p (i32.add (local.get $p) (i32.const 4)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br_if $col (i32.lt_s (local.get $j) ${i32(NR)})))
        (local.set $src (i32.add (local.get $src) (i32.shl (local.get $rsb) (i32.const 2))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $s)))
      (local.set $j0 (i32.add (local.get $j0) ${i32(NR)}))
      (br $slivers))))`;
}

/** Accumulator names: c{row}{half}, half 0 = columns 0-3, 1 = columns 4-7. */
const ACC = [0, 1, 2, 3].flatMap((r) => [`c${r}0`, `c${r}1`]);

/**
 * The 4×8 micro-kernel and its write-back. mode bits: 1 overwrite C (else add into it),
 * 2 + brow[i], 4 + bcol[j], 8 ReLU (2/4/8 only on the last K slice). brow and bcol point at the
 * tile's first row / column entry; ldc is in bytes; h×w is the valid corner.
 */
function microKernel(relaxed: boolean): string {
  // c += a·b, fused (one rounding) with relaxed SIMD, else a multiply and an add
  const madd = (a: string, b: string, c: string): string =>
    relaxed ? `(f32x4.relaxed_madd ${get(a)} ${get(b)} ${get(c)})` : `(f32x4.add ${get(c)} (f32x4.mul ${get(a)} ${get(b)}))`;
  const step = [0, 1, 2, 3]
    .map((r) => `(local.set $c${r}0 ${madd(`a${r}`, 'b0', `c${r}0`)}) (local.set $c${r}1 ${madd(`a${r}`, 'b1', `c${r}1`)})`)
    .join('\n          ');
  // full-tile write-back of row r: C = acc (mode 1), C += acc (mode 0), or the whole epilogue
  const rowAt = (r: number): string => (r === 0 ? '(local.get $c)' : `(local.get $c${r}ptr)`);
  const storeRow = (r: number): string =>
    `(v128.store ${rowAt(r)} (local.get $c${r}0)) (v128.store offset=16 ${rowAt(r)} (local.get $c${r}1))`;
  const addRow = (r: number): string =>
    `(v128.store ${rowAt(r)} (f32x4.add (v128.load ${rowAt(r)}) (local.get $c${r}0)))
          (v128.store offset=16 ${rowAt(r)} (f32x4.add (v128.load offset=16 ${rowAt(r)}) (local.get $c${r}1)))`;
  const rows = (f: (r: number) => string): string => [0, 1, 2, 3].map(f).join('\n          ');
  const each = (f: (acc: string) => string): string => ACC.map((n) => `(local.set $${n} ${f(`(local.get $${n})`)})`).join(' ');
  // the whole epilogue, step by step over the 8 accumulators: (+ C) (+ brow[r]) (+ bcol) (ReLU)
  const epilogue = `
        (if (i32.eqz (i32.and (local.get $mode) (i32.const 1))) (then
          ${rows((r) => `(local.set $c${r}0 (f32x4.add (local.get $c${r}0) (v128.load ${rowAt(r)})))
          (local.set $c${r}1 (f32x4.add (local.get $c${r}1) (v128.load offset=16 ${rowAt(r)})))`)}))
        (if (i32.and (local.get $mode) (i32.const 2)) (then
          ${rows((r) => `(local.set $s (v128.load32_splat offset=${4 * r} (local.get $brow)))
          (local.set $c${r}0 (f32x4.add (local.get $c${r}0) (local.get $s))) (local.set $c${r}1 (f32x4.add (local.get $c${r}1) (local.get $s)))`)}))
        (if (i32.and (local.get $mode) (i32.const 4)) (then
          (local.set $s (v128.load (local.get $bcol)))
          (local.set $t (v128.load offset=16 (local.get $bcol)))
          ${rows((r) => `(local.set $c${r}0 (f32x4.add (local.get $c${r}0) (local.get $s))) (local.set $c${r}1 (f32x4.add (local.get $c${r}1) (local.get $t)))`)}))
        (if (i32.and (local.get $mode) (i32.const 8)) (then
          ${each((v) => `(f32x4.max ${v} (v128.const i32x4 0 0 0 0))`)}))
        ${rows(storeRow)}`;
  const fullTile = `
        (local.set $c1ptr (i32.add (local.get $c) (local.get $ldc)))
        (local.set $c2ptr (i32.add (local.get $c1ptr) (local.get $ldc)))
        (local.set $c3ptr (i32.add (local.get $c2ptr) (local.get $ldc)))
        (if (i32.eq (local.get $mode) (i32.const 1)) (then
          ${rows(storeRow)}
          (return)))
        (if (i32.eqz (local.get $mode)) (then
          ${rows(addRow)}
          (return)))
        ${epilogue}
        (return)`;
  return `
  ;; one element of a partial tile, the same steps in scalar
  (func $epilogue1 (param $c i32) (param $mode i32) (param $v f32) (param $brow i32) (param $bcol i32)
    (if (i32.eqz (i32.and (local.get $mode) (i32.const 1)))
      (then (local.set $v (f32.add (local.get $v) (f32.load (local.get $c))))))
    (if (i32.and (local.get $mode) (i32.const 2))
      (then (local.set $v (f32.add (local.get $v) (f32.load (local.get $brow))))))
    (if (i32.and (local.get $mode) (i32.const 4))
      (then (local.set $v (f32.add (local.get $v) (f32.load (local.get $bcol))))))
    (if (i32.and (local.get $mode) (i32.const 8))
      (then (local.set $v (f32.max (local.get $v) (f32.const 0)))))
    (f32.store (local.get $c) (local.get $v)))

  ;; acc(4×8) = Σ_k pa[k·4 .. +4] ⊗ pb[k·8 .. +8], then write back the valid h×w corner
  (func $micro (param $kc i32) (param $pa i32) (param $pb i32) (param $c i32) (param $ldc i32)
               (param $h i32) (param $w i32) (param $mode i32) (param $brow i32) (param $bcol i32) (param $tile i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $b0 v128) (local $b1 v128)
    ${ACC.map((n) => `(local $${n} v128)`).join(' ')}
    (local $i i32) (local $j i32) (local $row i32) (local $c1ptr i32) (local $c2ptr i32) (local $c3ptr i32) (local $s v128) (local $t v128)
    (if (i32.gt_s (local.get $kc) (i32.const 0))
      (then
        (loop $k
          (local.set $b0 (v128.load (local.get $pb)))
          (local.set $b1 (v128.load offset=16 (local.get $pb)))
          (local.set $a0 (v128.load32_splat (local.get $pa)))
          (local.set $a1 (v128.load32_splat offset=4 (local.get $pa)))
          (local.set $a2 (v128.load32_splat offset=8 (local.get $pa)))
          (local.set $a3 (v128.load32_splat offset=12 (local.get $pa)))
          ${step}
          (local.set $pa (i32.add (local.get $pa) (i32.const 16)))
          (local.set $pb (i32.add (local.get $pb) (i32.const 32)))
          (local.set $kc (i32.sub (local.get $kc) (i32.const 1)))
          (br_if $k (local.get $kc)))))
    (if (i32.and (i32.eq (local.get $h) ${i32(MR)}) (i32.eq (local.get $w) ${i32(NR)}))
      (then ${fullTile}))
    ;; partial tile: spill the accumulators, write back only rows < h and columns < w
    ${ACC.map((n, q) => `(v128.store offset=${16 * q} (local.get $tile) (local.get $${n}))`).join('\n    ')}
    (block $rows_done (loop $rows
      (br_if $rows_done (i32.ge_s (local.get $i) (local.get $h)))
      (local.set $row (i32.add (local.get $tile) (i32.shl (local.get $i) (i32.const 5))))
      (local.set $j (i32.const 0))
      (block $cols_done (loop $cols
        (br_if $cols_done (i32.ge_s (local.get $j) (local.get $w)))
        (call $epilogue1
          (i32.add (local.get $c) (i32.shl (local.get $j) (i32.const 2)))
          (local.get $mode)
          (f32.load (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))))
          (local.get $brow)
          (i32.add (local.get $bcol) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $cols)))
      (local.set $c (i32.add (local.get $c) (local.get $ldc)))
      (local.set $brow (i32.add (local.get $brow) (i32.const 4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rows))))`;
}

/** $gemm_serial: the whole BLIS loop nest on one thread (scratch: GEMM_SCRATCH_BYTES). */
function gemmSerial(): string {
  return `
  (func $gemm_serial (param $M i32) (param $N i32) (param $K i32)
                     (param $a i32) (param $rsa i32) (param $csa i32)
                     (param $b i32) (param $rsb i32) (param $csb i32)
                     (param $c i32) (param $ldc i32) (param $flags i32) (param $brow i32) (param $bcol i32)
                     (param $scratch i32)
    (local $packA i32) (local $packB i32) (local $tile i32) (local $ldc4 i32)
    (local $jc i32) (local $nc i32) (local $pc i32) (local $kc i32) (local $ic i32) (local $mc i32)
    (local $jr i32) (local $ir i32) (local $mode i32) (local $cBlock i32)
    (if (i32.or (i32.le_s (local.get $M) (i32.const 0)) (i32.le_s (local.get $N) (i32.const 0))) (then (return)))
    (local.set $packA (local.get $scratch))
    (local.set $packB (i32.add (local.get $scratch) ${i32(PACK_A_BYTES)}))
    (local.set $tile (i32.add (local.get $packB) ${i32(PACK_B_BYTES)}))
    (local.set $ldc4 (i32.shl (local.get $ldc) (i32.const 2)))
    (loop $jc_loop
      (local.set $nc (call $min ${i32(NC)} (i32.sub (local.get $N) (local.get $jc))))
      (local.set $pc (i32.const 0))
      ;; K slices: at least one, so that K = 0 still overwrites C and applies the epilogue
      (loop $pc_loop
        (local.set $kc (call $min ${i32(KC)} (i32.sub (local.get $K) (local.get $pc))))
        (local.set $mode (i32.const 0))
        (if (i32.and (i32.eqz (local.get $pc)) (i32.eqz (i32.and (local.get $flags) ${i32(GEMM_ACCUMULATE)})))
          (then (local.set $mode (i32.const 1))))
        (if (i32.ge_s (i32.add (local.get $pc) (local.get $kc)) (local.get $K))
          (then (local.set $mode (i32.or (local.get $mode) (i32.and (local.get $flags) (i32.const 14))))))
        (if (i32.and (local.get $flags) ${i32(GEMM_B_PACKED)})
          (then (local.set $packB (local.get $b)))
          (else (call $pack_b
            (i32.add (local.get $b) (i32.shl (i32.add (i32.mul (local.get $pc) (local.get $rsb))
                                                     (i32.mul (local.get $jc) (local.get $csb))) (i32.const 2)))
            (local.get $rsb) (local.get $csb) (local.get $kc) (local.get $nc) (local.get $packB))))
        (local.set $ic (i32.const 0))
        (block $ic_done (loop $ic_loop
          (br_if $ic_done (i32.ge_s (local.get $ic) (local.get $M)))
          (local.set $mc (call $min ${i32(MC)} (i32.sub (local.get $M) (local.get $ic))))
          ;; a packed A: block ic starts ic/MR slivers of kc·MR floats in
          (if (i32.and (local.get $flags) ${i32(GEMM_A_PACKED)})
            (then (local.set $packA (i32.add (local.get $a) (i32.shl (i32.mul (local.get $ic) (local.get $kc)) (i32.const 2)))))
            (else (call $pack_a
              (i32.add (local.get $a) (i32.shl (i32.add (i32.mul (local.get $ic) (local.get $rsa))
                                                       (i32.mul (local.get $pc) (local.get $csa))) (i32.const 2)))
              (local.get $rsa) (local.get $csa) (local.get $mc) (local.get $kc) (local.get $packA))))
          (local.set $cBlock (i32.add (local.get $c)
            (i32.shl (i32.add (i32.mul (local.get $ic) (local.get $ldc)) (local.get $jc)) (i32.const 2))))
          (local.set $jr (i32.const 0))
          (loop $jr_loop
            (local.set $ir (i32.const 0))
            (loop $ir_loop
              (call $micro (local.get $kc)
                (i32.add (local.get $packA) (i32.shl (i32.mul (local.get $ir) (local.get $kc)) (i32.const 2)))
                (i32.add (local.get $packB) (i32.shl (i32.mul (local.get $jr) (local.get $kc)) (i32.const 2)))
                (i32.add (local.get $cBlock) (i32.add (i32.mul (local.get $ir) (local.get $ldc4))
                                                      (i32.shl (local.get $jr) (i32.const 2))))
                (local.get $ldc4)
                (select ${i32(MR)} (i32.sub (local.get $mc) (local.get $ir)) (i32.ge_s (i32.sub (local.get $mc) (local.get $ir)) ${i32(MR)}))
                (select ${i32(NR)} (i32.sub (local.get $nc) (local.get $jr)) (i32.ge_s (i32.sub (local.get $nc) (local.get $jr)) ${i32(NR)}))
                (local.get $mode)
                (i32.add (local.get $brow) (i32.shl (i32.add (local.get $ic) (local.get $ir)) (i32.const 2)))
                (i32.add (local.get $bcol) (i32.shl (i32.add (local.get $jc) (local.get $jr)) (i32.const 2)))
                (local.get $tile))
              (local.set $ir (i32.add (local.get $ir) ${i32(MR)}))
              (br_if $ir_loop (i32.lt_s (local.get $ir) (local.get $mc))))
            (local.set $jr (i32.add (local.get $jr) ${i32(NR)}))
            (br_if $jr_loop (i32.lt_s (local.get $jr) (local.get $nc))))
          (local.set $ic (i32.add (local.get $ic) (local.get $mc)))
          (br $ic_loop)))
        (local.set $pc (i32.add (local.get $pc) ${i32(KC)}))
        (br_if $pc_loop (i32.lt_s (local.get $pc) (local.get $K))))
      (local.set $jc (i32.add (local.get $jc) ${i32(NC)}))
      (br_if $jc_loop (i32.lt_s (local.get $jc) (local.get $N)))))`;
}

/** The serial GEMM and everything it calls, for embedding in a module (gemm or conv). */
export function gemmCore(relaxed: boolean): string {
  return [intHelpers(), packA(), packB(), microKernel(relaxed), gemmSerial()].join('\n');
}

// ---- the parallel entry ---------------------------------------------------------------------
// All threads share one packed B panel per (jc, pc) step, as BLIS does: the panel's slivers are
// packed cooperatively, a barrier waits until the whole panel is there, then the threads compute
// macro-tiles of C (an MC-row block of A, packed by the thread that takes it, times a run of B
// slivers). Both phases hand out their work items through one atomic counter, so a thread slowed
// by a busy core simply takes fewer. Two panel buffers alternate, so the only barrier per step is
// the one after packing: a thread packs panel s+1 while others still compute from panel s, and
// it cannot reach panel s+2 (the buffer of s) before everyone has passed the barrier of s+1, that
// is, before everyone has finished computing from s.
//
// Work items are numbered globally across the phases (pack of step 0, compute of step 0, pack of
// step 1, ...); every thread walks the same sequence of phases, so it knows each phase's range.
// A thread takes items with an atomic add; the one it takes past its phase's end belongs to a
// later phase, and it keeps it until it gets there. Nothing is ever reset during a call.
//
// Small problems, where a barrier costs more than sharing saves, ask (flag GEMM_STATIC) for the
// static split instead ($gemm_static): each thread a fixed slice of C, packing its own panels.

/**
 * Macro-tiles per thread each (jc, pc) step is cut into at least (where N has the slivers): small
 * enough that a thread slowed by a busy core leaves little for the others to wait on at the next
 * barrier. Measured on an idle 16-core Xeon at 1024³ (GFLOP/s, median; plain / FMA), the static
 * split before vs 4, 8, 16 tiles per thread: 2 threads 40.7 / 45.9 vs 47.9 / 58.1, 46.7 / 55.0,
 * 48.9 / 59.4; 4 threads 66.2 / 89.3 vs 84.6 / 95.1, 87.9 / 98.7, 87.0 / 102.4.
 */
const TILES_PER_THREAD = 16;
/** Slivers of B (8 columns each) per packing item. */
const PACK_GROUP = 16;
/** Scratch layout of gemm_f32: two counters on their own cache lines, two B panels, then per thread a packed A block and an edge tile. */
const CTRL_BYTES = 128;
/** Bytes of gemm_f32 scratch shared by all threads (counters and the two packed B panels). */
export const GEMM_PAR_SHARED_BYTES = CTRL_BYTES + 2 * PACK_B_BYTES;
/** Bytes of gemm_f32 scratch per thread (packed A block and edge tile). */
export const GEMM_PAR_THREAD_BYTES = PACK_A_BYTES + TILE_BYTES;
/**
 * Bytes of scratch gemm_f32 needs on nt threads: the shared panels and per-thread A blocks, or for
 * the static split (GEMM_STATIC) a whole serial scratch per thread, after the counters.
 */
export function gemmScratchBytes(nt: number): number {
  return Math.max(GEMM_PAR_SHARED_BYTES + nt * GEMM_PAR_THREAD_BYTES, CTRL_BYTES + nt * GEMM_SCRATCH_BYTES);
}
/** Bytes at the start of the scratch that must be zero when gemm_f32 starts (its counters). */
export const GEMM_PAR_ZERO_BYTES = CTRL_BYTES;
/** Spins on the barrier word before sleeping in memory.atomic.wait32 (a few tens of µs). */
const BARRIER_SPIN = 20000;
/** Seconds a barrier waits for a thread that does not arrive (it trapped) before trapping itself. */
const BARRIER_GIVE_UP_S = 10;

/** $barrier: one more arrival on the counter at ctr; returns once the count reaches target (spin, then sleep). */
function barrier(): string {
  return `
  (func $barrier (param $ctr i32) (param $target i32)
    (local $v i32) (local $spin i32) (local $naps i32)
    (local.set $v (i32.add (i32.atomic.rmw.add (local.get $ctr) (i32.const 1)) (i32.const 1)))
    (if (i32.ge_u (local.get $v) (local.get $target)) (then
      ;; the last one in wakes whoever sleeps
      (drop (memory.atomic.notify (local.get $ctr) (i32.const -1)))
      (return)))
    (loop $wait
      (local.set $v (i32.atomic.load (local.get $ctr)))
      (if (i32.lt_u (local.get $v) (local.get $target)) (then
        (if (i32.lt_u (local.get $spin) ${i32(BARRIER_SPIN)})
          (then (local.set $spin (i32.add (local.get $spin) (i32.const 1))))
          ;; returns at once if the word is no longer v (the last arrival came in between); 2 after
          ;; a second's sleep. A thread that trapped never arrives: after ${BARRIER_GIVE_UP_S} s trap here too, so
          ;; that run() reports the failure instead of hanging.
          (else
            (if (i32.eq (memory.atomic.wait32 (local.get $ctr) (local.get $v) (i64.const 1000000000)) (i32.const 2)) (then
              (local.set $naps (i32.add (local.get $naps) (i32.const 1)))
              (if (i32.ge_u (local.get $naps) ${i32(BARRIER_GIVE_UP_S)}) (then (unreachable)))))))
        (br $wait)))))`;
}

function gemmEntry(suffix: string): string {
  return `
  ;; gemm_f32: C = op(A·B) on nt threads (one thread: the serial loop nest, in the scratch after the counters)
  (func (export "gemm_f32${suffix}") (param $tid i32) (param $nt i32) (param $M i32) (param $N i32) (param $K i32)
        (param $a i32) (param $rsa i32) (param $csa i32) (param $b i32) (param $rsb i32) (param $csb i32)
        (param $c i32) (param $ldc i32) (param $flags i32) (param $brow i32) (param $bcol i32) (param $scratch i32)
    (local $arrive i32) (local $next i32) (local $packA i32) (local $tile i32) (local $packB i32) (local $ldc4 i32)
    (local $jc i32) (local $nc i32) (local $pc i32) (local $kc i32) (local $mode i32) (local $step i32)
    (local $item i32) (local $base i32) (local $end i32) (local $q i32)
    (local $slivers i32) (local $nIc i32) (local $chunks i32) (local $chunkSl i32)
    (local $ic i32) (local $mc i32) (local $j0 i32) (local $j1 i32) (local $jr i32) (local $ir i32) (local $cBlock i32)
    (local $aIc i32) (local $aStep i32)
    (if (i32.or (i32.le_s (local.get $M) (i32.const 0)) (i32.le_s (local.get $N) (i32.const 0))) (then (return)))
    (if (i32.le_s (local.get $nt) (i32.const 1)) (then
      (call $gemm_serial (local.get $M) (local.get $N) (local.get $K) (local.get $a) (local.get $rsa) (local.get $csa)
        (local.get $b) (local.get $rsb) (local.get $csb) (local.get $c) (local.get $ldc) (local.get $flags)
        (local.get $brow) (local.get $bcol) (i32.add (local.get $scratch) ${i32(CTRL_BYTES)}))
      (return)))
    ;; the caller asks for the static split (small problems, where a barrier costs more than it saves)
    (if (i32.and (local.get $flags) ${i32(GEMM_STATIC)}) (then
      (call $gemm_static (local.get $tid) (local.get $nt) (local.get $M) (local.get $N) (local.get $K)
        (local.get $a) (local.get $rsa) (local.get $csa) (local.get $b) (local.get $rsb) (local.get $csb)
        (local.get $c) (local.get $ldc) (local.get $flags) (local.get $brow) (local.get $bcol)
        (i32.add (local.get $scratch) ${i32(CTRL_BYTES)}))
      (return)))
    (local.set $arrive (local.get $scratch))
    (local.set $next (i32.add (local.get $scratch) (i32.const 64)))
    (local.set $packA (i32.add (i32.add (local.get $scratch) ${i32(GEMM_PAR_SHARED_BYTES)})
                               (i32.mul (local.get $tid) ${i32(GEMM_PAR_THREAD_BYTES)})))
    (local.set $tile (i32.add (local.get $packA) ${i32(PACK_A_BYTES)}))
    (local.set $ldc4 (i32.shl (local.get $ldc) (i32.const 2)))
    (local.set $item (i32.const -1))
    (local.set $aIc (i32.const -1))
    (loop $jc_loop
      (local.set $nc (call $min ${i32(NC)} (i32.sub (local.get $N) (local.get $jc))))
      (local.set $slivers (i32.shr_u (i32.add (local.get $nc) ${i32(NR - 1)}) (i32.const 3)))
      ;; compute items: MC-row blocks × runs of slivers, at least ${TILES_PER_THREAD} per thread where N allows
      (local.set $nIc (i32.div_u (i32.add (local.get $M) ${i32(MC - 1)}) ${i32(MC)}))
      (local.set $chunks (call $min (local.get $slivers)
        (call $max (i32.const 1) (i32.div_u (i32.add (i32.mul (local.get $nt) ${i32(TILES_PER_THREAD)}) (i32.sub (local.get $nIc) (i32.const 1))) (local.get $nIc)))))
      (local.set $chunkSl (i32.div_u (i32.add (local.get $slivers) (i32.sub (local.get $chunks) (i32.const 1))) (local.get $chunks)))
      (local.set $chunks (i32.div_u (i32.add (local.get $slivers) (i32.sub (local.get $chunkSl) (i32.const 1))) (local.get $chunkSl)))
      (local.set $pc (i32.const 0))
      ;; K slices: at least one, so that K = 0 still overwrites C and applies the epilogue
      (loop $pc_loop
        (local.set $kc (call $min ${i32(KC)} (i32.sub (local.get $K) (local.get $pc))))
        (local.set $mode (i32.const 0))
        (if (i32.and (i32.eqz (local.get $pc)) (i32.eqz (i32.and (local.get $flags) ${i32(GEMM_ACCUMULATE)})))
          (then (local.set $mode (i32.const 1))))
        (if (i32.ge_s (i32.add (local.get $pc) (local.get $kc)) (local.get $K))
          (then (local.set $mode (i32.or (local.get $mode) (i32.and (local.get $flags) (i32.const 14))))))
        (local.set $packB (i32.add (i32.add (local.get $scratch) ${i32(CTRL_BYTES)})
                                   (i32.mul (i32.and (local.get $step) (i32.const 1)) ${i32(PACK_B_BYTES)})))
        ;; phase 1: pack the panel, ${PACK_GROUP} slivers per item
        (local.set $end (i32.add (local.get $base)
          (i32.div_u (i32.add (local.get $slivers) ${i32(PACK_GROUP - 1)}) ${i32(PACK_GROUP)})))
        (block $pack_done (loop $pack
          (if (i32.lt_s (local.get $item) (local.get $base))
            (then (local.set $item (i32.atomic.rmw.add (local.get $next) (i32.const 1)))))
          (br_if $pack_done (i32.ge_s (local.get $item) (local.get $end)))
          (local.set $j0 (i32.mul (i32.sub (local.get $item) (local.get $base)) ${i32(PACK_GROUP * NR)}))
          (call $pack_b
            (i32.add (local.get $b) (i32.shl (i32.add (i32.mul (local.get $pc) (local.get $rsb))
                                                     (i32.mul (i32.add (local.get $jc) (local.get $j0)) (local.get $csb))) (i32.const 2)))
            (local.get $rsb) (local.get $csb) (local.get $kc)
            (call $min ${i32(PACK_GROUP * NR)} (i32.sub (local.get $nc) (local.get $j0)))
            (i32.add (local.get $packB) (i32.shl (i32.mul (local.get $j0) (local.get $kc)) (i32.const 2))))
          (local.set $item (i32.const -1))
          (br $pack)))
        (local.set $base (local.get $end))
        (local.set $step (i32.add (local.get $step) (i32.const 1)))
        (call $barrier (local.get $arrive) (i32.mul (local.get $step) (local.get $nt)))
        ;; phase 2: macro-tiles, block-major (a thread taking two tiles of one block packs it once)
        (local.set $end (i32.add (local.get $base) (i32.mul (local.get $nIc) (local.get $chunks))))
        (block $tiles_done (loop $tiles
          (if (i32.lt_s (local.get $item) (local.get $base))
            (then (local.set $item (i32.atomic.rmw.add (local.get $next) (i32.const 1)))))
          (br_if $tiles_done (i32.ge_s (local.get $item) (local.get $end)))
          (local.set $q (i32.div_u (i32.sub (local.get $item) (local.get $base)) (local.get $chunks)))
          (local.set $ic (i32.mul (local.get $q) ${i32(MC)}))
          (local.set $mc (call $min ${i32(MC)} (i32.sub (local.get $M) (local.get $ic))))
          (if (i32.or (i32.ne (local.get $aIc) (local.get $q)) (i32.ne (local.get $aStep) (local.get $step))) (then
            (call $pack_a
              (i32.add (local.get $a) (i32.shl (i32.add (i32.mul (local.get $ic) (local.get $rsa))
                                                       (i32.mul (local.get $pc) (local.get $csa))) (i32.const 2)))
              (local.get $rsa) (local.get $csa) (local.get $mc) (local.get $kc) (local.get $packA))
            (local.set $aIc (local.get $q))
            (local.set $aStep (local.get $step))))
          (local.set $j0 (i32.mul (i32.mul (i32.rem_u (i32.sub (local.get $item) (local.get $base)) (local.get $chunks))
                                           (local.get $chunkSl)) ${i32(NR)}))
          (local.set $j1 (call $min (local.get $nc) (i32.add (local.get $j0) (i32.mul (local.get $chunkSl) ${i32(NR)}))))
          (local.set $cBlock (i32.add (local.get $c)
            (i32.shl (i32.add (i32.mul (local.get $ic) (local.get $ldc)) (local.get $jc)) (i32.const 2))))
          (local.set $jr (local.get $j0))
          (loop $jr_loop
            (local.set $ir (i32.const 0))
            (loop $ir_loop
              (call $micro (local.get $kc)
                (i32.add (local.get $packA) (i32.shl (i32.mul (local.get $ir) (local.get $kc)) (i32.const 2)))
                (i32.add (local.get $packB) (i32.shl (i32.mul (local.get $jr) (local.get $kc)) (i32.const 2)))
                (i32.add (local.get $cBlock) (i32.add (i32.mul (local.get $ir) (local.get $ldc4))
                                                      (i32.shl (local.get $jr) (i32.const 2))))
                (local.get $ldc4)
                (select ${i32(MR)} (i32.sub (local.get $mc) (local.get $ir)) (i32.ge_s (i32.sub (local.get $mc) (local.get $ir)) ${i32(MR)}))
                (select ${i32(NR)} (i32.sub (local.get $nc) (local.get $jr)) (i32.ge_s (i32.sub (local.get $nc) (local.get $jr)) ${i32(NR)}))
                (local.get $mode)
                (i32.add (local.get $brow) (i32.shl (i32.add (local.get $ic) (local.get $ir)) (i32.const 2)))
                (i32.add (local.get $bcol) (i32.shl (i32.add (local.get $jc) (local.get $jr)) (i32.const 2)))
                (local.get $tile))
              (local.set $ir (i32.add (local.get $ir) ${i32(MR)}))
              (br_if $ir_loop (i32.lt_s (local.get $ir) (local.get $mc))))
            (local.set $jr (i32.add (local.get $jr) ${i32(NR)}))
            (br_if $jr_loop (i32.lt_s (local.get $jr) (local.get $j1))))
          (local.set $item (i32.const -1))
          (br $tiles)))
        (local.set $base (local.get $end))
        (local.set $pc (i32.add (local.get $pc) ${i32(KC)}))
        (br_if $pc_loop (i32.lt_s (local.get $pc) (local.get $K))))
      (local.set $jc (i32.add (local.get $jc) ${i32(NC)}))
      (br_if $jc_loop (i32.lt_s (local.get $jc) (local.get $N)))))`;
}

/** $gemm_static: thread tid of nt computes an MR- or NR-aligned slice of C on its own (no shared panel, no barrier). */
function gemmStatic(): string {
  return `
  ;; thread tid of nt takes a slice of whole 8-column slivers of N
  ;; (when N is the larger side, so each thread re-packs only the smaller A) or of whole 4-row
  ;; slivers of M, packing its own panels in scratch + tid·${GEMM_SCRATCH_BYTES}.
  (func $gemm_static (param $tid i32) (param $nt i32) (param $M i32) (param $N i32) (param $K i32)
        (param $a i32) (param $rsa i32) (param $csa i32) (param $b i32) (param $rsb i32) (param $csb i32)
        (param $c i32) (param $ldc i32) (param $flags i32) (param $brow i32) (param $bcol i32) (param $scratch i32)
    (local $tilesM i32) (local $tilesN i32) (local $t0 i32) (local $t1 i32) (local $lo i32) (local $hi i32)
    (local.set $scratch (i32.add (local.get $scratch) (i32.mul (local.get $tid) ${i32(GEMM_SCRATCH_BYTES)})))
    (local.set $tilesM (i32.div_u (i32.add (local.get $M) ${i32(MR - 1)}) ${i32(MR)}))
    (local.set $tilesN (i32.div_u (i32.add (local.get $N) ${i32(NR - 1)}) ${i32(NR)}))
    (if (select
          (i32.ge_s (local.get $tilesN) (call $min (local.get $nt) (local.get $tilesM)))
          (i32.and (i32.lt_s (local.get $tilesM) (local.get $nt)) (i32.gt_s (local.get $tilesN) (local.get $tilesM)))
          (i32.ge_s (local.get $N) (local.get $M)))
      (then
        (local.set $t0 (call $part (local.get $tilesN) (local.get $tid) (local.get $nt)))
        (local.set $t1 (call $part (local.get $tilesN) (i32.add (local.get $tid) (i32.const 1)) (local.get $nt)))
        (local.set $lo (i32.mul (local.get $t0) ${i32(NR)}))
        (local.set $hi (call $min (local.get $N) (i32.mul (local.get $t1) ${i32(NR)})))
        (if (i32.ge_s (local.get $lo) (local.get $hi)) (then (return)))
        (call $gemm_serial (local.get $M) (i32.sub (local.get $hi) (local.get $lo)) (local.get $K)
          (local.get $a) (local.get $rsa) (local.get $csa)
          (i32.add (local.get $b) (i32.shl (i32.mul (local.get $lo) (local.get $csb)) (i32.const 2))) (local.get $rsb) (local.get $csb)
          (i32.add (local.get $c) (i32.shl (local.get $lo) (i32.const 2))) (local.get $ldc) (local.get $flags)
          (local.get $brow) (i32.add (local.get $bcol) (i32.shl (local.get $lo) (i32.const 2)))
          (local.get $scratch)))
      (else
        (local.set $t0 (call $part (local.get $tilesM) (local.get $tid) (local.get $nt)))
        (local.set $t1 (call $part (local.get $tilesM) (i32.add (local.get $tid) (i32.const 1)) (local.get $nt)))
        (local.set $lo (i32.mul (local.get $t0) ${i32(MR)}))
        (local.set $hi (call $min (local.get $M) (i32.mul (local.get $t1) ${i32(MR)})))
        (if (i32.ge_s (local.get $lo) (local.get $hi)) (then (return)))
        (call $gemm_serial (i32.sub (local.get $hi) (local.get $lo)) (local.get $N) (local.get $K)
          (i32.add (local.get $a) (i32.shl (i32.mul (local.get $lo) (local.get $rsa)) (i32.const 2))) (local.get $rsa) (local.get $csa)
          (local.get $b) (local.get $rsb) (local.get $csb)
          (i32.add (local.get $c) (i32.shl (i32.mul (local.get $lo) (local.get $ldc)) (i32.const 2))) (local.get $ldc) (local.get $flags)
          (i32.add (local.get $brow) (i32.shl (local.get $lo) (i32.const 2))) (local.get $bcol)
          (local.get $scratch)))))`;
}

/** One module's text: plain SIMD, or with relaxed the twin whose micro-kernel uses relaxed_madd (exports suffixed _relaxed). */
export function moduleText(relaxed: boolean): string {
  return `;; generated by kernels/wasm/src/gemm.gen.ts${relaxed ? ' (relaxed-SIMD twin)' : ''}
(module
  (import "env" "memory" (memory 1 65536 shared))
${gemmCore(relaxed)}
${barrier()}
${gemmEntry(relaxed ? '_relaxed' : '')}
${gemmStatic()})
`;
}

/** The modules `gemm` and `gemm.relaxed` (scripts/build-wasm.ts). */
export function generate(): Record<string, string> {
  return { gemm: moduleText(false), 'gemm.relaxed': moduleText(true) };
}
