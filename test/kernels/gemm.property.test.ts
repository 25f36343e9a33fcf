// Property-based (fast-check): the blocked, register-tiled GEMM against the reference triple
// loop, over random M, N, K (edges like 1, 5, 63-65, 257 that straddle the 4×4 micro-tile and
// the MC=64 / KC=256 / NC=1024 blocks), row-major or transposed operands with padded strides
// and offsets, overwrite or accumulate, float32 and float64; then batched matmul through the
// op with either GEMM against naive loops.
//
// Tolerance: the two differ only in summation order (and, in float32, in how often the partial
// sums are rounded to float32 — once per KC pass in the blocked kernel). With S = Σ_k |a||b| +
// |c0|, a sum of K products is off by at most ~K·u·S in double (u = 2^-53) plus one float32
// rounding (2^-24·S) per pass, so we allow (K + 4)·2^-52·S in float64 and
// (passes + 1)·2^-23·S in float32.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type GemmArgs, gemmBlocked, gemmReference } from '../../kernels/cpu/gemm.js';
import { withVariants } from '../../core/cpu/registry.js';
import { Generator, type Tensor, autograd as ag, tensor } from '../../index.js';

type FloatArray = Float32Array | Float64Array;
type Dtype = 'float32' | 'float64';

interface Layout {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  /** Extra elements per row (or column) of A, B and C, and leading offsets. */
  padA: number;
  padB: number;
  padC: number;
  offA: number;
  offB: number;
  offC: number;
  accumulate: boolean;
  dtype: Dtype;
  seed: number;
}

const alloc = (dtype: Dtype, n: number): FloatArray => (dtype === 'float32' ? new Float32Array(n) : new Float64Array(n));

/** Buffers and strides for one case; every buffer slot (padding included) holds a random value. */
function setup(L: Layout) {
  const g = new Generator(L.seed);
  const fill = (n: number): FloatArray => alloc(L.dtype, n).map(() => g.normal());
  // A is M×K: row-major (row stride K + pad) or stored transposed (column stride M + pad).
  const [aRow, aCol] = L.transA ? [1, L.M + L.padA] : [L.K + L.padA, 1];
  const [bRow, bCol] = L.transB ? [1, L.K + L.padB] : [L.N + L.padB, 1];
  const a = fill(L.offA + (L.transA ? L.K * aCol : L.M * aRow));
  const b = fill(L.offB + (L.transB ? L.N * bCol : L.K * bRow));
  const ldc = L.N + L.padC;
  const c = fill(L.offC + L.M * ldc);
  const args = (cBuf: FloatArray, aBuf = a, bBuf = b, accumulate = L.accumulate): GemmArgs => ({
    M: L.M, N: L.N, K: L.K,
    a: aBuf, aOffset: L.offA, aRowStride: aRow, aColStride: aCol,
    b: bBuf, bOffset: L.offB, bRowStride: bRow, bColStride: bCol,
    c: cBuf, cOffset: L.offC, ldc, accumulate,
  });
  return { a, b, c, ldc, args };
}

/** Run both GEMMs on copies of C; check the valid region within the bound and the rest untouched. */
function checkGemm(L: Layout): void {
  const { a, b, c, ldc, args } = setup(L);
  const cRef = c.slice();
  const cBlk = c.slice();
  gemmReference(args(cRef));
  gemmBlocked(args(cBlk));
  // S = Σ_k |A||B| (+ |c0| when accumulating): the scale of each output's rounding error.
  const scale = alloc('float64', c.length);
  gemmReference(args(scale, a.map(Math.abs), b.map(Math.abs), false));
  const passes = Math.ceil(L.K / 256);
  const gamma = L.dtype === 'float64' ? (L.K + 4) * 2 ** -52 : (passes + 1) * 2 ** -23;
  for (let p = 0; p < c.length; p++) {
    const q = p - L.offC;
    const inside = q >= 0 && q % ldc < L.N;
    if (!inside) {
      expect(cBlk[p], `C slot ${p} outside the M×N block was written`).toBe(c[p]);
      continue;
    }
    const S = (scale[p] as number) + (L.accumulate ? Math.abs(c[p] as number) : 0);
    const diff = Math.abs((cBlk[p] as number) - (cRef[p] as number));
    if (!(diff <= gamma * S + Number.MIN_VALUE)) {
      throw new Error(`C[${Math.floor(q / ldc)}, ${q % ldc}]: blocked ${cBlk[p]} vs reference ${cRef[p]} (|diff| ${diff} > ${gamma * S})`);
    }
  }
}

const dim = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 24 }) },
  { weight: 2, arbitrary: fc.constantFrom(1, 4, 5, 63, 64, 65, 129, 257) },
);
const layout: fc.Arbitrary<Layout> = fc
  .record({
    M: dim, N: dim, K: dim,
    transA: fc.boolean(), transB: fc.boolean(),
    padA: fc.integer({ min: 0, max: 3 }), padB: fc.integer({ min: 0, max: 3 }), padC: fc.integer({ min: 0, max: 3 }),
    offA: fc.integer({ min: 0, max: 5 }), offB: fc.integer({ min: 0, max: 5 }), offC: fc.integer({ min: 0, max: 5 }),
    accumulate: fc.boolean(),
    dtype: fc.constantFrom<Dtype>('float32', 'float64'),
    seed: fc.nat(),
  })
  .filter((L) => L.M * L.N * L.K <= 400_000); // keep each run cheap; the big edges have their own cases

