// The embedded subset: loads with no install, is class-balanced, and holds exactly the original
// images at the indices its indices.json records (checked against Debian's full Fashion-MNIST,
// which CI installs: apt-get install dataset-fashion-mnist).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEBIAN_FASHION_MNIST_DIR,
  FASHION_MNIST_CLASSES,
  FASHION_SUBSET_URL,
  type ImageDataset,
  type Split,
  fashionFileNames,
  loadFashionMnist,
  perClassIndices,
} from '../../data/index.js';

interface SubsetRecord {
  seed: number;
  perClass: Record<Split, number>;
  train: number[];
  test: number[];
}
const record = JSON.parse(readFileSync(fileURLToPath(new URL('indices.json', FASHION_SUBSET_URL)), 'utf8')) as SubsetRecord;

function requireFullSet(): void {
  for (const split of ['train', 'test'] as const) {
    for (const name of Object.values(fashionFileNames(split))) {
      const path = `${DEBIAN_FASHION_MNIST_DIR}/${name}.gz`;
      if (!existsSync(path)) {
        throw new Error(
          `${path} is missing: this test compares the embedded subset with the full Fashion-MNIST. Install it with 'apt-get install dataset-fashion-mnist' (.ci/setup.sh does).`,
        );
      }
    }
  }
}

describe.each(['train', 'test'] as const)('embedded subset, %s split', (split) => {
  let subset: ImageDataset;
  let full: ImageDataset;
  beforeAll(async () => {
    subset = await loadFashionMnist({ split, source: 'subset' });
    requireFullSet();
    full = await loadFashionMnist({ split, source: 'full' });
  });

  it('loads with the expected shape and source', () => {
    const n = 10 * record.perClass[split];
    expect([subset.length, subset.channels, subset.height, subset.width]).toEqual([n, 1, 28, 28]);
    expect(subset.source).toBe('embedded subset');
    expect(subset.classes).toEqual(FASHION_MNIST_CLASSES);
  });

  it('is class-balanced', () => {
    const counts = new Array(10).fill(0);
    for (const l of subset.labels) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(record.perClass[split]));
  });

  it('holds the original images and labels at the recorded indices', () => {
    const indices = record[split];
    expect(indices.length).toBe(subset.length);
    const size = 28 * 28;
    const differ = indices.filter(
      (orig, i) =>
        subset.labels[i] !== full.labels[orig] ||
        Buffer.compare(subset.images.subarray(i * size, (i + 1) * size), full.images.subarray(orig * size, (orig + 1) * size)) !== 0,
    );
    expect(differ).toEqual([]);
  });

  it('the recorded indices are the seeded per-class draw the script makes', () => {
    expect(Array.from(perClassIndices(full.labels, record.perClass[split], record.seed))).toEqual(record[split]);
  });

  it("source 'auto' picks the installed full set", async () => {
    const auto = await loadFashionMnist({ split });
    expect(auto.source).toBe(DEBIAN_FASHION_MNIST_DIR);
    expect(auto.length).toBe(split === 'train' ? 60000 : 10000);
  });
});
