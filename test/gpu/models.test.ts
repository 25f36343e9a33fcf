// Model-level GPU checks.
// 1. Size limits, by dry run: a GpuBackend over a stub gpu.js (kernels that compute nothing)
//    records the output size of every launch while ResNet-50 at 224x224 batch 8 runs forward
//    and backward through the real gpu adapters, so every buffer the gpu backend would make —
//    weights, activations, conv/norm/pool outputs and their gradients — is counted. Each must
//    fit the backend's two limits (core/gpu/device.ts: 2^24 elements, float32 positions; a
//    near-square texture within MAX_TEXTURE_SIZE, 8192 in Chromium/SwiftShader, 16384 in
//    headless-gl); beyond them launch() gives a clear error, checked here too.
// 2. resnet18 (eval) and a ResNeXt bottleneck block: the gpu forward on headless-gl equals the
//    cpu's, and so does one SGD step of each (parameters and BN running stats after it).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DeviceError, F, GpuBackend, type Tensor, initGpu, manualSeed, mean, models, mul, nn, noGrad, optim, randint, randn, registerBackend, sum, tidy,
} from '../../index.js';
import { MAX_GPU_ELEMENTS, textureSide } from '../../core/gpu/device.js';
import { expectWithin } from './helpers.js';

/** max |a_i| (a loop: spreading millions of arguments overflows the stack). */
const maxAbs = (a: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] as number));
  return m;
};

/** A GpuBackend whose gpu.js computes nothing and which records every launch's output size. */
function dryRunBackend(): { backend: GpuBackend; launches: { key: string; size: number }[] } {
  class StubKernel {}
  const stubGpu = {
    Kernel: StubKernel,
    context: null,
    createKernel(_source: string, settings: Record<string, unknown>) {
      const n = (settings.output as number[])[0] as number;
      const run = () => ({ toArray: () => new Float32Array(n), delete: () => {} });
      return Object.assign(run, { kernel: new StubKernel() });
    },
  };
  const launches: { key: string; size: number }[] = [];
  class DryRun extends GpuBackend {
    override launch(...args: Parameters<GpuBackend['launch']>): ReturnType<GpuBackend['launch']> {
      launches.push({ key: args[0], size: args[2] });
      return super.launch(...args);
    }
  }
  return { backend: new DryRun(stubGpu, 'cpu', StubKernel, false, 'dry run'), launches };
}

