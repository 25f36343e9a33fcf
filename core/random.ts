// A seeded generator that gives the same numbers in Node and in the browser: xoshiro128**
// on 32-bit integers (Math.imul and >>> only), seeded through splitmix32.
//
// Its whole state is four 32-bit words plus the Box-Muller spare (the second normal of the last
// pair), so getState() is a small JSON-safe object: set it back and the same numbers follow.
import { ValueError } from './errors.js';

/** A generator's state as plain JSON: save it with a checkpoint, give it back to setState(). */
export interface RngState {
  algorithm: 'xoshiro128**';
  /** The four state words, as unsigned 32-bit integers. */
  state: [number, number, number, number];
  /** The normal that normal() hands out next without drawing, or null. */
  spareNormal: number | null;
}

export class Generator {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spareNormal: number | null = null;

  constructor(seed = 0) {
    this.manualSeed(seed);
  }

  manualSeed(seed: number): this {
    // splitmix32 expands one seed into four well-mixed state words.
    let x = (Math.floor(seed) >>> 0) ^ Math.floor(seed / 4294967296);
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    this.spareNormal = null;
    return this;
  }

  /** A copy of the state: setState() of it makes this (or any) generator repeat what follows. */
  getState(): RngState {
    const words = [this.s0, this.s1, this.s2, this.s3].map((w) => w >>> 0) as RngState['state'];
    return { algorithm: 'xoshiro128**', state: words, spareNormal: this.spareNormal };
  }

  /** Continue from a state made by getState() (checked first: a bad object changes nothing). */
  setState(s: RngState): this {
    const [s0, s1, s2, s3] = checkRngState(s).state;
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
    this.spareNormal = s.spareNormal;
    return this;
  }

  /** Next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal by Box-Muller: z = sqrt(-2 ln u1) cos(2 pi u2), and its sine twin is kept. */
  normal(): number {
    if (this.spareNormal !== null) {
      const z = this.spareNormal;
      this.spareNormal = null;
      return z;
    }
    let u1 = this.uniform();
    while (u1 === 0) u1 = this.uniform();
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spareNormal = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** Uniform integer in [low, high). */
  integer(low: number, high: number): number {
    return low + Math.floor(this.uniform() * (high - low));
  }
}

/** `s` when it is a usable RngState; a ValueError naming the field that is wrong otherwise. */
function checkRngState(s: unknown): RngState {
  const what = 'Generator.setState: state';
  if (s === null || typeof s !== 'object' || Array.isArray(s)) throw new ValueError(`${what} must be an object from getState(), but got ${describe(s)}`);
  const o = s as Record<string, unknown>;
  if (o.algorithm !== 'xoshiro128**') throw new ValueError(`${what}.algorithm must be 'xoshiro128**', but got ${describe(o.algorithm)}`);
  const words = o.state;
  if (!Array.isArray(words) || words.length !== 4) throw new ValueError(`${what}.state must be an array of 4 unsigned 32-bit integers, but got ${describe(words)}`);
  words.forEach((w, i) => {
    if (!(Number.isInteger(w) && w >= 0 && w <= 0xffffffff)) throw new ValueError(`${what}.state[${i}] must be an unsigned 32-bit integer, but got ${describe(w)}`);
  });
  // xoshiro never leaves the all-zero state: it would give zeros forever
  if (words.every((w) => w === 0)) throw new ValueError(`${what}.state is all zeros, which xoshiro128** cannot run from`);
  if (!(o.spareNormal === null || (typeof o.spareNormal === 'number' && Number.isFinite(o.spareNormal)))) {
    throw new ValueError(`${what}.spareNormal must be null or a finite number, but got ${describe(o.spareNormal)}`);
  }
  return s as RngState;
}

function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (typeof v === 'string') return `'${v}'`;
  let json: string | undefined;
  try {
    json = JSON.stringify(v);
  } catch {
    json = undefined;
  }
  if (json === undefined) return typeof v;
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** The process-wide generator used by randn/rand/init when none is passed. */
export const defaultGenerator = new Generator(0);

/** Seed the default generator, as torch.manual_seed. */
export function manualSeed(seed: number): Generator {
  return defaultGenerator.manualSeed(seed);
}

/** The default generator's state (what randn/rand/init/dropout draw from next), as torch.get_rng_state. */
export function getRngState(): RngState {
  return defaultGenerator.getState();
}

/** Restore the default generator, as torch.set_rng_state. */
export function setRngState(s: RngState): void {
  defaultGenerator.setState(s);
}
