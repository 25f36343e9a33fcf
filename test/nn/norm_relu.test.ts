// F.batchNormRelu: BatchNorm with the ReLU fused into its kernels (the forward writes relu(y), the
// backward masks the gradient by y > 0 inside the norm's own pass).
//   PyTorch parity of relu(batch_norm(...)) in training and eval (y, dx, dγ, dβ, running stats)
//     through every norm variant (reference and fused TypeScript, WASM for float32);
//   float64 gradcheck;
//   every variant: the fused forward and backward equal the unfused composition bit for bit;
//   a whole CIFAR ResNet training step (which fuses BN+ReLU and the residual add+ReLU) equal to
//     the unfused one bit for bit on 1 and 2 threads.
// Tolerances as norm_parity.test.ts: float64 1e-10, float32 2e-5 (x̂ carries a few float32 roundings).
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { cpuVariants, preferVariants, traceVariants } from '../../core/cpu/registry.js';
import { F, Generator, type GradNode, type Tensor, autograd, manualSeed, models, noGrad, optim, randint, randn, tidy } from '../../index.js';
import { getNumThreads, setNumThreads } from '../../kernels/wasm/runtime.js';
import { fusion } from '../../nn/fuse.js';
import { expectClose } from '../helpers/assert.js';
import { type OracleCase, dec, loadFixture } from '../helpers/oracle.js';
import { expectSameBits } from '../helpers/variants.js';

const cases = loadFixture('fused').filter((c) => c.kind === 'bnRelu');
const TOL = { float64: { atol: 1e-10, rtol: 1e-10 }, float32: { atol: 2e-5, rtol: 2e-5 } } as const;
const NORM_VARIANTS = cpuVariants('normForward').map((v) => v.name);
const pinsFor = (v: string) => ({ normForward: v, normApply: v, normBackward: v });

afterEach(() => {
  fusion.enabled = true;
});

/** The case's tensors in dtype: x, γ, β (leaves that require grad) and fresh running stats. */
function inputsOf(c: OracleCase, dtype: 'float32' | 'float64') {
  const leaf = (e: unknown) => (e === undefined ? null : dec(e, { dtype, requiresGrad: true }));
  return {
    x: leaf(c.x) as Tensor,
    gamma: leaf(c.gamma),
    beta: leaf(c.beta),
    mean: dec(c.mean0, { dtype }),
    variance: dec(c.var0, { dtype }),
  };
}
const optsOf = (c: OracleCase) => ({ training: c.training as boolean, eps: c.eps as number, momentum: c.momentum as number });

describe('F.batchNormRelu matches PyTorch relu(batch_norm(...)), every norm variant', () => {
  for (const v of NORM_VARIANTS) {
    for (const dtype of ['float64', 'float32'] as const) {
      for (const c of cases) {
        it(`${c.name} ${dtype} variant=${v}`, () => {
          const t = inputsOf(c, dtype);
          const { result: y, used } = traceVariants(() =>
            preferVariants(pinsFor(v), () => {
              const out = F.batchNormRelu(t.x, t.mean, t.variance, t.gamma, t.beta, optsOf(c));
              out.backward(dec(c.gy, { dtype }));
              return out;
            }),
          );
          const tol = TOL[dtype];
          expectClose(y, dec(c.y), { ...tol, label: 'y' });
          expectClose(t.x.grad!, dec(c.gx), { ...tol, label: 'dx' });
          if (t.gamma) expectClose(t.gamma.grad!, dec(c.ggamma), { ...tol, label: 'dγ' });
          if (t.beta) expectClose(t.beta.grad!, dec(c.gbeta), { ...tol, label: 'dβ' });
          expectClose(t.mean, dec(c.mean1), { ...tol, label: 'running mean' });
          expectClose(t.variance, dec(c.var1), { ...tol, label: 'running var' });
          // no separate relu pass ran, forward or backward
          expect(used.has('unary'), 'a unary kernel ran').toBe(false);
          if (v === 'wasm' && dtype === 'float32') expect([...(used.get('normBackward') ?? [])]).toEqual(['wasm']);
        });
      }
    }
  }
});

describe('F.batchNormRelu float64 gradcheck', () => {
  for (const c of cases) {
    it(c.name, () => {
      const t = inputsOf(c, 'float64');
      const leaves = [t.x, ...(t.gamma ? [t.gamma, t.beta as Tensor] : [])];
      // fresh running stats per call: training updates them in place
      const f = (x: Tensor, g?: Tensor, b?: Tensor) =>
        F.batchNormRelu(x, dec(c.mean0, { dtype: 'float64' }), dec(c.var0, { dtype: 'float64' }), g ?? null, b ?? null, optsOf(c));
      expect(autograd.gradcheck(f as (...xs: Tensor[]) => Tensor, leaves)).toBe(true);
    });
  }
});

