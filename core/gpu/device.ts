// The gpu device: the backend interface (core/backend.ts) on gpu.js. Buffers live on the
// device between ops — gpu.js `pipeline: true` outputs (textures in WebGL, storage buffers in
// WebGPU) — and come back only through download/readSync. The kernels are generated sources
// from kernels/gpu, compiled once per shape signature and cached; the adapters that launch them
// register in the kernel table below from their family files (core/gpu/<family>.ts, all listed
// in core/gpu/index.ts), and initGpu (core/gpu/init.ts) creates the backend.
//
// Numbers: gpu.js computes in float32, so float32 is the only float dtype here (a float64
// tensor on the GPU is a DTypeError). int32 tensors (labels, comparison masks) are carried as
// float32 values, which is exact for integers below 2^24 in magnitude; for the same reason
// buffers are limited to 2^24 elements (positions are float32 inside the shaders).
// gpu.js lays a buffer out as a near-square texture (textureSide), so 2^24 elements need
// 4096x4096, within every MAX_TEXTURE_SIZE we meet; launch() checks both limits.
//
// Memory: a buffer's texture is freed by dispose(), by the end of a tidy() scope that made it
// (core/scope.ts), or by the garbage collector once no tensor holds it (a FinalizationRegistry).
//
// Nothing falls back silently: initGpu checks that gpu.js picked the kernel class of the mode
// asked for, every kernel is checked again after its first build (gpu.js swaps a kernel that
// fails to build for a CPU one with only a console warning), and describe() names the renderer
// that actually draws (llvmpipe, SwiftShader, a real GPU).
import type { Backend, KernelInput, KernelOutput } from '../backend.js';
import type { KernelAttrMap, KernelName } from '../kernel_names.js';
import type { DType, TypedArray } from '../dtype.js';
import { DTypeError, DeviceError } from '../errors.js';
import { adoptIntoScope } from '../scope.js';
import type { Tensor } from '../tensor.js';
import { fillSource, uploadSource } from '../../kernels/gpu/elementwise.js';

export type GpuMode = 'headlessgl' | 'webgl2' | 'webgl' | 'webgpu' | 'cpu';
export const GPU_MODES: readonly GpuMode[] = ['headlessgl', 'webgl2', 'webgl', 'webgpu', 'cpu'];

/** What a gpu.js pipeline kernel returns: a texture (GL), a buffer handle (WebGPU), an array (cpu). */
type DeviceValue = Float32Array | { toArray(): Float32Array | Promise<Float32Array>; delete(): void };

/** One device buffer: `size` float32 slots, a device value (or a promise of one in async mode). */
export class GpuBuffer {
  released = false;
  /**
   * The values, once read back by download(). Kernel outputs are immutable (every launch gets a
   * fresh buffer), so the copy stays right; it lets readSync serve an async buffer after an
   * `await tensor.data()` (a checkpoint of a model on webgpu awaits every tensor, then saves).
   */
  host: Float32Array | null = null;
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

// The slice of gpu.js we use, typed here so the rest of the code stays strict.
interface KernelRun {
  (...args: unknown[]): DeviceValue | Promise<DeviceValue>;
  kernel: { constructor: unknown; fallbackReason?: string };
}
export interface GpuJs {
  Kernel: unknown;
  context: unknown;
  createKernel(source: string, settings: Record<string, unknown>): KernelRun;
}

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
export const className = (k: unknown): string => (k as { name?: string } | null)?.name ?? String(k);

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
    if (buffer.host) return toHost(buffer.host.slice(), dtype, size); // a copy: the caller may write to it
    const value = await buffer.value;
    const host = value === null ? new Float32Array(0) : await (value instanceof Float32Array ? value : value.toArray());
    if (!this.asyncMode || buffer.released) return toHost(host, dtype, size);
    buffer.host = host;
    return toHost(host.slice(), dtype, size);
  }

  readSync(buffer: GpuBuffer, dtype: DType, size: number): TypedArray {
    this.assertLive(buffer);
    if (buffer.host) return toHost(buffer.host.slice(), dtype, size);
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
    buffer.host = null;
    this.liveBuffers--;
    this.finalizer.unregister(buffer);
    freeValue(buffer.value, this.settled);
  }

  /** Called by Tensor.fromBuffer for every tensor born on this backend: the open tidy() scope owns it. */
  adopt(tensor: Tensor): void {
    adoptIntoScope(tensor);
  }

  hasKernel(name: KernelName): boolean {
    return gpuKernels[name] !== undefined;
  }

  run<K extends KernelName>(name: K, inputs: readonly GpuInput[], attrs: KernelAttrMap[K]): KernelOutput<GpuBuffer>[] {
    const k = gpuKernels[name];
    if (!k) {
      throw new DeviceError(`gpu backend has no kernel '${name}' yet (registered: ${Object.keys(gpuKernels).join(', ')}); move the tensor to the cpu for this op`);
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

// ---- the kernel table: same names, attrs and semantics as the CPU kernels (core/cpu/*.ts) ----
// A kernel gets the backend (to launch gpu.js kernels), the inputs as device views and the attrs
// of its name (core/kernel_names.ts), and returns fresh contiguous outputs. Each family registers
// from its own file (core/gpu/*.ts). One implementation per name: the gpu has no variants.

export type GpuInput = KernelInput<GpuBuffer>;
export type GpuKernel<K extends KernelName> = (gpu: GpuBackend, inputs: readonly GpuInput[], attrs: KernelAttrMap[K]) => KernelOutput<GpuBuffer>[];

type KernelTable = { [K in KernelName]: GpuKernel<K> };
const gpuKernels: Partial<KernelTable> = {};

export function registerGpuKernel<K extends KernelName>(name: K, kernel: KernelTable[K]): void {
  gpuKernels[name] = kernel;
}

export function assertGpuDType(dtype: DType, op: string): void {
  if (dtype === 'float64') {
    throw new DTypeError(`gpu ${op}: float64 is not supported on the gpu (gpu.js computes in float32); use float32`);
  }
}

/** A kernel output record. */
export const gpuOut = (buffer: GpuBuffer, dtype: DType, shape: readonly number[]): KernelOutput<GpuBuffer> => ({ buffer, dtype, shape });
