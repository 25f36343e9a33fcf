// BatchNorm vs GroupNorm vs LayerNorm vs InstanceNorm against the batch size (Wu and He 2018,
// Fig. 1 in miniature). BN normalises with the statistics of the batch, so the fewer images in a
// batch the noisier those statistics are during training, and the further they are from the
// running averages used at test time; GN, LN and IN normalise each image on its own and cannot
// depend on the batch size, except through the optimisation itself. Every run gets the same number
// of epochs (not steps), with the learning rate scaled linearly with the batch.
import { manualSeed } from '../core/random.js';
import { cifarResNet } from '../models/cifar.js';
import type { Optimizer } from '../nn/optim/optimizer.js';
import { SGD } from '../nn/optim/sgd.js';
import { type NormKind, gnGroups, normLayer } from '../train/models.js';
import { type Budget, type Experiment, type ExperimentOptions, type ExperimentResult, formatNumber, formatPercent } from './framework.js';
import { type Classifier, applyThreads, describeData, evalError, evalLoader, fashion, lineChart, plural, trainEpoch, trainLoader, trainModeError } from './train_util.js';

interface Plan {
  depth: number;
  width: number;
  source: 'subset' | 'full';
  trainPerClass: number | null;
  testPerClass: number | null;
  batches: number[];
  epochs: number;
  /** lr = lrPer32 * batch / 32 (Wu and He use 0.1 per 32 images). */
  lrPer32: number;
  weightDecay: number;
}

const PLANS: Record<Budget, Plan> = {
  tiny: { depth: 8, width: 4, source: 'subset', trainPerClass: 2, testPerClass: 2, batches: [2, 4, 16], epochs: 1, lrPer32: 0.1, weightDecay: 1e-4 },
  quick: { depth: 8, width: 8, source: 'subset', trainPerClass: 80, testPerClass: 30, batches: [2, 4, 8, 16, 64], epochs: 2, lrPer32: 0.1, weightDecay: 1e-4 },
  // full: 250 of the subset's 500 images per class, 4 epochs: 20 runs of 10,000 samples, 50 min
  // on 2 cores shared with other runs (all 500 per class was estimated at 1.5-2 h)
  full: { depth: 20, width: 16, source: 'subset', trainPerClass: 250, testPerClass: null, batches: [2, 4, 8, 16, 64], epochs: 4, lrPer32: 0.1, weightDecay: 1e-4 },
};

/** Below this many steps a run is still in its first descent: the summary says so. */
const FEW_STEPS = 200;

const NORMS: readonly NormKind[] = ['bn', 'gn', 'ln', 'in'];
const NORM_NAMES: Record<NormKind, string> = { bn: 'BatchNorm', gn: 'GroupNorm', ln: 'LayerNorm', in: 'InstanceNorm' };

export interface NormRun {
  norm: string;
  batch: number;
  lr: number;
  steps: number;
  /** Running training error over the last epoch. */
  train_error: number;
  /** Test error in eval mode (BN: running statistics). */
  test_error: number;
  /** BN only: test error in train mode, normalising each test batch of `batch` images with its own statistics. */
  test_error_train_mode: number | null;
  seconds: number;
}

async function run(opts: ExperimentOptions, log: (line: string) => void): Promise<ExperimentResult> {
  applyThreads(opts);
  const p = PLANS[opts.budget];
  const train = await fashion('train', p.source, p.trainPerClass, opts.seed);
  const test = await fashion('test', p.source, p.testPerClass, opts.seed);
  const testLoader = evalLoader(test);
  log(`norms: ${describeData(train)}, ResNet-${p.depth} width ${p.width}, ${p.epochs} epochs at batch ${p.batches.join(', ')}`);
  const runs: NormRun[] = [];
  for (const norm of NORMS) {
    for (const batch of p.batches) {
      manualSeed(opts.seed);
      const model = cifarResNet(p.depth, { inChannels: 1, width: p.width, normLayer: normLayer(norm) }) as Classifier;
      const lr = (p.lrPer32 * batch) / 32;
      const optimizer = new SGD(model.parameters(), { lr, momentum: 0.9, weightDecay: p.weightDecay }) as unknown as Optimizer;
      const loader = trainLoader(train, batch, opts.seed);
      let last = null;
      let seconds = 0;
      for (let epoch = 0; epoch < p.epochs; epoch++) {
        last = trainEpoch(model, optimizer, loader, epoch);
        seconds += last.seconds;
      }
      const te = evalError(model, testLoader);
      const tm = norm === 'bn' ? trainModeError(model, evalLoader(test, batch)).error : null;
      const r: NormRun = { norm: NORM_NAMES[norm], batch, lr, steps: p.epochs * loader.numBatches, train_error: last?.error ?? Number.NaN, test_error: te.error, test_error_train_mode: tm, seconds };
      runs.push(r);
      log(
        `${r.norm} batch ${batch} (lr ${formatNumber(lr)}, ${r.steps} steps): training error ${formatPercent(r.train_error)}, test error ${formatPercent(r.test_error)}${tm === null ? '' : ` (train-mode BN: ${formatPercent(tm)})`}, ${seconds.toFixed(1)} s`,
      );
    }
  }
  return report(p, runs, { train: describeData(train), test: describeData(test) });
}

