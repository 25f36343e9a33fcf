// SHA-256 (FIPS 180-4) for the per-tensor hashes that models/safetensors.ts writes and checks:
// node:crypto where there is one; elsewhere (a browser has only the asynchronous crypto.subtle)
// the streaming implementation below.
import type * as NodeCrypto from 'node:crypto';

function firstPrimes(n: number): number[] {
  const out: number[] = [];
  for (let k = 2; out.length < n; k++) if (out.every((p) => k % p !== 0)) out.push(k);
  return out;
}
/** The first 32 bits of the fractional part of x. */
const frac32 = (x: number): number => ((x - Math.floor(x)) * 2 ** 32) >>> 0;
// SHA-256's constants, computed as FIPS 180-4 defines them rather than typed in: the round
// constants from the cube roots of the first 64 primes, the initial state from the square roots
// of the first 8 (the tests check the digests against node:crypto).
const PRIMES = firstPrimes(64);
// Int32Array throughout (the same bits): V8 keeps int32 values in registers, uint32 ones above
// 2^31 become doubles, several times slower.
const ROUND_K = Int32Array.from(PRIMES, (p) => frac32(Math.cbrt(p)));
const INITIAL_H = Int32Array.from(PRIMES.slice(0, 8), (p) => frac32(Math.sqrt(p)));
const rotr = (x: number, n: number): number => (x >>> n) | (x << (32 - n));

/**
 * SHA-256 in plain TypeScript, for hosts without node:crypto (a browser has only the asynchronous
 * crypto.subtle). Streaming: update() takes any number of chunks, hex() pads and finishes.
 */
class Sha256 {
  private readonly h = Int32Array.from(INITIAL_H);
  private readonly w = new Int32Array(64);
  private readonly pending = new Uint8Array(64);
  private used = 0;
  private total = 0;

  /** One 64-byte block at b[at..at+64): 64 rounds on the message schedule w. */
  private block(b: Uint8Array, at: number): void {
    const w = this.w;
    for (let i = 0; i < 16; i++) {
      const j = at + 4 * i;
      w[i] = (b[j] << 24) | (b[j + 1] << 16) | (b[j + 2] << 8) | b[j + 3];
    }
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15];
      const y = w[i - 2];
      const s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3);
      const s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0; // mod 2^32
    }
    const h = this.h;
    let a = h[0];
    let b2 = h[1];
    let c = h[2];
    let d = h[3];
    let e = h[4];
    let f = h[5];
    let g = h[6];
    let k = h[7];
    for (let i = 0; i < 64; i++) {
      const t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + ROUND_K[i] + w[i]) | 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b2) ^ (a & c) ^ (b2 & c))) | 0;
      k = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b2;
      b2 = a;
      a = (t1 + t2) | 0;
    }
    h[0] = (h[0] + a) | 0;
    h[1] = (h[1] + b2) | 0;
    h[2] = (h[2] + c) | 0;
    h[3] = (h[3] + d) | 0;
    h[4] = (h[4] + e) | 0;
    h[5] = (h[5] + f) | 0;
    h[6] = (h[6] + g) | 0;
    h[7] = (h[7] + k) | 0;
  }

  update(data: Uint8Array): this {
    let i = 0;
    this.total += data.length;
    if (this.used > 0) {
      const take = Math.min(64 - this.used, data.length);
      this.pending.set(data.subarray(0, take), this.used);
      this.used += take;
      i = take;
      if (this.used < 64) return this;
      this.block(this.pending, 0);
      this.used = 0;
    }
    for (; i + 64 <= data.length; i += 64) this.block(data, i);
    this.pending.set(data.subarray(i), 0);
    this.used = data.length - i;
    return this;
  }

  /** Pad with 0x80, zeros to 56 mod 64, then the message length in bits (64-bit big-endian). */
  hex(): string {
    const bits = this.total * 8;
    const tail = new Uint8Array(this.used < 56 ? 64 - this.used : 128 - this.used);
    tail[0] = 0x80;
    const view = new DataView(tail.buffer);
    view.setUint32(tail.length - 8, Math.floor(bits / 2 ** 32));
    view.setUint32(tail.length - 4, bits >>> 0);
    this.update(tail);
    return Array.from(this.h, (x) => (x >>> 0).toString(16).padStart(8, '0')).join('');
  }
}

/** Hex SHA-256 of the chunks, by node:crypto when there is one (or `portable`: always ours). */
export function sha256Hex(chunks: readonly Uint8Array[], portable = false): string {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const crypto = portable ? undefined : (proc?.getBuiltinModule?.('node:crypto') as typeof NodeCrypto | undefined);
  if (crypto) {
    const h = crypto.createHash('sha256');
    for (const c of chunks) h.update(c);
    return h.digest('hex');
  }
  const h = new Sha256();
  for (const c of chunks) h.update(c);
  return h.hex();
}
