// The seeded generator: same seed, same numbers; and its numbers pinned against a second,
// independent implementation of the same algorithm (xoshiro128** seeded by splitmix32) written
// here with BigInt arithmetic instead of Math.imul and 32-bit shifts.
import { describe, expect, it } from 'vitest';
import { Generator, defaultGenerator, manualSeed, rand, randint, randn } from '../../index.js';

const M32 = (1n << 32n) - 1n;
const u32 = (x: bigint): bigint => x & M32;
const rotl = (x: bigint, k: bigint): bigint => u32((x << k) | (x >> (32n - k)));

/** xoshiro128** over BigInt words, seeded by splitmix32 of (seed mod 2^32) xor floor(seed / 2^32). */
class BigIntXoshiro {
  private s: bigint[];
  constructor(seed: number) {
    let x = u32(BigInt(seed)) ^ u32(BigInt(seed) >> 32n);
    const next = (): bigint => {
      x = u32(x + 0x9e3779b9n);
      let z = x;
      z = u32((z ^ (z >> 16n)) * 0x85ebca6bn);
      z = u32((z ^ (z >> 13n)) * 0xc2b2ae35n);
      return z ^ (z >> 16n);
    };
    this.s = [next(), next(), next(), next()];
  }
  nextUint32(): bigint {
    const [s0, s1, s2, s3] = this.s as [bigint, bigint, bigint, bigint];
    const result = u32(rotl(u32(s1 * 5n), 7n) * 9n);
    const t = u32(s1 << 9n);
    const n2 = s2 ^ s0;
    const n3 = s3 ^ s1;
    const n1 = s1 ^ n2;
    const n0 = s0 ^ n3;
    this.s = [n0, n1, n2 ^ t, rotl(n3, 11n)];
    return result;
  }
  /** 53 bits: the top 27 of one word, then the top 26 of the next, over 2^53. */
  uniform(): number {
    const hi = this.nextUint32() >> 5n;
    const lo = this.nextUint32() >> 6n;
    return Number((hi << 26n) | lo) / 2 ** 53;
  }
}

const SEEDS = [0, 1, 42, 123456789, 2 ** 32 + 7];

describe('Generator', () => {
  for (const seed of SEEDS) {
    it(`seed=${seed}: the first 200 uint32 words match the BigInt reference`, () => {
      const g = new Generator(seed);
      const ref = new BigIntXoshiro(seed);
      const ours = Array.from({ length: 200 }, () => g.nextUint32());
      const theirs = Array.from({ length: 200 }, () => Number(ref.nextUint32()));
      expect(ours).toEqual(theirs);
    });
  }

  it('seed=42: uniform() uses 53 bits of two words, as the reference', () => {
    const g = new Generator(42);
    const ref = new BigIntXoshiro(42);
    for (let i = 0; i < 100; i++) expect(g.uniform()).toBe(ref.uniform());
  });

  it('seed=7: randn float64 is Box-Muller on the reference uniforms (cos, then the sin twin)', () => {
    const ref = new BigIntXoshiro(7);
    const expected: number[] = [];
    while (expected.length < 50) {
      const u1 = ref.uniform();
      const u2 = ref.uniform();
      const r = Math.sqrt(-2 * Math.log(u1));
      expected.push(r * Math.cos(2 * Math.PI * u2), r * Math.sin(2 * Math.PI * u2));
    }
    expect(Array.from(randn([50], { dtype: 'float64', generator: new Generator(7) }).toArray())).toEqual(expected);
  });
});

describe('seeding', () => {
  it('same seed, same tensor: manualSeed(5) then randn/rand twice', () => {
    manualSeed(5);
    const a = [randn([3, 4]).toArray(), rand([7]).toArray()];
    manualSeed(5);
    const b = [randn([3, 4]).toArray(), rand([7]).toArray()];
    expect(b).toEqual(a);
    manualSeed(6);
    expect(randn([3, 4]).toArray()).not.toEqual(a[0]);
  });

  it('float32 draws are the float64 draws rounded', () => {
    const d = randn([20], { dtype: 'float64', generator: new Generator(3) }).toArray();
    const f = randn([20], { generator: new Generator(3) }).toArray();
    expect(f).toBeInstanceOf(Float32Array);
    expect(Array.from(f)).toEqual(Array.from(d, Math.fround));
  });

  it('an explicit generator leaves the default generator untouched', () => {
    manualSeed(9);
    const first = defaultGenerator.uniform();
    manualSeed(9);
    randn([100], { generator: new Generator(1) });
    expect(defaultGenerator.uniform()).toBe(first);
  });

  it('rand x=[1000] lies in [0, 1); randint(-2, 3) x=[500] hits exactly {-2..2}', () => {
    const u = rand([1000], { dtype: 'float64', generator: new Generator(11) }).toArray();
    expect(u.every((v) => v >= 0 && v < 1)).toBe(true);
    const k = randint(-2, 3, [500], { generator: new Generator(12) });
    expect(k.dtype).toBe('int32');
    expect([...new Set(k.toArray())].sort((p, q) => p - q)).toEqual([-2, -1, 0, 1, 2]);
  });
});
