// Running a test once per CPU kernel variant: which variants take a call, and pinning one.
import type { CpuInput } from '../../core/cpu/registry.js';
import { cpuVariants, withVariants } from '../../core/cpu/registry.js';
import { expect } from 'vitest';
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

/** The variant `name` of kernel k, or an error naming both. */
export function variantNamed<K extends KernelName>(k: K, name: string) {
  const v = cpuVariants(k).find((x) => x.name === name);
  if (!v) throw new Error(`no variant ${name} of ${k}`);
  return v;
}

/** Equal element by element as Object.is sees it (NaN equals NaN, −0 differs from +0). */
export function expectSameBits(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  expect(actual.length, label).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) expect(`${label} [${i}] = ${actual[i]}`).toBe(`${label} [${i}] = ${expected[i]}`);
  }
}

/** Variant `name` takes the call and gives the reference variant's output, shape, dtype and bits. */
export function expectSameAsReference<K extends KernelName>(k: K, name: string, inputs: CpuInput[], attrs: KernelAttrMap[K], label: string): void {
  const fast = variantNamed(k, name);
  expect(fast.supports(inputs, attrs), `${label}: supported`).toBe(true);
  const [ref] = variantNamed(k, 'reference').run(inputs, attrs);
  const [got] = fast.run(inputs, attrs);
  expect(got?.shape, label).toEqual(ref?.shape);
  expect(got?.dtype, label).toBe(ref?.dtype);
  expectSameBits(got?.buffer as ArrayLike<number>, ref?.buffer as ArrayLike<number>, label);
}
