// Float64 gradcheck (full Jacobian against central differences) of the fused norm backward,
// for x and, when affine, γ and β: every norm in train and eval mode, with and without affine,
// on shapes with N = 1, C = 1 and odd spatial sizes, and GroupNorm with G in {1, 2, C/2, C}.
// In eval mode BatchNorm and InstanceNorm use running statistics (constants, after a few train
// steps so they are not the initial 0 and 1); LayerNorm and GroupNorm have no eval difference,
// which the module cases check by running them in eval mode too.
import { describe, expect, it } from 'vitest';
import { F, Generator, type Tensor, autograd, nn, noGrad, randn } from '../../index.js';

const gen = new Generator(11);
const leaf = (shape: number[]): Tensor => randn(shape, { dtype: 'float64', requiresGrad: true, generator: gen });
const fmt = (s: readonly number[]): string => `[${s.join(',')}]`;

/** Inputs [x, γ?, β?] and a function of them. */
function check(fn: (x: Tensor, w: Tensor | null, b: Tensor | null) => Tensor, x: Tensor, affineShape: number[] | null): void {
  const inputs = affineShape ? [x, leaf(affineShape), leaf(affineShape)] : [x];
  const f = (...t: Tensor[]): Tensor => fn(t[0] as Tensor, t[1] ?? null, t[2] ?? null);
  expect(autograd.gradcheck(f, inputs)).toBe(true);
}

/** Running statistics that look like a few batches' worth: mean ~ N(0,1), var in [0.5, ∞). */
function runningStats(C: number): [Tensor, Tensor] {
  const m = randn([C], { dtype: 'float64', generator: gen });
  const v = randn([C], { dtype: 'float64', generator: gen }).abs().add(0.5);
  return [m, v];
}

describe('gradcheck float64, F.batchNorm', () => {
  for (const shape of [[3, 2, 3, 3], [2, 1, 3, 5], [4, 3], [3, 2, 5], [1, 2, 1, 3]]) {
    const C = shape[1] as number;
    for (const affine of [true, false]) {
      it(`batchNorm train x=${fmt(shape)}${affine ? ' affine' : ''}`, () => {
        const [rm, rv] = runningStats(C);
        check((x, w, b) => F.batchNorm(x, rm, rv, w, b, { training: true }), leaf(shape), affine ? [C] : null);
      });
      it(`batchNorm eval x=${fmt(shape)}${affine ? ' affine' : ''}`, () => {
        const [rm, rv] = runningStats(C);
        check((x, w, b) => F.batchNorm(x, rm, rv, w, b, { training: false }), leaf(shape), affine ? [C] : null);
      });
    }
  }
});

describe('gradcheck float64, F.layerNorm', () => {
  for (const [shape, ns] of [
    [[2, 3, 4], [4]],
    [[1, 5], [5]],
    [[2, 2, 3], [2, 3]],
    [[1, 1, 3, 3], [1, 3, 3]],
    [[3, 2], [2]],
  ] as [number[], number[]][]) {
    for (const affine of [true, false]) {
      it(`layerNorm x=${fmt(shape)} normalizedShape=${fmt(ns)}${affine ? ' affine' : ''}`, () => {
        check((x, w, b) => F.layerNorm(x, ns, w, b), leaf(shape), affine ? ns : null);
      });
    }
  }
});

describe('gradcheck float64, F.instanceNorm', () => {
  for (const shape of [[2, 3, 3, 3], [1, 2, 3, 3], [2, 1, 3, 5], [2, 2, 7]]) {
    const C = shape[1] as number;
    for (const affine of [true, false]) {
      it(`instanceNorm train x=${fmt(shape)}${affine ? ' affine' : ''}`, () => {
        const [rm, rv] = runningStats(C);
        check((x, w, b) => F.instanceNorm(x, rm, rv, w, b, { useInputStats: true }), leaf(shape), affine ? [C] : null);
      });
      it(`instanceNorm eval (running stats) x=${fmt(shape)}${affine ? ' affine' : ''}`, () => {
        const [rm, rv] = runningStats(C);
        check((x, w, b) => F.instanceNorm(x, rm, rv, w, b, { useInputStats: false }), leaf(shape), affine ? [C] : null);
      });
    }
  }
});

describe('gradcheck float64, F.groupNorm', () => {
  for (const [shape, groups] of [
    [[2, 6, 3, 3], [1, 2, 3, 6]],
    [[1, 4, 3, 1], [1, 2, 4]],
    [[3, 4], [1, 2, 4]],
    [[2, 1, 5], [1]],
  ] as [number[], number[]][]) {
    for (const G of groups) {
      for (const affine of [true, false]) {
        it(`groupNorm x=${fmt(shape)} G=${G}${affine ? ' affine' : ''}`, () => {
          check((x, w, b) => F.groupNorm(x, G, w, b), leaf(shape), affine ? [shape[1] as number] : null);
        });
      }
    }
  }
});

describe('gradcheck float64, modules in train and eval mode', () => {
  const modules: [string, () => nn.Module & { forward(x: Tensor): Tensor }, number[]][] = [
    ['BatchNorm2d(2)', () => new nn.BatchNorm2d(2, { dtype: 'float64' }), [2, 2, 3, 3]],
    ['BatchNorm1d(3) momentum=null', () => new nn.BatchNorm1d(3, { momentum: null, dtype: 'float64' }), [4, 3]],
    ['BatchNorm2d(2) trackRunningStats=false', () => new nn.BatchNorm2d(2, { trackRunningStats: false, dtype: 'float64' }), [2, 2, 3, 1]],
    ['InstanceNorm2d(2) affine trackRunningStats', () => new nn.InstanceNorm2d(2, { affine: true, trackRunningStats: true, dtype: 'float64' }), [2, 2, 3, 3]],
    ['InstanceNorm2d(3)', () => new nn.InstanceNorm2d(3, { dtype: 'float64' }), [1, 3, 3, 3]],
    ['LayerNorm([3,3])', () => new nn.LayerNorm([3, 3], { dtype: 'float64' }), [2, 2, 3, 3]],
    ['GroupNorm(2, 4)', () => new nn.GroupNorm(2, 4, { dtype: 'float64' }), [2, 4, 3, 1]],
  ];
  for (const [label, make, shape] of modules) {
    for (const mode of ['train', 'eval'] as const) {
      it(`${label} ${mode} x=${fmt(shape)}`, () => {
        const m = make();
        for (let i = 0; i < 3; i++) m.forward(leaf(shape)); // move the running stats off 0 and 1
        m.train(mode === 'train');
        const params = m.parameters();
        noGrad(() => {
          for (const p of params) p.assign(randn(p.shape, { dtype: 'float64', generator: gen }));
        });
        // gradcheck perturbs the storage of the tensors it is given; the module reads the same
        // parameter tensors, so x and every parameter are checked through m.forward.
        const x = leaf(shape);
        expect(autograd.gradcheck(() => m.forward(x), [x, ...params])).toBe(true);
      });
    }
  }
});
