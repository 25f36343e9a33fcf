// Rungs that go through the public API instead of calling a kernel function: what a user of
// `resgrad` pays (tensor wrapping, allocation, dtype conversion in the adapters), on the CPU
// backend or on the GPU one.
import * as api from '../index.js';
import type { Tensor } from '../index.js';
import type { Prepared, Variant } from './types.js';

export interface HostInput {
  data: Float32Array;
  shape: number[];
}

type Api = typeof api;

/** gpu.js mode for `--backend gpu` (the CLI sets it from --gpu-mode). */
export const gpuSettings: { mode: string } = { mode: 'headlessgl' };

let gpuReady: Promise<string> | undefined;

/**
 * Start the GPU backend once per process and return its description (mode + renderer). The
 * backend refuses to fall back silently, so a failure here names what is missing.
 */
export function ensureGpu(): Promise<string> {
  gpuReady ??= (async () => {
    if (!api.hasBackend('gpu')) {
      const init = (api as unknown as Record<string, unknown>).initGpu as ((o: { mode: string }) => Promise<unknown>) | undefined;
      if (typeof init !== 'function') throw new Error('this build of resgrad exports no initGpu (GPU backend not built yet)');
      await init({ mode: gpuSettings.mode });
    }
    return api.getBackend('gpu').describe();
  })();
  return gpuReady;
}

/** What a GPU rung reports once prepared: the renderer that ran it, and a caveat when it is software. */
export function gpuRunInfo(gpu: string): { backend: string; note?: string } {
  // llvmpipe / SwiftShader run the shaders on the CPU, 10-25x slower than our CPU kernels
  return /llvmpipe|swiftshader|softpipe/i.test(gpu) ? { backend: gpu, note: 'software renderer: a correctness run, not a performance claim' } : { backend: gpu };
}

/** A rung on device 'gpu': the backend is started (once) before `prepare`, whose run() is async. */
export function gpuRung(name: string, prepare: () => Prepared | Promise<Prepared>, extra: Partial<Variant> = {}): Variant {
  return {
    name,
    kind: 'resgrad',
    backend: `gpu.js ${gpuSettings.mode}`,
    threads: 1,
    isAsync: true,
    ...extra,
    async prepare() {
      const gpu = await ensureGpu();
      return { ...(await prepare()), ...gpuRunInfo(gpu) };
    },
  };
}

/**
 * A rung that builds `inputs` as float32 tensors on `device` and calls `op` on them under
 * noGrad. Each run reads the result back (on the GPU that is what makes the work happen before
 * the clock stops) and frees it.
 */
export function opVariant(
  name: string,
  device: 'cpu' | 'gpu',
  inputs: readonly HostInput[],
  op: (t: Tensor[], ops: Api) => Tensor,
  extra: Partial<Variant> = {},
): Variant {
  return {
    name,
    kind: 'resgrad',
    backend: device === 'cpu' ? 'cpu: public API, float32 tensors' : `gpu.js ${gpuSettings.mode}`,
    threads: 1,
    isAsync: device === 'gpu',
    ...extra,
    async prepare() {
      const gpu = device === 'gpu' ? await ensureGpu() : undefined;
      const ts = inputs.map((i) => api.tensor(i.data, { shape: i.shape, dtype: 'float32', device }));
      let last: Float32Array = new Float32Array(0);
      const once = (): Tensor => api.noGrad(() => op(ts, api));
      return {
        run:
          device === 'cpu'
            ? () => {
                last = once().toArray() as Float32Array;
              }
            : async () => {
                const y = once();
                last = (await y.data()) as Float32Array;
                y.dispose();
              },
        output: () => last,
        ...(gpu ? gpuRunInfo(gpu) : {}),
        dispose: () => {
          if (device === 'gpu') for (const t of ts) t.dispose();
        },
      };
    },
  };
}

/** The GPU rung of a ladder: the same op through the public API on device 'gpu'. */
export function gpuVariant(name: string, inputs: readonly HostInput[], op: (t: Tensor[], ops: Api) => Tensor): Variant {
  return opVariant(name, 'gpu', inputs, op);
}
