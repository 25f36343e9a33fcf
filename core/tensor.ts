// Tensor = storage + view. Element (i0..ik) is storage[offset + Σ i_d·strides[d]], so reshape,
// permute, slice and expand make new Tensors over the same storage without copying.
// Autograd fields live here too (requiresGrad, grad, gradFn); the ops that fill them, and the
// chained methods (x.add, x.sum, x.backward, ...), are installed by autograd/.
import { type Backend, type Device, type KernelInput, getBackend } from './backend.js';
// Every tensor program needs the CPU backend and its kernels: register them with the class.
import './cpu/index.js';
import { copyStrided } from '../kernels/cpu/elementwise.js';
import { type DType, type TypedArray, dtypeOfArray, isFloat } from './dtype.js';
import { AutogradError, DTypeError, DeviceError, ShapeError, ValueError, fmtShape } from './errors.js';
import { broadcastStrides, contiguousStrides, isContiguous, normalizeDim, numel } from './shape.js';

/** One buffer on one backend. Views share it. */
export class Storage<B = unknown> {
  private released = false;
  /** Bumped by every in-place write (swap), so stale saved tensors can be detected. */
  version = 0;
  constructor(
    readonly backend: Backend<B>,
    public buffer: B,
    readonly dtype: DType,
    readonly size: number,
  ) {}
  /** Replace the contents with a same-sized buffer (how in-place updates work on every device). */
  swap(buffer: B): void {
    if (buffer !== this.buffer) this.backend.release(this.buffer);
    this.buffer = buffer;
    this.released = false;
    this.version++;
  }
  get isReleased(): boolean {
    return this.released;
  }
  release(): void {
    if (!this.released) {
      this.released = true;
      this.backend.release(this.buffer);
    }
  }
}

/** A tensor a backward reads, with its storage's version when the op ran (torch's SavedVariable). */
export interface SavedTensor {
  readonly tensor: Tensor;
  /** The storage it had then: a tensor whose storage was replaced (module.to) counts as modified. */
  readonly storage: Storage;
  readonly version: number;
  /** Its position among the op's inputs, -1 for the op's output, -2 for anything else (indices, statistics). */
  readonly slot: number;
}

/** A node of the autograd graph: the op that made a tensor and how to send gradients back. */
export interface GradNode {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  /**
   * The inputs' own nodes when the op ran (null for leaves and constants). Backward follows these
   * edges, not inputs[i].gradFn, which an in-place write may have moved on since.
   */
  readonly next: readonly (GradNode | null)[];
  /** Gradients for each input given the output's gradient; null once the graph was freed. */
  backward: ((gradOutput: Tensor) => (Tensor | null)[]) | null;
  /** Set by retainGrad(): the non-leaf tensor that wants its .grad filled. */
  retained: Tensor | null;
  /** What backward reads, version-stamped: an in-place write to any of them since is an error. Emptied with backward. */
  saved: readonly SavedTensor[];
  /** The output shares its input's storage (reshape, permute, slice, ...). */
  readonly isView: boolean;
  /** Where the forward op was called (anomaly mode only; null otherwise); `.text` formats it. */
  readonly stack: { readonly text: string } | null;
}

/**
 * What autograd does around an in-place write; installed by autograd/inplace.ts so that core/
 * never imports autograd/. Without it (core used alone) a write is a plain copy.
 */
export interface InplaceHooks {
  /** Before the write: refuse what autograd could not account for (torch's leaf rule, views). */
  check(dst: Tensor, src: Tensor, op: string): void;
  /** After the write: make dst's history say it now holds src's values. */
  rebase(dst: Tensor, src: Tensor, op: string): void;
}

let inplaceHooks: InplaceHooks | null = null;

export function setInplaceHooks(hooks: InplaceHooks | null): void {
  inplaceHooks = hooks;
}

