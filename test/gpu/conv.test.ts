// Convolution on the GPU == on the CPU: F.conv2d forward and backward through autograd on
// tensors moved with .to('gpu'), the four conv kernels called directly on strided views, and
// a ResNeXt bottleneck block. Expected values are always the CPU backend's.
//
// Tolerance (see helpers.ts): every conv output and gradient element is a sum of products, so
// it is compared within 1e-5·S, with S the same quantity computed from |x|, |w|, |b| and |dy|
// (the float32 rounding bound of a sum, far below what a wrong tap or index gives).
import { beforeAll, describe, expect, it } from 'vitest';
import { F, type GpuBackend, type Tensor, abs, full, initGpu, manualSeed, max, mul, nn, noGrad, randn, sum } from '../../index.js';
import { convBn } from '../../nn/fuse.js';
import { run1 } from '../../autograd/ops/dispatch.js';
import { type Conv2dOptions, conv2dGeometry } from '../../nn/ops/conv.js';
import { Bottleneck, type NormLayer } from '../../models/resnet.js';
import { convVariantsFor, withConvVariant } from '../helpers/variants.js';
import { expectGpuMatches, expectWithin } from './helpers.js';

let gpu: GpuBackend;

beforeAll(async () => {
  gpu = await initGpu({ mode: 'headlessgl' });
  expect(gpu.mode).toBe('headlessgl');
  expect(gpu.describe()).toContain('headlessgl');
});

/** A fresh leaf with t's values on `device`. */
function leaf(t: Tensor, device: 'cpu' | 'gpu'): Tensor {
  const l = device === 'gpu' ? t.to('gpu') : t.clone();
  l.requiresGrad = true;
  return l;
}

interface Run {
  y: Tensor;
  grads: (Tensor | null)[];
}

/** y = f(inputs) and the gradients of Σ y·r on `device` (the cotangent r stays on the host). */
function valueAndGrads(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], r: Tensor, device: 'cpu' | 'gpu'): Run {
  const leaves = inputs.map((t) => leaf(t, device));
  const y = f(...leaves);
  sum(mul(y, device === 'gpu' ? r.to('gpu') : r)).backward();
  return { y, grads: leaves.map((l) => l.grad) };
}

/**
 * Run f on the cpu and the gpu from the same host inputs and compare the output and every
 * input's gradient; the scales are the same run on |inputs| with cotangent |r|.
 */
async function expectSameOnGpu(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], label: string): Promise<void> {
  const probe = f(...inputs);
  const r = randn(probe.shape);
  const cpu = valueAndGrads(f, inputs, r, 'cpu');
  const onGpu = valueAndGrads(f, inputs, r, 'gpu');
  const scale = valueAndGrads(f, inputs.map(abs), abs(r), 'cpu');
  await expectGpuMatches(onGpu.y, cpu.y, `${label}: y`, scale.y);
  for (let i = 0; i < inputs.length; i++) {
    await expectGpuMatches(onGpu.grads[i]!, cpu.grads[i]!, `${label}: grad of input ${i}`, scale.grads[i]!);
  }
}

const fmt = (v: unknown): string => (Array.isArray(v) ? `[${v.join(',')}]` : String(v));
const name = (x: number[], w: number[], o: Conv2dOptions, bias: boolean): string =>
  `conv2d x=${fmt(x)} w=${fmt(w)} s=${fmt(o.stride ?? 1)} p=${fmt(o.padding ?? 0)} d=${fmt(o.dilation ?? 1)} g=${o.groups ?? 1}${bias ? ' +bias' : ''}`;

const CASES: [number[], number[], Conv2dOptions, boolean][] = [
  [[2, 4, 7, 9], [6, 2, 3, 3], { stride: 2, padding: 1, dilation: 2, groups: 2 }, true],
  [[1, 3, 8, 8], [4, 3, 1, 1], {}, false], // 1x1
  [[2, 8, 7, 7], [16, 8, 1, 1], { stride: 2 }, false], // 1x1 stride-2 projection shortcut
  [[1, 3, 13, 11], [5, 3, 7, 7], { stride: 2, padding: 3 }, true], // 7x7 stem, non-square input
  [[2, 64, 5, 4], [64, 2, 3, 3], { padding: 1, groups: 32 }, false], // ResNeXt's grouped 3x3
  [[2, 5, 6, 7], [5, 1, 3, 3], { padding: 1, groups: 5 }, true], // depthwise
  [[1, 4, 7, 6], [8, 1, 3, 3], { stride: 2, padding: 1, groups: 4 }, true], // depthwise, multiplier 2
  [[1, 2, 6, 9], [3, 2, 3, 2], { stride: [1, 2], padding: [2, 0] }, true], // asymmetric stride/padding, non-square kernel
  [[2, 3, 5, 7], [2, 3, 2, 4], { padding: 'same', dilation: [1, 2] }, false], // 'same': bottom/right pad > top/left
  [[2, 3, 9, 7], [4, 3, 3, 3], { dilation: 2 }, true],
  [[1, 3, 5, 6], [2, 3, 5, 5], { stride: 3, padding: 2 }, true], // stride > 2: most taps skipped in dx
];

