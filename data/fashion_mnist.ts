// Fashion-MNIST (Zalando Research, MIT licence): 28x28 grayscale photos of clothes in 10 classes,
// 60,000 for training and 10,000 for testing, as four gzipped IDX files.
//
// Where the files come from, in order of preference (source 'auto'):
//  - `dir` when given (any copy: the original downloads, torchvision's raw/ folder, ...);
//  - Debian's package dataset-fashion-mnist, in /usr/share/datasets/fashion-mnist;
//  - the embedded subset beside this module (data/fashion-mnist-subset: 500 training and 100 test
//    images per class), which needs no install and loads in a browser too (by fetch).
import type * as NodeFs from 'node:fs';
import { ValueError } from '../core/errors.js';
import { Generator } from '../core/random.js';
import { DataError, gunzip, isGzip, parseIdx } from './idx.js';

export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
]);

/** Where Debian's dataset-fashion-mnist puts the files. */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
/** The embedded subset's folder (a file: URL in Node, an http(s) URL in a page). */
export const FASHION_SUBSET_URL = new URL('./fashion-mnist-subset/', import.meta.url);

export interface ImageDataset {
  /** length * channels * height * width bytes, row-major, 0..255. */
  readonly images: Uint8Array;
  /** One class index per image. */
  readonly labels: Uint8Array;
  readonly length: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly classes: readonly string[];
  /** Where it came from: a folder, or 'embedded subset'. */
  readonly source: string;
}

/** auto: the full set if installed (or `dir` given), else the embedded subset. */
export type FashionSource = 'auto' | 'full' | 'subset';
export type Split = 'train' | 'test';

export interface LoadFashionOptions {
  split: Split;
  source?: FashionSource;
  /** A folder (Node) or base URL (browser) holding the four files, gzipped or not. */
  dir?: string;
}

/** How to get the files, after `lead` ("Get them", "Get a good copy"). */
function howToGet(lead: string): string {
  return (
    `${lead} with 'apt-get install dataset-fashion-mnist' (Debian; it puts them in ${DEBIAN_FASHION_MNIST_DIR}), ` +
    'or download them from https://github.com/zalandoresearch/fashion-mnist and pass their folder as dir (resgrad train --data DIR), ' +
    "or use the embedded subset (source: 'subset', resgrad train --source subset; 500 training and 100 test images per class)."
  );
}

/** The file names of a split, without the .gz suffix. */
export function fashionFileNames(split: Split): { images: string; labels: string } {
  const prefix = split === 'train' ? 'train' : 't10k';
  return { images: `${prefix}-images-idx3-ubyte`, labels: `${prefix}-labels-idx1-ubyte` };
}

/** Load one split of Fashion-MNIST, decoded once into bytes (see the top of this file for where from). */
export async function loadFashionMnist(opts: LoadFashionOptions): Promise<ImageDataset> {
  const op = 'loadFashionMnist';
  if (opts === null || typeof opts !== 'object') throw new ValueError(`${op}: expected an options object { split, source?, dir? }, but got ${String(opts)}`);
  const { split, source = 'auto', dir } = opts;
  if (split !== 'train' && split !== 'test') {
    throw new ValueError(`${op}: argument 'split' must be 'train' or 'test', but got ${JSON.stringify(split)}`);
  }
  if (source !== 'auto' && source !== 'full' && source !== 'subset') {
    throw new ValueError(`${op}: argument 'source' must be 'auto', 'full' or 'subset', but got ${JSON.stringify(source)}`);
  }
  if (dir !== undefined && (typeof dir !== 'string' || dir === '')) {
    throw new ValueError(`${op}: argument 'dir' must be a non-empty string (a folder), but got ${JSON.stringify(dir)}`);
  }
  if (source === 'subset' && dir !== undefined) {
    throw new ValueError(`${op}: argument 'dir' is for source 'full' or 'auto', but source is 'subset' (the subset is embedded)`);
  }
  const names = fashionFileNames(split);
  // auto takes the full set only when both splits are there, so train and test never mix sources
  if (source === 'subset' || (source === 'auto' && dir === undefined && !hasFullSet(DEBIAN_FASHION_MNIST_DIR))) {
    const images = await readLocation(new URL(`${names.images}.gz`, FASHION_SUBSET_URL));
    const labels = await readLocation(new URL(`${names.labels}.gz`, FASHION_SUBSET_URL));
    if (!images || !labels) {
      throw new DataError(`${op}: the embedded subset is missing from ${FASHION_SUBSET_URL.href} (a build that did not copy data/fashion-mnist-subset?)`);
    }
    return decodePair(images, labels, `embedded subset: ${names.images}.gz`, `embedded subset: ${names.labels}.gz`, 'embedded subset');
  }
  const folder = dir ?? DEBIAN_FASHION_MNIST_DIR;
  const images = await readEither(folder, names.images);
  const labels = await readEither(folder, names.labels);
  const missing = [images ? null : names.images, labels ? null : names.labels].filter((n) => n !== null).map((n) => `${n}.gz`);
  if (missing.length > 0) {
    throw new DataError(`${op}: Fashion-MNIST ${split} files not found in ${folder}: ${missing.join(', ')} (nor uncompressed). ${howToGet('Get them')}`);
  }
  return decodePair(images!.bytes, labels!.bytes, images!.where, labels!.where, folder);
}

