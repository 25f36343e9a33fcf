// GPU-vs-CPU for softmax / logSoftmax, crossEntropy, cat, slicing's backward (scatterView),
// gather / indexSelect and argmax / argmin, through the public ops, forward and backward. Every
// case runs from the same host inputs on the cpu (expected) and on gpu.js headlessgl.
//
// Tolerances (test/gpu/helpers.ts): values and gradients here are elementwise results of O(1)
// inputs or short sums (a softmax row of ≤ 7 terms, a cat/slice/gather moves values unchanged),
// so the elementwise rule |Δ| ≤ 1e-5·|cpu| + 1e-6 holds, except where a result cancels:
// softmax's backward y·(g − Σ g·y) and crossEntropy's softmax − onehot are checked against
// 1e-5·max|·| of the tensor. Indices (argmax, gather positions) must be equal.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  F, type GpuBackend, type Tensor, abs, argmax, argmin, cat, full, gather, indexSelect, initGpu, logSoftmax, manualSeed, max, mul, randint,
  randn, slice, softmax, sum, tensor,
} from '../../index.js';
import { run1, runKernel } from '../../autograd/ops/dispatch.js';
import type { KernelAttrMap, KernelName } from '../../core/kernel_names.js';
import { expectGpuMatches } from './helpers.js';

let gpu: GpuBackend;

beforeAll(async () => {
  gpu = await initGpu({ mode: 'headlessgl' });
  expect(gpu.mode).toBe('headlessgl');
});

const onDevice = (t: Tensor, device: 'cpu' | 'gpu'): Tensor => (device === 'gpu' ? t.to('gpu') : t.clone());

/** Whole-tensor scale max|t| (for results that cancel). */
const maxScale = (t: Tensor): Tensor => full(t.shape, Math.max(max(abs(t)).item(), 1e-3));

/**
 * Run f on both devices from the same float leaves (plus fixed non-differentiable extras such
 * as indices), backpropagate sum(f(…)·gy) with the same random gy, and compare the output and
 * every leaf's gradient. `cancels` compares against the tensor's max instead of elementwise.
 */
async function checkOp(
  label: string,
  leaves: readonly Tensor[],
  f: (xs: Tensor[], device: 'cpu' | 'gpu') => Tensor,
  cancels: { y?: boolean; grads?: boolean } = {},
): Promise<void> {
  let gy: Tensor | null = null;
  const run = (device: 'cpu' | 'gpu') => {
    const xs = leaves.map((t) => {
      const l = onDevice(t, device);
      l.requiresGrad = true;
      return l;
    });
    const y = f(xs, device);
    gy ??= randn(y.shape);
    sum(mul(y, onDevice(gy, device))).backward();
    return { xs, y };
  };
  const cpu = run('cpu');
  const g = run('gpu');
  await expectGpuMatches(g.y, cpu.y, `${label} y`, cancels.y ? maxScale(cpu.y) : undefined);
  for (let i = 0; i < leaves.length; i++) {
    const want = cpu.xs[i]!.grad!;
    await expectGpuMatches(g.xs[i]!.grad!, want, `${label} grad ${i}`, cancels.grads ? maxScale(want) : undefined);
  }
}

describe('softmax / logSoftmax gpu == cpu', () => {
  it.each([
    [[4, 7], 1],
    [[3, 5, 4], 1], // inner = 4: the softmax dim is strided
    [[3, 5, 4], 0],
    [[6], 0],
  ])('softmax and logSoftmax x=%j dim=%i', async (shape, dim) => {
    manualSeed(200);
    const x = mul(randn(shape as number[]), 4);
    await checkOp(`softmax ${JSON.stringify(shape)} dim ${dim}`, [x], ([t]) => softmax(t!, dim as number), { grads: true });
    await checkOp(`logSoftmax ${JSON.stringify(shape)} dim ${dim}`, [x], ([t]) => logSoftmax(t!, dim as number), { grads: true });
  });

  it('logSoftmax x=[3,5] with rows of magnitude 1e3 (the max shift), on a transposed view [5,3]ᵀ', async () => {
    manualSeed(201);
    const x = mul(randn([5, 3]), 1000);
    await checkOp('logSoftmax large', [x], ([t]) => logSoftmax(t!.transpose(0, 1), 1), { y: true, grads: true });
  });
});

