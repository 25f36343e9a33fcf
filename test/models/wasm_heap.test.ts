// Tensor storage in the WASM heap (core/cpu/wasm_heap.ts): inside tidy() float32 kernel outputs
// are blocks of the WASM memory that the WASM kernels read in place. The contract tested here:
// a training loop in tidy() gives bit-identical parameters to the same loop without it, frees
// every block each step (live bytes back to zero, reserved bytes flat after the first step),
// hands back returned / kept tensors as ordinary arrays, and refuses to read what it freed.
// A module's parameters and buffers are pinned there instead: no scope frees them, the kernels
// read them without a copy, and the garbage collector gives their blocks back.
import { describe, expect, it } from 'vitest';
import { collect } from '../helpers/gc.js';
import { wasmHeap } from '../../core/cpu/wasm.js';
import { WasmHeap } from '../../core/cpu/wasm_heap.js';
import { getWasm } from '../../kernels/wasm/runtime.js';
import { F, type Tensor, keep, manualSeed, models, nn, noGrad, optim, randint, randn, tidy } from '../../index.js';

function train(steps: number, scoped: boolean, onStep?: () => void): Float32Array[] {
  manualSeed(5);
  const model = models.cifarResNet(8).train();
  const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  const x = randn([4, 3, 16, 16]);
  const y = randint(0, 10, [4]);
  const step = () => {
    opt.zeroGrad();
    const loss = F.crossEntropy(model.forward(x) as Tensor, y);
    loss.backward();
    opt.step();
    return loss.detach();
  };
  for (let i = 0; i < steps; i++) {
    const loss = scoped ? tidy(step) : step();
    expect(Number.isFinite(loss.item())).toBe(true);
    onStep?.();
  }
  return model.parameters().map((p) => p.toArray() as Float32Array);
}

