// Forms of a conv's weights kept between calls for inference (core/cpu/wasm.ts cachedWeights):
// Winograd's transformed weights U (kernels/wasm/winograd.ts opts.u) and the im2col GEMM's packed
// weights (kernels/wasm/conv.ts opts.wPacked). For each: a cached form gives the bits a fresh one
// gives, a write to the weights is never served a stale form, and training (weights written
// every step) or weights that are not pinned never fill the cache.
import { afterEach, describe, expect, it } from 'vitest';
import { F, Generator, nn, noGrad, optim, randn, tidy, variants } from '../../index.js';
import { packedWeightCache, wasmHeap, winogradWeightCache } from '../../core/cpu/wasm.js';
import { conv2dDirect } from '../../kernels/cpu/conv2d.js';
import { conv2dForwardWasm, packedWeightFloats } from '../../kernels/wasm/conv.js';
import { winogradConv2dForwardWasm, winogradWeightFloats } from '../../kernels/wasm/winograd.js';
import { getNumThreads, getWasm, setNumThreads } from '../../kernels/wasm/runtime.js';
import { conv2dGeometry } from '../../nn/ops/conv.js';
import { expectClose } from '../helpers/assert.js';
import { expectSameBits, withConvVariant } from '../helpers/variants.js';

const gen = new Generator(77);

interface Form {
  name: string;
  variant: string;
  stats: { enabled: boolean; fills: number; hits: number };
  /** [x shape, w shape, padding, what the case covers] */
  cases: [number[], number[], number, string][];
}

const FORMS: Form[] = [
  {
    name: "Winograd's U",
    variant: 'wasm-winograd-fma',
    stats: winogradWeightCache,
    cases: [
      [[2, 16, 12, 12], [24, 16, 3, 3], 1, 'F(2×2)'],
      [[2, 16, 20, 20], [24, 16, 3, 3], 1, 'F(4×4)'],
    ],
  },
  {
    name: 'the packed weights',
    variant: 'wasm-im2col-fma',
    stats: packedWeightCache,
    cases: [
      [[2, 32, 9, 9], [24, 32, 3, 3], 1, 'Kg = 288: two K slices'],
      [[1, 300, 5, 5], [10, 300, 1, 1], 0, '1×1, Kg = 300, 10 rows: a partial sliver'],
      [[1, 64, 6, 6], [96, 64, 3, 3], 1, 'Kg = 576, 96 channels: channel blocks on 2 threads'],
    ],
  },
];

afterEach(() => {
  for (const f of FORMS) f.stats.enabled = true;
});

for (const form of FORMS) {
  const layer = ([xs, ws, padding]: Form['cases'][number]) => {
    const conv = new nn.Conv2d(ws[1]!, ws[0]!, ws[2]!, { padding, bias: false, generator: gen });
    const x = randn(xs, { generator: gen });
    return { conv, x };
  };
  const runOf = (conv: nn.Conv2d, x: ReturnType<typeof randn>) => () =>
    withConvVariant(form.variant, () => noGrad(() => tidy(() => conv.forward(x).toArray() as Float32Array)));
  const fresh = (f: () => Float32Array): Float32Array => {
    form.stats.enabled = false;
    try {
      return f();
    } finally {
      form.stats.enabled = true;
    }
  };

  describe(`${form.name}, cached, give the bits of a fresh form`, () => {
    for (const c of form.cases) {
      for (const nt of [1, 2]) {
        it(`x=[${c[0]}] w=[${c[1]}] (${c[3]}) on ${nt} thread${nt > 1 ? 's' : ''}: three calls, the third served from the cache`, () => {
          const previous = getNumThreads();
          setNumThreads(nt);
          try {
            const { conv, x } = layer(c);
            const run = runOf(conv, x);
            const want = fresh(run);
            const before = { ...form.stats };
            const got = [run(), run(), run()];
            expect(form.stats.fills - before.fills, 'fills').toBe(1);
            expect(form.stats.hits - before.hits, 'hits').toBe(1);
            for (const [i, g] of got.entries()) expectSameBits(g, want, `call ${i + 1}`);
          } finally {
            setNumThreads(previous);
          }
        });
      }
    }

    it('a write to the weights (assign) is followed, never served the old form', () => {
      const c = form.cases[1]!;
      const { conv, x } = layer(c);
      const run = runOf(conv, x);
      run();
      run();
      run(); // cached now
      const pinned = wasmHeap()!.stats().pinnedBytes;
      noGrad(() => conv.weight.assign(conv.weight.mul(-2).add(0.01)));
      const after = run();
      expectSameBits(after, fresh(run), 'after assign');
      // the stale form was freed when the new version was first seen, and the new one took its room
      run();
      expect(wasmHeap()!.stats().pinnedBytes, 'pinned bytes after a refill').toBe(pinned);
      const p = conv2dGeometry(x.shape, conv.weight.shape, { padding: c[2] });
      const y = new Float64Array(after.length);
      conv2dDirect(Float64Array.from(x.toArray()), Float64Array.from(conv.weight.toArray()), null, y, p);
      expectClose(after, y, { atol: 1e-4, rtol: 1e-4, label: 'against the direct loops' });
    });

    it('a training loop writes its weights every step: nothing is cached', () => {
      const { conv, x } = layer(form.cases[1]!);
      const opt = new optim.SGD(conv.parameters(), { lr: 0.01 });
      const before = form.stats.fills + form.stats.hits;
      for (let i = 0; i < 4; i++) {
        tidy(() => {
          opt.zeroGrad();
          withConvVariant(form.variant, () => conv.forward(x)).square().mean().backward();
          opt.step();
        });
      }
      expect(form.stats.fills + form.stats.hits).toBe(before);
    });

    it('weights that are not pinned (a plain tensor) are never cached', () => {
      const [xs, ws, padding] = form.cases[1]!;
      const w = randn(ws, { generator: gen });
      const x = randn(xs, { generator: gen });
      const before = form.stats.fills + form.stats.hits;
      for (let i = 0; i < 3; i++) withConvVariant(form.variant, () => noGrad(() => F.conv2d(x, w, null, { padding })));
      expect(form.stats.fills + form.stats.hits).toBe(before);
    });
  });
}

