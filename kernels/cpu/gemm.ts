// GEMM: C[i, j] (+)= Σ_k A[i, k] · B[k, j], for M×K A and K×N B read through strides
// (so transposes are free: A[i, k] = a[aOff + i·aRow + k·aCol]). C is row-major with leading
// dimension ldc. Two versions: the reference triple loop, and a blocked, register-tiled one.

type FloatArray = Float32Array | Float64Array;

export interface GemmArgs {
  M: number;
  N: number;
  K: number;
  a: FloatArray;
  aOffset: number;
  aRowStride: number;
  aColStride: number;
  b: FloatArray;
  bOffset: number;
  bRowStride: number;
  bColStride: number;
  c: FloatArray;
  cOffset: number;
  ldc: number;
  /** Add into C instead of overwriting it. */
  accumulate?: boolean;
}

/** Reference: the textbook i-j-k loop, one dot product per output element. */
export function gemmReference(g: GemmArgs): void {
  const { M, N, K, a, b, c } = g;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let sum = 0;
      for (let k = 0; k < K; k++) {
        sum += a[g.aOffset + i * g.aRowStride + k * g.aColStride] * b[g.bOffset + k * g.bRowStride + j * g.bColStride];
      }
      const ci = g.cOffset + i * g.ldc + j;
      c[ci] = g.accumulate ? c[ci] + sum : sum;
    }
  }
}

// Blocking parameters (BLIS loop order): a KC×NC panel of B and an MC×KC block of A are packed
// into contiguous scratch so the inner kernel streams memory; the MR×NR micro-tile of C stays in
// 16 local variables (registers) for the whole k loop.
const MR = 4;
const NR = 4;
const KC = 256;
const MC = 64;
const NC = 1024;

// Packed panels are float64 whatever the input dtype: the hot loop then sees one array type
// (monomorphic for V8), and float32 inputs accumulate in double before the final rounding.
let packA = new Float64Array(MC * KC);
let packB = new Float64Array(KC * NC);

/**
 * Pack B[pc:pc+kc, jc:jc+nc] as column slivers of width NR: sliver s holds, for each k,
 * the NR values B[k, jc+s·NR .. +NR] (zero-padded past N).
 */
function packPanelB(g: GemmArgs, pc: number, kc: number, jc: number, nc: number): void {
  const { b, bRowStride: rs, bColStride: cs } = g;
  let p = 0;
  for (let j0 = 0; j0 < nc; j0 += NR) {
    const w = Math.min(NR, nc - j0);
    for (let k = 0; k < kc; k++) {
      const row = g.bOffset + (pc + k) * rs + (jc + j0) * cs;
      for (let j = 0; j < NR; j++) packB[p++] = j < w ? b[row + j * cs] : 0;
    }
  }
}

/** Pack A[ic:ic+mc, pc:pc+kc] as row slivers of height MR: for each k, the MR values A[i0.., k]. */
function packBlockA(g: GemmArgs, ic: number, mc: number, pc: number, kc: number): void {
  const { a, aRowStride: rs, aColStride: cs } = g;
  let p = 0;
  for (let i0 = 0; i0 < mc; i0 += MR) {
    const h = Math.min(MR, mc - i0);
    for (let k = 0; k < kc; k++) {
      const col = g.aOffset + (ic + i0) * rs + (pc + k) * cs;
      for (let i = 0; i < MR; i++) packA[p++] = i < h ? a[col + i * rs] : 0;
    }
  }
}

/** The 4×4 micro-kernel: c(4×4) = Σ_k a[k](4) ⊗ b[k](4) over packed slivers. */
function microKernel(kc: number, pa: number, pb: number, out: Float64Array): void {
  const A = packA;
  const B = packB;
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  for (let k = 0; k < kc; k++, pa += 4, pb += 4) {
    const a0 = A[pa], a1 = A[pa + 1], a2 = A[pa + 2], a3 = A[pa + 3];
    const b0 = B[pb], b1 = B[pb + 1], b2 = B[pb + 2], b3 = B[pb + 3];
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
  }
  out[0] = c00; out[1] = c01; out[2] = c02; out[3] = c03;
  out[4] = c10; out[5] = c11; out[6] = c12; out[7] = c13;
  out[8] = c20; out[9] = c21; out[10] = c22; out[11] = c23;
  out[12] = c30; out[13] = c31; out[14] = c32; out[15] = c33;
}

const tile = new Float64Array(MR * NR);

/** Blocked GEMM; same contract and results (to rounding) as gemmReference. */
export function gemmBlocked(g: GemmArgs): void {
  const { M, N, K, c, cOffset, ldc } = g;
  if (M === 0 || N === 0) return;
  if (packA.length < MC * KC) packA = new Float64Array(MC * KC);
  if (packB.length < KC * NC) packB = new Float64Array(KC * NC);
  if (!g.accumulate) {
    for (let i = 0; i < M; i++) c.fill(0, cOffset + i * ldc, cOffset + i * ldc + N);
  }
  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = Math.min(KC, K - pc);
      packPanelB(g, pc, kc, jc, nc);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = Math.min(MC, M - ic);
        packBlockA(g, ic, mc, pc, kc);
        for (let jr = 0; jr < nc; jr += NR) {
          const w = Math.min(NR, nc - jr);
          for (let ir = 0; ir < mc; ir += MR) {
            const h = Math.min(MR, mc - ir);
            microKernel(kc, ir * kc, jr * kc, tile);
            // C tile += micro-tile (only the valid h×w corner at the edges)
            let cRow = cOffset + (ic + ir) * ldc + jc + jr;
            for (let i = 0; i < h; i++, cRow += ldc) {
              for (let j = 0; j < w; j++) c[cRow + j] = c[cRow + j] + tile[i * NR + j];
            }
          }
        }
      }
    }
  }
}
