// DataLoader: batches of normalised (and optionally augmented) images from an ImageDataset.
//
// Determinism is the point. Everything random is a pure function of the loader's seed:
//   the order of epoch e      = a Fisher-Yates shuffle drawn from Generator(hash(seed, ORDER, e));
//   the augmentation of image i in epoch e = draws from Generator(hash(seed, AUGMENT, e, i)).
// So batch b of epoch e is the same whenever and however it is asked for (a run resumed from a
// checkpoint at any batch reproduces the uninterrupted run bit for bit), the augmentation of an
// image does not depend on the batch size, and the global generator (which initialises and
// drops out the model) is never touched.
//
// Pixels go through a 256-entry table: x = (v/255 - mean)/std, each step rounded to float32 as
// torchvision's ToTensor() then Normalize() compute it. Augmentation is torchvision's
// RandomCrop(H, padding=p) (zero pixels around, then a crop at a uniform offset in [0, 2p]^2)
// followed by RandomHorizontalFlip(0.5); padding is a black pixel, so it normalises to -mean/std.
import { ValueError } from '../core/errors.js';
import { Generator } from '../core/random.js';
import { Tensor } from '../core/tensor.js';
import { type ImageDataset, checkDataset } from './fashion_mnist.js';

/** Fashion-MNIST training-set pixel mean and standard deviation (of v/255). */
export const FASHION_MNIST_MEAN = 0.286;
export const FASHION_MNIST_STD = 0.353;

export interface AugmentOptions {
  /** Random crop back to the image size after this many zero pixels on every side (0: none). */
  cropPadding?: number;
  /** Mirror left-right with probability 1/2. */
  hflip?: boolean;
}

export interface LoaderOptions {
  batchSize: number;
  /** A new order each epoch (default false, as torch's DataLoader). */
  shuffle?: boolean;
  /** Seeds the order and the augmentation (default 0). */
  seed?: number;
  /** Drop the last batch when it would be smaller than batchSize (default false). */
  dropLast?: boolean;
  /** x = (v/255 - mean)/std; defaults are Fashion-MNIST's 0.2860 / 0.3530. */
  mean?: number;
  std?: number;
  augment?: AugmentOptions;
}

/** Where a loader stands: the next batch it yields is batch `batch` of epoch `epoch`. */
export interface LoaderState {
  epoch: number;
  batch: number;
  seed: number;
}

export interface Batch {
  /** [B, C, H, W] float32, normalised. */
  x: Tensor;
  /** [B] int32 class indices. */
  y: Tensor;
  /** The dataset index of each image in the batch. */
  indices: Int32Array;
  epoch: number;
  batch: number;
}

/** The random choices for one image: crop offset into the padded image, and the flip. */
export interface Augmentation {
  top: number;
  left: number;
  flip: boolean;
}

const LOADER_KEYS = ['batchSize', 'shuffle', 'seed', 'dropLast', 'mean', 'std', 'augment'];
const AUGMENT_KEYS = ['cropPadding', 'hflip'];
// stream tags keep the order and the augmentation draws independent of each other
const ORDER_STREAM = 0x6f726472;
const AUGMENT_STREAM = 0x61756720;

export class DataLoader {
  readonly dataset: ImageDataset;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly mean: number;
  readonly std: number;
  readonly cropPadding: number;
  readonly hflip: boolean;
  /** Batches per epoch: the last partial batch counts unless dropLast. */
  readonly numBatches: number;
  private seed: number;
  private epoch = 0;
  private batch = 0;
  /** Normalised value of each byte 0..255. */
  private readonly table: Float32Array;
  private readonly augGen = new Generator(0);
  private cachedOrder: { epoch: number; seed: number; order: Int32Array } | null = null;

