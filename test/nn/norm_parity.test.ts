// PyTorch parity of the normalisation modules, from test/oracle/gen_norm.py → fixtures/norm.json.
// Each case replays torch's steps on our module (same γ, β, inputs and upstream gradients): after
// every train and eval step the output, the gradients of x, weight and bias, and the buffers
// (running_mean, running_var, num_batches_tracked) must match.
// float64: only summation order differs, ~1e-15 relative; we allow 1e-10.
// float32: inputs rounded to float32 against torch's float64 answers. x̂ = (x − μ)/σ carries a few
// float32 roundings relative to σ (values are O(1) here), and the input gradient
// r(γ·gy − A/m − x̂·B/m) subtracts O(1) terms: 2e-5 absolute and relative covers it with room.
import { afterAll, describe, expect, it } from 'vitest';
import { cpuVariants, preferVariants, traceVariants } from '../../core/cpu/registry.js';
import { type Tensor, nn, noGrad } from '../../index.js';
import { expectClose } from '../helpers/assert.js';
import { type EncodedTensor, type OracleCase, dec, loadFixture } from '../helpers/oracle.js';

type Float = 'float32' | 'float64';
const TOL: Record<Float, { atol: number; rtol: number }> = {
  float64: { atol: 1e-10, rtol: 1e-10 },
  float32: { atol: 2e-5, rtol: 2e-5 },
};

interface Step {
  training: boolean;
  [key: string]: unknown;
}

interface NormModule {
  weight: Tensor | null;
  bias: Tensor | null;
  running_mean?: Tensor | null;
  running_var?: Tensor | null;
  num_batches_tracked?: Tensor | null;
  forward(x: Tensor): Tensor;
  train(mode?: boolean): unknown;
  zeroGrad(): void;
}

/** Our module for a case, with torch's constructor arguments (an absent key keeps the default). */
function build(c: OracleCase, dtype: Float): NormModule {
  const a = c.args as Record<string, unknown>;
  const opt = <T>(k: string): T | undefined => (k in a ? (a[k] as T) : undefined);
  const common = { eps: opt<number>('eps'), affine: opt<boolean>('affine'), trackRunningStats: opt<boolean>('trackRunningStats'), dtype };
  switch (c.module) {
    case 'BatchNorm1d':
      return new nn.BatchNorm1d(a.numFeatures as number, { ...common, momentum: opt<number | null>('momentum') });
    case 'BatchNorm2d':
      return new nn.BatchNorm2d(a.numFeatures as number, { ...common, momentum: opt<number | null>('momentum') });
    case 'InstanceNorm2d':
      return new nn.InstanceNorm2d(a.numFeatures as number, { ...common, momentum: opt<number>('momentum') });
    case 'LayerNorm':
      return new nn.LayerNorm(a.normalizedShape as number[], { eps: opt('eps'), elementwiseAffine: opt('elementwiseAffine'), dtype });
    case 'GroupNorm':
      return new nn.GroupNorm(a.numGroups as number, a.numChannels as number, { eps: opt('eps'), affine: opt('affine'), dtype });
    default:
      throw new Error(`unknown module ${String(c.module)}`);
  }
}

function replay(c: OracleCase, dtype: Float): void {
  const m = build(c, dtype);
  const init = c.init as Record<string, EncodedTensor>;
  expect(m.weight === null, 'affine parameters present exactly when torch has them').toBe(!init.weight);
  noGrad(() => {
    if (init.weight) m.weight!.assign(dec(init.weight));
    if (init.bias) m.bias!.assign(dec(init.bias));
  });
  const tol = TOL[dtype];
  (c.steps as Step[]).forEach((s, i) => {
    const at = `${c.name} [${dtype}] step ${i} (${s.training ? 'train' : 'eval'})`;
    m.train(s.training);
    m.zeroGrad();
    const x = dec(s.x, { dtype, requiresGrad: true });
    const y = m.forward(x);
    expect(y.dtype).toBe(dtype);
    expectClose(y, dec(s.y), { ...tol, label: `${at} output` });
    y.backward(dec(s.gy, { dtype }));
    expectClose(x.grad!, dec(s.gx), { ...tol, label: `${at} grad x` });
    if (s.gweight) expectClose(m.weight!.grad!, dec(s.gweight), { ...tol, label: `${at} grad weight` });
    if (s.gbias) expectClose(m.bias!.grad!, dec(s.gbias), { ...tol, label: `${at} grad bias` });
    for (const b of ['running_mean', 'running_var'] as const) {
      if (s[b]) expectClose(m[b]!, dec(s[b]), { ...tol, label: `${at} ${b}` });
      else expect(m[b] ?? null, `${at} ${b} absent as in torch`).toBeNull();
    }
    if (s.num_batches_tracked) {
      expect(m.num_batches_tracked!.dtype).toBe('int32');
      expect(m.num_batches_tracked!.item(), `${at} num_batches_tracked`).toBe((s.num_batches_tracked as EncodedTensor).data[0]);
    }
  });
}

const cases = loadFixture('norm');

describe('PyTorch parity, normalisation modules', () => {
  it('fixture covers every module, momentum 0.1 and null, train and eval steps', () => {
    expect(new Set(cases.map((c) => c.module))).toEqual(new Set(['BatchNorm1d', 'BatchNorm2d', 'InstanceNorm2d', 'LayerNorm', 'GroupNorm']));
    const bn = cases.filter((c) => (c.module as string).startsWith('BatchNorm'));
    expect(bn.some((c) => (c.args as Record<string, unknown>).momentum === null)).toBe(true);
    expect(bn.some((c) => (c.steps as Step[]).filter((s) => s.training).length >= 3)).toBe(true);
    expect(cases.every((c) => (c.steps as Step[]).length > 0)).toBe(true);
  });
  for (const dtype of ['float64', 'float32'] as const) {
    describe(dtype, () => {
      for (const c of cases) it(c.name, () => replay(c, dtype));
    });
  }
  // The same cases through every other variant of the norm kernels (the plain loops of
  // kernels/cpu/norm.ts, the WASM BatchNorm for float32, ...): each runs the calls it supports,
  // the default variant the rest, and afterAll checks that each variant really ran somewhere.
  const names = cpuVariants('normForward').map((v) => v.name);
  for (const v of names) {
    describe(`every variant: ${v}`, () => {
      const ran = new Set<string>();
      const pins = { normForward: v, normApply: v, normBackward: v };
      for (const dtype of ['float64', 'float32'] as const) {
        for (const c of cases) {
          it(`${c.name} ${dtype}`, () => {
            const { used } = traceVariants(() => preferVariants(pins, () => replay(c, dtype)));
            for (const k of ['normForward', 'normApply', 'normBackward'] as const) if (used.get(k)?.has(v)) ran.add(k);
          });
        }
      }
      afterAll(() => {
        expect([...ran].sort(), `variant ${v} ran`).toEqual(['normApply', 'normBackward', 'normForward']);
      });
    });
  }
});
