// The report as data: what the JSON file holds and what the table and HTML render.
import type { MachineInfo } from '../machine.js';
import type { VariantResult } from '../types.js';

export interface Report {
  tool: 'resgrad bench';
  version: string;
  startedAt: string;
  durationS: number;
  machine: MachineInfo;
  /** what each backend actually was (describe() lines, peer versions) */
  backends: Record<string, string>;
  options: { filter: string | null; backends: string[]; peers: boolean; quick: boolean; full: boolean; maxTime: number };
  results: VariantResult[];
  ratios: Ratio[];
}

/**
 * resgrad/peer on one workload: best resgrad rung's throughput over the peer's, so > 1 means
 * resgrad is faster (= peer median time / resgrad median time).
 */
export interface Ratio {
  workload: string;
  resgrad: string;
  peer: string;
  ratio: number;
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
    let best: VariantResult | undefined;
    for (const r of rs) if (r.kind === 'resgrad' && (rate(r) ?? 0) > (best ? (rate(best) ?? 0) : 0)) best = r;
    if (!best) continue;
    for (const p of rs) {
      const pr = rate(p);
      if (p.kind === 'peer' && pr) ratios.push({ workload, resgrad: best.variant, peer: p.variant, ratio: (rate(best) as number) / pr });
    }
  }
  return ratios;
}
