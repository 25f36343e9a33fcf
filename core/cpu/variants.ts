// The public face of the CPU kernel-variant registry (index.ts exports it as `variants`): list a
// kernel's variants, pin one for a scope, prefer one where it applies, trace which ran.
import type { KernelName } from '../kernel_names.js';
import { cpuVariants } from './registry.js';
import { describeWasm } from './wasm.js';

export { withVariants as use, preferVariants as prefer, traceVariants as trace } from './registry.js';
/**
 * The conv kernels' caches of derived weights at inference (Winograd's U, the im2col GEMM's packed
 * weights): `enabled = false` trades their pinned memory for work per call; fills and hits count.
 */
export { packedWeightCache, winogradWeightCache } from './wasm.js';

/** Kernel `name`'s variants, best first: what each is and its rank. */
export function list(name: KernelName): { name: string; about: string; rank: number }[] {
  return cpuVariants(name).map((v) => ({ name: v.name, about: v.about, rank: v.rank }));
}

/** What the fast path runs on here, e.g. "wasm simd128 + relaxed fma, 2 threads". */
export function describe(): string {
  return describeWasm();
}
