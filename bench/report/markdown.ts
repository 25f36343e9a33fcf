// The report as Markdown (`--md`): the machine line, the peer-ratio lines of issue 10, then one
// table per workload — for pasting into the README or an issue.
import { fmtHz, fmtMs, fmtNum, fmtThroughput } from './format.js';
import { machineLine, medianMs, type Report } from './model.js';

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderMarkdown(report: Report): string {
  const out: string[] = [];
  out.push(`# resgrad bench, ${report.startedAt.slice(0, 10)}`, '', `${machineLine(report)} · ${report.durationS.toFixed(0)} s`, '');
  for (const [k, v] of Object.entries(report.backends)) out.push(`- ${cell(v.startsWith(`${k}:`) ? v : `${k}: ${v}`)}`);
  if (report.mustShow?.length) {
    out.push('', "## Peer ratios (issue 10's Must show)", '', "From this run's medians, at equal threads.", '');
    for (const l of report.mustShow) out.push(`- ${cell(l.text)}`);
  }
  for (const wl of [...new Set(report.results.map((r) => r.workload))]) {
    const rs = report.results.filter((r) => r.workload === wl);
    const ref = rs.find((r) => r.reference);
    const refMs = ref ? medianMs(ref) : undefined;
    out.push('', `## ${wl}`, '', '| variant | backend | threads | status | first call | median | ops/s ± rme | throughput | vs ref | check error | notes |', '|---|---|--:|---|--:|--:|--:|--:|--:|--:|---|');
    for (const r of rs) {
      const ms = medianMs(r);
      const notes = [r.reason, r.note].filter(Boolean).join('; ');
      const row = [r.variant, r.backend, String(r.threads), r.status === 'wrong' ? 'WRONG' : r.status, fmtMs(r.firstCallMs), fmtMs(ms), fmtHz(r), fmtThroughput(r), refMs && ms ? `${fmtNum(refMs / ms)}×` : '', r.error !== undefined ? r.error.toExponential(1) : '', notes];
      out.push(`| ${row.map(cell).join(' | ')} |`);
    }
  }
  return `${out.join('\n')}\n`;
}
