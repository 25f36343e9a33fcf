// Shared set-up of the WASM kernel tests: a describe block that runs on `threads` threads with
// every size split among them, and copies of arrays placed in the WASM memory (zero-copy paths).
import { afterAll, beforeAll } from 'vitest';
import { wasmMemoryTuning } from '../../kernels/wasm/elementwise.js';
import { wasmTuning } from '../../kernels/wasm/gemm.js';
import { getNumThreads, getWasm, setNumThreads } from '../../kernels/wasm/runtime.js';
import { winogradTuning } from '../../kernels/wasm/winograd.js';

/**
 * Call inside a describe: its tests run on `threads` threads, and the single-thread cut-offs are
 * 0, so even tiny and odd shapes are split among the threads. Everything is restored afterwards.
 */
export function onThreads(threads: number): void {
  let saved = { threads: 1, macs: 0, elements: 0 };
  beforeAll(() => {
    saved = { threads: getNumThreads(), macs: wasmTuning.minParallelMacs, elements: wasmMemoryTuning.minParallelElements };
    setNumThreads(threads);
    wasmTuning.minParallelMacs = 0;
    wasmMemoryTuning.minParallelElements = 0;
  });
  afterAll(() => {
    setNumThreads(saved.threads);
    wasmTuning.minParallelMacs = saved.macs;
    wasmMemoryTuning.minParallelElements = saved.elements;
  });
}

/**
 * Call inside a describe: Winograd's size cut-offs are 1, so it takes the small convs of the tests
 * too (otherwise routed to im2col). Restored afterwards; the returned object holds the tuning as it
 * was (filled in when the block starts).
 */
export function winogradAtEverySize(): Readonly<typeof winogradTuning> {
  const saved = { ...winogradTuning };
  beforeAll(() => {
    Object.assign(saved, winogradTuning);
    winogradTuning.minChannelProduct = 1;
    winogradTuning.minTilesPerImage = 1;
  });
  afterAll(() => {
    Object.assign(winogradTuning, saved);
  });
  return saved;
}

/** Copies of `arrays` placed in the WASM arena (all allocated first: an allocation may grow the memory). */
export function inWasm<T extends Float32Array | Int32Array>(...arrays: T[]): T[] {
  const rt = getWasm();
  if (rt === null) throw new Error('inWasm: the WASM runtime is unavailable here');
  const at = arrays.map((a) => rt.alloc(a.byteLength));
  return arrays.map((a, i) => {
    const offset = at[i] as number;
    const v = (a instanceof Float32Array ? new Float32Array(rt.memory.buffer, offset, a.length) : new Int32Array(rt.memory.buffer, offset, a.length)) as T;
    v.set(a as never);
    return v;
  });
}
