// Number formatting shared by the terminal table and the HTML report.
import type { VariantResult } from '../types.js';

export function fmtMs(ms: number | undefined): string {
  if (ms === undefined) return '';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  if (ms >= 0.1) return `${ms.toFixed(2)} ms`;
  return `${(ms * 1000).toFixed(1)} µs`;
}

export function fmtNum(x: number, digits = 3): string {
  if (x === 0) return '0';
  if (Math.abs(x) >= 10 ** digits) return x.toFixed(0);
  return x.toPrecision(digits);
}

/** "12.3 GFLOP/s", "4.56 GB/s" or "250 img/s", whichever the workload measures. */
export function fmtThroughput(r: VariantResult): string {
  if (r.gflops !== undefined) return `${fmtNum(r.gflops)} GFLOP/s`;
  if (r.gbps !== undefined) return `${fmtNum(r.gbps)} GB/s`;
  if (r.imagesPerS !== undefined) return `${fmtNum(r.imagesPerS)} img/s`;
  return '';
}

export function fmtHz(r: VariantResult): string {
  if (r.status !== 'ok' || !r.timing) return '';
  return `${fmtNum(r.timing.hz)} ±${r.timing.rme.toFixed(1)}%`;
}