describe('F.conv2d forward and backward gpu == cpu', () => {
  it.each(CASES)('%j %j %j bias=%s', async (xs, ws, opts, bias) => {
    manualSeed(100);
    const inputs = [randn(xs), randn(ws), ...(bias ? [randn([ws[0] as number])] : [])];
    const f = (x: Tensor, w: Tensor, b?: Tensor) => F.conv2d(x, w, b ?? null, opts);
    await expectSameOnGpu(f, inputs, name(xs, ws, opts, bias));
  });

  it('conv2d unbatched x=[3,6,5] w=[4,3,3,3] p=1', async () => {
    manualSeed(101);
    await expectSameOnGpu((x, w) => F.conv2d(x, w, null, { padding: 1 }), [randn([3, 6, 5]), randn([4, 3, 3, 3])], 'unbatched');
  });

  it('conv2d with an empty batch x=[0,3,5,5] w=[4,3,3,3] p=1 +bias: dw and db sum over nothing', async () => {
    manualSeed(104);
    const f = (x: Tensor, w: Tensor, b?: Tensor) => F.conv2d(x, w, b ?? null, { padding: 1 });
    await expectSameOnGpu(f, [randn([0, 3, 5, 5]), randn([4, 3, 3, 3]), randn([4])], 'empty batch');
  });

  it('conv2d x=[1,1100,2,2] w=[2,1100,1,1]: a channel loop longer than gpu.js\'s default 1000 iterations', async () => {
    manualSeed(102);
    await expectSameOnGpu((x, w) => F.conv2d(x, w), [randn([1, 1100, 2, 2]), randn([2, 1100, 1, 1])], 'C=1100');
  });

  it('conv2d x=[2,2,40,33] w=[3,2,3,3] p=1: dw sums over N·oh·ow = 2640 positions', async () => {
    manualSeed(103);
    await expectSameOnGpu((x, w) => F.conv2d(x, w, null, { padding: 1 }), [randn([2, 2, 40, 33]), randn([3, 2, 3, 3])], 'big dw');
  });
});

describe('F.conv2dRelu (the ReLU fused into the conv kernel) and a folded conv → BatchNorm2d gpu == cpu', () => {
  it.each(CASES.slice(0, 6))('%j %j %j bias=%s', async (xs, ws, opts, bias) => {
    manualSeed(105);
    const inputs = [randn(xs), randn(ws), ...(bias ? [randn([ws[0] as number])] : [])];
    const f = (x: Tensor, w: Tensor, b?: Tensor) => F.conv2dRelu(x, w, b ?? null, opts);
    await expectSameOnGpu(f, inputs, `relu ${name(xs, ws, opts, bias)}`);
  });

  it('convBn x=[2,4,7,7] conv 4→6 3×3 p=1 → BatchNorm2d(6) eval → relu, noGrad: folded on the gpu', async () => {
    manualSeed(106);
    const conv = new nn.Conv2d(4, 6, 3, { padding: 1, bias: false });
    const bn = new nn.BatchNorm2d(6);
    noGrad(() => {
      bn.running_mean!.assign(randn([6]).mul(0.3));
      bn.running_var!.assign(randn([6]).abs().add(0.5));
      bn.weight!.assign(randn([6]).abs().add(0.5));
      bn.bias!.assign(randn([6]).mul(0.3));
    });
    const relu = new nn.ReLU();
    const x = randn([2, 4, 7, 7]);
    conv.eval();
    bn.eval();
    const cpu = noGrad(() => convBn(conv, bn, relu, x));
    conv.to('gpu');
    bn.to('gpu');
    const onGpu = noGrad(() => convBn(conv, bn, relu, x.to('gpu')));
    expect(onGpu.device).toBe('gpu');
    const scale = noGrad(() => F.conv2d(abs(x), abs(conv.weight.to('cpu')), null, { padding: 1 }).mul(max(bn.weight!.to('cpu'))).add(1));
    await expectGpuMatches(onGpu, cpu, 'folded conv → bn → relu', scale);
  });
});

