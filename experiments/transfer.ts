// Transfer learning on Fashion-MNIST: a ResNet pretrained on classes 0-4 (T-shirt, trouser,
// pullover, dress, coat) learns classes 5-9 (sandal, shirt, sneaker, bag, ankle boot) from a few
// images per class. Three ways: keep the backbone frozen and train a new head (a linear probe of
// the pretrained features); fine-tune everything at a tenth of the learning rate; train the same
// net from scratch. A frozen backbone must keep its BatchNorms in eval mode: in train mode they
// normalise with the new data's batch statistics and their running averages drift to it, even
// though no weight moves. A fourth run shows that.
import { manualSeed } from '../core/random.js';
import { Tensor } from '../core/tensor.js';
import { type ImageDataset, selectClasses, takePerClass } from '../data/index.js';
import { cifarResNet } from '../models/cifar.js';
import { Linear } from '../nn/layers/basic.js';
import { BatchNorm2d } from '../nn/layers/norm.js';
import type { Module } from '../nn/module.js';
import { CosineAnnealingLR } from '../nn/optim/lr_scheduler.js';
import type { Optimizer } from '../nn/optim/optimizer.js';
import { SGD } from '../nn/optim/sgd.js';
import { freezeUpTo } from '../train/models.js';
import { type Budget, type Experiment, type ExperimentOptions, type ExperimentResult, formatNumber, formatPercent } from './framework.js';
import { type Classifier, applyThreads, describeData, evalError, evalLoader, fashion, lineChart, trainEpoch, trainLoader } from './train_util.js';

interface Plan {
  depth: number;
  width: number;
  source: 'subset' | 'full';
  /** Pretraining on classes 0-4: images per class (null: all), epochs, batch. */
  pretrainPerClass: number | null;
  pretrainEpochs: number;
  pretrainBatch: number;
  /** Test images per class of classes 5-9 (null: all). */
  testPerClass: number | null;
  /** Images per class of classes 5-9 to learn from. */
  shots: number[];
  /** Every method takes this many steps of (at most) this batch, whatever the number of images. */
  steps: number;
  batch: number;
  lr: number;
  /** The fine-tune's learning rate (the frozen head and the scratch net train at `lr`). */
  fineTuneLr: number;
  weightDecay: number;
}

const PLANS: Record<Budget, Plan> = {
  tiny: { depth: 8, width: 4, source: 'subset', pretrainPerClass: 8, pretrainEpochs: 1, pretrainBatch: 20, testPerClass: 3, shots: [2, 4], steps: 3, batch: 10, lr: 0.1, fineTuneLr: 0.01, weightDecay: 1e-4 },
  quick: { depth: 20, width: 8, source: 'subset', pretrainPerClass: null, pretrainEpochs: 2, pretrainBatch: 64, testPerClass: null, shots: [10, 100], steps: 40, batch: 25, lr: 0.1, fineTuneLr: 0.01, weightDecay: 1e-4 },
  full: { depth: 20, width: 16, source: 'full', pretrainPerClass: null, pretrainEpochs: 6, pretrainBatch: 128, testPerClass: null, shots: [10, 100, 1000], steps: 300, batch: 50, lr: 0.1, fineTuneLr: 0.01, weightDecay: 1e-4 },
};

const PRETRAIN_CLASSES = [0, 1, 2, 3, 4];
const TARGET_CLASSES = [5, 6, 7, 8, 9];

type Method = 'frozen' | 'frozen, BN in train mode' | 'fine-tune' | 'scratch';
const METHODS: readonly Method[] = ['frozen', 'fine-tune', 'scratch', 'frozen, BN in train mode'];

export interface TransferRun {
  method: Method;
  /** Training images per class of classes 5-9. */
  shots: number;
  steps: number;
  lr: number;
  trainable: number;
  /** Test accuracy on classes 5-9, eval mode. */
  accuracy: number;
  /** Mean over the backbone's BatchNorms of |running_mean - pretrained| / |pretrained| (and the same for running_var); 0 when they did not move. */
  drift_mean: number;
  drift_var: number;
  seconds: number;
}

/** A copy of every tensor of a state dict (stateDict() hands out the live tensors). */
const snapshot = (sd: Record<string, Tensor>) => Object.fromEntries(Object.entries(sd).map(([k, t]) => [k, Tensor.fromArray(t.toArray().slice(), t.shape)]));

const norm2 = (a: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0));
function relativeChange(now: Tensor, before: Tensor): number {
  const a = now.toArray();
  const b = before.toArray();
  const diff = Array.from(a, (v, i) => v - (b[i] as number));
  return norm2(diff) / Math.max(norm2(b), 1e-12);
}

