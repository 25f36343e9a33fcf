// GPU-vs-CPU cases that run inside a page (test/browser/page.ts): each computes one op (or a
// forward + backward) on the cpu backend and on the gpu backend from the same seeded inputs and
// returns both, with the scale its tolerance is relative to (test/gpu/helpers.ts explains the
// tolerance; test/gpu/browser.test.ts applies it). Expected values are the cpu's, never typed in.
import { type Tensor, F, abs, add, div, exp, gt, log, manualSeed, matmul, mul, randint, randn, sigmoid, sub, sum, tanh, where } from '../../index.js';

export interface CaseResult {
  label: string;
  gpu: number[];
  cpu: number[];
  /** |gpu - cpu| <= 1e-5·scale_i + atol. */
  scale: number[];
  atol: number;
  device: string;
}

type Pair = { gpu: Tensor; cpu: Tensor; scale?: Tensor };

/** One case: `make` builds the op from inputs on one device; `scaleOf` gives the sum-of-|terms| scale (cpu). */
interface Case {
  label: string;
  run(onGpu: (t: Tensor) => Tensor): Pair | Promise<Pair>;
}

const same = (f: (dev: (t: Tensor) => Tensor) => Tensor, scale?: () => Tensor) => (onGpu: (t: Tensor) => Tensor): Pair => ({
  gpu: f(onGpu),
  cpu: f((t) => t),
  scale: scale?.(),
});

/** A fresh leaf on the device with the values of `t`, so gradients can be compared. */
const leaf = (t: Tensor, dev: (t: Tensor) => Tensor): Tensor => {
  const d = dev(t).detach();
  d.requiresGrad = true;
  return d;
};

export const CASES: Case[] = [
  {
    label: 'matmul a=[7,1500] b=[1500,5] (K > 1000)',
    run: (g) => {
      manualSeed(1);
      const [a, b] = [randn([7, 1500]), randn([1500, 5])];
      return same((d) => matmul(d(a), d(b)), () => matmul(abs(a), abs(b)))(g);
    },
  },
  {
    label: 'binary broadcast a=[4,1,5] b=[3,1]: add sub mul div, and where(a > 0)',
    run: (g) => {
      manualSeed(2);
      const [a, b] = [randn([4, 1, 5]), add(abs(randn([3, 1])), 0.5)];
      return same((d) => {
        const [x, y] = [d(a), d(b)];
        return add(add(sub(x, y), mul(x, y)), where(gt(x, 0), div(x, y), x));
      }, () => add(add(add(abs(a), abs(b)), mul(abs(a), abs(b))), div(abs(a), abs(b))))(g);
    },
  },
  {
    label: 'unary exp log sigmoid tanh on a transposed view x=[5,6]ᵀ',
    run: (g) => {
      manualSeed(3);
      const x = randn([5, 6]).transpose(0, 1);
      return same((d) => add(add(exp(d(x)), log(add(abs(d(x)), 0.1))), add(sigmoid(d(x)), tanh(d(x)))), () =>
        add(add(exp(x), abs(log(add(abs(x), 0.1)))), add(sigmoid(x), abs(tanh(x)))),
      )(g);
    },
  },
  {
    label: 'reduce sum over dims [0,2] of x=[3,4,5], keepdim',
    run: (g) => {
      manualSeed(4);
      const x = randn([3, 4, 5]);
      return same((d) => sum(d(x), [0, 2], true), () => sum(abs(x), [0, 2], true))(g);
    },
  },
  {
    label: 'conv2d x=[2,4,7,9] w=[6,2,3,3] s=2 p=1 d=2 g=2 with bias',
    run: (g) => {
      manualSeed(5);
      const [x, w, b] = [randn([2, 4, 7, 9]), randn([6, 2, 3, 3]), randn([6])];
      const opts = { stride: 2, padding: 1, dilation: 2, groups: 2 };
      return same((d) => F.conv2d(d(x), d(w), d(b), opts), () => F.conv2d(abs(x), abs(w), abs(b), opts))(g);
    },
  },
  {
    label: 'pools x=[2,3,9,8]: maxPool2d k=3 s=2 p=1, avgPool2d k=2, adaptiveAvgPool2d 3',
    run: (g) => {
      manualSeed(6);
      const x = randn([2, 3, 9, 8]);
      const f = (t: Tensor) => add(add(sum(F.maxPool2d(t, 3, { stride: 2, padding: 1 })), sum(F.avgPool2d(t, 2))), F.adaptiveAvgPool2d(t, 3));
      return same((d) => f(d(x)), () => mul(add(sum(abs(x)), abs(x).mean()), 3))(g);
    },
  },
  {
    label: 'norms x=[2,6,4,5]: batchNorm (training), layerNorm [4,5], groupNorm 3 groups',
    run: (g) => {
      manualSeed(7);
      const [x, w, b] = [randn([2, 6, 4, 5]), randn([6]), randn([6])];
      const f = (d: (t: Tensor) => Tensor) => {
        const bn = F.batchNorm(d(x), null, null, d(w), d(b), { training: true });
        return add(add(bn, F.layerNorm(d(x), [4, 5])), F.groupNorm(d(x), 3, d(w), d(b)));
      };
      return same(f, () => add(mul(add(abs(w), abs(b)).reshape([6, 1, 1]), 10), 10))(g);
    },
  },
  {
    label: 'softmax and crossEntropy logits=[5,7] target=[5]',
    run: (g) => {
      manualSeed(8);
      const [z, t] = [randn([5, 7]), randint(0, 7, [5])];
      return same((d) => add(F.softmax(d(z), 1), F.crossEntropy(d(z), d(t))), () => add(abs(F.logSoftmax(z, 1)), 1))(g);
    },
  },
  {
    label: 'backward: crossEntropy(linear(relu(conv2d x=[2,3,6,6] w=[4,3,3,3] p=1)) pooled) grads of w, fc',
    run: (g) => {
      manualSeed(9);
      const [x, w, fc, t] = [randn([2, 3, 6, 6]), randn([4, 3, 3, 3]), randn([5, 4]), randint(0, 5, [2])];
      const grads = (d: (t: Tensor) => Tensor) => {
        const [wl, fl] = [leaf(w, d), leaf(fc, d)];
        const h = F.adaptiveAvgPool2d(F.relu(F.conv2d(d(x), wl, null, { padding: 1 })), 1).flatten(1);
        F.crossEntropy(F.linear(h, fl), d(t)).backward();
        return F.relu(add(sum(wl.grad as Tensor), sum(fl.grad as Tensor))).add(sum(abs(wl.grad as Tensor)));
      };
      return same(grads, () => mul(add(sum(abs(x)), sum(abs(w))), 10))(g);
    },
  },
];

/** Run every case; device tensors are read with await data(). */
export async function runCases(): Promise<CaseResult[]> {
  const out: CaseResult[] = [];
  for (const c of CASES) {
    const p = await c.run((t) => t.to('gpu'));
    const cpu = Array.from(p.cpu.toArray());
    const scaleArr = p.scale ? Array.from(p.scale.expand([...p.cpu.shape]).toArray()) : cpu.map(Math.abs);
    out.push({ label: c.label, gpu: Array.from(await p.gpu.data()), cpu, scale: scaleArr, atol: p.scale ? 0 : 1e-6, device: p.gpu.device });
  }
  return out;
}
