// The lab's training run, one step at a time, so the page can pause between steps and draw each
// loss as it comes. The same code runs in the page's worker and in Node (the e2e test computes
// the Node side with it): same seed, same model, same batches, same steps.
//
// Seeds: manualSeed(seed) before the model is built fixes its initial weights; the data loader
// draws its order from its own generator (seed), so the batches never depend on the weights.
import { argmax } from '../autograd/ops/reduce.js';
import { eq } from '../autograd/ops/elementwise.js';
import { noGrad } from '../autograd/graph.js';
import { manualSeed } from '../core/random.js';
import { tidy } from '../core/scope.js';
import type { Tensor } from '../core/tensor.js';
import { DataLoader, type ImageDataset } from '../data/index.js';
import type { Module } from '../nn/module.js';
import { crossEntropy } from '../nn/ops/loss.js';
import { SGD } from '../nn/optim/sgd.js';
import { buildModel, type NormKind } from '../train/models.js';
import { ValueError } from '../core/errors.js';

export type ModelName = 'cifarResNet8' | 'cifarResNet20' | 'cifarPlain8' | 'cifarPlain20';
export const MODEL_CHOICES: readonly { id: ModelName; label: string }[] = [
  { id: 'cifarResNet8', label: 'ResNet-8' },
  { id: 'cifarResNet20', label: 'ResNet-20' },
  { id: 'cifarPlain8', label: 'Plain-8 (ResNet-8 without shortcuts)' },
  { id: 'cifarPlain20', label: 'Plain-20 (ResNet-20 without shortcuts)' },
];

export interface TrainConfig {
  model: ModelName;
  norm: NormKind;
  /** Channels of the first stage (the stages have width, 2·width, 4·width). */
  width: number;
  /** Groups of each block's first 3×3 conv; must divide width. */
  groups: number;
  batch: number;
  lr: number;
  steps: number;
  seed: number;
}

export const DEFAULT_CONFIG: TrainConfig = { model: 'cifarResNet8', norm: 'bn', width: 8, groups: 1, batch: 32, lr: 0.05, steps: 60, seed: 0 };

/** Check a config from a form or a message; throws naming the field, the expected and the actual value. */
export function checkConfig(c: TrainConfig): TrainConfig {
  if (!MODEL_CHOICES.some((m) => m.id === c.model)) {
    throw new ValueError(`model must be one of ${MODEL_CHOICES.map((m) => m.id).join(', ')}, but got '${String(c.model)}'`);
  }
  if (!['bn', 'gn', 'ln', 'in'].includes(c.norm)) throw new ValueError(`norm must be bn, gn, ln or in, but got '${String(c.norm)}'`);
  const ints: [keyof TrainConfig, number, number][] = [['width', 1, 64], ['groups', 1, 64], ['batch', 1, 512], ['steps', 1, 100000], ['seed', 0, 2 ** 31 - 1]];
  for (const [k, lo, hi] of ints) {
    const v = c[k] as number;
    if (!Number.isInteger(v) || v < lo || v > hi) throw new ValueError(`${k} must be an integer from ${lo} to ${hi}, but got ${String(v)}`);
  }
  if (c.width % c.groups !== 0) throw new ValueError(`groups must divide width (${c.width}), but got ${c.groups}`);
  if (!(c.lr > 0 && c.lr <= 10)) throw new ValueError(`lr must be a number in (0, 10], but got ${String(c.lr)}`);
  return c;
}

export interface StepResult {
  step: number;
  loss: number;
  /** Fraction of this batch predicted right. */
  accuracy: number;
  images: number;
}

type Classifier = Module & { forward(x: Tensor): Tensor };

/** A training run: the model, its optimizer and the batches, stepped by step(). */
export class LabRun {
  readonly model: Classifier;
  private readonly optimizer: SGD;
  private readonly loader: DataLoader;
  private done = 0;

  constructor(
    readonly config: TrainConfig,
    train: ImageDataset,
    readonly device: 'cpu' | 'gpu' = 'cpu',
    /** Runs each step's synchronous kernel work (onCpuPath pins the path around it). */
    private readonly around: <T>(fn: () => T) => T = (fn) => fn(),
  ) {
    checkConfig(config);
    manualSeed(config.seed);
    this.model = buildModel({ model: config.model, norm: config.norm, groups: config.groups, width: config.width }, train.channels, train.classes.length);
    if (device === 'gpu') this.model.to('gpu');
    this.model.train();
    // fused: false keeps the update in tensor ops, so a pinned path (CPU JS) stays off WASM
    this.optimizer = new SGD(this.model.parameters(), { lr: config.lr, momentum: 0.9, fused: false });
    this.loader = new DataLoader(train, { batchSize: config.batch, shuffle: true, seed: config.seed, dropLast: true });
  }

  get stepsDone(): number {
    return this.done;
  }

  /** One SGD step on the next batch: forward, cross-entropy, backward, update. */
  async step(): Promise<StepResult> {
    const perEpoch = this.loader.numBatches;
    const { x, y } = this.loader.batchAt(Math.floor(this.done / perEpoch), this.done % perEpoch);
    const gpu = this.device === 'gpu';
    const { loss, correct } = this.around(() => tidy(() => {
      const xs = gpu ? x.to('gpu') : x;
      const ys = gpu ? y.to('gpu') : y;
      this.optimizer.zeroGrad();
      const logits = this.model.forward(xs);
      const l = crossEntropy(logits, ys);
      l.backward();
      this.optimizer.step();
      const c = noGrad(() => eq(argmax(logits, 1), ys).sum());
      return { loss: l.detach(), correct: c }; // returned tensors outlive the scope
    }));
    const lossValue = (await loss.data())[0] as number;
    const right = (await correct.data())[0] as number;
    if (gpu) for (const t of [loss, correct]) t.dispose();
    this.done++;
    return { step: this.done, loss: lossValue, accuracy: right / (x.shape[0] as number), images: x.shape[0] as number };
  }

  /** Predicted classes of `x` ([N, 1, 28, 28], normalised) in eval mode; the model returns to training after. */
  async predict(x: Tensor): Promise<number[]> {
    this.model.eval();
    try {
      const pred = this.around(() => tidy(() => noGrad(() => argmax(this.model.forward(this.device === 'gpu' ? x.to('gpu') : x), 1))));
      const out = Array.from(await pred.data(), Number);
      if (this.device === 'gpu') pred.dispose();
      return out;
    } finally {
      this.model.train();
    }
  }
}
