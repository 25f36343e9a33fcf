// Issue 10's "Must show" list as numbers from one run: each line names a workload, a thread
// count, what resgrad is compared with (a peer at the same thread count, or resgrad itself at 1
// thread), and the target. The ratio comes from this run's medians; a line that cannot be
// computed says "not measured" and why (filtered out, no --peers, a peer skipped, no row at that
// thread count).
import { baseName } from '../threads.js';
import type { VariantResult, WorkloadSpec } from '../types.js';
import { rate } from './model.js';

/** speedup: resgrad's rate / the other's (≥ target); time: resgrad's time / the other's (≤ target). */
export type Measure = 'speedup' | 'time';

export interface MustShowTarget {
  /** what the line is about, e.g. "SGEMM 1024" */
  label: string;
  /** how to find the workload among the results */
  matches(spec: WorkloadSpec): boolean;
  /** fixed thread counts, or 'each' for every count of the run ("at equal threads") */
  threads: number[] | 'each';
  /** a peer by name (its rows' names without the thread suffix), or resgrad's own 1-thread best */
  against: string | { self: 1 };
  measure: Measure;
  target: number;
}

export interface MustShowLine {
  label: string;
  threads: number;
  against: string;
  measure: Measure;
  target: number;
  /** undefined: not measured (see reason) */
  ratio?: number;
  met?: boolean;
  /** the rows the ratio came from */
  resgrad?: string;
  other?: string;
  reason?: string;
  /** the whole line as the reports print it */
  text: string;
}

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
const conv = (x: number[], w: number[], groups: number) => (s: WorkloadSpec) => s.op === 'conv2d' && same(s.x, x) && same(s.w, w) && s.groups === groups && s.stride === 1 && s.padding === 1;

export const MUST_SHOW: MustShowTarget[] = [
  { label: 'SGEMM 1024', matches: (s) => s.op === 'gemm' && s.M === 1024 && s.N === 1024 && s.K === 1024, threads: [1], against: 'tfjs-wasm', measure: 'speedup', target: 1.4 },
  { label: 'SGEMM 1024', matches: (s) => s.op === 'gemm' && s.M === 1024 && s.N === 1024 && s.K === 1024, threads: [2], against: { self: 1 }, measure: 'speedup', target: 1.8 },
  { label: 'SGEMM 1024', matches: (s) => s.op === 'gemm' && s.M === 1024 && s.N === 1024 && s.K === 1024, threads: [2], against: 'onnxruntime', measure: 'speedup', target: 0.9 },
  { label: 'conv 3×3 64→64 56² b8', matches: conv([8, 64, 56, 56], [64, 64, 3, 3], 1), threads: 'each', against: 'tfjs-wasm', measure: 'speedup', target: 1.4 },
  { label: 'ResNeXt grouped conv 3×3 128→128 28² g32 b8', matches: conv([8, 128, 28, 28], [128, 4, 3, 3], 32), threads: 'each', against: 'onnxruntime', measure: 'speedup', target: 1.0 },
  { label: 'ResNeXt grouped conv 3×3 128→128 28² g32 b8', matches: conv([8, 128, 28, 28], [128, 4, 3, 3], 32), threads: 'each', against: 'tfjs-wasm', measure: 'speedup', target: 10 },
  { label: 'depthwise 3×3 128 56² b8', matches: conv([8, 128, 56, 56], [128, 1, 3, 3], 128), threads: 'each', against: 'onnxruntime', measure: 'speedup', target: 1.0 },
  { label: 'depthwise 3×3 128 56² b8', matches: conv([8, 128, 56, 56], [128, 1, 3, 3], 128), threads: 'each', against: 'tfjs-wasm', measure: 'speedup', target: 1.4 },
  { label: 'ResNet-50 forward b1 224²', matches: (s) => s.op === 'model' && s.name === 'resnet50' && s.batch === 1 && s.mode === 'forward', threads: [1], against: 'tfjs-wasm', measure: 'time', target: 0.7 },
  { label: 'ResNet-50 forward b1 224²', matches: (s) => s.op === 'model' && s.name === 'resnet50' && s.batch === 1 && s.mode === 'forward', threads: [2], against: 'onnxruntime', measure: 'time', target: 2 },
  { label: 'CIFAR ResNet-20 train step b128 (images/s)', matches: (s) => s.op === 'model' && s.name === 'cifarResNet(20)' && s.batch === 128 && s.mode === 'train-step', threads: [1, 2], against: 'pytorch', measure: 'speedup', target: 1.0 },
];

