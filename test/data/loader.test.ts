// DataLoader: batching (every index once per epoch, partial last batch, dropLast), seeded order
// (same seed same order, epochs differ), exact resume from state(), augmentation and
// normalisation (by hand on a tiny image, and against torchvision's transforms through the
// PyTorch oracle), option checks, and that the global generator is never touched.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Generator, manualSeed, defaultGenerator } from '../../index.js';
import { type Batch, DataLoader, FASHION_MNIST_CLASSES, type ImageDataset, type LoaderOptions, normalisationTable } from '../../data/index.js';

/** n random images of c x h x w (seeded), labels i mod 10. */
function randomDataset(n: number, c: number, h: number, w: number, seed = 3): ImageDataset {
  const g = new Generator(seed);
  const images = Uint8Array.from({ length: n * c * h * w }, () => g.integer(0, 256));
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
  return { images, labels, length: n, channels: c, height: h, width: w, classes: FASHION_MNIST_CLASSES, source: 'random' };
}

/** What a test compares: indices, labels and pixels of every batch. */
function snapshot(batches: Iterable<Batch>): { epoch: number; batch: number; indices: number[]; y: number[]; x: number[] }[] {
  return Array.from(batches, (b) => ({
    epoch: b.epoch,
    batch: b.batch,
    indices: Array.from(b.indices),
    y: Array.from(b.y.toArray()),
    x: Array.from(b.x.toArray()),
  }));
}

const ds = randomDataset(23, 1, 5, 6);
const augmented: LoaderOptions = { batchSize: 5, shuffle: true, seed: 11, augment: { cropPadding: 2, hflip: true } };

describe('DataLoader batching', () => {
  it('23 images, batch 5: every index exactly once per epoch, last batch of 3', () => {
    const loader = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 1 });
    expect(loader.numBatches).toBe(5);
    const batches = [...loader];
    expect(batches.map((b) => b.x.shape)).toEqual([...new Array(4).fill([5, 1, 5, 6]), [3, 1, 5, 6]]);
    expect(batches.map((b) => b.batch)).toEqual([0, 1, 2, 3, 4]);
    const seen = batches.flatMap((b) => Array.from(b.indices)).sort((a, b) => a - b);
    expect(seen).toEqual(Array.from({ length: 23 }, (_, i) => i));
    for (const b of batches) {
      expect(b.x.dtype).toBe('float32');
      expect(b.y.dtype).toBe('int32');
      expect(Array.from(b.y.toArray())).toEqual(Array.from(b.indices, (i) => ds.labels[i]));
    }
  });

  it('dropLast: 4 full batches of 20 distinct indices', () => {
    const loader = new DataLoader(ds, { batchSize: 5, shuffle: true, seed: 1, dropLast: true });
    expect(loader.numBatches).toBe(4);
    const batches = [...loader];
    expect(batches.every((b) => b.x.shape[0] === 5)).toBe(true);
    expect(new Set(batches.flatMap((b) => Array.from(b.indices))).size).toBe(20);
  });

  it('no shuffle: the dataset order; a batch larger than the data is one partial batch', () => {
    const [only, ...rest] = new DataLoader(ds, { batchSize: 100 });
    expect(rest).toEqual([]);
    expect(Array.from(only!.indices)).toEqual(Array.from({ length: 23 }, (_, i) => i));
  });

  it('same seed same order; other epochs and other seeds, other orders', () => {
    const order = (seed: number, epoch: number) => new DataLoader(ds, { batchSize: 5, shuffle: true, seed }).epochOrder(epoch).join();
    expect(order(1, 0)).toBe(order(1, 0));
    expect(order(1, 1)).toBe(order(1, 1));
    expect(new Set([order(1, 0), order(1, 1), order(1, 2), order(2, 0)]).size).toBe(4);
  });

  it('setEpoch(e) starts epoch e at batch 0; a new for-loop after an epoch starts the next one', () => {
    const loader = new DataLoader(ds, augmented);
    const first = snapshot(loader);
    const second = snapshot(loader);
    expect(first.every((b) => b.epoch === 0)).toBe(true);
    expect(second.every((b) => b.epoch === 1)).toBe(true);
    loader.setEpoch(1);
    expect(snapshot(loader)).toEqual(second);
    expect(snapshot(new DataLoader(ds, augmented))).toEqual(first);
  });
});

