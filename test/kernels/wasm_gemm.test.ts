// The WASM SIMD SGEMM (kernels/wasm/gemm.ts, source kernels/wasm/src/gemm.gen.ts), plain and
// relaxed-FMA, on 1, 2 and 3 threads, against gemmReference run in float64 on the same float32
// inputs (the truth), with the bias / ReLU epilogue applied to it in float64.
//
// Shapes straddle every blocking edge: M, N, K = 1, odd sizes, the 4×8 micro-tile, MC = 128
// (127..129), KC = 256 (255, 256, 257, 513) and NC = 1024 (1023..1025); operands row-major or
// transposed, with padded strides and offsets; overwrite or accumulate; bias per row and/or
// column; ReLU.
//
// Tolerance, per element: with S = Σ_k |A[i,k]·B[k,j]| + |C0| + |biases|, each of the K + 3
// float32 roundings of a partial sum is at most 2^-24·S, and they behave like independent
// errors, so the total stays below ~sqrt(K)·2^-24·S; we allow (sqrt(K) + 2)·2^-23·S, twice that.
// (The fused multiply-add of the relaxed kernel rounds fewer times, so it is inside the same
// bound.) ReLU is 1-Lipschitz, so it does not widen the error.

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Generator } from '../../core/random.js';
import { gemmReference } from '../../kernels/cpu/gemm.js';
import { gemmPtr, sgemmWasm, wasmTuning } from '../../kernels/wasm/gemm.js';
import { wasmModules } from '../../kernels/wasm/generated/index.js';
import { describeWasm, getNumThreads, getWasm, setNumThreads, type WasmRuntime } from '../../kernels/wasm/runtime.js';

function runtime(): WasmRuntime {
  const rt = getWasm();
  if (rt === null) throw new Error(`no wasm runtime in Node: ${describeWasm()}`);
  return rt;
}

interface Case {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  /** Extra elements per row/column of A, B, C and leading offsets. */
  pad: number;
  off: number;
  accumulate: boolean;
  rowBias: boolean;
  colBias: boolean;
  relu: boolean;
}

const name = (c: Case): string =>
  `M=${c.M} N=${c.N} K=${c.K}${c.transA ? ' Aᵀ' : ''}${c.transB ? ' Bᵀ' : ''}${c.pad ? ` pad=${c.pad}` : ''}${c.off ? ` off=${c.off}` : ''}` +
  `${c.accumulate ? ' acc' : ''}${c.rowBias ? ' +row' : ''}${c.colBias ? ' +col' : ''}${c.relu ? ' relu' : ''}`;

interface Prepared {
  a: Float32Array;
  b: Float32Array;
  c0: Float32Array;
  rowBias: Float32Array | null;
  colBias: Float32Array | null;
  strides: { aRow: number; aCol: number; bRow: number; bCol: number; ldc: number };
  /** float64 truth of A·B (+ C0) and the same sum over absolute values, over the whole C buffer */
  ref: Float64Array;
  abs: Float64Array;
}

// The float64 references are the slow part: each case's is computed once and shared by every
// thread count and variant.
const prepared = new Map<string, Prepared>();

