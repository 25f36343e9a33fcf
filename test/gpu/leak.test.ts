// GPU memory: textures die with their tensors. Three ways are checked under headless-gl:
// tidy scopes (released when the step's scope ends), the garbage collector (a FinalizationRegistry
// frees a texture once no tensor holds its buffer), and dispose(). Two counts must stay flat over
// 200 training steps: the backend's liveBuffers and the GL textures actually alive in the context
// (createTexture minus deleteTexture, counted by wrapping the context's methods). A step leaves
// the parameters' .grad readable after its scope; the next zeroGrad drops them, and the
// collector frees them, so the scoped loops are counted after a collection too.
import { beforeAll, describe, expect, it } from 'vitest';
import { collect } from '../helpers/gc.js';
import {
  type GpuBackend, type Tensor, DeviceError, F, ValueError, add, initGpu, keep, manualSeed, matmul, mean, mul, nn, optim,
  randint, randn, relu, sub, sum, tidy, zeros,
} from '../../index.js';
import { expectGpuMatches } from './helpers.js';

let gpu: GpuBackend;
let glTextures = 0;

beforeAll(async () => {
  gpu = await initGpu({ mode: 'headlessgl' });
  expect(gpu.mode).toBe('headlessgl');
  const gl = gpu.context as { createTexture(): unknown; deleteTexture(t: unknown): void };
  const create = gl.createTexture.bind(gl);
  const del = gl.deleteTexture.bind(gl);
  gl.createTexture = () => {
    glTextures++;
    return create();
  };
  gl.deleteTexture = (t) => {
    if (t) glTextures--;
    del(t);
  };
});

/** A 2-layer MLP's parameters [8→16→4], made on the cpu and moved to `device` (outside any scope). */
function mlp(device: 'cpu' | 'gpu'): Tensor[] {
  manualSeed(70);
  return [randn([8, 16]), zeros([16]), randn([16, 4]), zeros([4])].map((p) => {
    const t = p.mul(0.3).to(device);
    t.requiresGrad = true;
    return t;
  });
}

/** One SGD step (momentum 0.9) on the squared error of the MLP; returns the loss. */
function mlpStep(params: Tensor[], opt: optim.SGD, x: Tensor, y: Tensor): Tensor {
  const [W1, b1, W2, b2] = params as [Tensor, Tensor, Tensor, Tensor];
  opt.zeroGrad();
  const h = relu(add(matmul(x, W1), b1));
  const err = sub(add(matmul(h, W2), b2), y);
  const loss = mean(mul(err, err));
  loss.backward();
  opt.step();
  return loss.detach();
}

