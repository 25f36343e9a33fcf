// Kernels read only what they wrote. Inside tidy() a kernel's output is a block of the WASM heap
// that last held some other tensor, and its scratch (staged copies, im2col columns, packed GEMM
// panels, Winograd's V, M and Z, per-thread partial sums) is arena memory that the previous kernel
// left behind. An output element a kernel forgets to write, or a scratch value it reads before it
// stores it, carries that history into the result; another history (another process, another
// thread taking a unit first) then gives other bits, and a same-seed run stops repeating.
//
// So every byte a kernel is handed without a defined value is poisoned first: the outputs the
// allocator gives out unzeroed (core/cpu/wasm.ts: "every WASM kernel overwrites all of its
// output") and every arena allocation (WasmRuntime.alloc: staging, scratch, partials). Poisons:
// NaN, then two streams of random bits (NaN payloads, infinities, denormals, huge numbers). The
// results must be the same bits as with nothing poisoned:
//  1. every variant of every kernel that has fast ones, on odd shapes (tile and vector edges,
//     Winograd forced at every size, fused and unfused), inside tidy() (outputs in the WASM heap,
//     written in place) and outside (staged through the arena);
//  2. a few training steps of the experiments' nets (GroupNorm, LayerNorm, InstanceNorm and
//     BatchNorm ResNets, plain nets with and without BatchNorm, a ResNet without), a grouped
//     ResNet, and a stem, max pool and ResNeXt bottleneck trained by Adam: every kernel a step
//     calls, the fused ones and the optimizer steps too.
// All on 2 threads with every size split among them (test/helpers/wasm.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Allocator, getAllocator, setAllocator } from '../../core/allocator.js';
import { type CpuInput, type CpuVariant, cpuKernelNames, cpuVariants } from '../../core/cpu/registry.js';
import { wasmHeap, wasmRelaxed } from '../../core/cpu/wasm.js';
import { tidy } from '../../core/scope.js';
import { F, manualSeed, models, nn, optim, randint, randn, type Tensor } from '../../index.js';
import type { Module } from '../../nn/module.js';
import { BINARY_OPS, UNARY_OPS } from '../../kernels/cpu/elementwise.js';
import { type NormAxes, numSets } from '../../kernels/geometry.js';
import { getWasm } from '../../kernels/wasm/runtime.js';
import { winogradTuning } from '../../kernels/wasm/winograd.js';
import { Bottleneck } from '../../models/resnet.js';
import { normLayer } from '../../train/models.js';
import { onThreads, winogradAtEverySize } from '../helpers/wasm.js';
import { adaptivePoolCases, avgPoolCases, convCases, matmulCase, maxPoolCases, normCases, type PoolOptions, poolGeometry, viewCases } from './nonfinite_cases.js';
import { type KernelCase, type Operand, Rng, dense } from './nonfinite_helpers.js';

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

// ---- the poison --------------------------------------------------------------------------------

type Poison = 'none' | 'NaN' | 'bits A' | 'bits B';
const POISONS: Poison[] = ['none', 'NaN', 'bits A', 'bits B'];
let poison: Poison = 'none';
/** Bytes poisoned so far, by where they were: proof that the hooks still see the kernels' memory. */
const poisonedBytes = { outputs: 0, arena: 0 };

/** 64 KiB of random 32-bit words per stream, tiled over what is poisoned (a fill at memcpy speed: scratch runs to megabytes a call). */
function randomWords(seed: number): Uint32Array {
  const u = new Uint32Array(1 << 14);
  let s = seed;
  for (let i = 0; i < u.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    u[i] = s;
  }
  return u;
}
const PATTERNS: Record<Exclude<Poison, 'none'>, Uint32Array> = {
  NaN: new Uint32Array(new Float32Array(1 << 14).fill(Number.NaN).buffer),
  'bits A': randomWords(12345),
  'bits B': randomWords(987654321),
};

/** Fill the whole words of bytes [at, at + bytes) of `buffer` with the current poison. */
function poisonBytes(buffer: ArrayBufferLike, at: number, bytes: number): void {
  if (poison === 'none' || bytes < 4) return;
  const u = new Uint32Array(buffer, at, bytes >> 2);
  const pattern = PATTERNS[poison];
  for (let i = 0; i < u.length; i += pattern.length) u.set(u.length - i >= pattern.length ? pattern : pattern.subarray(0, u.length - i), i);
}