/** How far the backbone's BatchNorm running statistics moved from the pretrained ones. */
function bnDrift(model: Module, pretrained: Record<string, Tensor>): { mean: number; variance: number } {
  let mean = 0;
  let variance = 0;
  let n = 0;
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof BatchNorm2d) || !m.running_mean || !m.running_var) continue;
    const before = { mean: pretrained[`${name}.running_mean`], variance: pretrained[`${name}.running_var`] };
    if (!before.mean || !before.variance) continue;
    mean += relativeChange(m.running_mean, before.mean);
    variance += relativeChange(m.running_var, before.variance);
    n += 1;
  }
  return { mean: n ? mean / n : 0, variance: n ? variance / n : 0 };
}

function build(p: Plan, classes: number): Classifier {
  return cifarResNet(p.depth, { inChannels: 1, width: p.width, numClasses: classes }) as Classifier;
}

async function pretrain(p: Plan, data: { train: ImageDataset; test: ImageDataset }, seed: number, log: (line: string) => void): Promise<{ weights: Record<string, Tensor>; accuracy: number; seconds: number; steps: number }> {
  manualSeed(seed);
  const model = build(p, PRETRAIN_CLASSES.length);
  const loader = trainLoader(data.train, p.pretrainBatch, seed);
  const optimizer = new SGD(model.parameters(), { lr: p.lr, momentum: 0.9, weightDecay: p.weightDecay }) as unknown as Optimizer;
  const steps = p.pretrainEpochs * loader.numBatches;
  const scheduler = new CosineAnnealingLR(optimizer, { tMax: steps });
  let seconds = 0;
  for (let epoch = 0; epoch < p.pretrainEpochs; epoch++) {
    const st = trainEpoch(model, optimizer, loader, epoch, { scheduler });
    seconds += st.seconds;
    log(`pretraining epoch ${epoch + 1}/${p.pretrainEpochs}: training error ${formatPercent(st.error)} (running)`);
  }
  const accuracy = 1 - evalError(model, evalLoader(data.test)).error;
  return { weights: snapshot(model.stateDict()), accuracy, seconds, steps };
}

/** Train one method on `train` (classes 5-9, relabelled 0-4) and test it. */
function learn(p: Plan, method: Method, pretrained: Record<string, Tensor>, train: ImageDataset, test: ImageDataset, shots: number, seed: number): TransferRun {
  manualSeed(seed);
  const model = build(p, PRETRAIN_CLASSES.length);
  let frozen: Module[] = [];
  if (method !== 'scratch') {
    model.loadStateDict(pretrained);
    manualSeed(seed + 1); // the same new head for every pretrained method
    model.setModule('fc', new Linear(4 * p.width, TARGET_CLASSES.length));
  }
  if (method === 'frozen' || method === 'frozen, BN in train mode') frozen = freezeUpTo(model, 'layer3');
  const trainable = model.parameters().filter((t) => t.requiresGrad);
  const lr = method === 'fine-tune' ? p.fineTuneLr : p.lr;
  const optimizer = new SGD(trainable, { lr, momentum: 0.9, weightDecay: p.weightDecay }) as unknown as Optimizer;
  const scheduler = new CosineAnnealingLR(optimizer, { tMax: p.steps });
  const loader = trainLoader(train, Math.min(p.batch, train.length), seed);
  // frozen: the backbone's modules stay in eval mode; 'BN in train mode' lets model.train() reach them
  const keepEval = method === 'frozen' ? frozen : [];
  let seconds = 0;
  let done = 0;
  for (let epoch = 0; done < p.steps; epoch++) {
    const st = trainEpoch(model, optimizer, loader, epoch, { scheduler, frozen: keepEval, maxSteps: p.steps - done });
    done += st.steps;
    seconds += st.seconds;
  }
  const accuracy = 1 - evalError(model, evalLoader(test)).error;
  const drift = method === 'scratch' ? { mean: Number.NaN, variance: Number.NaN } : bnDrift(model, pretrained);
  return { method, shots, steps: done, lr, trainable: trainable.reduce((s, t) => s + t.numel(), 0), accuracy, drift_mean: drift.mean, drift_var: drift.variance, seconds };
}

