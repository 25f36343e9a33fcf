// GEMM ladder: C = A·B for square float32 matrices (gemm 1024 is the SGEMM 1024). Rungs:
// the reference triple loop, the blocked register-tiled kernel, the public `matmul` op as the
// registry picks (kernel + tensor overhead) and pinned to each registered 'matmul' variant, the
// WASM SIMD SGEMM called directly (plain and relaxed FMA) on 1..n threads, and the GPU backend's
// 'matmul' when asked for. Peers get the same A and B.
import { gemmBlocked, gemmReference, type GemmArgs } from '../../kernels/cpu/gemm.js';
import { randnF32, spreadIndices } from '../data.js';
import { sgemmWasm } from '../../kernels/wasm/gemm.js';
import { cpuInput, registryOpRungs } from '../registry.js';
import { wasmKernelRungs } from '../wasm_kernels.js';
import { gpuVariant } from '../variants.js';
import { peerVariants } from '../peers/index.js';
import type { Expected, Suite, SuiteContext, Variant, Workload } from '../types.js';

type Gemm = (g: GemmArgs) => void;

/** Row-major M×K times K×N into M×N. */
function args(M: number, N: number, K: number, a: Float32Array, b: Float32Array, c: Float32Array): GemmArgs {
  return { M, N, K, a, aOffset: 0, aRowStride: K, aColStride: 1, b, bOffset: 0, bRowStride: N, bColStride: 1, c, cOffset: 0, ldc: N };
}

/** A kernel rung: one GemmArgs call into a preallocated C. */
export function gemmKernelVariant(name: string, gemm: Gemm, M: number, N: number, K: number, a: Float32Array, b: Float32Array, extra: Partial<Variant> = {}): Variant {
  return {
    name,
    kind: 'resgrad',
    backend: 'cpu: TypeScript kernel',
    threads: 1,
    ...extra,
    prepare() {
      const c = new Float32Array(M * N);
      const g = args(M, N, K, a, b, c);
      return { run: () => gemm(g), output: () => c };
    },
  };
}

// The reference at 1024³ takes 5-15 s a call here, at 2048³ over a minute: above REF_FULL the
// expected answer is the reference loop on SAMPLE_ROWS spread-out rows of A (the same loop, on
// a 1×K slice), and the reference rung runs once (1024) or not at all (2048).
const REF_FULL = 512;
const REF_ONCE = 1024;
const SAMPLE_ROWS = 16;
// Tolerance: float32 products summed over K ≤ 4096 in float32 (peers) differ from the double
// accumulation of our kernels by ~√K·ε·|C| ≈ 1e-5 of the scale; a wrong kernel is off by O(1).
const TOL = 1e-4;

export interface GemmSuiteOptions {
  sizes?: number[];
  /** extra rungs, e.g. a deliberately wrong kernel in the tests */
  extraVariants?: (M: number, N: number, K: number, a: Float32Array, b: Float32Array) => Variant[];
}

export function gemmWorkload(n: number, ctx: SuiteContext, opts: GemmSuiteOptions = {}): Workload {
  const M = n;
  const N = n;
  const K = n;
  const a = randnF32(M * K, 1000 + n);
  const b = randnF32(K * N, 2000 + n);
  const spec = { op: 'gemm', M, N, K } as const;
  const variants: Variant[] = [];
  const cpu = ctx.backends.has('cpu');
  if (cpu) {
    variants.push(
      gemmKernelVariant('reference', gemmReference, M, N, K, a, b, {
        isReference: true,
        ...(n > REF_ONCE ? { skip: `reference loops at ${n}³ take minutes; checked on ${SAMPLE_ROWS} rows instead` } : {}),
        ...(n > REF_FULL && n <= REF_ONCE ? { checkOnly: `seconds a call at ${n}³ (5-15 s here)` } : {}),
      }),
      gemmKernelVariant('blocked', gemmBlocked, M, N, K, a, b, n > REF_ONCE * 2 ? { skip: `the TS kernel takes tens of seconds a call at ${n}³` } : {}),
      ...registryOpRungs(
        ctx,
        'matmul op',
        { kernel: 'matmul', inputs: [cpuInput(a, [M, K]), cpuInput(b, [K, N])], attrs: {} },
        [{ data: a, shape: [M, K] }, { data: b, shape: [K, N] }],
        (t, ops) => ops.matmul(t[0]!, t[1]!),
        // the triple loop through the API: as slow as the reference rung, checked once at most
        (v) =>
          v.name === 'blocked' && n > REF_ONCE * 2
            ? { skip: `the TS kernel takes tens of seconds a call at ${n}³` }
            : v.rank > 0
              ? {}
              : n > REF_ONCE
                ? { skip: `reference loops at ${n}³ take minutes` }
                : n > REF_FULL
                  ? { checkOnly: `seconds a call at ${n}³` }
                  : {},
      ),
      ...wasmKernelRungs(ctx, 'sgemm', 'kernels/wasm/gemm.ts', () => {
        const c = new Float32Array(M * N);
        const g = { M, N, K, a, aOffset: 0, aRowStride: K, aColStride: 1, b, bOffset: 0, bRowStride: N, bColStride: 1, c, cOffset: 0, ldc: N };
        return { run: (relaxed) => sgemmWasm(g, { relaxed }), output: () => c };
      }, true),
    );
    variants.push(...(opts.extraVariants?.(M, N, K, a, b) ?? []));
  }
  if (ctx.backends.has('gpu')) {
    variants.push(gpuVariant('gpu matmul', [{ data: a, shape: [M, K] }, { data: b, shape: [K, N] }], (t, ops) => ops.matmul(t[0]!, t[1]!)));
  }
  if (ctx.peers) variants.push(...peerVariants(spec, { a, b }, ctx));
  return {
    suite: 'gemm',
    name: `gemm ${M}×${N}×${K}`,
    spec,
    flops: 2 * M * N * K,
    bytes: 4 * (M * K + K * N + M * N),
    expected(): Expected {
      if (n <= REF_FULL) {
        const c = new Float32Array(M * N);
        gemmReference(args(M, N, K, a, b, c));
        return { values: c, tol: TOL };
      }
      const rows = spreadIndices(M, SAMPLE_ROWS);
      const values = new Float32Array(rows.length * N);
      const positions = new Int32Array(rows.length * N);
      rows.forEach((i, r) => {
        gemmReference({ ...args(1, N, K, a, b, values), aOffset: i * K, cOffset: r * N });
        for (let j = 0; j < N; j++) positions[r * N + j] = i * N + j;
      });
      return { values, positions, tol: TOL };
    },
    variants,
  };
}

export function gemmSuite(opts: GemmSuiteOptions = {}): Suite {
  return {
    name: 'gemm',
    description: 'C = A·B, square float32 matrices (GFLOP/s = 2·M·N·K / median time)',
    // 4096 (137 GFLOP a call; the GPU rung's size) only with --full
    workloads: (ctx) => (opts.sizes ?? (ctx.quick ? [128, 256] : ctx.full ? [256, 512, 1024, 2048, 4096] : [256, 512, 1024, 2048])).map((n) => gemmWorkload(n, ctx, opts)),
  };
}
