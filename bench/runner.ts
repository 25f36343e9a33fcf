// Runs workloads variant by variant. For each variant: prepare, one first call (timed on its
// own: JIT / GPU compile / peer graph setup show up here), check its output against the
// reference on the same inputs, and only if it is right, time it in steady state. A fast but
// wrong kernel is reported as 'wrong' with its error and never timed.
import { type MeasureOptions, type Timing, measure, timeOnce } from './harness.js';
import { type ThreadControl, wasmThreads } from './threads.js';
import type { Expected, FloatArray, Prepared, Variant, VariantResult, Workload } from './types.js';

export interface RunOptions extends MeasureOptions {
  /** called as each variant starts and ends (progress output) */
  onProgress?: (e: ProgressEvent) => void;
  /**
   * The thread pool that rungs marked `setsThreads` run on: set to the rung's `threads` before
   * it is prepared, restored after it is disposed. Default: resgrad's WASM pool.
   */
  threadControl?: ThreadControl;
}

export type ProgressEvent =
  | { type: 'workload'; workload: Workload; index: number; total: number }
  | { type: 'start'; workload: Workload; variant: Variant }
  | { type: 'result'; result: VariantResult };

/** max |got − expected| / max(1, max |expected|), over the expected positions. */
export function scaledError(got: FloatArray, exp: Expected): number {
  if (exp.check) return exp.check(got);
  const { values, positions } = exp;
  if (!positions && got.length !== values.length) return Number.POSITIVE_INFINITY;
  let scale = 1;
  for (let i = 0; i < values.length; i++) scale = Math.max(scale, Math.abs(values[i] as number));
  let worst = 0;
  for (let i = 0; i < values.length; i++) {
    const p = positions ? (positions[i] as number) : i;
    if (p >= got.length) return Number.POSITIVE_INFINITY;
    const d = Math.abs((got[p] as number) - (values[i] as number));
    if (Number.isNaN(d)) return Number.POSITIVE_INFINITY; // a NaN where a number was expected
    if (d > worst) worst = d;
  }
  return worst / scale;
}

// Over a second a call: the fewest samples that still give a margin of error; over ten: one.
const SLOW_MS = 1000;
const ONCE_MS = 10_000;

/** Thrown by prepare() when a variant cannot run here (a peer not installed, no GPU). */
export class Unavailable extends Error {}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** GFLOP/s, GB/s and images/s of a call that took `ms`, for whichever the workload declares. */
function rates(w: Workload, ms: number): Pick<VariantResult, 'gflops' | 'gbps' | 'imagesPerS'> {
  const sec = ms / 1e3;
  return {
    ...(w.flops ? { gflops: w.flops / sec / 1e9 } : {}),
    ...(w.bytes ? { gbps: w.bytes / sec / 1e9 } : {}),
    ...(w.images ? { imagesPerS: w.images / sec } : {}),
  };
}

async function runVariant(w: Workload, v: Variant, exp: Expected, opts: RunOptions): Promise<VariantResult> {
  if (!v.setsThreads) return runPrepared(w, v, exp, opts);
  const control = opts.threadControl ?? wasmThreads;
  const before = control.get();
  try {
    control.set(v.threads);
  } catch (e) {
    return { ...resultBase(w, v), reason: `cannot run ${v.threads} threads: ${message(e)}` };
  }
  try {
    return await runPrepared(w, v, exp, opts);
  } finally {
    control.set(before);
  }
}

function resultBase(w: Workload, v: Variant): VariantResult {
  return {
    suite: w.suite,
    workload: w.name,
    spec: w.spec,
    variant: v.name,
    kind: v.kind,
    backend: v.backend,
    threads: v.threads,
    status: 'skipped',
    ...(v.isReference ? { reference: true } : {}),
    ...(v.note ? { note: v.note } : {}),
  };
}

/** A result from timings the variant took itself (an external process). */
function externalResult(w: Workload, base: VariantResult, ext: { firstCallMs: number; timing: Timing }): VariantResult {
  return { ...base, status: 'ok', firstCallMs: ext.firstCallMs, timing: ext.timing, ...rates(w, ext.timing.medianMs) };
}

async function runPrepared(w: Workload, v: Variant, exp: Expected, opts: MeasureOptions): Promise<VariantResult> {
  const base = resultBase(w, v);
  if (v.skip) return { ...base, reason: v.skip };
  let prepared: Prepared | undefined;
  try {
    prepared = await v.prepare();
    const p = prepared;
    if (p.backend) base.backend = p.backend;
    if (p.note) base.note = p.note;
    if (p.external) {
      const error = scaledError(await p.output(), exp);
      base.error = error;
      if (!(error <= exp.tol)) return { ...base, status: 'wrong', reason: `max scaled error ${error.toExponential(2)} > tolerance ${exp.tol}` };
      return externalResult(w, base, p.external);
    }
    base.firstCallMs = await timeOnce(() => p.run());
    const error = scaledError(await p.output(), exp);
    base.error = error;
    if (!(error <= exp.tol)) {
      return { ...base, status: 'wrong', reason: `max scaled error ${error.toExponential(2)} > tolerance ${exp.tol}` };
    }
    const tooSlow = v.checkOnly ?? ((base.firstCallMs ?? 0) > ONCE_MS ? `first call over ${ONCE_MS / 1e3} s` : undefined);
    if (tooSlow) {
      // Too slow to sample: the first call is the only measurement (said so in the status).
      return { ...base, status: 'once', reason: `timed once: ${tooSlow}`, ...rates(w, base.firstCallMs) };
    }
    const slow = (base.firstCallMs ?? 0) > SLOW_MS;
    const timing = await measure(() => p.run(), v.isAsync ?? false, slow ? { maxTime: opts.maxTime, minSamples: Math.min(3, opts.minSamples) } : opts);
    return { ...base, status: 'ok', timing, ...rates(w, timing.medianMs) };
  } catch (e) {
    if (e instanceof Unavailable) return { ...base, status: 'skipped', reason: e.message };
    return { ...base, status: 'error', reason: message(e) };
  } finally {
    await prepared?.dispose?.();
  }
}

/** Run every variant of every workload, in order; the results come back in the same order. */
export async function runWorkloads(workloads: readonly Workload[], opts: RunOptions): Promise<VariantResult[]> {
  const results: VariantResult[] = [];
  for (const [index, w] of workloads.entries()) {
    opts.onProgress?.({ type: 'workload', workload: w, index, total: workloads.length });
    let exp: Expected;
    try {
      exp = w.expected();
    } catch (e) {
      for (const v of w.variants) {
        const r: VariantResult = {
          suite: w.suite, workload: w.name, spec: w.spec, variant: v.name, kind: v.kind, backend: v.backend,
          threads: v.threads, status: 'error', reason: `reference failed: ${message(e)}`,
        };
        results.push(r);
        opts.onProgress?.({ type: 'result', result: r });
      }
      w.release?.();
      continue;
    }
    for (const v of w.variants) {
      opts.onProgress?.({ type: 'start', workload: w, variant: v });
      const r = await runVariant(w, v, exp, opts);
      results.push(r);
      opts.onProgress?.({ type: 'result', result: r });
    }
    w.release?.();
  }
  return results;
}