describe('every norm variant: fused BatchNorm+ReLU equals batchNorm then relu, bit for bit', () => {
  const gen = new Generator(8);
  const shapes: [number[], boolean][] = [
    [[4, 6, 9, 7], true],
    [[2, 33, 5], true],
    [[3, 8, 4, 4], false],
    [[16, 5], true],
  ];
  for (const v of NORM_VARIANTS) {
    for (const dtype of ['float32', 'float64'] as const) {
      for (const [xs, training] of shapes) {
        it(`x=[${xs}] ${training ? 'train' : 'eval'} ${dtype} variant=${v}`, () => {
          const C = xs[1]!;
          const x0 = randn(xs, { dtype, generator: gen });
          const g0 = randn([C], { dtype, generator: gen }).abs().add(0.5);
          const b0 = randn([C], { dtype, generator: gen }).mul(0.5);
          const gy = randn(xs, { dtype, generator: gen });
          const run = (fused: boolean) =>
            preferVariants(pinsFor(v), () => {
              const [x, g, b] = [x0, g0, b0].map((t) => {
                const l = t.detach().clone();
                l.requiresGrad = true;
                return l;
              }) as [Tensor, Tensor, Tensor];
              const stats = [randn([C], { dtype, generator: new Generator(1) }), randn([C], { dtype, generator: new Generator(2) }).abs().add(0.5)];
              const opts = { training, eps: 1e-5, momentum: 0.1 };
              const y = fused ? F.batchNormRelu(x, stats[0]!, stats[1]!, g, b, opts) : F.relu(F.batchNorm(x, stats[0]!, stats[1]!, g, b, opts));
              y.backward(gy);
              return [y, x.grad!, g.grad!, b.grad!, ...stats].map((t) => t.toArray());
            });
          const fused = run(true);
          const plain = run(false);
          for (const [i, a] of fused.entries()) expectSameBits(a, plain[i]!, `${['y', 'dx', 'dγ', 'dβ', 'running mean', 'running var'][i]} (${v})`);
        });
      }
    }
  }
});

describe('a CIFAR ResNet training step with fused BN+ReLU and add+ReLU equals the unfused step, bit for bit', () => {
  const threads = getNumThreads();
  afterEach(() => setNumThreads(threads));
  /** The names of the autograd nodes behind a tensor. */
  const opsBehind = (t: Tensor): Set<string> => {
    const seen = new Set<GradNode>();
    const todo = [t.gradFn];
    while (todo.length > 0) {
      const n = todo.pop();
      if (!n || seen.has(n)) continue;
      seen.add(n);
      todo.push(...n.next);
    }
    return new Set([...seen].map((n) => n.name));
  };
  let ops = new Set<string>();
  /** Three SGD steps of cifarResNet(8) at batch 8: the losses and a SHA-256 of every parameter and buffer. */
  const steps = (fused: boolean): string[] => {
    fusion.enabled = fused;
    manualSeed(4);
    const m = models.cifarResNet(8).train();
    const opt = new optim.SGD(m.parameters(), { lr: 0.05, momentum: 0.9 });
    const x = randn([8, 3, 16, 16]);
    const t = randint(0, 10, [8]);
    const losses: number[] = [];
    for (let i = 0; i < 3; i++) {
      losses.push(
        tidy(() => {
          opt.zeroGrad();
          const loss = F.crossEntropy(m.forward(x) as Tensor, t);
          ops = opsBehind(loss);
          loss.backward();
          opt.step();
          return loss.item();
        }),
      );
    }
    const h = createHash('sha256');
    for (const p of [...m.parameters(), ...m.buffers()]) h.update(Float64Array.from(p.toArray()).join(','));
    return [losses.join(','), h.digest('hex')];
  };
  for (const n of [1, 2]) {
    it(`${n} thread(s)`, () => {
      setNumThreads(n);
      const fused = steps(true);
      expect([...ops].filter((o) => /relu|Norm/i.test(o)).sort()).toEqual(['addRelu', 'batchNorm', 'batchNormRelu']);
      const plain = steps(false);
      // the comparison is between two different paths: the unfused one has relu and batchNorm nodes
      expect([...ops].filter((o) => /relu|Norm/i.test(o)).sort()).toEqual(['batchNorm', 'relu']);
      expect(fused).toEqual(plain);
    });
  }
});

describe('F.batchNormRelu arguments', () => {
  it('rejects what batchNorm rejects, naming the op', () => {
    const x = randn([2, 3, 4]);
    expect(() => F.batchNormRelu(x, randn([4]), randn([3]))).toThrow(/batchNormRelu: argument 'runningMean' should contain 3 elements/);
    expect(() => F.batchNormRelu(randn([1, 3, 1]), null, null, null, null, { training: true })).toThrow(/batchNormRelu: Expected more than 1 value per channel/);
    expect(() => noGrad(() => F.batchNormRelu(x, null, null))).toThrow(/batchNormRelu: runningMean must be defined in evaluation mode/);
  });
});
