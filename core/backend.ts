// The backend interface: every device (CPU now, gpu.js next) implements the same five things —
// allocate, upload, download, release and run a kernel by name. Tensors and autograd only
// ever talk to this interface, so a device-resident, asynchronous backend fits unchanged:
// `download` is async, and `readSync` may refuse.
import type { DType, TypedArray } from './dtype.js';
import { DeviceError } from './errors.js';
import type { KernelAttrMap, KernelName } from './kernel_names.js';

export type Device = 'cpu' | 'gpu';

/** What a kernel sees of one input: the device buffer plus the view (shape, strides, offset). */
export interface KernelInput<B = unknown> {
  readonly buffer: B;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  /** The storage's write count (Tensor.version) when the call was made: what a kernel's cache of a derived form of this input is stamped with. */
  readonly version?: number;
}

/** A kernel output: always a fresh, contiguous buffer. */
export interface KernelOutput<B = unknown> {
  readonly buffer: B;
  readonly dtype: DType;
  readonly shape: readonly number[];
}

export interface Backend<B = unknown> {
  readonly device: Device;
  /** One line saying what actually runs (e.g. "cpu: TypeScript typed-array kernels"). */
  describe(): string;
  /** A zero-filled buffer of `size` elements. */
  allocate(dtype: DType, size: number): B;
  /** Copy host data to the device. */
  upload(data: TypedArray): B;
  /** Copy device data back to the host (the only way to read a device buffer). */
  download(buffer: B, dtype: DType, size: number): Promise<TypedArray>;
  /** Synchronous read; backends that cannot do it throw a DeviceError saying to use `await data()`. */
  readSync(buffer: B, dtype: DType, size: number): TypedArray;
  /** Free the buffer now (GPU textures); the CPU lets the garbage collector do it. */
  release(buffer: B): void;
  hasKernel(name: KernelName): boolean;
  /** Run kernel `name` (core/kernel_names.ts) on `inputs` with `attrs`, returning fresh contiguous outputs. */
  run<K extends KernelName>(name: K, inputs: readonly KernelInput<B>[], attrs: KernelAttrMap[K]): KernelOutput<B>[];
}

const backends = new Map<Device, Backend>();

export function registerBackend(backend: Backend): void {
  backends.set(backend.device, backend);
}

export function getBackend(device: Device): Backend {
  const b = backends.get(device);
  if (!b) {
    const hint = device === 'gpu' ? " (call `await initGpu({ mode })` first)" : '';
    throw new DeviceError(`no backend registered for device '${device}'${hint}`);
  }
  return b;
}

export function hasBackend(device: Device): boolean {
  return backends.has(device);
}
