// Raw WASM kernel rungs: a kernels/wasm wrapper called on the workload's Float32Arrays (staging
// into the shared memory and copying out included, as the CPU variants pay it), one rung per
// thread count, and the relaxed-SIMD (FMA) twin beside the plain one where the family has one
// and the runtime loaded it. Where the runtime did not load, the rung says why.
import { describeWasm, getWasm } from '../kernels/wasm/runtime.js';
import { threadLadder } from './threads.js';
import type { FloatArray, SuiteContext, Variant } from './types.js';

/** One call of a wrapper into preallocated outputs; `relaxed` picks the FMA twin. */
export interface WasmCall {
  run(relaxed: boolean): void;
  output(): FloatArray;
}

/**
 * Rungs "wasm <label>" (and "wasm <label> fma" when `hasRelaxed` and the runtime has relaxed
 * SIMD) at every thread count of the run; `make` allocates the outputs once, at prepare time.
 */
export function wasmKernelRungs(ctx: SuiteContext, label: string, source: string, make: () => WasmCall, hasRelaxed = false): Variant[] {
  const rt = getWasm();
  const unavailable = rt === null ? describeWasm() : undefined;
  const rung = (relaxed: boolean) => (): Variant => ({
    name: `wasm ${label}${relaxed ? ' fma' : ''}`,
    kind: 'resgrad',
    backend: `wasm SIMD${relaxed ? ' + relaxed FMA' : ''} kernel (${source})`,
    threads: 1,
    ...(unavailable ? { skip: unavailable } : {}),
    prepare() {
      const k = make();
      return { run: () => k.run(relaxed), output: () => k.output() };
    },
  });
  const rungs = threadLadder(ctx, rung(false));
  if (hasRelaxed && rt?.relaxed) rungs.push(...threadLadder(ctx, rung(true)));
  return rungs;
}
