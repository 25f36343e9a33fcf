// The worker pool: threads 1..nt-1 of a parallel run(), over the one shared WebAssembly.Memory.
//
// A job is a function index and its arguments, written into the control region at the start of
// the shared memory (layout in worker_source.ts). The caller (tid 0) writes the job, stores a new
// job number into the job word of each worker taking part and wakes it, runs its own share, then
// waits until the workers' done counter reaches nt - 1. Waiting is a short spin on Atomics.load and
// then Atomics.wait: waking a sleeping thread costs ~0.01-0.3 ms here, more than many kernels
// take, so back-to-back calls should find each other awake. A worker spins longer than the caller
// (WORKER_SPIN_US) to bridge the JS between two kernel calls. Spinning only pays while every
// thread has a core: with more threads than cores nobody spins. When other processes crowd the
// cores, the caller and a worker can end up sharing one, and each then runs only once the other
// sleeps: an empty run costs about CALLER_SPIN_US (measured on this 2-core VM under load; a
// worker spin shorter than ~0.5 ms made it CALLER_SPIN_US + WORKER_SPIN_US). Workers not in a job
// (setNumThreads shrank the count) are never woken and never read the job.
//
// Errors live here too (this file is below runtime.ts, which re-exports them).

import {
  ARGS_F64,
  C_ARGC,
  C_DONE,
  C_ERR_LEN,
  C_ERR_TID,
  C_FN,
  C_NT,
  C_SPIN_US,
  CONTROL_BYTES,
  ERR_U16,
  JOB_I32,
  MAX_THREADS,
  READY_I32,
  WORKER_SOURCE,
  type WorkerData,
} from './worker_source.js';

/** A misuse of the WASM runtime: bad argument, unknown function, no room, a worker that failed to start. */
export class WasmError extends Error {
  override name = 'WasmError';
}

/** A WebAssembly trap (or other exception) inside a kernel, in one of the threads of a run(). */
export class WasmTrapError extends WasmError {
  override name = 'WasmTrapError';
  constructor(
    /** The export that was running. */
    readonly fn: string,
    /** The thread that failed first (0 is the caller). */
    readonly tid: number,
    readonly nt: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`run('${fn}'): thread ${tid} of ${nt} failed: ${message}`, options);
  }
}

/** How long the caller spins on the done counter before sleeping (µs). */
export const CALLER_SPIN_US = 100;
/** How long a worker spins for its next job before sleeping (µs). */
export const WORKER_SPIN_US = 500;
/** How long a worker may take to start before run() gives up (ms). */
const START_TIMEOUT_MS = 30_000;

/** Starts worker tid with data; returns after the worker is created (not necessarily running). */
export type SpawnWorker = (data: WorkerData) => void;

/** Node: a worker_threads.Worker that evaluates the worker source, unref'd so it never keeps the process alive. */
/** The part of node:worker_threads the spawner uses (structural, so published types need no @types/node). */
export interface NodeWorkerThreads {
  Worker: new (
    source: string,
    opts: { eval: boolean; workerData: unknown; name: string },
  ) => { unref(): void; on(event: 'error', listener: (e: unknown) => void): unknown };
}

/** Node: a worker_threads.Worker that evaluates the worker source, unref'd so it never keeps the process alive. */
export function nodeSpawner(workerThreads: NodeWorkerThreads): SpawnWorker {
  return (data) => {
    const worker = new workerThreads.Worker(WORKER_SOURCE, { eval: true, workerData: data, name: `resgrad-wasm-${data.tid}` });
    // A worker that dies before it is ready never sets its ready word: prepare() then fails with
    // its own error after START_TIMEOUT_MS. The listener keeps the 'error' event from also
    // killing the process as an unhandled one.
    worker.on('error', () => {});
    worker.unref();
  };
}

/** A page (from inside a Web Worker): a Web Worker from a Blob URL of the same source, sent its data by message. */
export function webSpawner(): SpawnWorker {
  let url: string | undefined;
  return (data) => {
    url ??= URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
    const worker = new Worker(url, { name: `resgrad-wasm-${data.tid}` });
    worker.postMessage(data);
  };
}

export class WorkerPool {
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly u16: Uint16Array;
  /** Workers spawned so far are tids 1..spawned. */
  private spawned = 0;
  private job = 0;

