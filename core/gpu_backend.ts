// The GPU backend: the backend interface (core/backend.ts) on gpu.js. Buffers live on the
// device between ops — gpu.js `pipeline: true` outputs (textures in WebGL, storage buffers in
// WebGPU) — and come back only through download/readSync. The kernels are generated sources
// from kernels/gpu, compiled once per shape signature and cached.
//
// Numbers: gpu.js computes in float32, so float32 is the only float dtype here (a float64
// tensor on the GPU is a DTypeError). int32 tensors (labels, comparison masks) are carried as
// float32 values, which is exact for integers below 2^24 in magnitude; for the same reason
// buffers are limited to 2^24 elements (positions are float32 inside the shaders).
// gpu.js lays a buffer out as a near-square texture (textureSide), so 2^24 elements need
// 4096x4096, within every MAX_TEXTURE_SIZE we meet; launch() checks both limits.
//
// Memory: a buffer's texture is freed by dispose(), by the end of a tidy() scope that made it, or
// by the garbage collector once no tensor holds it (a FinalizationRegistry); see below.
//
// Nothing falls back silently: initGpu checks that gpu.js picked the kernel class of the mode
// asked for, every kernel is checked again after its first build (gpu.js swaps a kernel that
// fails to build for a CPU one with only a console warning), and describe() names the renderer
// that actually draws (llvmpipe, SwiftShader, a real GPU).
//
// gpu.js is imported dynamically by initGpu, so importing resgrad never loads it.
import { type Backend, type KernelAttrs, type KernelOutput, registerBackend } from './backend.js';
import type { DType, TypedArray } from './dtype.js';
import { DTypeError, DeviceError, ValueError, fmtShape } from './errors.js';
import { numel } from './shape.js';
import { type GradNode, type Storage, Tensor } from './tensor.js';
import './gpu/index.js';
import { type GpuInput, assertGpuDType, gpuKernels, gpuOut, registerGpuKernel } from './gpu/registry.js';
import { type GpuBinaryOp, GPU_BINARY, GPU_UNARY, type GpuUnaryOp, binarySource, copySource, fillSource, unarySource, uploadSource, whereSource } from '../kernels/gpu/elementwise.js';
import { gemmLoopBound, gemmSource } from '../kernels/gpu/gemm.js';
import { type GpuReduceOp, reduceLoopBound, reduceSource } from '../kernels/gpu/reduce.js';

export type GpuMode = 'headlessgl' | 'webgl2' | 'webgl' | 'webgpu' | 'cpu';
export const GPU_MODES: readonly GpuMode[] = ['headlessgl', 'webgl2', 'webgl', 'webgpu', 'cpu'];

export interface GpuOptions {
  mode: GpuMode;
  /**
   * Run every kernel through gpu.js's Promise contract (buffers then hold promises and are read
   * only with `await data()`). Always on for 'webgpu', whose kernels are asynchronous; in the
   * other modes it exercises the same code path.
   */
  asyncMode?: boolean;
}

/** What a gpu.js pipeline kernel returns: a texture (GL), a buffer handle (WebGPU), an array (cpu). */
type DeviceValue = Float32Array | { toArray(): Float32Array | Promise<Float32Array>; delete(): void };

/** One device buffer: `size` float32 slots, a device value (or a promise of one in async mode). */
export class GpuBuffer {
  released = false;
  constructor(
    readonly size: number,
    readonly value: DeviceValue | Promise<DeviceValue> | null,
  ) {}
}

type HeldValue = DeviceValue | Promise<DeviceValue> | null;

/**
 * Free a device value (textures: gpu.js drops its ref; the GL texture goes with the last one).
 * An async value is freed once every kernel launched so far has run (`settled`): a kernel that
 * reads it may still be waiting for its other inputs when its tensor dies.
 */
function freeValue(value: HeldValue, settled: Promise<unknown>): void {
  const free = (v: DeviceValue | null) => {
    if (v && !(v instanceof Float32Array)) v.delete();
  };
  if (isPromise(value)) settled.then(() => value.then(free, () => {}));
  else free(value);
}

