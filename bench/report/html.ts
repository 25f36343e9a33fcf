// A self-contained HTML report: one hand-written SVG bar chart per suite (log-scale throughput,
// since a ladder spans orders of magnitude), the full table, machine info, and the JSON itself
// embedded for reuse. No scripts, fonts or files from elsewhere.
import { baseName } from '../threads.js';
import type { VariantResult } from '../types.js';
import { fmtHz, fmtMs, fmtNum, fmtThroughput } from './format.js';
import { medianMs, rate, type Report } from './model.js';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

// resgrad rungs in blues (darker = further up the ladder), peers in warm colours
const RUNG_COLOURS = ['#9ecae1', '#6baed6', '#3182bd', '#08519c', '#08306b'];
const PEER_COLOURS: Record<string, string> = { 'tfjs-cpu': '#fdae6b', 'tfjs-wasm': '#e6550d', onnxruntime: '#756bb1', pytorch: '#c51b8a' };

/** What the chart plots for a result: GFLOP/s, GB/s, or calls/s, and its unit. */
function value(r: VariantResult): [number | undefined, string] {
  if (r.gflops !== undefined) return [r.gflops, 'GFLOP/s'];
  if (r.gbps !== undefined) return [r.gbps, 'GB/s'];
  if (r.imagesPerS !== undefined) return [r.imagesPerS, 'images/s'];
  return [rate(r), 'calls/s'];
}