/** Gunzip (when gzipped) and parse; errors name the file and say how to get a good copy. */
async function decodePair(images: Uint8Array, labels: Uint8Array, imagesWhere: string, labelsWhere: string, source: string): Promise<ImageDataset> {
  try {
    const img = isGzip(images) || imagesWhere.endsWith('.gz') ? await gunzip(images, imagesWhere) : images;
    const lab = isGzip(labels) || labelsWhere.endsWith('.gz') ? await gunzip(labels, labelsWhere) : labels;
    return pairToDataset(img, lab, imagesWhere, labelsWhere, source);
  } catch (e) {
    if (e instanceof DataError && source !== 'embedded subset') throw new DataError(`${e.message}. ${howToGet('Get a good copy')}`);
    throw e;
  }
}

/**
 * A dataset from the two IDX files of a split, already gunzipped (a page passes fetched bytes
 * through DecompressionStream, or gunzip() from this module). `name` appears in errors and as
 * the dataset's source.
 */
export function parseIdxPair(images: Uint8Array, labels: Uint8Array, name: string): ImageDataset {
  if (!(images instanceof Uint8Array)) throw new ValueError(`parseIdxPair: argument 'images' must be a Uint8Array, but got ${typeName(images)}`);
  if (!(labels instanceof Uint8Array)) throw new ValueError(`parseIdxPair: argument 'labels' must be a Uint8Array, but got ${typeName(labels)}`);
  return pairToDataset(images, labels, `${name}: images`, `${name}: labels`, name);
}

function pairToDataset(imageBytes: Uint8Array, labelBytes: Uint8Array, imagesWhat: string, labelsWhat: string, source: string): ImageDataset {
  const images = parseIdx(imageBytes, 3, imagesWhat);
  const labels = parseIdx(labelBytes, 1, labelsWhat);
  const [n, height, width] = images.dims as [number, number, number];
  if (labels.dims[0] !== n) {
    throw new DataError(`${imagesWhat} holds ${n} images but ${labelsWhat} holds ${labels.dims[0]} labels; the two files must come from the same split`);
  }
  const numClasses = FASHION_MNIST_CLASSES.length;
  for (let i = 0; i < n; i++) {
    if (labels.data[i]! >= numClasses) {
      throw new DataError(`${labelsWhat}: label ${labels.data[i]} at index ${i} is out of range for ${numClasses} classes (expected 0..${numClasses - 1})`);
    }
  }
  return { images: images.data, labels: labels.data, length: n, channels: 1, height, width, classes: FASHION_MNIST_CLASSES, source };
}

/**
 * The images of the given classes only. With relabel (the default) their labels become positions
 * in `classes` (so a 3-class subset has labels 0..2 and `classes` names those three); without,
 * labels and class names stay as they were.
 */
export function selectClasses(ds: ImageDataset, classes: number[], relabel = true): ImageDataset {
  const op = 'selectClasses';
  checkDataset(ds, op);
  if (!Array.isArray(classes) || classes.length === 0) {
    throw new ValueError(`${op}: argument 'classes' must be a non-empty array of class indices, but got ${JSON.stringify(classes)}`);
  }
  const map = new Int16Array(256).fill(-1);
  classes.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 0 || c >= ds.classes.length) {
      throw new ValueError(`${op}: argument 'classes' must hold integers in [0, ${ds.classes.length - 1}], but got ${c} at position ${i}`);
    }
    if (map[c] !== -1) throw new ValueError(`${op}: argument 'classes' lists class ${c} twice`);
    map[c] = relabel ? i : c;
  });
  const keep: number[] = [];
  for (let i = 0; i < ds.length; i++) if (map[ds.labels[i]!] !== -1) keep.push(i);
  const names = relabel ? classes.map((c) => ds.classes[c]!) : ds.classes;
  return gather(ds, keep, (label) => map[label]!, names);
}

/**
 * A class-balanced sample: `perClass` images of every class present, chosen by the seeded
 * generator (not the global one) and kept in their original order.
 */
export function takePerClass(ds: ImageDataset, perClass: number, seed: number): ImageDataset {
  checkDataset(ds, 'takePerClass');
  const indices = perClassIndices(ds.labels.subarray(0, ds.length), perClass, seed);
  return gather(ds, Array.from(indices), (label) => label, ds.classes);
}

/**
 * The indices takePerClass keeps, ascending: for each label present (ascending), a seeded
 * Fisher-Yates shuffle of its indices, of which the first `perClass` are kept.
 */