function prepare(c: Case, seed: number): Prepared {
  const key = `${name(c)} seed=${seed}`;
  const hit = prepared.get(key);
  if (hit) return hit;
  const g = new Generator(seed);
  const fill = (n: number): Float32Array => Float32Array.from({ length: n }, () => g.normal());
  const [aRow, aCol] = c.transA ? [1, c.M + c.pad] : [c.K + c.pad, 1];
  const [bRow, bCol] = c.transB ? [1, c.K + c.pad] : [c.N + c.pad, 1];
  const ldc = c.N + c.pad;
  const a = fill(c.off + (c.transA ? c.K * aCol : c.M * aRow));
  const b = fill(c.off + (c.transB ? c.N * bCol : c.K * bRow));
  const c0 = fill(c.off + c.M * ldc + 3);
  const rowBias = c.rowBias ? fill(c.M) : null;
  const colBias = c.colBias ? fill(c.N) : null;
  const ref = Float64Array.from(c0);
  const abs = Float64Array.from(c0, Math.abs);
  const args = { M: c.M, N: c.N, K: c.K, aOffset: c.off, aRowStride: aRow, aColStride: aCol, bOffset: c.off, bRowStride: bRow, bColStride: bCol, cOffset: c.off, ldc, accumulate: c.accumulate };
  gemmReference({ ...args, a: Float64Array.from(a), b: Float64Array.from(b), c: ref });
  gemmReference({ ...args, a: Float64Array.from(a, Math.abs), b: Float64Array.from(b, Math.abs), c: abs, accumulate: true });
  const p = { a, b, c0, rowBias, colBias, strides: { aRow, aCol, bRow, bCol, ldc }, ref, abs };
  prepared.set(key, p);
  return p;
}

/** Runs one case through sgemmWasm and checks every element of C (gaps between rows included). */
function check(c: Case, relaxed: boolean, seed: number): void {
  const { a, b, c0, rowBias, colBias, abs, strides } = prepare(c, seed);
  const { aRow, aCol, bRow, bCol, ldc } = strides;
  const ref = prepare(c, seed).ref.slice();
  const out = c0.slice();
  sgemmWasm(
    {
      M: c.M, N: c.N, K: c.K,
      a, aOffset: c.off, aRowStride: aRow, aColStride: aCol,
      b, bOffset: c.off, bRowStride: bRow, bColStride: bCol,
      c: out, cOffset: c.off, ldc,
      accumulate: c.accumulate, rowBias, colBias, relu: c.relu,
    },
    { relaxed },
  );
  const tolPerS = (Math.sqrt(c.K) + 2) * 2 ** -23;
  for (let i = 0; i < c.M; i++) {
    for (let j = 0; j < c.N; j++) {
      const at = c.off + i * ldc + j;
      let v = ref[at] as number;
      let s = (abs[at] as number) - (c.accumulate ? 0 : Math.abs(c0[at] as number));
      if (rowBias) { v += rowBias[i] as number; s += Math.abs(rowBias[i] as number); }
      if (colBias) { v += colBias[j] as number; s += Math.abs(colBias[j] as number); }
      if (c.relu) v = Math.max(v, 0);
      const got = out[at] as number;
      if (!(Math.abs(got - v) <= tolPerS * s)) {
        throw new Error(`${name(c)}${relaxed ? ' relaxed' : ''}: C[${i}, ${j}] = ${got}, expected ${v} (tolerance ${tolPerS * s})`);
      }
      ref[at] = Number.NaN; // visited
    }
  }
  // everything outside the M×N block is untouched
  for (let k = 0; k < out.length; k++) {
    if (!Number.isNaN(ref[k] as number) && out[k] !== c0[k]) throw new Error(`${name(c)}: element ${k} outside C was changed`);
  }
}

const BASE: Omit<Case, 'M' | 'N' | 'K'> = { transA: false, transB: false, pad: 0, off: 0, accumulate: false, rowBias: false, colBias: false, relu: false };

/** Fixed edge shapes, each with a different mix of layout and epilogue. */
const SHAPES: [number, number, number, Partial<Case>][] = [
  [1, 1, 1, {}],
  [1, 1, 0, { accumulate: true, rowBias: true }],
  [3, 5, 0, { colBias: true, relu: true }],
  [1, 17, 3, { transA: true }],
  [9, 1, 5, { transB: true, accumulate: true }],
  [4, 8, 256, { rowBias: true }],
  [5, 9, 255, { transA: true, transB: true, relu: true }],
  [7, 17, 257, { pad: 3, off: 5, accumulate: true, colBias: true }],
  [13, 31, 513, { transB: true, rowBias: true, colBias: true, relu: true }],
  [127, 33, 20, { transA: true, pad: 1 }],
  [128, 24, 31, { accumulate: true, relu: true }],
  [129, 40, 17, { transA: true, transB: true, off: 2, rowBias: true }],
  [3, 1023, 9, { colBias: true }],
  [6, 1024, 7, { transB: true, pad: 2, accumulate: true }],
  [5, 1025, 11, { transA: true, relu: true, rowBias: true }],
  [131, 1030, 260, { transB: true, accumulate: true, colBias: true, relu: true }],
  [64, 3136, 27, { rowBias: true, relu: true }],
];

