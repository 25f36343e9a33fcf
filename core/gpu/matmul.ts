// GPU adapter for matmul (the CPU's is core/cpu/matmul.ts). Source: kernels/gpu/gemm.ts.
import { DeviceError, fmtShape } from '../errors.js';
import { numel } from '../shape.js';
import { fillSource } from '../../kernels/gpu/elementwise.js';
import { gemmLoopBound, gemmSource } from '../../kernels/gpu/gemm.js';
import { gpuOut, registerGpuKernel } from './device.js';

// matmul: a [...batch, M, K] @ b [...batch, K, N], both views broadcast to one batch shape.
registerGpuKernel('matmul', (gpu, [a, b]) => {
  const nd = a.shape.length;
  const [M, K, N] = [a.shape[nd - 2], a.shape[nd - 1], b.shape[nd - 1]];
  const batch = a.shape.slice(0, nd - 2);
  const shape = [...batch, M, N];
  const size = numel(shape);
  if (b.shape[nd - 2] !== K) throw new DeviceError(`gpu matmul: inner dims differ, ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`);
  if (K === 0) return [gpuOut(gpu.launch('fill0', fillSource(0), size, 1, [], []), a.dtype, shape)];
  const g = { batch, M, N, K, aStrides: a.strides, bStrides: b.strides };
  return [gpuOut(gpu.launch('matmul', gemmSource(g), size, gemmLoopBound(g), [a.buffer, b.buffer], [a.offset, b.offset]), a.dtype, shape)];
});
