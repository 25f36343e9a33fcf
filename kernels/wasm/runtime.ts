// The WASM runtime: one shared memory, a scratch arena in it, the compiled kernel modules and a
// pool of threads that run them.
//
// Memory. Every module imports the same `WebAssembly.Memory({ shared: true })`, so kernels on any
// thread see the same bytes and JS reads results through typed-array views over it. Pointers
// passed to kernels are byte offsets into it. The first CONTROL_BYTES hold the thread pool's
// control region (worker_source.ts); the rest is the arena.
//
// Arena. A bump allocator with stack discipline: alloc() moves a top pointer up (64-byte aligned,
// one cache line, so threads writing neighbouring buffers never share a line), mark() remembers the
// top and release(mark) moves it back. A kernel wrapper does `const m = rt.mark(); try { alloc, put,
// run, copy out } finally { rt.release(m) }`, so the same region is reused call after call and
// nothing is freed one by one. When the top passes the end, the memory grows in big steps (it
// never shrinks): growth is rare and the pages stay touched. Growing replaces memory.buffer, which
// is why f32()/i32() hand out fresh views and nobody should keep one across an alloc().
//
// Threads. run(fn, args) calls the export fn(tid, nt, ...args) on nt threads: tid 0 is the caller,
// tids 1..nt-1 are pool workers (threads.ts), each with its own instance of every module over the
// same memory. Each thread computes its own share of the work, decided inside the kernel from
// (tid, nt).
//
// Why synchronous. The tensor API is PyTorch-shaped: ops return their results. Node lets the main
// thread block in Atomics.wait, so run() hands out the job, does tid 0's share and waits, and the
// caller never sees a Promise. A page's main thread may not block, so there the runtime runs on
// one thread; inside a Web Worker of a cross-origin-isolated page it is threaded like Node.
//
// Relaxed SIMD (f32x4.relaxed_madd, a fused multiply-add) is off by default in Node 20; it is
// switched on with a V8 flag before anything is compiled, then detected with WebAssembly.validate,
// and the `*.relaxed` modules are loaded only where it validates. Kernels ask has('x_relaxed').

import { wasmModules } from './generated/index.js';
import { describeError, nodeSpawner, type SpawnWorker, WasmError, WasmTrapError, WorkerPool, webSpawner } from './threads.js';
import { CONTROL_BYTES, MAX_ARGS, MAX_THREADS } from './worker_source.js';

export { WasmError, WasmTrapError } from './threads.js';

export interface WasmRuntime {
  /** The shared memory every module imports; grows on demand. */
  readonly memory: WebAssembly.Memory;
  /** Relaxed-SIMD modules are loaded (their exports end in `_relaxed`). */
  readonly relaxed: boolean;
  /**
   * The memory is shared (threads possible; typed-array views survive growth). Unshared where the
   * host has no SharedArrayBuffer: one thread, and growth detaches every view made before it.
   */
  readonly shared: boolean;
  /** A view over the whole memory; made anew after growth, so never keep one across alloc(). */
  f32(): Float32Array;
  i32(): Int32Array;
  /** A 64-byte-aligned byte offset of `bytes` bytes in the arena (stack discipline: see mark/release). */
  alloc(bytes: number): number;
  /** The arena's top, to hand back to release(). */
  mark(): number;
  /** Frees everything allocated since mark() returned `mark`; innermost mark first. */
  release(mark: number): void;
  /** alloc + copy src in; returns the byte offset. */
  put(src: Float32Array): number;
  /**
   * Take `bytes` (64-byte aligned) out of the arena for good — for memory managed by someone else
   * (tensor storage: core/cpu/wasm_heap.ts) — or return -1 when a mark is open (the arena is not
   * at its floor). The scratch arena then starts above the reserved region.
   */
  reserve(bytes: number): number;
  /** Is `buffer` this memory's buffer (the current one, or one from before a growth)? */
  owns(buffer: ArrayBufferLike): boolean;
  has(fn: string): boolean;
  /** fn(tid, nt, ...args) on `threads` threads, the caller being tid 0; returns when all are done. */
  run(fn: string, args: readonly number[]): void;
  /** fn(0, 1, ...args) on the calling thread only. */
  runSingle(fn: string, args: readonly number[]): void;
  /** The nt that run() uses now. */
  readonly threads: number;
}

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB: the whole i32 address space
const INITIAL_PAGES = 256; // 16 MiB
/** The most one growth step adds beyond what is needed, in pages (256 MiB). */
const MAX_GROWTH_STEP_PAGES = 4096;
const ALIGN = 64;