const rtForRelaxed = runtime();
const VARIANTS = rtForRelaxed.relaxed ? [false, true] : [false];

describe('wasm gemm: relaxed-SIMD detection', () => {
  it('rt.relaxed says whether the relaxed module validates here', () => {
    const relaxedModule = wasmModules.find((m) => m.name === 'gemm.relaxed');
    expect(relaxedModule, 'gemm.relaxed is built').toBeDefined();
    const bytes = Uint8Array.from(atob(relaxedModule!.base64), (ch) => ch.charCodeAt(0));
    // when the runtime skipped relaxed, detection must really have failed (and vice versa)
    expect(runtime().relaxed).toBe(WebAssembly.validate(bytes));
    expect(runtime().has('gemm_f32_relaxed')).toBe(runtime().relaxed);
  });
});

/**
 * Runs the enclosing describe on nt threads with every shape split among them, by the static split
 * (each thread packs its own panels) or the shared-panel one (one packed B panel per step, tiles
 * handed out by an atomic counter, a barrier per step), whatever the size.
 */
function onThreadsWith(nt: number, split: 'static' | 'shared'): void {
  let previous = { threads: 1, minParallelMacs: 0, gemmStaticMaxMacs: 0 };
  beforeAll(() => {
    previous = { threads: getNumThreads(), ...wasmTuning };
    setNumThreads(nt);
    wasmTuning.minParallelMacs = 0; // every shape on every thread, however small
    wasmTuning.gemmStaticMaxMacs = split === 'static' ? Number.POSITIVE_INFINITY : 0;
  });
  afterAll(() => {
    setNumThreads(previous.threads);
    wasmTuning.minParallelMacs = previous.minParallelMacs;
    wasmTuning.gemmStaticMaxMacs = previous.gemmStaticMaxMacs;
  });
}

const RUNS: [number, 'static' | 'shared'][] = [[1, 'shared'], [2, 'static'], [2, 'shared'], [3, 'static'], [3, 'shared']];

