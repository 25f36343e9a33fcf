// The CPU backend: buffers are typed arrays; kernels are plain functions from kernels/cpu (and
// the WASM ones from kernels/wasm), adapted to the backend interface by small registration
// files (core/cpu/*.ts) that add them as variants to the table in core/cpu/registry.ts.
import { allocOutput, allocatingFor } from './allocator.js';
import { type Backend, registerBackend } from './backend.js';
import { type DType, type TypedArray, allocArray } from './dtype.js';
import { cpuVariants, selectCpuVariant } from './cpu/registry.js';
import { adoptIntoScope } from './scope.js';
import type { Storage, Tensor } from './tensor.js';

/**
 * Memory beyond the JS heap that CPU buffers may live in (the WASM heap, core/cpu/wasm.ts): it
 * owns some buffers and must be told when one is released. Tensors on such buffers are adopted by
 * the open tidy() scope, which releases them at its end; a buffer that outlives every scope is
 * moved to an ordinary array (settle), since nothing would release it after that.
 */
export interface CpuMemory {
  /** Does a tidy() scope manage this buffer (a block of this memory that is not pinned)? */
  owns(buffer: TypedArray): boolean;
  /** Give a block of this memory back (pinned or not); anything else is ignored. */
  free(buffer: TypedArray): void;
  /** A long-lived block holding a copy of `buffer`, freed by free() or the garbage collector; null where it cannot (dtype, budget). */
  pinnedCopy(buffer: TypedArray): TypedArray | null;
}

let memory: CpuMemory | null = null;
let describeFast: () => string = () => '';

export function setCpuMemory(m: CpuMemory | null): void {
  memory = m;
}

/** What the fast variants run on, for describe() (set by core/cpu/wasm.ts). */
export function setCpuFastPath(describe: () => string): void {
  describeFast = describe;
}

/** The op a kernel call runs for, as size errors name it: attrs.op when there is one ('add'), else the kernel's name. */
const opName = (kernel: string, attrs: unknown): string => {
  const op = (attrs as { op?: unknown } | undefined)?.op;
  return typeof op === 'string' ? op : kernel;
};

export const cpuBackend: Backend<TypedArray> & { adopt(t: Tensor): void; settle(s: Storage<TypedArray>): void; pin(s: Storage<TypedArray>): void } = {
  device: 'cpu',
  describe: () => `cpu: TypeScript kernels on typed arrays${describeFast() ? `; float32 on ${describeFast()}` : ''}`,
  allocate: (dtype: DType, size: number) => allocOutput(dtype, size),
  upload: (data: TypedArray) => data,
  download: async (buffer: TypedArray) => buffer,
  readSync: (buffer: TypedArray) => buffer,
  release: (buffer) => memory?.free(buffer),
  adopt: (t) => {
    if (memory?.owns(t.storage.buffer as TypedArray)) adoptIntoScope(t);
  },
  settle: (s) => {
    if (!memory?.owns(s.buffer)) return;
    const copy = allocArray(s.dtype, s.buffer.length);
    copy.set(s.buffer as never);
    memory.free(s.buffer);
    s.buffer = copy;
  },
  // a long-lived storage (core/scope.ts pin) moves into a pinned block, where the WASM kernels read it in place
  pin: (s) => {
    if (memory === null || s.isReleased) return;
    const block = memory.pinnedCopy(s.buffer);
    if (block === null) return;
    memory.free(s.buffer); // a scope's block, if it was one
    s.buffer = block;
  },
  hasKernel: (name) => cpuVariants(name).length > 0,
  // a size error from an output names the op ('matmul', or the elementwise op such as 'add')
  run: (name, inputs, attrs) => allocatingFor(opName(name, attrs), () => selectCpuVariant(name, inputs, attrs).run(inputs, attrs)),
};

registerBackend(cpuBackend);