async function run(opts: ExperimentOptions, log: (line: string) => void): Promise<ExperimentResult> {
  applyThreads(opts);
  const p = PLANS[opts.budget];
  const allTrain = await fashion('train', p.source, null, opts.seed);
  const allTest = await fashion('test', p.source, null, opts.seed);
  let source = { train: selectClasses(allTrain, PRETRAIN_CLASSES, true), test: selectClasses(allTest, PRETRAIN_CLASSES, true) };
  if (p.pretrainPerClass !== null) source = { train: takePerClass(source.train, p.pretrainPerClass, opts.seed), test: takePerClass(source.test, Math.min(p.pretrainPerClass, 100), opts.seed) };
  const targetPool = selectClasses(allTrain, TARGET_CLASSES, true);
  let targetTest = selectClasses(allTest, TARGET_CLASSES, true);
  if (p.testPerClass !== null) targetTest = takePerClass(targetTest, p.testPerClass, opts.seed);
  log(`transfer: pretraining ResNet-${p.depth} (width ${p.width}) on ${describeData(source.train)}`);
  const pre = await pretrain(p, source, opts.seed, log);
  log(`pretrained: ${formatPercent(pre.accuracy)} test accuracy on classes 0-4`);

  const runs: TransferRun[] = [];
  for (const shots of p.shots) {
    const train = takePerClass(targetPool, shots, opts.seed + shots);
    for (const method of METHODS) {
      const r = learn(p, method, pre.weights, train, targetTest, shots, opts.seed);
      runs.push(r);
      log(`${shots} per class, ${method}: ${formatPercent(r.accuracy)} test accuracy (${r.trainable} trainable parameters, ${r.seconds.toFixed(1)} s)`);
    }
  }
  return report(p, pre, runs, { pretrain: describeData(source.train), pretrainTest: describeData(source.test), test: describeData(targetTest) });
}