for (const [nt, split] of RUNS) {
  describe(`wasm gemm on ${nt} thread${nt > 1 ? `s, ${split} split` : ''}`, () => {
    onThreadsWith(nt, split);

    for (const relaxed of VARIANTS) {
      const kind = relaxed ? 'relaxed' : 'plain';
      it(`${kind}: edge shapes around MR/NR, MC, KC and NC`, () => {
        SHAPES.forEach(([M, N, K, extra], s) => {
          check({ ...BASE, M, N, K, ...extra }, relaxed, 100 + s);
        });
      });

      it(`${kind}: random shapes, layouts and epilogues`, () => {
        const g = new Generator(7);
        for (let t = 0; t < 25; t++) {
          const pick = (): number => (g.uniform() < 0.2 ? 1 + g.integer(0, 3) : g.integer(1, 90));
          check(
            {
              M: pick(), N: pick(), K: g.uniform() < 0.1 ? 0 : g.integer(1, 300),
              transA: g.uniform() < 0.5, transB: g.uniform() < 0.5,
              pad: g.integer(0, 3), off: g.integer(0, 4),
              accumulate: g.uniform() < 0.5, rowBias: g.uniform() < 0.4, colBias: g.uniform() < 0.4, relu: g.uniform() < 0.4,
            },
            relaxed,
            1000 + t,
          );
        }
      });

      it(`${kind}: an Inf or NaN in one row of A stays in that row at an edge tile`, () => {
        // M = 6 and N = 11 leave partial tiles at the bottom and right; ldc = N, so a padded
        // column written by mistake would land in the next row. Row 1 of A holds an Inf, row 4 a
        // NaN: row 1 of C becomes ±Inf/NaN, row 4 NaN, and the other rows must stay exact.
        const M = 6;
        const N = 11;
        const K = 37;
        const g = new Generator(3);
        const a = Float32Array.from({ length: M * K }, () => g.normal());
        const b = Float32Array.from({ length: K * N }, () => g.normal());
        a[1 * K + 5] = Number.POSITIVE_INFINITY;
        a[4 * K + 30] = Number.NaN;
        const c = new Float32Array(M * N);
        sgemmWasm(
          { M, N, K, a, aOffset: 0, aRowStride: K, aColStride: 1, b, bOffset: 0, bRowStride: N, bColStride: 1, c, cOffset: 0, ldc: N },
          { relaxed },
        );
        const ref = new Float64Array(M * N);
        gemmReference({ M, N, K, a: Float64Array.from(a), aOffset: 0, aRowStride: K, aColStride: 1, b: Float64Array.from(b), bOffset: 0, bRowStride: N, bColStride: 1, c: ref, cOffset: 0, ldc: N });
        for (let i = 0; i < M; i++) {
          for (let j = 0; j < N; j++) {
            const got = c[i * N + j] as number;
            const want = ref[i * N + j] as number;
            if (i === 4) expect(got, `C[4, ${j}]`).toBeNaN();
            else if (i === 1) expect(Number.isFinite(got), `C[1, ${j}] = ${got}`).toBe(false);
            else expect(Math.abs(got - want), `C[${i}, ${j}]`).toBeLessThanOrEqual(1e-4);
          }
        }
      });

      it(`${kind}: gemmPtr on data already in wasm memory (row-major C inside a larger buffer)`, () => {
        const rt = runtime();
        const M = 37;
        const N = 45;
        const K = 70;
        const g = new Generator(11);
        const a = Float32Array.from({ length: M * K }, () => g.normal());
        const b = Float32Array.from({ length: K * N }, () => g.normal());
        const m = rt.mark();
        try {
          const pa = rt.put(a);
          const pb = rt.put(b);
          const pc = rt.alloc((M * N + 16) * 4);
          rt.f32().fill(9, pc / 4, pc / 4 + M * N + 16);
          gemmPtr(rt, { M, N, K, a: pa, aRowStride: K, aColStride: 1, b: pb, bRowStride: N, bColStride: 1, c: pc + 32, ldc: N }, { relaxed });
          const ref = new Float64Array(M * N);
          gemmReference({ M, N, K, a: Float64Array.from(a), aOffset: 0, aRowStride: K, aColStride: 1, b: Float64Array.from(b), bOffset: 0, bRowStride: N, bColStride: 1, c: ref, cOffset: 0, ldc: N });
          const f = rt.f32();
          for (let k = 0; k < M * N; k++) expect(Math.abs((f[pc / 4 + 8 + k] as number) - (ref[k] as number))).toBeLessThan(1e-4);
          for (const k of [0, 7, M * N + 8, M * N + 15]) expect(f[pc / 4 + k], `guard ${k}`).toBe(9);
        } finally {
          rt.release(m);
        }
      });
    }
  });
}

