// Modes and failures: asking for a mode that cannot run here is an error that says why (never a
// silent fallback); float64 and missing kernels are clear errors; the async (Promise) path that
// webgpu takes works under headless-gl too; gpu.js's cpu mode runs the same kernels; released
// buffers are counted.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  DTypeError, DeviceError, type GpuMode, type Tensor, ValueError, abs, add, getBackend, initGpu, manualSeed, matmul, randn, sum,
} from '../../index.js';
import type { KernelName } from '../../core/kernel_names.js';
import { expectGpuMatches } from './helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('modes that cannot run here are errors that say why', () => {
  it("'webgpu' in Node: Dawn's navigator.gpu from the webgpu package, and an error naming Vulkan when it finds no adapter", async () => {
    const started = await initGpu({ mode: 'webgpu' }).then(
      (b) => b,
      (e: unknown) => e as Error,
    );
    expect((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu).toBeDefined();
    if (started instanceof Error) {
      // CI and this VM: no GPU, and Debian 12's lavapipe is refused by Dawn
      expect(started).toBeInstanceOf(DeviceError);
      expect(started.message).toMatch(/requestAdapter\(\) found no adapter \(Dawn runs on Vulkan/);
    } else {
      // a machine with a Vulkan GPU: the backend must be webgpu and agree with the CPU
      expect(started.mode).toBe('webgpu');
      manualSeed(3);
      const a = randn([33, 17]);
      const b = randn([17, 9]);
      await expectGpuMatches(matmul(a.to('gpu'), b.to('gpu')), matmul(a, b), 'webgpu matmul [33,17]@[17,9]');
    }
  });
  it("'webgl2' and 'webgl' in Node: no browser canvas, use 'headlessgl'", async () => {
    await expect(initGpu({ mode: 'webgl2' })).rejects.toThrow(/needs a browser canvas.*use 'headlessgl'/);
    await expect(initGpu({ mode: 'webgl' })).rejects.toThrow(DeviceError);
  });
  it('an unknown mode is a ValueError naming the choices', async () => {
    await expect(initGpu({ mode: 'cuda' as GpuMode })).rejects.toThrow(ValueError);
    await expect(initGpu({ mode: 'cuda' as GpuMode })).rejects.toThrow(/one of headlessgl, webgl2, webgl, webgpu, cpu/);
  });
  it("'headlessgl' without an X display says to run under xvfb-run -a", () => {
    const env = { ...process.env };
    delete env.DISPLAY;
    const script = `import { initGpu } from ${JSON.stringify(join(root, 'index.ts'))};
      initGpu({ mode: 'headlessgl' }).then(() => console.log('STARTED'), (e) => console.log(e.name + ': ' + e.message));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, env, encoding: 'utf8' });
    expect(r.stdout).toMatch(/DeviceError: .*no X display.*xvfb-run -a/);
  });
});

describe('gpu.js loads lazily', () => {
  it('importing resgrad loads neither gpu.js nor gl; initGpu does', () => {
    // count gpu.js / gl modules in Node's CommonJS cache after importing resgrad, then after initGpu
    const script = `import { createRequire } from 'node:module';
      const { initGpu } = await import(${JSON.stringify(join(root, 'index.ts'))});
      const cache = createRequire(${JSON.stringify(join(root, 'index.ts'))}).cache;
      const count = () => Object.keys(cache).filter((p) => /node_modules[\\\\/](gpu\\.js|gl)[\\\\/]/.test(p)).length;
      const before = count();
      await initGpu({ mode: 'cpu' });
      console.log('LOADED', before, count());`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    const m = /LOADED (\d+) (\d+)/.exec(r.stdout);
    expect(m, r.stderr).not.toBeNull();
    expect(Number(m![1])).toBe(0);
    expect(Number(m![2])).toBeGreaterThan(0);
  });
});

describe('headlessgl: dtype and kernel errors, buffer accounting', () => {
  it('float64 on the gpu is a DTypeError; a kernel the gpu lacks is a DeviceError naming it', async () => {
    await initGpu({ mode: 'headlessgl' });
    expect(() => randn([2, 2], { dtype: 'float64' }).to('gpu')).toThrow(DTypeError);
    expect(() => randn([2, 2], { dtype: 'float64' }).to('gpu')).toThrow(/float64 .*float32/);
    // every CPU kernel has a gpu twin now, so ask for a name no backend has
    expect(() => getBackend('gpu').run('noSuchKernel' as KernelName, [randn([2, 3]).to('gpu').asInput()], {})).toThrow(/gpu backend has no kernel 'noSuchKernel'/);
  });
  it('kernels compile once per shape signature: slices at other offsets reuse them x=[6,5]', async () => {
    const gpu = await initGpu({ mode: 'headlessgl' });
    const x = randn([6, 5]).to('gpu');
    const f = (start: number) => add(x.narrow(0, start, 2), x.narrow(0, 4 - start, 2).transpose(0, 1).transpose(0, 1));
    await f(0).data();
    const compiled = gpu.compiledKernels;
    for (const start of [1, 2, 3]) await f(start).data();
    expect(gpu.compiledKernels).toBe(compiled);
    await add(x, x).data(); // a new shape signature compiles one more
    expect(gpu.compiledKernels).toBe(compiled + 1);
  });
  it('released buffers leave the live count where it was; a released tensor cannot be read', async () => {
    const gpu = await initGpu({ mode: 'headlessgl' });
    const before = gpu.liveBuffers;
    const x = randn([8, 8]).to('gpu');
    const y = add(matmul(x, x), x);
    expect(gpu.liveBuffers).toBe(before + 3);
    y.dispose();
    x.dispose();
    expect(gpu.liveBuffers).toBe(before + 1); // matmul's output is still alive
    await expect(y.data()).rejects.toThrow(/disposed/);
  });
});

describe('other gpu.js modes run the same kernels', () => {
  /** add(matmul(a=[3,1200], b=[1200,4]), c=[4]) on both devices; returns [gpu, cpu, scale]. */
  const check = async (label: string): Promise<[Tensor, Tensor, Tensor]> => {
    manualSeed(70);
    const a = randn([3, 1200]);
    const b = randn([1200, 4]);
    const c = randn([4]);
    const want = add(matmul(a, b), c);
    const got = add(matmul(a.to('gpu'), b.to('gpu')), c.to('gpu'));
    const scale = add(matmul(abs(a), abs(b)), abs(c));
    await expectGpuMatches(got, want, label, scale);
    return [got, want, scale];
  };
  it('asyncMode on headlessgl: buffers are promises, read with await data(), backward works', async () => {
    const gpu = await initGpu({ mode: 'headlessgl', asyncMode: true });
    expect(gpu.describe()).toMatch(/headlessgl \(async\) on ANGLE/);
    const [got, want, scale] = await check('async matmul+add');
    // check() awaited got.data(): the values are on the host now, and a synchronous read serves them
    expect([...got.toArray()]).toEqual([...(await got.data())]);
    const fresh = matmul(randn([3, 4]).to('gpu'), randn([4, 2]).to('gpu'));
    expect(() => fresh.toArray()).toThrow(/await tensor\.data\(\)/);
    // d/dW sum(Y·W) = Yᵀ·1: column sums of Y, repeated along W's columns
    const w = randn([4, 2]).to('gpu');
    w.requiresGrad = true;
    sum(matmul(got, w)).backward();
    const colSums = (t: Tensor) => sum(t, 0, true).transpose(0, 1).expand([4, 2]);
    await expectGpuMatches(w.grad!, colSums(want), 'async dW', colSums(scale));
  });
  it("'cpu' mode (gpu.js's JavaScript kernels) says it is not a GPU", async () => {
    const gpu = await initGpu({ mode: 'cpu' });
    expect(gpu.describe()).toMatch(/cpu mode, not a GPU/);
    await check('gpu.js cpu mode matmul+add');
  });
});
