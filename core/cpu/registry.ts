// The CPU device's kernel table: for every kernel name, a list of variants — the reference
// loops, the blocked TypeScript kernels, the WASM SIMD ones — each with a `supports` test.
// The backend runs the first variant (in rank order) that supports the call; tests run every
// variant against the reference; the bench ladders them. A variant can be pinned for a scope
// (`withVariants`), for teaching and benchmarking: there is no process-wide switch.
import type { KernelInput, KernelOutput } from '../backend.js';
import type { TypedArray } from '../dtype.js';
import { DeviceError, ValueError } from '../errors.js';
import type { KernelAttrMap, KernelName } from '../kernel_names.js';

export type CpuInput = KernelInput<TypedArray>;
export type CpuOutput = KernelOutput<TypedArray>;
export type CpuKernel<K extends KernelName = KernelName> = (inputs: readonly CpuInput[], attrs: KernelAttrMap[K]) => CpuOutput[];

export interface CpuVariant<K extends KernelName = KernelName> {
  /** Short and stable: 'reference', 'blocked', 'im2col', 'wasm-simd', 'wasm-relaxed', ... */
  readonly name: string;
  /** One line for the bench and for learners: what this variant does. */
  readonly about: string;
  /** Higher runs first when several support a call. The reference is 0. */
  readonly rank: number;
  readonly run: CpuKernel<K>;
  /** Can this variant take these inputs and attrs (dtype, geometry, a runtime feature)? */
  supports(inputs: readonly CpuInput[], attrs: KernelAttrMap[K]): boolean;
  /**
   * A cost rule on top of supports: should the registry's own choice (no pin) take this variant
   * for this call? Absent: yes. A pin ignores it, so tests and the bench still reach every
   * variant on every shape it supports.
   */
  prefers?(inputs: readonly CpuInput[], attrs: KernelAttrMap[K]): boolean;
}

const table = new Map<KernelName, CpuVariant[]>();

/** Add (or replace, by name) a variant of kernel `name`. */
export function registerCpuVariant<K extends KernelName>(name: K, variant: CpuVariant<K>): void {
  const list = (table.get(name) ?? []).filter((v) => v.name !== variant.name);
  list.push(variant as unknown as CpuVariant);
  list.sort((a, b) => b.rank - a.rank);
  table.set(name, list);
}

/** A kernel with a single implementation: one variant named 'reference' that takes every call. */
export function registerCpuKernel<K extends KernelName>(name: K, run: CpuKernel<K>, about = 'TypeScript loops'): void {
  registerCpuVariant(name, { name: 'reference', about, rank: 0, run, supports: () => true });
}

/** The variants of `name`, best first. */
export function cpuVariants<K extends KernelName>(name: K): readonly CpuVariant<K>[] {
  return (table.get(name) ?? []) as unknown as CpuVariant<K>[];
}

export function cpuKernelNames(): KernelName[] {
  return [...table.keys()];
}

// Pins: a stack of { kernel name -> variant name } maps; the innermost pin of a name wins. A
// strict pin must support every call it meets; a preferred one runs where it can and leaves the
// other calls to the usual choice (to run a whole model "on the WASM path", say).
type Pins = Partial<Record<KernelName, string>>;
const pinStack: { pins: Pins; strict: boolean }[] = [];

/**
 * Run `fn` with the given kernels pinned to the named variants, e.g.
 * `withVariants({ matmul: 'reference' }, () => a.matmul(b))`. A pinned variant that does not
 * support a call is an error, never a silent fallback. Pins nest and are undone when fn returns.
 */
export function withVariants<T>(pins: Pins, fn: () => T): T {
  return pinned('withVariants', pins, true, fn);
}

/** Like withVariants, but a preferred variant that does not support a call lets the usual choice run it. */
export function preferVariants<T>(pins: Pins, fn: () => T): T {
  return pinned('preferVariants', pins, false, fn);
}

function pinned<T>(caller: string, pins: Pins, strict: boolean, fn: () => T): T {
  for (const [k, v] of Object.entries(pins) as [KernelName, string][]) {
    const names = cpuVariants(k).map((x) => x.name);
    if (names.length === 0) throw new ValueError(`${caller}: unknown kernel '${k}'`);
    if (!names.includes(v)) throw new ValueError(`${caller}: kernel '${k}' has no variant '${v}' (it has: ${names.join(', ')})`);
  }
  pinStack.push({ pins, strict });
  try {
    return fn();
  } finally {
    pinStack.pop();
  }
}

function pinOf(name: KernelName): { variant: string; strict: boolean } | undefined {
  for (let i = pinStack.length - 1; i >= 0; i--) {
    const p = pinStack[i] as { pins: Pins; strict: boolean };
    const v = p.pins[name];
    if (v !== undefined) return { variant: v, strict: p.strict };
  }
  return undefined;
}

// Tracing: which variant ran each kernel call, for tests that must prove a variant was used.
let trace: Map<KernelName, Set<string>> | null = null;

/** Run fn and return, with its result, the variants that ran for each kernel name. */
export function traceVariants<T>(fn: () => T): { result: T; used: Map<KernelName, Set<string>> } {
  const outer = trace;
  const used = new Map<KernelName, Set<string>>();
  trace = used;
  try {
    return { result: fn(), used };
  } finally {
    trace = outer;
    if (outer) for (const [k, vs] of used) for (const v of vs) outer.set(k, (outer.get(k) ?? new Set()).add(v));
  }
}

/** The variant that runs this call: the pinned one (which must support it), else the best that does. */
export function selectCpuVariant<K extends KernelName>(name: K, inputs: readonly CpuInput[], attrs: KernelAttrMap[K]): CpuVariant<K> {
  const list = cpuVariants(name);
  if (list.length === 0) {
    throw new DeviceError(`cpu backend has no kernel '${name}' (registered: ${cpuKernelNames().join(', ')})`);
  }
  const pin = pinOf(name);
  if (pin !== undefined) {
    const v = list.find((x) => x.name === pin.variant) as CpuVariant<K>;
    if (v.supports(inputs, attrs)) return noted(name, v);
    if (pin.strict) {
      const what = inputs.map((t) => `${t.dtype}[${t.shape.join(', ')}]`).join(', ');
      throw new DeviceError(`cpu kernel '${name}': the pinned variant '${pin.variant}' does not support this call (inputs ${what})`);
    }
  }
  for (const v of list) if (v.supports(inputs, attrs) && (v.prefers?.(inputs, attrs) ?? true)) return noted(name, v);
  throw new DeviceError(`cpu kernel '${name}': no variant supports this call (variants: ${list.map((v) => v.name).join(', ')})`);
}

function noted<K extends KernelName>(name: K, v: CpuVariant<K>): CpuVariant<K> {
  if (trace) trace.set(name, (trace.get(name) ?? new Set()).add(v.name));
  return v;
}