describe('200 training steps keep the live-texture count flat', () => {
  it('MLP x=[32,8] → 16 → 4, SGD momentum, each step in tidy(): params equal the cpu run', async () => {
    manualSeed(71);
    const xs = randn([32, 8]);
    const ys = randn([32, 4]);
    const [x, y] = [xs.to('gpu'), ys.to('gpu')];
    const params = mlp('gpu');
    const opt = new optim.SGD(params, { lr: 0.05, momentum: 0.9 });
    const cpuParams = mlp('cpu');
    const cpuOpt = new optim.SGD(cpuParams, { lr: 0.05, momentum: 0.9 });
    // The first step makes the momentum buffers: optimizer state that must outlive the step's
    // scope. SGD keep()s them, so even this step runs inside tidy().
    tidy(() => mlpStep(params, opt, x, y)).dispose();
    mlpStep(cpuParams, cpuOpt, xs, ys);
    const counts: [number, number][] = [];
    let firstLoss = 0;
    let lastLoss = 0;
    let collectedAt10 = 0;
    for (let step = 1; step <= 200; step++) {
      const loss = tidy(() => mlpStep(params, opt, x, y));
      if (step <= 20) mlpStep(cpuParams, cpuOpt, xs, ys);
      if (step === 20) {
        // 21 steps on each device: the scopes freed nothing that training needed
        for (let i = 0; i < 4; i++) await expectGpuMatches(params[i] as Tensor, cpuParams[i] as Tensor, `param ${i} after 21 steps`);
      }
      if (step === 1) firstLoss = (await loss.data())[0] as number;
      if (step === 200) lastLoss = (await loss.data())[0] as number;
      loss.dispose();
      if (step % 50 === 0 || step === 10) {
        await collect(); // the grads that zeroGrad dropped (see below)
        counts.push([gpu.liveBuffers, glTextures]);
        if (step === 10) collectedAt10 = gpu.collected;
      }
    }
    console.log(`tidy MLP: [liveBuffers, GL textures] at steps 10, 50..200: ${JSON.stringify(counts)}; loss ${firstLoss} -> ${lastLoss}; collected ${gpu.collected - collectedAt10}`);
    for (const c of counts) expect(c).toEqual(counts[0]);
    expect(lastLoss).toBeLessThan(firstLoss);
    // The scopes freed everything but the parameters' .grad (which a step must leave readable):
    // the collector took only those, 4 a step, once zeroGrad dropped them.
    expect(gpu.collected - collectedAt10).toBeLessThanOrEqual(4 * 190);
  });

  it('the same MLP without scopes: the garbage collector frees the textures', async () => {
    manualSeed(72);
    const [x, y] = [randn([32, 8]).to('gpu'), randn([32, 4]).to('gpu')];
    const params = mlp('gpu');
    const opt = new optim.SGD(params, { lr: 0.05, momentum: 0.9 });
    const collectedBefore = gpu.collected;
    const counts: [number, number][] = [];
    for (let step = 1; step <= 200; step++) {
      mlpStep(params, opt, x, y);
      if (step % 50 === 0 || step === 10) {
        await collect();
        counts.push([gpu.liveBuffers, glTextures]);
      }
    }
    console.log(`GC MLP: [liveBuffers, GL textures] at steps 10, 50..200: ${JSON.stringify(counts)}; collected ${gpu.collected - collectedBefore}`);
    for (const c of counts) expect(c).toEqual(counts[0]);
    expect(gpu.collected - collectedBefore).toBeGreaterThan(1000); // ~30 buffers a step
  });

  it('CNN x=[4,3,8,8]: conv-BN-relu-conv + skip, avg pool, linear, cross-entropy; Adam, each step in tidy()', async () => {
    manualSeed(73);
    const stem = new nn.Conv2d(3, 4, 3, { padding: 1, bias: false });
    const bn = new nn.BatchNorm2d(4);
    const conv = new nn.Conv2d(4, 4, 3, { padding: 1 });
    const head = new nn.Linear(4, 5);
    const model = new nn.Sequential(stem, bn, head, conv); // holds the parameters and buffers
    model.to('gpu');
    const forward = (x: Tensor) => {
      const h = relu(bn.forward(stem.forward(x)));
      const r = relu(add(conv.forward(h), h));
      return head.forward(F.adaptiveAvgPool2d(r, 1).flatten(1));
    };
    const x = randn([4, 3, 8, 8]).to('gpu');
    const target = randint(0, 5, [4]).to('gpu');
    const opt = new optim.Adam(model.parameters(), { lr: 0.01 });
    const step = () => {
      opt.zeroGrad();
      const loss = F.crossEntropy(forward(x), target);
      loss.backward();
      opt.step();
      return loss.detach();
    };
    tidy(() => step()).dispose(); // Adam keep()s the moment buffers it makes inside a scope
    const counts: [number, number][] = [];
    let collectedAt10 = 0;
    for (let i = 1; i <= 200; i++) {
      tidy(step).dispose();
      if (i % 50 === 0 || i === 10) {
        await collect();
        counts.push([gpu.liveBuffers, glTextures]);
        if (i === 10) collectedAt10 = gpu.collected;
      }
    }
    console.log(`tidy CNN: [liveBuffers, GL textures] at steps 10, 50..200: ${JSON.stringify(counts)}; collected ${gpu.collected - collectedAt10}`);
    for (const c of counts) expect(c).toEqual(counts[0]);
    // only the 7 parameters' dropped grads a step were left to the collector
    expect(gpu.collected - collectedAt10).toBeLessThanOrEqual(7 * 190);
  });
});

describe('async mode (as webgpu runs): buffers die while kernels that read them wait', () => {
  it('MLP x=[32,8] → 16 → 4, 60 steps in tidy() and 60 without on headlessgl asyncMode: flat counts, params equal the sync run', async () => {
    manualSeed(75);
    const xs = randn([32, 8]);
    const ys = randn([32, 4]);
    const syncParams = mlp('gpu');
    const syncOpt = new optim.SGD(syncParams, { lr: 0.05, momentum: 0.9 });
    for (let i = 0; i < 3; i++) mlpStep(syncParams, syncOpt, xs.to('gpu'), ys.to('gpu'));
    const want = await Promise.all(syncParams.map((p) => p.data()));
    const agpu = await initGpu({ mode: 'headlessgl', asyncMode: true });
    try {
      expect(agpu.asyncMode).toBe(true);
      const [x, y] = [xs.to('gpu'), ys.to('gpu')];
      const params = mlp('gpu');
      const opt = new optim.SGD(params, { lr: 0.05, momentum: 0.9 });
      mlpStep(params, opt, x, y);
      tidy(() => mlpStep(params, opt, x, y));
      mlpStep(params, opt, x, y); // unscoped: its intermediates go to the collector below
      for (let i = 0; i < 4; i++) expect(await params[i]?.data()).toEqual(want[i]); // same kernels, same order: bit-equal
      const counts: number[] = [];
      for (let step = 1; step <= 120; step++) {
        if (step <= 60) tidy(() => mlpStep(params, opt, x, y));
        else mlpStep(params, opt, x, y);
        if (step % 30 === 0) {
          await params[0]?.data(); // let the queue drain
          await collect();
          counts.push(agpu.liveBuffers);
        }
      }
      console.log(`async MLP: liveBuffers at steps 30..120: ${JSON.stringify(counts)}`);
      for (const c of counts) expect(c).toBe(counts[0]);
    } finally {
      gpu = await initGpu({ mode: 'headlessgl' }); // a sync backend again for the tests below
    }
  });
});

