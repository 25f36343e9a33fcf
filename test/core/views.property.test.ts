// Property-based (fast-check): random chains of views (permute, transpose, slice with step,
// narrow, select, expand, unsqueeze, squeeze, reshape, flatten) over a random base tensor.
// The naive reference tracks, for every element of the view, which base element it is
// (a function from index to base position), so we can check values, contiguous(), the strided
// unary/reduce kernels, and the backward (each base element collects the gradients of all view
// elements that read it).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Generator, type Tensor, autograd as ag, tensor } from '../../index.js';
import { expectClose } from '../helpers/assert.js';
import { prod, unravel } from '../helpers/indexing.js';

/** The reference view: shape, and the base flat position read at each multi-index. */
interface RefView {
  shape: number[];
  at: (idx: readonly number[]) => number;
}

function ravel(idx: readonly number[], shape: readonly number[]): number {
  return idx.reduce((f, v, d) => f * (shape[d] as number) + v, 0);
}
/** All base positions of the view, in row-major order of the view. */
const positions = (r: RefView): number[] => Array.from({ length: prod(r.shape) }, (_, i) => r.at(unravel(i, r.shape)));

/** One step: random integers `p` are turned into valid arguments for the current shape. */
interface Step {
  kind: 'permute' | 'transpose' | 'slice' | 'narrow' | 'select' | 'expand' | 'unsqueeze' | 'squeeze' | 'reshape' | 'flatten';
  p: number[];
}

/** Apply a step to the tensor and to the reference alike; returns a short description. */
function apply(step: Step, x: Tensor, r: RefView): [Tensor, RefView, string] {
  const nd = r.shape.length;
  const [p0 = 0, p1 = 0, p2 = 0, p3 = 0] = step.p;
  const sh = r.shape;
  switch (step.kind) {
    case 'permute': {
      const perm = sh.map((_, i) => i).sort((a, b) => ((step.p[a] ?? 0) - (step.p[b] ?? 0)) || a - b);
      const inv = new Array<number>(nd);
      perm.forEach((d, i) => {
        inv[d] = i;
      });
      return [ag.permute(x, perm), { shape: perm.map((d) => sh[d] as number), at: (idx) => r.at(inv.map((i) => idx[i] as number)) }, `permute(${perm})`];
    }
    case 'transpose': {
      if (nd < 2) return [x, r, 'skip'];
      const a = p0 % nd;
      const b = p1 % nd;
      const swap = (idx: readonly number[]): number[] => idx.map((v, d) => (d === a ? (idx[b] as number) : d === b ? (idx[a] as number) : v));
      return [ag.transpose(x, a, b), { shape: swap(sh), at: (idx) => r.at(swap(idx)) }, `transpose(${a},${b})`];
    }
    case 'slice':
    case 'narrow': {
      if (nd === 0) return [x, r, 'skip'];
      const d = p0 % nd;
      const n = sh[d] as number;
      const start = p1 % (n + 1);
      const end = start + (p2 % (n - start + 1));
      const step1 = step.kind === 'narrow' ? 1 : 1 + (p3 % 3);
      const len = Math.ceil((end - start) / step1);
      const shape = sh.map((s, k) => (k === d ? len : s));
      const at = (idx: readonly number[]): number => r.at(idx.map((v, k) => (k === d ? start + v * step1 : v)));
      if (step.kind === 'narrow') return [ag.narrow(x, d, start, end - start), { shape, at }, `narrow(${d},${start},${end - start})`];
      // negative start written Python-style half the time
      const s = p3 % 2 === 1 && start < n ? start - n : start;
      return [ag.slice(x, d, s, end, step1), { shape, at }, `slice(${d},${s},${end},${step1})`];
    }
    case 'select': {
      if (nd === 0) return [x, r, 'skip'];
      const d = p0 % nd;
      const n = sh[d] as number;
      if (n === 0) return [x, r, 'skip'];
      const i = p1 % n;
      const shape = sh.filter((_, k) => k !== d);
      return [ag.select(x, d, i), { shape, at: (idx) => r.at([...idx.slice(0, d), i, ...idx.slice(d)]) }, `select(${d},${i})`];
    }
    case 'expand': {
      // size-1 dims grow to 1..3, and sometimes a new leading dim appears
      const lead = nd < 4 && p0 % 2 === 1 ? 1 + (p1 % 3) : 0;
      const grown = sh.map((s, k) => (s === 1 ? 1 + ((step.p[k] ?? 0) % 3) : s));
      const shape = lead ? [lead, ...grown] : grown;
      const at = (idx: readonly number[]): number => r.at(idx.slice(lead ? 1 : 0).map((v, k) => (sh[k] === 1 ? 0 : v)));
      return [ag.expand(x, shape), { shape, at }, `expand(${shape})`];
    }
    case 'unsqueeze': {
      if (nd >= 5) return [x, r, 'skip'];
      const d = p0 % (nd + 1);
      const shape = [...sh.slice(0, d), 1, ...sh.slice(d)];
      return [ag.unsqueeze(x, d), { shape, at: (idx) => r.at([...idx.slice(0, d), ...idx.slice(d + 1)]) }, `unsqueeze(${d})`];
    }
    case 'squeeze': {
      const keep = sh.map((s) => s !== 1);
      if (p0 % 2 === 0 || nd === 0) {
        return [ag.squeeze(x), { shape: sh.filter((_, k) => keep[k]), at: (idx) => r.at(expandIdx(idx, keep)) }, 'squeeze()'];
      }
      const d = p1 % nd;
      const k2 = sh.map((s, k) => k !== d || s !== 1);
      return [ag.squeeze(x, d), { shape: sh.filter((_, k) => k2[k]), at: (idx) => r.at(expandIdx(idx, k2)) }, `squeeze(${d})`];
    }
    case 'reshape':
    case 'flatten': {
      let shape: number[];
      let out: Tensor;
      let desc: string;
      if (step.kind === 'flatten') {
        if (nd === 0) return [x, r, 'skip'];
        const s = p0 % nd;
        const e = s + (p1 % (nd - s));
        shape = [...sh.slice(0, s), prod(sh.slice(s, e + 1)), ...sh.slice(e + 1)];
        out = ag.flatten(x, s, e);
        desc = `flatten(${s},${e})`;
      } else {
        // split the element count into a random factorisation
        const n = prod(sh);
        shape = p0 % 3 === 0 || n === 0 ? [n] : splitInTwo(n, p1);
        out = ag.reshape(x, shape);
        desc = `reshape(${shape})`;
      }
      return [out, { shape, at: (idx) => r.at(unravel(ravel(idx, shape), sh)) }, desc];
    }
  }
}