/** Run fn with `p` poisoning every byte a kernel gets without a defined value. */
function poisoned<T>(p: Poison, fn: () => T): T {
  poison = p;
  try {
    return fn();
  } finally {
    poison = 'none';
  }
}

let savedAllocator: Allocator | undefined;
beforeAll(() => {
  const rt = getWasm();
  if (rt === null) throw new Error('garbage test: the WASM runtime is unavailable here');
  const base = getAllocator();
  savedAllocator = base;
  setAllocator({
    name: `${base.name}, poisoned`,
    alloc(dtype, size, zeroed = true) {
      const a = base.alloc(dtype, size, zeroed);
      if (!zeroed && poison !== 'none') {
        poisonBytes(a.buffer, a.byteOffset, a.byteLength);
        poisonedBytes.outputs += a.byteLength;
      }
      return a;
    },
  });
  // WasmRuntime.alloc is a prototype method: an own property shadows it (reserve() goes through it too)
  const alloc = rt.alloc;
  Object.defineProperty(rt, 'alloc', {
    configurable: true,
    value(bytes: number): number {
      const at = alloc.call(rt, bytes);
      if (poison !== 'none') {
        poisonBytes(rt.memory.buffer, at, bytes);
        poisonedBytes.arena += bytes;
      }
      return at;
    },
  });
});
afterAll(() => {
  if (savedAllocator) setAllocator(savedAllocator);
  const rt = getWasm();
  if (rt) delete (rt as { alloc?: unknown }).alloc;
});

/** The bits of a result, for exact comparison (NaN payloads included). */
const bits = (a: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }): string =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

// ---- 1. every variant of every kernel ----------------------------------------------------------

function toInput(t: Operand): CpuInput {
  const buffer = t.dtype === 'int32' ? Int32Array.from(t.values) : Float32Array.from(t.values);
  return { buffer, dtype: t.dtype === 'int32' ? 'int32' : 'float32', shape: t.shape, strides: t.strides, offset: t.offset };
}

/** One variant on one case: the bits of its outputs, run inside tidy() or not. */
function runVariant(v: CpuVariant, c: KernelCase, inputs: CpuInput[], inScope: boolean): string[] {
  const go = (): string[] => {
    const outs = v.run(inputs, c.attrs as never);
    const out = outs.map((o) => bits(o.buffer));
    for (const o of outs) wasmHeap()?.free(o.buffer); // no tensor owns these blocks
    return out;
  };
  return inScope ? tidy(go) : go();
}

/** Every WASM variant taking the case gives the same bits whatever the poison. Returns the variant names. */
function checkCase(c: KernelCase): string[] {
  const inputs = c.inputs.map(toInput);
  // the TypeScript variants get zeroed outputs and no arena: only the WASM ones can meet garbage
  const vs = cpuVariants(c.kernel).filter((v) => v.name.startsWith('wasm') && v.supports(inputs, c.attrs as never));
  for (const v of vs) {
    for (const inScope of [true, false]) {
      const clean = runVariant(v, c, inputs, inScope);
      for (const p of POISONS.slice(1)) {
        const dirty = poisoned(p, () => runVariant(v, c, inputs, inScope));
        expect(dirty, `${c.kernel} '${v.name}' ${c.label}${inScope ? ' in tidy()' : ''}: outputs with ${p} in unwritten memory`).toEqual(clean);
      }
    }
  }
  return vs.map((v) => v.name);
}

function convFamily(rng: Rng, x: number[], w: number[], opts: Parameters<typeof convCases>[3]): KernelCase[] {
  const cases = convCases('float32', x, w, opts, { x: rng.normals(numel(x)), w: rng.normals(numel(w)), b: rng.normals(w[0] as number), dy: new Float64Array(0) });
  // dy has the output's shape, known once the geometry is
  const dyShape = cases[1]?.inputs[0]?.shape as number[];
  const dy = dense(rng.normals(numel(dyShape)), dyShape, 'float32');
  for (const c of cases) for (const [i, t] of c.inputs.entries()) if (t.values.length === 0) c.inputs[i] = dy;
  return cases;
}

