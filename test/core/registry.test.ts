// The CPU kernel-variant registry: ranking, supports(), scoped pins (strict and preferred),
// tracing, and the errors a wrong pin gets.
import { describe, expect, it } from 'vitest';
import {
  cpuVariants,
  preferVariants,
  registerCpuVariant,
  selectCpuVariant,
  traceVariants,
  withVariants,
} from '../../core/cpu/registry.js';
import { randn, tensor } from '../../index.js';
import { expectClose } from '../helpers/assert.js';
import { fakeInput } from '../helpers/variants.js';

describe('cpu kernel variants', () => {
  it('matmul lists its variants best first, the reference last', () => {
    const names = cpuVariants('matmul').map((v) => v.name);
    expect(names).toContain('blocked');
    expect(names.at(-1)).toBe('reference');
    const ranks = cpuVariants('matmul').map((v) => v.rank);
    expect([...ranks].sort((a, b) => b - a)).toEqual(ranks);
  });

  it('the best variant that supports a call runs; float64 never reaches a float32-only variant', () => {
    const x = fakeInput('float64', [4, 4]);
    const chosen = selectCpuVariant('matmul', [x, x], {});
    expect(chosen.supports([x, x], {})).toBe(true);
    for (const v of cpuVariants('matmul')) {
      if (v.rank > chosen.rank) expect(v.supports([x, x], {}), v.name).toBe(false);
    }
  });

  it('withVariants pins a variant for a scope, nests, and is undone afterwards', () => {
    const a = randn([3, 5], { dtype: 'float64' });
    const b = randn([5, 2], { dtype: 'float64' });
    const t1 = traceVariants(() => withVariants({ matmul: 'reference' }, () => a.matmul(b)));
    expect([...(t1.used.get('matmul') ?? [])]).toEqual(['reference']);
    const t2 = traceVariants(() =>
      withVariants({ matmul: 'reference' }, () => withVariants({ matmul: 'blocked' }, () => a.matmul(b))),
    );
    expect([...(t2.used.get('matmul') ?? [])]).toEqual(['blocked']);
    const t3 = traceVariants(() => a.matmul(b));
    expect([...(t3.used.get('matmul') ?? [])]).toEqual([selectCpuVariant('matmul', [fakeInput('float64', [3, 5]), fakeInput('float64', [5, 2])], {}).name]);
    expectClose(t2.result, t1.result, { atol: 1e-12, rtol: 1e-12, label: 'blocked vs reference' });
  });

  it('an unknown kernel or variant name is an error naming what exists', () => {
    expect(() => withVariants({ matmul: 'nope' }, () => 0)).toThrow(/kernel 'matmul' has no variant 'nope' \(it has: .*reference/);
    expect(() => withVariants({ ['noKernel' as 'matmul']: 'x' }, () => 0)).toThrow(/unknown kernel 'noKernel'/);
  });

  it('a strict pin that cannot take a call throws; a preferred one steps aside', () => {
    registerCpuVariant('matmul', {
      name: 'test-only-never',
      about: 'a variant that supports nothing (test)',
      rank: -1,
      supports: () => false,
      run: () => {
        throw new Error('must not run');
      },
    });
    const a = tensor([[1, 2]], { dtype: 'float64' });
    const b = tensor([[3], [4]], { dtype: 'float64' });
    expect(() => withVariants({ matmul: 'test-only-never' }, () => a.matmul(b))).toThrow(/pinned variant 'test-only-never' does not support this call \(inputs float64\[1, 2\], float64\[2, 1\]\)/);
    const { result, used } = traceVariants(() => preferVariants({ matmul: 'test-only-never' }, () => a.matmul(b)));
    expect([...result.toArray()]).toEqual([11]);
    expect(used.get('matmul')?.has('test-only-never')).toBe(false);
  });
});
