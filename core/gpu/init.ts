// initGpu: pick the gpu.js mode, prove it is the one that runs, register the backend.
// gpu.js is imported dynamically here, so importing resgrad never loads it.
import { registerBackend } from '../backend.js';
import { DeviceError, ValueError } from '../errors.js';
import { GPU_MODES, GpuBackend, type GpuJs, type GpuMode, className } from './device.js';
import './index.js';

export interface GpuOptions {
  mode: GpuMode;
  /**
   * Run every kernel through gpu.js's Promise contract (buffers then hold promises and are read
   * only with `await data()`). Always on for 'webgpu', whose kernels are asynchronous; in the
   * other modes it exercises the same code path.
   */
  asyncMode?: boolean;
}

/** The gpu.js exports initGpu uses: the GPU class and the kernel class of each mode. */
type GpuJsModule = {
  GPU: new (settings: Record<string, unknown>) => GpuJs;
  HeadlessGLKernel: unknown;
  WebGL2Kernel: unknown;
  WebGLKernel: unknown;
  WebGPUKernel: unknown;
  CPUKernel: unknown;
};

let current: GpuBackend | null = null;

/**
 * Create the gpu backend on gpu.js in `mode`, register it for device 'gpu' and return it.
 * Throws a DeviceError saying why when the mode cannot run here — never falls back.
 */
export async function initGpu(options: GpuOptions): Promise<GpuBackend> {
  const { mode } = options;
  if (!GPU_MODES.includes(mode)) {
    throw new ValueError(`initGpu: argument 'mode' must be one of ${GPU_MODES.join(', ')}, but got '${mode}'`);
  }
  const asyncMode = mode === 'webgpu' || options.asyncMode === true;
  if (current && current.mode === mode && current.asyncMode === asyncMode) {
    registerBackend(current);
    return current;
  }
  let lib: GpuJsModule;
  try {
    lib = (await import('gpu.js')) as unknown as GpuJsModule;
  } catch (e) {
    throw new DeviceError(
      `initGpu: the gpu backend needs the gpu.js package, an optional peer dependency of resgrad (npm install gpu.js): ${(e as Error).message}`,
    );
  }
  await preflight(mode);
  const expected = { headlessgl: lib.HeadlessGLKernel, webgl2: lib.WebGL2Kernel, webgl: lib.WebGLKernel, webgpu: lib.WebGPUKernel, cpu: lib.CPUKernel }[mode];
  let gpu: GpuJs;
  try {
    gpu = new lib.GPU({ mode });
  } catch (e) {
    throw new DeviceError(`initGpu: gpu.js cannot run mode '${mode}' here: ${(e as Error).message}`);
  }
  if (gpu.Kernel !== expected) {
    throw new DeviceError(`initGpu: asked for '${mode}' but gpu.js chose ${className(gpu.Kernel)}`);
  }
  const backend = new GpuBackend(gpu, mode, expected, asyncMode);
  // Probe: a round trip through the device proves the kernel class and the float32 path.
  const probe = Float32Array.of(1.5, -2, 3.25);
  const buf = backend.upload(probe);
  const back = await backend.download(buf, 'float32', 3);
  backend.release(buf);
  if (back.some((v, i) => v !== probe[i])) {
    throw new DeviceError(`initGpu: '${mode}' round trip gave [${[...back].join(', ')}], expected [${[...probe].join(', ')}]`);
  }
  backend.renderer = await rendererOf(mode, backend.context);
  if (mode !== 'cpu' && mode !== 'webgpu') {
    const gl = backend.context as { MAX_TEXTURE_SIZE: number; getParameter(p: number): unknown };
    backend.maxTextureSize = Number(gl.getParameter(gl.MAX_TEXTURE_SIZE));
  }
  registerBackend(backend);
  current = backend;
  return backend;
}