describe('DataLoader resume', () => {
  it('state() mid-epoch, loadState() on a fresh loader: the same batches, bit for bit', () => {
    const straight = new DataLoader(ds, augmented);
    const expected: ReturnType<typeof snapshot> = [];
    for (let e = 0; e < 3; e++) {
      straight.setEpoch(e);
      expected.push(...snapshot(straight));
    }
    // interrupted after batch 2 of epoch 1 (its state says: next is batch 3)
    const first = new DataLoader(ds, augmented);
    const got: ReturnType<typeof snapshot> = [];
    got.push(...snapshot(first));
    first.setEpoch(1);
    const it1 = first[Symbol.iterator]();
    for (let k = 0; k < 3; k++) got.push(...snapshot([it1.next().value as Batch]));
    const saved = JSON.parse(JSON.stringify(first.state()));
    expect(saved).toEqual({ epoch: 1, batch: 3, seed: 11 });

    const resumed = new DataLoader(ds, { ...augmented, seed: 999 });
    resumed.loadState(saved);
    got.push(...snapshot(resumed));
    resumed.setEpoch(2);
    got.push(...snapshot(resumed));
    expect(got).toEqual(expected);
  });

  it('batchAt(e, b) is the batch the iteration yields, and does not move the state', () => {
    const loader = new DataLoader(ds, augmented);
    loader.setEpoch(4);
    const fromIteration = snapshot(loader);
    const before = loader.state();
    expect(snapshot([loader.batchAt(4, 2)])).toEqual([fromIteration[2]]);
    expect(loader.state()).toEqual(before);
  });

  it('loadState refuses a batch past the epoch and a bad seed', () => {
    const loader = new DataLoader(ds, augmented);
    expect(() => loader.loadState({ epoch: 0, batch: 6, seed: 1 })).toThrow(/'batch' must be an integer in \[0, 5\] .* but got 6/);
    expect(() => loader.loadState({ epoch: -1, batch: 0, seed: 1 })).toThrow(/'epoch' must be a non-negative integer, but got -1/);
    expect(() => loader.loadState({ epoch: 0, batch: 0, seed: 0.5 })).toThrow(/'seed' must be a non-negative integer, but got 0.5/);
  });
});

describe('DataLoader pixels', () => {
  it('normalisation: (v/255 - mean)/std in float32 steps, for the defaults and others', () => {
    const tiny: ImageDataset = { ...randomDataset(1, 1, 1, 4), images: Uint8Array.from([0, 1, 128, 255]) };
    const f = Math.fround;
    const expected = (mean: number, std: number) => [0, 1, 128, 255].map((v) => f(f(f(v / 255) - f(mean)) / f(std)));
    const [dflt] = new DataLoader(tiny, { batchSize: 1 });
    expect(Array.from(dflt!.x.toArray())).toEqual(expected(0.286, 0.353));
    const [plain] = new DataLoader(tiny, { batchSize: 1, mean: 0, std: 1 });
    expect(Array.from(plain!.x.toArray())).toEqual([0, 1 / 255, 128 / 255, 1].map(f));
  });

  it('crop with padding 1 and flip of a 3x4 image match the padded-and-sliced image by hand', () => {
    // image rows: [1 2 3 4] [5 6 7 8] [9 10 11 12]; with mean 0, std 1/255 a pixel v reads v
    const img: ImageDataset = { ...randomDataset(1, 1, 3, 4), images: Uint8Array.from({ length: 12 }, (_, i) => i + 1) };
    const loader = new DataLoader(img, { batchSize: 1, mean: 0, std: 1 / 255, augment: { cropPadding: 1, hflip: true } });
    const padded = [new Array(6).fill(0), ...[0, 1, 2].map((r) => [0, ...[1, 2, 3, 4].map((c) => r * 4 + c), 0]), new Array(6).fill(0)];
    const seen = new Set<string>();
    for (let epoch = 0; epoch < 150; epoch++) {
      const aug = loader.augmentation(0, epoch);
      let rows = padded.slice(aug.top, aug.top + 3).map((row) => row.slice(aug.left, aug.left + 4));
      if (aug.flip) rows = rows.map((row) => [...row].reverse());
      const got = Array.from(loader.batchAt(epoch, 0).x.toArray(), (v) => Math.round(v));
      expect(got).toEqual(rows.flat());
      seen.add(JSON.stringify(aug));
    }
    // offsets 0..2 in each direction, flipped or not: 18 outcomes, all reached in 150 epochs
    expect(seen.size).toBe(18);
  });

  it('several channels are cropped and flipped alike', () => {
    const rgb = randomDataset(2, 3, 4, 4);
    const loader = new DataLoader(rgb, { batchSize: 2, shuffle: true, seed: 5, mean: 0, std: 1 / 255, augment: { cropPadding: 1, hflip: true } });
    const b = loader.batchAt(0, 0);
    const x = b.x.toArray();
    for (let k = 0; k < 2; k++) {
      const i = b.indices[k]!;
      const aug = loader.augmentation(i, 0);
      for (let c = 0; c < 3; c++)
        for (let y = 0; y < 4; y++)
          for (let xx = 0; xx < 4; xx++) {
            const sy = y + aug.top - 1;
            const sx = (aug.flip ? 3 - xx : xx) + aug.left - 1;
            const inside = sy >= 0 && sy < 4 && sx >= 0 && sx < 4;
            const want = inside ? rgb.images[((i * 3 + c) * 4 + sy) * 4 + sx]! : 0;
            expect(Math.round(x[((k * 3 + c) * 4 + y) * 4 + xx]!)).toBe(want);
          }
    }
  });

  it('augmentation and normalisation equal torchvision RandomCrop(padding) + hflip + ToTensor + Normalize (PyTorch oracle)', () => {
    const data = randomDataset(12, 1, 7, 9, 21);
    const opts: LoaderOptions = { batchSize: 4, shuffle: true, seed: 3, mean: 0.286, std: 0.353, augment: { cropPadding: 3, hflip: true } };
    const loader = new DataLoader(data, opts);
    const batches = [0, 1].flatMap((e) => {
      loader.setEpoch(e);
      return [...loader];
    });
    const cases = batches.flatMap((b) => Array.from(b.indices, (index) => ({ index, ...loader.augmentation(index, b.epoch) })));
    const request = { h: 7, w: 9, images: Array.from(data.images), mean: opts.mean, std: opts.std, pad: 3, cases };
    const script = fileURLToPath(new URL('torch_transforms.py', import.meta.url));
    const reply = JSON.parse(execFileSync('/usr/bin/python3', [script], { input: JSON.stringify(request), encoding: 'utf8' })) as {
      table: number[];
      cases: number[][];
    };
    expect(Array.from(normalisationTable(0.286, 0.353))).toEqual(reply.table);
    const ours = batches.flatMap((b) => Array.from({ length: b.indices.length }, (_, k) => Array.from(b.x.toArray().subarray(k * 63, (k + 1) * 63))));
    expect(ours).toEqual(reply.cases);
    // the draws did crop and flip
    expect(new Set(cases.map((c) => `${c.top},${c.left}`)).size).toBeGreaterThan(5);
    expect(cases.some((c) => c.flip) && cases.some((c) => !c.flip)).toBe(true);
  });
});

