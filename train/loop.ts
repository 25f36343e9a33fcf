// The training loop: for each epoch, each batch goes forward, backward and through the optimizer
// inside tidy() (so the step's tensors live in WASM memory and are freed at the scope's end); the
// scheduler steps after every batch; the model is evaluated on the test set in eval mode under
// noGrad; metrics.jsonl and the curves are rewritten; a checkpoint is taken.
//
// Everything the loop needs to continue is in LoopState, which goes into the checkpoint: where it
// stands (epoch, batch, step), the running sums of the epoch so far, the metrics so far and the
// last confusion matrix. Together with the weights, the optimizer and scheduler state and the RNG
// (saved by the checkpoint), a run resumed from any checkpoint takes the same steps as one that
// never stopped: the data loader's batches are pure functions of (seed, epoch, batch).
import { join } from 'node:path';
import { tidy } from '../core/scope.js';
import type { Tensor } from '../core/tensor.js';
import { noGrad } from '../autograd/graph.js';
import { eq } from '../autograd/ops/elementwise.js';
import { argmax, sum } from '../autograd/ops/reduce.js';
import type { DataLoader } from '../data/index.js';
import type { Module } from '../nn/module.js';
import { crossEntropy } from '../nn/ops/loss.js';
import type { Optimizer } from '../nn/optim/optimizer.js';
import type { Scheduler } from '../nn/optim/lr_scheduler.js';
import { ConfusionMatrix, type EpochRecord, type MetricsRecord, type RunningSums, type StepRecord, emptySums } from './metrics.js';
import { trainMode } from './models.js';
import { curvesSvg } from './plot.js';
import type { Reporter } from './progress.js';
import { writeFileAtomic, writeJsonLinesAtomic } from './run_folder.js';

export type Classifier = Module & { forward(x: Tensor): Tensor };

/** Where a run stands; saved in each checkpoint's `extra.loop`. */
export interface LoopState {
  /** The epoch in progress (== epochs when training is over). */
  epoch: number;
  /** Batches of `epoch` already done. */
  batch: number;
  /** Optimizer steps done in the whole run. */
  step: number;
  sums: RunningSums;
  records: MetricsRecord[];
  /** Seconds spent by earlier parts of a resumed run. */
  elapsedS: number;
  /** The last evaluation's confusion matrix. */
  confusion: { classes: string[]; matrix: number[][] } | null;
}

export const initialLoopState = (): LoopState => ({ epoch: 0, batch: 0, step: 0, sums: emptySums(), records: [], elapsedS: 0, confusion: null });

export interface LoopContext {
  model: Classifier;
  /** Modules kept in eval mode (--freeze). */
  frozen: readonly Module[];
  optimizer: Optimizer;
  scheduler: Scheduler | null;
  train: DataLoader;
  test: DataLoader;
  classes: readonly string[];
  epochs: number;
  device: 'cpu' | 'gpu';
  outDir: string;
  title: string;
  logEvery: number;
  checkpointEvery: number;
  reporter: Reporter;
  /** Save a checkpoint holding `state` (and the model, optimizer, scheduler, RNG). */
  checkpoint(state: LoopState): void | Promise<void>;
  /** Polled after every step: true asks the loop to checkpoint and return 'interrupted'. */
  stopRequested(): boolean;
  /** Called after every step (tests use it to interrupt at a chosen step). */
  onStep?(state: LoopState): void;
}

/** One training step inside tidy(): the detached loss and the number of right predictions. */
function trainStep(ctx: LoopContext, x: Tensor, y: Tensor): { loss: Tensor; correct: Tensor } {
  return tidy(() => {
    const xs = ctx.device === 'gpu' ? x.to('gpu') : x;
    const ys = ctx.device === 'gpu' ? y.to('gpu') : y;
    ctx.optimizer.zeroGrad();
    const logits = ctx.model.forward(xs);
    const loss = crossEntropy(logits, ys);
    loss.backward();
    ctx.optimizer.step();
    const correct = noGrad(() => sum(eq(argmax(logits, 1), ys)));
    return { loss: loss.detach(), correct };
  });
}

/** The values of scalar tensors (read back from the device when there is one), then freed. */
async function scalars(...ts: Tensor[]): Promise<number[]> {
  const out: number[] = [];
  for (const t of ts) {
    out.push(Number((await t.data())[0]));
    if (t.device !== 'cpu') t.dispose();
  }
  return out;
}

/** Mean cross-entropy, accuracy and the confusion matrix of `model` on `loader`, in eval mode. */
export async function evaluate(
  model: Classifier,
  loader: DataLoader,
  classes: readonly string[],
  device: 'cpu' | 'gpu',
): Promise<{ loss: number; accuracy: number; confusion: ConfusionMatrix }> {
  model.eval();
  const confusion = new ConfusionMatrix(classes);
  let lossSum = 0;
  let n = 0;
  for (let b = 0; b < loader.numBatches; b++) {
    const { x, y } = loader.batchAt(0, b);
    const { loss, predicted } = tidy(() =>
      noGrad(() => {
        const logits = model.forward(device === 'gpu' ? x.to('gpu') : x);
        const target = device === 'gpu' ? y.to('gpu') : y;
        return { loss: crossEntropy(logits, target, { reduction: 'sum' }), predicted: argmax(logits, 1) };
      }),
    );
    const [l] = await scalars(loss);
    const pred = await predicted.data();
    if (predicted.device !== 'cpu') predicted.dispose();
    lossSum += l as number;
    n += y.shape[0] as number;
    confusion.add(y.toArray(), pred);
  }
  return { loss: lossSum / n, accuracy: confusion.accuracy, confusion };
}

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

