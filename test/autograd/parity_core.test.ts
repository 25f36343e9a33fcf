// PyTorch parity of the core ops: values and gradients (for the oracle's random upstream
// gradient `gout`) against torch 1.13, from test/oracle/gen_core.py → fixtures/core.json.
// float64: our kernels and torch's differ only by summation order, ~1e-15 relative; we allow
// 1e-10. float32: the same cases with inputs rounded to float32, against torch's float64
// answers: a handful of float32 roundings (2^-24 ≈ 6e-8 each) stay well under 1e-5 relative;
// atol 1e-5 covers values that cancel to near zero (sums, variances, softmax gradients).
import { describe, expect, it } from 'vitest';
import type { DType, Tensor } from '../../index.js';
import { expectClose } from '../helpers/assert.js';
import { type EncodedTensor, dec, loadFixture } from '../helpers/oracle.js';
import { runCase } from './core_ops.js';

const all = loadFixture('core');
const TOL: Record<'float64' | 'float32', { atol: number; rtol: number }> = {
  float64: { atol: 1e-10, rtol: 1e-10 },
  float32: { atol: 1e-5, rtol: 1e-5 },
};

function checkCase(c: (typeof all)[number], dtype: 'float64' | 'float32'): void {
  const encIn = c.inputs as EncodedTensor[];
  const xs = encIn.map((e) => dec(e, { dtype, requiresGrad: e.dtype !== 'int32' }));
  const out = runCase(c, xs);
  expect(out.dtype).toBe(dtype);
  expectClose(out, dec(c.out), { ...TOL[dtype], label: `${c.name} [${dtype}] output` });
  out.backward(dec(c.gout, { dtype }));
  (c.grads as (EncodedTensor | null)[]).forEach((g, i) => {
    if (g === null) return;
    const x = xs[i] as Tensor;
    expect(x.grad, `${c.name}: input ${i} got no gradient`).not.toBeNull();
    expect(x.grad!.dtype).toBe(dtype);
    expectClose(x.grad!, dec(g), { ...TOL[dtype], label: `${c.name} [${dtype}] grad of input ${i}` });
  });
}

describe('PyTorch parity, core ops', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    describe(dtype, () => {
      for (const c of all.filter((k) => !k.nograd)) it(c.name, () => checkCase(c, dtype));
    });
  }

  describe('no gradient: dtype promotion, comparisons, argmax', () => {
    for (const c of all.filter((k) => k.nograd)) {
      it(c.name, () => {
        const xs = (c.inputs as EncodedTensor[]).map((e) => dec(e));
        const out = runCase(c, xs);
        const expected = dec(c.out);
        expect(out.dtype).toBe((c.out as EncodedTensor).dtype as DType);
        // float32 results: torch rounds the same float64 value to float32, so they agree exactly
        // up to one rounding.
        expectClose(out, expected, { atol: 0, rtol: out.dtype === 'float32' ? 1e-7 : 1e-15 });
      });
    }
  });
});
