// CPU adapter for batched matmul: a [...batch, M, K] @ b [...batch, K, N], both views already
// broadcast to the same batch shape (stride 0 on broadcast dims). Each batch is one GEMM.
// Variants: 'reference' (the triple loop) and 'blocked' (packed, register-tiled); the WASM
// SIMD GEMMs register beside them in core/cpu/wasm.ts.
import { type GemmArgs, gemmBlocked, gemmReference } from '../../kernels/cpu/gemm.js';
import { allocOutput } from '../allocator.js';
import { numel } from '../shape.js';
import { type CpuInput, type CpuOutput, registerCpuVariant } from './registry.js';

type FloatArray = Float32Array | Float64Array;
type Gemm = (g: GemmArgs) => void;

/** Run `gemm` once per batch entry of a @ b into a fresh output. */
export function batchedMatmul(a: CpuInput, b: CpuInput, gemm: Gemm): CpuOutput[] {
  const nd = a.shape.length;
  const M = a.shape[nd - 2];
  const K = a.shape[nd - 1];
  const N = b.shape[nd - 1];
  const batch = a.shape.slice(0, nd - 2);
  const shape = [...batch, M, N];
  const c = allocOutput(a.dtype, numel(shape)) as FloatArray;
  const nb = numel(batch);
  const idx = new Array<number>(batch.length).fill(0);
  for (let bi = 0; bi < nb; bi++) {
    let ao = a.offset;
    let bo = b.offset;
    for (let d = 0; d < batch.length; d++) {
      ao += idx[d] * a.strides[d];
      bo += idx[d] * b.strides[d];
    }
    gemm({
      M, N, K,
      a: a.buffer as FloatArray, aOffset: ao, aRowStride: a.strides[nd - 2], aColStride: a.strides[nd - 1],
      b: b.buffer as FloatArray, bOffset: bo, bRowStride: b.strides[nd - 2], bColStride: b.strides[nd - 1],
      c, cOffset: bi * M * N, ldc: N,
    });
    for (let d = batch.length - 1; d >= 0; d--) {
      idx[d]++;
      if (idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
  return [{ buffer: c, dtype: a.dtype, shape }];
}

registerCpuVariant('matmul', {
  name: 'reference',
  about: 'TypeScript i-j-k triple loop',
  rank: 0,
  supports: () => true,
  run: ([a, b]) => batchedMatmul(a, b, gemmReference),
});

registerCpuVariant('matmul', {
  name: 'blocked',
  about: 'TypeScript packed, cache-blocked GEMM with a 4x4 register tile (float64 accumulation)',
  rank: 10,
  supports: () => true,
  run: ([a, b]) => batchedMatmul(a, b, gemmBlocked),
});
