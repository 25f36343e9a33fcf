// CPU adapter for batched matmul: a [...batch, M, K] @ b [...batch, K, N], both views already
// broadcast to the same batch shape (stride 0 on broadcast dims). Each batch is one GEMM.
import { type GemmArgs, gemmBlocked, gemmReference } from '../../kernels/cpu/gemm.js';
import { registerCpuKernel } from '../cpu_backend.js';
import { allocArray } from '../dtype.js';
import { numel } from '../shape.js';

/** Which GEMM the 'matmul' kernel uses; tests and benchmarks switch it. */
export const gemmImpl: { current: 'blocked' | 'reference' } = { current: 'blocked' };

registerCpuKernel('matmul', ([a, b], attrs) => {
  const nd = a!.shape.length;
  const M = a!.shape[nd - 2] as number;
  const K = a!.shape[nd - 1] as number;
  const N = b!.shape[nd - 1] as number;
  const batch = a!.shape.slice(0, nd - 2);
  const shape = [...batch, M, N];
  const c = allocArray(a!.dtype, numel(shape)) as Float32Array | Float64Array;
  const impl = (attrs.impl as string | undefined) ?? gemmImpl.current;
  const gemm = impl === 'reference' ? gemmReference : gemmBlocked;
  const nb = numel(batch);
  const idx = new Array<number>(batch.length).fill(0);
  for (let bi = 0; bi < nb; bi++) {
    let ao = a!.offset;
    let bo = b!.offset;
    for (let d = 0; d < batch.length; d++) {
      ao += (idx[d] as number) * (a!.strides[d] as number);
      bo += (idx[d] as number) * (b!.strides[d] as number);
    }
    const args: GemmArgs = {
      M, N, K,
      a: a!.buffer as Float32Array | Float64Array, aOffset: ao, aRowStride: a!.strides[nd - 2] as number, aColStride: a!.strides[nd - 1] as number,
      b: b!.buffer as Float32Array | Float64Array, bOffset: bo, bRowStride: b!.strides[nd - 2] as number, bColStride: b!.strides[nd - 1] as number,
      c, cOffset: bi * M * N, ldc: N,
    };
    gemm(args);
    for (let d = batch.length - 1; d >= 0; d--) {
      idx[d]++;
      if ((idx[d] as number) < (batch[d] as number)) break;
      idx[d] = 0;
    }
  }
  return [{ buffer: c, dtype: a!.dtype, shape }];
});
