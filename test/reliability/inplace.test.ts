// In-place writes can't corrupt a backward. For every differentiable op: run it, write new
// values in place into one of its inputs or into its output, then backward. The outcome must be
// an AutogradError (a saved tensor was modified), or exactly the gradient of the forward that
// actually ran (a fresh computation on copies of the original values), or, after a recorded
// copy into the output, torch's answer (zeros through the old history).
import { describe, expect, it } from 'vitest';
import { fusedSteps } from '../../core/cpu/wasm.js';
import { AutogradError, F, Generator, type Tensor, autograd as ag, nn, noGrad, ones, optim, randn, tensor, zeros } from '../../index.js';

/** 'stat'/'posStat': float inputs that never require grad (running statistics). */
type Kind = 'any' | 'pos' | { index: number } | 'mask' | 'stat' | 'posStat';
interface InputSpec {
  shape: number[];
  kind?: Kind;
}
interface OpCase {
  name: string;
  inputs: InputSpec[];
  fn: (xs: Tensor[]) => Tensor;
  /** Other outputs the caller gets and could write into (maxPool2d's indices). */
  extras?: (xs: Tensor[]) => { y: Tensor; extras: Tensor[] };
}

const s = (shape: number[], kind: Kind = 'any'): InputSpec => ({ shape, kind });

/** Seeded values for one input: float64 (positive where the op needs it) or int32 indices/masks. */
function make(spec: InputSpec, gen: Generator): Tensor {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const kind = spec.kind ?? 'any';
  if (kind === 'mask') return tensor(Int32Array.from({ length: n }, () => (gen.uniform() < 0.5 ? 1 : 0)), { shape: spec.shape, dtype: 'int32' });
  if (typeof kind === 'object') return tensor(Int32Array.from({ length: n }, () => Math.floor(gen.uniform() * kind.index)), { shape: spec.shape, dtype: 'int32' });
  const x = randn(spec.shape, { dtype: 'float64', generator: gen });
  return kind === 'pos' || kind === 'posStat' ? noGrad(() => x.abs().add(0.5)) : x;
}

/** Inputs that take part in the gradient (running statistics and indices do not). */
const isFloatSpec = (spec: InputSpec): boolean => spec.kind === undefined || spec.kind === 'any' || spec.kind === 'pos';

