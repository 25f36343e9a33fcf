// Float64 gradcheck (full Jacobian, central differences) of every differentiable core op, on
// the inputs of the PyTorch oracle cases (test/oracle/gen_core.py), broadcasting included.
import { describe, expect, it } from 'vitest';
import { Generator, type Tensor, autograd, randn } from '../../index.js';
import { type EncodedTensor, dec, loadFixture } from '../helpers/oracle.js';
import { CORE_OPS, runCase } from './core_ops.js';

// "kink" cases sit on ties and zeros (maximum/max ties, relu/abs at 0): there the function has
// no derivative and finite differences average the one-sided slopes, so only the PyTorch parity
// test (which compares torch's chosen subgradient) uses them.
const cases = loadFixture('core').filter((c) => !c.nograd && !c.kink);

/** Float inputs become float64 leaves that require grad; int32 ones (masks, indices) stay as they are. */
function leaves(c: (typeof cases)[number]): Tensor[] {
  return (c.inputs as EncodedTensor[]).map((e) => dec(e, { dtype: 'float64', requiresGrad: e.dtype !== 'int32' }));
}

// Every differentiable op of autograd/ops that the issue names.
const REQUIRED = [
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'addRelu', 'where', 'neg', 'exp', 'log', 'sqrt', 'abs',
  'relu', 'sigmoid', 'tanh', 'sign', 'square', 'sum', 'mean', 'max', 'min', 'var', 'std', 'matmul', 'softmax', 'logSoftmax',
  'cat', 'stack', 'gather', 'indexSelect', 'view', 'reshape', 'flatten', 'permute', 'transpose', 't',
  'expand', 'expandAs', 'squeeze', 'unsqueeze', 'slice', 'narrow', 'select', 'contiguous', 'clone', 'toDtype',
];

describe('gradcheck float64, every core op', () => {
  it('covers every required op with at least one case', () => {
    const covered = new Set(cases.map((c) => c.op as string));
    expect(REQUIRED.filter((op) => !covered.has(op))).toEqual([]);
    // and every op of the table is either checked here or has no gradient by nature
    const noGradient = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'argmax', 'argmin'];
    expect(Object.keys(CORE_OPS).sort()).toEqual([...REQUIRED, ...noGradient].sort());
  });

  it('every function the autograd namespace exports is gradchecked here or has a reason not to be', () => {
    const notOps = ['GradcheckError', 'gradcheck', 'backward', 'record', 'run1', 'runKernel', 'noGrad', 'isGradEnabled', 'withGradEnabled'];
    const modes = ['detectAnomaly', 'setDetectAnomaly', 'isAnomalyEnabled']; // anomaly mode: switches, not ops
    const noGradient = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'logicalAnd', 'argmax', 'argmin', 'detach'];
    const needsDevice = ['toDevice']; // moves data between devices: needs a second (GPU) backend
    const exported = Object.entries(autograd)
      .filter(([, v]) => typeof v === 'function')
      .map(([k]) => (k === 'variance' ? 'var' : k));
    const skipped = new Set([...notOps, ...modes, ...noGradient, ...needsDevice]);
    expect(exported.filter((k) => !skipped.has(k) && !REQUIRED.includes(k))).toEqual([]);
  });

  for (const c of cases) {
    // toDtype rounds through float32 (~6e-8 relative), so its finite differences need a step
    // far above that: eps=1e-3 puts the rounding noise at ~3e-5, inside rtol=1e-3 of a slope of 1.
    const opts = c.op === 'toDtype' ? { eps: 1e-3 } : {};
    it(c.name, () => {
      expect(autograd.gradcheck((...xs: Tensor[]) => runCase(c, xs), leaves(c), opts)).toBe(true);
    });
  }

  // Bigger shapes through fast mode (one random projection vᵀJu per input): the blocked GEMM's
  // edge tiles, long softmax rows, reductions over many elements.
  const big: [string, number[][], (...xs: Tensor[]) => Tensor][] = [
    ['matmul a=[2,17,33] b=[33,9]', [[2, 17, 33], [33, 9]], (a, b) => autograd.matmul(a!, b!)],
    ['matmul a=[65,70] b=[70,5]', [[65, 70], [70, 5]], (a, b) => autograd.matmul(a!, b!)],
    ['logSoftmax x=[6,300] dim=1', [[6, 300]], (x) => autograd.logSoftmax(x!, 1)],
    ['var x=[8,9,10] dim=[0,2]', [[8, 9, 10]], (x) => autograd.variance(x!, [0, 2])],
    ['mul+sum x=[40,1,30] y=[25,1]', [[40, 1, 30], [25, 1]], (x, y) => autograd.sum(autograd.mul(x!, y!), 1)],
  ];
  for (const [label, shapes, f] of big) {
    it(`fastMode ${label}`, () => {
      const g = new Generator(3);
      const xs = shapes.map((s) => randn(s, { dtype: 'float64', requiresGrad: true, generator: g }));
      expect(autograd.gradcheck(f, xs, { fastMode: true })).toBe(true);
    });
  }
});
