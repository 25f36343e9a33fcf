// Sizes: a shape past MAX_NUMEL, or a tensor past the memory budget, fails at once with a
// SizeError naming the op and the size (no raw RangeError, no minutes of filling memory); every
// size computed from a bad number (negative, NaN, fractional, infinite) is refused.
import { afterEach, describe, expect, it } from 'vitest';
import { F, ResgradError, ValueError, arange, full, matmul, ones, rand, randint, randn, tensor, zeros } from '../../index.js';
import {
  DEFAULT_MEMORY_BUDGET,
  MEMORY_BUDGET_ENV,
  allocOutput,
  allocatingFor,
  getMemoryBudget,
  resetMemoryBudget,
  setMemoryBudget,
} from '../../core/allocator.js';
import { SizeError } from '../../core/errors.js';
import { MAX_NUMEL } from '../../core/shape.js';

afterEach(() => {
  resetMemoryBudget();
  delete process.env[MEMORY_BUDGET_ENV];
});

describe('shapes past MAX_NUMEL (2^31 - 1 elements) fail at once', () => {
  it('creation: zeros([1e5, 1e5]), randn([2^31]), full, rand, randint, ones', () => {
    expect(() => zeros([1e5, 1e5])).toThrow(/zeros: shape \[100000, 100000\] has 10000000000 elements, more than a tensor may have \(MAX_NUMEL = 2\^31 - 1/);
    expect(() => randn([2 ** 31])).toThrow(/randn: shape \[2147483648\] has 2147483648 elements/);
    for (const make of [() => full([2 ** 16, 2 ** 16], 1), () => rand([2 ** 31]), () => randint(0, 2, [2 ** 31]), () => ones([2 ** 40])]) {
      expect(make).toThrow(SizeError);
    }
    expect(() => zeros([0, 2 ** 40])).toThrow(/has 0 elements/); // empty, but no dim may be past MAX_NUMEL either
    expect(() => tensor([], { shape: [0, 2 ** 40] })).toThrow(SizeError);
    expect(MAX_NUMEL).toBe(2 ** 31 - 1);
  });

  it('views: expand and reshape to a huge numel', () => {
    expect(() => ones([1]).expand([2 ** 40])).toThrow(/expand: shape \[1099511627776\] has 1099511627776 elements/);
    expect(() => ones([1, 1]).expand([2 ** 20, 2 ** 20])).toThrow(SizeError);
    expect(() => ones([4]).reshape([2 ** 40, 0])).toThrow(ResgradError);
    expect(() => ones([4]).reshape([-1, 2 ** 40])).toThrow(ResgradError);
    expect(ones([1]).expand([2 ** 20]).shape).toEqual([2 ** 20]); // within the cap a view costs nothing
  });

  it('kernel outputs: matmul [65536,1] @ [1,65536], conv2d with a huge padding', () => {
    expect(() => matmul(ones([65536, 1]), ones([1, 65536]))).toThrow(/a float32 tensor of 4294967296 elements is more than a tensor may have/);
    expect(() => F.conv2d(ones([1, 1, 1, 1]), ones([1, 1, 1, 1]), null, { padding: 50000 })).toThrow(SizeError);
  });

  it('an arange of more than MAX_NUMEL values', () => {
    expect(() => arange(0, 3e9, 1, { dtype: 'float32' })).toThrow(/arange: the range 0 -> 3000000000 with step 1 has 3000000000 elements/);
    expect(() => arange(0, 1, 1e-12)).toThrow(SizeError);
  });
});

describe('the memory budget (bytes per tensor)', () => {
  it('defaults to 4 GiB: an 8 GiB float64 zeros is refused before any memory is touched', () => {
    expect(getMemoryBudget()).toBe(DEFAULT_MEMORY_BUDGET);
    expect(DEFAULT_MEMORY_BUDGET).toBe(2 ** 32);
    expect(() => zeros([2 ** 30], { dtype: 'float64' })).toThrow(
      /zeros: a float64 tensor of 1073741824 elements needs 8589934592 bytes \(8.00 GiB\), more than the memory budget of 4294967296 bytes \(4.00 GiB\) per tensor; raise it with setMemoryBudget\(bytes\) or the environment variable RESGRAD_MAX_TENSOR_BYTES/,
    );
  });

  it('setMemoryBudget: creation and kernel outputs both obey it; it returns the previous one', () => {
    expect(setMemoryBudget(1024)).toBe(DEFAULT_MEMORY_BUDGET);
    expect(zeros([256]).numel()).toBe(256); // exactly 1024 bytes
    expect(() => zeros([257])).toThrow(/zeros: a float32 tensor of 257 elements needs 1028 bytes/);
    expect(() => randn([129], { dtype: 'float64' })).toThrow(SizeError);
    expect(() => tensor(new Float64Array(129))).toThrow(/tensor: a float64 tensor of 129 elements/);
    // an op's output: 16 x 17 float32 = 1088 bytes
    expect(() => matmul(ones([16, 1]), ones([1, 17]))).toThrow(/needs 1088 bytes, more than the memory budget of 1024 bytes/);
    expect(() => ones([16, 1]).add(ones([1, 17]))).toThrow(SizeError);
    expect(setMemoryBudget(Number.POSITIVE_INFINITY)).toBe(1024);
    expect(zeros([300]).numel()).toBe(300);
  });

  it('allocatingFor names the op in an output that does not fit', () => {
    setMemoryBudget(64);
    expect(() => allocatingFor('conv2d', () => allocOutput('float64', 9))).toThrow(/^conv2d: a float64 tensor of 9 elements needs 72 bytes/);
    expect(() => allocOutput('float64', 9)).toThrow(/^kernel output: /);
    expect(() => allocOutput('float32', 2.5)).toThrow(SizeError);
  });

  it('bad budgets are refused', () => {
    for (const bad of [0, -1, Number.NaN, '1GB' as unknown as number]) {
      expect(() => setMemoryBudget(bad)).toThrow(/setMemoryBudget: argument 'bytes' must be a positive number of bytes/);
    }
  });

  it('RESGRAD_MAX_TENSOR_BYTES sets it; a malformed value is an error at each allocation, not ignored', () => {
    process.env[MEMORY_BUDGET_ENV] = '2048';
    resetMemoryBudget();
    expect(getMemoryBudget()).toBe(2048);
    expect(() => zeros([513])).toThrow(/more than the memory budget of 2048 bytes/);
    process.env[MEMORY_BUDGET_ENV] = 'Infinity';
    resetMemoryBudget();
    expect(getMemoryBudget()).toBe(Number.POSITIVE_INFINITY);
    process.env[MEMORY_BUDGET_ENV] = 'lots';
    resetMemoryBudget();
    expect(() => zeros([1])).toThrow(/the environment variable RESGRAD_MAX_TENSOR_BYTES must be a positive number of bytes .* but got 'lots'/);
  });
});

describe('sizes from bad numbers are refused', () => {
  const bad = [-1, Number.NaN, 2.5, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
  it.each(bad)('a dim of %s in zeros, ones, full, randn, rand, randint, tensor; reshape, view, expand', (d) => {
    for (const make of [
      () => zeros([2, d]),
      () => ones([d]),
      () => full([d], 1),
      () => randn([d, 2]),
      () => rand([d]),
      () => randint(0, 2, [d]),
      () => tensor([1, 2], { shape: [d] }),
    ]) {
      expect(make).toThrow(ValueError);
      expect(make).toThrow(new RegExp(`dim \\d is ${String(d)}\\)`));
    }
    const v = d === -1 ? -2 : d; // -1 in a view means 'infer' or 'keep'
    for (const view of [() => ones([4]).reshape([v, 2]), () => ones([4]).view([v]), () => ones([1]).expand([v])]) {
      expect(view).toThrow(ResgradError);
    }
  });

  it('arange: NaN and infinite bounds, zero or NaN steps, inconsistent signs', () => {
    expect(() => arange(0, Number.NaN)).toThrow(/arange: unsupported range: 0 -> NaN/);
    expect(() => arange(Number.NaN, 3)).toThrow(/unsupported range: NaN -> 3/);
    expect(() => arange(0, Number.POSITIVE_INFINITY)).toThrow(/unsupported range: 0 -> Infinity/);
    expect(() => arange(Number.NEGATIVE_INFINITY, 0)).toThrow(ValueError);
    expect(() => arange(Number.POSITIVE_INFINITY)).toThrow(ValueError);
    expect(() => arange(0, 10, 0)).toThrow(/arange: argument 'step' must be nonzero, but got 0/);
    expect(() => arange(0, 10, Number.NaN)).toThrow(/step' must be nonzero, but got NaN/);
    expect(() => arange(0, 10, Number.POSITIVE_INFINITY)).toThrow(ValueError);
    expect(() => arange(5, 0)).toThrow(/upper bound and larger bound inconsistent with step sign/);
    expect(() => arange(0, 5, -1)).toThrow(/inconsistent with step sign/);
    expect(() => arange('3' as unknown as number)).toThrow(/arange: argument 'start' must be a number, but got the string '3'/);
    expect(arange(3, 3).numel()).toBe(0);
  });
});