describe('size limits: ResNet-50 224x224 batch 8 fits the gpu backend', () => {
  it('every buffer of resnet50 x=[8,3,224,224] forward + backward (train mode) is under 2^24 elements and an 8192 texture', () => {
    const { backend, launches } = dryRunBackend();
    registerBackend(backend);
    manualSeed(80);
    const model = models.resnet50();
    model.to('gpu');
    const x = randn([8, 3, 224, 224]).to('gpu');
    tidy(() => sum(model.forward(x)).backward());
    const byKey = new Map<string, number>();
    for (const { key, size } of launches) byKey.set(key, Math.max(byKey.get(key) ?? 0, size));
    const largest = Math.max(...byKey.values());
    const [w, h] = textureSide(largest);
    console.log(`dry run: ${launches.length} launches; largest output per kernel: ${JSON.stringify(Object.fromEntries(byKey))}; largest ${largest} elements (${((100 * largest) / MAX_GPU_ELEMENTS).toFixed(0)}% of 2^24) -> ${w}x${h} texture`);
    for (const k of ['conv2d', 'conv2dBackwardInput', 'conv2dBackwardWeight', 'maxPool2dBackward']) expect(byKey.has(k), k).toBe(true);
    // conv1's output and layer1's 256-channel maps: 8·64·112² = 8·256·56² = 6,422,528
    expect(largest).toBe(8 * 64 * 112 * 112);
    expect(largest).toBeLessThanOrEqual(MAX_GPU_ELEMENTS);
    expect(Math.max(w, h)).toBeLessThanOrEqual(8192);
  });

  it('the texture layout of gpu.js: both sides at most ⌈√n⌉ + 1, 2^24 elements on 4096x4096', () => {
    for (const n of [1, 2, 3, 7, 1000, 4097, 65_537, 6_422_528, 16_777_213, MAX_GPU_ELEMENTS]) {
      const [w, h] = textureSide(n);
      expect(w * h).toBeGreaterThanOrEqual(n);
      expect(Math.max(w, h)).toBeLessThanOrEqual(Math.ceil(Math.sqrt(n)) + 1);
    }
    expect(textureSide(MAX_GPU_ELEMENTS)).toEqual([4096, 4096]);
  });

  it('beyond the limits launch() says which limit and what to do: 2^24 + 1 elements; a 4097x4095 texture on a 4096 context', () => {
    const { backend } = dryRunBackend();
    expect(() => backend.upload(new Float32Array(MAX_GPU_ELEMENTS + 1))).toThrow(DeviceError);
    expect(() => backend.upload(new Float32Array(MAX_GPU_ELEMENTS + 1))).toThrow(/upload: an output of 16777217 elements exceeds .* 2\^24 .*split the batch/);
    backend.maxTextureSize = 4096;
    expect(() => backend.upload(new Float32Array(16_777_213))).toThrow(/needs a 4097x4095 texture, but this context's MAX_TEXTURE_SIZE is 4096/);
    expect(backend.upload(new Float32Array(4096 * 4096)).size).toBe(4096 * 4096);
  });
});

describe('models on headless-gl: gpu forward == cpu forward', () => {
  let gpu: GpuBackend;
  beforeAll(async () => {
    gpu = await initGpu({ mode: 'headlessgl' });
    expect(gpu.mode).toBe('headlessgl');
    expect(gpu.maxTextureSize).toBeGreaterThanOrEqual(8192); // 16384 on headless-gl / llvmpipe
  });
  afterAll(() => registerBackend(gpu));

  // Tolerance: a forward through ~20 conv/BN layers in float32, summing in a different order on
  // each device, differs by rounding that grows with depth; 1e-4 of the output's largest
  // magnitude is ~1000 float32 ulp of it, while a wrong kernel anywhere changes the logits by O(1).
  const compare = async (gpuOut: Tensor, cpuOut: Tensor, label: string) => {
    expect(gpuOut.device).toBe('gpu');
    const want = cpuOut.toArray();
    const scale = maxAbs(want);
    expectWithin(await gpuOut.data(), want, new Float32Array(want.length).fill(scale * 10), 0, label);
  };

  it('resnet18 eval x=[2,3,32,32] (num_classes 10)', async () => {
    manualSeed(81);
    const model = models.resnet18({ numClasses: 10 });
    model.eval();
    const x = randn([2, 3, 32, 32]);
    const want = noGrad(() => model.forward(x));
    model.to('gpu');
    const got = noGrad(() => tidy(() => model.forward(x.to('gpu'))));
    await compare(got, want, 'resnet18 logits');
  });

  it('ResNeXt bottleneck block x=[2,256,8,8] (groups 32, width 4, stride 2, downsample), train mode', async () => {
    manualSeed(82);
    const model = models.resnext50_32x4d({ numClasses: 10 });
    const block = model.layer2.at(0) as models.Bottleneck; // 256 → 512 channels, stride 2, downsample
    const x = randn([2, 256, 8, 8]);
    block.train();
    const want = noGrad(() => block.forward(x));
    block.to('gpu');
    const got = noGrad(() => block.forward(x.to('gpu')));
    await compare(got, want, 'resnext bottleneck');
  });

  const fwd = (m: nn.Module, x: Tensor): Tensor => (m as unknown as { forward(x: Tensor): Tensor }).forward(x);

  /**
   * One SGD step (momentum 0.9, lr 0.1) of two same-seeded copies of a module, one moved to the
   * gpu, on `loss(module, x)`; then every float entry of the state dict (parameters, BN running
   * stats) must have changed by the same amount on both devices, within 1e-4 of the largest
   * change (the forward's tolerance, for the same reason).
   */
  async function expectSameStep(make: () => nn.Module, x: Tensor, loss: (m: nn.Module, x: Tensor) => Tensor): Promise<void> {
    const [cpuModel, gpuModel] = [make(), make()];
    gpuModel.to('gpu');
    const initial = Object.fromEntries(Object.entries(cpuModel.stateDict()).map(([k, v]) => [k, v.toArray()]));
    const step = (m: nn.Module, input: Tensor) =>
      tidy(() => {
        const opt = new optim.SGD(m.parameters(), { lr: 0.1, momentum: 0.9 });
        loss(m, input).backward();
        opt.step();
      });
    step(cpuModel, x);
    step(gpuModel, x.to('gpu'));
    const gpuSd = gpuModel.stateDict();
    for (const [k, t] of Object.entries(cpuModel.stateDict())) {
      if (t.dtype === 'int32') continue; // num_batches_tracked
      const start = initial[k] as Float32Array;
      const delta = (a: ArrayLike<number>) => Float32Array.from(a, (v, i) => v - (start[i] as number));
      const [want, got] = [delta(t.toArray()), delta(await (gpuSd[k] as Tensor).data())];
      const scale = maxAbs(want);
      expect(scale, `${k} changed`).toBeGreaterThan(0);
      expectWithin(got, want, new Float32Array(want.length).fill(scale * 10), 0, `step ${k}`);
    }
  }

  it('one SGD step (momentum) of a ResNeXt bottleneck x=[2,64,8,8] groups 8 width 4 stride 2: parameter updates and BN running stats gpu == cpu', async () => {
    const make = () => {
      manualSeed(83);
      const downsample = new nn.Sequential(models.conv1x1(64, 128, 2), new nn.BatchNorm2d(128));
      return new models.Bottleneck(64, 32, { stride: 2, groups: 8, baseWidth: 4, downsample });
    };
    manualSeed(84);
    await expectSameStep(make, randn([2, 64, 8, 8]), (m, x) => {
      const y = fwd(m, x);
      return mean(mul(y, y));
    });
  });

  // 64x64, not 32x32: at 32x32 layer4's BatchNorm normalises N·H·W = 2·1·1 values per channel,
  // x̂ = ±1, and the step is ill-conditioned (float32 vs float64 on the cpu alone differ by 5e-4
  // of the largest change); at 64x64 (2·2·2 values) they differ by 1e-6.
  it('one SGD step (momentum) of resnet18 x=[2,3,64,64], cross-entropy over 10 classes: every parameter and BN running stat gpu == cpu', async () => {
    const make = () => {
      manualSeed(85);
      return models.resnet18({ numClasses: 10 });
    };
    manualSeed(86);
    const target = randint(0, 10, [2]);
    await expectSameStep(make, randn([2, 3, 64, 64]), (m, x) => F.crossEntropy(fwd(m, x), target.to(x.device)));
  });
});