// The slice of gpu.js we use, typed here so the rest of the file stays strict.
interface KernelRun {
  (...args: unknown[]): DeviceValue | Promise<DeviceValue>;
  kernel: { constructor: unknown; fallbackReason?: string };
}
interface GpuJs {
  Kernel: unknown;
  context: unknown;
  createKernel(source: string, settings: Record<string, unknown>): KernelRun;
}
type GpuJsModule = {
  GPU: new (settings: Record<string, unknown>) => GpuJs;
  HeadlessGLKernel: unknown;
  WebGL2Kernel: unknown;
  WebGLKernel: unknown;
  WebGPUKernel: unknown;
  CPUKernel: unknown;
};

/** Positions inside shaders are float32: exact integers end at 2^24. */
export const MAX_GPU_ELEMENTS = 2 ** 24;

/**
 * The texture gpu.js draws a 1-D output of `size` elements into (utils.closestSquareDimensions,
 * one float per texel at precision 'single'): start at ⌊√n⌋ x ⌈√n⌉ and, if that is short, take
 * the side h = ⌈√n⌉ - 1 and w = ⌈n/h⌉. Either way both sides are at most ⌈√n⌉ + 1, so the
 * largest buffer we allow, 2^24 elements, needs 4096 x 4096 — within the 8192 of
 * Chromium/SwiftShader and the 16384 of headless-gl; only a context under 4097 can refuse it.
 */
export function textureSide(size: number): [number, number] {
  if (size <= 0) return [0, 0];
  let high = Math.ceil(Math.sqrt(size));
  let low = Math.floor(Math.sqrt(size));
  while (high * low < size) {
    high--;
    low = Math.ceil(size / high);
  }
  return [low, Math.ceil(size / low)];
}

const isPromise = (v: unknown): v is Promise<DeviceValue> => typeof (v as { then?: unknown } | null)?.then === 'function';
const className = (k: unknown): string => (k as { name?: string } | null)?.name ?? String(k);

export class GpuBackend implements Backend<GpuBuffer> {
  readonly device = 'gpu' as const;
  /** Buffers allocated and not yet released (for leak checks). */
  liveBuffers = 0;
  /**
   * The garbage collector's way to free a texture: every buffer is registered with its device
   * value, and when the GpuBuffer (held only by its Storage, so by the tensors that view it and
   * the autograd nodes that saved them) becomes unreachable, the value is freed. The held value
   * is the device value itself, never the GpuBuffer, or the buffer could never die. release()
   * unregisters, so nothing is freed twice. CPU storages hold plain typed arrays and never pass here.
   */
  private readonly finalizer = new FinalizationRegistry<HeldValue>((value) => {
    this.liveBuffers--;
    this.collected++;
    freeValue(value, this.settled);
  });
  /** Resolves when every kernel launched so far has run (async mode). */
  private settled: Promise<unknown> = Promise.resolve();
  /** Buffers freed by the garbage collector (the rest were released by dispose, scopes or swaps). */
  collected = 0;
  /** Largest texture side the context allows (GL modes; Infinity elsewhere), set by initGpu. */
  maxTextureSize = Number.POSITIVE_INFINITY;
  private readonly cache = new Map<string, KernelRun>();
  private readonly verified = new Set<KernelRun>();

  constructor(
    private readonly gpu: GpuJs,
    readonly mode: GpuMode,
    private readonly expectedKernel: unknown,
    readonly asyncMode: boolean,
    public renderer = '',
  ) {}

  describe(): string {
    return `gpu: gpu.js ${this.mode}${this.asyncMode ? ' (async)' : ''} on ${this.renderer}`;
  }

  /** How many kernels have been compiled (one per kernel family and shape signature). */
  get compiledKernels(): number {
    return this.cache.size;
  }

  /** The gpu.js context (a WebGL context in GL modes), for renderer queries. */
  get context(): unknown {
    return this.gpu.context;
  }

  allocate(dtype: DType, size: number): GpuBuffer {
    assertGpuDType(dtype, 'allocate');
    return this.launch('fill0', fillSource(0), size, 1, [], []);
  }

  upload(data: TypedArray): GpuBuffer {
    if (data instanceof Float64Array) {
      throw new DTypeError('gpu: float64 tensors are not supported (gpu.js computes in float32); convert with .to(\'float32\') before moving to the gpu');
    }
    const f32 = data instanceof Float32Array ? data : Float32Array.from(data); // int32: exact below 2^24
    return this.launch('upload', uploadSource(), f32.length, 1, [f32], []);
  }

