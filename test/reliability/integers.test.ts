// int32 values that do not fit are errors, never a wrap-around. Each case runs here and in torch
// 1.13 (the oracle, called once at test time): where torch raises, we must raise an
// OverflowError/ValueError; where torch returns, our values must equal its. Two places where we
// are stricter than torch on purpose are tested on their own below.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ResgradError, type Tensor, ValueError, arange, full, randint, tensor } from '../../index.js';
import { INT32_MAX, INT32_MIN, castArray, narrowToInt32, toInt32 } from '../../core/dtype.js';
import { OverflowError } from '../../core/errors.js';

interface Case {
  name: string;
  run: () => Tensor;
  torch: string;
}

const CASES: Case[] = [
  { name: 'tensor([3e9], int32)', run: () => tensor([3e9], { dtype: 'int32' }), torch: 'torch.tensor([3e9], dtype=torch.int32)' },
  { name: 'tensor([-3e9], int32)', run: () => tensor([-3e9], { dtype: 'int32' }), torch: 'torch.tensor([-3e9], dtype=torch.int32)' },
  { name: 'tensor([2^31], int32)', run: () => tensor([2 ** 31], { dtype: 'int32' }), torch: 'torch.tensor([2**31], dtype=torch.int32)' },
  { name: 'tensor([2^31-1, -2^31], int32)', run: () => tensor([2 ** 31 - 1, -(2 ** 31)], { dtype: 'int32' }), torch: 'torch.tensor([2**31-1, -2**31], dtype=torch.int32)' },
  { name: 'tensor([2.7, -2.7], int32) truncates', run: () => tensor([2.7, -2.7], { dtype: 'int32' }), torch: 'torch.tensor([2.7, -2.7], dtype=torch.int32)' },
  { name: 'tensor([NaN], int32)', run: () => tensor([Number.NaN], { dtype: 'int32' }), torch: "torch.tensor([float('nan')], dtype=torch.int32)" },
  { name: 'tensor([Infinity], int32)', run: () => tensor([Number.POSITIVE_INFINITY], { dtype: 'int32' }), torch: "torch.tensor([float('inf')], dtype=torch.int32)" },
  { name: 'tensor(Float64Array [1, 3e9], int32)', run: () => tensor(Float64Array.of(1, 3e9), { dtype: 'int32' }), torch: 'torch.tensor([1.0, 3e9], dtype=torch.int32)' },
  { name: 'full([2], 3e9, int32)', run: () => full([2], 3e9, { dtype: 'int32' }), torch: 'torch.full([2], 3e9, dtype=torch.int32)' },
  { name: 'full([2], NaN, int32)', run: () => full([2], Number.NaN, { dtype: 'int32' }), torch: "torch.full([2], float('nan'), dtype=torch.int32)" },
  { name: 'full([2], 2.5, int32)', run: () => full([2], 2.5, { dtype: 'int32' }), torch: 'torch.full([2], 2.5, dtype=torch.int32)' },
  { name: 'full([2], 1e40) float32', run: () => full([2], 1e40), torch: 'torch.full([2], 1e40)' },
  { name: 'full([2], Infinity) float32', run: () => full([2], Number.POSITIVE_INFINITY), torch: "torch.full([2], float('inf'))" },
  { name: 'randint(0, 2^40) int32', run: () => randint(0, 2 ** 40, [2]), torch: 'torch.randint(0, 2**40, (2,), dtype=torch.int32)' },
  { name: 'randint(0, 2^31 + 1) int32', run: () => randint(0, 2 ** 31 + 1, [2]), torch: 'torch.randint(0, 2**31 + 1, (2,), dtype=torch.int32)' },
  { name: 'randint(-2^31 - 1, 0) int32', run: () => randint(-(2 ** 31) - 1, 0, [2]), torch: 'torch.randint(-2**31 - 1, 0, (2,), dtype=torch.int32)' },
  { name: 'randint(5, 5)', run: () => randint(5, 5, [2]), torch: 'torch.randint(5, 5, (2,))' },
  { name: 'arange(0, 5, 1.5, int32)', run: () => arange(0, 5, 1.5, { dtype: 'int32' }), torch: 'torch.arange(0, 5, 1.5, dtype=torch.int32)' },
  { name: 'arange(0.5, 5, 1, int32)', run: () => arange(0.5, 5, 1, { dtype: 'int32' }), torch: 'torch.arange(0.5, 5, 1, dtype=torch.int32)' },
  { name: 'arange(0, 2.5, 0.5, int32): step truncates to 0', run: () => arange(0, 2.5, 0.5, { dtype: 'int32' }), torch: 'torch.arange(0, 2.5, 0.5, dtype=torch.int32)' },
];