describe('crossEntropy gpu == cpu', () => {
  it('an out-of-range target on the gpu is the same ValueError as on the cpu, not a silent 0', () => {
    const logits = randn([3, 5]).to('gpu');
    const good = tensor([0, 4, -100], { dtype: 'int32' }).to('gpu');
    expect(() => F.crossEntropy(logits, good)).not.toThrow();
    for (const bad of [[0, 5, 1], [-1, 2, 3]]) {
      expect(() => F.crossEntropy(logits, tensor(bad, { dtype: 'int32' }).to('gpu'))).toThrow(/Target \(1 of them\) is out of bounds \(input has 5 classes\)/);
      expect(() => F.crossEntropy(logits.to('cpu'), tensor(bad, { dtype: 'int32' }))).toThrow(/is out of bounds \(input has 5 classes\)/);
    }
  });

  it('crossEntropy logits=[6,5] target=[6] mean / sum / none', async () => {
    manualSeed(210);
    const logits = randn([6, 5]);
    const target = randint(0, 5, [6]);
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      await checkOp(`crossEntropy ${reduction}`, [logits], ([x], d) => F.crossEntropy(x!, onDevice(target, d), { reduction }), { grads: true });
    }
  });

  it('crossEntropy logits=[2,4,3,3] target=[2,3,3] with weight, ignoreIndex and labelSmoothing', async () => {
    manualSeed(211);
    const logits = randn([2, 4, 3, 3]);
    const t = randint(0, 4, [2, 3, 3]).toArray() as Int32Array;
    t[1] = -100;
    t[7] = -100;
    const target = tensor(t, { shape: [2, 3, 3] });
    const weight = randn([4]).abs();
    await checkOp(
      'crossEntropy weighted smoothed',
      [logits],
      ([x], d) => F.crossEntropy(x!, onDevice(target, d), { weight: onDevice(weight, d), labelSmoothing: 0.1 }),
      { grads: true },
    );
  });
});