  async download(buffer: GpuBuffer, dtype: DType, size: number): Promise<TypedArray> {
    this.assertLive(buffer);
    const value = await buffer.value;
    return toHost(value === null ? new Float32Array(0) : await (value instanceof Float32Array ? value : value.toArray()), dtype, size);
  }

  readSync(buffer: GpuBuffer, dtype: DType, size: number): TypedArray {
    this.assertLive(buffer);
    const value = buffer.value;
    if (value === null) return toHost(new Float32Array(0), dtype, size);
    if (isPromise(value)) {
      throw new DeviceError(`gpu (${this.mode}${this.asyncMode ? ', async' : ''}): buffers are read asynchronously; use \`await tensor.data()\``);
    }
    const host = value instanceof Float32Array ? value : value.toArray();
    if (isPromise(host)) throw new DeviceError(`gpu (${this.mode}): this buffer can only be read with \`await tensor.data()\``);
    return toHost(host, dtype, size);
  }

  release(buffer: GpuBuffer): void {
    if (buffer.released) return;
    buffer.released = true;
    this.liveBuffers--;
    this.finalizer.unregister(buffer);
    freeValue(buffer.value, this.settled);
  }

  /** Called by Tensor.fromBuffer for every tensor born on this backend: the open scope owns it. */
  adopt(tensor: Tensor): void {
    scopes[scopes.length - 1]?.born.push(tensor);
  }

  hasKernel(name: string): boolean {
    return gpuKernels.has(name);
  }

  run(name: string, inputs: readonly GpuInput[], attrs: KernelAttrs): KernelOutput<GpuBuffer>[] {
    const k = gpuKernels.get(name);
    if (!k) {
      throw new DeviceError(`gpu backend has no kernel '${name}' yet (registered: ${[...gpuKernels.keys()].join(', ')}); move the tensor to the cpu for this op`);
    }
    for (const x of inputs) this.assertLive(x.buffer);
    return k(this, inputs, attrs);
  }

  /**
   * Run the kernel compiled from `source` (cached under key + source + size) over `size` output
   * elements. `buffers` are device values (or host arrays, for upload); `scalars` follow them.
   */
  launch(key: string, source: string, size: number, loopBound: number, buffers: readonly (GpuBuffer | Float32Array)[], scalars: readonly number[]): GpuBuffer {
    this.checkSize(key, size);
    if (size === 0) {
      this.liveBuffers++;
      return new GpuBuffer(0, null);
    }
    const fn = this.compiled(key, source, size, loopBound);
    const args = buffers.map((b) => (b instanceof GpuBuffer ? b.value : b));
    const call = (vals: readonly unknown[]) => {
      const out = fn(...vals, ...scalars);
      return isPromise(out) ? out.then((v) => this.verify(fn, v)) : this.verify(fn, out);
    };
    const value = this.asyncMode || args.some(isPromise) ? Promise.all(args).then(call) : call(args);
    if (isPromise(value)) {
      const done = value.then(() => {}, () => {});
      this.settled = this.settled.then(() => done);
    }
    this.liveBuffers++;
    const buffer = new GpuBuffer(size, value);
    this.finalizer.register(buffer, value, buffer);
    return buffer;
  }

  /**
   * Can one kernel output of `size` elements exist here? Two limits (see textureSide):
   * positions are float32 in the shaders, exact below 2^24; and gpu.js lays the output out as a
   * near-square texture, whose sides must fit MAX_TEXTURE_SIZE.
   */
  checkSize(key: string, size: number): void {
    if (size > MAX_GPU_ELEMENTS) {
      throw new DeviceError(
        `gpu ${key}: an output of ${size} elements exceeds the gpu backend's limit of 2^24 = ${MAX_GPU_ELEMENTS} elements (positions are float32 inside the shaders); split the batch`,
      );
    }
    const [w, h] = textureSide(size);
    if (Math.max(w, h) > this.maxTextureSize) {
      throw new DeviceError(
        `gpu ${key}: an output of ${size} elements needs a ${w}x${h} texture, but this context's MAX_TEXTURE_SIZE is ${this.maxTextureSize}; split the batch`,
      );
    }
  }

