// Non-finite values in the WASM kernels' fused epilogues, which no registry variant reaches (a
// caller passes { relu: true }, biases, ...): conv + bias + ReLU (im2col, grouped, Winograd),
// SGEMM + row/column bias + ReLU, add + ReLU, BatchNorm + ReLU. Each against the reference kernel
// followed by relu(v) = v > 0 ? v : (NaN stays NaN, else 0), torch's ReLU. Inf, -Inf and NaN are
// planted as in nonfinite_kernels.test.ts; per output element, the reference's class and (finite)
// value within the float32 tolerance stated there, and no change where no planted element reaches.
import { describe, expect, it } from 'vitest';
import { wasmRelaxed } from '../../core/cpu/wasm.js';
import '../../index.js';
import { conv2dDirect } from '../../kernels/cpu/conv2d.js';
import { UNARY_OPS } from '../../kernels/cpu/elementwise.js';
import { gemmReference } from '../../kernels/cpu/gemm.js';
import { normForwardReference } from '../../kernels/cpu/norm.js';
import type { ConvGeometry } from '../../kernels/geometry.js';
import { conv2dForwardWasm } from '../../kernels/wasm/conv.js';
import { addReluWasm } from '../../kernels/wasm/elementwise.js';
import { sgemmWasm } from '../../kernels/wasm/gemm.js';
import { groupedConv2dForwardWasm } from '../../kernels/wasm/grouped_conv.js';
import { normForwardWasm } from '../../kernels/wasm/norm.js';
import { winogradConv2dForwardWasm } from '../../kernels/wasm/winograd.js';
import { conv2dGeometry, type Conv2dOptions } from '../../nn/ops/conv.js';
import { onThreads } from '../helpers/wasm.js';
import { convCases, normCases, sameElement } from './nonfinite_cases.js';
import { classOf, type KernelCase, type Planted, plant, Rng } from './nonfinite_helpers.js';

const relu = UNARY_OPS.relu;

/**
 * fast(inputs) vs post(ref(inputs)) on the clean and planted inputs of `c` (its operands' values,
 * its taint rule, output 0 only); `post` is the epilogue (ReLU).
 */
function checkFused(rng: Rng, c: KernelCase, fast: (ins: Float32Array[]) => Float32Array, ref: (ins: Float64Array[]) => Float64Array, post: (v: number) => number): void {
  const f32 = (vs: { values: Float64Array | Int32Array }[]) => vs.map((t) => Float32Array.from(t.values));
  // the reference sees the float32-rounded values, as the fast kernel does
  const f64 = (vs: { values: Float64Array | Int32Array }[]) => vs.map((t) => Float64Array.from(Float32Array.from(t.values)));
  const clean = fast(f32(c.inputs));
  for (let t = 0; t < 3; t++) {
    const p = plant(rng, c);
    const got = fast(f32(p.inputs));
    const want = ref(f64(p.inputs)).map(post);
    const mask = c.taint(p.planted)[0] as Uint8Array;
    let scale = 0;
    for (const v of clean) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
    const tol = 2 ** -14 * (1 + scale);
    const label = `${c.label} (planted ${p.planted.map((s, k) => (s.size ? `input ${k} at [${[...s]}]` : '')).filter(Boolean).join('; ')})`;
    expect(got.length, label).toBe(want.length);
    for (let i = 0; i < got.length; i++) {
      const a = got[i] as number;
      const r = mask[i] ? (want[i] as number) : (clean[i] as number);
      const what = mask[i] ? 'the reference gives' : 'the clean run gave (leak)';
      if (classOf(a) !== classOf(r)) expect.fail(`${label} [${i}]: ${a} where ${what} ${r}`);
      if (classOf(a) === 'finite' && !(Math.abs(a - r) <= tol + 2 ** -14 * Math.abs(r))) expect.fail(`${label} [${i}]: ${a} vs ${r}, where ${what} (tolerance ${tol})`);
    }
  }
}

/** conv + bias + ReLU by `kernel` against conv2dDirect + relu. */
function convRelu(rng: Rng, x: number[], w: number[], o: Conv2dOptions, kernel: (x: Float32Array, w: Float32Array, b: Float32Array | null, y: Float32Array, p: ConvGeometry) => void): void {
  const p = conv2dGeometry(x, w, o);
  const n = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const c = convCases('float32', x, w, o, { x: rng.normals(n(x)), w: rng.normals(n(w)), b: rng.normals(w[0] as number), dy: new Float64Array(0) })[0] as KernelCase;
  const size = p.n * p.o * p.oh * p.ow;
  checkFused(
    rng,
    c,
    ([xs, ws, bs]) => {
      const y = new Float32Array(size);
      kernel(xs as Float32Array, ws as Float32Array, bs ?? null, y, p);
      return y;
    },
    ([xs, ws, bs]) => {
      const y = new Float64Array(size);
      conv2dDirect(xs as Float64Array, ws as Float64Array, bs ?? null, y, p);
      return y;
    },
    relu,
  );
}