function normFamily(rng: Rng, axes: NormAxes, N: number, C: number, S: number, G: number): KernelCase[] {
  const l = { axes, N, C, S, groups: G };
  const sets = numSets(l);
  const x = rng.normals(N * C * S);
  const ref = cpuVariants('normForward').at(-1) as CpuVariant;
  const [, mean, variance] = ref.run([{ buffer: Float64Array.from(x), dtype: 'float64', shape: [N, C, S], strides: [C * S, S, 1], offset: 0 }], { ...l, eps: 1e-5, hasWeight: false, hasBias: false } as never);
  const running = { mean: rng.normals(sets), variance: Float64Array.from(rng.normals(sets), (v) => 0.5 + v * v) };
  const batch = { mean: Float64Array.from(mean?.buffer as Float64Array), variance: Float64Array.from(variance?.buffer as Float64Array) };
  return normCases('float32', l, 1e-5, { x, gy: rng.normals(N * C * S), weight: rng.normals(C), bias: rng.normals(C), ...running }, batch);
}

function poolFamily(rng: Rng, shape: number[], o: PoolOptions): KernelCase[] {
  const [n, c] = shape as [number, number];
  const x = rng.normals(numel(shape));
  // the indices the backward routes by: the reference forward's
  const fwd = maxPoolCases('float64', shape, o, x, new Float64Array(0), new Int32Array(0))[0] as KernelCase;
  const ref = cpuVariants('maxPool2d').at(-1) as CpuVariant;
  const idx = ref.run([{ buffer: Float64Array.from(x), dtype: 'float64', shape, strides: dense(x, shape, 'float64').strides, offset: 0 }], fwd.attrs as never)[1]?.buffer as Int32Array;
  const g = poolGeometry(shape, o);
  const avg = { ...o, d: [1, 1] as [number, number] };
  const ag = poolGeometry(shape, avg);
  return [
    ...maxPoolCases('float32', shape, o, x, rng.normals(n * c * g.oh * g.ow), idx),
    ...avgPoolCases('float32', shape, avg, { countIncludePad: false, divisorOverride: 0 }, x, rng.normals(n * c * ag.oh * ag.ow)),
    ...adaptivePoolCases('float32', shape, 3, 2, x, rng.normals(n * c * 6)),
  ];
}

function elementwiseCases(rng: Rng, shape: number[]): KernelCase[] {
  const n = numel(shape);
  const A = dense(rng.normals(n), shape, 'float32');
  const B = dense(rng.normals(n), shape, 'float32');
  const base = { plantable: [], taint: () => [], tol: () => ({ atol: 0, rtol: 0 }) };
  return [
    ...(Object.keys(UNARY_OPS) as (keyof typeof UNARY_OPS)[]).map((op): KernelCase => ({ ...base, label: `${op} [${shape}]`, kernel: 'unary', attrs: { op } as never, inputs: [A] })),
    ...(Object.keys(BINARY_OPS) as (keyof typeof BINARY_OPS)[]).map((op): KernelCase => ({ ...base, label: `${op} [${shape}]`, kernel: 'binary', attrs: { op, dtype: 'float32' } as never, inputs: [A, B] })),
    { ...base, label: `copy [${shape}]`, kernel: 'copy', attrs: {}, inputs: [A] },
    { ...base, label: `sum [${shape}]`, kernel: 'reduce', attrs: { op: 'sum', dims: [shape.length - 1] }, inputs: [A] },
  ];
}

