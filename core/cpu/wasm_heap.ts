// Tensor storage inside the WASM memory. A float32 (or int32) kernel output allocated here is a
// view of the shared memory, so the next WASM kernel reads it where it is — no copy in, no copy
// out — and the pool's threads see it too. Only outputs made inside a tidy() scope live here:
// the scope knows when they die (core/scope.ts releases them at its end), so their blocks go
// back to the heap at once and are reused by the next step. Outside any scope the garbage
// collector is the only one who knows, and it does not tell a synchronous loop, so those
// outputs stay ordinary typed arrays.
//
// The heap: slabs reserved from the WASM arena (rt.reserve), carved by a bump pointer; a freed
// block goes on a free list for its exact size (64-byte multiples). A training step allocates
// the same sizes every time, so after the first step every request is met from a free list:
// no new pages, no page faults, no zero-filling by the OS. Blocks are never returned to the
// arena (a WASM memory cannot shrink); `budgetBytes` caps what the heap may take for scopes, and
// beyond it allocations fall back to ordinary arrays.
//
// Pinned blocks hold long-lived tensors (a module's parameters and buffers, core/scope.ts pin()),
// so that a kernel reads the weights where they are instead of copying them into the arena on
// every call (ResNet-50's 102 MB, each forward). No scope frees them: the garbage collector does,
// through a FinalizationRegistry on the block's typed array, unless free() came first. They are
// carved from slabs of their own under a budget of their own (`pinnedBudgetBytes`): the weights of
// a model that is gone but not yet collected then never take a training step's room.
import type { WasmRuntime } from '../../kernels/wasm/runtime.js';

const ALIGN = 64;
const SLAB_BYTES = 64 << 20;
const PINNED_SLAB_BYTES = 16 << 20;

export interface WasmHeapStats {
  /** Bytes reserved from the WASM memory for scopes' blocks (slabs). */
  reservedBytes: number;
  /** Bytes reserved for pinned blocks (slabs of their own). */
  pinnedReservedBytes: number;
  /** Bytes in live blocks made for tidy() scopes (pinned ones not counted). */
  liveBytes: number;
  liveBlocks: number;
  /** Bytes and blocks pinned for long-lived tensors. */
  pinnedBytes: number;
  pinnedBlocks: number;
  /** Blocks on the free lists. */
  freeBlocks: number;
}

/** A bump pointer over slabs reserved from the WASM arena, up to a budget. */
class Slabs {
  private at = 0;
  private end = 0;
  /** Bytes reserved so far. */
  reserved = 0;

  constructor(
    private readonly rt: WasmRuntime,
    private readonly slabBytes: number,
  ) {}

  /** A fresh block of `size` bytes, or -1 past `budget` or when the arena says no. */
  carve(size: number, budget: number): number {
    if (this.end - this.at < size) {
      const slab = Math.max(this.slabBytes, size);
      if (this.reserved + slab > budget) return -1;
      const at = this.rt.reserve(slab);
      if (at < 0) return -1;
      this.reserved += slab;
      // the rest of the old slab stays unused: slabs are big and sizes repeat, so it is small
      this.at = at;
      this.end = at + slab;
    }
    const at = this.at;
    this.at += size;
    return at;
  }
}

export class WasmHeap {
  /** The most the heap reserves for tidy() scopes' blocks (default 1 GiB); allocations past it return null. */
  budgetBytes = 1 << 30;
  /**
   * The same for pinned blocks, a budget and slabs of their own: the parameters of models that are
   * gone but not yet collected must not crowd out a training step's activations.
   */
  pinnedBudgetBytes = 1 << 30;
  private readonly freeLists = new Map<number, number[]>();
  /** byte offset -> block bytes, for every live block (a release of anything else is ignored). */
  private readonly live = new Map<number, number>();
  private readonly scopeSlabs: Slabs;
  private readonly pinnedSlabs: Slabs;
  private liveBytes = 0;
  /** byte offset -> pin number, for every live pinned block (a new pin of the same offset gets a new number). */
  private readonly pinned = new Map<number, number>();
  private pins = 0;
  private pinnedBytes = 0;
  // When a pinned block's array is collected, free the block, if it is still that pin's.
  private readonly finalizer = new FinalizationRegistry<{ at: number; pin: number }>(({ at, pin }) => {
    if (this.pinned.get(at) === pin) this.freeBytes(at);
  });