// gemm_f32's shared split (above gemmStaticMaxMacs) shares one packed B panel per (jc, pc) step and
// hands out packing and macro-tile items through an atomic counter, with a barrier between packing
// and compute. With
// more threads than items (tiny N, a single MC block) a thread's spare item belongs to a later step
// and must be kept until then; several steps (K > KC, N > NC) exercise the alternating panels.
describe('wasm gemm on 6 threads, shared split (more threads than work items, several panel steps)', () => {
  onThreadsWith(6, 'shared');
  const MANY: [number, number, number, Partial<Case>][] = [
    [1, 1, 700, {}],
    [5, 9, 600, { accumulate: true, colBias: true }],
    [3, 1030, 300, { transB: true, rowBias: true, relu: true }],
    [200, 17, 520, { transA: true, pad: 1, off: 3 }],
    [129, 2049, 5, { accumulate: true, relu: true }],
    [2, 3, 0, { rowBias: true }],
  ];
  for (const relaxed of VARIANTS) {
    it(`${relaxed ? 'relaxed' : 'plain'}: tiny N, one row block, and shapes of many (jc, pc) steps`, () => {
      MANY.forEach(([M, N, K, extra], s) => {
        check({ ...BASE, M, N, K, ...extra }, relaxed, 500 + s);
      });
      SHAPES.forEach(([M, N, K, extra], s) => {
        check({ ...BASE, M, N, K, ...extra }, relaxed, 100 + s);
      });
    });
  }
});

describe('wasm gemm: arrays that already live in wasm memory', () => {
  const M = 9;
  const K = 13;
  const N = 13;
  const g = new Generator(21);
  /** v filled in place with normal samples (v.map would make a copy outside wasm memory) */
  const fill = (v: Float32Array): Float32Array => {
    for (let i = 0; i < v.length; i++) v[i] = g.normal();
    return v;
  };
  /** float64 C0 + A·B (+ rowBias) for row-major A (M×K), B (K×N), C (ldc) */
  function expected(a: Float32Array, b: Float32Array, c0: Float32Array, ldc: number, rowBias?: Float32Array): Float64Array {
    const ref = Float64Array.from(c0);
    gemmReference({ M, N, K, a: Float64Array.from(a), aOffset: 0, aRowStride: K, aColStride: 1, b: Float64Array.from(b), bOffset: 0, bRowStride: N, bColStride: 1, c: ref, cOffset: 0, ldc, accumulate: true });
    if (rowBias) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) ref[i * ldc + j] = (ref[i * ldc + j] as number) + (rowBias[i] as number);
    return ref;
  }
  const view = (rt: WasmRuntime, at: number, n: number): Float32Array => new Float32Array(rt.memory.buffer, at, n);

  it('reads A, B and the bias in place and writes C in place (gaps between rows of C untouched)', () => {
    const rt = runtime();
    const m = rt.mark();
    try {
      const ldc = N + 3;
      const a = fill(view(rt, rt.alloc(M * K * 4), M * K));
      const b = fill(view(rt, rt.alloc(K * N * 4), K * N));
      const bias = fill(view(rt, rt.alloc(M * 4), M));
      const c = fill(view(rt, rt.alloc(M * ldc * 4), M * ldc));
      const c0 = c.slice();
      const want = expected(a, b, c0, ldc, bias);
      const top = rt.mark();
      const put = vi.spyOn(rt, 'put');
      try {
        sgemmWasm({ M, N, K, a, aOffset: 0, aRowStride: K, aColStride: 1, b, bOffset: 0, bRowStride: N, bColStride: 1, c, cOffset: 0, ldc, accumulate: true, rowBias: bias });
        expect(put, 'nothing is copied into the arena').not.toHaveBeenCalled();
      } finally {
        put.mockRestore();
      }
      expect(rt.mark(), 'the arena is released').toBe(top);
      for (let i = 0; i < M * ldc; i++) {
        if (i % ldc < N) expect(Math.abs((c[i] as number) - (want[i] as number)), `C[${i}]`).toBeLessThan(1e-4);
        else expect(c[i], `gap ${i}`).toBe(c0[i]);
      }
    } finally {
      rt.release(m);
    }
  });

  it('C on the same memory as A (C = C + C·B, K = N = 300 > KC): staged, so A is read before C is written', () => {
    // in place, the second K slice would pack columns of A that the first slice already added to
    const rt = runtime();
    const m = rt.mark();
    try {
      const n = 300;
      const a = fill(view(rt, rt.alloc(M * n * 4), M * n));
      const b = fill(view(rt, rt.alloc(n * n * 4), n * n));
      const want = Float64Array.from(a);
      gemmReference({ M, N: n, K: n, a: Float64Array.from(a), aOffset: 0, aRowStride: n, aColStride: 1, b: Float64Array.from(b), bOffset: 0, bRowStride: n, bColStride: 1, c: want, cOffset: 0, ldc: n, accumulate: true });
      sgemmWasm({ M, N: n, K: n, a, aOffset: 0, aRowStride: n, aColStride: 1, b, bOffset: 0, bRowStride: n, bColStride: 1, c: a, cOffset: 0, ldc: n, accumulate: true });
      for (let i = 0; i < M * n; i++) expect(Math.abs((a[i] as number) - (want[i] as number)), `C[${i}]`).toBeLessThan(1e-3);
    } finally {
      rt.release(m);
    }
  });

  it('a view on free arena space (above the top) is copied, not used in place', () => {
    const rt = runtime();
    const m = rt.mark();
    try {
      const a = fill(view(rt, rt.alloc(M * K * 4), M * K));
      // b and c sit where the kernel's staging and scratch will be allocated
      const free = rt.mark();
      const b = fill(view(rt, free + 64, K * N));
      const c = new Float32Array(rt.memory.buffer, free + 64 + K * N * 4 + 64, M * N);
      const bCopy = b.slice();
      const want = expected(a, bCopy, new Float32Array(M * N), N);
      const put = vi.spyOn(rt, 'put');
      try {
        sgemmWasm({ M, N, K, a, aOffset: 0, aRowStride: K, aColStride: 1, b, bOffset: 0, bRowStride: N, bColStride: 1, c, cOffset: 0, ldc: N });
        expect(put, 'b is copied (a is used in place)').toHaveBeenCalledTimes(1);
      } finally {
        put.mockRestore();
      }
      for (let i = 0; i < M * N; i++) expect(Math.abs((c[i] as number) - (want[i] as number)), `C[${i}]`).toBeLessThan(1e-4);
    } finally {
      rt.release(m);
    }
  });
});