const PY = `
import json, sys, torch
out = []
for expr in json.load(sys.stdin):
    try:
        out.append({'ok': [repr(float(v)) for v in eval(expr).reshape(-1).tolist()]})
    except Exception as e:
        out.append({'error': type(e).__name__ + ': ' + str(e).split(chr(10))[0]})
print(json.dumps(out))
`;

type Verdict = { ok: string[] } | { error: string };
const verdicts = JSON.parse(execFileSync('/usr/bin/python3', ['-c', PY], { input: JSON.stringify(CASES.map((c) => c.torch)) }).toString()) as Verdict[];
/** Python's repr of a float as a number ('inf', 'nan' included). */
const fromRepr = (r: string): number => ({ inf: Number.POSITIVE_INFINITY, '-inf': Number.NEGATIVE_INFINITY, nan: Number.NaN })[r] ?? Number(r);

describe('int32 values that do not fit: as torch 1.13', () => {
  CASES.forEach((c, i) => {
    const v = verdicts[i];
    it(`${c.name}: torch ${'ok' in v ? 'returns' : 'raises'}`, () => {
      if ('error' in v) {
        expect(c.run, `torch: ${v.error}`).toThrow(ValueError); // OverflowError is a ValueError
        return;
      }
      if (c.name.startsWith('randint')) expect(c.run().numel()).toBe(2);
      else expect(Array.from(c.run().toArray())).toEqual(v.ok.map(fromRepr));
    });
  });
});

describe('the messages name the value and the range', () => {
  it('tensor, full, randint, NaN', () => {
    expect(() => tensor([1, 3e9], { dtype: 'int32' })).toThrow(/tensor: value 3000000000 at index 1 cannot be converted to int32 without overflow: int32 holds integers in \[-2147483648, 2147483647\]/);
    expect(() => tensor([3e9])).toThrow(/integer data becomes int32 unless a dtype is given/);
    expect(() => full([2], 3e9, { dtype: 'int32' })).toThrow(/full: value 3000000000 \(argument 'fillValue'\) cannot be converted to int32/);
    expect(() => randint(0, 2 ** 40, [2])).toThrow(/randint: value 1099511627775 \(argument 'high' - 1, the largest value drawn\) cannot be converted to int32/);
    expect(() => tensor([Number.NaN], { dtype: 'int32' })).toThrow(/value NaN at index 0 .* \(int32 has no NaN\)/);
    expect(() => tensor([Number.POSITIVE_INFINITY], { dtype: 'int32' })).toThrow(OverflowError);
  });

  it('non-integers where an integer is required', () => {
    expect(() => randint(0.5, 10, [2])).toThrow(/randint: argument 'low' must be an integer .* but got 0.5/);
    expect(() => randint(0, Number.NaN, [2])).toThrow(/argument 'high' must be an integer .* but got NaN/);
    expect(() => randint(0, Number.POSITIVE_INFINITY, [2])).toThrow(ValueError);
    expect(() => randint(0, 10, [2.5])).toThrow(/randint: argument 'shape' .* \(dim 0 is 2.5\)/);
  });
});