  constructor(ds: ImageDataset, opts: LoaderOptions) {
    const op = 'DataLoader';
    checkDataset(ds, op);
    if (opts === null || typeof opts !== 'object') throw new ValueError(`${op}: expected an options object { batchSize, ... }, but got ${String(opts)}`);
    checkKeys(opts, LOADER_KEYS, `${op}: options`);
    const { batchSize, shuffle = false, seed = 0, dropLast = false, mean = FASHION_MNIST_MEAN, std = FASHION_MNIST_STD, augment = {} } = opts;
    if (!Number.isInteger(batchSize) || batchSize <= 0) {
      throw new ValueError(`${op}: argument 'batchSize' must be a positive integer, but got ${batchSize}`);
    }
    checkBoolean(shuffle, 'shuffle');
    checkBoolean(dropLast, 'dropLast');
    checkSeed(seed, op);
    if (typeof mean !== 'number' || !Number.isFinite(mean)) throw new ValueError(`${op}: argument 'mean' must be a finite number, but got ${mean}`);
    if (typeof std !== 'number' || !Number.isFinite(std) || std <= 0) {
      throw new ValueError(`${op}: argument 'std' must be a finite number > 0, but got ${std}`);
    }
    if (augment === null || typeof augment !== 'object') throw new ValueError(`${op}: argument 'augment' must be an object { cropPadding?, hflip? }, but got ${String(augment)}`);
    checkKeys(augment, AUGMENT_KEYS, `${op}: augment`);
    const { cropPadding = 0, hflip = false } = augment;
    if (!Number.isInteger(cropPadding) || cropPadding < 0) {
      throw new ValueError(`${op}: argument 'augment.cropPadding' must be a non-negative integer, but got ${cropPadding}`);
    }
    checkBoolean(hflip, 'augment.hflip');
    if (dropLast && batchSize > ds.length) {
      throw new ValueError(`${op}: batchSize ${batchSize} is larger than the dataset (${ds.length} images) and dropLast is set, so there would be no batch`);
    }
    this.dataset = ds;
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.dropLast = dropLast;
    this.seed = seed;
    this.mean = mean;
    this.std = std;
    this.cropPadding = cropPadding;
    this.hflip = hflip;
    this.numBatches = dropLast ? Math.floor(ds.length / batchSize) : Math.ceil(ds.length / batchSize);
    this.table = normalisationTable(mean, std);
  }

  /** Start epoch `epoch` from its first batch (its order depends only on the seed and `epoch`). */
  setEpoch(epoch: number): void {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new ValueError(`DataLoader.setEpoch: argument 'epoch' must be a non-negative integer, but got ${epoch}`);
    this.epoch = epoch;
    this.batch = 0;
  }

  /**
   * The rest of the current epoch, from the current batch; each batch yielded moves the state
   * past it. An iteration that starts where an epoch ended begins the next epoch, so plain
   * `for (const b of loader)` loops see a new order each time, as with torch's DataLoader.
   */
  *[Symbol.iterator](): Iterator<Batch> {
    if (this.numBatches > 0 && this.batch >= this.numBatches) this.setEpoch(this.epoch + 1);
    while (this.batch < this.numBatches) {
      const b = this.batchAt(this.epoch, this.batch);
      this.batch++;
      yield b;
    }
  }

  state(): LoaderState {
    return { epoch: this.epoch, batch: this.batch, seed: this.seed };
  }

  /** Continue exactly where state() was taken (on a loader over the same data and options). */
  loadState(s: LoaderState): void {
    const op = 'DataLoader.loadState';
    if (s === null || typeof s !== 'object') throw new ValueError(`${op}: expected { epoch, batch, seed }, but got ${String(s)}`);
    if (!Number.isSafeInteger(s.epoch) || s.epoch < 0) throw new ValueError(`${op}: 'epoch' must be a non-negative integer, but got ${s.epoch}`);
    if (!Number.isSafeInteger(s.batch) || s.batch < 0 || s.batch > this.numBatches) {
      throw new ValueError(`${op}: 'batch' must be an integer in [0, ${this.numBatches}] (numBatches of this loader), but got ${s.batch}`);
    }
    checkSeed(s.seed, op);
    this.epoch = s.epoch;
    this.batch = s.batch;
    this.seed = s.seed;
  }

  /** The dataset indices in the order epoch `epoch` visits them (identity without shuffle). */
  epochOrder(epoch: number): Int32Array {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new ValueError(`DataLoader.epochOrder: argument 'epoch' must be a non-negative integer, but got ${epoch}`);
    return this.order(epoch).slice();
  }

  /** The order of an epoch, computed once and kept while the epoch is asked for. */
  private order(epoch: number): Int32Array {
    const cached = this.cachedOrder;
    if (cached && cached.epoch === epoch && cached.seed === this.seed) return cached.order;
    const n = this.dataset.length;
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    if (this.shuffle) {
      const gen = new Generator(streamSeed(this.seed, ORDER_STREAM, epoch, 0));
      for (let i = n - 1; i > 0; i--) {
        const j = gen.integer(0, i + 1);
        const t = order[i]!;
        order[i] = order[j]!;
        order[j] = t;
      }
    }
    this.cachedOrder = { epoch, seed: this.seed, order };
    return order;
  }

  /** The crop offset (into the padded image) and flip of dataset image `index` in epoch `epoch`. */
  augmentation(index: number, epoch: number): Augmentation {
    const p = this.cropPadding;
    if (p === 0 && !this.hflip) return { top: 0, left: 0, flip: false };
    const gen = this.augGen.manualSeed(streamSeed(this.seed, AUGMENT_STREAM, epoch, index));
    const top = p > 0 ? gen.integer(0, 2 * p + 1) : 0;
    const left = p > 0 ? gen.integer(0, 2 * p + 1) : 0;
    const flip = this.hflip ? gen.uniform() < 0.5 : false;
    return { top, left, flip };
  }