function report(p: Plan, pre: { accuracy: number; seconds: number; steps: number }, runs: TransferRun[], info: { pretrain: string; pretrainTest: string; test: string }): ExperimentResult {
  const pct = formatPercent;
  const at = (method: Method, shots: number) => runs.find((r) => r.method === method && r.shots === shots) as TransferRun;
  const main: Method[] = ['frozen', 'fine-tune', 'scratch'];
  const fewest = p.shots[0] as number;
  const most = p.shots.at(-1) as number;
  const winner = (shots: number) => main.map((m) => at(m, shots)).reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
  const pretrainedHelps = (shots: number) => Math.max(at('frozen', shots).accuracy, at('fine-tune', shots).accuracy) > at('scratch', shots).accuracy;
  const line = (shots: number) =>
    `with ${shots} images per class: frozen ${pct(at('frozen', shots).accuracy)}, fine-tune ${pct(at('fine-tune', shots).accuracy)}, scratch ${pct(at('scratch', shots).accuracy)} (best: ${winner(shots).method})`;
  // accuracy differences in percentage points, rounded to 0.1 (kept in results.json)
  const points = (x: number) => Number((100 * x).toFixed(1));
  const bnPoints: { shots: number; points: number }[] = [];
  const bnLines = p.shots.map((s) => {
    const good = at('frozen', s);
    const bad = at('frozen, BN in train mode', s);
    const diff = points(bad.accuracy - good.accuracy);
    bnPoints.push({ shots: s, points: diff });
    return `with ${s} per class, ${pct(bad.accuracy)} instead of ${pct(good.accuracy)} (${diff < 0 ? `${formatNumber(-diff)} points worse` : diff > 0 ? `${formatNumber(diff)} points better` : 'the same'}); the running means moved by ${pct(bad.drift_mean)} and the running variances by ${pct(bad.drift_var)} of their pretrained size (with BN in eval mode: ${pct(good.drift_mean)} and ${pct(good.drift_var)})`;
  });
  const summary = [
    `A ResNet-${p.depth} pretrained on Fashion-MNIST classes 0-4 (${pct(pre.accuracy)} test accuracy there) learns classes 5-9. Test accuracy on classes 5-9, ${line(fewest)}; ${line(most)}.`,
    '',
    pretrainedHelps(fewest)
      ? `With the fewest images the pretrained features beat training from scratch${pretrainedHelps(most) ? ', and they still do' : ', but not any more'} at ${most} per class.`
      : `In this run the pretrained features did not beat training from scratch at ${fewest} per class.`,
    '',
    `Freezing the backbone but leaving its BatchNorms in train mode (no weight changes, but each batch is normalised with its own statistics and the running averages follow the new classes) gives, ${bnLines.join('; ')}.`,
    bnPoints.every((b) => b.points > 0)
      ? 'Here the drift helped at every size: the statistics now describe the new classes, which differ from the old ones (re-estimating BatchNorm statistics on new data is a known adaptation trick, AdaBN). But the backbone is no longer the pretrained one, and the head was trained on batch statistics it will not see at test time: it is a different method, to be chosen on purpose, not by forgetting model.eval().'
      : bnPoints.every((b) => b.points < 0)
        ? 'The drift hurt at every size: the head learned on features normalised with batch statistics and is tested with running averages that moved away from the pretrained ones, so what it learned and what it sees no longer match.'
        : 'The drift helped at some sizes and hurt at others: the running averages move to the new classes (which can help, as in AdaBN) while the head learns on batch statistics it will not see at test time (which hurts).',
  ].join('\n');
  const chart = lineChart({
    title: `Classes 5-9 after pretraining on 0-4 (ResNet-${p.depth}, ${p.steps} steps each)`,
    values: runs.map((r) => ({ method: r.method, shots: r.shots, accuracy: r.accuracy })),
    x: { field: 'shots', title: 'training images per class (log scale)', log: true },
    y: { field: 'accuracy', title: 'test accuracy', percent: true },
    color: { field: 'method', title: 'method', sort: [...METHODS] },
  });
  const setup = [
    `Pretraining: ResNet-${p.depth} (CIFAR layout, option A shortcuts, BatchNorm, first stage ${p.width} channels) on ${info.pretrain} of classes 0-4 for ${p.pretrainEpochs} epoch${p.pretrainEpochs === 1 ? '' : 's'} (${pre.steps} steps of batch ${p.pretrainBatch}), SGD with momentum 0.9, learning rate ${formatNumber(p.lr)} on a cosine to 0, weight decay ${formatNumber(p.weightDecay)}; tested on ${info.pretrainTest}.`,
    `Then classes 5-9, relabelled 0-4, from ${p.shots.join(', ')} training images per class (a seeded class-balanced sample), tested on ${info.test}. Every method takes ${p.steps} steps of batch ${p.batch} (or all the images when there are fewer), with a cosine schedule, whatever the number of images, so the small sets are seen for many epochs:`,
    `- **frozen**: the pretrained backbone (conv1 to layer3) does not train and its BatchNorms stay in eval mode; a new linear head trains at learning rate ${formatNumber(p.lr)}.`,
    `- **fine-tune**: the pretrained weights and a new head all train, at the lower learning rate ${formatNumber(p.fineTuneLr)}.`,
    `- **scratch**: the same net from a fresh initialisation, learning rate ${formatNumber(p.lr)}.`,
    `- **frozen, BN in train mode**: as frozen, but the whole model is put in train mode, as a bare \`model.train()\` does: the frozen BatchNorms normalise with batch statistics and update their running averages.`,
    'No augmentation.',
  ].join('\n');
  const table = {
    columns: ['images per class', ...METHODS.map((m) => `${m} accuracy`)],
    rows: p.shots.map((s) => [s, ...METHODS.map((m) => pct(at(m, s).accuracy))]),
  };
  const runTable = {
    columns: ['images per class', 'method', 'lr', 'trainable parameters', 'test accuracy', 'running-mean drift', 'running-var drift', 'seconds'],
    rows: runs.map((r) => [r.shots, r.method, r.lr, r.trainable, pct(r.accuracy), Number.isNaN(r.drift_mean) ? '-' : pct(r.drift_mean), Number.isNaN(r.drift_var) ? '-' : pct(r.drift_var), Number(r.seconds.toFixed(1))]),
  };
  return {
    title: 'Transfer: pretrain on classes 0-4, learn 5-9 from few images',
    summary,
    sections: [
      { heading: 'Setup', text: setup },
      {
        heading: 'Accuracy vs images per class',
        text: 'One line per method; each point is its own run.',
        plots: [{ file: 'accuracy-vs-images.svg', spec: chart, caption: 'Test accuracy on classes 5-9 against training images per class, one line per method' }],
        tables: [table],
      },
      {
        heading: 'A frozen backbone with BatchNorm in train mode',
        text: "Freezing parameters (requiresGrad = false) does not freeze BatchNorm: its running mean and variance are buffers, updated by every forward pass in train mode. Drift is |running stat - pretrained| / |pretrained|, averaged over the backbone's BatchNorm layers.",
        tables: [runTable],
      },
    ],
    data: { plan: p, pretrain: { accuracy: pre.accuracy, seconds: pre.seconds, steps: pre.steps }, runs, data: info, derived: { bnTrainModePoints: bnPoints } },
  };
}

export const transfer: Experiment = {
  name: 'transfer',
  about: 'pretrain on classes 0-4, learn 5-9 from 10 to 1000 images per class: frozen vs fine-tune vs scratch, and BN in a frozen backbone',
  run,
};