  constructor(private readonly rt: WasmRuntime) {
    this.scopeSlabs = new Slabs(rt, SLAB_BYTES);
    this.pinnedSlabs = new Slabs(rt, PINNED_SLAB_BYTES);
  }

  /**
   * A block of `bytes` bytes (rounded up to 64) as a byte offset, or -1 when the budget or the arena
   * says no: a freed block of that size if there is one, else carved from the scope slabs.
   */
  allocBytes(bytes: number): number {
    return this.take(bytes, false);
  }

  /** allocBytes, or for a pin (allocPinned): carved from the pinned slabs and counted as pinned. */
  private take(bytes: number, forPin: boolean): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    const list = this.freeLists.get(size);
    let at = list?.pop() ?? -1;
    if (at < 0) at = forPin ? this.pinnedSlabs.carve(size, this.pinnedBudgetBytes) : this.scopeSlabs.carve(size, this.budgetBytes);
    if (at < 0) return -1;
    this.live.set(at, size);
    if (forPin) this.pinnedBytes += size;
    else this.liveBytes += size;
    return at;
  }

  /** Give the block at `offset` back; false if there is no live block there. */
  freeBytes(offset: number): boolean {
    const size = this.live.get(offset);
    if (size === undefined) return false;
    this.live.delete(offset);
    if (this.pinned.delete(offset)) this.pinnedBytes -= size;
    else this.liveBytes -= size;
    let list = this.freeLists.get(size);
    if (list === undefined) {
      list = [];
      this.freeLists.set(size, list);
    }
    list.push(offset);
    return true;
  }

  /** Is `a` a live block of this heap (pinned or not)? */
  holds(a: ArrayBufferView): boolean {
    return this.rt.owns(a.buffer) && this.live.has(a.byteOffset);
  }

  /** Is `a` a live pinned block? */
  isPinned(a: ArrayBufferView): boolean {
    return this.rt.owns(a.buffer) && this.pinned.has(a.byteOffset);
  }

  /**
   * A block like alloc()'s that no scope frees: free() it, or let the garbage collector take the
   * returned array (the block goes back to the heap then). null past the budget.
   */
  allocPinned(kind: 'float32' | 'int32', n: number): Float32Array | Int32Array | null {
    const at = this.take(n * 4, true);
    if (at < 0) return null;
    const a = this.view(kind, at, n);
    const pin = ++this.pins;
    this.pinned.set(a.byteOffset, pin);
    this.finalizer.register(a, { at: a.byteOffset, pin });
    return a;
  }

  /** A Float32Array or Int32Array of n elements in a new block (not zeroed), or null. */
  alloc(kind: 'float32' | 'int32', n: number): Float32Array | Int32Array | null {
    const at = this.allocBytes(n * 4);
    return at < 0 ? null : this.view(kind, at, n);
  }

  private view(kind: 'float32' | 'int32', at: number, n: number): Float32Array | Int32Array {
    return kind === 'float32' ? this.rt.f32().subarray(at / 4, at / 4 + n) : this.rt.i32().subarray(at / 4, at / 4 + n);
  }

  /** Return `a`'s block to the heap; false if `a` is not a live block here. */
  free(a: ArrayBufferView): boolean {
    return this.rt.owns(a.buffer) && this.freeBytes(a.byteOffset);
  }

  stats(): WasmHeapStats {
    let freeBlocks = 0;
    for (const list of this.freeLists.values()) freeBlocks += list.length;
    return {
      reservedBytes: this.scopeSlabs.reserved,
      pinnedReservedBytes: this.pinnedSlabs.reserved,
      liveBytes: this.liveBytes,
      liveBlocks: this.live.size - this.pinned.size,
      pinnedBytes: this.pinnedBytes,
      pinnedBlocks: this.pinned.size,
      freeBlocks,
    };
  }
}
