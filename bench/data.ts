// Seeded inputs for workloads: every variant of a workload, peers included, sees the same
// numbers, and every run of the benchmark sees the same workloads.
import { Generator } from '../core/random.js';

/** n standard-normal float32 values from `seed`. */
export function randnF32(n: number, seed: number): Float32Array {
  const g = new Generator(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = g.normal();
  return out;
}

/** n uniform values in [lo, hi) as float32. */
export function uniformF32(n: number, seed: number, lo: number, hi: number): Float32Array {
  const g = new Generator(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * g.uniform();
  return out;
}

/** `count` distinct positions spread evenly over [0, n) (all of them when count ≥ n). */
export function spreadIndices(n: number, count: number): number[] {
  if (count >= n) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: count }, (_, i) => Math.floor(((i + 0.5) * n) / count));
}

export const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);