// ---------------------------------------------------------------------------------------------
// Thread count: setNumThreads(n) > RESGRAD_NUM_THREADS > the number of cores.

let requestedThreads: number | undefined;

function checkThreadCount(n: number, what: string, shown: string): number {
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS) {
    throw new WasmError(`${what} must be an integer from 1 to ${MAX_THREADS}, got ${shown}`);
  }
  return n;
}

/** The thread count an environment variable asks for: undefined when unset or blank. */
export function parseNumThreads(raw: string | undefined, name = 'RESGRAD_NUM_THREADS'): number | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const text = raw.trim();
  return checkThreadCount(/^[0-9]+$/.test(text) ? Number(text) : Number.NaN, name, `'${raw}'`);
}

function hardwareThreads(): number {
  const os = nodeModule('node:os');
  if (os !== undefined) return Math.min(os.availableParallelism(), MAX_THREADS);
  const cores = globalThis.navigator?.hardwareConcurrency;
  return typeof cores === 'number' && cores >= 1 ? Math.min(cores, MAX_THREADS) : 1;
}

/** Threads that run() uses from its next call on (the pool starts workers as needed). */
export function setNumThreads(n: number): void {
  requestedThreads = checkThreadCount(n, 'setNumThreads: n', typeof n === 'number' ? String(n) : `${typeof n} ${String(n)}`);
  runtime?.prestartThreads();
}

/** The thread count asked for: setNumThreads, else RESGRAD_NUM_THREADS, else the number of cores. */
export function getNumThreads(): number {
  requestedThreads ??= parseNumThreads(globalThis.process?.env?.RESGRAD_NUM_THREADS) ?? hardwareThreads();
  return requestedThreads;
}

// ---------------------------------------------------------------------------------------------
// Host detection.

interface NodeBuiltins {
  'node:os': typeof import('node:os');
  'node:v8': typeof import('node:v8');
  'node:worker_threads': typeof import('node:worker_threads');
}

/** A Node built-in without a static import (which would break a browser bundle); undefined outside Node. */
function nodeModule<K extends keyof NodeBuiltins>(id: K): NodeBuiltins[K] | undefined {
  const proc = globalThis.process as { versions?: { node?: string }; getBuiltinModule?: (id: string) => unknown } | undefined;
  if (typeof proc?.versions?.node !== 'string' || typeof proc.getBuiltinModule !== 'function') return undefined;
  return proc.getBuiltinModule(id) as NodeBuiltins[K];
}

function isNode(): boolean {
  return typeof globalThis.process?.versions?.node === 'string';
}

/** How this host can run workers: a spawner, whether the caller may block on them, or why not. */
function threadSupport(): { spawn: SpawnWorker; blocking: boolean } | { reason: string } {
  if (isNode()) {
    const workerThreads = nodeModule('node:worker_threads');
    if (workerThreads === undefined) return { reason: 'Node has no process.getBuiltinModule (needs 20.16 or later)' };
    return { spawn: nodeSpawner(workerThreads), blocking: true };
  }
  const g = globalThis as { document?: unknown; crossOriginIsolated?: boolean; WorkerGlobalScope?: unknown; Worker?: unknown };
  if (g.crossOriginIsolated !== true) return { reason: 'page not cross-origin isolated' };
  if (g.document !== undefined || g.WorkerGlobalScope === undefined) {
    return { reason: "a page's main thread may not block in Atomics.wait; run the engine in a Web Worker for threads" };
  }
  if (typeof g.Worker !== 'function') return { reason: 'this worker cannot start nested Web Workers' };
  return { spawn: webSpawner(), blocking: false };
}

// ---------------------------------------------------------------------------------------------
// Loading.