  private compiled(key: string, source: string, size: number, loopBound: number): KernelRun {
    const cacheKey = `${key}|${size}|${source}`;
    let fn = this.cache.get(cacheKey);
    if (!fn) {
      fn = this.gpu.createKernel(source, {
        output: [size],
        pipeline: true, // results stay on the device
        immutable: true, // every call gets its own output (released by release())
        precision: 'single',
        tactic: 'precision', // highp in GLSL
        dynamicArguments: true, // one compile serves inputs of any storage size
        loopMaxIterations: Math.max(1000, loopBound + 1),
        asyncMode: this.asyncMode,
      });
      this.cache.set(cacheKey, fn);
    }
    return fn;
  }

  /** After a kernel's first build: is it still the mode we asked for? */
  private verify<V>(fn: KernelRun, out: V): V {
    if (!this.verified.has(fn)) {
      const got = fn.kernel.constructor;
      if (got !== this.expectedKernel) {
        const why = fn.kernel.fallbackReason ? `: ${fn.kernel.fallbackReason}` : '';
        throw new DeviceError(`gpu: asked for ${this.mode}, but gpu.js ran this kernel with ${className(got)}${why}`);
      }
      this.verified.add(fn);
    }
    return out;
  }

  private assertLive(buffer: GpuBuffer): void {
    if (buffer.released) throw new DeviceError('gpu: this buffer was released');
  }
}


function toHost(values: Float32Array, dtype: DType, size: number): TypedArray {
  if (values.length < size) throw new DeviceError(`gpu: read ${values.length} values from a buffer of ${size}`);
  if (dtype === 'int32') return Int32Array.from(values.subarray(0, size), Math.round);
  assertGpuDType(dtype, 'download');
  return values.length === size ? values : values.slice(0, size);
}

// ---- kernels: same names, attrs and semantics as the CPU ones (core/cpu/*.ts) ----

const out = gpuOut;

// copy: contiguous copy of a view, optionally cast to attrs.dtype (int32 truncates toward 0).
registerGpuKernel('copy', (gpu, [x], attrs) => {
  const dtype = (attrs.dtype as DType | undefined) ?? x!.dtype;
  assertGpuDType(dtype, 'copy');
  const src = copySource(x!.shape, x!.strides, dtype === 'int32' && x!.dtype !== 'int32');
  return [out(gpu.launch('copy', src, numel(x!.shape), 1, [x!.buffer], [x!.offset]), dtype, x!.shape)];
});

registerGpuKernel('unary', (gpu, [x], attrs) => {
  const op = attrs.op as GpuUnaryOp;
  if (!(op in GPU_UNARY)) throw new ValueError(`gpu unary: unknown op '${op}'`);
  const src = unarySource(op, x!.shape, x!.strides);
  return [out(gpu.launch('unary', src, numel(x!.shape), 1, [x!.buffer], [x!.offset]), x!.dtype, x!.shape)];
});

// binary: a and b are views already broadcast to the output shape; attrs.dtype is the result type.
registerGpuKernel('binary', (gpu, [a, b], attrs) => {
  const op = attrs.op as GpuBinaryOp;
  if (!(op in GPU_BINARY)) throw new ValueError(`gpu binary: unknown op '${op}'`);
  const dtype = attrs.dtype as DType;
  assertGpuDType(dtype, 'binary');
  const src = binarySource(op, a!.shape, a!.strides, b!.strides);
  return [out(gpu.launch('binary', src, numel(a!.shape), 1, [a!.buffer, b!.buffer], [a!.offset, b!.offset]), dtype, a!.shape)];
});

registerGpuKernel('where', (gpu, [c, a, b]) => {
  const src = whereSource(a!.shape, c!.strides, a!.strides, b!.strides);
  const buf = gpu.launch('where', src, numel(a!.shape), 1, [c!.buffer, a!.buffer, b!.buffer], [c!.offset, a!.offset, b!.offset]);
  return [out(buf, a!.dtype, a!.shape)];
});