describe('conv kernels on strided views gpu == cpu reference', () => {
  // The ops pass contiguous tensors, but the gpu kernels read any NCHW view (literal strides,
  // runtime offset): x is a permuted NHWC buffer narrowed along W (non-zero offset), w and dy
  // permuted views. The expected values come from the CPU's direct reference kernel.
  const xs = [2, 4, 6, 7];
  const ws = [6, 2, 3, 3];
  const opts: Conv2dOptions = { stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2 };

  it('conv2d, conv2dBackwardInput, conv2dBackwardWeight, conv2dBackwardBias x=[2,4,6,7] w=[6,2,3,3] s=[2,1] p=[1,2] d=[1,2] g=2', async () => {
    manualSeed(110);
    const p = conv2dGeometry(xs, ws, opts);
    const attrs = { geom: p, impl: 'direct' };
    const xNhwc = randn([2, 6, 9, 4]);
    const xView = (t: Tensor) => t.narrow(2, 1, 7).permute([0, 3, 1, 2]); // [2, 4, 6, 7], offset 4
    const wView = (t: Tensor) => t.permute([1, 0, 2, 3]); // stored [2, 6, 3, 3]
    const wStore = randn([2, 6, 3, 3]);
    const b = randn([6]);
    const dyStore = randn([p.oh, p.ow, p.n, p.o]);
    const dyView = (t: Tensor) => t.permute([2, 3, 0, 1]); // [n, o, oh, ow] with strides [o, 1, ow·n·o, n·o]
    const dy = dyView(dyStore).contiguous();
    const g = (t: Tensor) => t.to('gpu');
    const cpu = { x: xView(xNhwc).contiguous(), w: wView(wStore).contiguous() };
    const gpuX = xView(g(xNhwc));
    expect(gpuX.isContiguous()).toBe(false);
    const abs4 = { x: abs(cpu.x), w: abs(cpu.w), b: abs(b), dy: abs(dy) };

    const y = run1('conv2d', [gpuX, wView(g(wStore)), g(b)], attrs);
    await expectGpuMatches(y, run1('conv2d', [cpu.x, cpu.w, b], attrs), 'conv2d', run1('conv2d', [abs4.x, abs4.w, abs4.b], attrs));
    const dx = run1('conv2dBackwardInput', [dyView(g(dyStore)), wView(g(wStore))], attrs);
    await expectGpuMatches(dx, run1('conv2dBackwardInput', [dy, cpu.w], attrs), 'dx', run1('conv2dBackwardInput', [abs4.dy, abs4.w], attrs));
    const dw = run1('conv2dBackwardWeight', [dyView(g(dyStore)), gpuX], attrs);
    await expectGpuMatches(dw, run1('conv2dBackwardWeight', [dy, cpu.x], attrs), 'dw', run1('conv2dBackwardWeight', [abs4.dy, abs4.x], attrs));
    const db = run1('conv2dBackwardBias', [dyView(g(dyStore))], attrs);
    await expectGpuMatches(db, run1('conv2dBackwardBias', [dy], attrs), 'db', run1('conv2dBackwardBias', [abs4.dy], attrs));
  });

  it('every CPU conv variant agrees with the gpu kernel on depthwise x=[1,6,5,5] w=[6,1,3,3] p=1 g=6', async () => {
    manualSeed(111);
    const x = randn([1, 6, 5, 5]);
    const w = randn([6, 1, 3, 3]);
    const want = F.conv2d(x.to('gpu'), w.to('gpu'), null, { padding: 1, groups: 6 });
    const scale = F.conv2d(abs(x), abs(w), null, { padding: 1, groups: 6 });
    const opts = { padding: 1, groups: 6 };
    const impls = convVariantsFor(x.shape, w.shape, opts, 'float32');
    expect(impls).toEqual(expect.arrayContaining(['direct', 'im2col', 'depthwise']));
    for (const impl of impls) {
      await expectGpuMatches(want, withConvVariant(impl, () => F.conv2d(x, w, null, opts)), `impl ${impl}`, scale);
    }
  });
});

