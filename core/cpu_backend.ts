// The CPU backend: buffers are typed arrays; kernels are plain functions from kernels/cpu (and
// the WASM ones from kernels/wasm), adapted to the backend interface by small registration
// files (core/cpu/*.ts) that add them as variants to the table in core/cpu/registry.ts.
import { allocOutput } from './allocator.js';
import { type Backend, registerBackend } from './backend.js';
import type { DType, TypedArray } from './dtype.js';
import { cpuVariants, selectCpuVariant } from './cpu/registry.js';

export const cpuBackend: Backend<TypedArray> = {
  device: 'cpu',
  describe: () => 'cpu: TypeScript kernels on typed arrays',
  allocate: (dtype: DType, size: number) => allocOutput(dtype, size),
  upload: (data: TypedArray) => data,
  download: async (buffer: TypedArray) => buffer,
  readSync: (buffer: TypedArray) => buffer,
  release: () => {},
  hasKernel: (name) => cpuVariants(name).length > 0,
  run: (name, inputs, attrs) => selectCpuVariant(name, inputs, attrs).run(inputs, attrs),
};

registerBackend(cpuBackend);
