// Outputs past 2^23 elements. Every kernel finds its output coordinates by dividing the flat
// thread index in float32; ⌊(r + 0.5)/n⌋ breaks from 2^23 on, where r + 0.5 is no float32 and
// rounds to the next even integer. Run on an H200 through WebGPU, a 4096×4096 matmul had the last
// column of every row past 2048 wrong (2,046 of 16.7M elements); llvmpipe shows the same. Each
// case here crosses 2^23 with an odd last dim or a last index q·n − 1 that is odd.
import { beforeAll, describe, expect, it } from 'vitest';
import { F, type GpuBackend, abs, add, initGpu, manualSeed, matmul, randn, transpose } from '../../index.js';
import { expectGpuMatches } from './helpers.js';

let gpu: GpuBackend;
beforeAll(async () => {
  gpu = await initGpu({ mode: 'headlessgl' });
});

describe('outputs of 2^23 to 2^24 elements: every coordinate right', () => {
  it('ran on headlessgl', () => {
    expect(gpu.mode).toBe('headlessgl');
  });
  it('matmul a=[4096,1] b=[1,4096] (2^24 outputs, the largest the backend allows)', async () => {
    manualSeed(11);
    const a = randn([4096, 1]);
    const b = randn([1, 4096]);
    await expectGpuMatches(matmul(a.to('gpu'), b.to('gpu')), matmul(a, b), 'matmul 4096x1x4096', matmul(abs(a), abs(b)));
  });
  it('matmul a=[2048,2] b=[2,4097] (odd N, 8,390,656 outputs)', async () => {
    manualSeed(12);
    const a = randn([2048, 2]);
    const b = randn([2, 4097]);
    await expectGpuMatches(matmul(a.to('gpu'), b.to('gpu')), matmul(a, b), 'matmul 2048x2x4097', matmul(abs(a), abs(b)));
  });
  it('contiguous of a transposed view x=[2049,4097]ᵀ (strided copy, 8,394,753 elements)', async () => {
    manualSeed(13);
    const x = randn([2049, 4097]);
    await expectGpuMatches(transpose(x.to('gpu'), 0, 1).contiguous(), transpose(x, 0, 1).contiguous(), 'transpose copy');
  });
  it('add x=[3,2797,1001] + y=[2797,1] (broadcast, 8,399,391 elements)', async () => {
    manualSeed(14);
    const x = randn([3, 2797, 1001]);
    const y = randn([2797, 1]);
    await expectGpuMatches(add(x.to('gpu'), y.to('gpu')), add(x, y), 'broadcast add');
  });
  it('batchNorm eval x=[2,3,1201,1165] (per-channel index, 8,394,330 elements)', async () => {
    manualSeed(15);
    const x = randn([2, 3, 1201, 1165]);
    const mean = randn([3]);
    const v = abs(randn([3])).add(0.5);
    const w = randn([3]);
    const b = randn([3]);
    const on = (t: typeof x) => t.to('gpu');
    const got = F.batchNorm(on(x), on(mean), on(v), on(w), on(b), { training: false });
    await expectGpuMatches(got, F.batchNorm(x, mean, v, w, b, { training: false }), 'batchNorm eval');
  });
  it('conv2d 1x1 x=[1,1,2897,2897] w=[1,1,1,1] (8,392,609 outputs)', async () => {
    manualSeed(16);
    const x = randn([1, 1, 2897, 2897]);
    const w = randn([1, 1, 1, 1]);
    await expectGpuMatches(F.conv2d(x.to('gpu'), w.to('gpu')), F.conv2d(x, w), 'conv2d 1x1');
  });
});