  /** Batch `batch` of epoch `epoch`, a pure function of (seed, epoch, batch); the state is not moved. */
  batchAt(epoch: number, batch: number): Batch {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new ValueError(`DataLoader.batchAt: argument 'epoch' must be a non-negative integer, but got ${epoch}`);
    if (!Number.isInteger(batch) || batch < 0 || batch >= this.numBatches) {
      throw new ValueError(`DataLoader.batchAt: argument 'batch' must be an integer in [0, ${this.numBatches - 1}], but got ${batch}`);
    }
    const { channels: c, height: h, width: w } = this.dataset;
    const start = batch * this.batchSize;
    const count = Math.min(this.batchSize, this.dataset.length - start);
    const indices = this.order(epoch).slice(start, start + count);
    const size = c * h * w;
    const x = new Float32Array(count * size);
    const y = new Int32Array(count);
    for (let k = 0; k < count; k++) {
      const index = indices[k]!;
      y[k] = this.dataset.labels[index]!;
      this.writeImage(index, this.augmentation(index, epoch), x, k * size);
    }
    return { x: Tensor.fromArray(x, [count, c, h, w]), y: Tensor.fromArray(y, [count]), indices, epoch, batch };
  }

  /** Normalise image `index`, cropped and flipped as `aug` says, into out[at, at + C*H*W). */
  private writeImage(index: number, aug: Augmentation, out: Float32Array, at: number): void {
    const { channels, height: h, width: w } = this.dataset;
    const src = this.dataset.images;
    const table = this.table;
    const size = channels * h * w;
    const first = index * size;
    const p = this.cropPadding;
    if (p === 0 && !aug.flip) {
      for (let i = 0; i < size; i++) out[at + i] = table[src[first + i]!]!;
      return;
    }
    // out(y, x) = image(y + dy, x' + dx), x' = x (or w-1-x when flipped); a zero pixel outside.
    // The x for which the source column is inside: [x0, x1).
    const dy = aug.top - p;
    const dx = aug.left - p;
    const x0 = Math.max(0, aug.flip ? dx : -dx);
    const x1 = Math.min(w, aug.flip ? w + dx : w - dx);
    const pad = table[0]!;
    for (let c = 0; c < channels; c++) {
      const plane = first + c * h * w;
      for (let y = 0; y < h; y++) {
        const row = at + (c * h + y) * w;
        const sy = y + dy;
        if (sy < 0 || sy >= h || x0 >= x1) {
          out.fill(pad, row, row + w);
          continue;
        }
        out.fill(pad, row, row + x0);
        out.fill(pad, row + x1, row + w);
        const srcRow = plane + sy * w;
        if (aug.flip) {
          const base = srcRow + w - 1 + dx; // source of x is base - x
          for (let x = x0; x < x1; x++) out[row + x] = table[src[base - x]!]!;
        } else {
          const base = srcRow + dx;
          for (let x = x0; x < x1; x++) out[row + x] = table[src[base + x]!]!;
        }
      }
    }
  }
}

/** (v/255 - mean)/std for v = 0..255, rounded to float32 after each step as torch does. */
export function normalisationTable(mean: number, std: number): Float32Array {
  const f = Math.fround;
  const m = f(mean);
  const s = f(std);
  const table = new Float32Array(256);
  for (let v = 0; v < 256; v++) table[v] = f(f(v / 255) - m) / s;
  return table;
}

/**
 * A 32-bit seed for one random stream: the words (seed, stream, a, b) folded through a bijective
 * integer mix (lowbias32), so nearby epochs and indices get unrelated generators.
 */
export function streamSeed(seed: number, stream: number, a: number, b: number): number {
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 4294967296) >>> 0;
  let h = mix32(lo ^ 0x9e3779b9);
  h = mix32((h + 0x9e3779b9) ^ hi);
  h = mix32((h + 0x9e3779b9) ^ stream);
  h = mix32((h + 0x9e3779b9) ^ (a >>> 0));
  h = mix32((h + 0x9e3779b9) ^ Math.floor(a / 4294967296));
  return mix32((h + 0x9e3779b9) ^ (b >>> 0));
}

function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

function checkSeed(seed: unknown, op: string): void {
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) {
    throw new ValueError(`${op}: argument 'seed' must be a non-negative integer, but got ${String(seed)}`);
  }
}

function checkBoolean(v: unknown, name: string): void {
  if (typeof v !== 'boolean') throw new ValueError(`DataLoader: argument '${name}' must be a boolean, but got ${String(v)}`);
}

function checkKeys(obj: object, allowed: string[], where: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw new ValueError(`${where}: unknown option '${key}' (expected one of ${allowed.join(', ')})`);
  }
}
