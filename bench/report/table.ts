// The terminal report: one block per workload, its ladder top to bottom, then the peers.
import { fmtHz, fmtMs, fmtNum, fmtThroughput } from './format.js';
import { machineLine, medianMs, type Report } from './model.js';

function pad(s: string, n: number, right = false): string {
  const w = [...s].length;
  return right ? ' '.repeat(Math.max(0, n - w)) + s : s + ' '.repeat(Math.max(0, n - w));
}

// A variant's backend line can be a whole sentence (a registry variant's `about`): the terminal
// shows its start, the JSON, Markdown and HTML reports all of it.
const BACKEND_WIDTH = 60;
const clip = (s: string, n: number): string => ([...s].length > n ? `${[...s].slice(0, n - 1).join('')}…` : s);

export function renderTable(report: Report): string {
  const head = ['variant', 'backend', 'thr', 'status', 'first call', 'median', 'ops/s ± rme', 'throughput', 'vs ref'];
  const right = [false, false, true, false, true, true, true, true, true];
  const lines: string[] = [];
  lines.push(`resgrad bench · ${machineLine(report)}`);
  for (const [k, v] of Object.entries(report.backends)) lines.push(`  ${v.startsWith(`${k}:`) ? v : `${k}: ${v}`}`);
  const workloads = [...new Set(report.results.map((r) => r.workload))];
  for (const wl of workloads) {
    const rs = report.results.filter((r) => r.workload === wl);
    const ref = rs.find((r) => r.reference);
    const refMs = ref ? medianMs(ref) : undefined;
    const rows = rs.map((r) => {
      const ms = medianMs(r);
      const status = r.status === 'wrong' ? 'WRONG' : r.status;
      return [
        r.variant,
        clip(r.backend, BACKEND_WIDTH),
        String(r.threads),
        status,
        fmtMs(r.firstCallMs),
        fmtMs(ms),
        fmtHz(r),
        fmtThroughput(r),
        refMs && ms ? `${fmtNum(refMs / ms)}×` : '',
      ];
    });
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => [...(row[i] as string)].length)));
    lines.push('', `${wl}`);
    lines.push(`  ${head.map((h, i) => pad(h, widths[i] as number, right[i])).join('  ')}`);
    for (const row of rows) lines.push(`  ${row.map((c, i) => pad(c, widths[i] as number, right[i])).join('  ')}`);
    for (const r of rs) {
      if (r.reason && r.status !== 'ok') lines.push(`    ${r.variant}: ${r.reason}`);
      if (r.note) lines.push(`    ${r.variant}: ${r.note}`);
    }
  }
  if (report.ratios.length) {
    lines.push('', 'resgrad / peer (best resgrad rung vs peer, > 1 = resgrad faster)');
    for (const r of report.ratios) lines.push(`  ${pad(r.workload, 34)} ${pad(r.resgrad, 14)} vs ${pad(r.peer, 14)} ${fmtNum(r.ratio)}×`);
  }
  if (report.mustShow?.length) {
    lines.push('', "peer ratios (issue 10's Must show, this run's medians, equal threads)");
    for (const l of report.mustShow) lines.push(`  ${l.text}`);
  }
  lines.push('', `${report.results.length} results in ${report.durationS.toFixed(0)} s`);
  return lines.join('\n');
}
