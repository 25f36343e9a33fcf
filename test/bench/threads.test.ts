// The thread ladder: --threads parsing, one rung per count with the right `threads` field, the
// pool set around each threaded rung and restored after, peers (onnxruntime) per count. Tiny
// workloads, nothing timed that matters.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../bench/cli.js';
import { runWorkloads } from '../../bench/runner.js';
import { gemmWorkload } from '../../bench/suites/gemm.js';
import { baseName, parseThreads, type ThreadControl, threadLadder, threadedName, wasmThreads } from '../../bench/threads.js';
import type { Variant, Workload } from '../../bench/types.js';

const FAST = { maxTime: 0.01, minSamples: 2 };

/** A pool stand-in that records every count it is set to. */
function recordingControl(start = 1): ThreadControl & { sets: number[]; now: number } {
  const c = {
    sets: [] as number[],
    now: start,
    get: () => c.now,
    set: (n: number) => {
      c.sets.push(n);
      c.now = n;
    },
  };
  return c;
}

/** y = x + 1 over 8 numbers; the rung records the pool's count when it is prepared and run. */
function plusOne(control: ThreadControl, seen: number[], threads: number[]): Workload {
  const x = Float64Array.from({ length: 8 }, (_, i) => i);
  const rung = (): Variant => ({
    name: 'plus one',
    kind: 'resgrad',
    backend: 'fake',
    threads: 1,
    prepare() {
      seen.push(control.get());
      const y = new Float64Array(8);
      return {
        run: () => {
          for (let i = 0; i < 8; i++) y[i] = (x[i] as number) + 1;
        },
        output: () => y,
      };
    },
  });
  return {
    suite: 'fake', name: 'plus one x=[8]', spec: { op: 'custom' },
    expected: () => ({ values: x.map((v) => v + 1), tol: 0 }),
    variants: threadLadder({ backends: new Set(['cpu']), peers: false, quick: true, threads }, rung),
  };
}

describe('bench thread ladder', () => {
  afterEach(() => vi.restoreAllMocks());

  it('parses --threads and names rungs per count', () => {
    expect(parseThreads('1,2,2, 4')).toEqual([1, 2, 4]);
    for (const bad of ['0', '1,x', '', '-1', '1.5']) expect(() => parseThreads(bad)).toThrow(`--threads: expected a comma-separated list of positive integers, got '${bad}'`);
    expect(threadedName('matmul op', 1)).toBe('matmul op');
    expect(threadedName('matmul op', 2)).toBe('matmul op 2t');
    expect(baseName('onnxruntime 2t')).toBe('onnxruntime');
    expect(baseName('tfjs-wasm')).toBe('tfjs-wasm');
  });

  it('a threaded rung runs once per count, with the pool set to it, and the count restored after', async () => {
    const control = recordingControl(7);
    const seen: number[] = [];
    const rs = await runWorkloads([plusOne(control, seen, [1, 2])], { ...FAST, threadControl: control });
    expect(rs.map((r) => [r.variant, r.threads, r.status])).toEqual([
      ['plus one', 1, 'ok'],
      ['plus one 2t', 2, 'ok'],
    ]);
    expect(seen).toEqual([1, 2]); // the pool's count while each rung was prepared
    expect(control.sets).toEqual([1, 7, 2, 7]); // set, restored, set, restored
    expect(control.now).toBe(7);
  });

  it('without a thread control given, the runner turns the WASM pool', async () => {
    const before = wasmThreads.get();
    const seen: number[] = [];
    const rs = await runWorkloads([plusOne(wasmThreads, seen, [1, 2])], FAST);
    expect(rs.map((r) => [r.variant, r.threads, r.status])).toEqual([
      ['plus one', 1, 'ok'],
      ['plus one 2t', 2, 'ok'],
    ]);
    expect(seen).toEqual([1, 2]);
    expect(wasmThreads.get()).toBe(before);
  });

  it('gemm 24×24×24 with --peers at threads 1,2: resgrad and onnxruntime rows at 1 and 2 threads; WASM pool restored', async () => {
    const before = wasmThreads.get();
    const w = gemmWorkload(24, { backends: new Set(['cpu']), peers: true, quick: true, threads: [1, 2] });
    const rs = await runWorkloads([w], { ...FAST, threadControl: wasmThreads });
    const ort = rs.filter((r) => baseName(r.variant) === 'onnxruntime').map((r) => [r.variant, r.threads, r.status]);
    expect(ort).toEqual([
      ['onnxruntime', 1, 'ok'],
      ['onnxruntime 2t', 2, 'ok'],
    ]);
    for (const r of rs.filter((q) => q.variant.startsWith('tfjs'))) expect(r.threads).toBe(1);
    // the WASM variants (core/cpu/wasm.ts) and kernels are laddered: resgrad rows at 2 threads too
    expect(rs.filter((r) => r.kind === 'resgrad' && r.threads === 2).map((r) => r.variant)).toContain('matmul op 2t');
    for (const r of rs.filter((q) => q.kind === 'resgrad')) {
      expect(r.status, r.variant).toBe('ok');
      expect(r.threads, r.variant).toBe(r.variant.endsWith(' 2t') ? 2 : 1);
    }
    expect(wasmThreads.get()).toBe(before);
  }, 60_000);

  it('the CLI runs --threads 1,2 and reports the counts and the peer-ratio lines in the JSON', async () => {
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const dir = mkdtempSync(join(tmpdir(), 'resgrad-bench-'));
    const [json, md] = [join(dir, 'r.json'), join(dir, 'r.md')];
    expect(await main(['--quick', '--threads', '1,2', '--filter', 'gemm 128', '--max-time', '0.01', '--json', json, '--md', md])).toBe(0);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    const markdown = readFileSync(md, 'utf8');
    rmSync(dir, { recursive: true });
    expect(report.options.threads).toEqual([1, 2]);
    expect(report.backends.wasm).toMatch(/wasm/);
    expect(report.mustShow.length).toBeGreaterThan(10);
    expect(report.mustShow[0].text).toContain('SGEMM 1024, 1 thread');
    expect(report.mustShow[0].reason).toContain('not in this run');
    expect(markdown).toContain("## Peer ratios (issue 10's Must show)");
    expect(markdown).toContain('| matmul op |');
    await expect(main(['--threads', '0', '--list'])).rejects.toThrow("--threads: expected a comma-separated list of positive integers, got '0'");
  }, 60_000);
});
