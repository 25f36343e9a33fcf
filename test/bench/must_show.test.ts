// The "peer ratios" section from a fabricated result list: the arithmetic (speedups from
// medians, time ratios for ResNet-50, the best resgrad row at the line's thread count, own
// 1-thread baseline) and every "not measured" path, then the terminal and Markdown renderings.
import { describe, expect, it } from 'vitest';
import type { Timing } from '../../bench/harness.js';
import { machineInfo } from '../../bench/machine.js';
import { renderMarkdown } from '../../bench/report/markdown.js';
import type { Report } from '../../bench/report/model.js';
import { computeRatios } from '../../bench/report/model.js';
import { mustShow } from '../../bench/report/must_show.js';
import { renderTable } from '../../bench/report/table.js';
import type { VariantResult, WorkloadSpec } from '../../bench/types.js';

const timing = (ms: number): Timing => ({ hz: 1e3 / ms, rme: 1, medianMs: ms, meanMs: ms, minMs: ms, samples: 5, calls: 5 });

const GEMM: WorkloadSpec = { op: 'gemm', M: 1024, N: 1024, K: 1024 };
const CONV: WorkloadSpec = { op: 'conv2d', x: [8, 64, 56, 56], w: [64, 64, 3, 3], stride: 1, padding: 1, groups: 1 };
const DW: WorkloadSpec = { op: 'conv2d', x: [8, 128, 56, 56], w: [128, 1, 3, 3], stride: 1, padding: 1, groups: 128 };
const R50: WorkloadSpec = { op: 'model', name: 'resnet50', batch: 1, mode: 'forward' };
const TRAIN: WorkloadSpec = { op: 'model', name: 'cifarResNet(20)', batch: 128, mode: 'train-step' };

function row(spec: WorkloadSpec, variant: string, kind: 'resgrad' | 'peer', threads: number, ms: number | null, extra: Partial<VariantResult> = {}): VariantResult {
  return {
    suite: 's', workload: JSON.stringify(spec), spec, variant, kind, backend: 'b', threads,
    ...(ms === null ? { status: 'skipped' as const } : { status: 'ok' as const, timing: timing(ms) }),
    ...extra,
  };
}

const RESULTS: VariantResult[] = [
  // SGEMM 1024: best at 1 thread is 10 ms (not the 100 ms rung); 6 ms at 2 threads
  row(GEMM, 'blocked', 'resgrad', 1, 100),
  row(GEMM, 'matmul op [wasm-simd]', 'resgrad', 1, 10),
  row(GEMM, 'matmul op [wasm-simd] 2t', 'resgrad', 2, 6),
  row(GEMM, 'matmul op [wasm-broken] 2t', 'resgrad', 2, null, { status: 'wrong', reason: 'max scaled error 1e-1' }),
  row(GEMM, 'tfjs-wasm', 'peer', 1, 15),
  row(GEMM, 'onnxruntime', 'peer', 1, 9),
  row(GEMM, 'onnxruntime 2t', 'peer', 2, 5),
  // conv 3×3 b8: tfjs-wasm has one thread only
  row(CONV, 'F.conv2d', 'resgrad', 1, 50),
  row(CONV, 'F.conv2d 2t', 'resgrad', 2, 30),
  row(CONV, 'tfjs-wasm', 'peer', 1, 80, { backend: 'tfjs wasm, 1 thread' }),
  // depthwise: no peers in this run; grouped conv: not in the run at all
  row(DW, 'F.conv2d', 'resgrad', 1, 20),
  row(DW, 'F.conv2d 2t', 'resgrad', 2, 12),
  // ResNet-50 b1: timed once (status 'once': first call is the time)
  { ...row(R50, 'forward (eval)', 'resgrad', 1, null), status: 'once', firstCallMs: 200 },
  row(R50, 'tfjs-wasm', 'peer', 1, 250),
  row(R50, 'onnxruntime 2t', 'peer', 2, 40),
  // training step: resgrad at 1 thread only; PyTorch skipped at 2
  row(TRAIN, 'train step', 'resgrad', 1, 400),
  row(TRAIN, 'pytorch', 'peer', 1, 512),
  row(TRAIN, 'pytorch 2t', 'peer', 2, null, { reason: '/usr/bin/python3 has no torch' }),
];

