// The benchmark harness, on fake kernels (benchmarks never run in `npm test`): a right kernel
// is checked then timed; a fast but wrong one is reported WRONG and never timed; a missing
// peer is skipped; reports carry all of it.
import { describe, expect, it } from 'vitest';
import { gemmBlocked, type GemmArgs } from '../../kernels/cpu/gemm.js';
import { measure } from '../../bench/harness.js';
import { machineInfo } from '../../bench/machine.js';
import { renderHtml } from '../../bench/report/html.js';
import { computeRatios, type Report } from '../../bench/report/model.js';
import { renderTable } from '../../bench/report/table.js';
import { runWorkloads, scaledError, Unavailable } from '../../bench/runner.js';
import { gemmKernelVariant, gemmWorkload } from '../../bench/suites/gemm.js';
import type { Variant, Workload } from '../../bench/types.js';

const FAST = { maxTime: 0.02, minSamples: 2 };
const CPU_ONLY = { backends: new Set(['cpu'] as const), peers: false, quick: true };

/** A fake kernel family: y = 2x over 64 numbers; `scale` makes a wrong variant. */
function doubling(extra: Variant[] = []): { workload: Workload; calls: Record<string, number> } {
  const x = Float64Array.from({ length: 64 }, (_, i) => i - 20);
  const calls: Record<string, number> = {};
  const variant = (name: string, scale: number, rest: Partial<Variant> = {}): Variant => ({
    name, kind: 'resgrad', backend: 'fake', threads: 1, ...rest,
    prepare() {
      const y = new Float64Array(x.length);
      calls[name] = 0;
      return {
        run: () => {
          calls[name]! += 1;
          for (let i = 0; i < x.length; i++) y[i] = scale * (x[i] as number);
        },
        output: () => y,
      };
    },
  });
  const workload: Workload = {
    suite: 'fake', name: 'double x=[64]', spec: { op: 'custom' }, flops: 64, bytes: 8 * 128,
    expected: () => ({ values: x.map((v) => 2 * v), tol: 1e-12 }),
    variants: [variant('reference', 2, { isReference: true }), variant('fast', 2), variant('fast-but-wrong', 2.001), ...extra],
  };
  return { workload, calls };
}

describe('bench harness', () => {
  it('measure returns ops/s, rme, median from benchmark.js samples', async () => {
    let n = 0;
    const t = await measure(() => {
      n++;
    }, false, FAST);
    expect(t.hz).toBeGreaterThan(0);
    expect(t.samples).toBeGreaterThanOrEqual(2);
    expect(t.medianMs).toBeGreaterThan(0);
    expect(t.rme).toBeGreaterThanOrEqual(0);
    expect(t.calls).toBe(n);
  });

  it('measure times async functions (deferred)', async () => {
    const t = await measure(() => Promise.resolve(), true, FAST);
    expect(t.samples).toBeGreaterThanOrEqual(2);
  });

  it('scaledError compares all or sampled positions', () => {
    const exp = { values: new Float64Array([1, 2, 100]), tol: 0 };
    expect(scaledError(new Float64Array([1, 2, 101]), exp)).toBeCloseTo(0.01);
    expect(scaledError(new Float64Array([1, 2]), exp)).toBe(Number.POSITIVE_INFINITY);
    expect(scaledError(new Float64Array([Number.NaN, 2, 100]), exp)).toBe(Number.POSITIVE_INFINITY);
    expect(scaledError(new Float64Array([2, 1, 100]), { ...exp, positions: new Int32Array([1, 0, 2]) })).toBe(0);
    expect(scaledError(new Float64Array([9, 2, 9]), { values: new Float64Array([2]), positions: new Int32Array([1]), tol: 0 })).toBe(0);
  });

  it('fake kernel family: right rungs are timed, a wrong one is reported WRONG and run only once', async () => {
    const missing: Variant = { name: 'peer-x', kind: 'peer', backend: 'x', threads: 1, prepare: () => { throw new Unavailable('peer-x not installed'); } };
    const { workload, calls } = doubling([missing]);
    const rs = await runWorkloads([workload], FAST);
    const by = Object.fromEntries(rs.map((r) => [r.variant, r]));
    expect(by.reference!.status).toBe('ok');
    expect(by.fast!.status).toBe('ok');
    expect(by.fast!.timing!.samples).toBeGreaterThanOrEqual(2);
    expect(by.fast!.gflops).toBeGreaterThan(0);
    expect(by.fast!.firstCallMs).toBeGreaterThan(0);
    expect(by['fast-but-wrong']!.status).toBe('wrong');
    expect(by['fast-but-wrong']!.timing).toBeUndefined();
    expect(by['fast-but-wrong']!.error).toBeGreaterThan(1e-6);
    expect(calls['fast-but-wrong']).toBe(1); // the check's call, nothing timed
    expect(calls.fast).toBeGreaterThan(2);
    expect(by['peer-x']!.status).toBe('skipped');
    expect(by['peer-x']!.reason).toContain('not installed');
  });

  it('gemm 32×32×32 with an injected wrong blocked kernel: WRONG in the table and the HTML, never timed', async () => {
    let wrongCalls = 0;
    // off by one in the last row: the kind of edge bug a blocked kernel has
    const wrongGemm = (g: GemmArgs): void => {
      wrongCalls++;
      gemmBlocked({ ...g, M: g.M - 1 });
    };
    const w = gemmWorkload(32, CPU_ONLY, { extraVariants: (M, N, K, a, b) => [gemmKernelVariant('blocked-wrong', wrongGemm, M, N, K, a, b)] });
    const rs = await runWorkloads([w], FAST);
    const wrong = rs.find((r) => r.variant === 'blocked-wrong')!;
    expect(wrong.status).toBe('wrong');
    expect(wrong.timing).toBeUndefined();
    expect(wrongCalls).toBe(1);
    for (const name of ['reference', 'blocked', 'matmul op']) expect(rs.find((r) => r.variant === name)!.status, `${name}: ${rs.find((r) => r.variant === name)!.reason}`).toBe('ok');
    const report: Report = {
      tool: 'resgrad bench', version: 'test', startedAt: new Date(0).toISOString(), durationS: 1, machine: machineInfo(), backends: { cpu: 'test' },
      options: { filter: 'gemm', backends: ['cpu'], peers: false, quick: true, full: false, maxTime: 0.02 }, results: rs, ratios: computeRatios(rs),
    };
    const table = renderTable(report);
    expect(table).toMatch(/blocked-wrong\s.*WRONG/);
    const html = renderHtml(report);
    expect(html).toContain('<svg');
    expect(html).toContain('WRONG — not timed');
    expect(JSON.parse(html.match(/<script type="application\/json" id="report">(.*)<\/script>/s)![1]!).results).toHaveLength(rs.length);
  });

  it('resgrad/peer ratios use the best resgrad rung', () => {
    const base = { suite: 's', workload: 'w', spec: { op: 'custom' } as const, backend: 'b', threads: 1, status: 'ok' as const };
    const t = (ms: number) => ({ hz: 1e3 / ms, rme: 1, medianMs: ms, meanMs: ms, minMs: ms, samples: 5, calls: 5 });
    const ratios = computeRatios([
      { ...base, variant: 'reference', kind: 'resgrad', timing: t(100) },
      { ...base, variant: 'blocked', kind: 'resgrad', timing: t(10) },
      { ...base, variant: 'peer', kind: 'peer', timing: t(5) },
    ]);
    expect(ratios).toEqual([{ workload: 'w', resgrad: 'blocked', peer: 'peer', ratio: 0.5 }]);
  });
});