function chart(suite: string, rs: readonly VariantResult[]): string {
  const workloads = [...new Set(rs.map((r) => r.workload))];
  const vals = rs.map((r) => value(r)[0]).filter((v): v is number => v !== undefined && v > 0);
  const unit = rs.map((r) => value(r)[1]).find((u) => u) ?? '';
  const lo = 10 ** Math.floor(Math.log10(Math.min(...vals, 1)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...vals, 1)));
  const left = 250;
  const barW = 520;
  const rowH = 18;
  const width = left + barW + 150;
  const x = (v: number): number => left + (barW * Math.log10(v / lo)) / Math.log10(hi / lo);
  const parts: string[] = [];
  let y = 30;
  const rungIndex = new Map<string, number>();
  for (const wl of workloads) {
    parts.push(`<text x="8" y="${y + 12}" class="wl">${esc(wl)}</text>`);
    y += rowH;
    for (const r of rs.filter((q) => q.workload === wl)) {
      if (r.kind === 'resgrad' && !rungIndex.has(r.variant)) rungIndex.set(r.variant, rungIndex.size);
      const colour = r.kind === 'resgrad' ? RUNG_COLOURS[Math.min(rungIndex.get(r.variant) as number, RUNG_COLOURS.length - 1)] : (PEER_COLOURS[baseName(r.variant)] ?? '#969696');
      parts.push(`<text x="${left - 6}" y="${y + 12}" class="lbl" text-anchor="end">${esc(r.variant)}</text>`);
      const [v] = value(r);
      if (r.status === 'wrong') {
        parts.push(`<text x="${left + 4}" y="${y + 12}" class="wrong">WRONG — not timed (error ${r.error?.toExponential(1)})</text>`);
      } else if (v !== undefined && v > 0) {
        const w = Math.max(1, x(v) - left);
        const tip = `${r.variant}: ${fmtNum(v)} ${unit}, median ${fmtMs(medianMs(r))}${r.status === 'once' ? ' (one call)' : ''}`;
        parts.push(`<rect x="${left}" y="${y + 2}" width="${w.toFixed(1)}" height="${rowH - 5}" fill="${colour}"${r.status === 'once' ? ' fill-opacity="0.5"' : ''}><title>${esc(tip)}</title></rect>`);
        parts.push(`<text x="${(left + w + 4).toFixed(1)}" y="${y + 12}" class="val">${fmtNum(v)}${r.status === 'once' ? ' (1 call)' : ''}</text>`);
      } else {
        parts.push(`<text x="${left + 4}" y="${y + 12}" class="skip">${esc(r.status)}${r.reason ? `: ${esc(r.reason.slice(0, 80))}` : ''}</text>`);
      }
      y += rowH;
    }
    y += 6;
  }
  const axis: string[] = [];
  for (let t = lo; t <= hi * 1.0001; t *= 10) {
    const tx = x(t).toFixed(1);
    axis.push(`<line x1="${tx}" y1="22" x2="${tx}" y2="${y}" class="grid"/><text x="${tx}" y="16" class="tick" text-anchor="middle">${fmtNum(t)}</text>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" viewBox="0 0 ${width} ${y + 10}" role="img" aria-label="${esc(suite)} ${esc(unit)}">
<text x="8" y="16" class="tick">${esc(unit)}, log scale →</text>
${axis.join('\n')}
${parts.join('\n')}
</svg>`;
}

function table(rs: readonly VariantResult[]): string {
  const rows = rs.map((r) => {
    const cls = r.status === 'wrong' ? ' class="wrong"' : '';
    return `<tr${cls}><td>${esc(r.workload)}</td><td>${esc(r.variant)}</td><td>${esc(r.backend)}</td><td>${r.threads}</td><td>${r.status === 'wrong' ? 'WRONG' : r.status}</td><td>${fmtMs(r.firstCallMs)}</td><td>${fmtMs(medianMs(r))}</td><td>${fmtHz(r)}</td><td>${fmtThroughput(r)}</td><td>${r.error !== undefined ? r.error.toExponential(1) : ''}</td><td>${esc([r.reason, r.note].filter(Boolean).join('; '))}</td></tr>`;
  });
  return `<table><thead><tr><th>workload</th><th>variant</th><th>backend</th><th>threads</th><th>status</th><th>first call</th><th>median</th><th>ops/s ± rme</th><th>throughput</th><th>check error</th><th>notes</th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table>`;
}

export function renderHtml(report: Report): string {
  const m = report.machine;
  const suites = [...new Set(report.results.map((r) => r.suite))];
  const sections = suites.map((s) => {
    const rs = report.results.filter((r) => r.suite === s);
    return `<section><h2>${esc(s)}</h2>\n${chart(s, rs)}\n${table(rs)}</section>`;
  });
  const ratios = report.ratios.length
    ? `<section><h2>resgrad / peer</h2><p>Best resgrad rung's throughput over the peer's on the same workload: &gt; 1 means resgrad is faster.</p><table><thead><tr><th>workload</th><th>resgrad</th><th>peer</th><th>ratio</th></tr></thead><tbody>${report.ratios
        .map((r) => `<tr><td>${esc(r.workload)}</td><td>${esc(r.resgrad)}</td><td>${esc(r.peer)}</td><td>${fmtNum(r.ratio)}×</td></tr>`)
        .join('')}</tbody></table></section>`
    : '';
  const must = report.mustShow?.length
    ? `<section><h2>peer ratios (issue 10's Must show)</h2><p>From this run's medians, at equal threads.</p><ul>${report.mustShow
        .map((l) => `<li${l.ratio !== undefined && !l.met ? ' class="wrong"' : ''}>${esc(l.text)}</li>`)
        .join('')}</ul></section>`
    : '';
  const backends = Object.entries(report.backends)
    .map(([k, v]) => `<li><b>${esc(k)}</b>: ${esc(v.startsWith(`${k}: `) ? v.slice(k.length + 2) : v)}</li>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>resgrad bench — ${esc(report.startedAt)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:28px 0 6px;border-bottom:1px solid #ddd}
.meta{color:#555} table{border-collapse:collapse;font-size:12px;margin-top:8px}
td,th{border-bottom:1px solid #eee;padding:2px 8px;text-align:left;white-space:nowrap} td:nth-child(n+4){text-align:right}
tr.wrong td,.wrong{color:#c00;font-weight:600} svg{display:block;margin-top:8px}
svg text{font:12px system-ui,sans-serif} svg .wl{font-weight:600} svg .tick,svg .skip{fill:#777} svg .val{fill:#333}
svg .grid{stroke:#ddd} svg .wrong{fill:#c00}
</style></head><body>
<h1>resgrad bench</h1>
<p class="meta">${esc(report.startedAt)} · ${report.durationS.toFixed(0)} s · ${esc(m.cpu)} · ${m.cores} cores · ${m.memoryGiB} GiB · ${esc(m.platform)} · Node ${esc(m.node)} (V8 ${esc(m.v8)}) · load average at start ${m.loadAverage.join(' ')}${report.loadAverageEnd ? `, at end ${report.loadAverageEnd.join(' ')}` : ''}${report.options.threads ? ` · threads ${report.options.threads.join(', ')}` : ''}</p>
<ul class="meta">${backends}</ul>
<p class="meta">Each variant is first checked against the reference on the same inputs (wrong ones are not timed), its first call is timed on its own, then benchmark.js samples it in steady state (median shown; ops/s ± relative margin of error at 95%). Bars: ${esc('throughput from the median')}; a pale bar was timed by one call only.</p>
${must}
${sections.join('\n')}
${ratios}
<script type="application/json" id="report">${JSON.stringify(report).replace(/</g, '\\u003c')}</script>
</body></html>
`;
}