describe('kernels read only what they wrote: every variant, with unwritten memory poisoned', () => {
  onThreads(2);
  const saved = winogradAtEverySize();
  const ran = new Map<string, Set<string>>();
  const check = (cases: KernelCase[]): void => {
    for (const c of cases) {
      const s = ran.get(c.kernel) ?? new Set<string>();
      for (const v of checkCase(c)) s.add(v);
      ran.set(c.kernel, s);
    }
  };

  it('matmul: odd sizes, a transposed operand, one past the static split (shared packed panels)', () => {
    const rng = new Rng(1);
    for (const [B, M, K, N, t] of [[1, 5, 7, 9, 0], [2, 3, 4, 8, 1], [1, 130, 5, 9, 0], [1, 5, 260, 6, 1], [1, 131, 261, 70, 0]] as const) {
      check([matmulCase('float32', B, M, K, N, rng.normals(B * M * K), rng.normals(B * K * N), t === 1)]);
    }
  });

  it('conv2d forward, dX, dW, db: Winograd (fused and not), dense, strided, dilated, grouped, depthwise, pointwise, in pieces', () => {
    const rng = new Rng(2);
    const shapes: [number[], number[], Parameters<typeof convCases>[3]][] = [
      [[2, 3, 7, 9], [5, 3, 3, 3], { padding: 1 }],
      [[3, 2, 6, 5], [3, 2, 3, 3], { padding: 0 }],
      [[2, 3, 11, 10], [4, 3, 5, 5], { stride: 2, padding: 2, dilation: 2 }],
      [[2, 4, 9, 7], [6, 2, 3, 3], { stride: 2, padding: 1, groups: 2 }],
      [[1, 4, 8, 8], [8, 1, 3, 3], { padding: 1, groups: 4 }],
      [[2, 5, 6, 7], [3, 5, 1, 1], {}],
      [[1, 64, 16, 16], [4, 64, 3, 3], { padding: 1 }],
      [[2, 8, 9, 9], [48, 8, 3, 3], { padding: 1 }],
    ];
    for (const [x, w, o] of shapes) {
      const cases = convFamily(rng, x, w, o);
      for (const fused of [true, false]) {
        winogradTuning.fused = fused;
        check(cases);
      }
      winogradTuning.fused = saved.fused;
    }
    for (const k of ['conv2d', 'conv2dBackwardInput', 'conv2dBackwardWeight']) {
      expect([...(ran.get(k) ?? [])].join(' '), `${k} variants that ran`).toMatch(/wasm-winograd.*wasm-im2col|wasm-im2col.*wasm-winograd/);
      expect([...(ran.get(k) ?? [])].join(' '), `${k} variants that ran`).toMatch(/wasm-grouped/);
    }
  });

  it('norms (batch, layer, instance, group): forward, apply, backward with batch and with given statistics', () => {
    const rng = new Rng(3);
    for (const [axes, N, C, S, G] of [['batch', 3, 5, 7, 1], ['batch', 2, 3, 33, 1], ['layer', 2, 6, 1, 1], ['instance', 2, 3, 9, 1], ['group', 3, 6, 5, 3]] as const) {
      check(normFamily(rng, axes, N, C, S, G));
    }
    expect([...(ran.get('normForward') ?? [])]).toContain('wasm');
  });

  it('pools (max with indices, avg, adaptive) and their backwards', () => {
    const rng = new Rng(4);
    check(poolFamily(rng, [2, 3, 9, 7], { k: [3, 2], s: [2, 1], p: [1, 1], d: [1, 1], ceil: true }));
    check(poolFamily(rng, [1, 2, 8, 8], { k: [2, 2], s: [2, 2], p: [0, 0], d: [2, 1], ceil: false }));
    expect([...(ran.get('maxPool2d') ?? [])]).toContain('wasm');
  });

  it('elementwise (every unary and binary op), copy, sum, views (strided copy, scatterView, cat)', () => {
    const rng = new Rng(5);
    for (const shape of [[33], [9, 8], [2, 3, 4, 5]]) check(elementwiseCases(rng, shape));
    check(viewCases('float32', { storage: rng.normals(84), g: rng.normals(18), pad1: rng.normals(6), pad2: rng.normals(6) }));
    expect([...(ran.get('unary') ?? [])]).toContain('wasm');
    expect([...(ran.get('cat') ?? [])]).toContain('wasm');
  });

  it('every WASM variant of every kernel ran, and the poison reached outputs and scratch', () => {
    for (const k of cpuKernelNames()) {
      // the FMA twins need relaxed SIMD
      const present = cpuVariants(k)
        .map((v) => v.name)
        .filter((v) => v.startsWith('wasm') && (!v.endsWith('-fma') || wasmRelaxed()));
      expect([...(ran.get(k) ?? [])].sort(), `WASM variants of '${k}' that ran`).toEqual(present.sort());
    }
    expect(poisonedBytes.outputs).toBeGreaterThan(0);
    expect(poisonedBytes.arena).toBeGreaterThan(0);
  });
});

// ---- 2. training steps -------------------------------------------------------------------------

