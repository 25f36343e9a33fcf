// The gpu.js paths on the page's main thread (gpu.js draws through a canvas of the page).
import { initGpu } from '../core/gpu/init.js';
import { hasBackend } from '../core/backend.js';
import type { PathId, PathStatus } from './paths.js';
import { PATH_LABELS } from './paths.js';

/** What the browser offers, without starting anything heavy. */
export async function gpuPathStatus(): Promise<PathStatus[]> {
  const gl2 = document.createElement('canvas').getContext('webgl2');
  let renderer = '';
  if (gl2) {
    const info = gl2.getExtension('WEBGL_debug_renderer_info');
    renderer = info ? String(gl2.getParameter(info.UNMASKED_RENDERER_WEBGL)) : 'WebGL2';
    gl2.getExtension('WEBGL_lose_context')?.loseContext();
  }
  const nav = navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } };
  let adapter: unknown = null;
  let gpuWhy = 'navigator.gpu is missing (no WebGPU in this browser, or it is switched off)';
  if (nav.gpu) {
    try {
      adapter = await nav.gpu.requestAdapter();
      if (!adapter) gpuWhy = 'navigator.gpu gave no adapter';
    } catch (e) {
      gpuWhy = `requestAdapter failed: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
  return [
    { id: 'webgl2', label: PATH_LABELS.webgl2, available: gl2 !== null, detail: gl2 ? renderer : 'no WebGL2 context' },
    { id: 'webgpu', label: PATH_LABELS.webgpu, available: adapter !== null, detail: adapter ? `gpu.js WebGPU (async)${adapterName(adapter)}` : gpuWhy },
  ];
}

/** " on google swiftshader" from the adapter's info, where the browser gives it. */
function adapterName(adapter: unknown): string {
  const info = (adapter as { info?: { vendor?: string; architecture?: string; description?: string } }).info;
  const name = [info?.vendor, info?.architecture || info?.description].filter((s) => s).join(' ');
  return name ? ` on ${name}` : '';
}

let started: { mode: PathId; describe: string } | null = null;

/** Start (or switch) the gpu backend to the path's gpu.js mode; returns its description. */
export async function ensureGpu(path: PathId): Promise<string> {
  if (path !== 'webgl2' && path !== 'webgpu') throw new Error(`'${path}' is not a gpu path`);
  if (started?.mode === path && hasBackend('gpu')) return started.describe;
  const gpu = await initGpu({ mode: path });
  started = { mode: path, describe: gpu.describe() };
  return started.describe;
}
