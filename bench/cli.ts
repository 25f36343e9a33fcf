// `resgrad bench [--filter gemm] [--backend cpu|gpu] [--json out.json] [--html out.html] [--peers]`
// Runs the selected suites with progress on stderr, prints the table on stdout, and writes the
// JSON / HTML reports when asked.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { getBackend } from '../index.js';
import { machineInfo } from './machine.js';
import { ortSettings } from './peers/onnx.js';
import { computeRatios, type Report } from './report/model.js';
import { renderHtml } from './report/html.js';
import { renderTable } from './report/table.js';
import { fmtMs, fmtThroughput, fmtHz } from './report/format.js';
import { type ProgressEvent, runWorkloads } from './runner.js';
import { SUITES } from './suites/index.js';
import type { Suite, SuiteContext, Workload } from './types.js';
import { ensureGpu, gpuSettings } from './variants.js';

const USAGE = `usage: resgrad bench [options]

  --filter <words>    only suites or workloads whose name contains one of the comma-separated words
                      (e.g. gemm, conv, norm, pool, model, "gemm 512")
  --backend <list>    cpu, gpu or cpu,gpu (default cpu); gpu adds the gpu.js rungs
  --gpu-mode <mode>   gpu.js mode for --backend gpu (default headlessgl; run under xvfb-run -a)
  --peers             also run tfjs (cpu, wasm) and onnxruntime-node on the same workloads
  --ort-threads <n>   onnxruntime intra-op threads (default 1, like resgrad's kernels)
  --json <file>       write the report as JSON
  --html <file>       write a self-contained HTML report with SVG charts
  --max-time <s>      seconds of sampling per variant (default 1)
  --quick             small sizes, short sampling (a look, not a measurement)
  --full              also the slowest workloads (model forwards at batch 8)
  --list              list suites and workloads, run nothing
  -h, --help`;

function progress(e: ProgressEvent): void {
  const out = process.stderr;
  if (e.type === 'workload') out.write(`[${e.index + 1}/${e.total}] ${e.workload.name}\n`);
  else if (e.type === 'start') out.write(`  ${e.variant.name} … `);
  else {
    const r = e.result;
    const what =
      r.status === 'ok'
        ? `${fmtMs(r.timing?.medianMs)} median, ${fmtHz(r)} ops/s, ${fmtThroughput(r)} (first call ${fmtMs(r.firstCallMs)})`
        : r.status === 'once'
          ? `${fmtMs(r.firstCallMs)} one call, ${fmtThroughput(r)}`
          : r.status === 'wrong'
            ? `WRONG: ${r.reason}`
            : `${r.status}: ${r.reason}`;
    out.write(`${what}\n`);
  }
}

function matches(filters: string[] | null, suite: Suite, w?: Workload): boolean {
  if (!filters) return true;
  return filters.some((f) => suite.name.toLowerCase().includes(f) || (w?.name.toLowerCase().includes(f) ?? false));
}

export async function main(argv: string[]): Promise<number> {
  const args = argv[0] === 'bench' ? argv.slice(1) : argv;
  const { values } = parseArgs({
    args,
    options: {
      filter: { type: 'string' },
      backend: { type: 'string', default: 'cpu' },
      'gpu-mode': { type: 'string', default: 'headlessgl' },
      peers: { type: 'boolean', default: false },
      'ort-threads': { type: 'string', default: '1' },
      json: { type: 'string' },
      html: { type: 'string' },
      'max-time': { type: 'string', default: '1' },
      quick: { type: 'boolean', default: false },
      full: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const backendList = (values.backend as string).split(',').map((s) => s.trim());
  for (const b of backendList) if (b !== 'cpu' && b !== 'gpu') throw new Error(`--backend: expected cpu, gpu or cpu,gpu, got '${b}'`);
  const maxTime = Number(values['max-time']);
  if (!(maxTime > 0)) throw new Error(`--max-time: expected a positive number of seconds, got '${values['max-time']}'`);
  ortSettings.threads = Number(values['ort-threads']);
  if (!Number.isInteger(ortSettings.threads) || ortSettings.threads < 1) throw new Error(`--ort-threads: expected a positive integer, got '${values['ort-threads']}'`);
  gpuSettings.mode = values['gpu-mode'] as string;
  const filters = values.filter ? values.filter.toLowerCase().split(',').map((s) => s.trim()).filter(Boolean) : null;
  const ctx: SuiteContext = { backends: new Set(backendList as ('cpu' | 'gpu')[]), peers: values.peers as boolean, quick: values.quick as boolean, full: values.full as boolean };

  const backends: Record<string, string> = { cpu: getBackend('cpu').describe() };
  if (ctx.backends.has('gpu')) {
    try {
      backends.gpu = await ensureGpu();
    } catch (e) {
      backends.gpu = `unavailable: ${e instanceof Error ? e.message : e}`;
    }
  }
  const workloads: Workload[] = [];
  // A filter that names a suite picks whole suites; otherwise every suite is built and its
  // workloads filtered by name (e.g. --filter 512).
  const named = SUITES.filter((s) => filters?.some((f) => s.name.toLowerCase().includes(f) || f.startsWith(`${s.name} `)));
  for (const s of named.length ? named : SUITES) {
    for (const w of await s.workloads(ctx)) if (matches(filters, s, w)) workloads.push(w);
  }
  if (values.list) {
    for (const w of workloads) process.stdout.write(`${w.suite}\t${w.name}\t${w.variants.map((v) => v.name).join(', ')}\n`);
    return 0;
  }
  if (workloads.length === 0) {
    process.stderr.write(`no workload matches --filter ${values.filter}; suites: ${SUITES.map((s) => s.name).join(', ')}\n`);
    return 1;
  }
  const machine = machineInfo();
  const started = new Date();
  const t0 = performance.now();
  const results = await runWorkloads(workloads, {
    maxTime: ctx.quick ? Math.min(maxTime, 0.25) : maxTime,
    minSamples: ctx.quick ? 3 : 5,
    onProgress: progress,
  });
  for (const r of results) if (r.kind === 'peer' && r.status !== 'skipped') backends[r.variant] = r.backend;
  const report: Report = {
    tool: 'resgrad bench',
    version: JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version,
    startedAt: started.toISOString(),
    durationS: (performance.now() - t0) / 1e3,
    machine,
    backends,
    options: { filter: values.filter ?? null, backends: backendList, peers: ctx.peers, quick: ctx.quick, full: ctx.full ?? false, maxTime },
    results,
    ratios: computeRatios(results),
  };
  process.stdout.write(`\n${renderTable(report)}\n`);
  if (values.json) {
    writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
    process.stderr.write(`wrote ${values.json}\n`);
  }
  if (values.html) {
    writeFileSync(values.html, renderHtml(report));
    process.stderr.write(`wrote ${values.html}\n`);
  }
  return results.some((r) => r.status === 'wrong') ? 2 : 0;
}

const isEntry = process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/.*[\\/]/, ''));
if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`resgrad bench: ${e instanceof Error ? e.message : e}\n`);
      process.exit(1);
    },
  );
}
