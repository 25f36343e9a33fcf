// GPU-vs-CPU: every gpu kernel (matmul, binary, unary, copy, where, reduce) runs the same case
// on the cpu and on gpu.js under headless-gl, and the results must agree (tolerances and why:
// test/gpu/helpers.ts). The suite fails unless the backend that ran is headlessgl.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  F, type GpuBackend, type Tensor, abs, add, div, eq, exp, ge, getBackend, gt, initGpu, le, log, lt, manualSeed,
  matmul, maximum, max, min, minimum, mul, ne, neg, pow, randint, randn, relu, tensor, sigmoid, sqrt, sub, sum, tanh, where,
} from '../../index.js';
import { run1 } from '../../autograd/ops/dispatch.js';
import { expectGpuMatches } from './helpers.js';

let gpu: GpuBackend;

beforeAll(async () => {
  gpu = await initGpu({ mode: 'headlessgl' });
  console.log(`gpu backend: ${gpu.describe()}`);
});

const onGpu = (x: Tensor): Tensor => x.to('gpu');

describe('gpu backend identity', () => {
  it('runs gpu.js headlessgl on a real WebGL renderer, and tensors use it', () => {
    expect(gpu.mode).toBe('headlessgl');
    expect(gpu.describe()).toContain('headlessgl');
    // ANGLE names the GL driver it sits on (Mesa llvmpipe under xvfb here).
    expect(gpu.renderer).toMatch(/^ANGLE \(.+\)/);
    expect(getBackend('gpu')).toBe(gpu);
    const x = onGpu(randn([2, 2]));
    expect(x.device).toBe('gpu');
    expect(x.backend).toBe(gpu);
  });
});

describe('matmul gpu == cpu', () => {
  // The scale of each output element is (|A|·|B|)_ij: the float32 error bound of a dot product.
  const check = async (a: Tensor, b: Tensor, label: string) => {
    const want = matmul(a, b);
    const got = matmul(onGpu(a), onGpu(b));
    await expectGpuMatches(got, want, label, matmul(abs(a), abs(b)));
  };
  it.each([
    [[7, 13], [13, 5]],
    [[1, 1], [1, 1]],
    [[3, 1500], [1500, 5]], // K > 1000: a loop capped at gpu.js's default 1000 would truncate
    [[2, 2049], [2049, 3]],
    [[33, 17], [17, 40]],
    [[13], [13, 4]],
    [[6, 13], [13]],
    [[2, 3, 4, 5], [5, 6]],
    [[2, 1, 4, 5], [3, 5, 6]], // broadcast batch dims
  ])('matmul a=%j b=%j', async (as, bs) => {
    manualSeed(10);
    await check(randn(as), randn(bs), `matmul ${JSON.stringify(as)}@${JSON.stringify(bs)}`);
  });
  it('matmul of transposed views aᵀ=[9,6]ᵀ bᵀ=[4,9]ᵀ and a batched permuted view [5,2,3]→[2,3,5]', async () => {
    manualSeed(11);
    await check(randn([9, 6]).transpose(0, 1), randn([4, 9]).transpose(0, 1), 'matmul aT bT');
    await check(randn([5, 2, 3]).permute([1, 2, 0]), randn([2, 5, 4]), 'matmul permuted batch');
  });
  it('matmul with K = 0 gives zeros [3,0]@[0,4]', async () => {
    await check(randn([3, 0]), randn([0, 4]), 'matmul K=0');
  });
});

describe('binary ops with broadcasting gpu == cpu', () => {
  const OPS = { add, sub, mul, div, maximum, minimum, eq, ne, lt, le, gt, ge, addRelu: F.addRelu } as const;
  it.each(Object.keys(OPS))('%s a=[4,1,5] b=[3,1] and a transposed view', async (name) => {
    const op = OPS[name as keyof typeof OPS];
    manualSeed(20);
    // halves in [-1, 1] against 0.5 or 1, so that eq/le/ge see ties (and div sees no 0)
    const a = mul(randint(-2, 3, [4, 1, 5]).to('float32'), 0.5);
    const b = mul(randint(1, 3, [3, 1]).to('float32'), 0.5);
    await expectGpuMatches(op(onGpu(a), onGpu(b)), op(a, b), `${name} broadcast`);
    const t = randn([5, 3]).transpose(0, 1); // strides [1, 3]
    const tied = where(gt(t, 0), b.expand([3, 5]), t); // equal to b in about half the places
    await expectGpuMatches(op(onGpu(t), onGpu(tied)), op(t, tied), `${name} transposed`);
  });
  it('pow with positive bases [3,4]^[4], integer exponents of negative bases, and 0^b', async () => {
    manualSeed(21);
    const base = add(abs(randn([3, 4])), 0.25);
    const e = randn([4]);
    await expectGpuMatches(pow(onGpu(base), onGpu(e)), pow(base, e), 'pow positive base');
    const neg3 = randn([2, 5]);
    const ints = randint(-3, 4, [5]).to('float32');
    await expectGpuMatches(pow(onGpu(neg3), onGpu(ints)), pow(neg3, ints), 'pow integer exponents');
    const zero = randn([3]).mul(0);
    const pos = add(abs(randn([3])), 0.5);
    await expectGpuMatches(pow(onGpu(zero), onGpu(pos)), pow(zero, pos), 'pow 0^b');
  });
  it('int32 add/mul and comparisons a=[6] b=[2,1]', async () => {
    manualSeed(22);
    const a = randint(-50, 50, [6]);
    const b = randint(-50, 50, [2, 1]);
    await expectGpuMatches(add(onGpu(a), onGpu(b)), add(a, b), 'int32 add');
    await expectGpuMatches(mul(onGpu(a), onGpu(b)), mul(a, b), 'int32 mul');
    await expectGpuMatches(lt(onGpu(a), onGpu(b)), lt(a, b), 'int32 lt');
    await expectGpuMatches(add(onGpu(a), 1.5), add(a, 1.5), 'int32 + float scalar');
  });
});

