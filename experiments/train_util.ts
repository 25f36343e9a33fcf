// The small training kit the degradation, norms and transfer experiments share: an epoch of SGD
// that reports the running error the way the ResNet paper's curves do, evaluation in eval mode
// (running statistics) and in train mode (batch statistics, with the running statistics put back
// afterwards), the class-balanced data they train on, and a Vega-Lite line chart.
//
// Unlike train/loop.ts this writes nothing to disk and takes no checkpoints: an experiment trains
// many small models in one process and keeps only their numbers.
import '../core/cpu/index.js';
import '../autograd/tensor_methods.js';
import { ValueError } from '../core/errors.js';
import { tidy } from '../core/scope.js';
import { Tensor } from '../core/tensor.js';
import { noGrad } from '../autograd/graph.js';
import { eq } from '../autograd/ops/elementwise.js';
import { argmax, sum } from '../autograd/ops/reduce.js';
import { type ImageDataset, DataLoader, loadFashionMnist, takePerClass } from '../data/index.js';
import { setNumThreads } from '../kernels/wasm/runtime.js';
import type { Module } from '../nn/module.js';
import { crossEntropy } from '../nn/ops/loss.js';
import type { Optimizer } from '../nn/optim/optimizer.js';
import type { Scheduler } from '../nn/optim/lr_scheduler.js';
import type { Classifier } from '../train/loop.js';
import { trainMode } from '../train/models.js';
import type { ExperimentOptions } from './framework.js';

export type { Classifier };

/** What one pass over the training batches measured. */
export interface EpochStats {
  /** Mean cross-entropy over the epoch's batches, as the weights moved (train mode). */
  loss: number;
  /** 1 - accuracy over the same batches: the "training error" curve of He et al. (2016), Fig. 1. */
  error: number;
  steps: number;
  images: number;
  seconds: number;
}

export interface TrainEpochOptions {
  scheduler?: Scheduler | null;
  /** Modules kept in eval mode while the rest trains (a frozen backbone's BatchNorms). */
  frozen?: readonly Module[];
  /** Stop after this many batches (a budget in steps rather than epochs). */
  maxSteps?: number;
}

/** Apply --threads when given (the CLI does too; a direct caller may not have). */
export function applyThreads(opts: ExperimentOptions): void {
  if (opts.threads !== undefined) setNumThreads(opts.threads);
}

/** One step inside tidy(): forward, cross-entropy, backward, update; the loss and the hits come back. */
function step(model: Classifier, optimizer: Optimizer, x: Tensor, y: Tensor): { loss: number; correct: number } {
  const out = tidy(() => {
    optimizer.zeroGrad();
    const logits = model.forward(x);
    const loss = crossEntropy(logits, y);
    loss.backward();
    optimizer.step();
    return [loss.detach(), noGrad(() => sum(eq(argmax(logits, 1), y)))];
  });
  return { loss: Number(out[0]!.toArray()[0]), correct: Number(out[1]!.toArray()[0]) };
}

/** Epoch `epoch` of `loader` (its batches are a pure function of the loader's seed and the epoch). */
export function trainEpoch(model: Classifier, optimizer: Optimizer, loader: DataLoader, epoch: number, opts: TrainEpochOptions = {}): EpochStats {
  trainMode(model, opts.frozen ?? []);
  const steps = Math.min(loader.numBatches, opts.maxSteps ?? Number.POSITIVE_INFINITY);
  const t0 = performance.now();
  let lossSum = 0;
  let correct = 0;
  let images = 0;
  for (let b = 0; b < steps; b++) {
    const { x, y } = loader.batchAt(epoch, b);
    const r = step(model, optimizer, x, y);
    opts.scheduler?.step();
    const n = y.shape[0] as number;
    lossSum += r.loss * n;
    correct += r.correct;
    images += n;
  }
  return { loss: images ? lossSum / images : Number.NaN, error: images ? 1 - correct / images : Number.NaN, steps, images, seconds: (performance.now() - t0) / 1000 };
}