describe('DataLoader options and the global generator', () => {
  it('never draws from the global generator', () => {
    manualSeed(7);
    const loader = new DataLoader(ds, augmented);
    for (let e = 0; e < 2; e++) {
      loader.setEpoch(e);
      snapshot(loader);
    }
    const reference = new Generator(7);
    expect(Array.from({ length: 8 }, () => defaultGenerator.nextUint32())).toEqual(Array.from({ length: 8 }, () => reference.nextUint32()));
  });

  it('bad options name the argument, the expected and the actual value', () => {
    const bad = (opts: Partial<LoaderOptions>) => () => new DataLoader(ds, { batchSize: 4, ...opts });
    expect(bad({ batchSize: 0 })).toThrow(/argument 'batchSize' must be a positive integer, but got 0/);
    expect(bad({ batchSize: 2.5 })).toThrow(/argument 'batchSize' must be a positive integer, but got 2.5/);
    expect(bad({ batchSize: 24, dropLast: true })).toThrow(/batchSize 24 is larger than the dataset \(23 images\) and dropLast is set/);
    expect(bad({ mean: Number.NaN })).toThrow(/argument 'mean' must be a finite number, but got NaN/);
    expect(bad({ std: 0 })).toThrow(/argument 'std' must be a finite number > 0, but got 0/);
    expect(bad({ augment: { cropPadding: -1 } })).toThrow(/argument 'augment.cropPadding' must be a non-negative integer, but got -1/);
    expect(bad({ augment: { cropPadding: 1.5 } })).toThrow(/but got 1.5/);
    expect(bad({ seed: -3 })).toThrow(/argument 'seed' must be a non-negative integer, but got -3/);
    expect(bad({ shuffle: 'yes' as never })).toThrow(/argument 'shuffle' must be a boolean, but got yes/);
    expect(bad({ batchsize: 4 } as never)).toThrow(/unknown option 'batchsize'/);
    expect(bad({ augment: { flip: true } as never })).toThrow(/augment: unknown option 'flip'/);
    expect(() => new DataLoader({ ...ds, length: 22 }, { batchSize: 4 })).toThrow(/images hold 690 bytes/);
  });
});