const CASES: OpCase[] = [
  { name: 'add', inputs: [s([2, 3]), s([3])], fn: ([a, b]) => ag.add(a!, b!) },
  { name: 'sub', inputs: [s([2, 3]), s([2, 3])], fn: ([a, b]) => ag.sub(a!, b!) },
  { name: 'mul', inputs: [s([2, 3]), s([2, 3])], fn: ([a, b]) => ag.mul(a!, b!) },
  { name: 'div', inputs: [s([2, 3]), s([2, 3], 'pos')], fn: ([a, b]) => ag.div(a!, b!) },
  { name: 'pow', inputs: [s([2, 3], 'pos'), s([2, 3])], fn: ([a, b]) => ag.pow(a!, b!) },
  { name: 'maximum', inputs: [s([2, 3]), s([2, 3])], fn: ([a, b]) => ag.maximum(a!, b!) },
  { name: 'minimum', inputs: [s([2, 3]), s([2, 3])], fn: ([a, b]) => ag.minimum(a!, b!) },
  { name: 'where', inputs: [s([2, 3], 'mask'), s([2, 3]), s([2, 3])], fn: ([c, a, b]) => ag.where(c!, a!, b!) },
  { name: 'neg', inputs: [s([2, 3])], fn: ([x]) => ag.neg(x!) },
  { name: 'exp', inputs: [s([2, 3])], fn: ([x]) => ag.exp(x!) },
  { name: 'log', inputs: [s([2, 3], 'pos')], fn: ([x]) => ag.log(x!) },
  { name: 'sqrt', inputs: [s([2, 3], 'pos')], fn: ([x]) => ag.sqrt(x!) },
  { name: 'abs', inputs: [s([2, 3])], fn: ([x]) => ag.abs(x!) },
  { name: 'sign', inputs: [s([2, 3])], fn: ([x]) => ag.sign(x!) },
  { name: 'relu', inputs: [s([2, 3])], fn: ([x]) => ag.relu(x!) },
  { name: 'sigmoid', inputs: [s([2, 3])], fn: ([x]) => ag.sigmoid(x!) },
  { name: 'tanh', inputs: [s([2, 3])], fn: ([x]) => ag.tanh(x!) },
  { name: 'square', inputs: [s([2, 3])], fn: ([x]) => ag.square(x!) },
  { name: 'sum', inputs: [s([2, 3])], fn: ([x]) => ag.sum(x!, 1) },
  { name: 'mean', inputs: [s([2, 3])], fn: ([x]) => ag.mean(x!, 0) },
  { name: 'max', inputs: [s([2, 3])], fn: ([x]) => ag.max(x!, 1) },
  { name: 'min', inputs: [s([2, 3])], fn: ([x]) => ag.min(x!) },
  { name: 'var', inputs: [s([2, 3])], fn: ([x]) => ag.variance(x!, 1) },
  { name: 'matmul', inputs: [s([2, 3]), s([3, 4])], fn: ([a, b]) => ag.matmul(a!, b!) },
  { name: 'matmul batched', inputs: [s([2, 2, 3]), s([3])], fn: ([a, b]) => ag.matmul(a!, b!) },
  { name: 'softmax', inputs: [s([2, 3])], fn: ([x]) => ag.softmax(x!, 1) },
  { name: 'logSoftmax', inputs: [s([2, 3])], fn: ([x]) => ag.logSoftmax(x!, 0) },
  { name: 'cat', inputs: [s([2, 3]), s([1, 3])], fn: ([a, b]) => ag.cat([a!, b!], 0) },
  { name: 'stack', inputs: [s([2, 3]), s([2, 3])], fn: ([a, b]) => ag.stack([a!, b!], 1) },
  { name: 'gather', inputs: [s([2, 3]), s([2, 2], { index: 3 })], fn: ([x, i]) => ag.gather(x!, 1, i!) },
  { name: 'indexSelect', inputs: [s([3, 2]), s([4], { index: 3 })], fn: ([x, i]) => ag.indexSelect(x!, 0, i!) },
  { name: 'view', inputs: [s([2, 3])], fn: ([x]) => ag.view(x!, [3, 2]) },
  { name: 'reshape of a transpose', inputs: [s([2, 3])], fn: ([x]) => ag.reshape(ag.t(x!), [6]) },
  { name: 'flatten', inputs: [s([2, 3, 2])], fn: ([x]) => ag.flatten(x!, 1) },
  { name: 'contiguous', inputs: [s([2, 3])], fn: ([x]) => ag.contiguous(ag.permute(x!, [1, 0])) },
  { name: 'clone', inputs: [s([2, 3])], fn: ([x]) => ag.clone(x!) },
  { name: 'toDtype', inputs: [s([2, 3])], fn: ([x]) => ag.toDtype(x!, 'float32') },
  { name: 'permute', inputs: [s([2, 3, 2])], fn: ([x]) => ag.permute(x!, [2, 0, 1]) },
  { name: 'expand', inputs: [s([1, 3])], fn: ([x]) => ag.expand(x!, [2, 3]) },
  { name: 'unsqueeze', inputs: [s([2, 3])], fn: ([x]) => ag.unsqueeze(x!, 1) },
  { name: 'squeeze', inputs: [s([2, 1, 3])], fn: ([x]) => ag.squeeze(x!, 1) },
  { name: 'slice', inputs: [s([4, 3])], fn: ([x]) => ag.slice(x!, 0, 1, 4, 2) },
  { name: 'select', inputs: [s([4, 3])], fn: ([x]) => ag.select(x!, 1, 2) },
  // nn functional ops
  { name: 'F.conv2d', inputs: [s([1, 2, 5, 5]), s([3, 2, 3, 3]), s([3])], fn: ([x, w, b]) => F.conv2d(x!, w!, b!, { padding: 1, stride: 2 }) },
  { name: 'F.conv2d grouped', inputs: [s([1, 4, 4, 4]), s([4, 2, 2, 2])], fn: ([x, w]) => F.conv2d(x!, w!, null, { groups: 2, dilation: 2 }) },
  { name: 'F.linear', inputs: [s([2, 3]), s([4, 3]), s([4])], fn: ([x, w, b]) => F.linear(x!, w!, b!) },
  { name: 'F.batchNorm train', inputs: [s([3, 2, 2, 2]), s([2]), s([2])], fn: ([x, w, b]) => F.batchNorm(x!, null, null, w!, b!, { training: true }) },
  {
    name: 'F.batchNorm train, running stats updated',
    inputs: [s([3, 2, 2, 2]), s([2]), s([2])],
    fn: ([x, w, b]) => F.batchNorm(x!, zeros([2], { dtype: 'float64' }), ones([2], { dtype: 'float64' }), w!, b!, { training: true }),
  },
  { name: 'F.layerNorm', inputs: [s([2, 3, 4]), s([4]), s([4])], fn: ([x, w, b]) => F.layerNorm(x!, [4], w!, b!) },
  { name: 'F.instanceNorm', inputs: [s([2, 2, 3, 3]), s([2]), s([2])], fn: ([x, w, b]) => F.instanceNorm(x!, null, null, w!, b!) },
  { name: 'F.groupNorm', inputs: [s([2, 4, 2, 2]), s([4]), s([4])], fn: ([x, w, b]) => F.groupNorm(x!, 2, w!, b!) },
  {
    name: 'F.batchNorm eval',
    inputs: [s([3, 2, 2, 2]), s([2], 'stat'), s([2], 'posStat'), s([2]), s([2])],
    fn: ([x, m, v, w, b]) => F.batchNorm(x!, m!, v!, w!, b!, { training: false }),
  },
  {
    name: 'F.instanceNorm with running stats, eval',
    inputs: [s([2, 2, 3, 3]), s([2], 'stat'), s([2], 'posStat')],
    fn: ([x, m, v]) => F.instanceNorm(x!, m!, v!, null, null, { useInputStats: false }),
  },
  { name: 'F.maxPool2d', inputs: [s([1, 2, 4, 4])], fn: ([x]) => F.maxPool2d(x!, 2, { stride: 1, padding: 1 }) },
  {
    name: 'F.maxPool2dWithIndices (the indices written)',
    inputs: [s([1, 2, 4, 4])],
    fn: ([x]) => F.maxPool2dWithIndices(x!, 2)[0],
    extras: ([x]) => {
      const [y, idx] = F.maxPool2dWithIndices(x!, 2);
      return { y, extras: [idx] };
    },
  },
  { name: 'F.avgPool2d', inputs: [s([1, 2, 4, 4])], fn: ([x]) => F.avgPool2d(x!, 2) },
  { name: 'F.adaptiveAvgPool2d', inputs: [s([1, 2, 5, 5])], fn: ([x]) => F.adaptiveAvgPool2d(x!, [2, 3]) },
  { name: 'F.crossEntropy', inputs: [s([3, 4]), s([3], { index: 4 })], fn: ([x, t]) => F.crossEntropy(x!, t!) },
  { name: 'F.nllLoss', inputs: [s([3, 4]), s([3], { index: 4 })], fn: ([x, t]) => F.nllLoss(x!, t!, { reduction: 'sum' }) },
  { name: 'F.dropout', inputs: [s([3, 4])], fn: ([x]) => F.dropout(x!, 0.5, true, { generator: new Generator(5) }) },
];