export class Tensor {
  readonly storage: Storage;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  /** Accumulated gradient (leaves, or non-leaves after retainGrad()). */
  grad: Tensor | null = null;
  /** The op that produced this tensor; null for leaves. */
  gradFn: GradNode | null = null;
  private requires = false;

  constructor(storage: Storage, shape: readonly number[], strides?: readonly number[], offset = 0) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
  }

  /** A contiguous tensor over a fresh buffer (used by ops and creation functions). */
  static fromBuffer(backend: Backend, buffer: unknown, dtype: DType, shape: readonly number[]): Tensor {
    const t = new Tensor(new Storage(backend, buffer, dtype, numel(shape)), shape);
    // Device backends track lifetimes (tidy scopes: core/scope.ts); the CPU has no adopt.
    (backend as { adopt?(t: Tensor): void }).adopt?.(t);
    return t;
  }

  /**
   * A tensor on `backend` (the CPU by default) holding host `data`: the CPU owns the array as is
   * (no copy), a device uploads it.
   */
  static fromArray(data: TypedArray, shape: readonly number[], backend: Backend = getBackend('cpu')): Tensor {
    return Tensor.fromBuffer(backend, backend.upload(data), dtypeOfArray(data), shape);
  }

  get dtype(): DType {
    return this.storage.dtype;
  }
  get device(): Device {
    return this.storage.backend.device;
  }
  get backend(): Backend {
    return this.storage.backend;
  }
  get ndim(): number {
    return this.shape.length;
  }
  numel(): number {
    return numel(this.shape);
  }
  /** size() is the shape; size(d) one dim (negative d counts from the end). */
  size(): readonly number[];
  size(dim: number): number;
  size(dim?: number): number | readonly number[] {
    if (dim === undefined) return this.shape;
    return this.shape[normalizeDim(dim, this.ndim, 'size')];
  }
  isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  get requiresGrad(): boolean {
    return this.requires;
  }
  /** Only leaves of a floating dtype can be switched, as in PyTorch. */
  set requiresGrad(flag: boolean) {
    if (!this.isLeaf) {
      throw new AutogradError(
        'you can only change requiresGrad flags of leaf tensors; use detach() to get a leaf from a non-leaf',
      );
    }
    if (flag && !isFloat(this.dtype)) {
      throw new DTypeError(`only tensors of floating point dtype can require gradients, but got ${this.dtype}`);
    }
    this.requires = flag;
  }
  /**
   * How many times the storage was written in place (torch's _version); views share it. Autograd
   * stamps the tensors a backward reads with it and refuses to run on changed values.
   */
  get version(): number {
    return this.storage.version;
  }

  /** Used by autograd when it records an op's output (non-leaves). */
  markRequiresGrad(node: GradNode): void {
    this.gradFn = node;
    this.requires = true;
  }

  /** Ask autograd to fill .grad of this non-leaf tensor during backward (as retain_grad). */
  retainGrad(): this {
    if (this.gradFn) this.gradFn.retained = this;
    else if (!this.requires) throw new AutogradError("can't retainGrad on a tensor that has requiresGrad=false");
    return this;
  }

  /** What kernels see of this tensor. */
  asInput(): KernelInput {
    if (this.storage.isReleased) {
      throw new DeviceError(`tensor of shape ${fmtShape(this.shape)} was disposed; its buffer is gone`);
    }
    return { buffer: this.storage.buffer, dtype: this.dtype, shape: this.shape, strides: this.strides, offset: this.offset, version: this.storage.version };
  }

  /** The elements in row-major order as a fresh typed array (CPU tensors; use `await data()` on a device). */
  toArray(): TypedArray {
    const src = this.backend.readSync(this.asInput().buffer, this.dtype, this.storage.size);
    return gatherStrided(src, this.shape, this.strides, this.offset);
  }

  /** Like toArray(), for any device: downloads device buffers. */
  async data(): Promise<TypedArray> {
    const src = await this.backend.download(this.asInput().buffer, this.dtype, this.storage.size);
    return gatherStrided(src, this.shape, this.strides, this.offset);
  }

  /** Nested JS arrays (torch's tolist()). */
  toNested(): unknown {
    const flat = this.toArray();
    if (this.ndim === 0) return flat[0];
    const build = (dim: number, base: number): unknown[] => {
      const n = this.shape[dim];
      const inner = numel(this.shape.slice(dim + 1));
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) out.push(dim === this.ndim - 1 ? flat[base + i] : build(dim + 1, base + i * inner));
      return out;
    };
    return build(0, 0);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.numel() !== 1) {
      throw new ValueError(`item: a Tensor with ${this.numel()} elements (shape ${fmtShape(this.shape)}) cannot be converted to a number`);
    }
    return this.toArray()[0];
  }

  /**
   * Overwrite this tensor's values with `src`'s, in place (torch's copy_), bumping the version
   * that every view of the storage shares. `src` is broadcast to this shape and converted to this
   * dtype and device. This tensor must cover its whole storage contiguously (parameters, buffers
   * and grads always do). With grad mode on, autograd refuses a leaf that requires grad (write
   * under noGrad, as optimizers do) and records the copy on a tensor that has a history.
   */
  assign(src: Tensor): this {
    if (!this.isContiguous() || this.offset !== 0 || this.storage.size !== this.numel()) {
      throw new ValueError(`assign: the destination must be a whole, contiguous tensor, but got shape ${fmtShape(this.shape)} strides ${fmtShape(this.strides)} offset ${this.offset}`);
    }
    const lead = this.ndim - src.ndim;
    if (lead < 0 || src.shape.some((n, d) => n !== 1 && n !== this.shape[d + lead])) {
      throw new ShapeError(`assign: source of shape ${fmtShape(src.shape)} cannot be broadcast to the destination's shape ${fmtShape(this.shape)}`);
    }
    inplaceHooks?.check(this, src, 'assign');
    const s = src.device === this.device ? src : Tensor.fromArray(src.toArray(), src.shape, this.backend);
    const view = new Tensor(s.storage, this.shape, broadcastStrides(s.shape, s.strides, this.shape), s.offset);
    const [out] = this.backend.run('copy', [view.asInput()], { dtype: this.dtype });
    if (this.device === 'cpu' && !this.storage.isReleased) {
      // on the cpu the values are written into the storage's own array, which keeps living where
      // it was made (a parameter's array stays an ordinary one even when assigned inside tidy())
      (this.storage.buffer as TypedArray).set(out.buffer as never);
      this.backend.release(out.buffer);
      this.storage.version++;
    } else {
      this.storage.swap(out.buffer);
    }
    inplaceHooks?.rebase(this, src, 'assign');
    return this;
  }

  /** Free the device buffer now (all views of it become unusable). */
  dispose(): void {
    this.storage.release();
  }

  toString(): string {
    const body = this.device === 'cpu' ? formatNested(this.toNested()) : '<on device>';
    const grad = this.gradFn ? `, gradFn=${this.gradFn.name}` : this.requiresGrad ? ', requiresGrad=true' : '';
    return `tensor(${body}, shape=${fmtShape(this.shape)}, dtype=${this.dtype}, device=${this.device}${grad})`;
  }
}

/** Nested values as JSON would print them, except that NaN and ±Infinity stay themselves (JSON says null). */
function formatNested(v: unknown): string {
  return Array.isArray(v) ? `[${v.map(formatNested).join(',')}]` : String(v);
}

/** A strided view's elements as a fresh contiguous array (the kernels' copyStrided). */
function gatherStrided(src: TypedArray, shape: readonly number[], strides: readonly number[], offset: number): TypedArray {
  const n = numel(shape);
  const out = new (src.constructor as { new (n: number): TypedArray })(n);
  if (isContiguous(shape, strides)) out.set(src.subarray(offset, offset + n));
  else copyStrided(src, shape, strides, offset, out);
  return out;
}