// matmul: a [...batch, M, K] @ b [...batch, K, N], both views broadcast to one batch shape.
registerGpuKernel('matmul', (gpu, [a, b]) => {
  const nd = a!.shape.length;
  const [M, K, N] = [a!.shape[nd - 2] as number, a!.shape[nd - 1] as number, b!.shape[nd - 1] as number];
  const batch = a!.shape.slice(0, nd - 2);
  const shape = [...batch, M, N];
  const size = numel(shape);
  if (b!.shape[nd - 2] !== K) throw new DeviceError(`gpu matmul: inner dims differ, ${fmtShape(a!.shape)} @ ${fmtShape(b!.shape)}`);
  if (K === 0) return [out(gpu.launch('fill0', fillSource(0), size, 1, [], []), a!.dtype, shape)];
  const g = { batch, M, N, K, aStrides: a!.strides, bStrides: b!.strides };
  return [out(gpu.launch('matmul', gemmSource(g), size, gemmLoopBound(g), [a!.buffer, b!.buffer], [a!.offset, b!.offset]), a!.dtype, shape)];
});

// reduce: attrs.dims are reduced; the output has the keepdim shape.
registerGpuKernel('reduce', (gpu, [x], attrs) => {
  const op = attrs.op as GpuReduceOp;
  const dims = attrs.dims as number[];
  const reduce = x!.shape.map((_, d) => dims.includes(d));
  const shape = x!.shape.map((s, d) => (reduce[d] ? 1 : s));
  const dtype = (attrs.dtype as DType | undefined) ?? x!.dtype;
  assertGpuDType(dtype, 'reduce');
  const size = numel(shape);
  if (numel(x!.shape) === 0) {
    if (op !== 'sum' && op !== 'prod') throw new ValueError(`gpu reduce: ${op} of an empty tensor has no identity`);
    return [out(gpu.launch(`fill-${op}`, fillSource(op === 'sum' ? 0 : 1), size, 1, [], []), dtype, shape)];
  }
  const src = reduceSource(op, x!.shape, x!.strides, reduce);
  return [out(gpu.launch('reduce', src, size, reduceLoopBound(x!.shape, reduce), [x!.buffer], [x!.offset]), dtype, shape)];
});

// ---- scopes: tidy(fn) frees what fn made and did not hand back ----
// tfjs's tidy, in our terms. A scope owns the gpu tensors born while it is open (Tensor.fromBuffer
// calls adopt). When fn returns, the storage of every tensor born in the scope is released, except
//  - the tensors fn returns (a tensor, or arrays / plain objects of them), with their .grad;
//  - tensors passed to keep() (state that outlives the step, e.g. a new optimizer buffer);
//  - the .grad of every leaf that a graph built in the scope reaches: backward() makes them
//    inside, for parameters that live outside.
// If a returned tensor still has a live graph (backward not yet run), its backward closures hold
// saved tensors we cannot see, so nothing is released: the scope's tensors go to the enclosing
// scope (or, at the top, to the garbage collector). Survivors always move to the enclosing scope.
// In-place updates (optimizer steps, BN running stats) swap new buffers into storages born
// outside the scope, which it does not own, so they survive (but move a model to the gpu outside
// any scope: .to('gpu') makes the new parameter storages inside it). CPU tensors are not tracked.
interface Scope {
  born: Tensor[];
}
const scopes: Scope[] = [];
const keptStorages = new WeakSet<Storage>();

/**
 * Run `fn` and release every gpu buffer it created except the tensors it returns (and the
 * exceptions above). `fn` must be synchronous. Scopes nest.
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = { born: [] };
  scopes.push(scope);
  let result: T | undefined;
  try {
    result = fn();
    if (isPromise(result)) throw new ValueError('tidy: fn returned a Promise; a scope must be synchronous (await outside of tidy)');
    return result;
  } finally {
    scopes.pop();
    endScope(scope, result);
  }
}

/** Another name for tidy. */
export const gpuScope = tidy;

/** Let `t` outlive every scope it was born in (it is then freed by dispose() or the garbage collector). */
export function keep<T extends Tensor>(t: T): T {
  keptStorages.add(t.storage);
  return t;
}