type Target = { input: number } | { extra: number } | 'output (noGrad)' | 'output (recorded)';

interface Outcome {
  error?: unknown;
  grads?: (Tensor | null)[];
}

/**
 * Build the op on fresh leaves (those in `wantGrad` require grad), write into `target`, backward
 * with a fixed upstream gradient. Returns what happened, the gradient expected of a fresh
 * computation, and whether the write itself was refused.
 */
function trial(c: OpCase, wantGrad: boolean[], target: Target, seed: number): { outcome: Outcome; expected: (Tensor | null)[]; writeRefused: unknown } {
  const gen = new Generator(seed);
  const values = c.inputs.map((spec) => make(spec, gen));
  const leaves = (): Tensor[] =>
    values.map((v, i) => {
      const t = noGrad(() => v.clone());
      if (wantGrad[i]) t.requiresGrad = true;
      return t;
    });
  const xs = leaves();
  const { y, extras } = c.extras ? c.extras(xs) : { y: c.fn(xs), extras: [] };
  const upstream = randn(y.shape, { dtype: y.dtype, generator: gen });

  // the gradient of the forward that ran, on untouched copies of its inputs
  const fresh = leaves();
  c.fn(fresh).backward(upstream);
  const expected = fresh.map((t, i) => (wantGrad[i] ? t.grad : null));

  let writeRefused: unknown = null;
  try {
    if (target === 'output (recorded)') y.assign(randn(y.shape, { dtype: y.dtype, generator: gen }));
    else if (target === 'output (noGrad)') noGrad(() => y.assign(randn(y.shape, { dtype: y.dtype, generator: gen })));
    else if ('extra' in target) {
      const e = extras[target.extra] as Tensor;
      noGrad(() => e.assign(make({ shape: [...e.shape], kind: { index: 4 } }, gen)));
    } else noGrad(() => (xs[target.input] as Tensor).assign(make(c.inputs[target.input] as InputSpec, gen)));
  } catch (e) {
    writeRefused = e;
  }
  const outcome: Outcome = {};
  try {
    y.backward(upstream);
    outcome.grads = xs.map((t, i) => (wantGrad[i] ? t.grad : null));
  } catch (e) {
    outcome.error = e;
  }
  return { outcome, expected, writeRefused };
}

