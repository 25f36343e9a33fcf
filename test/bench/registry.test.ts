// Registry-driven rungs: one public-API rung per registered variant of the op's kernel that
// supports the workload, pinned and checked like every rung. Fake variants registered here (with
// negative ranks, so the registry never picks them unpinned) prove that a new variant shows up
// with no bench change, that a wrong one is caught, that one that does not support the call is
// left out, and that a variant on the WASM pool gets a rung per thread count.
import { describe, expect, it } from 'vitest';
import { runWorkloads } from '../../bench/runner.js';
import { gemmWorkload } from '../../bench/suites/gemm.js';
import { normSuite } from '../../bench/suites/norm.js';
import type { ThreadControl } from '../../bench/threads.js';
import { cpuVariants, registerCpuVariant } from '../../core/cpu/registry.js';
import '../../index.js';

const FAST = { maxTime: 0.01, minSamples: 2 };
const CTX = { backends: new Set(['cpu'] as const), peers: false, quick: true, threads: [1, 2] };

const reference = cpuVariants('matmul').find((v) => v.name === 'reference')!;
let poolThreads = 1;
const control: ThreadControl = { get: () => poolThreads, set: (n) => (poolThreads = n) };
const threadsSeen: number[] = [];

registerCpuVariant('matmul', {
  name: 'test-wrong', about: 'a product off by 1e-3 relative', rank: -100, supports: () => true,
  run: (inputs, attrs) => {
    const [c] = reference.run(inputs, attrs);
    const buf = c!.buffer as Float32Array;
    for (let i = 0; i < buf.length; i++) buf[i] = (buf[i] as number) * 1.001 + 1e-3;
    return [c!];
  },
});
registerCpuVariant('matmul', { name: 'test-never', about: 'supports nothing', rank: -101, supports: () => false, run: reference.run });
registerCpuVariant('matmul', {
  name: 'wasm-test', about: 'the reference, posing as a WASM pool variant', rank: -102, supports: () => true,
  run: (inputs, attrs) => {
    threadsSeen.push(poolThreads);
    return reference.run(inputs, attrs);
  },
});

describe('bench registry rungs', () => {
  it('gemm 20×20×20: a rung per supporting matmul variant, checked; wrong caught; unsupported absent; pool variant laddered', async () => {
    const w = gemmWorkload(20, CTX);
    const names = w.variants.map((v) => v.name);
    for (const v of cpuVariants('matmul')) {
      if (v.name === 'test-never') expect(names).not.toContain(`matmul op [${v.name}]`);
      else expect(names).toContain(`matmul op [${v.name}]`);
    }
    expect(names).toContain('matmul op [wasm-test] 2t');
    // a WASM-pool variant is registered, so the registry's own choice is laddered too
    expect(names).toContain('matmul op 2t');
    expect(w.variants.find((v) => v.name === 'matmul op [blocked]')!.backend).toBe(`cpu blocked: ${cpuVariants('matmul').find((v) => v.name === 'blocked')!.about}`);

    const rs = await runWorkloads([w], { ...FAST, threadControl: control });
    const by = Object.fromEntries(rs.map((r) => [r.variant, r]));
    expect(by['matmul op [test-wrong]']!.status).toBe('wrong');
    expect(by['matmul op [test-wrong]']!.timing).toBeUndefined();
    for (const r of rs.filter((q) => q.variant.startsWith('matmul op') && q.variant !== 'matmul op [test-wrong]')) expect(r.status, r.variant).toBe('ok');
    expect(by['matmul op [wasm-test]']!.threads).toBe(1);
    expect(by['matmul op [wasm-test] 2t']!.threads).toBe(2);
    expect(new Set(threadsSeen)).toEqual(new Set([1, 2])); // the pinned variant ran at both counts
    expect(poolThreads).toBe(1);
  }, 60_000);

  it('batchNorm x=[2,32,6,6]: F.batchNorm rungs per normForward variant, normBackward rungs per variant, all checked ok', async () => {
    const ws = (await normSuite().workloads(CTX)).filter((w) => w.name.startsWith('batchNorm'));
    const rs = await runWorkloads(ws, { ...FAST, threadControl: control });
    for (const k of ['normForward', 'normBackward'] as const) {
      for (const v of cpuVariants(k)) {
        const rows = rs.filter((r) => (k === 'normBackward' ? r.variant === `normBackward [${v.name}]` : r.variant.endsWith(` [${v.name}]`) && r.variant.startsWith('F.')));
        expect(rows.length, `${k} ${v.name}`).toBe(1);
        for (const r of rows) expect(r.status, `${r.workload} ${r.variant}`).toBe('ok');
      }
    }
  }, 60_000);
});
