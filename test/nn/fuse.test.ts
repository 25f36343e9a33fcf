// Fused ops and inference-time folding (nn/fuse.ts):
//   F.conv2dRelu — PyTorch parity (values, gradients) per conv variant, float64 gradcheck, and
//     every variant equal to its own conv2d followed by relu, bit for bit;
//   convBn — the folded convolution against PyTorch's conv → batch_norm(eval) → relu, and against
//     the unfused modules while weights and statistics change under it (assign, optimizer step,
//     loadStateDict, to()), and the cases where it must not fold (training, trainable parameters
//     with grad on, hooks, other norms, subclasses);
//   whole models in eval under noGrad: folded against unfused.
import { afterEach, describe, expect, it } from 'vitest';
import { F, Generator, type Tensor, autograd, models, nn, noGrad, optim, randn, tensor, tidy } from '../../index.js';
import { traceVariants } from '../../core/cpu/registry.js';
import { canFold, convBn, fusion } from '../../nn/fuse.js';
import type { Conv2dOptions } from '../../nn/ops/conv.js';
import { expectClose } from '../helpers/assert.js';
import { type OracleCase, dec, loadFixture } from '../helpers/oracle.js';
import { convVariantsFor, expectSameBits, withConvVariant } from '../helpers/variants.js';

const cases = loadFixture('fused');
const reluCases = cases.filter((c) => c.kind === 'conv2dRelu');
const bnCases = cases.filter((c) => c.kind === 'convBn');
const shapeOf = (e: unknown): number[] => (e as { shape: number[] }).shape;
const optsOf = (c: OracleCase): Conv2dOptions => ({
  stride: c.stride as number,
  padding: c.padding as number,
  dilation: (c.dilation as number | undefined) ?? 1,
  groups: c.groups as number,
});
const batched = (s: number[]): number[] => (s.length === 3 ? [1, ...s] : s);

afterEach(() => {
  fusion.enabled = true;
});

describe('F.conv2dRelu matches PyTorch relu(conv2d) (values and gradients)', () => {
  for (const c of reluCases) {
    for (const dtype of ['float64', 'float32'] as const) {
      // float64: same maths, another summation order; float32: accumulation over ≤ 27 terms of size ~3
      const tol = dtype === 'float64' ? { atol: 1e-10, rtol: 1e-10 } : { atol: 2e-5, rtol: 1e-5 };
      for (const impl of convVariantsFor(batched(shapeOf(c.x)), shapeOf(c.w), optsOf(c), dtype)) {
        it(`${c.name} impl=${impl} ${dtype}`, () => {
          const x = dec(c.x, { dtype, requiresGrad: true });
          const w = dec(c.w, { dtype, requiresGrad: true });
          const b = c.b ? dec(c.b, { dtype, requiresGrad: true }) : null;
          const y = withConvVariant(impl, () => {
            const out = F.conv2dRelu(x, w, b, optsOf(c));
            out.backward(dec(c.gy, { dtype }));
            return out;
          });
          expectClose(y, dec(c.y), { ...tol, label: 'y' });
          expectClose(x.grad!, dec(c.gx), { ...tol, label: 'dx' });
          expectClose(w.grad!, dec(c.gw), { ...tol, label: 'dw' });
          if (b) expectClose(b.grad!, dec(c.gb), { ...tol, label: 'db' });
        });
      }
    }
  }
});

describe('F.conv2dRelu float64 gradcheck', () => {
  for (const c of reluCases) {
    it(c.name, () => {
      const inputs = [c.x, c.w, ...(c.b ? [c.b] : [])].map((e) => dec(e, { dtype: 'float64', requiresGrad: true }));
      const f = (x: Tensor, w: Tensor, b?: Tensor) => F.conv2dRelu(x, w, b ?? null, optsOf(c));
      expect(autograd.gradcheck(f as (...xs: Tensor[]) => Tensor, inputs)).toBe(true);
    });
  }
});

