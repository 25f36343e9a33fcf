// The vocabulary of the benchmark: a suite makes workloads (one fixed computation on fixed,
// seeded inputs), a workload offers variants (the rungs of the ladder, plus peers), and the
// runner turns each variant into a result.
import type { Timing } from './harness.js';

export type FloatArray = Float32Array | Float64Array;

/** What is computed, structured so that peer libraries can build the same thing. */
export type WorkloadSpec =
  | { op: 'gemm'; M: number; N: number; K: number }
  | {
      op: 'conv2d';
      x: [number, number, number, number];
      w: [number, number, number, number];
      stride: number;
      padding: number;
      groups: number;
    }
  | { op: 'pool2d'; kind: 'max' | 'avg'; x: [number, number, number, number]; kernel: number; stride: number; padding: number }
  | { op: 'norm'; axes: 'batch' | 'layer' | 'instance' | 'group'; pass: 'forward' | 'backward'; x: number[]; groups: number; eps: number }
  | { op: 'model'; name: string; batch: number; mode: 'forward' | 'train-step' }
  | { op: 'custom' };

/** The reference answer a variant is checked against: all outputs, or a sample of them. */
export interface Expected {
  values: FloatArray;
  /** flat output positions that `values` hold; absent = every output, in order */
  positions?: Int32Array;
  /** pass iff max |got − expected| ≤ tol · max(1, max |expected|) */
  tol: number;
  /** instead of `values`: an error measure of the output (≤ tol passes), for workloads
   *  with no affordable reference (whole models: right size, all finite) */
  check?: (got: FloatArray) => number;
}

/** A variant made ready on the workload's inputs: everything allocated, uploaded, compiled. */
export interface Prepared {
  /** One call of the computation (what is timed). */
  run(): void | Promise<void>;
  /** The outputs of the last run, read back to the host, flat (as the reference's layout). */
  output(): FloatArray | Promise<FloatArray>;
  /** What actually runs, when only known once prepared (peer versions, SIMD, renderer). */
  backend?: string;
  /** A caveat only known once prepared (a software GPU renderer). */
  note?: string;
  /** Free device memory / peer tensors. */
  dispose?(): void | Promise<void>;
  /**
   * The peer timed itself (an external process such as the PyTorch script): the runner checks
   * output() and reports these numbers instead of timing run().
   */
  external?: { firstCallMs: number; timing: Timing };
}

export interface Variant {
  name: string;
  /** 'resgrad' rungs make the ladder; 'peer' rows are other libraries on the same workload */
  kind: 'resgrad' | 'peer';
  /** what runs it, e.g. "cpu: TypeScript", "tfjs-backend-wasm (SIMD)", "gpu.js headlessgl" */
  backend: string;
  threads: number;
  /**
   * The rung runs on resgrad's WASM thread pool: the runner sets the pool to `threads` before
   * prepare() and restores the previous count after the rung.
   */
  setsThreads?: boolean;
  /** run() returns a promise */
  isAsync?: boolean;
  /** e.g. how a peer emulates something it lacks */
  note?: string;
  /** the ladder's bottom rung: the others' speedups are relative to it */
  isReference?: boolean;
  /** when set, the variant is reported as skipped with this reason and never run */
  skip?: string;
  /** checked, then timed by its first call only, with this reason (too slow to sample) */
  checkOnly?: string;
  prepare(): Prepared | Promise<Prepared>;
}

export interface Workload {
  suite: string;
  /** short, says the shape: "gemm 512×512×512", "conv 3x3 64→64 56² s1" */
  name: string;
  spec: WorkloadSpec;
  /** floating-point operations per call (multiply and add count as 2), for GFLOP/s */
  flops?: number;
  /** bytes a call must move at least (read inputs + write outputs), for GB/s */
  bytes?: number;
  /** images a call processes (a training step's batch), for images/s */
  images?: number;
  /** Computes the reference answer (once, before any variant runs). */
  expected(): Expected;
  variants: Variant[];
  /** Called after its last variant: drops state the variants shared (a model, a peer graph). */
  release?(): void;
}

/** ok: checked and timed; once: checked, timed by its single first call; wrong: failed the check */
export type Status = 'ok' | 'once' | 'wrong' | 'skipped' | 'error';

export interface VariantResult {
  suite: string;
  workload: string;
  spec: WorkloadSpec;
  variant: string;
  kind: 'resgrad' | 'peer';
  backend: string;
  threads: number;
  /** the reference rung of its ladder */
  reference?: boolean;
  status: Status;
  /** why skipped / the error / what was wrong */
  reason?: string;
  note?: string;
  /** ms of the very first call on this workload (JIT, compile, uploads cached after) */
  firstCallMs?: number;
  /** max |got − expected| / max(1, max |expected|) */
  error?: number;
  timing?: Timing;
  gflops?: number;
  gbps?: number;
  imagesPerS?: number;
}

export interface Suite {
  name: string;
  description: string;
  /** builds the workloads; a suite whose kernels do not exist yet returns none */
  workloads(ctx: SuiteContext): Workload[] | Promise<Workload[]>;
}

/** What the CLI asked for, as the suites see it. */
export interface SuiteContext {
  backends: ReadonlySet<'cpu' | 'gpu'>;
  peers: boolean;
  /** smaller sizes (tests, quick looks) */
  quick: boolean;
  /** also the slowest workloads (model forwards at batch 8) */
  full?: boolean;
  /** the thread ladder: threaded rungs and peers run once per count (default [1]) */
  threads?: readonly number[];
}
