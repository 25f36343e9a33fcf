// norms --tiny (BN/GN/LN/IN in a ResNet-8 of width 4 at batch 2, 4, 16 on 20 images) into a temp
// folder: structure, numbers against results.json; and trainModeError, which the BN gap rests on.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualSeed } from '../../core/random.js';
import { randn } from '../../core/creation.js';
import { noGrad } from '../../autograd/graph.js';
import { type ExperimentResult, formatPercent, writeReport } from '../../experiments/framework.js';
import { norms } from '../../experiments/norms.js';
import { type Classifier, evalError, evalLoader, fashion, trainEpoch, trainLoader, trainModeError } from '../../experiments/train_util.js';
import { cifarResNet } from '../../models/cifar.js';
import type { Optimizer } from '../../nn/optim/optimizer.js';
import { SGD } from '../../nn/optim/sgd.js';
import { setNumThreads } from '../../kernels/wasm/runtime.js';

const dir = mkdtempSync(join(tmpdir(), 'resgrad-norms-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const numbersIn = (v: unknown): number[] =>
  typeof v === 'number' ? [v] : Array.isArray(v) ? v.flatMap(numbersIn) : v !== null && typeof v === 'object' ? Object.values(v).flatMap(numbersIn) : [];

interface Run {
  norm: string;
  batch: number;
  lr: number;
  steps: number;
  train_error: number;
  test_error: number;
  test_error_train_mode: number | null;
}

describe('experiment norms (tiny budget)', () => {
  let result: ExperimentResult;
  let md: string;
  let runs: Run[];
  let data: Record<string, unknown>;
  beforeAll(async () => {
    result = await norms.run({ budget: 'tiny', out: dir, seed: 1, threads: 1 }, () => {});
    await writeReport(dir, norms, result, { command: 'test', seed: 1, budget: 'tiny', machine: 'test', startedAt: new Date().toISOString(), seconds: 1 });
    md = readFileSync(join(dir, 'report.md'), 'utf8');
    data = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')).data;
    runs = data.runs as Run[];
  }, 120_000);

  it('writes every section, and both plots as SVGs with a line per norm (per mode)', () => {
    for (const s of result.sections) expect(md).toContain(`## ${s.heading}`);
    for (const [file, lines] of [
      ['error-vs-batch.svg', 4],
      ['bn-gap.svg', 2],
    ] as const) {
      expect(md).toContain(`](${file})`);
      const svg = readFileSync(join(dir, file), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg.match(/aria-roledescription="line mark"/g)).toHaveLength(lines); // one path per series
      for (const name of lines === 4 ? ['BatchNorm', 'GroupNorm', 'LayerNorm', 'InstanceNorm'] : ['eval mode', 'train mode']) expect(svg).toContain(name);
    }
  });

  it('one run per norm and batch: equal epochs, lr linear in the batch, BN alone has a train-mode error', () => {
    expect(runs).toHaveLength(4 * 3);
    for (const r of runs) {
      expect(r.lr).toBeCloseTo((0.1 * r.batch) / 32, 12);
      expect(r.steps).toBe(Math.floor(20 / r.batch)); // 1 epoch of 20 images, the short batch dropped
      expect(r.test_error_train_mode === null).toBe(r.norm !== 'BatchNorm');
      for (const v of [r.train_error, r.test_error]) expect(v >= 0 && v <= 1).toBe(true);
    }
  });

  it('the summary quotes the run: BN at the smallest and largest batch, the gap', () => {
    const bn = (b: number) => runs.find((r) => r.norm === 'BatchNorm' && r.batch === b) as Run;
    expect(result.summary).toContain(`${formatPercent(bn(2).test_error)} at batch 2`);
    expect(result.summary).toContain(formatPercent(bn(16).test_error));
    expect(result.summary).toContain(formatPercent(bn(2).test_error_train_mode as number));
    const known = new Set(numbersIn(data).map(formatPercent));
    const shown = md.match(/\d+\.\d%/g) ?? [];
    expect(shown.length).toBeGreaterThan(10);
    for (const s of shown) expect(known.has(s), s).toBe(true);
  });
});

describe('trainModeError', () => {
  it('normalises with batch statistics (running stats do not matter) and leaves the model as it was', async () => {
    setNumThreads(1);
    const test = await fashion('test', 'subset', 1, 0);
    const train = await fashion('train', 'subset', 2, 0);
    manualSeed(0);
    const model = cifarResNet(8, { inChannels: 1, width: 4 }) as Classifier;
    const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 }) as unknown as Optimizer;
    trainEpoch(model, opt, trainLoader(train, 5, 0), 0);
    const loader = evalLoader(test, 5);
    const before = Object.entries(model.stateDict()).map(([k, t]) => [k, Array.from(t.toArray())] as const);
    const first = trainModeError(model, loader);
    // every parameter and buffer (running stats, batch counters) bit-equal afterwards, and eval mode
    for (const [k, v] of before) expect(Array.from(model.stateDict()[k]!.toArray()), k).toEqual(v);
    expect(model.training).toBe(false);
    // scramble the running statistics: eval mode changes, train mode does not
    const evalBefore = evalError(model, loader);
    noGrad(() => {
      for (const b of model.buffers()) if (b.dtype === 'float32') b.assign(randn(b.shape).abs().add(0.5));
    });
    const again = trainModeError(model, loader);
    expect(again.error).toBe(first.error);
    expect(again.loss).toBeCloseTo(first.loss, 9);
    expect(evalError(model, loader).loss).not.toBeCloseTo(evalBefore.loss, 3);
  });
});
