// gradient-flow on the tiny budget (depths 8 and 14, 2 steps of 8 images), through the command
// line: the report folder's structure, and every number the report prints is the run's.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../experiments/cli.js';
import { formatNumber } from '../../experiments/framework.js';
import { NETS, type NetRun } from '../../experiments/gradient_flow.js';

const dir = join(mkdtempSync(join(tmpdir(), 'resgrad-exp-gf-')), 'out');
let md = '';
let results: { experiment: string; data: { plan: { depths: number[]; steps: number }; runs: NetRun[]; verdicts: { net: string; verdict: string }[]; thresholds: { shape: number; level: number } }; meta: Record<string, unknown> };

beforeAll(async () => {
  const lines: string[] = [];
  const code = await main(['gradient-flow', '--tiny', '--out', dir, '--seed', '3', '--threads', '1'], { out: (l) => lines.push(l), err: (l) => lines.push(l) });
  expect(code, lines.join('\n')).toBe(0);
  md = readFileSync(join(dir, 'report.md'), 'utf8');
  results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
}, 120_000);
afterAll(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

/** JSON turns NaN and ±Infinity into null; formatNumber prints them by name. */
const fmt = (x: number | null) => (x === null ? 'NaN' : formatNumber(x));

describe('gradient-flow --tiny', () => {
  it('writes report.md, three SVG plots with marks and results.json', () => {
    expect(readdirSync(dir).sort()).toEqual(['grad-norms.svg', 'level-vs-depth.svg', 'ratio-vs-depth.svg', 'report.md', 'results.json']);
    for (const f of ['grad-norms.svg', 'level-vs-depth.svg', 'ratio-vs-depth.svg']) {
      const svg = readFileSync(join(dir, f), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toMatch(/class="mark-line role-mark/);
      expect(md).toContain(`](${f})`);
    }
    const headings = md.split('\n').filter((l) => l.startsWith('#'));
    expect(headings).toEqual(['# Gradient flow: plain vs residual, with and without BatchNorm', '## Per-layer gradient norms', '## Shape and level against depth', '## After training steps', '## Setup', '## How this was made']);
    expect(md).toContain('`resgrad experiment gradient-flow --tiny --out');
    expect(md).toContain('Seed: 3');
    expect(results.experiment).toBe('gradient-flow');
    expect(results.meta).toMatchObject({ seed: 3, budget: 'tiny' });
  });

  it('measures every net at every depth: one norm per conv, stem first, ratio = first/last', () => {
    const { runs, plan } = results.data;
    expect(runs.map((r) => `${r.net}@${r.depth}`)).toEqual(plan.depths.flatMap((d) => NETS.map((n) => `${n}@${d}`)));
    for (const r of runs) {
      // a 6n+2 CIFAR net has the stem and two convs per block: depth - 1 convs
      expect(r.convs.length).toBe(r.depth - 1);
      expect(r.convs[0]).toBe('conv1.weight');
      expect(r.convs.at(-1)).toBe(`layer3.${(r.depth - 2) / 6 - 1}.conv2.weight`);
      for (const p of [r.init, r.trained]) {
        expect(p.norms.length).toBe(r.depth - 1);
        expect(p.first).toBe(p.norms[0]);
        expect(p.last).toBe(p.norms.at(-1));
        expect(p.ratio).toBeCloseTo(p.first / p.last, 12);
      }
      expect(r.trainLoss.length).toBe(r.divergedAt ?? plan.steps);
    }
  });

  it('the table and the text print the numbers of results.json', () => {
    const { runs, verdicts } = results.data;
    for (const r of runs) {
      const row = `| ${r.net} | ${r.depth} | ${fmt(r.init.ratio)} | ${fmt(r.init.median)} | ${fmt(r.trained.ratio)} | ${fmt(r.trained.median)} | ${fmt(r.trainLoss[0]!)} | ${fmt(r.trainLoss.at(-1)!)} |`;
      expect(md).toContain(row);
    }
    const deepest = Math.max(...results.data.plan.depths);
    const words: Record<string, string> = {
      explodes: 'explodes toward the input',
      vanishes: 'vanishes toward the input',
      'grows everywhere': 'grows everywhere with depth',
      'sinks everywhere': 'sinks everywhere with depth',
      flat: 'stays flat',
    };
    for (const v of verdicts) {
      const deep = runs.find((r) => r.net === v.net && r.depth === deepest)!;
      const bullet = md.split('\n').find((l) => l.startsWith(`- **${v.net}**`))!;
      expect(bullet).toContain(words[v.verdict]!);
      if (deep.init.norms.every((n) => n === 0)) expect(bullet).toContain(`every conv weight's gradient is exactly 0 at depth ${deepest}`);
      else expect(bullet).toContain(`the stem's gradient is ${fmt(deep.init.ratio)}x the last conv's at depth ${deepest}`);
    }
  });

  it('the verdicts follow from the numbers (stem vs last conv 100x apart, or the level 10x off the shallow twin)', () => {
    const { runs, verdicts, plan, thresholds } = results.data;
    expect(thresholds).toEqual({ shape: 100, level: 10 });
    const deepest = Math.max(...plan.depths);
    const shallowest = Math.min(...plan.depths);
    for (const v of verdicts) {
      const deep = runs.find((r) => r.net === v.net && r.depth === deepest)!;
      const shallow = runs.find((r) => r.net === v.net && r.depth === shallowest)!;
      const level = deep.init.median / shallow.init.median;
      const zero = deep.init.norms.every((n) => n === 0);
      const expected = zero
        ? 'sinks everywhere'
        : !(deep.init.ratio <= 100) ? 'explodes' : deep.init.ratio < 0.01 ? 'vanishes' : level > 10 ? 'grows everywhere' : level < 0.1 ? 'sinks everywhere' : 'flat';
      expect(v.verdict).toBe(expected);
    }
    // the N(0, 0.01²) init is the one that sinks even at these depths: its gradients are far below He init's
    const small = runs.find((r) => r.net === 'plain, no norm, N(0, 0.01²) init' && r.depth === deepest)!;
    const he = runs.find((r) => r.net === 'plain, no norm' && r.depth === deepest)!;
    expect(small.init.median).toBeLessThan(he.init.median * 1e-3);
  });
});
