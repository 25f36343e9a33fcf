// `resgrad train` end to end on a tiny model (cifarResNet8 at width 4) and a few dozen images of
// the embedded subset, in this process: the run folder and its content, the loss going down, a
// stop (as Ctrl-C) and --resume ending on the same weights byte for byte, and the errors that
// need the model or the data.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getBackend, initGpu, io } from '../../index.js';
import { main } from '../../train/cli.js';
import type { EpochRecord, MetricsRecord } from '../../train/metrics.js';

const tmp = mkdtempSync(join(tmpdir(), 'resgrad-train-run-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Trouser, Sneaker, Bag: three classes a tiny net separates in a few steps. */
const TINY = ['--model', 'cifarResNet8', '--width', '4', '--classes', '1,7,8', '--per-class', '16', '--test-per-class', '8'];
const FLAGS = [...TINY, '--batch', '8', '--epochs', '2', '--lr', '0.05', '--threads', '1', '--seed', '3'];

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  return { stream, text: () => text };
}

async function train(args: string[], opts: { signal?: AbortSignal; onStep?: (s: { step: number }) => void } = {}) {
  const out = sink();
  const err = sink();
  const code = await main(args, { stdout: out.stream, stderr: err.stream, ...opts });
  return { code, stdout: out.text(), stderr: err.text() };
}

const lines = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as MetricsRecord);