const timed = (r: VariantResult) => rate(r) !== undefined;
const plural = (t: number) => `${t} thread${t === 1 ? '' : 's'}`;
const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

/** The fastest timed resgrad row at t threads, or why there is none. */
function bestResgrad(rs: readonly VariantResult[], t: number): VariantResult | string {
  const ours = rs.filter((r) => r.kind === 'resgrad');
  const atT = ours.filter((r) => r.threads === t);
  if (atT.length === 0) {
    const counts = [...new Set(ours.map((r) => r.threads))];
    return ours.length === 0 ? 'no resgrad rows' : `no resgrad row at ${plural(t)} (rows at ${counts.join(', ')}; threaded rungs exist once WASM variants are registered)`;
  }
  let best: VariantResult | undefined;
  for (const r of atT.filter(timed)) if (!best || (rate(r) as number) > (rate(best) as number)) best = r;
  if (best) return best;
  const first = atT[0] as VariantResult;
  return `no resgrad row at ${plural(t)} was timed (${first.variant}: ${first.status === 'wrong' ? 'WRONG' : first.status}${first.reason ? `, ${first.reason}` : ''})`;
}

/** The peer's timed row at t threads, or why there is none. */
function peerRow(rs: readonly VariantResult[], peer: string, t: number): VariantResult | string {
  const rows = rs.filter((r) => r.kind === 'peer' && baseName(r.variant) === peer);
  if (rows.length === 0) return `no ${peer} row (run with --peers)`;
  const atT = rows.filter((r) => r.threads === t);
  if (atT.length === 0) return `${peer} ran at ${[...new Set(rows.map((r) => r.threads))].map(plural).join(', ')} only (${(rows[0] as VariantResult).backend})`;
  const row = atT.find(timed);
  if (row) return row;
  const r = atT[0] as VariantResult;
  return `${r.variant} ${r.status === 'wrong' ? 'WRONG' : r.status}${r.reason ? `: ${r.reason}` : ''}`;
}

function line(tg: MustShowTarget, t: number, rs: readonly VariantResult[], runThreads: readonly number[]): MustShowLine {
  const against = typeof tg.against === 'string' ? tg.against : `own ${plural(tg.against.self)}`;
  const what = tg.measure === 'time' ? `resgrad time / ${against} time` : `resgrad best / ${against}`;
  const head = `${tg.label}, ${plural(t)}: ${what}`;
  const target = `target ${tg.measure === 'time' ? '<=' : '>='} ${tg.target}x`;
  const base = { label: tg.label, threads: t, against, measure: tg.measure, target: tg.target };
  const missing = (reason: string): MustShowLine => ({ ...base, reason, text: `${head}: not measured (${target}): ${reason}` });
  if (rs.length === 0) return missing('workload not in this run (filtered out, or --quick)');
  if (!runThreads.includes(t)) return missing(`this run has no ${plural(t)} rows (--threads ${runThreads.join(',')})`);
  const ours = bestResgrad(rs, t);
  if (typeof ours === 'string') return missing(ours);
  const other = typeof tg.against === 'string' ? peerRow(rs, tg.against, t) : bestResgrad(rs, tg.against.self);
  if (typeof other === 'string') return missing(other);
  const speedup = (rate(ours) as number) / (rate(other) as number);
  const ratio = tg.measure === 'speedup' ? speedup : 1 / speedup;
  const met = tg.measure === 'speedup' ? ratio >= tg.target : ratio <= tg.target;
  return {
    ...base, ratio, met, resgrad: ours.variant, other: other.variant,
    text: `${head} = ${fmt(ratio)}x (${target}) ${met ? 'met' : 'NOT met'} [${ours.variant} vs ${other.variant}]`,
  };
}

/** Every Must-show line for this run's results; `runThreads` are the counts the run covered. */
export function mustShow(results: readonly VariantResult[], runThreads: readonly number[], targets: readonly MustShowTarget[] = MUST_SHOW): MustShowLine[] {
  const out: MustShowLine[] = [];
  for (const tg of targets) {
    const rs = results.filter((r) => tg.matches(r.spec));
    const counts = tg.threads === 'each' ? runThreads : tg.threads;
    for (const t of counts) out.push(line(tg, t, rs, runThreads));
  }
  return out;
}