describe('every conv variant: the fused ReLU equals relu of its own conv2d, bit for bit', () => {
  // Shapes that reach each kernel family: Winograd F(2×2) and F(4×4), the grouped direct kernel,
  // depthwise, im2col with stride; float32 (WASM) and float64 (TypeScript).
  const gen = new Generator(5);
  const shapes: [number[], number[], Conv2dOptions][] = [
    [[2, 16, 9, 11], [16, 16, 3, 3], { padding: 1 }],
    [[1, 8, 20, 18], [12, 8, 3, 3], { padding: 1 }],
    [[2, 32, 7, 9], [32, 4, 3, 3], { padding: 1, groups: 8 }],
    [[1, 24, 10, 10], [24, 1, 3, 3], { padding: 1, groups: 24 }],
    [[3, 8, 12, 12], [16, 8, 1, 1], { stride: 2 }],
    [[1, 3, 11, 13], [5, 3, 5, 5], { stride: [2, 1], padding: 2, dilation: [1, 2] }],
  ];
  for (const [xs, ws, opts] of shapes) {
    for (const dtype of ['float32', 'float64'] as const) {
      const impls = convVariantsFor(xs, ws, opts, dtype);
      it(`x=[${xs}] w=[${ws}] ${JSON.stringify(opts)} ${dtype}: ${impls.join(', ')}`, () => {
        const x = randn(xs, { dtype, generator: gen });
        const w = randn(ws, { dtype, generator: gen });
        const b = randn([ws[0]!], { dtype, generator: gen });
        // a NaN and an infinity in x: relu keeps NaN, as the unary relu does
        const xv = x.toArray();
        xv[3] = Number.NaN;
        xv[xv.length - 5] = Number.POSITIVE_INFINITY;
        const xp = tensor(xv, { shape: xs, dtype });
        for (const impl of impls) {
          const [fused, plain] = withConvVariant(impl, () => [F.conv2dRelu(xp, w, b, opts), F.relu(F.conv2d(xp, w, b, opts))]);
          expectSameBits(fused!.toArray(), plain!.toArray(), `${impl} ${dtype}`);
        }
      });
    }
  }
});

/** Conv2d → BatchNorm2d of an oracle case, in `dtype`, eval mode, parameters frozen. */
function modulesOf(c: OracleCase, dtype: 'float32' | 'float64') {
  const ws = shapeOf(c.w);
  const conv = new nn.Conv2d(ws[1]! * (c.groups as number), ws[0]!, [ws[2]!, ws[3]!], {
    ...optsOf(c), bias: c.b !== undefined, dtype,
  });
  const bn = new nn.BatchNorm2d(ws[0]!, { eps: c.eps as number, affine: c.gamma !== undefined, dtype });
  noGrad(() => {
    conv.weight.assign(dec(c.w, { dtype }));
    if (c.b) conv.bias!.assign(dec(c.b, { dtype }));
    bn.running_mean!.assign(dec(c.mean, { dtype }));
    bn.running_var!.assign(dec(c.var, { dtype }));
    if (c.gamma) {
      bn.weight!.assign(dec(c.gamma, { dtype }));
      bn.bias!.assign(dec(c.beta, { dtype }));
    }
  });
  const relu = c.relu ? new nn.ReLU() : null;
  conv.eval().freeze();
  bn.eval().freeze();
  return { conv, bn, relu };
}

describe('convBn: the folded convolution matches PyTorch conv → batch_norm (eval) → relu', () => {
  for (const c of bnCases) {
    for (const dtype of ['float64', 'float32'] as const) {
      // folding rounds w·s once (float64: ~1e-16; float32: one more rounding of each weight)
      const tol = dtype === 'float64' ? { atol: 1e-10, rtol: 1e-10 } : { atol: 1e-4, rtol: 1e-5 };
      it(`${c.name} ${dtype}: y and dx, with no norm or relu kernel run once folded`, () => {
        const { conv, bn, relu } = modulesOf(c, dtype);
        const x = dec(c.x, { dtype, requiresGrad: true });
        expect(canFold(conv, bn, relu)).toBe(true);
        noGrad(() => convBn(conv, bn, relu, x)); // folds (that runs elementwise kernels once)
        const { result: y, used } = traceVariants(() => convBn(conv, bn, relu, x));
        expect([...used.keys()].filter((k) => k.startsWith('norm'))).toEqual([]);
        expect([...used.keys()].filter((k) => k === 'unary')).toEqual([]);
        y.backward(dec(c.gy, { dtype }));
        expectClose(y, dec(c.y), { ...tol, label: 'y' });
        expectClose(x.grad!, dec(c.gx), { ...tol, label: 'dx' });
      });
    }
  }
});

