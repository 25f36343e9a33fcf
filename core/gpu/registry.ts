// The gpu backend's kernel table. Each kernel family registers here from its own file
// (core/gpu/<family>.ts), with the same names, attrs and semantics as the CPU kernels
// (core/cpu/*.ts): a kernel gets the backend (to launch gpu.js kernels), the inputs as device
// views, and the attrs, and returns fresh contiguous outputs.
import type { KernelAttrs, KernelInput, KernelOutput } from '../backend.js';
import type { DType } from '../dtype.js';
import { DTypeError } from '../errors.js';
import type { GpuBackend, GpuBuffer } from '../gpu_backend.js';

export type GpuInput = KernelInput<GpuBuffer>;
export type GpuKernel = (gpu: GpuBackend, inputs: readonly GpuInput[], attrs: KernelAttrs) => KernelOutput<GpuBuffer>[];

export const gpuKernels = new Map<string, GpuKernel>();

export function registerGpuKernel(name: string, kernel: GpuKernel): void {
  gpuKernels.set(name, kernel);
}

export function assertGpuDType(dtype: DType, op: string): void {
  if (dtype === 'float64') {
    throw new DTypeError(`gpu ${op}: float64 is not supported on the gpu (gpu.js computes in float32); use float32`);
  }
}

/** A kernel output record. */
export const gpuOut = (buffer: GpuBuffer, dtype: DType, shape: readonly number[]): KernelOutput<GpuBuffer> => ({ buffer, dtype, shape });
