// The machinery of the non-finite property tests: seeded inputs with Inf, -Inf and NaN planted
// at random positions (biased towards the edges of planes and of blocked tiles), every variant of
// a kernel run on the clean and on the planted inputs, and two checks per output element:
//
//   1. Where the output may depend on a planted element (the case's own dependency rule, worked
//      out from the geometry, never from a kernel), it has the reference variant's class (NaN,
//      +Inf, -Inf or finite) and, when finite, the reference's value within the case's tolerance.
//   2. Where it cannot depend on one, it equals the same variant's clean run (within the same
//      tolerance: a kernel may hand a call with non-finite operands to another algorithm): a
//      non-finite value never leaks into another row, channel, set or image.
//
// The reference variant (rank 0, the obvious loops) is itself held to torch by
// nonfinite_oracle.test.ts, so check 1 carries torch's rules to every variant.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import type { CpuInput, CpuOutput, CpuVariant } from '../../core/cpu/registry.js';
import { cpuVariants } from '../../core/cpu/registry.js';
import type { TypedArray } from '../../core/dtype.js';
import type { KernelAttrMap, KernelName } from '../../core/kernel_names.js';
import { Generator } from '../../core/random.js';
import { contiguousStrides } from '../../core/shape.js';

export type FloatDType = 'float32' | 'float64';
export const PLANTS = [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN] as const;

/** The class of a value: the thing a non-finite test compares exactly. */
export function classOf(v: number): 'NaN' | '+Inf' | '-Inf' | 'finite' {
  if (v !== v) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  return 'finite';
}

/** A kernel input: its values (any layout), shape, strides and offset into `values`. */
export interface Operand {
  values: Float64Array | Int32Array;
  shape: number[];
  strides: number[];
  offset: number;
  dtype: FloatDType | 'int32';
}

export function dense(values: Float64Array | Int32Array, shape: number[], dtype: FloatDType | 'int32'): Operand {
  return { values, shape, strides: contiguousStrides(shape), offset: 0, dtype };
}

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** The flat positions (into values) an operand's elements occupy, in row-major element order. */
export function positions(t: Operand): Int32Array {
  const n = numel(t.shape);
  const pos = new Int32Array(n);
  const idx = new Array<number>(t.shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    let p = t.offset;
    for (let d = 0; d < idx.length; d++) p += (idx[d] as number) * (t.strides[d] as number);
    pos[i] = p;
    for (let d = idx.length - 1; d >= 0; d--) {
      idx[d] = (idx[d] as number) + 1;
      if ((idx[d] as number) < (t.shape[d] as number)) break;
      idx[d] = 0;
    }
  }
  return pos;
}

/** The kernel input of an operand, in its dtype (a fresh buffer: kernels never see our copy). */
function toInput(t: Operand): CpuInput {
  const buffer = (t.dtype === 'float32' ? Float32Array.from(t.values) : t.dtype === 'float64' ? Float64Array.from(t.values) : Int32Array.from(t.values)) as TypedArray;
  return { buffer, dtype: t.dtype, shape: t.shape, strides: t.strides, offset: t.offset };
}

/** Which elements (row-major element index) of each input were planted. */
export type Planted = Set<number>[];

/** One call of one kernel, with the rule that says which outputs may depend on planted elements. */
export interface KernelCase<K extends KernelName = KernelName> {
  label: string;
  kernel: K;
  inputs: Operand[];
  attrs: KernelAttrMap[K];
  /** Inputs that may receive non-finite values. */
  plantable: number[];
  /** For each output, a mask of the elements that may depend on the planted input elements. */
  taint(planted: Planted): Uint8Array[];
  /**
   * True where, with these plants, a variant may give any non-finite class where the reference
   * gives another (NaN for ±Inf or back): algebraically equal forms meet Inf − Inf in different places.
   */
  looseNonFinite?: (planted: Planted) => boolean;
  /** |variant - reference| allowed on finite values: atol + rtol·|reference|, per output. */
  tol: (output: number, scale: number) => { atol: number; rtol: number };
}