function tensorsIn(value: unknown, out: Tensor[] = [], depth = 0): Tensor[] {
  if (value instanceof Tensor) out.push(value);
  else if (depth < 8 && Array.isArray(value)) for (const v of value) tensorsIn(v, out, depth + 1);
  else if (depth < 8 && value !== null && typeof value === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(value))) {
    for (const v of Object.values(value)) tensorsIn(v, out, depth + 1);
  }
  return out;
}

function endScope(scope: Scope, result: unknown): void {
  const parent = scopes[scopes.length - 1];
  const survivors = new Set<Storage>();
  for (const t of tensorsIn(result)) {
    survivors.add(t.storage);
    if (t.grad) survivors.add(t.grad.storage);
    if (t.gradFn?.backward) {
      parent?.born.push(...scope.born); // a live graph: its closures may hold any of these
      return;
    }
  }
  const seen = new Set<GradNode>();
  const stack = scope.born.map((t) => t.gradFn).filter((n): n is GradNode => n !== null);
  while (stack.length > 0) {
    const node = stack.pop() as GradNode;
    if (seen.has(node)) continue;
    seen.add(node);
    for (const x of node.inputs) {
      if (x.gradFn) stack.push(x.gradFn);
      else if (x.grad) survivors.add(x.grad.storage);
    }
  }
  for (const t of scope.born) {
    if (survivors.has(t.storage) || keptStorages.has(t.storage)) parent?.born.push(t);
    else t.storage.release();
  }
}

// ---- initGpu: pick the mode, prove it is the one that runs, register the backend ----

let current: GpuBackend | null = null;

/**
 * Create the gpu backend on gpu.js in `mode`, register it for device 'gpu' and return it.
 * Throws a DeviceError saying why when the mode cannot run here — never falls back.
 */
export async function initGpu(options: GpuOptions): Promise<GpuBackend> {
  const { mode } = options;
  if (!GPU_MODES.includes(mode)) {
    throw new ValueError(`initGpu: argument 'mode' must be one of ${GPU_MODES.join(', ')}, but got '${mode}'`);
  }
  const asyncMode = mode === 'webgpu' || options.asyncMode === true;
  if (current && current.mode === mode && current.asyncMode === asyncMode) {
    registerBackend(current);
    return current;
  }
  const lib = (await import('gpu.js')) as unknown as GpuJsModule;
  await preflight(mode);
  const expected = { headlessgl: lib.HeadlessGLKernel, webgl2: lib.WebGL2Kernel, webgl: lib.WebGLKernel, webgpu: lib.WebGPUKernel, cpu: lib.CPUKernel }[mode];
  let gpu: GpuJs;
  try {
    gpu = new lib.GPU({ mode });
  } catch (e) {
    throw new DeviceError(`initGpu: gpu.js cannot run mode '${mode}' here: ${(e as Error).message}`);
  }
  if (gpu.Kernel !== expected) {
    throw new DeviceError(`initGpu: asked for '${mode}' but gpu.js chose ${className(gpu.Kernel)}`);
  }
  const backend = new GpuBackend(gpu, mode, expected, asyncMode);
  // Probe: a round trip through the device proves the kernel class and the float32 path.
  const probe = Float32Array.of(1.5, -2, 3.25);
  const buf = backend.upload(probe);
  const back = await backend.download(buf, 'float32', 3);
  backend.release(buf);
  if (back.some((v, i) => v !== probe[i])) {
    throw new DeviceError(`initGpu: '${mode}' round trip gave [${[...back].join(', ')}], expected [${[...probe].join(', ')}]`);
  }
  backend.renderer = await rendererOf(mode, backend.context);
  if (mode !== 'cpu' && mode !== 'webgpu') {
    const gl = backend.context as { MAX_TEXTURE_SIZE: number; getParameter(p: number): unknown };
    backend.maxTextureSize = Number(gl.getParameter(gl.MAX_TEXTURE_SIZE));
  }
  registerBackend(backend);
  current = backend;
  return backend;
}