describe('convBn folds again when what it folded changes', () => {
  const c = bnCases.find((k) => k.relu === true && k.gamma !== undefined)!;
  const x = dec(c.x, { dtype: 'float32' });
  const unfused = (f: () => Tensor): Tensor => {
    fusion.enabled = false;
    try {
      return f();
    } finally {
      fusion.enabled = true;
    }
  };
  const check = (conv: nn.Conv2d, bn: nn.BatchNorm2d, relu: nn.ReLU | null, label: string) => {
    const run = () => noGrad(() => convBn(conv, bn, relu, x.to(conv.weight.dtype)));
    expectClose(run(), unfused(run), { atol: 1e-4, rtol: 1e-5, label });
  };

  it('after assign() to the conv weight, γ, β and both running statistics', () => {
    const { conv, bn, relu } = modulesOf(c, 'float32');
    check(conv, bn, relu, 'first fold');
    const edits: [string, Tensor][] = [
      ['conv.weight', conv.weight], ['bn.weight', bn.weight!], ['bn.bias', bn.bias!], ['running_mean', bn.running_mean!], ['running_var', bn.running_var!],
    ];
    for (const [name, t] of edits) {
      noGrad(() => t.assign(t.mul(1.5).add(0.25)));
      check(conv, bn, relu, `after assign to ${name}`);
    }
  });

  it('after an optimizer step, loadStateDict() and to(float64)', () => {
    const { conv, bn, relu } = modulesOf(c, 'float32');
    check(conv, bn, relu, 'first fold');
    conv.unfreeze();
    const opt = new optim.SGD(conv.parameters(), { lr: 0.1 });
    const loss = F.conv2d(x, conv.weight, null, optsOf(c)).square().sum();
    loss.backward();
    opt.step();
    conv.freeze();
    check(conv, bn, relu, 'after SGD step');
    const sd = bn.stateDict();
    bn.loadStateDict({ ...sd, running_mean: sd.running_mean!.add(1) });
    check(conv, bn, relu, 'after loadStateDict');
    conv.to('float64');
    bn.to('float64');
    check(conv, bn, relu, 'after to(float64)');
  });

  it('the same conv with another norm folds that norm', () => {
    const { conv, bn, relu } = modulesOf(c, 'float32');
    const other = modulesOf(c, 'float32').bn;
    noGrad(() => other.running_mean!.assign(other.running_mean!.add(2)));
    check(conv, bn, relu, 'bn');
    check(conv, other, relu, 'other bn');
  });
});