interface Net {
  batch: number;
  size: number;
  make: () => Module & { forward(x: Tensor): Tensor };
  adam?: boolean;
}

const NETS: Record<string, Net> = {
  'ResNet-8 GroupNorm': { batch: 2, size: 28, make: () => models.cifarResNet(8, { inChannels: 1, width: 8, normLayer: normLayer('gn') }) },
  'ResNet-8 LayerNorm': { batch: 2, size: 28, make: () => models.cifarResNet(8, { inChannels: 1, width: 8, normLayer: normLayer('ln') }) },
  'ResNet-8 InstanceNorm': { batch: 2, size: 28, make: () => models.cifarResNet(8, { inChannels: 1, width: 8, normLayer: normLayer('in') }) },
  'ResNet-8 BatchNorm': { batch: 3, size: 28, make: () => models.cifarResNet(8, { inChannels: 1, width: 8 }) },
  'plain-8 BatchNorm': { batch: 3, size: 28, make: () => models.cifarPlain(8, { inChannels: 1, width: 8 }) },
  'plain-8 no norm': { batch: 3, size: 28, make: () => models.cifarPlain(8, { inChannels: 1, width: 8, normLayer: () => new nn.Identity() }) },
  'ResNet-8 no norm': { batch: 2, size: 28, make: () => models.cifarResNet(8, { inChannels: 1, width: 8, normLayer: () => new nn.Identity() }) },
  'ResNet-8 grouped': { batch: 3, size: 17, make: () => models.cifarResNet(8, { width: 8, groups: 2 }) },
  'stem + max pool + ResNeXt bottleneck (1x1, grouped 3x3, 1x1, projection), Adam': {
    batch: 2,
    size: 20,
    adam: true,
    make: () =>
      new nn.Sequential(
        new nn.Conv2d(1, 16, 3, { padding: 1, bias: false }),
        new nn.BatchNorm2d(16),
        new nn.ReLU(),
        new nn.MaxPool2d(3, { stride: 2, padding: 1 }),
        new Bottleneck(16, 8, { groups: 4, baseWidth: 16, downsample: new nn.Sequential(new nn.Conv2d(16, 32, 1, { bias: false }), new nn.BatchNorm2d(32)) }),
        new nn.AdaptiveAvgPool2d(1),
        new nn.Flatten(),
        new nn.Linear(32, 10),
      ),
  },
};

/** Two training steps of `net` from seed 3: the bits of every parameter and buffer, and of the losses. */
function train(net: Net): Record<string, string> {
  manualSeed(3);
  const model = net.make();
  const inChannels = (model.parameters()[0] as Tensor).shape[1] as number;
  const opt = net.adam ? new optim.Adam(model.parameters(), { lr: 1e-3 }) : new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  const x = randn([net.batch, inChannels, net.size, net.size]);
  const y = randint(0, 10, [net.batch]);
  const losses: number[] = [];
  for (let s = 0; s < 2; s++) {
    const loss = tidy(() => {
      opt.zeroGrad();
      const l = F.crossEntropy(model.forward(x), y);
      l.backward();
      opt.step();
      return l.detach();
    });
    losses.push(loss.toArray()[0] as number);
  }
  const out: Record<string, string> = { losses: bits(Float64Array.from(losses)) };
  for (const [k, t] of Object.entries(model.stateDict())) out[k] = bits(t.contiguous().toArray());
  return out;
}

describe('training steps do not depend on unwritten memory', () => {
  onThreads(2);
  for (const [name, net] of Object.entries(NETS)) {
    it(`${name}, batch ${net.batch}, ${net.size}x${net.size}: 2 steps in tidy(), the same bits under every poison`, () => {
      const clean = train(net);
      for (const p of POISONS.slice(1)) {
        const before = { ...poisonedBytes };
        const dirty = poisoned(p, () => train(net));
        expect(poisonedBytes.outputs, `${name}: output bytes poisoned (${p})`).toBeGreaterThan(before.outputs);
        expect(poisonedBytes.arena, `${name}: scratch bytes poisoned (${p})`).toBeGreaterThan(before.arena);
        const differ = Object.keys(clean).filter((k) => dirty[k] !== clean[k]);
        expect(differ, `${name}: what differs with ${p} in unwritten memory`).toEqual([]);
      }
    });
  }
});