const name = (L: Layout): string =>
  `gemm M=${L.M} N=${L.N} K=${L.K} ${L.dtype}${L.transA ? ' transA' : ''}${L.transB ? ' transB' : ''}${L.accumulate ? ' accumulate' : ''}`;

describe('blocked GEMM vs reference (property)', () => {
  it('random M, N, K, layouts, strides and offsets', () => {
    fc.assert(fc.property(layout, checkGemm), { numRuns: 150 });
  });

  const base = { transA: false, transB: false, padA: 0, padB: 0, padC: 0, offA: 0, offB: 0, offC: 0, accumulate: false, seed: 5 };
  const edges: Layout[] = [
    { ...base, M: 257, N: 257, K: 257, dtype: 'float32', transA: true, padC: 2, offC: 3 },
    { ...base, M: 257, N: 257, K: 257, dtype: 'float64', transB: true, accumulate: true },
    { ...base, M: 1, N: 1, K: 1, dtype: 'float64' },
    { ...base, M: 5, N: 1030, K: 3, dtype: 'float32', padB: 1 }, // N crosses NC=1024
    { ...base, M: 65, N: 7, K: 600, dtype: 'float32', transA: true, transB: true, accumulate: true }, // K crosses KC twice
    { ...base, M: 1, N: 257, K: 1, dtype: 'float64', offA: 2, offB: 1 },
    { ...base, M: 3, N: 4, K: 0, dtype: 'float64', padC: 1 }, // K=0: C = 0
    { ...base, M: 3, N: 4, K: 0, dtype: 'float32', accumulate: true }, // K=0 accumulate: C unchanged
  ];
  for (const L of edges) it(name(L), () => checkGemm(L));
});

/** Naive batched product of logical arrays (row-major values) with batch broadcasting. */
function naiveMatmul(av: ArrayLike<number>, as: number[], bv: ArrayLike<number>, bs: number[]): { out: number[]; shape: number[] } {
  const M = as[as.length - 2] as number;
  const K = as[as.length - 1] as number;
  const N = bs[bs.length - 1] as number;
  const ba = as.slice(0, -2);
  const bb = bs.slice(0, -2);
  const n = Math.max(ba.length, bb.length);
  const pa = [...new Array<number>(n - ba.length).fill(1), ...ba];
  const pb = [...new Array<number>(n - bb.length).fill(1), ...bb];
  const batch = pa.map((x, i) => Math.max(x, pb[i] as number));
  const nb = batch.reduce((p, v) => p * v, 1);
  const out: number[] = [];
  for (let bi = 0; bi < nb; bi++) {
    // batch multi-index, then each operand's batch position (size-1 dims read index 0)
    let rem = bi;
    const idx = batch.map(() => 0);
    for (let d = n - 1; d >= 0; d--) {
      idx[d] = rem % (batch[d] as number);
      rem = Math.floor(rem / (batch[d] as number));
    }
    const posA = idx.reduce((f, v, d) => f * (pa[d] as number) + (pa[d] === 1 ? 0 : v), 0);
    const posB = idx.reduce((f, v, d) => f * (pb[d] as number) + (pb[d] === 1 ? 0 : v), 0);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += (av[posA * M * K + i * K + k] as number) * (bv[posB * K * N + k * N + j] as number);
        out.push(s);
      }
    }
  }
  return { out, shape: [...batch, M, N] };
}

describe('batched matmul through the op (property)', () => {
  const batchDims = fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 2 });
  const mm = fc.record({
    M: fc.integer({ min: 1, max: 9 }), N: fc.integer({ min: 1, max: 9 }), K: fc.integer({ min: 1, max: 9 }),
    batchA: batchDims, onesB: fc.array(fc.boolean(), { minLength: 2, maxLength: 2 }), dropB: fc.integer({ min: 0, max: 2 }),
    transA: fc.boolean(), transB: fc.boolean(),
    impl: fc.constantFrom<'blocked' | 'reference'>('blocked', 'reference'),
    seed: fc.nat(),
  });

  it('matmul(a, b) with broadcast batch dims and transposed views equals the naive loops (float64)', () => {
    fc.assert(
      fc.property(mm, (c) => {
        const batchB = c.batchA.slice(Math.min(c.dropB, c.batchA.length)).map((s, i) => (c.onesB[i] ? 1 : s));
        const g = new Generator(c.seed);
        const make = (batch: number[], rows: number, cols: number, trans: boolean): [Tensor, Float64Array, number[]] => {
          const shape = [...batch, rows, cols];
          const vals = Float64Array.from({ length: shape.reduce((p, v) => p * v, 1) }, () => g.normal());
          const t = tensor(vals, { shape, dtype: 'float64' });
          // same values, stored transposed: a strided operand for the GEMM
          const v = trans ? ag.transpose(ag.contiguous(ag.transpose(t, -1, -2)), -1, -2) : t;
          return [v, vals, shape];
        };
        const [a, av, as] = make(c.batchA, c.M, c.K, c.transA);
        const [b, bv, bs] = make(batchB, c.K, c.N, c.transB);
        const out: Tensor = withVariants({ matmul: c.impl }, () => ag.matmul(a, b));
        const ref = naiveMatmul(av, as, bv, bs);
        expect([...out.shape]).toEqual(ref.shape);
        const got = out.toArray();
        ref.out.forEach((v, i) => {
          expect(Math.abs((got[i] as number) - v)).toBeLessThanOrEqual(1e-13 * (1 + Math.abs(v)) * c.K);
        });
      }),
      { numRuns: 200 },
    );
  });
});
