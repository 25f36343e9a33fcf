// `resgrad bench [--filter gemm] [--backend cpu|gpu] [--threads 1,2] [--peers] [--json|--html|--md file]`
// Runs the selected suites with progress on stderr, prints the table (and issue 10's peer
// ratios) on stdout, and writes the JSON / HTML / Markdown reports when asked.
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { getBackend } from '../index.js';
import { machineInfo } from './machine.js';
import { computeRatios, type Report } from './report/model.js';
import { renderHtml } from './report/html.js';
import { renderMarkdown } from './report/markdown.js';
import { mustShow } from './report/must_show.js';
import { renderTable } from './report/table.js';
import { fmtMs, fmtThroughput, fmtHz } from './report/format.js';
import { type ProgressEvent, runWorkloads } from './runner.js';
import { SUITES } from './suites/index.js';
import { defaultThreads, describeThreads, parseThreads, wasmThreads } from './threads.js';
import type { Suite, SuiteContext, Workload } from './types.js';
import { ensureGpu, gpuSettings } from './variants.js';

const USAGE = `usage: resgrad bench [options]

  --filter <words>    only suites or workloads whose name contains one of the comma-separated words
                      (e.g. gemm, conv, norm, pool, model, "gemm 512")
  --backend <list>    cpu, gpu or cpu,gpu (default cpu); gpu adds the gpu.js rungs
  --gpu-mode <mode>   gpu.js mode for --backend gpu (default headlessgl; run under xvfb-run -a)
  --threads <list>    thread counts, e.g. 1,2 (default 1,<cores>): rungs on resgrad's WASM thread
                      pool, onnxruntime (intra-op) and PyTorch run once per count; tfjs runs 1
  --peers             also run tfjs (cpu, wasm), onnxruntime-node and PyTorch (the training step,
                      with /usr/bin/python3's torch) on the same workloads
  --json <file>       write the report as JSON
  --html <file>       write a self-contained HTML report with SVG charts
  --md <file>         write the report as Markdown
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
      threads: { type: 'string' },
      json: { type: 'string' },
      html: { type: 'string' },
      md: { type: 'string' },
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
  const threads = values.threads === undefined ? defaultThreads() : parseThreads(values.threads);
  gpuSettings.mode = values['gpu-mode'] as string;
  const filters = values.filter ? values.filter.toLowerCase().split(',').map((s) => s.trim()).filter(Boolean) : null;
  const ctx: SuiteContext = { backends: new Set(backendList as ('cpu' | 'gpu')[]), peers: values.peers as boolean, quick: values.quick as boolean, full: values.full as boolean, threads };

  const backends: Record<string, string> = { cpu: getBackend('cpu').describe(), wasm: describeThreads() };
  if (ctx.backends.has('gpu')) {
    try {
      backends.gpu = await ensureGpu();
    } catch (e) {
      backends.gpu = `unavailable: ${e instanceof Error ? e.message : e}`;
    }
  }
  const workloads: Workload[] = [];
  // When every filter names a suite ("gemm", "gemm 512"), only those suites are built; otherwise
  // every suite is built and its workloads filtered by name (e.g. --filter 512 or "gemm 1024,b8").
  const namesSuite = (f: string) => (s: Suite) => s.name.toLowerCase().includes(f) || f.startsWith(`${s.name} `);
  const named = SUITES.filter((s) => filters?.some((f) => namesSuite(f)(s)));
  const onlyNamed = filters?.every((f) => SUITES.some(namesSuite(f))) ?? false;
  for (const s of onlyNamed ? named : SUITES) {
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
    threadControl: wasmThreads,
  });
  for (const r of results) if (r.kind === 'peer' && r.status !== 'skipped') backends[r.variant] = r.backend;
  const report: Report = {
    tool: 'resgrad bench',
    version: JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version,
    startedAt: started.toISOString(),
    durationS: (performance.now() - t0) / 1e3,
    machine,
    backends,
    options: { filter: values.filter ?? null, backends: backendList, peers: ctx.peers, quick: ctx.quick, full: ctx.full ?? false, maxTime, threads },
    results,
    ratios: computeRatios(results),
    mustShow: mustShow(results, threads),
    loadAverageEnd: machineInfo().loadAverage,
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
  if (values.md) {
    writeFileSync(values.md, renderMarkdown(report));
    process.stderr.write(`wrote ${values.md}\n`);
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
