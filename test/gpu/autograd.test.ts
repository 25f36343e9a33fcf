// Backward on the GPU: a matmul → add → sum graph (and a deeper one through relu, tanh, mul,
// mean) built from GPU leaves runs its backward with the gpu kernels ('binary', 'copy',
// 'reduce', 'matmul', 'where'), and the gradients equal the same graph's on the CPU.
import { beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, abs, add, full, initGpu, manualSeed, matmul, mean, mul, randn, relu, sum, tanh } from '../../index.js';
import { expectGpuMatches } from './helpers.js';

beforeAll(async () => {
  const gpu = await initGpu({ mode: 'headlessgl' });
  expect(gpu.mode).toBe('headlessgl');
});

/** A GPU leaf with the values of CPU tensor `t`. */
function gpuLeaf(t: Tensor): Tensor {
  const g = t.to('gpu');
  g.requiresGrad = true;
  return g;
}

describe('autograd on the gpu == cpu', () => {
  it('sum(x=[5,4] @ W=[4,3] + b=[3]) gradients for x, W, b', async () => {
    manualSeed(60);
    const [x, W, b] = [randn([5, 4]), randn([4, 3]), randn([3])];
    const [gx, gW, gb] = [gpuLeaf(x), gpuLeaf(W), gpuLeaf(b)];
    for (const t of [x, W, b]) t.requiresGrad = true;
    sum(add(matmul(x, W), b)).backward();
    const y = sum(add(matmul(gx, gW), gb));
    expect(y.device).toBe('gpu');
    y.backward();
    // dW_kj = Σ_i x_ik and dx_ik = Σ_j W_kj are sums: scale them by the same sums over |·|
    await expectGpuMatches(gW.grad!, W.grad!, 'dW', sum(abs(x), 0, true).transpose(0, 1).expand([4, 3]));
    await expectGpuMatches(gx.grad!, x.grad!, 'dx', sum(abs(W), 1).expand([5, 4]));
    await expectGpuMatches(gb.grad!, b.grad!, 'db');
  });

  it('mean(tanh(relu(x=[6,1100] @ W=[1100,4] + b) * 2)) gradients, K > 1000', async () => {
    manualSeed(61);
    const [x, W, b] = [randn([6, 1100]), mul(randn([1100, 4]), 0.03), randn([4])];
    const f = (x: Tensor, W: Tensor, b: Tensor) => mean(mul(tanh(relu(add(matmul(x, W), b))), 2));
    const [gx, gW, gb] = [gpuLeaf(x), gpuLeaf(W), gpuLeaf(b)];
    for (const t of [x, W, b]) t.requiresGrad = true;
    f(x, W, b).backward();
    f(gx, gW, gb).backward();
    // each gradient element is one product (dW_kj = Σ_i x_ik·δ_ij over 6 rows; dx = δ·Wᵀ over 4):
    // scale by the gradient magnitude bound |x|ᵀ·|δ| ≤ |x|ᵀ·(2/24) and |δ|·|W|ᵀ
    const delta = 2 / 24;
    await expectGpuMatches(gW.grad!, W.grad!, 'dW', mul(sum(abs(x), 0, true).transpose(0, 1).expand([1100, 4]), delta));
    await expectGpuMatches(gx.grad!, x.grad!, 'dx', mul(sum(abs(W), 1).expand([6, 1100]), delta));
    await expectGpuMatches(gb.grad!, b.grad!, 'db', full([4], 6 * delta));
  });
});
