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