// (module (func (param v128 v128 v128) (result v128) (f32x4.relaxed_madd (local.get 0) (local.get 1) (local.get 2))))
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 8, 1, 96, 3, 123, 123, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11,
]);

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Turns relaxed SIMD on in Node 20's V8 (browsers have it on); true if it validates afterwards. */
function enableRelaxedSimd(): boolean {
  if (WebAssembly.validate(RELAXED_PROBE)) return true;
  nodeModule('node:v8')?.setFlagsFromString('--experimental-wasm-relaxed-simd');
  return WebAssembly.validate(RELAXED_PROBE);
}

interface ExportEntry {
  index: number;
  fn: (...args: number[]) => unknown;
  /** Parameters after (tid, nt). */
  arity: number;
}

class Runtime implements WasmRuntime {
  readonly relaxed: boolean;
  private readonly exports = new Map<string, ExportEntry>();
  private readonly names: string[] = [];
  private readonly modules: WebAssembly.Module[];
  private top = CONTROL_BYTES;
  /** The arena's floor: everything below is the control region or reserved for good. */
  private floor = CONTROL_BYTES;
  /** Every buffer object memory.buffer has handed out (one per growth): views on any of them alias the memory. */
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  private viewBuffer: ArrayBufferLike | undefined;
  private f32View = new Float32Array(0);
  private i32View = new Int32Array(0);
  private pool: WorkerPool | undefined;

  readonly shared: boolean;

  constructor(
    readonly memory: WebAssembly.Memory,
    modules: { module: WebAssembly.Module; relaxed: boolean }[],
    relaxed: boolean,
    private readonly threading: { spawn: SpawnWorker; blocking: boolean } | { reason: string },
  ) {
    this.relaxed = relaxed;
    this.shared = typeof SharedArrayBuffer === 'function' && memory.buffer instanceof SharedArrayBuffer;
    this.modules = modules.map((m) => m.module);
    for (const module of this.modules) {
      const instance = new WebAssembly.Instance(module, { env: { memory } });
      for (const { name, kind } of WebAssembly.Module.exports(module)) {
        if (kind !== 'function') continue;
        const fn = instance.exports[name] as (...args: number[]) => unknown;
        this.exports.set(name, { index: this.names.length, fn, arity: fn.length - 2 });
        this.names.push(name);
      }
    }
    this.prestartThreads();
  }

  /**
   * In a page, Web Workers start only after this thread returns to its event loop, so they are
   * started as soon as the count is known and join the runs made after they are ready.
   */
  prestartThreads(): void {
    if (!('reason' in this.threading) && !this.threading.blocking) this.startThreads(getNumThreads());
  }

  /** Why run() is single-threaded whatever the thread count, or undefined when it can use workers. */
  get threadLimitReason(): string | undefined {
    return 'reason' in this.threading ? this.threading.reason : undefined;
  }

  get threads(): number {
    const requested = getNumThreads();
    if ('reason' in this.threading || requested === 1) return 1;
    // Node starts missing workers inside run() and waits for them; a page uses the ready ones.
    return this.threading.blocking ? requested : (this.pool?.readyThreads(requested) ?? 1);
  }

  /** Threads for a run now, starting workers as needed. */
  private startThreads(requested: number): number {
    if ('reason' in this.threading || requested === 1) return 1;
    this.pool ??= new WorkerPool(this.memory, this.modules, this.names, this.threading.spawn, this.threading.blocking, hardwareThreads());
    return this.pool.prepare(requested);
  }

  f32(): Float32Array {
    this.refreshViews();
    return this.f32View;
  }

  i32(): Int32Array {
    this.refreshViews();
    return this.i32View;
  }

  private refreshViews(): void {
    const buffer = this.memory.buffer;
    if (buffer !== this.viewBuffer) {
      this.viewBuffer = buffer;
      this.buffers.add(buffer);
      this.f32View = new Float32Array(buffer);
      this.i32View = new Int32Array(buffer);
    }
  }

  alloc(bytes: number): number {
    if (!Number.isInteger(bytes) || bytes < 0) throw new WasmError(`alloc: bytes must be a non-negative integer, got ${String(bytes)}`);
    const offset = Math.ceil(this.top / ALIGN) * ALIGN;
    const end = offset + bytes;
    this.ensureCapacity(end, bytes);
    this.top = end;
    return offset;
  }