/** Error and mean loss of `model` over `loader`'s batches (epoch 0's order), in the mode the model is in. */
function measure(model: Classifier, loader: DataLoader): { loss: number; error: number } {
  let lossSum = 0;
  let correct = 0;
  let n = 0;
  for (let b = 0; b < loader.numBatches; b++) {
    const { x, y } = loader.batchAt(0, b);
    const out = tidy(() =>
      noGrad(() => {
        const logits = model.forward(x);
        return [crossEntropy(logits, y, { reduction: 'sum' }), sum(eq(argmax(logits, 1), y))];
      }),
    );
    lossSum += Number(out[0]!.toArray()[0]);
    correct += Number(out[1]!.toArray()[0]);
    n += y.shape[0] as number;
  }
  return { loss: lossSum / n, error: 1 - correct / n };
}

/** Test-time numbers in eval mode: BatchNorm uses its running statistics. */
export function evalError(model: Classifier, loader: DataLoader): { loss: number; error: number } {
  model.eval();
  return measure(model, loader);
}

/**
 * The same in train mode: every BatchNorm normalises with the statistics of the batch in front of
 * it (as it did in training). A forward pass in train mode also moves the running statistics;
 * they are copied first and written back, so the model leaves exactly as it came.
 */
export function trainModeError(model: Classifier, loader: DataLoader): { loss: number; error: number } {
  const buffers = model.buffers();
  const saved = buffers.map((b) => Tensor.fromArray(b.toArray().slice(), b.shape));
  model.train();
  try {
    return measure(model, loader);
  } finally {
    noGrad(() => {
      buffers.forEach((b, i) => {
        b.assign(saved[i]!);
      });
    });
    model.eval();
  }
}

/** A loader over `ds` for training: shuffled by `seed`, the last short batch dropped (no batch of 1 reaches BatchNorm). */
export function trainLoader(ds: ImageDataset, batchSize: number, seed: number): DataLoader {
  if (batchSize > ds.length) throw new ValueError(`trainLoader: argument 'batchSize' must be at most the dataset size (${ds.length}), but got ${batchSize}`);
  return new DataLoader(ds, { batchSize, shuffle: true, seed, dropLast: true });
}

/** A loader for evaluation: fixed order, every image. */
export const evalLoader = (ds: ImageDataset, batchSize = 100) => new DataLoader(ds, { batchSize: Math.min(batchSize, ds.length) });

/** A split of Fashion-MNIST ('subset': the embedded 500 + 100 per class; 'full': 6000 + 1000), optionally `perClass` images of each class. */
export async function fashion(split: 'train' | 'test', source: 'subset' | 'full', perClass: number | null, seed: number): Promise<ImageDataset> {
  const ds = await loadFashionMnist({ split, source });
  return perClass === null ? ds : takePerClass(ds, perClass, seed);
}

/** Where `ds` came from and how big it is, for a report. */
export const describeData = (ds: ImageDataset) => `${ds.length} images (${ds.classes.length} classes) from ${ds.source}`;

export interface LineChart {
  title: string;
  values: Record<string, string | number>[];
  x: { field: string; title: string; log?: boolean; ordinal?: boolean };
  y: { field: string; title: string; percent?: boolean };
  color: { field: string; title: string; sort?: string[] };
  dash?: { field: string; title: string; sort?: string[] };
}

/** A Vega-Lite spec: one line (with points) per colour, optionally dashed by a second field. */
export function lineChart(c: LineChart): object {
  const xScale = c.x.log ? { type: 'log', base: 2 } : { zero: false };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: c.title,
    width: 480,
    height: 280,
    data: { values: c.values },
    mark: { type: 'line', point: true },
    encoding: {
      x: c.x.ordinal
        ? { field: c.x.field, type: 'ordinal', title: c.x.title }
        : { field: c.x.field, type: 'quantitative', title: c.x.title, scale: xScale, axis: c.x.log ? { values: [...new Set(c.values.map((v) => v[c.x.field]))] } : {} },
      y: { field: c.y.field, type: 'quantitative', title: c.y.title, scale: { zero: false }, axis: c.y.percent ? { format: '.0%' } : {} },
      color: { field: c.color.field, type: 'nominal', title: c.color.title, ...(c.color.sort ? { sort: c.color.sort } : {}) },
      ...(c.dash ? { strokeDash: { field: c.dash.field, type: 'nominal', title: c.dash.title, ...(c.dash.sort ? { sort: c.dash.sort } : {}) } } : {}),
    },
  };
}

/** '1 epoch', '3 epochs'. */
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
