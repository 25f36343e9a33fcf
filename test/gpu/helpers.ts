// Shared by the GPU tests: run one case on the CPU and on the GPU from the same host inputs and
// compare. Expected values are always the CPU backend's (our reference kernels), never typed in.
//
// Tolerance. gpu.js computes in float32 (24-bit significand, ulp 2^-23 ≈ 1.2e-7 relative),
// as the CPU does for float32 tensors, but the GPU's exp/log/pow/division are only required to
// be within a few ulp, and its sums run in a different order in float32. So:
// - elementwise ops: |gpu - cpu| <= 1e-5·|cpu| + 1e-6 — about 100 ulp of room, where any
//   indexing or broadcasting bug gives an O(1) difference; the 1e-6 floor covers results
//   that cancel to near zero (inputs here are O(1)).
// - sums (matmul, reduce): |gpu - cpu| <= 1e-5·S, with S the same sum over absolute values
//   (|A|·|B| for matmul, Σ|x| for sum). A float32 dot product of length K is off by at most
//   ~K·2^-24·S and typically ~√K·2^-24·S (≈ 2e-6·S at K = 1500), so 1e-5·S is
//   the float32 rounding bound, again far below what a wrong element or a truncated loop gives.
import { expect } from 'vitest';
import type { Tensor } from '../../index.js';

export const RTOL = 1e-5;
export const ATOL = 1e-6;

/** Worst |actual - expected| - tol_i, reported with its index; tol_i = rtol·scale_i + atol. */
export function expectWithin(actual: ArrayLike<number>, expected: ArrayLike<number>, scale: ArrayLike<number>, atol: number, label: string): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const x = actual[i] as number;
    const y = expected[i] as number;
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (x === y) continue; // equal infinities
    const excess = Math.abs(x - y) - (RTOL * Math.abs(scale[i] as number) + atol);
    if (!(excess <= 0) && (worst < 0 || !(excess <= worstExcess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    throw new Error(`${label}: gpu ${actual[worst]} vs cpu ${expected[worst]} at flat index ${worst} (scale ${scale[worst]})`);
  }
}

/** Elementwise comparison of a GPU tensor with its CPU twin: same shape and dtype, values within 1e-5 rel. */
export async function expectGpuMatches(gpu: Tensor, cpu: Tensor, label: string, scale?: Tensor): Promise<void> {
  expect(gpu.device, `${label}: device`).toBe('gpu');
  expect([...gpu.shape], `${label}: shape`).toEqual([...cpu.shape]);
  expect(gpu.dtype, `${label}: dtype`).toBe(cpu.dtype);
  const expected = cpu.toArray();
  expectWithin(await gpu.data(), expected, scale ? scale.toArray() : expected, scale ? 0 : ATOL, label);
}