/** The lr of the first parameter group (what the schedule sets). */
const currentLr = (o: Optimizer) => o.paramGroups[0]?.lr ?? 0;

/**
 * Train from `state` to the last epoch. Returns 'interrupted' (after a checkpoint) when
 * stopRequested() turned true, 'done' otherwise; `state` is updated in place.
 */
export async function runLoop(ctx: LoopContext, state: LoopState): Promise<'done' | 'interrupted'> {
  const started = performance.now();
  const elapsed = () => state.elapsedS + (performance.now() - started) / 1000;
  const writeMetrics = async () => {
    writeJsonLinesAtomic(join(ctx.outDir, 'metrics.jsonl'), state.records);
    writeFileAtomic(join(ctx.outDir, 'curves.svg'), await curvesSvg(ctx.title, state.records, ctx.train.numBatches));
  };
  const save = () => ctx.checkpoint({ ...state, elapsedS: elapsed() });
  if (state.records.length) writeJsonLinesAtomic(join(ctx.outDir, 'metrics.jsonl'), state.records); // drop lines past the checkpoint

  while (state.epoch < ctx.epochs) {
    const epoch = state.epoch;
    const batches = ctx.train.numBatches;
    trainMode(ctx.model, ctx.frozen);
    ctx.reporter.epochStart(epoch, ctx.epochs, batches, state.batch);
    let trainS = 0;
    let images = 0;
    let lastLr = currentLr(ctx.optimizer);
    let stepsHere = 0;
    while (state.batch < batches) {
      const t0 = performance.now();
      const { x, y } = ctx.train.batchAt(epoch, state.batch);
      const { loss, correct } = trainStep(ctx, x, y);
      lastLr = currentLr(ctx.optimizer);
      ctx.scheduler?.step();
      const [l, c] = await scalars(loss, correct);
      trainS += (performance.now() - t0) / 1000;
      const n = y.shape[0] as number;
      images += n;
      state.sums = { lossSum: state.sums.lossSum + (l as number) * n, correct: state.sums.correct + (c as number), seen: state.sums.seen + n };
      state.batch += 1;
      state.step += 1;
      stepsHere += 1;
      const stepsLeft = (ctx.epochs - epoch - 1) * batches + (batches - state.batch);
      const running = { loss: state.sums.lossSum / state.sums.seen, accuracy: state.sums.correct / state.sums.seen };
      ctx.reporter.step({ epoch, batch: state.batch, ...running, imagesPerS: images / trainS, lr: lastLr, runEtaS: (stepsLeft * trainS) / stepsHere });
      if (ctx.logEvery > 0 && state.step % ctx.logEvery === 0) {
        const r: StepRecord = {
          type: 'step',
          epoch,
          step: state.step,
          train_loss: running.loss,
          train_accuracy: running.accuracy,
          lr: lastLr,
          images_per_s: images / trainS,
          time_s: elapsed(),
        };
        state.records.push(r);
        writeJsonLinesAtomic(join(ctx.outDir, 'metrics.jsonl'), state.records);
        ctx.reporter.logged(r);
      }
      // The last step of an epoch is checkpointed after the evaluation, below.
      if (ctx.checkpointEvery > 0 && state.step % ctx.checkpointEvery === 0 && state.batch < batches) await save();
      ctx.onStep?.(state);
      await yieldToEventLoop(); // lets a signal handler run
      if (ctx.stopRequested() && state.batch < batches) {
        ctx.reporter.close();
        await save();
        return 'interrupted';
      }
    }
    const ev = await evaluate(ctx.model, ctx.test, ctx.classes, ctx.device);
    const record: EpochRecord = {
      type: 'epoch',
      epoch,
      step: state.step,
      train_loss: state.sums.seen ? state.sums.lossSum / state.sums.seen : Number.NaN,
      train_accuracy: state.sums.seen ? state.sums.correct / state.sums.seen : Number.NaN,
      test_loss: ev.loss,
      test_accuracy: ev.accuracy,
      lr: lastLr,
      images_per_s: trainS > 0 ? images / trainS : 0,
      time_s: elapsed(),
    };
    state.records.push(record);
    state.confusion = ev.confusion.toJSON();
    state.epoch += 1;
    state.batch = 0;
    state.sums = emptySums();
    await writeMetrics();
    ctx.reporter.epochEnd(record, ctx.epochs);
    await save();
    if (ctx.stopRequested() && state.epoch < ctx.epochs) return 'interrupted';
  }
  state.elapsedS = elapsed();
  return 'done';
}