describe('cat / slice / gather / argmax gpu == cpu', () => {
  it('cat [2,3]+[2,5]+[2,1] along dim 1, and 10 inputs [1,4] (one a transposed [4,1]ᵀ view) along dim 0', async () => {
    manualSeed(220);
    await checkOp('cat dim 1', [randn([2, 3]), randn([2, 5]), randn([2, 1])], (xs) => cat(xs, 1));
    const parts = Array.from({ length: 10 }, (_, i) => (i === 3 ? randn([4, 1]) : randn([1, 4])));
    await checkOp('cat 10 inputs', parts, (xs) => cat(xs.map((x, i) => (i === 3 ? x.transpose(0, 1) : x)), 0));
  });

  it('slice backward: x=[5,6] [:, 1:6:2], x=[7,3,5] [0:7:3, :, 2:4], and a slice of a slice', async () => {
    manualSeed(221);
    await checkOp('slice step 2', [randn([5, 6])], ([x]) => slice(x!, 1, 1, 6, 2));
    await checkOp('slice 3-d', [randn([7, 3, 5])], ([x]) => slice(slice(x!, 0, 0, 7, 3), 2, 2, 4));
    await checkOp('slice of slice', [randn([8, 4])], ([x]) => slice(slice(x!, 0, 1, 8, 2), 0, 1, 3).transpose(0, 1));
  });

  it('scatterView of an overlapping view (g=[3,3] at strides [1,1] into [5]) sums the overlaps', async () => {
    manualSeed(222);
    const g = randn([3, 3]);
    const attrs = { shape: [5], strides: [1, 1], offset: 0 };
    await expectGpuMatches(run1('scatterView', [g.to('gpu')], attrs), run1('scatterView', [g], attrs), 'scatterView overlapping');
  });

  it('gather x=[4,5] dim 1 index=[4,3], dim 0 index=[2,5]; indexSelect x=[5,3,2] dim 0 with repeated indices', async () => {
    manualSeed(223);
    const i1 = randint(0, 5, [4, 3]);
    await checkOp('gather dim 1', [randn([4, 5])], ([x], d) => gather(x!, 1, onDevice(i1, d)));
    const i0 = randint(0, 4, [2, 5]);
    await checkOp('gather dim 0', [randn([4, 5])], ([x], d) => gather(x!, 0, onDevice(i0, d)));
    const rep = tensor(Int32Array.of(4, 1, 1, 0, 4, 4), { shape: [6] });
    await checkOp('indexSelect repeated', [randn([5, 3, 2])], ([x], d) => indexSelect(x!, 0, onDevice(rep, d)));
  });

  it('argmax / argmin x=[4,6] along each dim, flattened, keepdim; ties give the first index, the first NaN wins', async () => {
    manualSeed(224);
    const ties = randint(-2, 3, [4, 6]).to('float32'); // few distinct values: many ties
    const withNaN = randn([3, 5]).toArray() as Float32Array;
    withNaN[7] = Number.NaN; // row 1 has two NaNs: the first one's index wins
    withNaN[9] = Number.NaN;
    const nan = tensor(withNaN, { shape: [3, 5] });
    const cases: [string, (x: Tensor) => Tensor][] = [
      ['argmax dim 1', (x) => argmax(x, 1)],
      ['argmax dim 0 keepdim', (x) => argmax(x, 0, true)],
      ['argmin dim 1', (x) => argmin(x, 1)],
      ['argmax flat', (x) => argmax(x)],
      ['argmin flat keepdim', (x) => argmin(x, undefined, true)],
    ];
    for (const x of [ties, nan]) {
      for (const [label, f] of cases) {
        const want = f(x);
        const got = f(x.to('gpu'));
        expect(got.device).toBe('gpu');
        expect(got.dtype).toBe('int32');
        expect([...got.shape], label).toEqual([...want.shape]);
        expect([...(await got.data())], label).toEqual([...want.toArray()]);
      }
    }
  });
});

describe('temporaries', () => {
  it('norm and misc kernels release every buffer they make besides their outputs (strided inputs force copies)', () => {
    manualSeed(230);
    const view = randn([3, 5, 4, 2]).to('gpu').permute([0, 3, 1, 2]); // [3,2,5,4], not contiguous
    const [w, b] = [randn([2]).to('gpu'), randn([2]).to('gpu')];
    const idx = randint(0, 2, [3, 2, 5, 4]).to('gpu');
    const layout = { axes: 'group', N: 3, C: 2, S: 20, groups: 2, eps: 1e-5, hasWeight: true, hasBias: true } as const;
    const calls: [KernelName, Tensor[], KernelAttrMap[KernelName]][] = [
      ['normForward', [view, w, b], layout],
      ['normApply', [view, randn([6]).to('gpu'), randn([6]).abs().to('gpu'), w, b], layout],
      ['normBackward', [view, view, randn([6]).to('gpu'), randn([6]).abs().to('gpu'), w], { ...layout, batchStats: true }],
      ['softmax', [view], { dim: 1, log: true }],
      ['argReduce', [view], { op: 'argmax', dim: 2 }],
      ['gather', [view, idx], { dim: 1 }],
      ['gatherBackward', [view, idx], { dim: 1, shape: [3, 2, 5, 4] }],
      ['scatterView', [view], { shape: [3, 2, 10, 4], strides: [80, 40, 8, 1], offset: 4 }],
      ['cat', Array.from({ length: 10 }, () => view), { dim: 0 }],
    ];
    for (const [name, inputs, attrs] of calls) {
      const before = gpu.liveBuffers;
      const outs = runKernel(name, inputs, attrs);
      expect(gpu.liveBuffers, name).toBe(before + outs.length);
      for (const o of outs) o.dispose();
      expect(gpu.liveBuffers, name).toBe(before);
    }
  });
});