describe('unary ops gpu == cpu', () => {
  const OPS = { neg, exp, abs, relu, sigmoid, tanh } as const;
  it.each(Object.keys(OPS))('%s x=[5,7]ᵀ (strided) with a wide range', async (name) => {
    const op = OPS[name as keyof typeof OPS];
    manualSeed(30);
    const x = mul(randn([7, 5]), 4).transpose(0, 1);
    await expectGpuMatches(op(onGpu(x)), op(x), name);
  });
  it('tanh, sigmoid at ±30 and near 0 x=[8]', async () => {
    const x = tensor([-30, -5, -0.3, -1e-3, 0, 2e-4, 0.05, 30]);
    await expectGpuMatches(tanh(onGpu(x)), tanh(x), 'tanh extremes');
    await expectGpuMatches(sigmoid(onGpu(x)), sigmoid(x), 'sigmoid extremes');
  });
  it('log, sqrt, sign, reciprocal on positive x=[4,6]', async () => {
    manualSeed(31);
    const x = add(abs(randn([4, 6])), 0.1);
    await expectGpuMatches(log(onGpu(x)), log(x), 'log');
    await expectGpuMatches(sqrt(onGpu(x)), sqrt(x), 'sqrt');
    const y = randn([4, 6]);
    await expectGpuMatches(onGpu(y).sign(), y.sign(), 'sign');
    const recip = (t: Tensor) => run1('unary', [t], { op: 'reciprocal' });
    await expectGpuMatches(recip(onGpu(x)), recip(x), 'reciprocal');
  });
});

describe('copy of strided views gpu == cpu', () => {
  it('contiguous() of permuted x=[2,3,4,5].permute([3,1,0,2])', async () => {
    manualSeed(40);
    const x = randn([2, 3, 4, 5]);
    const want = x.permute([3, 1, 0, 2]).contiguous();
    const got = onGpu(x).permute([3, 1, 0, 2]).contiguous();
    expect(got.isContiguous()).toBe(true);
    await expectGpuMatches(got, want, 'permute copy');
  });
  it('contiguous() of a narrowed, transposed, expanded view x=[6,8]', async () => {
    manualSeed(41);
    const x = randn([6, 8]);
    const view = (t: Tensor) => t.narrow(1, 2, 5).narrow(0, 1, 4).transpose(0, 1).unsqueeze(0).expand([3, 5, 4]).contiguous();
    await expectGpuMatches(view(onGpu(x)), view(x), 'narrow/transpose/expand copy');
  });
  it('casts: float32 → int32 truncates toward zero, int32 → float32 x=[10]', async () => {
    manualSeed(42);
    const x = mul(randn([10]), 5);
    await expectGpuMatches(onGpu(x).to('int32'), x.to('int32'), 'to int32');
    const i = randint(-100, 100, [10]);
    await expectGpuMatches(onGpu(i).to('float32'), i.to('float32'), 'to float32');
  });
});

describe('where and reductions gpu == cpu', () => {
  it('where(cond=[3,1], a=[3,4], b=[4]) x', async () => {
    manualSeed(50);
    const c = gt(randn([3, 1]), 0);
    const a = randn([3, 4]);
    const b = randn([4]);
    await expectGpuMatches(where(onGpu(c), onGpu(a), onGpu(b)), where(c, a, b), 'where');
  });
  it.each([
    [[4, 5, 6], [1], false],
    [[4, 5, 6], [0, 2], true],
    [[3, 1200], [1], false], // a reduced dim > 1000
    [[2, 3], undefined, false],
  ])('sum/max/min x=%j dims=%j keepdim=%s', async (shape, dims, keepdim) => {
    manualSeed(51);
    const x = randn(shape);
    const g = onGpu(x);
    await expectGpuMatches(sum(g, dims, keepdim), sum(x, dims, keepdim), 'sum', sum(abs(x), dims, keepdim));
    await expectGpuMatches(max(g, dims, keepdim), max(x, dims, keepdim), 'max');
    await expectGpuMatches(min(g, dims, keepdim), min(x, dims, keepdim), 'min');
  });
  it('sum of a transposed view x=[5,3]ᵀ over dim 1', async () => {
    manualSeed(52);
    const x = randn([5, 3]).transpose(0, 1);
    await expectGpuMatches(sum(onGpu(x), 1), sum(x, 1), 'sum transposed', sum(abs(x), 1));
  });
});
