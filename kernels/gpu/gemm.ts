// Batched GEMM as a gpu.js kernel: C[b, m, n] = Σ_k A[b, m, k] · B[b, k, n], with A and B read
// through strides (a transposed view is just swapped strides; a broadcast batch dim has
// stride 0), the same contract as the CPU 'matmul' kernel. C is contiguous [...batch, M, N];
// thread t computes C's flat element t.
//
// Tiling: a WebGL1 fragment shader has no shared memory, so one thread owns one dot product
// and the tiling is over K: K = KT·TK + rest is walked as KT tiles of TK products with
// literal bounds (the compiler may unroll the inner tile) and a literal-bounded tail. No loop
// bound is a runtime value, so gpu.js's loopMaxIterations guard (default 1000, which would
// silently truncate a K > 1000 dot product) never applies — the caller still raises the limit
// past every literal bound, for the backends that count anyway.
import { type StridedOperand, kernelFunction, lit, stridedPositions } from './source.js';

/** Products per K-tile. */
export const GEMM_TILE_K = 16;

export interface GemmShape {
  /** Batch dims of C (A and B are viewed with the same batch shape). */
  readonly batch: readonly number[];
  readonly M: number;
  readonly N: number;
  readonly K: number;
  /** A's strides over [...batch, M, K]. */
  readonly aStrides: readonly number[];
  /** B's strides over [...batch, K, N]. */
  readonly bStrides: readonly number[];
}

/** Largest literal loop bound in the kernel (for loopMaxIterations). */
export function gemmLoopBound(s: GemmShape): number {
  return Math.max(Math.floor(s.K / GEMM_TILE_K), GEMM_TILE_K, s.K % GEMM_TILE_K);
}

/** The GEMM kernel source. Arguments: (aBuf, bBuf, aOff, bOff). */
export function gemmSource(s: GemmShape): string {
  const nb = s.batch.length;
  const aS = s.aStrides;
  const bS = s.bStrides;
  // Walk C's index space [...batch, M, N]: A moves along batch and m, B along batch and n.
  const a: StridedOperand = { pos: 'pa', offsetArg: 'aOff', strides: [...aS.slice(0, nb), aS[nb], 0] };
  const b: StridedOperand = { pos: 'pb', offsetArg: 'bOff', strides: [...bS.slice(0, nb), 0, bS[nb + 1]] };
  const ak = aS[nb + 1]; // A's stride along k
  const bk = bS[nb]; // B's stride along k
  const tiles = Math.floor(s.K / GEMM_TILE_K);
  const done = tiles * GEMM_TILE_K;
  const dot = (k: string) => `acc += aBuf[pa + ${k} * ${lit(ak)}] * bBuf[pb + ${k} * ${lit(bk)}];`;
  const lines = [stridedPositions([...s.batch, s.M, s.N], 'this.thread.x', [a, b]), 'let acc = 0.0;'];
  if (tiles > 0) {
    lines.push(
      `for (let kt = 0; kt < ${tiles}; kt++) {`,
      `    const k0 = kt * ${lit(GEMM_TILE_K)};`,
      `    for (let kk = 0; kk < ${GEMM_TILE_K}; kk++) {`,
      `      const k = k0 + kk;`,
      `      ${dot('k')}`,
      '    }',
      '  }',
    );
  }
  if (done < s.K) {
    lines.push(`for (let kr = ${done}; kr < ${s.K}; kr++) {`, `    ${dot('kr')}`, '  }');
  }
  lines.push('return acc;');
  return kernelFunction(['aBuf', 'bBuf', 'aOff', 'bOff'], lines.join('\n  '));
}
