// The shared shape of an experiment: it runs under a budget, returns its numbers and the words
// that explain them, and writeReport turns that into a folder a learner opens: report.md (text,
// tables, plots), one SVG per plot (Vega-Lite compiled to Vega, rendered headless with renderer
// 'none': no canvas, no DOM) and results.json (every number the text quotes, plus how the run was
// made). Each file is written whole or not at all (temp file in the same folder, fsync, rename).
import { join, resolve } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { ValueError } from '../core/errors.js';
import { machineInfo, writeFileAtomic, writeJsonAtomic } from '../train/run_folder.js';

/** tiny: CI tests (seconds); quick: a few minutes on 2 cores (embedded subset); full: the real run. */
export type Budget = 'tiny' | 'quick' | 'full';
export const BUDGETS: readonly Budget[] = ['tiny', 'quick', 'full'];

export interface ExperimentOptions {
  budget: Budget;
  out: string;
  seed: number;
  threads?: number;
}

export interface Plot {
  /** e.g. 'grad-norms.svg' (a plain file name inside the report folder). */
  file: string;
  /** A Vega-Lite spec with inline data.values. */
  spec: object;
  caption: string;
}

export interface Table {
  columns: string[];
  rows: (string | number)[][];
}

export interface Section {
  heading: string;
  /** markdown */
  text: string;
  plots?: Plot[];
  tables?: Table[];
}

export interface ExperimentResult {
  title: string;
  /** markdown: what it shows, in words, from the numbers of THIS run. */
  summary: string;
  sections: Section[];
  /** raw numbers -> results.json */
  data: Record<string, unknown>;
}

export interface Experiment {
  name: string;
  about: string;
  run(opts: ExperimentOptions, log: (line: string) => void): Promise<ExperimentResult>;
}

export interface ReportMeta {
  command: string;
  seed: number;
  budget: Budget;
  machine: string;
  startedAt: string;
  seconds: number;
}

/** Vega-Lite -> Vega -> SVG string. */
export async function renderSvg(spec: object): Promise<string> {
  const vg = compile(spec as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(vg), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * How a number is printed in a report's tables and text, one rule everywhere so a test can find
 * results.json's value in report.md: integers as they are, others with 4 significant digits
 * (exponent form outside [1e-3, 1e5)).
 */
export function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(2);
  return String(Number(x.toPrecision(4)));
}

/** x as a percentage with one decimal: 0.8652 -> '86.5%'. */
export function formatPercent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** A markdown table; a '|' inside a cell is escaped. */
export function markdownTable(t: Table): string {
  const cell = (v: string | number) => (typeof v === 'number' ? formatNumber(v) : v.replace(/\|/g, '\\|'));
  const lines = [`| ${t.columns.map(cell).join(' | ')} |`, `| ${t.columns.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`];
  for (const r of t.rows) {
    if (r.length !== t.columns.length) throw new ValueError(`markdownTable: expected rows of ${t.columns.length} cells (the columns), but got a row of ${r.length}`);
    lines.push(`| ${r.map(cell).join(' | ')} |`);
  }
  return lines.join('\n');
}

/** 'AMD EPYC ... (2 cores), Linux ..., Node v20.20.0, 2 threads, load 1.2/1.5/1.9' */
export function machineDescription(threads: number): string {
  const m = machineInfo();
  return `${m.cpu} (${m.cores} cores, ${m.memoryGiB} GiB), ${m.os}, Node ${m.node}, ${threads} thread${threads === 1 ? '' : 's'}, load average ${m.loadAverage.join(' / ')} at the start`;
}

const PLOT_FILE = /^[A-Za-z0-9][A-Za-z0-9._-]*\.svg$/;

function renderMarkdown(exp: Experiment, result: ExperimentResult, meta: ReportMeta): string {
  const out: string[] = [`# ${result.title}`, '', result.summary.trim(), ''];
  for (const s of result.sections) {
    out.push(`## ${s.heading}`, '', s.text.trim(), '');
    for (const t of s.tables ?? []) out.push(markdownTable(t), '');
    for (const p of s.plots ?? []) out.push(`![${p.caption.replace(/[[\]]/g, '')}](${p.file})`, '', `*${p.caption}*`, '');
  }
  out.push(
    '## How this was made',
    '',
    `- Command: \`${meta.command}\``,
    `- Experiment: ${exp.name} (${exp.about})`,
    `- Seed: ${meta.seed}`,
    `- Budget: ${meta.budget}`,
    `- Machine: ${meta.machine}`,
    `- Started: ${meta.startedAt}`,
    `- Wall time: ${meta.seconds.toFixed(1)} s`,
    '',
    'The numbers above are in `results.json`, next to this file.',
    '',
  );
  return out.join('\n');
}

/**
 * Writes DIR/report.md, every plot's SVG and DIR/results.json ({ experiment, title, data, meta }).
 * The SVGs are rendered before anything is written, so a spec that fails leaves the folder as it
 * was; each file then lands atomically.
 */
export async function writeReport(dir: string, exp: Experiment, result: ExperimentResult, meta: ReportMeta): Promise<void> {
  const files = new Map<string, string>();
  for (const s of result.sections) {
    for (const p of s.plots ?? []) {
      if (!PLOT_FILE.test(p.file)) throw new ValueError(`writeReport: expected plot file names like 'grad-norms.svg' (letters, digits, '.', '_', '-'), but got '${p.file}'`);
      if (files.has(p.file)) throw new ValueError(`writeReport: expected distinct plot file names, but '${p.file}' appears twice`);
      files.set(p.file, await renderSvg(p.spec));
    }
  }
  const root = resolve(dir);
  for (const [file, svg] of files) writeFileAtomic(join(root, file), svg);
  writeJsonAtomic(join(root, 'results.json'), { experiment: exp.name, title: result.title, data: result.data, meta });
  writeFileAtomic(join(root, 'report.md'), renderMarkdown(exp, result, meta));
}

/** Median of a few timings (robust to one slow run on a shared machine). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new ValueError('median: expected at least one value, but got none');
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
