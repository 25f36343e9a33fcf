// Running a test once per CPU kernel variant: which variants take a call, and pinning one.
import type { CpuInput } from '../../core/cpu/registry.js';
import { cpuVariants, withVariants } from '../../core/cpu/registry.js';
import type { DType, TypedArray } from '../../core/dtype.js';
import type { KernelAttrMap, KernelName } from '../../core/kernel_names.js';
import { contiguousStrides } from '../../core/shape.js';
import { conv2dGeometry, type Conv2dOptions } from '../../nn/ops/conv.js';

/** A stand-in kernel input of this dtype and shape (supports() looks at dtype and shape only). */
export function fakeInput(dtype: DType, shape: readonly number[]): CpuInput {
  return { buffer: new Float32Array(0) as TypedArray, dtype, shape, strides: contiguousStrides(shape), offset: 0 };
}

/** Names of the variants of every kernel in `names` that support the call (same name in each). */
export function variantsFor(names: readonly KernelName[], support: (k: KernelName, v: string) => boolean): string[] {
  const first = cpuVariants(names[0] as KernelName).map((v) => v.name);
  return first.filter((v) => names.every((k) => cpuVariants(k).some((x) => x.name === v) && support(k, v)));
}

const CONV_KERNELS = ['conv2d', 'conv2dBackwardInput', 'conv2dBackwardWeight'] as const;

/** Every conv variant (forward and both backwards) that takes x, w of these shapes in `dtype`. */
export function convVariantsFor(xShape: readonly number[], wShape: readonly number[], opts: Conv2dOptions, dtype: DType): string[] {
  const geom = conv2dGeometry(xShape, wShape, opts);
  const attrs: KernelAttrMap['conv2d'] = { geom };
  const ins = [fakeInput(dtype, xShape), fakeInput(dtype, wShape)];
  return variantsFor(CONV_KERNELS, (k, v) => (cpuVariants(k).find((x) => x.name === v)?.supports(ins, attrs) ?? false));
}

/** Run fn with conv2d and its backwards pinned to variant `v`. */
export function withConvVariant<T>(v: string, fn: () => T): T {
  return withVariants({ conv2d: v, conv2dBackwardInput: v, conv2dBackwardWeight: v }, fn);
}