  /** Grows the memory so that [0, end) exists: at least doubling it (by up to 256 MiB more than needed). */
  private ensureCapacity(end: number, bytes: number): void {
    const pages = this.memory.buffer.byteLength / PAGE;
    const needed = Math.ceil(end / PAGE);
    if (needed <= pages) return;
    if (needed > MAX_PAGES) {
      throw new WasmError(`alloc: ${bytes} bytes do not fit: the arena would end at byte ${end}, past the 4 GiB of a wasm memory (${this.top} bytes in use)`);
    }
    const target = Math.min(MAX_PAGES, Math.max(needed, Math.min(2 * pages, needed + MAX_GROWTH_STEP_PAGES)));
    try {
      this.memory.grow(target - pages);
    } catch (e) {
      try {
        this.memory.grow(needed - pages); // the big step failed: ask for what this alloc needs
      } catch {
        throw new WasmError(`alloc: could not grow the wasm memory to ${(needed * PAGE) / 2 ** 20} MiB for ${bytes} bytes: ${describeError(e)}`);
      }
    }
  }

  mark(): number {
    return this.top;
  }

  reserve(bytes: number): number {
    if (this.top !== this.floor) return -1;
    const offset = this.alloc(bytes);
    this.floor = this.top;
    return offset;
  }

  owns(buffer: ArrayBufferLike): boolean {
    if (buffer === this.viewBuffer) return true;
    this.refreshViews();
    return this.buffers.has(buffer);
  }

  release(mark: number): void {
    if (!Number.isInteger(mark) || mark < this.floor) throw new WasmError(`release: mark must be a value returned by mark(), got ${String(mark)}`);
    if (mark > this.top) {
      throw new WasmError(
        `release: mark ${mark} is above the arena top ${this.top}: an enclosing mark was already released (release marks innermost first)`,
      );
    }
    this.top = mark;
  }

  put(src: Float32Array): number {
    if (!(src instanceof Float32Array)) throw new WasmError(`put: src must be a Float32Array, got ${describeValue(src)}`);
    const offset = this.alloc(src.byteLength);
    this.f32().set(src, offset / 4);
    return offset;
  }

  has(fn: string): boolean {
    return this.exports.has(fn);
  }

  run(fn: string, args: readonly number[]): void {
    const entry = this.lookup('run', fn, args);
    const nt = this.startThreads(getNumThreads());
    if (nt === 1) this.callSingle(fn, entry, args);
    else this.pool!.run(entry.index, fn, entry.fn, args, nt);
  }

  runSingle(fn: string, args: readonly number[]): void {
    this.callSingle(fn, this.lookup('runSingle', fn, args), args);
  }

  private callSingle(fn: string, entry: ExportEntry, args: readonly number[]): void {
    try {
      entry.fn(0, 1, ...args);
    } catch (e) {
      throw new WasmTrapError(fn, 0, 1, describeError(e), { cause: e });
    }
  }

  private lookup(caller: string, fn: string, args: readonly number[]): ExportEntry {
    const entry = this.exports.get(fn);
    if (entry === undefined) {
      const family = typeof fn === 'string' ? fn.split('_')[0] : '';
      const near = this.names.filter((n) => n.startsWith(`${family}_`));
      const known = near.length > 0 ? near : this.names;
      throw new WasmError(`${caller}: unknown wasm function ${describeValue(fn)}; known: ${known.join(', ')}`);
    }
    if (!Array.isArray(args)) throw new WasmError(`${caller}('${fn}'): args must be an array of numbers, got ${describeValue(args)}`);
    if (args.length !== entry.arity) {
      throw new WasmError(`${caller}('${fn}'): expects ${entry.arity} arguments after (tid, nt), got ${args.length}`);
    }
    if (args.length > MAX_ARGS) throw new WasmError(`${caller}('${fn}'): at most ${MAX_ARGS} arguments pass through the pool, got ${args.length}`);
    for (let i = 0; i < args.length; i++) {
      if (typeof args[i] !== 'number') throw new WasmError(`${caller}('${fn}'): args[${i}] must be a number, got ${describeValue(args[i])}`);
    }
    return entry;
  }
}

