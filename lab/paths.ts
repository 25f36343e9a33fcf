// The paths a page can run the engine on, and how each is selected. CPU JS, WASM SIMD and WASM
// threads are all the cpu device (design: variants, not devices): they differ in which kernel
// variants run and on how many threads. The gpu.js paths are the gpu device.
import { cpuKernelNames, cpuVariants } from '../core/cpu/registry.js';
import type { KernelName } from '../core/kernel_names.js';
import { variants } from '../index.js';
import { describeWasm, getNumThreads, getWasm, setNumThreads } from '../kernels/wasm/runtime.js';
import { MAX_THREADS } from '../kernels/wasm/worker_source.js';
import { ValueError } from '../core/errors.js';

export type PathId = 'js' | 'wasm' | 'threads' | 'webgl2' | 'webgpu';
export const CPU_PATHS: readonly PathId[] = ['js', 'wasm', 'threads'];
export const GPU_PATHS: readonly PathId[] = ['webgl2', 'webgpu'];

export const PATH_LABELS: Record<PathId, string> = {
  js: 'CPU JS',
  wasm: 'WASM SIMD',
  threads: 'WASM threads',
  webgl2: 'gpu.js webgl2',
  webgpu: 'WebGPU',
};

export interface PathStatus {
  id: PathId;
  label: string;
  available: boolean;
  /** What it is here ("2 threads", the renderer), or why it is unavailable. */
  detail: string;
  threads?: number;
}

/**
 * The TypeScript variant each kernel with a WASM variant runs on the CPU JS path. Each must take
 * every call (a strict pin refuses the ones it cannot): the elementwise 'contiguous' loops skip
 * strided views, so the strided 'reference' loops stand in for them.
 */
const JS_PINS: Partial<Record<KernelName, string>> = {
  unary: 'reference',
  binary: 'reference',
  copy: 'reference',
  scatterView: 'reference',
  cat: 'reference',
  matmul: 'blocked',
  conv2d: 'im2col',
  conv2dBackwardInput: 'im2col',
  conv2dBackwardWeight: 'im2col',
  maxPool2d: 'reference',
  maxPool2dBackward: 'reference',
  avgPool2d: 'reference',
  avgPool2dBackward: 'reference',
  adaptiveAvgPool2d: 'reference',
  adaptiveAvgPool2dBackward: 'reference',
  normForward: 'fused',
  normApply: 'fused',
  normBackward: 'fused',
};

/** Pins that keep every kernel off WASM: each kernel with a WASM variant gets its TypeScript one. */
export function jsPins(): Partial<Record<KernelName, string>> {
  const pins: Partial<Record<KernelName, string>> = {};
  for (const k of cpuKernelNames()) {
    if (!cpuVariants(k).some((v) => v.name.startsWith('wasm'))) continue;
    const v = JS_PINS[k];
    if (v === undefined) throw new Error(`lab: kernel '${k}' has a WASM variant but no TypeScript pin for the CPU JS path`);
    pins[k] = v;
  }
  return pins;
}

let threadsAsked: number | undefined;

/** The thread count of the WASM threads path (the page's ?threads=N); undefined: one per core. */
export function setLabThreads(n: number | undefined): void {
  if (n !== undefined && (!Number.isInteger(n) || n < 1 || n > MAX_THREADS)) {
    throw new ValueError(`threads must be an integer from 1 to ${MAX_THREADS}, but got ${String(n)}`);
  }
  threadsAsked = n;
}

/** The threads the WASM threads path runs on here: 0 when the runtime has no thread pool. */
export function wasmThreadLimit(): number {
  const rt = getWasm();
  if (rt === null || !rt.shared) return 0;
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  if (typeof document !== 'undefined' || isolated === false) return 0;
  const cores = globalThis.navigator?.hardwareConcurrency ?? 1;
  return threadsAsked ?? Math.max(1, Math.min(cores, MAX_THREADS));
}

/**
 * Run `fn` on a CPU path: 'js' with every kernel pinned to TypeScript; 'wasm' on one thread;
 * 'threads' on `threads` threads (default: every core). The thread count is restored after.
 */
export function onCpuPath<T>(path: PathId, fn: () => T, threads?: number): T {
  if (path === 'js') return variants.use(jsPins(), fn);
  if (path !== 'wasm' && path !== 'threads') throw new Error(`lab: '${path}' is not a cpu path`);
  if (getWasm() === null) throw new Error(`lab: ${PATH_LABELS[path]} is unavailable: ${describeWasm()}`);
  const before = getNumThreads();
  setNumThreads(path === 'wasm' ? 1 : (threads ?? Math.max(1, wasmThreadLimit())));
  try {
    return fn();
  } finally {
    setNumThreads(before);
  }
}

/** The CPU paths as this context (a worker or Node) can run them. */
export function cpuPathStatus(): PathStatus[] {
  const rt = getWasm();
  const limit = wasmThreadLimit();
  const wasmWhy = rt === null ? describeWasm() : '';
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  const threadsWhy =
    rt === null
      ? wasmWhy
      : isolated === false
        ? 'single-threaded: the page is not cross-origin isolated (served without COOP/COEP headers), so there is no SharedArrayBuffer'
        : limit <= 1
          ? 'one thread only (one core, or ?threads=1)'
          : '';
  return [
    { id: 'js', label: PATH_LABELS.js, available: true, detail: 'TypeScript kernels, one thread' },
    { id: 'wasm', label: PATH_LABELS.wasm, available: rt !== null, detail: rt === null ? wasmWhy : `simd128${rt.relaxed ? ' + relaxed FMA' : ''}, one thread`, threads: 1 },
    {
      id: 'threads',
      label: PATH_LABELS.threads,
      available: threadsWhy === '',
      detail: threadsWhy === '' ? `${limit} threads` : threadsWhy,
      threads: threadsWhy === '' ? limit : 1,
    },
  ];
}