  /**
   * @param blocking wait for new workers to start (Node: the caller may block; a page's worker
   *   must return to its event loop before a Web Worker it made can start, so there new workers
   *   join later runs once they are ready).
   */
  constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly modules: WebAssembly.Module[],
    private readonly names: string[],
    private readonly spawn: SpawnWorker,
    private readonly blocking: boolean,
    /** Hardware threads: with more threads than this, spinning only steals time from the others. */
    private readonly cores: number,
  ) {
    // Shared memory never detaches, so views of the control region stay valid as memory grows.
    this.i32 = new Int32Array(memory.buffer, 0, CONTROL_BYTES / 4);
    this.f64 = new Float64Array(memory.buffer, 0, CONTROL_BYTES / 8);
    this.u16 = new Uint16Array(memory.buffer, 0, CONTROL_BYTES / 2);
  }

  /** Starts workers up to tid requested-1 (waiting for them when blocking) and returns how many threads a run can use now. */
  prepare(requested: number): number {
    const want = Math.min(requested, MAX_THREADS) - 1;
    while (this.spawned < want) {
      this.spawned++;
      this.spawn({ memory: this.memory, modules: this.modules, names: this.names, tid: this.spawned });
    }
    if (this.blocking) {
      for (let tid = 1; tid <= want; tid++) {
        if (Atomics.wait(this.i32, READY_I32 + tid, 0, START_TIMEOUT_MS) === 'timed-out') {
          throw new WasmError(`worker thread ${tid} did not start within ${START_TIMEOUT_MS / 1000} s; setNumThreads(1) runs without workers`);
        }
      }
    }
    return this.readyThreads(requested);
  }

  /** 1 + the workers 1..requested-1 that are ready, counting from tid 1 until the first that is not. */
  readyThreads(requested: number): number {
    const want = Math.min(requested, MAX_THREADS) - 1;
    let ready = 0;
    while (ready < want) {
      const state = Atomics.load(this.i32, READY_I32 + ready + 1);
      if (state === 2) throw new WasmError(`${this.errorText()}; setNumThreads(1) runs without workers`);
      if (state !== 1) break; // still starting (page): the ready ones run
      ready++;
    }
    return ready + 1;
  }

  /**
   * fn(tid, nt, ...args) on nt threads: workers 1..nt-1 (which must be ready: see prepare) and
   * the caller as tid 0, through mainFn, the caller's own instance of the export.
   */
  run(fnIndex: number, fnName: string, mainFn: (...a: number[]) => unknown, args: readonly number[], nt: number): void {
    const { i32, f64 } = this;
    i32[C_FN] = fnIndex;
    i32[C_NT] = nt;
    i32[C_ARGC] = args.length;
    for (let i = 0; i < args.length; i++) f64[ARGS_F64 + i] = args[i]!;
    i32[C_ERR_TID] = 0;
    i32[C_ERR_LEN] = 0;
    const spin = nt <= this.cores;
    i32[C_SPIN_US] = spin ? WORKER_SPIN_US : 0;
    Atomics.store(i32, C_DONE, 0);
    // The stores above happen before each worker's Atomics.load of its job word sees the new job.
    this.job = (this.job + 1) | 0;
    const job = this.job;
    for (let tid = 1; tid < nt; tid++) {
      Atomics.store(i32, JOB_I32 + tid, job);
      Atomics.notify(i32, JOB_I32 + tid);
    }
    let mainError: unknown;
    let mainFailed = false;
    try {
      mainFn(0, nt, ...args);
    } catch (e) {
      mainFailed = true;
      mainError = e;
    }
    // Wait for every worker even after our own share failed: they are still using the memory.
    const target = nt - 1;
    if (Atomics.load(i32, C_DONE) !== target) {
      const until = performance.now() + (spin ? CALLER_SPIN_US / 1000 : 0);
      while (Atomics.load(i32, C_DONE) !== target && performance.now() < until) {}
      for (let done = Atomics.load(i32, C_DONE); done !== target; done = Atomics.load(i32, C_DONE)) {
        Atomics.wait(i32, C_DONE, done);
      }
    }
    if (mainFailed) throw new WasmTrapError(fnName, 0, nt, describeError(mainError), { cause: mainError });
    const errTid = Atomics.load(i32, C_ERR_TID);
    if (errTid !== 0) throw new WasmTrapError(fnName, errTid - 1, nt, this.errorText());
  }

  private errorText(): string {
    const n = Atomics.load(this.i32, C_ERR_LEN);
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.u16[ERR_U16 + i]!);
    return s;
  }
}

export function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