for (const threads of [1, 3]) {
  describe(`fused WASM epilogues with non-finite inputs, ${threads} thread(s)`, () => {
    onThreads(threads);
    const fma = [false, ...(wasmRelaxed() ? [true] : [])];

    for (const relaxed of fma) {
      const tag = relaxed ? ' (relaxed FMA)' : '';
      it(`conv + bias + ReLU: im2col, grouped, Winograd${tag}`, () => {
        const rng = new Rng(7 * threads + (relaxed ? 1 : 0));
        for (const [x, w, o] of [
          [[2, 3, 5, 7], [4, 3, 3, 3], { padding: 1 }],
          [[1, 2, 6, 5], [3, 2, 2, 2], { stride: 2, padding: 1, dilation: 1 }],
        ] as [number[], number[], Conv2dOptions][]) {
          convRelu(rng, x, w, o, (xs, ws, bs, y, p) => conv2dForwardWasm(xs, ws, bs, y, p, { relu: true, relaxed }));
        }
        for (const [x, w, o] of [
          [[2, 4, 5, 6], [4, 2, 3, 3], { padding: 1, groups: 2 }],
          [[1, 3, 7, 5], [6, 1, 3, 3], { stride: 2, padding: 1, groups: 3 }],
        ] as [number[], number[], Conv2dOptions][]) {
          convRelu(rng, x, w, o, (xs, ws, bs, y, p) => groupedConv2dForwardWasm(xs, ws, bs, y, p, { relu: true, relaxed }));
        }
        for (const [x, w, o] of [
          [[2, 3, 7, 6], [4, 3, 3, 3], { padding: 1 }],
          [[1, 2, 5, 9], [3, 2, 3, 3], { padding: 0 }],
        ] as [number[], number[], Conv2dOptions][]) {
          convRelu(rng, x, w, o, (xs, ws, bs, y, p) => winogradConv2dForwardWasm(xs, ws, bs, y, p, { relu: true, relaxed }));
        }
      });

      it(`SGEMM + row and column bias + ReLU${tag}`, () => {
        const rng = new Rng(11 * threads + (relaxed ? 1 : 0));
        for (const [M, K, N] of [[5, 7, 9], [1, 3, 1], [13, 4, 6]] as [number, number, number][]) {
          const c: KernelCase = {
            label: `a=[${M},${K}] b=[${K},${N}] rowBias colBias relu`,
            kernel: 'matmul',
            attrs: {},
            inputs: [
              { values: rng.normals(M * K), shape: [M, K], strides: [K, 1], offset: 0, dtype: 'float32' },
              { values: rng.normals(K * N), shape: [K, N], strides: [N, 1], offset: 0, dtype: 'float32' },
              { values: rng.normals(M), shape: [M], strides: [1], offset: 0, dtype: 'float32' },
              { values: rng.normals(N), shape: [N], strides: [1], offset: 0, dtype: 'float32' },
            ],
            plantable: [0, 1, 2, 3],
            // C[i, j] reads row i of A, column j of B, rowBias[i], colBias[j]
            taint: (pl: Planted) => {
              const m = new Uint8Array(M * N);
              for (let i = 0; i < M; i++) {
                for (let j = 0; j < N; j++) {
                  let hit = pl[2]?.has(i) || pl[3]?.has(j);
                  for (let k = 0; k < K && !hit; k++) hit = pl[0]?.has(i * K + k) || pl[1]?.has(k * N + j);
                  if (hit) m[i * N + j] = 1;
                }
              }
              return [m];
            },
            tol: () => ({ atol: 0, rtol: 0 }),
          };
          const g = { M, N, K, aOffset: 0, aRowStride: K, aColStride: 1, bOffset: 0, bRowStride: N, bColStride: 1, cOffset: 0, ldc: N };
          checkFused(
            rng,
            c,
            ([a, b, rb, cb]) => {
              const out = new Float32Array(M * N);
              sgemmWasm({ ...g, a: a as Float32Array, b: b as Float32Array, c: out, rowBias: rb, colBias: cb, relu: true }, { relaxed });
              return out;
            },
            ([a, b, rb, cb]) => {
              const out = new Float64Array(M * N);
              gemmReference({ ...g, a: a as Float64Array, b: b as Float64Array, c: out });
              return out.map((v, e) => v + (rb?.[Math.floor(e / N)] as number) + (cb?.[e % N] as number));
            },
            relu,
          );
        }
      });
    }

    it('add + ReLU (the residual join)', () => {
      const rng = new Rng(13 * threads);
      for (const n of [1, 3, 4, 5, 17, 33]) {
        const c: KernelCase = {
          label: `n=${n}`,
          kernel: 'binary',
          attrs: { op: 'add', dtype: 'float32' },
          inputs: [0, 1].map(() => ({ values: rng.normals(n), shape: [n], strides: [1], offset: 0, dtype: 'float32' as const })),
          plantable: [0, 1],
          taint: sameElement(n),
          tol: () => ({ atol: 0, rtol: 0 }),
        };
        checkFused(
          rng,
          c,
          ([a, b]) => {
            const y = new Float32Array(n);
            addReluWasm(a as Float32Array, b as Float32Array, y);
            return y;
          },
          ([a, b]) => (a as Float64Array).map((v, i) => Math.fround(v + (b?.[i] as number))),
          relu,
        );
      }
    });

    it('BatchNorm + ReLU forward (batch statistics)', () => {
      const rng = new Rng(17 * threads);
      for (const [N, C, S] of [[2, 3, 5], [1, 4, 9], [3, 1, 2]] as [number, number, number][]) {
        const l = { axes: 'batch' as const, N, C, S, groups: 1 };
        const stats = { mean: rng.normals(C), variance: rng.normals(C) };
        const c = normCases('float32', l, 1e-5, { x: rng.normals(N * C * S), gy: rng.normals(N * C * S), weight: rng.normals(C), bias: rng.normals(C), ...stats }, stats)[0] as KernelCase;
        checkFused(
          rng,
          c,
          ([x, w, b]) => {
            const y = new Float32Array(N * C * S);
            normForwardWasm(x as Float32Array, l, 1e-5, w ?? null, b ?? null, y, new Float32Array(C), new Float32Array(C), { relu: true });
            return y;
          },
          ([x, w, b]) => {
            const y = new Float64Array(N * C * S);
            normForwardReference(x as Float64Array, l, 1e-5, w ?? null, b ?? null, y, new Float64Array(C), new Float64Array(C));
            return y;
          },
          relu,
        );
      }
    });
  });
}