function expectSameGrads(actual: (Tensor | null)[], expected: (Tensor | null)[], label: string): void {
  expected.forEach((e, i) => {
    const a = actual[i] ?? null;
    if (e === null) return;
    expect(a, `${label}: grad of input ${i}`).not.toBeNull();
    // bit-for-bit: the same ops on the same values (−0 and 0 count as equal)
    const got = Array.from((a as Tensor).toArray());
    const want = Array.from(e.toArray());
    expect(got.length, label).toBe(want.length);
    const bad = got.findIndex((v, k) => !(v === want[k] || (Number.isNaN(v) && Number.isNaN(want[k] as number))));
    expect(bad, `${label}: grad of input ${i} differs at ${bad}: ${got[bad]} vs ${want[bad]}`).toBe(-1);
  });
}

/** Which inputs require grad: all float inputs, then each float input alone (exercising conditional saves). */
function gradSubsets(c: OpCase): boolean[][] {
  const floats = c.inputs.map(isFloatSpec);
  const subsets = [floats];
  if (floats.filter(Boolean).length > 1) {
    for (const [i, f] of floats.entries()) if (f) subsets.push(floats.map((_, j) => j === i));
  }
  return subsets;
}

describe('property: an in-place write into any input or output gives an error or the right gradient', () => {
  for (const c of CASES) {
    it(`${c.name} ${c.inputs.map((i) => `[${i.shape.join(',')}]`).join(' ')}`, () => {
      let seed = 100;
      let errors = 0;
      let correct = 0;
      for (const wantGrad of gradSubsets(c)) {
        const targets: Target[] = [...c.inputs.map((_, i) => ({ input: i })), 'output (noGrad)', 'output (recorded)'];
        if (c.extras) targets.push({ extra: 0 });
        for (const target of targets) {
          const label = `${c.name} wantGrad=${wantGrad.map(Number).join('')} write=${typeof target === 'string' ? target : 'input' in target ? `input ${target.input}` : `extra output ${target.extra}`}`;
          const { outcome, expected, writeRefused } = trial(c, wantGrad, target, seed++);
          if (writeRefused) {
            // only the recorded copy into a view's output, or a non-whole destination, may be refused
            expect(writeRefused, label).toBeInstanceOf(Error);
            expect(String(writeRefused), label).toMatch(/view|whole, contiguous/);
          }
          if (outcome.error) {
            expect(outcome.error, label).toBeInstanceOf(AutogradError);
            expect(String(outcome.error), label).toMatch(/modified by an in-place operation: (input \d+|output 0|saved tensor) of '.+' \[(Float64|Float32|Int32) \[[\d, ]*\]\] is at version \d+, expected version \d+ instead/);
            errors++;
          } else if (target === 'output (recorded)' && !writeRefused) {
            // torch's CopyBackwards: the old history gets zeros
            const zeroGrads = expected.map((e) => (e ? noGrad(() => e.mul(0)) : null));
            expectSameGrads(outcome.grads ?? [], zeroGrads, label);
            correct++;
          } else {
            expectSameGrads(outcome.grads ?? [], expected, label);
            correct++;
          }
        }
      }
      expect(errors + correct).toBeGreaterThan(0);
    });
  }
});