describe('bench peer ratios (Must show)', () => {
  const lines = mustShow(RESULTS, [1, 2]);
  const find = (label: string, threads: number, against: string) => {
    const l = lines.find((x) => x.label.startsWith(label) && x.threads === threads && x.against === against);
    if (!l) throw new Error(`no line ${label} ${threads} ${against}`);
    return l;
  };

  it('computes each ratio from the medians at equal threads, against its target', () => {
    const g1 = find('SGEMM 1024', 1, 'tfjs-wasm');
    expect(g1.ratio).toBeCloseTo(15 / 10);
    expect(g1.met).toBe(true);
    expect(g1.resgrad).toBe('matmul op [wasm-simd]');
    expect(g1.text).toBe('SGEMM 1024, 1 thread: resgrad best / tfjs-wasm = 1.50x (target >= 1.4x) met [matmul op [wasm-simd] vs tfjs-wasm]');
    const self = find('SGEMM 1024', 2, 'own 1 thread');
    expect(self.ratio).toBeCloseTo(10 / 6);
    expect(self.met).toBe(false); // 1.67 < 1.8
    expect(self.resgrad).toBe('matmul op [wasm-simd] 2t'); // the WRONG row is not a candidate
    const ort = find('SGEMM 1024', 2, 'onnxruntime');
    expect(ort.ratio).toBeCloseTo(5 / 6);
    expect(ort.text).toContain('NOT met');
    const conv1 = find('conv 3×3', 1, 'tfjs-wasm');
    expect(conv1.ratio).toBeCloseTo(80 / 50);
    // ResNet-50 is a time ratio (lower is better), from a once-timed row
    const r1 = find('ResNet-50', 1, 'tfjs-wasm');
    expect(r1.measure).toBe('time');
    expect(r1.ratio).toBeCloseTo(200 / 250);
    expect(r1.met).toBe(false); // 0.8 > 0.7
    expect(r1.text).toContain('resgrad time / tfjs-wasm time = 0.80x (target <= 0.7x) NOT met');
    const train = find('CIFAR ResNet-20', 1, 'pytorch');
    expect(train.ratio).toBeCloseTo(512 / 400);
    expect(train.met).toBe(true);
  });

  it('says "not measured" and why for every line it cannot compute', () => {
    const why = (label: string, threads: number, against: string) => {
      const l = find(label, threads, against);
      expect(l.ratio).toBeUndefined();
      expect(l.text).toContain('not measured');
      return l.reason;
    };
    expect(why('conv 3×3', 2, 'tfjs-wasm')).toBe('tfjs-wasm ran at 1 thread only (tfjs wasm, 1 thread)');
    expect(why('ResNeXt grouped', 1, 'onnxruntime')).toBe('workload not in this run (filtered out, or --quick)');
    expect(why('depthwise', 2, 'onnxruntime')).toBe('no onnxruntime row (run with --peers)');
    expect(why('ResNet-50', 2, 'onnxruntime')).toMatch(/^no resgrad row at 2 threads \(rows at 1/);
    expect(why('CIFAR ResNet-20', 2, 'pytorch')).toMatch(/^no resgrad row at 2 threads/);
    // a run at one thread: the 2-thread lines say so
    const one = mustShow(RESULTS, [1]);
    expect(one.find((l) => l.label === 'SGEMM 1024' && l.threads === 2)!.reason).toBe('this run has no 2 threads rows (--threads 1)');
    // a peer that was skipped: its reason is passed on
    const skipped = mustShow([row(TRAIN, 'train step 2t', 'resgrad', 2, 300), row(TRAIN, 'pytorch 2t', 'peer', 2, null, { reason: '/usr/bin/python3 has no torch' })], [2]);
    expect(skipped.find((l) => l.label.startsWith('CIFAR') && l.threads === 2)!.reason).toBe('pytorch 2t skipped: /usr/bin/python3 has no torch');
    // only a WRONG resgrad row at that count
    const wrong = mustShow([row(GEMM, 'x', 'resgrad', 1, null, { status: 'wrong', reason: 'off' }), row(GEMM, 'tfjs-wasm', 'peer', 1, 15)], [1]);
    expect(wrong[0]!.reason).toBe('no resgrad row at 1 thread was timed (x: WRONG, off)');
  });

  it('thread-aware resgrad/peer ratios, and the section in the terminal and Markdown reports', () => {
    const ratios = computeRatios(RESULTS);
    expect(ratios.find((r) => r.workload === JSON.stringify(GEMM) && r.peer === 'onnxruntime 2t')).toEqual({ workload: JSON.stringify(GEMM), resgrad: 'matmul op [wasm-simd] 2t', peer: 'onnxruntime 2t', ratio: expect.closeTo(5 / 6, 12) });
    const report: Report = {
      tool: 'resgrad bench', version: 'test', startedAt: new Date(0).toISOString(), durationS: 1, machine: machineInfo(), backends: { cpu: 'test' },
      options: { filter: null, backends: ['cpu'], peers: true, quick: false, full: false, maxTime: 1, threads: [1, 2] },
      results: RESULTS, ratios, mustShow: lines, loadAverageEnd: [0.5, 0.5, 0.5],
    };
    const table = renderTable(report);
    expect(table).toContain("peer ratios (issue 10's Must show");
    expect(table).toContain(`  ${find('SGEMM 1024', 1, 'tfjs-wasm').text}`);
    expect(table.split('\n')[0]).toMatch(/cores · node v\d+.* · threads 1,2 · load .* \(at end 0.5 0.5 0.5\)/);
    const md = renderMarkdown(report);
    expect(md).toContain(`- ${find('ResNet-50', 1, 'tfjs-wasm').text.replace(/\|/g, '\\|')}`);
    expect(md).toContain('| pytorch 2t | b | 2 | skipped |');
  });
});