function report(p: Plan, runs: NormRun[], info: { train: string; test: string }): ExperimentResult {
  const pct = formatPercent;
  const small = p.batches[0] as number;
  const large = p.batches.at(-1) as number;
  const at = (norm: string, batch: number) => runs.find((r) => r.norm === norm && r.batch === batch) as NormRun;
  const names = NORMS.map((n) => NORM_NAMES[n]);
  const bnSmall = at('BatchNorm', small);
  const bnLarge = at('BatchNorm', large);
  const spread = (norm: string) => {
    const errs = runs.filter((r) => r.norm === norm).map((r) => r.test_error);
    return { min: Math.min(...errs), max: Math.max(...errs) };
  };
  const best = (batch: number) => names.map((n) => at(n, batch)).reduce((a, b) => (b.test_error < a.test_error ? b : a));
  const bestSmall = best(small);
  const bestLarge = best(large);
  const bnRise = bnSmall.test_error - bnLarge.test_error;
  const others = names.filter((n) => n !== 'BatchNorm');
  const spreadText = others.map((n) => `${n} ${pct(spread(n).min)} to ${pct(spread(n).max)}`).join(', ');
  const bnSpread = spread('BatchNorm');
  // differences in percentage points, rounded to 0.1 (kept in results.json with the rest)
  const points = (x: number) => Number((100 * x).toFixed(1));
  const gap = (r: NormRun) => points((r.test_error_train_mode ?? Number.NaN) - r.test_error);
  const summary = [
    `The same ResNet-${p.depth} with each of four normalisations, trained for ${plural(p.epochs, 'epoch')} at batch ${p.batches.join(', ')} (learning rate ${formatNumber(p.lrPer32)} per 32 images, so equal epochs with the lr scaled linearly), as in Wu and He (2018), Fig. 1.`,
    '',
    bnRise > 0
      ? `BatchNorm's test error rises as the batch shrinks: ${pct(bnSmall.test_error)} at batch ${small} against ${pct(bnLarge.test_error)} at batch ${large} (${formatNumber(points(bnRise))} points worse).`
      : `BatchNorm's test error did not rise at small batch in this run: ${pct(bnSmall.test_error)} at batch ${small}, ${pct(bnLarge.test_error)} at batch ${large}.`,
    `Across the batch sizes, BatchNorm ranges from ${pct(bnSpread.min)} to ${pct(bnSpread.max)}; the per-image norms: ${spreadText}.`,
    `At batch ${small} the lowest test error is ${bestSmall.norm}'s (${pct(bestSmall.test_error)}); at batch ${large} it is ${bestLarge.norm}'s (${pct(bestLarge.test_error)}).`,
    '',
    ...(bnLarge.steps < FEW_STEPS
      ? [
          `Equal epochs means few steps for large batches: ${bnLarge.steps} at batch ${large} against ${bnSmall.steps} at batch ${small}, so here the large-batch runs are far from trained and their errors say more about the budget than about the norms${p === PLANS.full ? ` (this budget, ${plural(p.epochs, 'epoch')} of ${info.train}, was cut to fit about 50 minutes on 2 cores)` : ' (the --full run trains longer)'}.`,
        ]
      : []),
    '',
    `BatchNorm's train/eval gap at batch ${small}: normalising each test batch of ${small} images with its own statistics (train mode) gives ${pct(bnSmall.test_error_train_mode as number)} test error, the running averages (eval mode) ${pct(bnSmall.test_error)}; at batch ${large} the two are ${pct(bnLarge.test_error_train_mode as number)} and ${pct(bnLarge.test_error)}.`,
  ].join('\n');

  const order = names;
  const errorChart = lineChart({
    title: `Test error vs batch size (ResNet-${p.depth}, ${plural(p.epochs, 'epoch')})`,
    values: runs.map((r) => ({ norm: r.norm, batch: r.batch, error: r.test_error })),
    x: { field: 'batch', title: 'images per batch (log scale)', log: true },
    y: { field: 'error', title: 'test error', percent: true },
    color: { field: 'norm', title: 'normalisation', sort: order },
  });
  const bnRuns = runs.filter((r) => r.norm === 'BatchNorm');
  const gapChart = lineChart({
    title: 'BatchNorm: test error with batch statistics vs running statistics',
    values: bnRuns.flatMap((r) => [
      { mode: 'eval mode (running statistics)', batch: r.batch, error: r.test_error },
      { mode: 'train mode (statistics of each test batch)', batch: r.batch, error: r.test_error_train_mode as number },
    ]),
    x: { field: 'batch', title: 'images per batch (log scale)', log: true },
    y: { field: 'error', title: 'test error', percent: true },
    color: { field: 'mode', title: 'BatchNorm at test time' },
  });
  const setup = [
    `Data: ${info.train} for training, ${info.test} for testing; no augmentation. Net: the CIFAR ResNet-${p.depth} (option A shortcuts), first stage ${p.width} channels, one input channel, with every norm layer one of: BatchNorm2d; GroupNorm with the largest group count up to 32 that leaves at least 4 channels a group (${[p.width, 2 * p.width, 4 * p.width].map((c) => `${gnGroups(c)} groups of ${c / gnGroups(c)} at ${c} channels`).join(', ')}); LayerNorm as GroupNorm with one group (statistics over C, H, W; a scale and shift per channel); InstanceNorm2d with a scale and shift (one group per channel).`,
    `Training: SGD, momentum 0.9, weight decay ${formatNumber(p.weightDecay)}, ${plural(p.epochs, 'epoch')} at every batch size, so a batch of ${p.batches[0]} takes ${(p.batches.at(-1) as number) / (p.batches[0] as number)} times as many steps as a batch of ${p.batches.at(-1)}; the learning rate is ${formatNumber(p.lrPer32)} x batch / 32 (linear scaling, Wu and He's 0.1 per 32 images), constant. The last short batch of an epoch is dropped. Every run starts from the same seed.`,
  ].join('\n\n');
  const table = {
    columns: ['batch', 'lr', 'steps', ...names.map((n) => `${n} test error`), 'BatchNorm train-mode test error'],
    rows: p.batches.map((b) => {
      const first = at('BatchNorm', b);
      return [b, first.lr, first.steps, ...names.map((n) => pct(at(n, b).test_error)), pct(first.test_error_train_mode as number)];
    }),
  };
  const runTable = {
    columns: ['norm', 'batch', 'training error (running, last epoch)', 'test error', 'seconds'],
    rows: runs.map((r) => [r.norm, r.batch, pct(r.train_error), pct(r.test_error), Number(r.seconds.toFixed(1))]),
  };
  return {
    title: `BatchNorm vs GroupNorm vs LayerNorm vs InstanceNorm at batch ${p.batches.join(', ')}`,
    summary,
    sections: [
      { heading: 'Setup', text: setup },
      {
        heading: 'Test error vs batch size',
        text: 'One line per normalisation; every point is a separate run from the same initial weights.',
        plots: [{ file: 'error-vs-batch.svg', spec: errorChart, caption: 'Test error (eval mode) against images per batch, one line per norm' }],
        tables: [table],
      },
      {
        heading: "BatchNorm's train/eval gap",
        text: `A BatchNorm net is tested in eval mode, with the running averages of the batch statistics seen in training. Evaluating it in train mode instead (each test batch of the training batch size normalised with its own mean and variance, the running averages left as they were) shows how far apart the two are: the gap in test error is ${bnRuns.map((r) => `${formatNumber(gap(r))} points at batch ${r.batch}`).join(', ')} (train mode minus eval mode).`,
        plots: [{ file: 'bn-gap.svg', spec: gapChart, caption: 'BatchNorm test error in train mode (batch statistics) and eval mode (running statistics)' }],
      },
      { heading: 'Every run', text: 'Running training error over the last epoch, in train mode.', tables: [runTable] },
    ],
    data: { plan: p, runs, data: info, derived: { bnRisePoints: points(bnRise), bnGapPoints: bnRuns.map((r) => ({ batch: r.batch, points: gap(r) })) } },
  };
}

export const norms: Experiment = {
  name: 'norms',
  about: 'BatchNorm vs GroupNorm vs LayerNorm vs InstanceNorm at batch 2 to 64, and BatchNorm\'s train/eval gap',
  run,
};