describe('the cases from issue 14', () => {
  it("a leaf that requires grad is refused with grad mode on (torch's rule); under noGrad it is written", () => {
    const a = randn([2, 3], { requiresGrad: true });
    expect(() => a.assign(zeros([2, 3]))).toThrow(AutogradError);
    expect(() => a.assign(zeros([2, 3]))).toThrow(/assign: a leaf tensor that requires grad \[Float32 \[2, 3\]\] is being used in an in-place operation/);
    expect(a.version).toBe(0);
    noGrad(() => a.assign(zeros([2, 3])));
    expect(a.version).toBe(1);
    const b = zeros([2, 3]); // no grad: a plain write with grad mode on
    b.assign(ones([3]));
    expect(b.version).toBe(1);
    expect(() => a.detach().assign(ones([2, 3]))).not.toThrow(); // detach() opts out, as torch
  });

  it('models build and load weights with grad mode on (init and loadStateDict write under noGrad)', () => {
    const a = new nn.Conv2d(2, 3, 3);
    a.loadStateDict(new nn.Conv2d(2, 3, 3).stateDict());
    expect(a.weight.requiresGrad).toBe(true);
  });

  it('y = a.exp(); y.assign(...); backward is an error naming exp and its output', () => {
    const a = randn([2, 3], { requiresGrad: true, generator: new Generator(1) });
    const y = a.exp();
    noGrad(() => y.assign(zeros([2, 3])));
    expect(() => y.sum().backward()).toThrow(
      /one of the tensors needed for gradient computation has been modified by an in-place operation: output 0 of 'exp' \[Float32 \[2, 3\]\] is at version 1, expected version 0 instead/,
    );
    // the recorded copy (grad mode on) reaches the same saved output through the old history
    const y2 = a.exp();
    y2.assign(zeros([2, 3]));
    expect(() => y2.sum().backward()).toThrow(/output 0 of 'exp'/);
  });

  for (const op of ['sigmoid', 'tanh', 'sqrt', 'softmax', 'logSoftmax'] as const) {
    it(`${op}: writing into its saved output is an error`, () => {
      const a = noGrad(() => randn([2, 3], { generator: new Generator(2) }).abs().add(0.1));
      a.requiresGrad = true;
      const y = op === 'softmax' || op === 'logSoftmax' ? a[op](1) : a[op]();
      noGrad(() => y.assign(ones([2, 3])));
      expect(() => y.sum().backward()).toThrow(new RegExp(`output 0 of '${op}' \\[Float32 \\[2, 3\\]\\] is at version 1`));
    });
  }

  it("b = a.mul(2); b.assign(zeros) gives torch's zero gradient, and the source gets the output's gradient", () => {
    const a = randn([2, 3], { requiresGrad: true, generator: new Generator(3) });
    const src = randn([3], { requiresGrad: true, generator: new Generator(4) });
    const b = a.mul(2);
    b.assign(zeros([2, 3]));
    expect(b.gradFn?.name).toBe('assign');
    b.mul(b).sum().backward();
    expect(Array.from(a.grad!.toArray())).toEqual([0, 0, 0, 0, 0, 0]);
    const c = a.mul(2);
    c.assign(src); // broadcast [3] -> [2, 3]: the source's gradient sums over the copies
    c.mul(3).sum().backward();
    expect(Array.from(src.grad!.toArray())).toEqual([6, 6, 6]);
  });

  it('a node recorded before the write keeps its edge to the old history', () => {
    const a = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    const src = tensor([5, 5, 5], { dtype: 'float64', requiresGrad: true });
    const b = a.mul(2);
    const c = b.add(1); // add reads no values: it may run after the write
    b.assign(src);
    c.sum().backward();
    expect(Array.from(a.grad!.toArray())).toEqual([2, 2, 2]);
    expect(src.grad).toBeNull();
  });

  it('two recorded copies in a row both work (the copy node reads nothing)', () => {
    const a = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    const b = a.mul(3);
    b.assign(a.mul(5));
    b.assign(a.mul(7));
    b.sum().backward();
    expect(Array.from(a.grad!.toArray())).toEqual([7, 7]);
  });

  it('a view made before the base was rewritten is refused at backward', () => {
    const a = randn([2, 3], { dtype: 'float64', requiresGrad: true });
    const b = a.mul(2);
    const v = b.view([6]);
    b.assign(zeros([2, 3], { dtype: 'float64' }));
    expect(() => v.sum().backward()).toThrow(/input 0 of 'view' \[Float64 \[2, 3\]\] is at version 1, expected version 0/);
  });

  it('writing into a view that has a history is refused at once, with what to do', () => {
    const a = randn([2, 3], { requiresGrad: true });
    const v = a.mul(2).view([6]);
    expect(() => v.assign(zeros([6]))).toThrow(AutogradError);
    expect(() => v.assign(zeros([6]))).toThrow(/a view \('view'\) of a tensor that has an autograd history/);
    noGrad(() => v.assign(zeros([6]))); // under noGrad it is a plain write
  });

  it('a source that requires grad copied into a tensor without history is refused; under noGrad it copies values', () => {
    const a = randn([3], { requiresGrad: true });
    const buf = zeros([3]);
    expect(() => buf.assign(a)).toThrow(/copying a tensor that requires grad into \[Float32 \[3\]\], which has no autograd history/);
    noGrad(() => buf.assign(a));
    expect(Array.from(buf.toArray())).toEqual(Array.from(a.toArray()));
    expect(buf.requiresGrad).toBe(false);
  });

  it('views share the version counter; every assign bumps it', () => {
    const x = zeros([2, 3]);
    const v = x.view([6]);
    expect([x.version, v.version]).toEqual([0, 0]);
    x.assign(ones([3]));
    v.assign(ones([6]));
    expect([x.version, v.version]).toEqual([2, 2]);
    expect(x.detach().version).toBe(2);
    expect(x.clone().version).toBe(0);
  });

  it('an optimizer step between forward and backward is caught when the op reads the parameter', () => {
    const w = randn([3, 3], { dtype: 'float64', requiresGrad: true });
    const x = randn([2, 3], { dtype: 'float64', requiresGrad: true });
    const loss = x.matmul(w).sum();
    noGrad(() => w.assign(w.mul(0.5)));
    expect(() => loss.backward()).toThrow(/input 1 of 'matmul' \[Float64 \[3, 3\]\] is at version 1, expected version 0 instead/);
  });

  it("matmul reads w only for x's gradient: with x constant, writing w leaves a correct gradient (as torch)", () => {
    const w = randn([3, 3], { dtype: 'float64', requiresGrad: true });
    const x = randn([2, 3], { dtype: 'float64' });
    const loss = x.matmul(w).sum();
    noGrad(() => w.assign(w.mul(0.5)));
    loss.backward();
    const expected = noGrad(() => x.t().matmul(ones([2, 3], { dtype: 'float64' })));
    expect(Array.from(w.grad!.toArray())).toEqual(Array.from(expected.toArray()));
  });
});

