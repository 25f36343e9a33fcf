// degradation --tiny (plain-8/14 vs ResNet-8/14, a few steps on 60 images) into a temp folder:
// the report's structure, its numbers against results.json, the verdict against the epochs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { degradation } from '../../experiments/degradation.js';
import { type ExperimentResult, formatPercent, writeReport } from '../../experiments/framework.js';

const dir = mkdtempSync(join(tmpdir(), 'resgrad-degradation-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every number anywhere in a JSON value. */
const numbersIn = (v: unknown): number[] =>
  typeof v === 'number' ? [v] : Array.isArray(v) ? v.flatMap(numbersIn) : v !== null && typeof v === 'object' ? Object.values(v).flatMap(numbersIn) : [];

interface Epoch {
  net: string;
  epoch: number;
  train_error: number;
  train_error_eval: number;
  test_error: number;
}

describe('experiment degradation (tiny budget)', () => {
  let result: ExperimentResult;
  let md: string;
  let json: { data: Record<string, unknown> };
  let epochs: Epoch[];
  let nets: { name: string; kind: string; depth: number; parameters: number }[];
  beforeAll(async () => {
    result = await degradation.run({ budget: 'tiny', out: dir, seed: 3, threads: 1 }, () => {});
    await writeReport(dir, degradation, result, { command: 'test', seed: 3, budget: 'tiny', machine: 'test', startedAt: new Date().toISOString(), seconds: 1 });
    md = readFileSync(join(dir, 'report.md'), 'utf8');
    json = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    epochs = json.data.epochs as Epoch[];
    nets = json.data.nets as typeof nets;
  }, 120_000);

  it('writes report.md with every section and each plot as a parsed SVG with line marks', () => {
    for (const s of result.sections) expect(md).toContain(`## ${s.heading}`);
    expect(md).toContain('## How this was made');
    for (const file of ['training-error.svg', 'training-error-eval.svg', 'test-error.svg']) {
      expect(md).toContain(`](${file})`);
      const svg = readFileSync(join(dir, file), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain('</svg>');
      expect(svg.match(/aria-roledescription="line mark"/g)).toHaveLength(4); // one path per net
      for (const net of ['plain-8', 'plain-14', 'ResNet-8', 'ResNet-14']) expect(svg).toContain(`net: ${net};`);
    }
  });

  it('results.json holds every epoch of the four nets, with errors in [0, 1]', () => {
    expect(nets.map((n) => n.name)).toEqual(['plain-8', 'plain-14', 'ResNet-8', 'ResNet-14']);
    expect(epochs).toHaveLength(4 * 2);
    for (const e of epochs) {
      for (const v of [e.train_error, e.train_error_eval, e.test_error]) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
      // the eval-mode training error is counted on 30 images, the test error on 30
      expect(Math.abs(e.train_error_eval * 30 - Math.round(e.train_error_eval * 30))).toBeLessThan(1e-9);
      expect(Math.abs(e.test_error * 30 - Math.round(e.test_error * 30))).toBeLessThan(1e-9);
    }
  });

  it('plain and residual twins have the same parameters (option A shortcuts have none), counted by hand', () => {
    // width w=4, one input channel, 10 classes; n blocks per stage; a conv3x3 a->b has 9ab weights, a norm 2c
    const count = (depth: number) => {
      const n = (depth - 2) / 6;
      const w = 4;
      let p = 9 * 1 * w + 2 * w;
      let c = w;
      for (const planes of [w, 2 * w, 4 * w]) {
        for (let i = 0; i < n; i++) {
          p += 9 * c * planes + 2 * planes + 9 * planes * planes + 2 * planes;
          c = planes;
        }
      }
      return p + 4 * w * 10 + 10;
    };
    for (const net of nets) expect(net.parameters).toBe(count(net.depth));
  });

  it('the verdict follows from the last epoch of the run, and the summary says it', () => {
    const last = (name: string) => epochs.filter((e) => e.net === name).at(-1) as Epoch;
    const plainDegrades = last('plain-14').train_error > last('plain-8').train_error;
    const resnetHolds = last('ResNet-14').train_error <= last('ResNet-8').train_error;
    const verdict = json.data.verdict as { reproduced: boolean; plainDegrades: boolean; resnetHolds: boolean };
    expect(verdict).toMatchObject({ plainDegrades, resnetHolds, reproduced: plainDegrades && resnetHolds });
    expect(md).toContain(plainDegrades && resnetHolds ? '**Reproduced.**' : '**Not reproduced by this budget.**');
    for (const name of ['plain-8', 'plain-14', 'ResNet-8', 'ResNet-14']) expect(result.summary).toContain(formatPercent(last(name).train_error));
  });

  it('every percentage in report.md is a number of results.json', () => {
    const known = new Set(numbersIn(json.data).map(formatPercent));
    const shown = md.match(/\d+\.\d%/g) ?? [];
    expect(shown.length).toBeGreaterThan(10);
    for (const s of shown) expect(known.has(s), s).toBe(true);
  });
});