describe('ResNeXt bottleneck block on the gpu', () => {
  // Bottleneck(64, 32, groups=8, baseWidth=8, stride=2): width = ⌊32·8/64⌋·8 = 32 channels in
  // the grouped 3x3 (8 groups of 4, ResNeXt's split-transform-merge), 128 out, and torchvision's
  // projection shortcut conv1x1(64→128, stride 2) → norm. x=[2,64,6,5] → y=[2,128,3,3].
  const makeBlock = (norm: NormLayer) => {
    const downsample = new nn.Sequential(new nn.Conv2d(64, 128, 1, { stride: 2, bias: false }), norm(128));
    return new Bottleneck(64, 32, { stride: 2, groups: 8, baseWidth: 8, downsample, normLayer: norm });
  };
  type Grads = { y: Tensor; dx: Tensor; grads: Map<string, Tensor> };

  /** Forward on a leaf copy of x and backward of Σ y·r; the gradients of x and of every parameter. */
  function runBlock(block: nn.Module, x: Tensor, r: Tensor, device: 'cpu' | 'gpu'): Grads {
    const l = leaf(x, device);
    const y = (block.forward as (t: Tensor) => Tensor)(l);
    sum(mul(y, device === 'gpu' ? r.to('gpu') : r)).backward();
    return { y, dx: l.grad!, grads: new Map([...block.namedParameters()].map(([k, p]) => [k, p.grad!])) };
  }

  /** The same block (same seed and state dict) run on cpu float32, gpu, and `other` (a third view). */
  function runEverywhere(norm: NormLayer, other: (block: nn.Module, x: Tensor, r: Tensor) => Grads) {
    manualSeed(120);
    const cpuBlock = makeBlock(norm);
    const x = randn([2, 64, 6, 5]);
    const r = randn([2, 128, 3, 3]);
    const twin = () => {
      const b = makeBlock(norm);
      b.loadStateDict(cpuBlock.stateDict());
      return b;
    };
    const gpuBlock = twin().to('gpu');
    const third = twin();
    return { cpu: runBlock(cpuBlock, x, r, 'cpu'), onGpu: runBlock(gpuBlock, x, r, 'gpu'), other: other(third, x, r) };
  }

  it('Bottleneck(64, 32, groups=8, baseWidth=8, stride=2) with the norms switched off x=[2,64,6,5]', async () => {
    // Scales: the block run on |x|, |r| and |parameters|: every element is then a sum of products.
    const abs3 = (block: nn.Module, x: Tensor, r: Tensor) => {
      block.loadStateDict(Object.fromEntries(Object.entries(block.stateDict()).map(([k, v]) => [k, abs(v)])));
      return runBlock(block, abs(x), abs(r), 'cpu');
    };
    const { cpu, onGpu, other: scale } = runEverywhere(() => new nn.Identity(), abs3);
    expect(onGpu.y.device).toBe('gpu');
    await expectGpuMatches(onGpu.y, cpu.y, 'y', scale.y);
    await expectGpuMatches(onGpu.dx, cpu.dx, 'dx', scale.dx);
    expect(cpu.grads.size).toBe(4);
    for (const [k, g] of cpu.grads) await expectGpuMatches(onGpu.grads.get(k)!, g, `grad of ${k}`, scale.grads.get(k)!);
  });

  it('the same Bottleneck with BatchNorm2d in training mode (batch statistics) x=[2,64,6,5]', async () => {
    // BN's backward subtracts the batch means of dy and dy·x̂, so small gradients (bn1.weight's
    // are ~3e-3 here) come out of cancelling O(1) terms, and no |·| rerun bounds them. So both
    // float32 runs are measured against the float64 CPU run: the gpu must be within 10× the
    // float32 CPU's own worst error per tensor, plus 1e-5 of the tensor's largest element. The
    // CPU conv accumulates in float64 and rounds once; the gpu rounds along every ≤ 64-term sum
    // (~√64 = 8× more; 3-6× seen here). A wrong tap or index is off by O(largest element).
    const f64 = (block: nn.Module, x: Tensor, r: Tensor) => runBlock(block.double(), x.to('float64'), r.to('float64'), 'cpu');
    const { cpu, onGpu, other: truth } = runEverywhere((c) => new nn.BatchNorm2d(c), f64);
    const check = async (gpuT: Tensor, cpuT: Tensor, t64: Tensor, label: string) => {
      expect(gpuT.device).toBe('gpu');
      const exact = t64.toArray();
      const cpuErr = Math.max(...cpuT.toArray().map((v, i) => Math.abs(v - (exact[i] as number))));
      const largest = max(abs(t64)).item();
      expectWithin(await gpuT.data(), exact, full(t64.shape, largest).toArray(), 10 * cpuErr, label);
    };
    await check(onGpu.y, cpu.y, truth.y, 'y');
    await check(onGpu.dx, cpu.dx, truth.dx, 'dx');
    expect(cpu.grads.size).toBe(12); // 4 conv weights, 4 BN weights and biases
    for (const [k, g] of cpu.grads) await check(onGpu.grads.get(k)!, g, truth.grads.get(k)!, `grad of ${k}`);
  });
});