describe('wasm gemm: argument errors name the argument, the expected and the actual value', () => {
  const ok = () => ({
    M: 2, N: 3, K: 4,
    a: new Float32Array(8), aOffset: 0, aRowStride: 4, aColStride: 1,
    b: new Float32Array(12), bOffset: 0, bRowStride: 3, bColStride: 1,
    c: new Float32Array(6), cOffset: 0, ldc: 3,
  });
  it('rejects bad sizes, short arrays, overlapping rows and wrong types', () => {
    expect(() => sgemmWasm({ ...ok(), M: -1 })).toThrow(/sgemmWasm: M must be a non-negative integer, got -1/);
    expect(() => sgemmWasm({ ...ok(), K: 2.5 })).toThrow(/K must be a non-negative integer, got 2.5/);
    expect(() => sgemmWasm({ ...ok(), a: new Float32Array(7) })).toThrow(/a is too short: needs 8 elements .*got 7/);
    expect(() => sgemmWasm({ ...ok(), c: new Float32Array(5) })).toThrow(/c is too short: needs 6 elements .*got 5/);
    expect(() => sgemmWasm({ ...ok(), ldc: 2, c: new Float32Array(10) })).toThrow(/ldc must be at least N = 3 .*got 2/);
    expect(() => sgemmWasm({ ...ok(), b: new Float64Array(12) as unknown as Float32Array })).toThrow(/b must be a Float32Array, got Float64Array/);
    expect(() => sgemmWasm({ ...ok(), colBias: new Float32Array(2) })).toThrow(/colBias is too short: needs 3 elements \(N\), got 2/);
  });
  it('refuses relaxed where it is unavailable, and accepts it where it is', () => {
    const call = () => sgemmWasm(ok(), { relaxed: true });
    if (runtime().relaxed) expect(call).not.toThrow();
    else expect(call).toThrow(/opts.relaxed is true but relaxed SIMD is not available/);
  });
});