describe('tensor storage in the WASM heap', () => {
  it('a training loop inside tidy() equals the loop without it, bit for bit, and frees every block', () => {
    const heap = wasmHeap() as WasmHeap;
    expect(heap).not.toBeNull();
    const reserved: number[] = [];
    const scoped = train(6, true, () => {
      const s = heap.stats();
      expect(s.liveBytes, 'bytes still live after a step').toBe(0);
      reserved.push(s.reservedBytes);
    });
    expect(reserved[0]).toBeGreaterThan(0);
    expect(new Set(reserved.slice(1)).size, `reserved bytes per step ${reserved}`).toBe(1);
    const plain = train(6, false);
    for (const [i, p] of plain.entries()) expect(scoped[i], `parameter ${i}`).toEqual(p);
  });

  it('what tidy() returns or keeps comes back as ordinary arrays; what it drops is disposed', () => {
    const rt = getWasm();
    let dropped: Tensor | undefined;
    let kept: Tensor | undefined;
    const out = tidy(() => {
      const a = randn([64, 64]);
      const b = a.matmul(a).relu();
      dropped = b.add(b);
      kept = keep(b.mul(2));
      expect(rt?.owns((b.storage.buffer as Float32Array).buffer)).toBe(true);
      return b;
    });
    for (const t of [out, kept as Tensor]) {
      expect(rt?.owns((t.storage.buffer as Float32Array).buffer)).toBe(false);
      expect(t.toArray().every(Number.isFinite)).toBe(true);
    }
    expect([...(kept as Tensor).toArray()]).toEqual([...out.toArray()].map((v) => v * 2));
    expect(() => (dropped as Tensor).toArray()).toThrow(/disposed/);
    expect(wasmHeap()?.stats().liveBytes).toBe(0);
  });

  it('outside tidy() outputs are ordinary arrays (nothing would free a heap block)', () => {
    const t = randn([32, 32]).relu();
    expect(getWasm()?.owns((t.storage.buffer as Float32Array).buffer)).toBe(false);
  });

  it('a heap keeps its budget: past it, alloc says null and outputs fall back to ordinary arrays', () => {
    const rt = getWasm();
    if (rt === null) throw new Error('wasm runtime unavailable');
    const h = new WasmHeap(rt);
    h.budgetBytes = 0;
    expect(h.alloc('float32', 16)).toBeNull();
    h.budgetBytes = 1 << 30;
    const a = h.alloc('float32', 10) as Float32Array;
    const b = h.alloc('int32', 10) as Int32Array;
    expect(a.byteOffset % 64).toBe(0);
    expect(b.byteOffset - a.byteOffset).toBe(64);
    expect(h.free(a)).toBe(true);
    expect(h.free(a)).toBe(false); // a double free is refused, not a corrupt free list
    expect(h.free(new Float32Array(10))).toBe(false);
    const c = h.alloc('float32', 16) as Float32Array; // the same 64-byte size class: a's block again
    expect(c.byteOffset).toBe(a.byteOffset);
    expect(h.stats()).toMatchObject({ liveBlocks: 2, liveBytes: 128, freeBlocks: 0 });
  });

  it('parameters and buffers are pinned: in the heap, outside every scope, same values', () => {
    const heap = wasmHeap() as WasmHeap;
    manualSeed(3);
    const model = models.cifarResNet(8);
    const tensors = [...model.parameters(), ...model.buffers()].filter((t) => t.dtype === 'float32');
    for (const t of tensors) expect(heap.isPinned(t.storage.buffer as Float32Array), `${t.shape}`).toBe(true);
    // the pinned copies hold what the module was built with: a second model from the same seed
    // whose storages are moved back to plain arrays gives the same values and the same forward
    manualSeed(3);
    const plain = models.cifarResNet(8);
    for (const t of [...plain.parameters(), ...plain.buffers()]) {
      const s = t.storage as { buffer: unknown };
      if (s.buffer instanceof Float32Array) s.buffer = Float32Array.from(s.buffer);
    }
    const x = randn([2, 3, 16, 16]);
    const a = noGrad(() => tidy(() => model.eval().forward(x) as Tensor)).toArray();
    const b = noGrad(() => tidy(() => plain.eval().forward(x) as Tensor)).toArray();
    expect([...a]).toEqual([...b]);
    expect(heap.stats().liveBytes, 'the scopes left nothing live').toBe(0);
  });

  it('a module built inside tidy() keeps its parameters, even one a kernel made there (they are pinned, not the scope\'s)', () => {
    // the scope owns what kernels make inside it: before pinning, it freed this parameter at its end
    class Scaled extends nn.Module {
      w: Tensor;
      constructor() {
        super();
        this.w = this.registerParameter('w', randn([64]).mul(0.1).detach());
      }
      forward(x: Tensor): Tensor {
        return x.mul(this.w);
      }
    }
    const m = tidy(() => new Scaled());
    expect(m.w.toArray().every(Number.isFinite)).toBe(true);
    expect(wasmHeap()?.isPinned(m.w.storage.buffer as Float32Array)).toBe(true);
    expect(m.forward(randn([64])).shape).toEqual([64]);
    const lin = tidy(() => new nn.Linear(8, 4));
    expect(wasmHeap()?.isPinned(lin.weight.storage.buffer as Float32Array)).toBe(true);
    expect(lin.forward(randn([3, 8])).shape).toEqual([3, 4]);
  });

  it("the optimizer's state is pinned too: SGD's momentum and Adam's moments, made inside the step's tidy()", () => {
    const heap = wasmHeap() as WasmHeap;
    const lin = new nn.Linear(8, 4);
    const sgd = new optim.SGD(lin.parameters(), { lr: 0.1, momentum: 0.9 });
    const adam = new optim.Adam(lin.parameters(), { lr: 0.1 });
    for (const opt of [sgd, adam]) {
      tidy(() => {
        opt.zeroGrad();
        lin.forward(randn([2, 8])).sum().backward();
        opt.step();
      });
    }
    const state = [sgd, adam].flatMap((opt) => Object.values(opt.stateDict().state).flatMap((st) => Object.values(st as Record<string, unknown>)));
    const tensors = state.filter((v): v is Tensor => typeof v === 'object' && v !== null && 'storage' in v && (v as Tensor).dtype === 'float32' && (v as Tensor).numel() > 1);
    expect(tensors.length).toBe(6); // weight and bias: a momentum buffer, then exp_avg and exp_avg_sq
    for (const t of tensors) expect(heap.isPinned(t.storage.buffer as Float32Array)).toBe(true);
    expect(heap.stats().liveBytes).toBe(0);
  });

  it('double() then float() pins the new float32 storage again', () => {
    const lin = new nn.Linear(4, 3).double().float();
    expect(wasmHeap()?.isPinned(lin.weight.storage.buffer as Float32Array)).toBe(true);
  });

  it('the garbage collector frees a pinned block; free() first makes the collection a no-op', async () => {
    const rt = getWasm();
    if (rt === null) throw new Error('wasm runtime unavailable');
    const h = new WasmHeap(rt);
    (() => {
      const a = h.allocPinned('float32', 100) as Float32Array;
      a.fill(1);
      expect(h.stats()).toMatchObject({ pinnedBlocks: 1, pinnedBytes: 448, liveBlocks: 0, liveBytes: 0 });
    })();
    await collect();
    expect(h.stats()).toMatchObject({ pinnedBlocks: 0, pinnedBytes: 0, freeBlocks: 1 });
    // freed by hand, then its block reused by a scope's alloc: the later collection must leave that alone
    let b: Float32Array | null = h.allocPinned('float32', 100) as Float32Array;
    expect(h.free(b)).toBe(true);
    const c = h.alloc('float32', 100) as Float32Array;
    expect(c.byteOffset).toBe(b.byteOffset);
    b = null;
    await collect();
    expect(h.holds(c)).toBe(true);
    expect(h.stats()).toMatchObject({ liveBlocks: 1, pinnedBlocks: 0 });
  });
});