/** A seeded source of shapes, values and plants. */
export class Rng {
  readonly g: Generator;
  constructor(seed: number) {
    this.g = new Generator(seed);
  }
  int(lo: number, hi: number): number {
    return this.g.integer(lo, hi + 1);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.g.integer(0, xs.length)] as T;
  }
  chance(p: number): boolean {
    return this.g.uniform() < p;
  }
  normals(n: number): Float64Array {
    return Float64Array.from({ length: n }, () => this.g.normal());
  }
  /** An index along a dim of `size`: an edge a third of the time, a tile edge (4k-1, 4k, 8k-1, 8k) a sixth. */
  coord(size: number): number {
    const u = this.g.uniform();
    if (u < 1 / 3) return this.chance(0.5) ? 0 : size - 1;
    if (u < 1 / 2) {
      const cands = [3, 4, 7, 8, 11, 12, 15, 16].filter((v) => v < size);
      if (cands.length > 0) return this.pick(cands);
    }
    return this.g.integer(0, size);
  }
}

/**
 * Plant 1..3 non-finite values into one or two of the case's plantable inputs (in a copy of the
 * values). Returns the planted operands and which elements were planted.
 */
export function plant(rng: Rng, c: KernelCase): { inputs: Operand[]; planted: Planted } {
  const planted: Planted = c.inputs.map(() => new Set<number>());
  const inputs = c.inputs.map((t) => ({ ...t, values: t.values.slice() }));
  const targets = new Set<number>([rng.pick(c.plantable)]);
  if (c.plantable.length > 1 && rng.chance(0.25)) targets.add(rng.pick(c.plantable));
  for (const k of targets) {
    const t = inputs[k] as Operand;
    const pos = positions(t);
    const count = rng.int(1, 3);
    for (let m = 0; m < count; m++) {
      let e = 0;
      for (let d = 0; d < t.shape.length; d++) e = e * (t.shape[d] as number) + rng.coord(t.shape[d] as number);
      (t.values as Float64Array)[pos[e] as number] = rng.pick(PLANTS);
      (planted[k] as Set<number>).add(e);
    }
  }
  return { inputs, planted };
}

const valuesOf = (o: CpuOutput): ArrayLike<number> => o.buffer as ArrayLike<number>;

/** The variants of a kernel that take this call, reference last. */
export function variantsTaking(c: KernelCase): CpuVariant[] {
  const probe = c.inputs.map(toInput);
  return cpuVariants(c.kernel).filter((v) => v.supports(probe, c.attrs as never));
}

const run = (v: CpuVariant, c: KernelCase, inputs: Operand[]): CpuOutput[] => v.run(inputs.map(toInput), c.attrs as never);

/** Largest finite |value| of an output (the scale of its rounding errors). */
function scaleOf(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i] as number;
    if (Number.isFinite(v)) s = Math.max(s, Math.abs(v));
  }
  return s;
}

/**
 * Run every variant that takes the case on its clean inputs and on `planted` inputs and check
 * both rules above. Returns the names of the variants that ran (the reference is the last).
 */
