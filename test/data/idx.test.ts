// IDX parsing and Fashion-MNIST loading from a folder: good files (gzipped or not), and each kind
// of damage (missing, truncated gzip, wrong magic, count mismatch, short data) gives a DataError
// naming the file and how to get a good copy.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { ResgradError } from '../../index.js';
import {
  DataError,
  FASHION_MNIST_CLASSES,
  type ImageDataset,
  encodeIdx,
  gunzip,
  loadFashionMnist,
  parseIdx,
  parseIdxPair,
  perClassIndices,
  selectClasses,
  takePerClass,
} from '../../data/index.js';

/** n images of h x w with pixel (i, y, x) = (i*31 + y*7 + x) mod 256, labels i mod 10. */
function fakeSplit(n: number, h: number, w: number): { images: Uint8Array; labels: Uint8Array } {
  const images = new Uint8Array(n * h * w);
  for (let i = 0; i < n; i++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) images[(i * h + y) * w + x] = (i * 31 + y * 7 + x) % 256;
  return { images, labels: Uint8Array.from({ length: n }, (_, i) => i % 10) };
}

/** An IDX file written out by hand: magic 0x0000080d, big-endian sizes, data. */
function handIdx(dims: number[], data: number[]): Uint8Array {
  const head = [0, 0, 8, dims.length];
  for (const d of dims) head.push((d >>> 24) & 255, (d >>> 16) & 255, (d >>> 8) & 255, d & 255);
  return Uint8Array.from([...head, ...data]);
}

const dirs: string[] = [];
function folderWith(files: Record<string, Uint8Array>): string {
  const dir = mkdtempSync(join(tmpdir(), 'resgrad-idx-'));
  dirs.push(dir);
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The four gzipped files of a fake Fashion-MNIST: n train and m test images of 28x28. */
function fakeFolderFiles(n = 12, m = 7): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  for (const [prefix, count] of [['train', n], ['t10k', m]] as const) {
    const s = fakeSplit(count, 28, 28);
    files[`${prefix}-images-idx3-ubyte.gz`] = gzipSync(encodeIdx(s.images, [count, 28, 28]));
    files[`${prefix}-labels-idx1-ubyte.gz`] = gzipSync(encodeIdx(s.labels, [count]));
  }
  return files;
}

async function loadError(p: Promise<unknown>): Promise<DataError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(DataError);
  expect(e).toBeInstanceOf(ResgradError);
  return e as DataError;
}