describe('the switches are public: variants.packedWeightCache, variants.winogradWeightCache', () => {
  it('turning one off stops its fills and hits, and the output stays the same', () => {
    expect(variants.packedWeightCache).toBe(packedWeightCache);
    expect(variants.winogradWeightCache).toBe(winogradWeightCache);
    const conv = new nn.Conv2d(32, 24, 3, { padding: 1, bias: false, generator: gen });
    const x = randn([2, 32, 9, 9], { generator: gen });
    const run = () => withConvVariant('wasm-im2col-fma', () => noGrad(() => tidy(() => conv.forward(x).toArray() as Float32Array)));
    const want = run();
    variants.packedWeightCache.enabled = false;
    const before = packedWeightCache.fills + packedWeightCache.hits;
    const got = [run(), run(), run()];
    expect(packedWeightCache.fills + packedWeightCache.hits).toBe(before);
    for (const [i, g] of got.entries()) expectSameBits(g, want, `call ${i + 1}`);
  });
});

/** A home of `floats` floats in wasm memory. */
const homeOf = (floats: number): Float32Array => {
  const rt = getWasm()!;
  return new Float32Array(rt.memory.buffer, rt.reserve(floats * 4), floats);
};

describe('winogradConv2dForwardWasm opts.u', () => {
  const p = conv2dGeometry([1, 8, 18, 18], [16, 8, 3, 3], { padding: 1 });
  const x = Float32Array.from(randn([1, 8, 18, 18], { generator: gen }).toArray());
  const w = Float32Array.from(randn([16, 8, 3, 3], { generator: gen }).toArray());

  it('filling U, then reading it, gives the bits of a call without it', () => {
    const home = homeOf(winogradWeightFloats(p).floats);
    const want = new Float32Array(16 * 18 * 18);
    winogradConv2dForwardWasm(x, w, null, want, p);
    const filled = new Float32Array(want.length);
    winogradConv2dForwardWasm(x, w, null, filled, p, { u: { data: home, ready: false } });
    const read = new Float32Array(want.length);
    // w is not even looked at for the transform now: a zeroed copy shows U came from `home`
    winogradConv2dForwardWasm(x, new Float32Array(w.length), null, read, p, { u: { data: home, ready: true } });
    expectSameBits(filled, want, 'filled');
    expectSameBits(read, want, 'read');
  });

  it('a U home that is too small or outside wasm memory is an error naming it', () => {
    const y = new Float32Array(16 * 18 * 18);
    const { floats } = winogradWeightFloats(p);
    expect(() => winogradConv2dForwardWasm(x, w, null, y, p, { u: { data: new Float32Array(floats), ready: false } })).toThrow(
      /winogradConv2dForwardWasm: opts.u.data must be \d+ floats in wasm memory/,
    );
  });
});

describe('conv2dForwardWasm opts.wPacked', () => {
  // 30 channels (a partial sliver), Kg = 270 (two K slices), bias and ReLU
  const p = conv2dGeometry([2, 30, 7, 6], [30, 30, 3, 3], { padding: 1 });
  const x = Float32Array.from(randn([2, 30, 7, 6], { generator: gen }).toArray());
  const w = Float32Array.from(randn([30, 30, 3, 3], { generator: gen }).toArray());
  const b = Float32Array.from(randn([30], { generator: gen }).toArray());

  it('packedWeightFloats: the rows rounded up to slivers of 4, times Kg', () => {
    expect(packedWeightFloats(p)).toBe(32 * 270);
  });

  it('packing w into the home, then reading it, gives the bits of a call without it', () => {
    const home = homeOf(packedWeightFloats(p));
    const want = new Float32Array(2 * 30 * 7 * 6);
    conv2dForwardWasm(x, w, b, want, p, { relu: true });
    const filled = new Float32Array(want.length);
    conv2dForwardWasm(x, w, b, filled, p, { relu: true, wPacked: { data: home, ready: false } });
    const read = new Float32Array(want.length);
    // a zeroed w: the product came from the packed home
    conv2dForwardWasm(x, new Float32Array(w.length), b, read, p, { relu: true, wPacked: { data: home, ready: true } });
    expectSameBits(filled, want, 'filled');
    expectSameBits(read, want, 'read');
  });

  it('a home that is too small, outside wasm memory, or a grouped conv is an error naming it', () => {
    const y = new Float32Array(2 * 30 * 7 * 6);
    const floats = packedWeightFloats(p);
    const message = /conv2dForwardWasm: opts.wPacked.data must be \d+ floats in wasm memory \(packedWeightFloats\) for groups = 1/;
    expect(() => conv2dForwardWasm(x, w, b, y, p, { wPacked: { data: new Float32Array(floats), ready: false } })).toThrow(message);
    expect(() => conv2dForwardWasm(x, w, b, y, p, { wPacked: { data: homeOf(floats - 1), ready: false } })).toThrow(message);
    const grouped = conv2dGeometry([2, 30, 7, 6], [30, 15, 3, 3], { padding: 1, groups: 2 });
    expect(() => conv2dForwardWasm(x, w.subarray(0, 30 * 15 * 9), b, y, grouped, { wPacked: { data: homeOf(floats), ready: false } })).toThrow(
      /got \d+ for groups = 2/,
    );
  });
});