export function checkCase(c: KernelCase, p: { inputs: Operand[]; planted: Planted }): string[] {
  const vs = variantsTaking(c);
  const ref = vs.at(-1) as CpuVariant;
  expect(ref.rank, `${c.kernel}: the last variant taking the call is the reference (rank 0)`).toBe(0);
  const refOut = run(ref, c, p.inputs);
  const masks = c.taint(p.planted);
  for (const v of vs) {
    const clean = run(v, c, c.inputs);
    const dirty = v === ref ? refOut : run(v, c, p.inputs);
    const where = p.planted.map((s, k) => (s.size ? `input ${k} at [${[...s].map((e) => `${e}=${(p.inputs[k] as Operand).values[positions(p.inputs[k] as Operand)[e] as number]}`).join(', ')}]` : '')).filter(Boolean).join('; ');
    const label = `${c.kernel} '${v.name}' ${c.label} (planted ${where})`;
    expect(dirty.length, `${label}: outputs`).toBe(refOut.length);
    dirty.forEach((out, k) => {
      const a = valuesOf(out);
      const r = valuesOf(refOut[k] as CpuOutput);
      const before = valuesOf(clean[k] as CpuOutput);
      const mask = masks[k] as Uint8Array;
      expect(a.length, `${label} output ${k} length`).toBe(r.length);
      expect(mask.length, `${label} output ${k} taint mask`).toBe(r.length);
      const { atol, rtol } = c.tol(k, scaleOf(before));
      const loose = c.looseNonFinite?.(p.planted) ?? false;
      for (let i = 0; i < a.length; i++) {
        const x = a[i] as number;
        if (mask[i] === 0) {
          // rule 2: untouched by any planted element, so as in the clean run (within the tolerance:
          // a kernel may hand a call with non-finite operands to another algorithm)
          const b = before[i] as number;
          if (classOf(x) !== classOf(b) || !(Math.abs(x - b) <= atol + rtol * Math.abs(b))) {
            if (x === b || (x !== x && b !== b)) continue;
            expect.fail(`${label} output ${k}[${i}]: ${x} but ${b} in the clean run, and it depends on no planted element (leak)`);
          }
          continue;
        }
        const y = r[i] as number;
        const cx = classOf(x);
        const cy = classOf(y);
        if (cx !== cy) {
          if (loose && cx !== 'finite' && cy !== 'finite') continue;
          expect.fail(`${label} output ${k}[${i}]: ${x} where the reference '${ref.name}' gives ${y}`);
        }
        if (cx === 'finite' && !(Math.abs(x - y) <= atol + rtol * Math.abs(y))) {
          expect.fail(`${label} output ${k}[${i}]: ${x} vs the reference's ${y} (atol ${atol}, rtol ${rtol})`);
        }
      }
    });
  }
  return vs.map((v) => v.name);
}

/** Empty taint masks, one per output size. */
export function masks(sizes: number[]): Uint8Array[] {
  return sizes.map((n) => new Uint8Array(n));
}

/** Tolerance for float32 sums of products: relative to the output's scale (clean run). */
export const sumTol =
  (dtype: FloatDType, rel32 = 2 ** -14) =>
  (_k: number, scale: number): { atol: number; rtol: number } =>
    dtype === 'float64' ? { atol: 1e-12 * (1 + scale), rtol: 1e-12 } : { atol: rel32 * (1 + scale), rtol: rel32 };

/** A tensor of the oracle fixture (gen_nonfinite.py): non-finite numbers arrive as strings. */
export interface Encoded {
  shape: number[];
  dtype: 'float64' | 'int32';
  values: Float64Array;
}

const NON_FINITE: Record<string, number> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY };

/** The cases of test/reliability/fixtures/<name>, each tensor decoded to an Encoded. */
export function loadFixtureFrom(name: string): Record<string, unknown>[] {
  const path = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', name);
  const doc = JSON.parse(readFileSync(path, 'utf8')) as { cases: Record<string, unknown>[] };
  return doc.cases.map((c) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(c)) {
      const t = v as { shape?: number[]; dtype?: string; data?: (number | string)[] };
      if (t !== null && typeof t === 'object' && Array.isArray(t.data) && Array.isArray(t.shape)) {
        const values = Float64Array.from(t.data, (d) => (typeof d === 'string' ? (NON_FINITE[d] as number) : d));
        out[k] = { shape: t.shape, dtype: t.dtype === 'int32' ? 'int32' : 'float64', values } satisfies Encoded;
      } else out[k] = v;
    }
    return out;
  });
}