describe('parseIdx', () => {
  it('reads a hand-written [2, 2, 3] file: big-endian sizes, row-major bytes', () => {
    const bytes = handIdx([2, 2, 3], [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
    const idx = parseIdx(bytes, 3, 'hand.idx');
    expect(idx.dims).toEqual([2, 2, 3]);
    expect(Array.from(idx.data)).toEqual([0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
  });

  it('reads sizes above 65535 (70000 = 0x00011170) and round-trips encodeIdx', () => {
    const data = new Uint8Array(70000).map((_, i) => i % 251);
    const bytes = encodeIdx(data, [70000]);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0, 0, 8, 1, 0, 1, 0x11, 0x70]);
    const idx = parseIdx(bytes, 1, 'labels');
    expect(idx.dims).toEqual([70000]);
    expect(Buffer.compare(idx.data, data)).toBe(0);
  });

  it('wrong magic: names the file, the expected and the actual magic', () => {
    const labels = encodeIdx(new Uint8Array(3), [3]);
    expect(() => parseIdx(labels, 3, 'x.idx')).toThrow(/x\.idx: .*expected magic number 0x00000803, but got 0x00000801/);
    const floats = handIdx([1], [0]);
    floats[2] = 0x0d; // float32 elements
    expect(() => parseIdx(floats, 1, 'f.idx')).toThrow(DataError);
  });

  it('truncated: shorter than the magic, the header, or the data the header announces', () => {
    expect(() => parseIdx(new Uint8Array([0, 0]), 1, 'a')).toThrow(/a: truncated IDX file: 2 bytes/);
    expect(() => parseIdx(handIdx([2, 2, 3], []).subarray(0, 10), 3, 'b')).toThrow(/b: truncated IDX header: expected 16 bytes .* has 10/);
    expect(() => parseIdx(handIdx([2, 2, 3], [1, 2, 3]), 3, 'c')).toThrow(/c: truncated IDX data: the header says \[2, 2, 3\] \(12 bytes\), but the file has 3/);
  });

  it('extra bytes after the data are refused too', () => {
    expect(() => parseIdx(handIdx([2], [1, 2, 3]), 1, 'd')).toThrow(/d: malformed IDX data: the header says \[2\] \(2 bytes\), but the file has 3/);
  });
});

describe('gunzip', () => {
  it('inflates what node:zlib deflated', async () => {
    const raw = encodeIdx(new Uint8Array(1000).map((_, i) => i % 7), [10, 10, 10]);
    expect(await gunzip(gzipSync(raw), 'g')).toEqual(raw);
  });
  it('a truncated gzip stream, and bytes that are not gzip, give DataErrors naming the file', async () => {
    const gz = gzipSync(new Uint8Array(5000).map((_, i) => (i * 13) % 256));
    const e = await loadError(gunzip(gz.subarray(0, gz.length - 20), 'cut.gz'));
    expect(e.message).toMatch(/cut\.gz: cannot gunzip .*truncated or damaged/);
    const e2 = await loadError(gunzip(new Uint8Array([0, 0, 8, 1]), 'plain.gz'));
    expect(e2.message).toMatch(/plain\.gz: not a gzip file: expected the gzip magic 1f 8b, but got 00 00/);
  });
});

describe('parseIdxPair', () => {
  it('makes a dataset of 1-channel images with the Fashion-MNIST classes', () => {
    const s = fakeSplit(4, 3, 5);
    const ds = parseIdxPair(encodeIdx(s.images, [4, 3, 5]), encodeIdx(s.labels, [4]), 'mine');
    expect([ds.length, ds.channels, ds.height, ds.width]).toEqual([4, 1, 3, 5]);
    expect(ds.images).toEqual(s.images);
    expect(ds.labels).toEqual(s.labels);
    expect(ds.classes).toEqual(FASHION_MNIST_CLASSES);
    expect(ds.source).toBe('mine');
  });
  it('count mismatch between images and labels names both counts', () => {
    const s = fakeSplit(4, 2, 2);
    expect(() => parseIdxPair(encodeIdx(s.images, [4, 2, 2]), encodeIdx(s.labels.subarray(0, 3), [3]), 'p')).toThrow(
      /p: images holds 4 images but p: labels holds 3 labels/,
    );
  });
  it('a label outside 0..9 is refused with its index', () => {
    const s = fakeSplit(3, 2, 2);
    s.labels[2] = 10;
    expect(() => parseIdxPair(encodeIdx(s.images, [3, 2, 2]), encodeIdx(s.labels, [3]), 'q')).toThrow(/label 10 at index 2 is out of range/);
  });
  it('images and labels swapped: wrong magic', () => {
    const s = fakeSplit(3, 2, 2);
    expect(() => parseIdxPair(encodeIdx(s.labels, [3]), encodeIdx(s.images, [3, 2, 2]), 'r')).toThrow(/r: images: .*0x00000803, but got 0x00000801/);
  });
});

describe('loadFashionMnist from a folder', () => {
  it('reads the gzipped files of each split', async () => {
    const dir = folderWith(fakeFolderFiles(12, 7));
    const train = await loadFashionMnist({ split: 'train', source: 'full', dir });
    const test = await loadFashionMnist({ split: 'test', dir });
    expect([train.length, train.height, train.width, train.source]).toEqual([12, 28, 28, dir]);
    expect(train.images).toEqual(fakeSplit(12, 28, 28).images);
    expect(test.labels).toEqual(fakeSplit(7, 28, 28).labels);
  });

  it('reads uncompressed files (as in torchvision raw/ folders)', async () => {
    const s = fakeSplit(5, 28, 28);
    const dir = folderWith({ 't10k-images-idx3-ubyte': encodeIdx(s.images, [5, 28, 28]), 't10k-labels-idx1-ubyte': encodeIdx(s.labels, [5]) });
    const ds = await loadFashionMnist({ split: 'test', dir });
    expect(ds.images).toEqual(s.images);
  });

  it('missing files: names them and says how to get them', async () => {
    const files = fakeFolderFiles();
    delete files['train-labels-idx1-ubyte.gz'];
    const dir = folderWith(files);
    const e = await loadError(loadFashionMnist({ split: 'train', source: 'full', dir }));
    expect(e.message).toContain(`not found in ${dir}: train-labels-idx1-ubyte.gz`);
    expect(e.message).not.toContain('train-images');
    expect(e.message).toContain('apt-get install dataset-fashion-mnist');
    expect(e.message).toContain("source: 'subset'");
    const empty = folderWith({});
    const e2 = await loadError(loadFashionMnist({ split: 'test', dir: empty }));
    expect(e2.message).toContain('t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz');
  });

  it('a truncated gzip file: names it, says how to get a good copy', async () => {
    const files = fakeFolderFiles();
    const gz = files['train-images-idx3-ubyte.gz']!;
    files['train-images-idx3-ubyte.gz'] = gz.subarray(0, gz.length >> 1);
    const dir = folderWith(files);
    const e = await loadError(loadFashionMnist({ split: 'train', dir }));
    expect(e.message).toContain(join(dir, 'train-images-idx3-ubyte.gz'));
    expect(e.message).toMatch(/truncated or damaged/);
    expect(e.message).toContain('apt-get install dataset-fashion-mnist');
  });

  it('a complete gzip of a truncated IDX file: the sizes in the message', async () => {
    const files = fakeFolderFiles(12, 7);
    const s = fakeSplit(12, 28, 28);
    files['train-images-idx3-ubyte.gz'] = gzipSync(encodeIdx(s.images, [12, 28, 28]).subarray(0, 16 + 5 * 784));
    const e = await loadError(loadFashionMnist({ split: 'train', dir: folderWith(files) }));
    expect(e.message).toMatch(/train-images-idx3-ubyte\.gz: truncated IDX data: the header says \[12, 28, 28\] \(9408 bytes\), but the file has 3920/);
  });

  it('wrong magic and count mismatch, through the loader', async () => {
    const files = fakeFolderFiles(12, 7);
    files['t10k-images-idx3-ubyte.gz'] = files['t10k-labels-idx1-ubyte.gz']!;
    const e = await loadError(loadFashionMnist({ split: 'test', dir: folderWith(files) }));
    expect(e.message).toMatch(/t10k-images-idx3-ubyte\.gz: .*expected magic number 0x00000803, but got 0x00000801/);
    const files2 = fakeFolderFiles(12, 7);
    files2['train-labels-idx1-ubyte.gz'] = gzipSync(encodeIdx(new Uint8Array(11), [11]));
    const e2 = await loadError(loadFashionMnist({ split: 'train', dir: folderWith(files2) }));
    expect(e2.message).toMatch(/holds 12 images but .*train-labels-idx1-ubyte\.gz holds 11 labels/);
  });

  it('bad options name the argument', async () => {
    await expect(loadFashionMnist({ split: 'val' as never })).rejects.toThrow(/argument 'split' must be 'train' or 'test', but got "val"/);
    await expect(loadFashionMnist({ split: 'train', source: 'mini' as never })).rejects.toThrow(/argument 'source' must be 'auto', 'full' or 'subset', but got "mini"/);
    await expect(loadFashionMnist({ split: 'train', source: 'subset', dir: '/tmp' })).rejects.toThrow(/argument 'dir' is for source 'full' or 'auto'/);
  });
});

describe('selectClasses and takePerClass', () => {
  const s = fakeSplit(40, 2, 3);
  const ds: ImageDataset = { ...s, length: 40, channels: 1, height: 2, width: 3, classes: FASHION_MNIST_CLASSES, source: 'fake' };

  it('selectClasses relabels to positions in the list and names those classes', () => {
    const sub = selectClasses(ds, [7, 2]);
    expect(sub.length).toBe(8);
    expect(sub.classes).toEqual(['Sneaker', 'Pullover']);
    // images 2, 7, 12, 17, ... in original order: labels 2 -> 1, 7 -> 0
    expect(Array.from(sub.labels)).toEqual([1, 0, 1, 0, 1, 0, 1, 0]);
    expect(sub.images.subarray(6, 12)).toEqual(ds.images.subarray(7 * 6, 8 * 6));
    const kept = selectClasses(ds, [7, 2], false);
    expect(Array.from(kept.labels)).toEqual([2, 7, 2, 7, 2, 7, 2, 7]);
    expect(kept.classes).toEqual(FASHION_MNIST_CLASSES);
  });

  it('selectClasses refuses out-of-range, repeated and empty class lists', () => {
    expect(() => selectClasses(ds, [10])).toThrow(/integers in \[0, 9\], but got 10 at position 0/);
    expect(() => selectClasses(ds, [1, 1])).toThrow(/lists class 1 twice/);
    expect(() => selectClasses(ds, [])).toThrow(/non-empty array/);
  });

  it('takePerClass: balanced, original order, seeded, and the seed matters', () => {
    const a = takePerClass(ds, 2, 5);
    expect(a.length).toBe(20);
    const counts = new Array(10).fill(0);
    for (const l of a.labels) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(2));
    const idx = perClassIndices(ds.labels, 2, 5);
    expect([...idx]).toEqual([...idx].sort((x, y) => x - y));
    expect(a.images).toEqual(Uint8Array.from([...idx].flatMap((i) => Array.from(ds.images.subarray(i * 6, i * 6 + 6)))));
    expect(takePerClass(ds, 2, 5)).toEqual(a);
    expect(perClassIndices(ds.labels, 2, 6)).not.toEqual(idx);
  });

  it('takePerClass: too few of a class, bad perClass', () => {
    expect(() => takePerClass(ds, 5, 0)).toThrow(/class 0 has only 4 images, fewer than perClass = 5/);
    expect(() => takePerClass(ds, 0, 0)).toThrow(/argument 'perClass' must be a positive integer, but got 0/);
  });

  it('a dataset whose arrays disagree with its sizes is refused', () => {
    expect(() => takePerClass({ ...ds, length: 41 }, 1, 0)).toThrow(/images hold 240 bytes, but length \* channels \* height \* width = 41 \* 1 \* 2 \* 3 = 246/);
  });
});