describe('every in-place writer bumps the version', () => {
  for (const [dtype, fused] of [
    ['float32', true],
    ['float32', false],
    ['float64', true],
  ] as const) {
    it(`SGD (momentum) and Adam steps on a ${dtype} parameter, fused ${fused}: the parameter and its state move on`, () => {
      for (const make of [(p: Tensor) => new optim.SGD([p], { lr: 0.1, momentum: 0.9, fused }), (p: Tensor) => new optim.Adam([p], { lr: 0.1, fused })]) {
        const w = randn([4, 3], { dtype, requiresGrad: true, generator: new Generator(6) });
        const opt = make(w);
        const before = fusedSteps.sgd + fusedSteps.adam;
        const x = randn([2, 4], { dtype, requiresGrad: true });
        const loss = x.matmul(w).sum();
        w.grad = noGrad(() => ones([4, 3], { dtype }));
        const v0 = w.version;
        opt.step();
        expect(w.version, `${opt.constructor.name}`).toBeGreaterThan(v0);
        // the fused WASM step (dense float32) is one of the writers covered
        if (dtype === 'float32' && fused) expect(fusedSteps.sgd + fusedSteps.adam).toBe(before + 1);
        expect(() => loss.backward()).toThrow(/input 1 of 'matmul' \[(Float32|Float64) \[4, 3\]\] is at version [1-9]\d*, expected version 0 instead/);
      }
    });
  }

  it('BatchNorm2d in training updates its running stats in place: their versions move', () => {
    const bn = new nn.BatchNorm2d(3);
    const [m, v, n] = [bn.running_mean!, bn.running_var!, bn.num_batches_tracked!];
    const before = [m.version, v.version, n.version];
    bn.forward(randn([2, 3, 4, 4]));
    expect([m.version, v.version, n.version].every((ver, i) => ver > (before[i] as number))).toBe(true);
  });

  it('loadStateDict and init write parameters in place under noGrad: allowed with grad mode on, versions move', () => {
    const a = new nn.Linear(3, 2);
    const b = new nn.Linear(3, 2);
    const v = a.weight.version;
    a.loadStateDict(b.stateDict());
    expect(a.weight.version).toBeGreaterThan(v);
    expect(Array.from(a.weight.toArray())).toEqual(Array.from(b.weight.toArray()));
  });
});
