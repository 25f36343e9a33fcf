// transfer --tiny (ResNet-8 of width 4 pretrained on 40 images of classes 0-4, then 2 and 4 images
// per class of 5-9, 3 steps per method) into a temp folder: structure, numbers against
// results.json, what each method trains and whether the frozen BatchNorms moved.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ExperimentResult, formatPercent, writeReport } from '../../experiments/framework.js';
import { transfer } from '../../experiments/transfer.js';

const dir = mkdtempSync(join(tmpdir(), 'resgrad-transfer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const numbersIn = (v: unknown): number[] =>
  typeof v === 'number' ? [v] : Array.isArray(v) ? v.flatMap(numbersIn) : v !== null && typeof v === 'object' ? Object.values(v).flatMap(numbersIn) : [];

interface Run {
  method: string;
  shots: number;
  steps: number;
  lr: number;
  trainable: number;
  accuracy: number;
  drift_mean: number | null;
  drift_var: number | null;
}

/** Parameters of the CIFAR ResNet-8 of width 4 with one input channel and `classes` outputs, by hand. */
function resnet8Params(classes: number): number {
  const w = 4;
  let p = 9 * w + 2 * w; // conv1, bn1
  let c = w;
  for (const planes of [w, 2 * w, 4 * w]) {
    p += 9 * c * planes + 9 * planes * planes + 4 * planes; // two 3x3 convs, two norms
    c = planes;
  }
  return p + 4 * w * classes + classes;
}

describe('experiment transfer (tiny budget)', () => {
  let result: ExperimentResult;
  let md: string;
  let data: Record<string, unknown>;
  let runs: Run[];
  beforeAll(async () => {
    result = await transfer.run({ budget: 'tiny', out: dir, seed: 2, threads: 1 }, () => {});
    await writeReport(dir, transfer, result, { command: 'test', seed: 2, budget: 'tiny', machine: 'test', startedAt: new Date().toISOString(), seconds: 1 });
    md = readFileSync(join(dir, 'report.md'), 'utf8');
    data = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')).data;
    runs = data.runs as Run[];
  }, 120_000);

  const methods = ['frozen', 'fine-tune', 'scratch', 'frozen, BN in train mode'];

  it('writes every section and the accuracy plot with a line per method', () => {
    for (const s of result.sections) expect(md).toContain(`## ${s.heading}`);
    expect(md).toContain('](accuracy-vs-images.svg)');
    const svg = readFileSync(join(dir, 'accuracy-vs-images.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/aria-roledescription="line mark"/g)).toHaveLength(4);
    for (const m of methods) expect(svg).toContain(`method: ${m}`);
  });

  it('every method at every size, same steps; frozen trains only the head, the others everything', () => {
    expect(runs.map((r) => `${r.shots} ${r.method}`)).toEqual([2, 4].flatMap((s) => methods.map((m) => `${s} ${m}`)));
    for (const r of runs) {
      expect(r.steps).toBe(3);
      expect(r.accuracy >= 0 && r.accuracy <= 1).toBe(true);
      expect(r.trainable).toBe(r.method.startsWith('frozen') ? 4 * 4 * 5 + 5 : resnet8Params(5));
      expect(r.lr).toBe(r.method === 'fine-tune' ? 0.01 : 0.1);
    }
  });

  it('a frozen backbone in eval mode keeps its BatchNorm statistics exactly; in train mode they drift', () => {
    for (const r of runs.filter((x) => x.method === 'frozen')) expect([r.drift_mean, r.drift_var]).toEqual([0, 0]);
    for (const r of runs.filter((x) => x.method === 'frozen, BN in train mode')) {
      expect(r.drift_mean).toBeGreaterThan(0);
      expect(r.drift_var).toBeGreaterThan(0);
    }
    // fine-tuning trains in train mode too, so its statistics move
    for (const r of runs.filter((x) => x.method === 'fine-tune')) expect(r.drift_mean).toBeGreaterThan(0);
  });

  it('the summary and tables quote the run', () => {
    const acc = (m: string, s: number) => (runs.find((r) => r.method === m && r.shots === s) as Run).accuracy;
    for (const s of [2, 4]) expect(result.summary).toContain(`frozen ${formatPercent(acc('frozen', s))}, fine-tune ${formatPercent(acc('fine-tune', s))}, scratch ${formatPercent(acc('scratch', s))}`);
    const known = new Set(numbersIn(data).map(formatPercent));
    const shown = md.match(/\d+\.\d%/g) ?? [];
    expect(shown.length).toBeGreaterThan(10);
    for (const s of shown) expect(known.has(s), s).toBe(true);
  });
});