/** Say why a mode cannot run here, before gpu.js gives its generic "not supported". */
async function preflight(mode: GpuMode): Promise<void> {
  const g = globalThis as { process?: { versions?: { node?: string }; env: Record<string, string | undefined> }; document?: unknown; OffscreenCanvas?: unknown; navigator?: { gpu?: unknown } };
  const inNode = g.process?.versions?.node !== undefined;
  if (mode === 'headlessgl') {
    if (!inNode) throw new DeviceError("initGpu: 'headlessgl' runs only in Node (the gl addon); in a browser use 'webgl2'");
    const { createRequire } = await import('node:module');
    // resolve gl the way gpu.js does (it is gpu.js's optional dependency)
    const fromGpuJs = createRequire(createRequire(import.meta.url).resolve('gpu.js'));
    let createGl: (w: number, h: number) => { getExtension(name: string): { destroy?(): void } | null } | null;
    try {
      createGl = fromGpuJs('gl');
    } catch (e) {
      const err = e as { code?: string; message: string };
      const what = err.code === 'MODULE_NOT_FOUND' && /'gl'/.test(err.message)
        ? "the optional 'gl' package is not installed (npm drops it when its native build fails)"
        : `the gl addon does not load (${err.message.split('\n')[0]})`;
      throw new DeviceError(`initGpu: 'headlessgl' needs gpu.js's headless-gl addon, but ${what}; install the build deps and build it with .ci/setup-gpu.sh`);
    }
    const ctx = createGl(1, 1);
    if (!ctx) {
      const display = g.process?.env.DISPLAY;
      throw new DeviceError(
        display
          ? `initGpu: headless-gl could not create a WebGL context on DISPLAY=${display} (is the X server running, with Mesa's GL?)`
          : "initGpu: headless-gl could not create a WebGL context: there is no X display (DISPLAY is unset); run under `xvfb-run -a`",
      );
    }
    ctx.getExtension('STACKGL_destroy_context')?.destroy?.();
  } else if (mode === 'webgl' || mode === 'webgl2') {
    if (g.document === undefined && g.OffscreenCanvas === undefined) {
      throw new DeviceError(`initGpu: '${mode}' needs a browser canvas (or OffscreenCanvas), and there is none here${inNode ? "; in Node use 'headlessgl'" : ''}`);
    }
  } else if (mode === 'webgpu') {
    const gpuApi = g.navigator?.gpu as { requestAdapter(): Promise<unknown> } | undefined;
    if (!gpuApi) {
      throw new DeviceError(
        `initGpu: 'webgpu' needs the WebGPU API (navigator.gpu), which ${inNode ? "Node does not provide (and gpu.js's webgpu@0.2.9 binding does not load on this glibc)" : 'this browser does not expose (Chromium: --enable-unsafe-webgpu)'}`,
      );
    }
    if (!(await gpuApi.requestAdapter())) throw new DeviceError("initGpu: 'webgpu': navigator.gpu.requestAdapter() found no adapter");
  }
}

/** The renderer that actually draws, as precisely as the platform tells. */
async function rendererOf(mode: GpuMode, context: unknown): Promise<string> {
  if (mode === 'cpu') return 'JavaScript (gpu.js cpu mode, not a GPU)';
  if (mode === 'webgpu') {
    const nav = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<{ info?: Record<string, string> } | null> } } }).navigator;
    const info = (await nav?.gpu?.requestAdapter())?.info ?? {};
    return ['vendor', 'architecture', 'device', 'description'].map((k) => info[k]).filter(Boolean).join(' ') || 'WebGPU adapter (no info)';
  }
  type Gl = { RENDERER: number; getParameter(p: number): unknown; getExtension(n: string): { UNMASKED_RENDERER_WEBGL: number } | null };
  const gl = context as Gl;
  if (mode === 'headlessgl') {
    // headless-gl's JS wrapper answers RENDERER with a fixed 'ANGLE'; the native method below it
    // asks ANGLE, which names the driver underneath (e.g. "ANGLE (Mesa/X.org llvmpipe ...)").
    for (let p = Object.getPrototypeOf(gl); p; p = Object.getPrototypeOf(p)) {
      const own = Object.getOwnPropertyDescriptor(p, 'getParameter')?.value as Gl['getParameter'] | undefined;
      if (own && /\[native code\]/.test(Function.prototype.toString.call(own))) return String(own.call(gl, gl.RENDERER));
    }
    return String(gl.getParameter(gl.RENDERER));
  }
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  return String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
}
