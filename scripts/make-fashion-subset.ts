// Makes the embedded Fashion-MNIST subset (data/fashion-mnist-subset/) from the full set:
// 500 training and 100 test images per class, chosen by takePerClass's seeded draw, kept in
// their original order, written as gzipped IDX files with the same names as the originals, plus
// indices.json (which original images it holds). Deterministic: the same files every run.
//
//   npx tsx scripts/make-fashion-subset.ts [--data DIR] [--out DIR]
//
// DIR defaults to Debian's /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist).
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import {
  DEBIAN_FASHION_MNIST_DIR,
  type Split,
  encodeIdx,
  fashionFileNames,
  loadFashionMnist,
  perClassIndices,
} from '../data/index.js';

const SEED = 0;
const PER_CLASS: Record<Split, number> = { train: 500, test: 100 };

/** Write via a temp file in the same folder, fsync, rename: never a half-written file. */
function writeAtomic(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { data: { type: 'string' }, out: { type: 'string' } } });
  const dir = values.data ?? DEBIAN_FASHION_MNIST_DIR;
  const out = values.out ?? join(import.meta.dirname, '..', 'data', 'fashion-mnist-subset');
  mkdirSync(out, { recursive: true });
  const record: Record<string, unknown> = { seed: SEED, perClass: PER_CLASS, from: dir };
  for (const split of ['train', 'test'] as const) {
    const ds = await loadFashionMnist({ split, source: 'full', dir });
    const indices = perClassIndices(ds.labels, PER_CLASS[split], SEED);
    const size = ds.height * ds.width;
    const images = new Uint8Array(indices.length * size);
    const labels = new Uint8Array(indices.length);
    indices.forEach((src, dst) => {
      images.set(ds.images.subarray(src * size, (src + 1) * size), dst * size);
      labels[dst] = ds.labels[src]!;
    });
    const names = fashionFileNames(split);
    const files: [string, Uint8Array][] = [
      [`${names.images}.gz`, encodeIdx(images, [indices.length, ds.height, ds.width])],
      [`${names.labels}.gz`, encodeIdx(labels, [indices.length])],
    ];
    for (const [name, raw] of files) {
      // zlib's gzip header has no name and mtime 0, so the bytes depend only on the content
      const gz = gzipSync(raw, { level: 9 });
      writeAtomic(join(out, name), gz);
      console.log(`${name}: ${gz.length} bytes, sha256 ${createHash('sha256').update(gz).digest('hex')}`);
    }
    record[split] = Array.from(indices);
  }
  const json = `{\n${Object.entries(record)
    .map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`)
    .join(',\n')}\n}\n`;
  writeAtomic(join(out, 'indices.json'), new TextEncoder().encode(json));
  console.log(`wrote ${out}`);
}

await main();