describe('tidy / keep / dispose semantics', () => {
  it('tidy frees the intermediates of y = relu(x=[3,4] @ W=[4,2]) + 1 and keeps the returned y', async () => {
    const x = randn([3, 4]).to('gpu');
    const W = randn([4, 2]).to('gpu');
    const before = gpu.liveBuffers;
    let hidden: Tensor | null = null;
    const y = tidy(() => {
      hidden = matmul(x, W);
      return add(relu(hidden), 1);
    });
    expect(gpu.liveBuffers).toBe(before + 1);
    expect(() => (hidden as unknown as Tensor).asInput()).toThrow(DeviceError);
    await expectGpuMatches(y, add(relu(matmul(x.to('cpu'), W.to('cpu'))), 1), 'tidy result');
    y.dispose();
    expect(gpu.liveBuffers).toBe(before);
  });

  it('returned arrays and objects survive; nested scopes hand survivors to the outer scope', () => {
    const x = randn([5]).to('gpu');
    const before = gpu.liveBuffers;
    const { a, pair } = tidy(() => {
      const inner = tidy(() => [mul(x, 2), mul(x, 3), sum(x)]);
      expect(gpu.liveBuffers).toBe(before + 3); // the scalars 2 and 3 went with the inner scope
      return { a: inner[0] as Tensor, pair: [inner[1] as Tensor] };
    });
    expect(gpu.liveBuffers).toBe(before + 2); // sum(x) and the scalars went with the outer scope
    a.dispose();
    (pair[0] as Tensor).dispose();
    expect(gpu.liveBuffers).toBe(before);
  });

  it('a returned loss with a live graph keeps everything its backward needs; the grads survive a later scope', async () => {
    manualSeed(74);
    const w = randn([6, 3]).to('gpu');
    w.requiresGrad = true;
    const x = randn([2, 6]).to('gpu');
    const loss = tidy(() => sum(relu(matmul(x, w))));
    loss.backward(); // would throw 'disposed' had tidy freed a saved tensor
    const wc = w.to('cpu').detach();
    wc.requiresGrad = true;
    sum(relu(matmul(x.to('cpu'), wc))).backward();
    await expectGpuMatches(w.grad as Tensor, wc.grad as Tensor, 'grad through a tidy-returned graph');
    // backward inside a scope: the leaf's new .grad is kept, everything else goes
    w.grad = null;
    const before = gpu.liveBuffers;
    tidy(() => sum(mul(matmul(x, w), 2)).backward());
    expect(gpu.liveBuffers).toBe(before + 1);
    const grad = w.grad as unknown as Tensor; // set by backward (TS keeps the null from above)
    expect((await grad.data()).length).toBe(18);
  });

  it('keep() lets a tensor made in a scope outlive it; a throwing fn still frees; a Promise is refused', () => {
    const x = randn([4]).to('gpu');
    const before = gpu.liveBuffers;
    let kept: Tensor | null = null;
    tidy(() => {
      kept = keep(add(x, 1));
      add(x, 2);
    });
    expect(gpu.liveBuffers).toBe(before + 1);
    (kept as unknown as Tensor).dispose();
    expect(() =>
      tidy(() => {
        add(x, 3);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(gpu.liveBuffers).toBe(before);
    expect(() => tidy(() => Promise.resolve(add(x, 4)))).toThrow(ValueError);
    expect(gpu.liveBuffers).toBe(before);
  });

  it('dispose() frees at once and the collector does not count it again; cpu tensors are not tracked', async () => {
    await collect();
    const before = gpu.liveBuffers;
    const collected = gpu.collected;
    const t = randn([10]).to('gpu');
    expect(gpu.liveBuffers).toBe(before + 1);
    t.dispose();
    t.dispose();
    expect(gpu.liveBuffers).toBe(before);
    expect(() => t.asInput()).toThrow(/disposed/);
    await collect();
    expect(gpu.liveBuffers).toBe(before);
    expect(gpu.collected).toBe(collected);
    const c = tidy(() => add(randn([3]), 1));
    expect(c.toArray().length).toBe(3); // cpu results are left to the garbage collector
  });
});
