// Winograd's transformed weights U kept between calls (core/cpu/wasm.ts cachedWinogradWeights,
// kernels/wasm/winograd.ts opts.u): a cached U gives the bits a fresh transform gives, a write to
// the weights is never served a stale U, and training (weights written every step) or weights that
// are not pinned never fill the cache.
import { afterEach, describe, expect, it } from 'vitest';
import { F, Generator, nn, noGrad, optim, randn, tidy } from '../../index.js';
import { winogradWeightCache } from '../../core/cpu/wasm.js';
import { conv2dDirect } from '../../kernels/cpu/conv2d.js';
import { winogradConv2dForwardWasm, winogradWeightFloats } from '../../kernels/wasm/winograd.js';
import { getWasm } from '../../kernels/wasm/runtime.js';
import { conv2dGeometry } from '../../nn/ops/conv.js';
import { expectClose } from '../helpers/assert.js';
import { expectSameBits, withConvVariant } from '../helpers/variants.js';

afterEach(() => {
  winogradWeightCache.enabled = true;
});

const gen = new Generator(77);
/** A 3×3 conv module (pinned weights) and an input Winograd takes: F(2×2) at 12², F(4×4) at 20². */
function layer(side: number) {
  const conv = new nn.Conv2d(16, 24, 3, { padding: 1, bias: false, generator: gen });
  const x = randn([2, 16, side, side], { generator: gen });
  return { conv, x };
}
const fresh = (f: () => Float32Array): Float32Array => {
  winogradWeightCache.enabled = false;
  try {
    return f();
  } finally {
    winogradWeightCache.enabled = true;
  }
};

describe('a cached U gives the bits of a fresh transform', () => {
  for (const side of [12, 20]) {
    it(`x=[2,16,${side},${side}] w=[24,16,3,3] (${side < 16 ? 'F(2×2)' : 'F(4×4)'}): three calls, the third served from the cache`, () => {
      const { conv, x } = layer(side);
      const run = () => withConvVariant('wasm-winograd-fma', () => noGrad(() => tidy(() => conv.forward(x).toArray() as Float32Array)));
      const want = fresh(run);
      const before = { ...winogradWeightCache };
      const got = [run(), run(), run()];
      expect(winogradWeightCache.fills - before.fills, 'fills').toBe(1);
      expect(winogradWeightCache.hits - before.hits, 'hits').toBe(1);
      for (const [i, g] of got.entries()) expectSameBits(g, want, `call ${i + 1}`);
    });
  }

  it('a write to the weights (assign) is followed, never served the old U', () => {
    const { conv, x } = layer(20);
    const run = () => withConvVariant('wasm-winograd-fma', () => noGrad(() => tidy(() => conv.forward(x).toArray() as Float32Array)));
    run();
    run();
    run(); // cached now
    noGrad(() => conv.weight.assign(conv.weight.mul(-2).add(0.01)));
    const after = run();
    expectSameBits(after, fresh(run), 'after assign');
    const p = conv2dGeometry(x.shape, conv.weight.shape, { padding: 1 });
    const y = new Float64Array(after.length);
    conv2dDirect(Float64Array.from(x.toArray()), Float64Array.from(conv.weight.toArray()), null, y, p);
    expectClose(after, y, { atol: 1e-4, rtol: 1e-4, label: 'against the direct loops' });
  });

  it('a training loop writes its weights every step: nothing is cached', () => {
    const { conv, x } = layer(20);
    const opt = new optim.SGD(conv.parameters(), { lr: 0.01 });
    const before = winogradWeightCache.fills + winogradWeightCache.hits;
    for (let i = 0; i < 4; i++) {
      tidy(() => {
        opt.zeroGrad();
        withConvVariant('wasm-winograd-fma', () => conv.forward(x)).square().mean().backward();
        opt.step();
      });
    }
    expect(winogradWeightCache.fills + winogradWeightCache.hits).toBe(before);
  });

  it('weights that are not pinned (a plain tensor) are never cached', () => {
    const w = randn([24, 16, 3, 3], { generator: gen });
    const x = randn([2, 16, 20, 20], { generator: gen });
    const before = winogradWeightCache.fills + winogradWeightCache.hits;
    for (let i = 0; i < 3; i++) withConvVariant('wasm-winograd-fma', () => noGrad(() => F.conv2d(x, w, null, { padding: 1 })));
    expect(winogradWeightCache.fills + winogradWeightCache.hits).toBe(before);
  });
});

describe('winogradConv2dForwardWasm opts.u', () => {
  const p = conv2dGeometry([1, 8, 18, 18], [16, 8, 3, 3], { padding: 1 });
  const x = Float32Array.from(randn([1, 8, 18, 18], { generator: gen }).toArray());
  const w = Float32Array.from(randn([16, 8, 3, 3], { generator: gen }).toArray());

  it('filling U, then reading it, gives the bits of a call without it', () => {
    const rt = getWasm()!;
    const { floats } = winogradWeightFloats(p);
    const home = new Float32Array(rt.memory.buffer, rt.reserve(floats * 4), floats);
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