describe('resgrad train: a tiny run', () => {
  const dir = join(tmp, 'full');
  let result: Awaited<ReturnType<typeof train>>;
  beforeAll(async () => {
    result = await train([...FLAGS, '--log-every', '3', '--json', '--out', dir]);
  });

  it('exits 0 and prints JSON lines: per --log-every steps, per epoch, then a summary naming the report', () => {
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const printed = result.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(printed.map((p) => p.type)).toEqual(['step', 'step', 'epoch', 'step', 'step', 'epoch', 'done']);
    const done = printed.at(-1);
    expect(done.report).toBe(join(dir, 'report.md'));
    expect(done.steps).toBe(12); // 48 images / batch 8 = 6 steps an epoch
  });

  it('writes every file of the run folder, and no temporary file', () => {
    for (const f of ['config.json', 'metrics.jsonl', 'curves.svg', 'confusion.json', 'model.safetensors', 'report.md', 'checkpoint']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    const leftovers = readdirSync(dir).filter((f) => f.endsWith('.tmp') || f.startsWith('.'));
    expect(leftovers).toEqual([]);
  });

  it('config.json holds the command, the options, the threads and the machine', () => {
    const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(c.command).toBe(`resgrad train ${[...FLAGS, '--log-every', '3', '--json', '--out', dir].join(' ')}`);
    expect(c.rerun).toMatch(/^npx resgrad train --width 4 --classes 1,7,8 --per-class 16 .*--seed 3/); // the default model is not repeated
    expect(c.rerun).toContain('--threads 1');
    expect(c.options).toMatchObject({ model: 'cifarResNet8', width: 4, classes: [1, 7, 8], seed: 3, threads: 1, epochs: 2 });
    expect(c.resolved.classes).toEqual(['Trouser', 'Sneaker', 'Bag']);
    expect(c.resolved.parameters).toBeGreaterThan(0);
    expect(c.machine.cores).toBeGreaterThan(0);
    expect(typeof c.machine.cpu).toBe('string');
  });

  it('metrics.jsonl: a line per 3 steps and per epoch, finite, and the loss goes down', () => {
    const m = lines(join(dir, 'metrics.jsonl'));
    expect(m.map((r) => `${r.type}@${r.step}`)).toEqual(['step@3', 'step@6', 'epoch@6', 'step@9', 'step@12', 'epoch@12']);
    for (const r of m) for (const v of Object.values(r)) if (typeof v === 'number') expect(Number.isFinite(v)).toBe(true);
    const epochs = m.filter((r): r is EpochRecord => r.type === 'epoch');
    expect(epochs[1]!.train_loss).toBeLessThan(epochs[0]!.train_loss);
    expect(epochs[1]!.test_loss).toBeLessThan(Math.log(3)); // below chance: learnt something
    expect(epochs[1]!.lr).toBeLessThan(epochs[0]!.lr); // cosine
    for (const e of epochs) {
      expect(e.train_accuracy).toBeGreaterThanOrEqual(0);
      expect(e.test_accuracy).toBeLessThanOrEqual(1);
      expect(e.images_per_s).toBeGreaterThan(0);
    }
  });

  it('confusion.json counts every test image once; report.md and curves.svg show the run', () => {
    const c = JSON.parse(readFileSync(join(dir, 'confusion.json'), 'utf8'));
    expect(c.classes).toEqual(['Trouser', 'Sneaker', 'Bag']);
    expect(c.matrix.flat().reduce((a: number, b: number) => a + b, 0)).toBe(24);
    expect(c.matrix.map((row: number[]) => row.reduce((a, b) => a + b, 0))).toEqual([8, 8, 8]);
    const last = lines(join(dir, 'metrics.jsonl')).at(-1) as EpochRecord;
    expect(c.accuracy).toBe(last.test_accuracy);
    const report = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(report).toContain(`Test accuracy **${(100 * last.test_accuracy).toFixed(2)}%** after 2 epochs`);
    expect(report).toContain('| 2 Bag |');
    const svg = readFileSync(join(dir, 'curves.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('cross-entropy loss');
    expect(svg).toContain('accuracy');
  });

  it('model.safetensors holds the final weights under the model keys, int64 counters as torch', () => {
    const sd = io.loadSafetensors(join(dir, 'model.safetensors'));
    expect(Object.keys(sd)).toContain('layer3.0.conv2.weight');
    expect([...sd['fc.weight']!.shape]).toEqual([3, 16]);
    expect(sd['bn1.num_batches_tracked']!.item()).toBe(12);
    const raw = readFileSync(join(dir, 'model.safetensors'));
    const header = JSON.parse(raw.subarray(8, 8 + raw.readUInt32LE(0)).toString());
    expect(header['bn1.num_batches_tracked'].dtype).toBe('I64');
  });

  it('stopped at step 5 (as by Ctrl-C: exit 130 after a checkpoint) and resumed: the same weights, byte for byte', async () => {
    const stopped = join(tmp, 'stopped');
    const ac = new AbortController();
    const first = await train([...FLAGS, '--log-every', '3', '--quiet', '--out', stopped], {
      signal: ac.signal,
      onStep: (s) => {
        if (s.step === 5) ac.abort();
      },
    });
    expect(first.code).toBe(130);
    expect(first.stdout).toMatch(/stopped at epoch 1, batch 5 \(step 5\); checkpoint saved: resgrad train --resume/);
    expect(existsSync(join(stopped, 'model.safetensors'))).toBe(false);
    const second = await train(['--resume', stopped, '--quiet', '--lr', '0.05']);
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    expect(readFileSync(join(stopped, 'model.safetensors')).equals(readFileSync(join(dir, 'model.safetensors')))).toBe(true);
    const strip = (r: MetricsRecord) => ({ ...r, images_per_s: 0, time_s: 0 });
    expect(lines(join(stopped, 'metrics.jsonl')).map(strip)).toEqual(lines(join(dir, 'metrics.jsonl')).map(strip));
  });
});

describe('resgrad train --device gpu', () => {
  /** Two steps of a tiny ResNet-8 on gpu.js's cpu mode (the device code path, no GL needed). */
  const gpuRun = (dir: string) => [
    ...['--model', 'cifarResNet8', '--width', '4', '--classes', '1,7', '--per-class', '4', '--test-per-class', '2'],
    ...['--batch', '4', '--epochs', '1', '--device', 'gpu', '--gpu-mode', 'cpu', '--json', '--out', dir],
  ];
  it("trains on the gpu backend (gpu.js 'cpu' mode: the same device code path, no GL needed) and writes the weights", async () => {
    const dir = join(tmp, 'gpu');
    const r = await train(gpuRun(dir));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const done = JSON.parse(r.stdout.trim().split('\n').at(-1) as string);
    expect(done).toMatchObject({ type: 'done', steps: 2, epochs: 1 });
    const sd = io.loadSafetensors(join(dir, 'model.safetensors'));
    expect(sd['bn1.num_batches_tracked']!.item()).toBe(2);
    expect(sd['fc.weight']!.device).toBe('cpu');
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).resolved.threads).toBe('gpu.js cpu');
  });
  it('on a backend that reads asynchronously (as webgpu does): checkpoints and final weights equal the synchronous run', async () => {
    // Seen on an H200 (webgpu): the first checkpoint read the model synchronously and failed.
    await initGpu({ mode: 'cpu', asyncMode: true }); // train uses the running gpu backend of its mode
    const dir = join(tmp, 'gpu-async');
    const r = await train(gpuRun(dir));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(getBackend('gpu').describe()).toMatch(/async/);
    const got = io.loadSafetensors(join(dir, 'model.safetensors'));
    const want = io.loadSafetensors(join(tmp, 'gpu', 'model.safetensors'));
    expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
    for (const [k, t] of Object.entries(want)) expect([...got[k]!.toArray()], k).toEqual([...t.toArray()]);
    expect(existsSync(join(dir, 'checkpoint', 'optimizer.safetensors'))).toBe(true);
  });
});

describe('resgrad train: errors found with the model, the data or the run folder, before training', () => {
  it('--freeze of a layer the model does not have lists its layers', async () => {
    const r = await train([...TINY, '--freeze', 'layer9', '--out', join(tmp, 'e1')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--freeze: expected a layer of the model \(conv1, bn1, relu, layer1, layer2, layer3, avgpool, fc, or a dotted path such as layer2.0\), but got 'layer9'/);
    expect(existsSync(join(tmp, 'e1'))).toBe(false);
  });

  it('--freeze fc leaves nothing to train', async () => {
    const r = await train([...TINY, '--freeze', 'fc', '--out', join(tmp, 'e2')]);
    expect(r.stderr).toMatch(/--freeze: expected a layer before the last one \(something must train\), but got 'fc'/);
  });

  it('a batch larger than the training set', async () => {
    const r = await train([...TINY, '--batch', '64', '--out', join(tmp, 'e3')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--batch: expected at most the number of training images \(48\), but got 64/);
    expect(existsSync(join(tmp, 'e3'))).toBe(false);
  });

  it('--out on a folder that holds a run points to --resume', async () => {
    const r = await train([...TINY, '--out', join(tmp, 'full')]);
    expect(r.stderr).toMatch(/--out: expected a new or empty folder, but '.*full' holds .*\(continue that run with --resume .*full\)/);
  });

  it('--resume of a folder without a run, and with a flag that differs from the saved run', async () => {
    const none = await train(['--resume', tmp]);
    expect(none.stderr).toMatch(/--resume: expected a run folder with config.json and checkpoint\/, but '.*' has no config.json/);
    const other = await train(['--resume', join(tmp, 'full'), '--lr', '0.1']);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/--lr: expected the resumed run's value 0.05 \(a run continues with its saved options\), but got 0.1/);
  });

  it('--init with weights of another model names the first key that does not fit', async () => {
    const r = await train(['--model', 'cifarResNet14', '--width', '4', '--init', join(tmp, 'full', 'model.safetensors'), '--out', join(tmp, 'e4')]);
    expect(r.stderr).toMatch(/--init: '.*model.safetensors' does not fit this model .*missing \d+ key\(s\), the first 'layer1.1.conv1.weight'/);
  });
});