/** Say why a mode cannot run here, before gpu.js gives its generic "not supported". */
async function preflight(mode: GpuMode): Promise<void> {
  const g = globalThis as { process?: { versions?: { node?: string }; env: Record<string, string | undefined> }; document?: unknown; OffscreenCanvas?: unknown; navigator?: { gpu?: unknown } };
  const inNode = g.process?.versions?.node !== undefined;
  if (mode === 'headlessgl') {
    if (!inNode) throw new DeviceError("initGpu: 'headlessgl' runs only in Node (the gl addon); in a browser use 'webgl2'");
    const { createRequire } = await import('node:module');
    // resolve gl the way gpu.js does (it is gpu.js's optional dependency)
    const fromGpuJs = createRequire(createRequire(import.meta.url).resolve('gpu.js'));
    let createGl: (w: number, h: number) => { getExtension(name: string): { destroy?(): void } | null } | null;
    try {
      createGl = fromGpuJs('gl');
    } catch (e) {
      const err = e as { code?: string; message: string };
      const what = err.code === 'MODULE_NOT_FOUND' && /'gl'/.test(err.message)
        ? "the optional 'gl' package is not installed (npm drops it when its native build fails)"
        : `the gl addon does not load (${err.message.split('\n')[0]})`;
      throw new DeviceError(`initGpu: 'headlessgl' needs gpu.js's headless-gl addon, but ${what}; install the build deps and build it with .ci/setup-gpu.sh`);
    }
    const ctx = createGl(1, 1);
    if (!ctx) {
      const display = g.process?.env.DISPLAY;
      throw new DeviceError(
        display
          ? `initGpu: headless-gl could not create a WebGL context on DISPLAY=${display} (is the X server running, with Mesa's GL?)`
          : "initGpu: headless-gl could not create a WebGL context: there is no X display (DISPLAY is unset); run under `xvfb-run -a`",
      );
    }
    ctx.getExtension('STACKGL_destroy_context')?.destroy?.();
  } else if (mode === 'webgl' || mode === 'webgl2') {
    if (g.document === undefined && g.OffscreenCanvas === undefined) {
      throw new DeviceError(`initGpu: '${mode}' needs a browser canvas (or OffscreenCanvas), and there is none here${inNode ? "; in Node use 'headlessgl'" : ''}`);
    }
  } else if (mode === 'webgpu') {
    if (inNode && !(g.navigator as { gpu?: unknown } | undefined)?.gpu) await installDawn();
    const gpuApi = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator?.gpu;
    if (!gpuApi) {
      throw new DeviceError("initGpu: 'webgpu' needs the WebGPU API (navigator.gpu), which this browser does not expose (Chromium: --enable-unsafe-webgpu)");
    }
    if (!(await gpuApi.requestAdapter())) {
      throw new DeviceError(
        `initGpu: 'webgpu': navigator.gpu.requestAdapter() found no adapter${inNode ? " (Dawn runs on Vulkan here: it needs libvulkan.so.1 and a GPU's Vulkan driver; Mesa's lavapipe in Debian 12 lacks a feature Dawn requires)" : ''}`,
      );
    }
  }
}

/**
 * Node has no navigator.gpu: give it Dawn's, from the optional `webgpu` package (>= 0.6; the
 * 0.2.9 that gpu.js pins does not load on Debian 12's glibc). Dawn reaches the GPU through Vulkan.
 */
async function installDawn(): Promise<void> {
  let dawn: { create(flags: string[]): unknown; globals: Record<string, unknown> };
  try {
    dawn = (await import('webgpu')) as unknown as typeof dawn;
  } catch (e) {
    throw new DeviceError(
      `initGpu: 'webgpu' in Node needs navigator.gpu, which Node does not provide; install Dawn's binding (npm install webgpu@0.6) to get it: ${(e as Error).message.split('\n')[0]}`,
    );
  }
  const g = globalThis as Record<string, unknown>;
  for (const [name, value] of Object.entries(dawn.globals)) if (!(name in g)) g[name] = value;
  const nav = (g.navigator ?? {}) as Record<string, unknown>;
  // Node 21+ defines a read-only navigator: add gpu to it; Node 20 has none: make one.
  if (g.navigator === undefined) Object.defineProperty(g, 'navigator', { value: nav, configurable: true, writable: true });
  Object.defineProperty(nav, 'gpu', { value: dawn.create([]), configurable: true });
}

/** The renderer that actually draws, as precisely as the platform tells. */
async function rendererOf(mode: GpuMode, context: unknown): Promise<string> {
  if (mode === 'cpu') return 'JavaScript (gpu.js cpu mode, not a GPU)';
  if (mode === 'webgpu') {
    const nav = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<{ info?: Record<string, string> } | null> } } }).navigator;
    const info = (await nav?.gpu?.requestAdapter())?.info ?? {};
    return ['vendor', 'architecture', 'device', 'description'].map((k) => info[k]).filter(Boolean).join(' ') || 'WebGPU adapter (no info)';
  }
  type Gl = { RENDERER: number; getParameter(p: number): unknown; getExtension(n: string): { UNMASKED_RENDERER_WEBGL: number } | null };
  const gl = context as Gl;
  if (mode === 'headlessgl') {
    // headless-gl's JS wrapper answers RENDERER with a fixed 'ANGLE'; the native method below it
    // asks ANGLE, which names the driver underneath (e.g. "ANGLE (Mesa/X.org llvmpipe ...)").
    for (let p = Object.getPrototypeOf(gl); p; p = Object.getPrototypeOf(p)) {
      const own = Object.getOwnPropertyDescriptor(p, 'getParameter')?.value as Gl['getParameter'] | undefined;
      if (own && /\[native code\]/.test(Function.prototype.toString.call(own))) return String(own.call(gl, gl.RENDERER));
    }
    return String(gl.getParameter(gl.RENDERER));
  }
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
}
