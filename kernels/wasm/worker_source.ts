// The code every pool worker runs, as a JS string: Node starts it with
// `new Worker(WORKER_SOURCE, { eval: true, workerData })`, a page from a Blob URL of the same text
// (then the data arrives in the first message). It is a string, not a function turned into text,
// so no bundler or TS transform can slip helpers into it.
//
// The control region: the first CONTROL_BYTES of the shared memory, which the arena never hands
// out. Its layout, shared by the caller (threads.ts) and the workers:
//
//   i32[C_DONE]         workers that finished the current job (the caller waits for nt - 1)
//   i32[C_NT]           threads in the current job
//   i32[C_FN]           index of the function in the export list both sides build
//   i32[C_ARGC]         number of arguments after (tid, nt)
//   i32[C_ERR_TID]      0, or 1 + the tid of the first worker that threw (its message follows)
//   i32[C_ERR_LEN]      length of that message in UTF-16 code units
//   i32[C_SPIN_US]      how long a worker spins after this job before sleeping (µs)
//   f64[ARGS_F64 + i]   argument i: a double carries any i32 and any f32 exactly
//   i32[JOB_I32 + tid]  worker tid's job word: the caller stores a new job number to hand it work
//   i32[READY_I32 + tid] 0 starting, 1 ready, 2 failed to start (message in the error text)
//   u16[ERR_U16 + i]    the error text

export const CONTROL_BYTES = 8192;
export const C_DONE = 0;
export const C_NT = 1;
export const C_FN = 2;
export const C_ARGC = 3;
export const C_ERR_TID = 4;
export const C_ERR_LEN = 5;
export const C_SPIN_US = 6;
/** Arguments start at byte 64: Float64 index 8. */
export const ARGS_F64 = 8;
export const MAX_ARGS = 60;
/** Job words at byte 1024. */
export const JOB_I32 = 256;
/** Ready words at byte 2048. */
export const READY_I32 = 512;
/** The most threads a pool can have (tid 0 is the caller; job and ready words fit 256). */
export const MAX_THREADS = 256;
/** Error text at byte 4096, up to 2048 UTF-16 code units. */
export const ERR_U16 = 2048;
export const ERR_MAX_CHARS = 2048;

/** What a worker receives: the shared memory, the compiled modules and its own tid. */
export interface WorkerData {
  memory: WebAssembly.Memory;
  modules: WebAssembly.Module[];
  /** Function names in job-index order (the caller's list, so indices agree by construction). */
  names: string[];
  tid: number;
}

export const WORKER_SOURCE = `'use strict';
(function () {
  function writeError(i32, u16, tid, text, always) {
    // the first thread to fail in a job records its message; later ones only count as done
    if (Atomics.compareExchange(i32, ${C_ERR_TID}, 0, tid + 1) !== 0 && !always) return;
    const n = Math.min(text.length, ${ERR_MAX_CHARS});
    for (let i = 0; i < n; i++) u16[${ERR_U16} + i] = text.charCodeAt(i);
    Atomics.store(i32, ${C_ERR_LEN}, n);
  }

  function describe(e) {
    return e instanceof Error ? e.name + ': ' + e.message : String(e);
  }

  function start(data) {
    const memory = data.memory;
    const tid = data.tid;
    const i32 = new Int32Array(memory.buffer, 0, ${CONTROL_BYTES / 4});
    const f64 = new Float64Array(memory.buffer, 0, ${CONTROL_BYTES / 8});
    const u16 = new Uint16Array(memory.buffer, 0, ${CONTROL_BYTES / 2});
    const jobWord = ${JOB_I32} + tid;
    const fns = [];
    try {
      const byName = new Map();
      for (const module of data.modules) {
        const instance = new WebAssembly.Instance(module, { env: { memory: memory } });
        for (const name of Object.keys(instance.exports)) byName.set(name, instance.exports[name]);
      }
      for (const name of data.names) {
        const fn = byName.get(name);
        if (typeof fn !== 'function') throw new Error('export ' + name + ' not found in the modules');
        fns.push(fn);
      }
    } catch (e) {
      writeError(i32, u16, tid, 'worker thread ' + tid + ' failed to start: ' + describe(e), true);
      Atomics.store(i32, ${READY_I32} + tid, 2);
      Atomics.notify(i32, ${READY_I32} + tid);
      return;
    }
    let seen = Atomics.load(i32, jobWord);
    Atomics.store(i32, ${READY_I32} + tid, 1);
    Atomics.notify(i32, ${READY_I32} + tid);
    const argv = [];
    let spinMs = 0;
    for (;;) {
      // wait for a new job number in our word: spin a little (a sleeping thread takes up to
      // ~0.3 ms to wake), then sleep until the caller notifies
      if (Atomics.load(i32, jobWord) === seen) {
        const until = performance.now() + spinMs;
        while (Atomics.load(i32, jobWord) === seen && performance.now() < until) {}
        while (Atomics.load(i32, jobWord) === seen) Atomics.wait(i32, jobWord, seen);
      }
      seen = Atomics.load(i32, jobWord);
      const nt = i32[${C_NT}];
      const argc = i32[${C_ARGC}];
      spinMs = i32[${C_SPIN_US}] / 1000;
      argv.length = argc + 2;
      argv[0] = tid;
      argv[1] = nt;
      for (let i = 0; i < argc; i++) argv[i + 2] = f64[${ARGS_F64} + i];
      try {
        fns[i32[${C_FN}]].apply(undefined, argv);
      } catch (e) {
        writeError(i32, u16, tid, describe(e));
      }
      // the last worker to finish wakes the caller (if it is asleep)
      if (Atomics.add(i32, ${C_DONE}, 1) === nt - 2) Atomics.notify(i32, ${C_DONE});
    }
  }

  // Node: worker_threads through process.getBuiltinModule (there is no require() when the worker
  // inherits --input-type=module, or in an ESM-only host); require() on Node builds older than 20.16
  const node = typeof process === 'object' && process.versions && process.versions.node;
  if (node) {
    const wt = typeof process.getBuiltinModule === 'function' ? process.getBuiltinModule('node:worker_threads') : require('node:worker_threads');
    start(wt.workerData);
  } else {
    self.onmessage = function (event) {
      self.onmessage = null;
      start(event.data);
    };
  }
})();
`;
