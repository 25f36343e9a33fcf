// The report as data: what the JSON file holds and what the table and HTML render.
import type { MachineInfo } from '../machine.js';
import type { VariantResult } from '../types.js';
import type { MustShowLine } from './must_show.js';

export interface Report {
  tool: 'resgrad bench';
  version: string;
  startedAt: string;
  durationS: number;
  machine: MachineInfo;
  /** what each backend actually was (describe() lines, peer versions) */
  backends: Record<string, string>;
  options: { filter: string | null; backends: string[]; peers: boolean; quick: boolean; full: boolean; maxTime: number; threads?: number[] };
  results: VariantResult[];
  ratios: Ratio[];
  /** issue 10's Must-show lines, from this run's medians (must_show.ts) */
  mustShow?: MustShowLine[];
  /** load average when the run ended (the machine's is at its start) */
  loadAverageEnd?: number[];
}

/**
 * resgrad/peer on one workload: the best resgrad rung's throughput at the peer's thread count
 * over the peer's, so > 1 means resgrad is faster (= peer median time / resgrad median time).
 */
export interface Ratio {
  workload: string;
  resgrad: string;
  peer: string;
  ratio: number;
}

/** CPU, cores, Node, thread counts and load averages: the line every report starts with. */
export function machineLine(report: Report): string {
  const m = report.machine;
  const load = `load ${m.loadAverage.join(' ')}${report.loadAverageEnd ? ` (at end ${report.loadAverageEnd.join(' ')})` : ''}`;
  const threads = report.options.threads ? ` · threads ${report.options.threads.join(',')}` : '';
  return `${m.cpu} · ${m.cores} cores · node ${m.node} (V8 ${m.v8})${threads} · ${load}`;
}

/** Steady-state calls per second; for a single-call result, 1 / that call. */
export function rate(r: VariantResult): number | undefined {
  if (r.status === 'ok' && r.timing) return 1e3 / r.timing.medianMs;
  if (r.status === 'once' && r.firstCallMs) return 1e3 / r.firstCallMs;
  return undefined;
}

export function medianMs(r: VariantResult): number | undefined {
  if (r.status === 'ok') return r.timing?.medianMs;
  if (r.status === 'once') return r.firstCallMs;
  return undefined;
}

export function computeRatios(results: readonly VariantResult[]): Ratio[] {
  const ratios: Ratio[] = [];
  const byWorkload = new Map<string, VariantResult[]>();
  for (const r of results) byWorkload.set(r.workload, [...(byWorkload.get(r.workload) ?? []), r]);
  for (const [workload, rs] of byWorkload) {
    for (const p of rs) {
      const pr = rate(p);
      if (p.kind !== 'peer' || !pr) continue;
      let best: VariantResult | undefined;
      for (const r of rs) if (r.kind === 'resgrad' && r.threads === p.threads && (rate(r) ?? 0) > (best ? (rate(best) ?? 0) : 0)) best = r;
      if (best) ratios.push({ workload, resgrad: best.variant, peer: p.variant, ratio: (rate(best) as number) / pr });
    }
  }
  return ratios;
}