/** Put back the squeezed size-1 dims (index 0) so the old `at` can read. */
function expandIdx(idx: readonly number[], keep: readonly boolean[]): number[] {
  let j = 0;
  return keep.map((k) => (k ? (idx[j++] as number) : 0));
}

/** n = a·b with a the smallest divisor > 1 reached after `pick` steps (or [n] for primes). */
function splitInTwo(n: number, pick: number): number[] {
  const divisors = Array.from({ length: n }, (_, i) => i + 1).filter((d) => n % d === 0);
  const a = divisors[pick % divisors.length] as number;
  return [a, n / a];
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  kind: fc.constantFrom<Step['kind']>('permute', 'transpose', 'slice', 'narrow', 'select', 'expand', 'unsqueeze', 'squeeze', 'reshape', 'flatten'),
  p: fc.array(fc.nat({ max: 1000 }), { minLength: 5, maxLength: 5 }),
});
const chainCase = fc.record({
  base: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 4 }),
  steps: fc.array(stepArb, { minLength: 1, maxLength: 6 }),
  seed: fc.nat(),
});

/** Build the base (float64, requiresGrad) and run the chain on it and on the reference. */
function build(c: { base: number[]; steps: Step[]; seed: number }) {
  const g = new Generator(c.seed);
  const data = Float64Array.from({ length: prod(c.base) }, () => g.normal());
  const base = tensor(data, { shape: c.base, dtype: 'float64', requiresGrad: true });
  let x = base;
  let r: RefView = { shape: [...c.base], at: (idx) => ravel(idx, c.base) };
  const trail: string[] = [];
  for (const s of c.steps) {
    let d: string;
    [x, r, d] = apply(s, x, r);
    trail.push(d);
  }
  return { data, base, x, r, trail: trail.join('.') };
}

describe('strided view chains (property)', () => {
  it('toArray and contiguous() read the elements the naive reference says, shapes agree', () => {
    fc.assert(
      fc.property(chainCase, (c) => {
        const { data, x, r, trail } = build(c);
        expect([...x.shape], trail).toEqual(r.shape);
        const expected = positions(r).map((p) => data[p] as number);
        expect(Array.from(x.toArray()), trail).toEqual(expected);
        const cx = ag.contiguous(x);
        expect(cx.isContiguous()).toBe(true);
        expect(Array.from(cx.toArray()), trail).toEqual(expected);
      }),
      { numRuns: 400 },
    );
  });

  it('unary (exp) and sum over the last dim of a strided view match the reference', () => {
    fc.assert(
      fc.property(chainCase, (c) => {
        const { data, x, r, trail } = build(c);
        const vals = positions(r).map((p) => data[p] as number);
        expect(Array.from(ag.exp(x).toArray()), trail).toEqual(vals.map(Math.exp));
        if (r.shape.length === 0) return;
        const n = r.shape[r.shape.length - 1] as number;
        const rows = prod(r.shape) / Math.max(n, 1);
        const sums = Array.from({ length: n === 0 ? prod(r.shape.slice(0, -1)) : rows }, (_, i) => {
          let s = 0;
          for (let k = 0; k < n; k++) s += vals[i * n + k] as number;
          return s;
        });
        expectClose(ag.sum(x, -1), sums, { atol: 1e-12, rtol: 1e-12, label: trail });
      }),
      { numRuns: 300 },
    );
  });

  it('backward of the chain scatter-adds the gradient onto the base elements each view element read', () => {
    fc.assert(
      fc.property(chainCase, (c) => {
        const { base, x, r, trail } = build(c);
        if (x === base) return; // every step skipped: nothing to backpropagate through
        const g = new Generator(c.seed + 1);
        const gOut = Float64Array.from({ length: prod(r.shape) }, () => g.normal());
        x.backward(tensor(gOut, { shape: r.shape, dtype: 'float64' }));
        const expected = new Float64Array(base.numel());
        positions(r).forEach((p, i) => {
          expected[p] = (expected[p] as number) + (gOut[i] as number);
        });
        expect(base.grad, trail).not.toBeNull();
        expectClose(base.grad!, expected, { atol: 1e-12, rtol: 1e-12, label: trail });
      }),
      { numRuns: 300 },
    );
  });
});