describe('where we are stricter than torch, on purpose', () => {
  it('an int32 arange past 2^31 - 1 is an error (torch 1.13 wraps it around to -2^31)', () => {
    expect(() => arange(2 ** 31 - 2, 2 ** 31 + 1)).toThrow(/arange: value 2147483648 \(the last element of the range/);
    expect(() => arange(0, 2 ** 31 + 5, 2 ** 30, { dtype: 'int32' })).toThrow(OverflowError);
    expect(Array.from(arange(2 ** 31 - 2, 2 ** 31 - 1 + 1).toArray())).toEqual([2 ** 31 - 2, 2 ** 31 - 1]);
    // float32 takes the same range (every value is exact below 2^24 apart from rounding)
    expect(arange(2 ** 31 - 2, 2 ** 31 + 1, 1, { dtype: 'float64' }).numel()).toBe(3);
  });

  it('64-bit and unsigned typed arrays become int32, checked', () => {
    expect(Array.from(tensor(new Uint8Array([1, 255])).toArray())).toEqual([1, 255]);
    expect(tensor(new Uint8Array([1])).dtype).toBe('int32');
    expect(Array.from(tensor(BigInt64Array.of(-5n, 7n)).toArray())).toEqual([-5, 7]);
    expect(() => tensor(BigInt64Array.of(1n, 2n ** 40n))).toThrow(/value 1099511627776 at index 1 cannot be converted to int32/);
    expect(() => tensor(Uint32Array.of(2 ** 32 - 1))).toThrow(OverflowError);
  });
});

describe('int32 helpers (the kernels narrow their wider results through these)', () => {
  it('toInt32 truncates toward zero and refuses what int32 cannot hold', () => {
    expect(toInt32(-2.9, 'op')).toBe(-2);
    expect(toInt32(INT32_MAX + 0.5, 'op')).toBe(INT32_MAX);
    expect(toInt32(INT32_MIN, 'op')).toBe(INT32_MIN);
    for (const v of [INT32_MAX + 1, INT32_MIN - 1, Number.NaN, Number.NEGATIVE_INFINITY]) expect(() => toInt32(v, 'op')).toThrow(OverflowError);
  });

  it('narrowToInt32: an int32 sum computed in float64 is exact or an error naming the output index', () => {
    // a float64 accumulator holds every int32 sum exactly while it stays below 2^53
    const acc = Float64Array.of(INT32_MAX, INT32_MIN, 0);
    expect(Array.from(narrowToInt32(acc, 'sum'))).toEqual([INT32_MAX, INT32_MIN, 0]);
    expect(() => narrowToInt32(Float64Array.of(1, INT32_MAX + 1), 'sum')).toThrow(/sum: the int32 result 2147483648 at output index 1 does not fit in int32/);
    expect(() => narrowToInt32(Float64Array.of(0.5), 'prod')).toThrow(OverflowError);
  });

  it('castArray into int32 checks; int32 to int32 is a plain copy', () => {
    expect(Array.from(castArray(Int32Array.of(INT32_MIN, INT32_MAX), 'int32'))).toEqual([INT32_MIN, INT32_MAX]);
    expect(() => castArray([1, Number.NaN], 'int32', 'to')).toThrow(/to: value NaN at index 1/);
    expect(() => castArray([1, 2 ** 31], 'int32')).toThrow(ResgradError);
  });
});

describe('int32 sums: exact in float64, then an OverflowError past int32 (torch sums into int64, which we lack)', () => {
  it('in range: exact, whatever the partial sums (torch: 2147483643, -2147483648)', () => {
    expect(tensor([2 ** 31 - 1, 1, -5], { dtype: 'int32' }).sum().item()).toBe(2147483643);
    expect(tensor([-(2 ** 31) + 1, -1], { dtype: 'int32' }).sum().item()).toBe(-2147483648);
    expect(tensor([2 ** 31 - 1, 1, -5], { dtype: 'int32' }).sum().dtype).toBe('int32');
  });
  it('past int32: an OverflowError naming the value, on the strided and the contiguous kernel alike', () => {
    const x = tensor([[2 ** 31 - 1, 1], [3, 4]], { dtype: 'int32' });
    expect(() => tensor([2 ** 31 - 1, 1], { dtype: 'int32' }).sum()).toThrow(/sum: the int32 result 2147483648 at output index 0 does not fit in int32/);
    expect(() => x.sum(0)).toThrow(OverflowError);
    expect(() => x.t().sum(1)).toThrow(/2147483650/);
    expect(() => tensor([-(2 ** 31), -1], { dtype: 'int32' }).sum()).toThrow(/-2147483649/);
    expect(x.to('float64').sum().item()).toBe(2 ** 31 + 7);
  });
  it('NaN, Infinity and out-of-range floats cast to int32 are refused; others truncate (torch: [2, -2])', () => {
    expect(Array.from(tensor([2.7, -2.7]).to('int32').toArray())).toEqual([2, -2]);
    expect(() => tensor([1.5, Number.NaN]).to('int32')).toThrow(/to: value NaN at index 1 cannot be converted to int32/);
    expect(() => tensor([3e9]).to('int32')).toThrow(OverflowError);
  });
});
