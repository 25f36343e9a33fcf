// The one place that knows the timing library. Everything else calls `measure` and gets a
// `Timing` back, so the harness could move from benchmark.js to tinybench by rewriting this file.
//
// benchmark.js runs the function in cycles of `count` calls, calibrating `count` until a cycle
// lasts long enough for the timer to resolve it, and keeps one sample (seconds per call, the
// cycle's mean) per cycle until it has `minSamples` of them and `maxTime` seconds have passed.
// From the samples: ops/s = 1 / mean, rme = the 95% confidence half-width as a % of the mean
// (Student's t), and we add the median, which resists the noisy-neighbour outliers of this VM.
import Benchmark from 'benchmark';

export interface Timing {
  /** calls per second (1 / mean seconds per call) */
  hz: number;
  /** relative margin of error of the mean, in percent (95% confidence) */
  rme: number;
  medianMs: number;
  meanMs: number;
  minMs: number;
  /** number of samples (cycles) the statistics come from */
  samples: number;
  /** total calls made while timing */
  calls: number;
}

export interface MeasureOptions {
  /** seconds to keep sampling for (benchmark.js `maxTime`) */
  maxTime: number;
  /** at least this many samples, even past maxTime */
  minSamples: number;
}

export type BenchFn = () => void | Promise<void>;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/**
 * Time `fn` in steady state. `isAsync` says that fn returns a promise to wait for (onnxruntime's
 * `session.run`, a GPU readback): benchmark.js then runs it deferred.
 */
export function measure(fn: BenchFn, isAsync: boolean, opts: MeasureOptions): Promise<Timing> {
  return new Promise((resolve, reject) => {
    let calls = 0;
    const body = isAsync
      ? (deferred: { resolve(): void }) => {
          calls++;
          (fn() as Promise<void>).then(
            () => deferred.resolve(),
            (e) => reject(e),
          );
        }
      : () => {
          calls++;
          fn();
        };
    const bench = new Benchmark({
      fn: body,
      defer: isAsync,
      maxTime: opts.maxTime,
      minSamples: opts.minSamples,
      // One call is enough to start calibrating from; slow kernels then run once per cycle.
      initCount: 1,
      onError: (event: Benchmark.Event) => reject((event.target as unknown as Benchmark).error),
      onComplete: () => {
        if (bench.error) return reject(bench.error);
        const sample = bench.stats.sample;
        resolve({
          hz: bench.hz,
          rme: bench.stats.rme,
          medianMs: median(sample) * 1e3,
          meanMs: bench.stats.mean * 1e3,
          minMs: Math.min(...sample) * 1e3,
          samples: sample.length,
          calls,
        });
      },
    });
    bench.run({ async: isAsync });
  });
}

/** Wall time of one call, in ms (the first call: what a user waits for before steady state). */
export async function timeOnce(fn: BenchFn): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

// Two-sided 95% Student's t for df = 1..30 (the normal's 1.96 beyond), as benchmark.js uses.
const T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/**
 * A Timing from per-call times measured elsewhere (an external process that timed its own
 * steps): one sample per call, the same statistics as `measure`.
 */
export function timingFromSamples(ms: readonly number[]): Timing {
  if (ms.length === 0 || ms.some((x) => !(x > 0))) throw new Error(`timingFromSamples: expected positive call times, got [${ms.join(', ')}]`);
  const n = ms.length;
  const mean = ms.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? ms.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  const sem = Math.sqrt(variance / n);
  const t = n > 1 ? (T95[n - 2] ?? 1.96) : 0;
  return { hz: 1e3 / mean, rme: ((t * sem) / mean) * 100, medianMs: median(ms), meanMs: mean, minMs: Math.min(...ms), samples: n, calls: n };
}