describe('convBn runs the modules unfused where folding would change what they compute', () => {
  const c = bnCases.find((k) => k.relu === true && k.gamma !== undefined)!;
  const x = dec(c.x, { dtype: 'float32' });
  const norms = (f: () => unknown) => [...traceVariants(f).used.keys()].filter((k) => k.startsWith('norm'));

  it('training mode: batch statistics (and the running ones update)', () => {
    const { conv, bn, relu } = modulesOf(c, 'float32');
    bn.train();
    expect(canFold(conv, bn, relu)).toBe(false);
    const before = bn.running_mean!.toArray();
    expect(norms(() => noGrad(() => convBn(conv, bn, relu, x)))).toContain('normForward');
    expect(bn.running_mean!.toArray()).not.toEqual(before);
  });

  it('grad enabled and a parameter that requires grad: the gradient reaches it', () => {
    const { conv, bn, relu } = modulesOf(c, 'float32');
    bn.unfreeze();
    expect(canFold(conv, bn, relu)).toBe(false);
    expect(noGrad(() => canFold(conv, bn, relu))).toBe(true);
    convBn(conv, bn, relu, x).sum().backward();
    expect(bn.weight!.grad).toBeTruthy();
    expect(conv.weight.grad).toBeNull();
  });

  it('a forward hook on any of the three modules is called', () => {
    for (const which of ['conv', 'bn', 'relu'] as const) {
      const m = modulesOf(c, 'float32');
      let calls = 0;
      m[which]!.registerForwardHook(() => {
        calls++;
      });
      expect(canFold(m.conv, m.bn, m.relu)).toBe(false);
      noGrad(() => convBn(m.conv, m.bn, m.relu, x));
      expect(calls, which).toBe(1);
    }
  });

  it('a zero variance with eps 0 (s = ∞): not folded, so Inf and NaN land where the modules put them', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const { conv, bn, relu } = modulesOf(c, dtype);
      noGrad(() => bn.running_var!.assign(bn.running_var!.mul(0)));
      const eps0 = new nn.BatchNorm2d(bn.numFeatures, { eps: 0, dtype }).eval().freeze();
      eps0.loadStateDict(bn.stateDict());
      const xd = x.to(dtype);
      const folded = noGrad(() => convBn(conv, eps0, relu, xd)).toArray();
      fusion.enabled = false;
      const plain = noGrad(() => convBn(conv, eps0, relu, xd)).toArray();
      fusion.enabled = true;
      expect(folded.some((v) => v === Number.POSITIVE_INFINITY), 'the case does make infinities').toBe(true);
      expectSameBits(folded, plain, `${dtype} y`);
    }
  });

  it('a norm in another dtype: the error of the unfused modules, not a silent fold', () => {
    const { conv } = modulesOf(c, 'float32');
    const bn64 = modulesOf(c, 'float64').bn;
    expect(canFold(conv, bn64)).toBe(false);
    expect(() => noGrad(() => convBn(conv, bn64, null, x))).toThrow(/batchNorm: expected 'weight' to have the input's dtype float32, but got float64/);
  });

  it('another norm layer, or a subclass of BatchNorm2d', () => {
    const { conv } = modulesOf(c, 'float32');
    const o = conv.outChannels;
    expect(canFold(conv, new nn.GroupNorm(2, o).eval())).toBe(false);
    class Shifted extends nn.BatchNorm2d {
      override forward(v: Tensor): Tensor {
        return super.forward(v).add(1);
      }
    }
    const shifted = new Shifted(o).eval();
    expect(canFold(conv, shifted)).toBe(false);
    const y = noGrad(() => convBn(conv, shifted, null, x));
    const plain = noGrad(() => new nn.BatchNorm2d(o).eval().forward(conv.forward(x)).add(1));
    expectClose(y, plain, { atol: 1e-6, rtol: 1e-6, label: 'subclass forward ran' });
  });
});

describe('models in eval under noGrad: folded equals unfused', () => {
  const gen = new Generator(3);
  /** Random running statistics and affine parameters, so that folding has something to fold. */
  const perturb = (m: nn.Module) =>
    noGrad(() => {
      for (const b of m.modules()) {
        if (!(b instanceof nn.BatchNorm2d)) continue;
        const n = b.numFeatures;
        b.running_mean!.assign(randn([n], { generator: gen }).mul(0.2));
        b.running_var!.assign(randn([n], { generator: gen }).abs().add(0.5));
        b.weight!.assign(randn([n], { generator: gen }).abs().add(0.5));
        b.bias!.assign(randn([n], { generator: gen }).mul(0.2));
      }
    });
  const cases: [string, () => nn.Module, number[]][] = [
    ['resnet18', () => models.resnet18({ numClasses: 10 }), [2, 3, 64, 64]],
    ['resnet50', () => models.resnet50({ numClasses: 10 }), [1, 3, 64, 64]],
    ['resnext50_32x4d', () => models.resnext50_32x4d({ numClasses: 10 }), [1, 3, 64, 64]],
    ['cifarResNet(20)', () => models.cifarResNet(20), [2, 3, 32, 32]],
    ['cifarResNet(8, shortcut B)', () => models.cifarResNet(8, { shortcut: 'B' }), [2, 3, 32, 32]],
  ];
  for (const [name, make, xs] of cases) {
    it(`${name} x=[${xs}]: no norm or relu kernel runs, logits within float32 rounding`, () => {
      const m = make().eval();
      perturb(m);
      const x = randn(xs, { generator: gen });
      const fwd = (v: Tensor) => (m as unknown as { forward(t: Tensor): Tensor }).forward(v);
      noGrad(() => tidy(() => fwd(x))); // folds every conv → norm (elementwise kernels, once)
      const { result: fused, used } = traceVariants(() => noGrad(() => tidy(() => fwd(x))));
      expect([...used.keys()].filter((k) => k.startsWith('norm') || k === 'unary')).toEqual([]);
      fusion.enabled = false;
      const plain = noGrad(() => tidy(() => fwd(x)));
      fusion.enabled = true;
      const scale = Math.max(...[...plain.toArray()].map(Math.abs));
      expectClose(fused, plain, { atol: 1e-4 * scale, rtol: 1e-4, label: name });
    });
  }
});
