// The experiment framework: number formatting, markdown tables, the report folder (report.md,
// SVGs, results.json, written whole) and the `resgrad experiment` command line.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../experiments/cli.js';
import { type Experiment, type ExperimentResult, formatNumber, formatPercent, markdownTable, median, renderSvg, writeReport } from '../../experiments/framework.js';
import { EXPERIMENTS } from '../../experiments/index.js';

const root = mkdtempSync(join(tmpdir(), 'resgrad-exp-framework-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const lineSpec = (values: { x: number; y: number }[]) => ({
  data: { values },
  mark: 'line',
  encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative', scale: { type: 'log' } } },
});

const fake: Experiment = {
  name: 'fake',
  about: 'a stand-in',
  async run() {
    throw new Error('not run here');
  },
};

const result = (plots: { file: string }[] = [{ file: 'line.svg' }]): ExperimentResult => ({
  title: 'A title',
  summary: `The value is ${formatNumber(1.234567)}.`,
  sections: [
    {
      heading: 'First',
      text: 'Some *markdown*.',
      tables: [{ columns: ['name', 'value'], rows: [['a|b', 0.000123456], ['c', 42]] }],
      plots: plots.map((p) => ({ file: p.file, caption: 'A line [log]', spec: lineSpec([{ x: 1, y: 1 }, { x: 2, y: 10 }]) })),
    },
    { heading: 'Second', text: 'No plots.' },
  ],
  data: { value: 1.234567, nested: { list: [1, 2, 3] } },
});

const meta = { command: 'resgrad experiment fake --tiny', seed: 7, budget: 'tiny' as const, machine: 'a test machine', startedAt: '2026-01-01T00:00:00.000Z', seconds: 1.25 };

describe('formatting', () => {
  it('formatNumber: integers as they are, 4 significant digits, exponent outside [1e-3, 1e5)', () => {
    expect(formatNumber(25557032)).toBe('25557032');
    expect(formatNumber(0)).toBe('0');
    expect(formatNumber(1.234567)).toBe('1.235');
    expect(formatNumber(-0.0123456)).toBe('-0.01235');
    expect(formatNumber(0.000123456)).toBe('1.23e-4');
    expect(formatNumber(123456.7)).toBe('1.23e+5');
    expect(formatNumber(Number.NaN)).toBe('NaN');
    expect(formatNumber(Number.POSITIVE_INFINITY)).toBe('Infinity');
    expect(formatPercent(0.8652)).toBe('86.5%');
  });

  it('markdownTable: header, right-aligned number columns, escaped pipes; a short row is refused', () => {
    const t = markdownTable({ columns: ['name', 'value'], rows: [['a|b', 0.5]] });
    expect(t.split('\n')).toEqual(['| name | value |', '| --- | ---: |', '| a\\|b | 0.5 |']);
    expect(() => markdownTable({ columns: ['a', 'b'], rows: [[1]] })).toThrow(/expected rows of 2 cells \(the columns\), but got a row of 1/);
  });

  it('median of odd and even counts; none is refused', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(/at least one value/);
  });
});

describe('writeReport', () => {
  it('report.md holds the title, summary, sections, tables, plots and how it was made; results.json the data and meta', async () => {
    const dir = join(root, 'report');
    await writeReport(dir, fake, result(), meta);
    expect(readdirSync(dir).sort()).toEqual(['line.svg', 'report.md', 'results.json']);
    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    const headings = md.split('\n').filter((l) => l.startsWith('#'));
    expect(headings).toEqual(['# A title', '## First', '## Second', '## How this was made']);
    expect(md).toContain('The value is 1.235.');
    expect(md).toContain('| a\\|b | 1.23e-4 |');
    expect(md).toContain('| c | 42 |');
    expect(md).toContain('![A line log](line.svg)');
    for (const s of ['`resgrad experiment fake --tiny`', 'Seed: 7', 'Budget: tiny', 'Machine: a test machine', '2026-01-01T00:00:00.000Z', 'Wall time: 1.3 s']) {
      expect(md).toContain(s);
    }
    const json = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    expect(json).toEqual({ experiment: 'fake', title: 'A title', data: result().data, meta });
    const svg = readFileSync(join(dir, 'line.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toMatch(/class="mark-line role-mark/);
  });

  it('a bad or repeated plot file name is refused before anything is written', async () => {
    const dir = join(root, 'refused');
    await expect(writeReport(dir, fake, result([{ file: '../escape.svg' }]), meta)).rejects.toThrow(/expected plot file names like 'grad-norms.svg'.*but got '..\/escape.svg'/);
    await expect(writeReport(dir, fake, result([{ file: 'a.svg' }, { file: 'a.svg' }]), meta)).rejects.toThrow(/'a.svg' appears twice/);
    expect(existsSync(dir)).toBe(false);
  });

  it('renderSvg draws a faceted log-scale chart', async () => {
    const svg = await renderSvg({
      data: { values: [{ x: 1, y: 1, f: 'a' }, { x: 2, y: 100, f: 'b' }] },
      facet: { column: { field: 'f', type: 'nominal' } },
      spec: lineSpec([]),
    });
    expect(svg.match(/role-mark/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
  });
});

describe('resgrad experiment (command line)', () => {
  const capture = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
  };

  it('--help lists every experiment', async () => {
    const c = capture();
    expect(await main(['--help'], c.io)).toBe(0);
    for (const name of Object.keys(EXPERIMENTS)) expect(c.out.join('\n')).toContain(name);
  });

  it('an unknown experiment lists the valid names', async () => {
    const c = capture();
    expect(await main(['gradient-flw', '--tiny'], c.io)).toBe(1);
    expect(c.err.join('\n')).toContain(`unknown experiment 'gradient-flw': expected one of ${Object.keys(EXPERIMENTS).join(', ')}`);
  });

  it.each([
    [['gradient-flow', '--quick', '--full'], /expected at most one of --quick, --full, but got --quick and --full/],
    [['gradient-flow', '--seed', 'x'], /--seed: expected a non-negative integer, but got 'x'/],
    [['gradient-flow', '--threads', '0'], /--threads: expected a positive integer, but got '0'/],
    [['gradient-flow', '--bogus'], /Unknown option '--bogus'/],
    [[], /expected one experiment name .* but got none/],
  ])('%j is a usage error', async (args, message) => {
    const c = capture();
    expect(await main(args, c.io)).toBe(1);
    expect(c.err.join('\n')).toMatch(message);
    expect(c.err.join('\n')).toContain('usage: resgrad experiment <name>');
  });

  it('the experiments are in the issue order', () => {
    const order = ['gradient-flow', 'degradation', 'norms', 'groups', 'transfer'];
    const names = Object.keys(EXPERIMENTS);
    expect(names).toEqual(order.filter((n) => names.includes(n)));
    for (const e of Object.values(EXPERIMENTS)) expect(e.about.length).toBeGreaterThan(0);
  });
});