export function perClassIndices(labels: Uint8Array, perClass: number, seed: number): Int32Array {
  const op = 'takePerClass';
  if (!Number.isInteger(perClass) || perClass <= 0) {
    throw new ValueError(`${op}: argument 'perClass' must be a positive integer, but got ${perClass}`);
  }
  if (!Number.isSafeInteger(seed)) throw new ValueError(`${op}: argument 'seed' must be an integer, but got ${seed}`);
  const byClass = new Map<number, number[]>();
  labels.forEach((label, i) => {
    const list = byClass.get(label);
    if (list) list.push(i);
    else byClass.set(label, [i]);
  });
  const gen = new Generator(seed);
  const kept: number[] = [];
  for (const label of [...byClass.keys()].sort((a, b) => a - b)) {
    const list = byClass.get(label)!;
    if (list.length < perClass) {
      throw new ValueError(`${op}: class ${label} has only ${list.length} images, fewer than perClass = ${perClass}`);
    }
    // Fisher-Yates, but only the first perClass positions are needed
    for (let i = 0; i < perClass; i++) {
      const j = gen.integer(i, list.length);
      [list[i], list[j]] = [list[j]!, list[i]!];
    }
    kept.push(...list.slice(0, perClass));
  }
  return Int32Array.from(kept.sort((a, b) => a - b));
}

/** The images at `indices` (copied), labels mapped through `relabel`. */
function gather(ds: ImageDataset, indices: number[], relabel: (label: number) => number, classes: readonly string[]): ImageDataset {
  const size = ds.channels * ds.height * ds.width;
  const images = new Uint8Array(indices.length * size);
  const labels = new Uint8Array(indices.length);
  indices.forEach((src, dst) => {
    images.set(ds.images.subarray(src * size, (src + 1) * size), dst * size);
    labels[dst] = relabel(ds.labels[src]!);
  });
  return { ...ds, images, labels, length: indices.length, classes };
}

/** Checks that a dataset's arrays agree with its sizes (a hand-built one may not). */
export function checkDataset(ds: ImageDataset, op: string): void {
  if (ds === null || typeof ds !== 'object' || !(ds.images instanceof Uint8Array) || !(ds.labels instanceof Uint8Array)) {
    throw new ValueError(`${op}: argument 'ds' must be an ImageDataset (images and labels as Uint8Array), but got ${typeName(ds)}`);
  }
  for (const key of ['length', 'channels', 'height', 'width'] as const) {
    if (!Number.isInteger(ds[key]) || ds[key] < 0) throw new ValueError(`${op}: dataset ${key} must be a non-negative integer, but got ${ds[key]}`);
  }
  const size = ds.length * ds.channels * ds.height * ds.width;
  if (ds.images.length !== size) {
    throw new ValueError(
      `${op}: dataset images hold ${ds.images.length} bytes, but length * channels * height * width = ${ds.length} * ${ds.channels} * ${ds.height} * ${ds.width} = ${size}`,
    );
  }
  if (ds.labels.length !== ds.length) throw new ValueError(`${op}: dataset labels hold ${ds.labels.length} entries, but its length is ${ds.length}`);
}

// ---- reading files in Node (fs) or a page (fetch) ----

/** Are the four files (gzipped or not) in `folder`? Never in a page (no Debian folder there). */
function hasFullSet(folder: string): boolean {
  const fs = nodeFs();
  if (!fs) return false;
  const names = [fashionFileNames('train'), fashionFileNames('test')].flatMap((n) => [n.images, n.labels]);
  return names.every((n) => fs.existsSync(`${folder}/${n}.gz`) || fs.existsSync(`${folder}/${n}`));
}

/** `name.gz` in `folder`, else `name` uncompressed; null when neither is there. */
async function readEither(folder: string, name: string): Promise<{ bytes: Uint8Array; where: string } | null> {
  const base = folder.endsWith('/') ? folder : `${folder}/`;
  for (const file of [`${name}.gz`, name]) {
    const where = `${base}${file}`;
    const bytes = await readLocation(where);
    if (bytes) return { bytes, where };
  }
  return null;
}

/** The bytes at a path or URL, or null when there is nothing there. */
async function readLocation(where: string | URL): Promise<Uint8Array | null> {
  const fs = nodeFs();
  if (fs && (typeof where === 'string' || where.protocol === 'file:')) {
    try {
      const b = await fs.promises.readFile(where);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return null;
      throw new DataError(`cannot read ${String(where)}: ${(e as Error).message}`);
    }
  }
  const res = await fetch(where);
  if (res.status === 404) return null;
  if (!res.ok) throw new DataError(`cannot fetch ${String(where)}: HTTP ${res.status} ${res.statusText}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** node:fs without a static import (so browser bundles build); null outside Node. */
function nodeFs(): typeof NodeFs | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return (proc?.getBuiltinModule?.('node:fs') as typeof NodeFs | undefined) ?? null;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}
