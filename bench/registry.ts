// Rungs read from the CPU kernel registry (core/cpu/registry.ts): for an op's kernel, one rung per
// registered variant that supports the call the op makes, pinned with withVariants. A variant
// registered tomorrow (a WASM SIMD kernel, a threaded one) shows up in the bench with no change
// here. Variants on the WASM thread pool get a rung per thread count of the run.
import { getBackend } from '../index.js';
import type { Tensor } from '../index.js';
import { type CpuInput, type CpuVariant, cpuKernelNames, cpuVariants, withVariants } from '../core/cpu/registry.js';
import type { KernelAttrMap, KernelName } from '../core/kernel_names.js';
import type { FloatArray, SuiteContext, Variant } from './types.js';
import { threadLadder } from './threads.js';
import { type HostInput, opVariant } from './variants.js';

/** The kernel call an op makes on the workload's inputs, as the op builds it. */
export interface KernelCall<K extends KernelName = KernelName> {
  kernel: K;
  inputs: readonly CpuInput[];
  attrs: KernelAttrMap[K];
}

/**
 * Does this variant run on the WASM thread pool? The registry says nothing of threads; the WASM
 * variants are the threaded ones and are named 'wasm-…' (core/cpu/wasm.ts).
 */
export function usesThreadPool(v: { readonly name: string }): boolean {
  return v.name.startsWith('wasm');
}

/** Is any variant of any kernel on the thread pool (so a whole-model rung depends on threads)? */
export function anyThreadedVariant(): boolean {
  return cpuKernelNames().some((k) => cpuVariants(k).some(usesThreadPool));
}

/** A contiguous float32 input as the CPU backend hands it to a kernel. */
export function cpuInput(data: Float32Array, shape: readonly number[]): CpuInput {
  const strides: number[] = [];
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i] as number;
  }
  return { buffer: data, dtype: 'float32', shape, strides, offset: 0 };
}

/** The registered variants of the call's kernel that support it, best first. */
export function supportingVariants<K extends KernelName>(call: KernelCall<K>): CpuVariant<K>[] {
  return cpuVariants(call.kernel).filter((v) => v.supports(call.inputs, call.attrs));
}

/** "matmul [wasm-simd]": the op's label and the variant's name. */
export function pinnedName(label: string, variant: string): string {
  return `${label} [${variant}]`;
}

/**
 * Public-API rungs: `op` on float32 tensors, once unpinned (`label`: what a user gets, the
 * registry's own choice) and once pinned to each variant that supports `call`. Rungs that may
 * run on the thread pool get one rung per thread count. `adjust` adds to a variant's rung (the
 * reference loops are checked once, not sampled, on big workloads).
 */
export function registryOpRungs<K extends KernelName>(
  ctx: SuiteContext,
  label: string,
  call: KernelCall<K>,
  inputs: readonly HostInput[],
  op: (t: Tensor[], api: typeof import('../index.js')) => Tensor,
  adjust: (v: CpuVariant<K>) => Partial<Variant> = () => ({}),
): Variant[] {
  const variants = supportingVariants(call);
  const rungs: Variant[] = [];
  const unpinned = () => opVariant(label, 'cpu', inputs, op);
  rungs.push(...(variants.some(usesThreadPool) ? threadLadder(ctx, unpinned) : [unpinned()]));
  for (const v of variants) {
    const pins = { [call.kernel]: v.name } as Partial<Record<KernelName, string>>;
    const pinned = () =>
      opVariant(pinnedName(label, v.name), 'cpu', inputs, (t, api) => withVariants(pins, () => op(t, api)), {
        backend: `cpu ${v.name}: ${v.about}`,
        ...adjust(v),
      });
    rungs.push(...(usesThreadPool(v) ? threadLadder(ctx, pinned) : [pinned()]));
  }
  return rungs;
}

/**
 * Backend-level rungs for a kernel no public op calls on its own (a backward): the CPU backend
 * runs `call` pinned to each supporting variant; `pick` turns its outputs into the flat array
 * the workload's reference describes.
 */
export function registryKernelRungs<K extends KernelName>(ctx: SuiteContext, call: KernelCall<K>, pick: (outputs: FloatArray[]) => FloatArray): Variant[] {
  const rungs: Variant[] = [];
  for (const v of supportingVariants(call)) {
    const pins = { [call.kernel]: v.name } as Partial<Record<KernelName, string>>;
    const make = (): Variant => ({
      name: pinnedName(call.kernel, v.name),
      kind: 'resgrad',
      backend: `cpu ${v.name}: ${v.about}`,
      threads: 1,
      prepare() {
        const cpu = getBackend('cpu');
        let last: FloatArray = new Float32Array(0);
        return {
          run: () => {
            const outs = withVariants(pins, () => cpu.run(call.kernel, call.inputs, call.attrs));
            last = pick(outs.map((o) => o.buffer as FloatArray));
          },
          output: () => last,
        };
      },
    });
    rungs.push(...(usesThreadPool(v) ? threadLadder(ctx, make) : [make()]));
  }
  return rungs;
}