function describeValue(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean') return String(v);
  return Object.prototype.toString.call(v).slice(8, -1);
}

// ---------------------------------------------------------------------------------------------
// The one runtime.

let runtime: Runtime | null | undefined;
let unavailable = '';

/**
 * The same module importing an unshared memory: the import's limits flag 0x03 (maximum, shared)
 * becomes 0x01 (maximum). For hosts without SharedArrayBuffer (a page that is not cross-origin
 * isolated), where the runtime then runs single-threaded. Atomic instructions stay valid on an
 * unshared memory. Our modules import exactly one thing, the memory (the build checks it).
 */
export function unshareMemoryImport(bytes: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const out = bytes.slice();
  const leb = (p: number): [number, number] => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = out[p++] as number;
      v |= (b & 0x7f) << shift;
      shift += 7;
      if (b < 0x80) return [v >>> 0, p];
    }
  };
  let p = 8; // magic + version
  while (p < out.length) {
    const id = out[p++] as number;
    const [size, body] = leb(p);
    if (id === 2) {
      const [count, q0] = leb(body);
      if (count !== 1) throw new WasmError(`unshareMemoryImport: expected one import (the memory), found ${count}`);
      const [modLen, q1] = leb(q0);
      const [fieldLen, q2] = leb(q1 + modLen);
      const q = q2 + fieldLen;
      const kind = out[q] as number;
      if (kind !== 2) throw new WasmError(`unshareMemoryImport: expected a memory import, found import kind ${kind}`);
      if (out[q + 1] === 0x03) out[q + 1] = 0x01;
      return out;
    }
    p = body + size;
  }
  throw new WasmError('unshareMemoryImport: the module imports no memory');
}

function load(opts: { shared?: boolean } = {}): Runtime | null {
  if (typeof WebAssembly !== 'object') return fail('no WebAssembly');
  const shared = (opts.shared ?? true) && typeof SharedArrayBuffer === 'function';
  const relaxedSimd = enableRelaxedSimd();
  const modules: { module: WebAssembly.Module; relaxed: boolean }[] = [];
  for (const m of wasmModules) {
    const raw = decodeBase64(m.base64);
    const bytes = shared ? raw : unshareMemoryImport(raw);
    if (m.relaxed && !relaxedSimd) continue;
    if (!WebAssembly.validate(bytes)) {
      if (m.relaxed) continue;
      return fail(`module '${m.name}' does not validate here (no SIMD128 or threads?)`);
    }
    modules.push({ module: new WebAssembly.Module(bytes), relaxed: m.relaxed });
  }
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAX_PAGES, shared });
  } catch (e) {
    return fail(`cannot create a${shared ? ' shared' : 'n'} WebAssembly.Memory: ${describeError(e)}`);
  }
  const relaxed = relaxedSimd && modules.some((m) => m.relaxed);
  const threads = shared ? threadSupport() : { reason: 'no SharedArrayBuffer (a page must be cross-origin isolated: COOP/COEP headers)' };
  return new Runtime(memory, modules, relaxed, threads);
}

/** A runtime of its own (not the one getWasm() shares), e.g. over an unshared memory for a test. */
export function createWasmRuntime(opts: { shared?: boolean } = {}): WasmRuntime | null {
  return load(opts);
}

function fail(reason: string): null {
  unavailable = reason;
  return null;
}

/** The runtime, instantiated on first use; null where WebAssembly SIMD or shared memory is unavailable (describeWasm says why). */
export function getWasm(): WasmRuntime | null {
  if (runtime === undefined) runtime = load();
  return runtime;
}

/** One line for logs and bench headers: "wasm simd128 + relaxed fma, 2 threads". */
export function describeWasm(): string {
  const rt = getWasm() as Runtime | null;
  if (rt === null) return `wasm unavailable: ${unavailable}`;
  const nt = rt.threads;
  const limit = rt.threadLimitReason;
  return `wasm simd128${rt.relaxed ? ' + relaxed fma' : ''}, ${nt} thread${nt === 1 ? '' : 's'}${limit === undefined ? '' : ` (${limit})`}`;
}
