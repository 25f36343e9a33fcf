// The CPU backend: buffers are typed arrays, kernels are plain functions from kernels/cpu,
// adapted to the backend interface by small registration files (core/cpu/*.ts).
import { type Backend, type KernelAttrs, type KernelInput, type KernelOutput, registerBackend } from './backend.js';
import { type DType, type TypedArray, allocArray } from './dtype.js';
import { DeviceError } from './errors.js';

export type CpuInput = KernelInput<TypedArray>;
export type CpuOutput = KernelOutput<TypedArray>;
export type CpuKernel = (inputs: readonly CpuInput[], attrs: KernelAttrs) => CpuOutput[];

const kernels = new Map<string, CpuKernel>();

/** Add (or replace) a CPU kernel under `name`. */
export function registerCpuKernel(name: string, kernel: CpuKernel): void {
  kernels.set(name, kernel);
}

export const cpuBackend: Backend<TypedArray> = {
  device: 'cpu',
  describe: () => 'cpu: TypeScript kernels on typed arrays',
  allocate: (dtype: DType, size: number) => allocArray(dtype, size),
  upload: (data: TypedArray) => data,
  download: async (buffer: TypedArray) => buffer,
  readSync: (buffer: TypedArray) => buffer,
  release: () => {},
  hasKernel: (name: string) => kernels.has(name),
  run(name, inputs, attrs) {
    const k = kernels.get(name);
    if (!k) {
      throw new DeviceError(`cpu backend has no kernel '${name}' (registered: ${[...kernels.keys()].join(', ')})`);
    }
    return k(inputs, attrs);
  },
};

registerBackend(cpuBackend);
