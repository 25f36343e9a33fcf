// The thread ladder: which thread counts a run covers (`--threads 1,2`), how a rung that can use
// threads becomes one rung per count, and the one switch those rungs turn: the WASM pool's
// setNumThreads (kernels/wasm/runtime.ts). TypeScript kernels run on the calling thread only, so
// their rungs appear once, at 1 thread.
import os from 'node:os';
import { describeWasm, getNumThreads, setNumThreads } from '../kernels/wasm/runtime.js';
import type { SuiteContext, Variant } from './types.js';

/** What the runner turns around a threaded rung: set before prepare(), restored after. */
export interface ThreadControl {
  get(): number;
  set(n: number): void;
}

/** resgrad's WASM thread pool. */
export const wasmThreads: ThreadControl = { get: getNumThreads, set: setNumThreads };

/** One line on the WASM runtime (SIMD, relaxed FMA, threads), for the report header. */
export function describeThreads(): string {
  return describeWasm();
}

export function cores(): number {
  return os.availableParallelism?.() ?? os.cpus().length;
}

/** `1,<cores>` (just `1` on a one-core machine). */
export function defaultThreads(): number[] {
  return [...new Set([1, cores()])];
}

/** Parse `--threads 1,2,4`: positive integers, duplicates dropped, in the order given. */
export function parseThreads(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const out: number[] = [];
  for (const p of parts) {
    const n = /^[0-9]+$/.test(p) ? Number(p) : Number.NaN;
    if (!Number.isInteger(n) || n < 1) throw new Error(`--threads: expected a comma-separated list of positive integers, got '${text}'`);
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

/** A rung's name at `t` threads: plain at 1 (as a single-threaded run lists it), "name 2t" above. */
export function threadedName(name: string, t: number): string {
  return t === 1 ? name : `${name} ${t}t`;
}

/** The name a threaded rung or peer had before its thread suffix: "onnxruntime 2t" → "onnxruntime". */
export function baseName(variant: string): string {
  return variant.replace(/ \d+t$/, '');
}

/** The thread counts of this run (1 when the context does not say). */
export function threadList(ctx: SuiteContext): readonly number[] {
  return ctx.threads?.length ? ctx.threads : [1];
}

/**
 * One rung per thread count of the run, for a rung that runs on the WASM pool: named by
 * threadedName, `threads` set, and marked so the runner sets the pool around it.
 */
export function threadLadder(ctx: SuiteContext, make: (threads: number) => Variant): Variant[] {
  return threadList(ctx).map((t) => {
    const v = make(t);
    return { ...v, name: threadedName(v.name, t), threads: t, setsThreads: true };
  });
}
