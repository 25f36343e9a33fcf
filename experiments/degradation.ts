// Degradation (He et al. 2016, Fig. 1 and Fig. 6 in miniature): a deeper plain net trains WORSE
// than a shallower one, not only tests worse, so it is not overfitting; the same depth with
// identity shortcuts does not degrade. Four nets with identical layers (cifarPlain / cifarResNet,
// BatchNorm after every conv, option A shortcuts) train on the same batches with the same schedule;
// each epoch records the running training error (the paper's thin curves), the training error in
// eval mode on a fixed sample of training images, and the test error.
import { zeros } from '../core/creation.js';
import { manualSeed } from '../core/random.js';
import { cifarPlain, cifarResNet } from '../models/cifar.js';
import { summary } from '../models/summary.js';
import { LinearLR, MultiStepLR, SequentialLR } from '../nn/optim/lr_scheduler.js';
import type { Optimizer } from '../nn/optim/optimizer.js';
import { SGD } from '../nn/optim/sgd.js';
import { type Budget, type Experiment, type ExperimentOptions, type ExperimentResult, formatNumber, formatPercent } from './framework.js';
import { type Classifier, applyThreads, describeData, evalError, evalLoader, fashion, lineChart, trainEpoch, trainLoader } from './train_util.js';

interface Plan {
  /** The shallow and the deep depth (6n+2). */
  depths: [number, number];
  /** Channels of the first stage (16 in the paper). */
  width: number;
  source: 'subset' | 'full';
  /** Training images per class (null: all), test images per class, training images per class measured in eval mode. */
  trainPerClass: number | null;
  testPerClass: number | null;
  trainEvalPerClass: number;
  batch: number;
  epochs: number;
  /** Epochs of linear warm-up from lr/10 (the paper warms ResNet-110 up at lr/10). */
  warmupEpochs: number;
  lr: number;
  weightDecay: number;
}

const PLANS: Record<Budget, Plan> = {
  tiny: { depths: [8, 14], width: 4, source: 'subset', trainPerClass: 6, testPerClass: 3, trainEvalPerClass: 3, batch: 20, epochs: 2, warmupEpochs: 1, lr: 0.1, weightDecay: 1e-4 },
  quick: { depths: [20, 56], width: 8, source: 'subset', trainPerClass: 100, testPerClass: 40, trainEvalPerClass: 40, batch: 32, epochs: 4, warmupEpochs: 1, lr: 0.1, weightDecay: 1e-4 },
  // full: 20,000 of the 60,000 training images (2,000 per class) for 5 epochs: 2 h 7 min on 2
  // cores shared with other runs (about an hour alone); all 60,000 for 6 epochs was an estimated
  // 3.6 h (the 56-layer nets run at ~75 img/s here).
  full: { depths: [20, 56], width: 16, source: 'full', trainPerClass: 2000, testPerClass: null, trainEvalPerClass: 500, batch: 128, epochs: 5, warmupEpochs: 0.25, lr: 0.1, weightDecay: 1e-4 },
};

interface NetSpec {
  name: string;
  kind: 'plain' | 'resnet';
  depth: number;
}

export interface DegradationEpoch {
  net: string;
  epoch: number;
  /** Running error and loss over the epoch's batches, train mode (the paper's training curve). */
  train_error: number;
  train_loss: number;
  /** Error on a fixed sample of training images in eval mode, after the epoch. */
  train_error_eval: number;
  test_error: number;
  test_loss: number;
  lr: number;
  seconds: number;
}

const netsOf = (p: Plan): NetSpec[] => [
  { name: `plain-${p.depths[0]}`, kind: 'plain', depth: p.depths[0] },
  { name: `plain-${p.depths[1]}`, kind: 'plain', depth: p.depths[1] },
  { name: `ResNet-${p.depths[0]}`, kind: 'resnet', depth: p.depths[0] },
  { name: `ResNet-${p.depths[1]}`, kind: 'resnet', depth: p.depths[1] },
];

async function run(opts: ExperimentOptions, log: (line: string) => void): Promise<ExperimentResult> {
  applyThreads(opts);
  const p = PLANS[opts.budget];
  const train = await fashion('train', p.source, p.trainPerClass, opts.seed);
  const test = await fashion('test', p.source, p.testPerClass, opts.seed);
  const trainSample = await fashion('train', p.source, p.trainEvalPerClass, opts.seed + 1);
  const loader = trainLoader(train, p.batch, opts.seed);
  const testLoader = evalLoader(test);
  const trainEvalLoader = evalLoader(trainSample);
  const totalSteps = p.epochs * loader.numBatches;
  // the paper's schedule in steps: after a warm-up, lr/10 at half and at three quarters of the rest
  const warmup = Math.round(p.warmupEpochs * loader.numBatches);
  const milestones = [warmup + Math.round((totalSteps - warmup) / 2), warmup + Math.round((3 * (totalSteps - warmup)) / 4)];
  log(`degradation: ${describeData(train)}, batch ${p.batch}, ${p.epochs} epochs (${totalSteps} steps), width ${p.width}`);

  const records: DegradationEpoch[] = [];
  const nets: { name: string; kind: string; depth: number; parameters: number; macs: number; seconds: number }[] = [];
  for (const net of netsOf(p)) {
    manualSeed(opts.seed); // every net starts from the same generator state
    const build = net.kind === 'plain' ? cifarPlain : cifarResNet;
    const model = build(net.depth, { inChannels: 1, width: p.width }) as Classifier;
    model.eval();
    const s = summary(model, zeros([1, 1, train.height, train.width]));
    const optimizer = new SGD(model.parameters(), { lr: p.lr, momentum: 0.9, weightDecay: p.weightDecay }) as unknown as Optimizer;
    // SequentialLR restarts the multistep schedule at 0 after the warm-up: milestones counted from there
    const steps = new MultiStepLR(optimizer, { milestones: milestones.map((m) => m - warmup), gamma: 0.1 });
    const scheduler = warmup > 0 ? new SequentialLR(optimizer, [new LinearLR(optimizer, { startFactor: 0.1, totalIters: warmup }), steps], [warmup]) : steps;
    let seconds = 0;
    for (let epoch = 0; epoch < p.epochs; epoch++) {
      const lr = optimizer.paramGroups[0]?.lr ?? p.lr;
      const st = trainEpoch(model, optimizer, loader, epoch, { scheduler });
      const te = evalError(model, testLoader);
      const tr = evalError(model, trainEvalLoader);
      seconds += st.seconds;
      records.push({ net: net.name, epoch: epoch + 1, train_error: st.error, train_loss: st.loss, train_error_eval: tr.error, test_error: te.error, test_loss: te.loss, lr, seconds: st.seconds });
      log(
        `${net.name} epoch ${epoch + 1}/${p.epochs}: training error ${formatPercent(st.error)} (running), ${formatPercent(tr.error)} (eval mode), test error ${formatPercent(te.error)}, ${(st.images / st.seconds).toFixed(0)} img/s`,
      );
    }
    nets.push({ name: net.name, kind: net.kind, depth: net.depth, parameters: s.totalParams, macs: s.totalMacs, seconds });
  }
  return report(p, opts.budget, records, nets, { train: describeData(train), test: describeData(test), trainSample: describeData(trainSample), totalSteps, milestones, warmup });
}

function report(
  p: Plan,
  budget: Budget,
  records: DegradationEpoch[],
  nets: { name: string; kind: string; depth: number; parameters: number; macs: number; seconds: number }[],
  info: { train: string; test: string; trainSample: string; totalSteps: number; milestones: number[]; warmup: number },
): ExperimentResult {
  const [shallow, deep] = p.depths;
  const last = (name: string) => records.filter((r) => r.net === name).at(-1) as DegradationEpoch;
  const final = Object.fromEntries(nets.map((n) => [n.name, last(n.name)]));
  const pS = final[`plain-${shallow}`] as DegradationEpoch;
  const pD = final[`plain-${deep}`] as DegradationEpoch;
  const rS = final[`ResNet-${shallow}`] as DegradationEpoch;
  const rD = final[`ResNet-${deep}`] as DegradationEpoch;
  // The question, decided from this run's numbers (running training error of the last epoch, as the paper's figure).
  const plainDegrades = pD.train_error > pS.train_error;
  const resnetHolds = rD.train_error <= rS.train_error;
  const plainDegradesEval = pD.train_error_eval > pS.train_error_eval;
  const resnetHoldsEval = rD.train_error_eval <= rS.train_error_eval;
  const reproduced = plainDegrades && resnetHolds;
  const pct = formatPercent;
  // how far apart the two ResNets end, in points of training error (0.1 resolution, kept in results.json)
  const resnetMargin = Number((100 * (rS.train_error - rD.train_error)).toFixed(1));
  const tie = Math.abs(resnetMargin) < 1 ? ` (${formatNumber(Math.abs(resnetMargin))} points apart: a tie within the noise of a single run)` : '';
  const verdict = reproduced
    ? `**Reproduced.** After ${p.epochs} epochs the deeper plain net trains worse: plain-${deep}'s training error is ${pct(pD.train_error)} against plain-${shallow}'s ${pct(pS.train_error)}. With shortcuts the extra depth does not hurt: ResNet-${deep} ends at ${pct(rD.train_error)}, ResNet-${shallow} at ${pct(rS.train_error)}${tie}.`
    : `**Not reproduced by this budget.** ${
        plainDegrades
          ? `The plain nets degrade (plain-${deep} ${pct(pD.train_error)} vs plain-${shallow} ${pct(pS.train_error)} training error)`
          : `The deeper plain net did not train worse here (plain-${deep} ${pct(pD.train_error)} vs plain-${shallow} ${pct(pS.train_error)} training error)`
      }, ${
        resnetHolds
          ? `and ResNet-${deep} is at or below ResNet-${shallow} (${pct(rD.train_error)} vs ${pct(rS.train_error)})`
          : `but ResNet-${deep} also ends above ResNet-${shallow} (${pct(rD.train_error)} vs ${pct(rS.train_error)}${tie})`
      }, after ${info.totalSteps} steps of batch ${p.batch} (the paper's curves run 64,000 steps of 128). ${budget === 'full' ? 'A longer schedule' : 'The --full run (all 60,000 images, more epochs)'} is where to look for the paper's picture.`;
  const evalSentence = `Measured in eval mode on ${info.trainSample} after the last epoch instead, the training errors are plain-${shallow} ${pct(pS.train_error_eval)}, plain-${deep} ${pct(pD.train_error_eval)}, ResNet-${shallow} ${pct(rS.train_error_eval)}, ResNet-${deep} ${pct(rD.train_error_eval)}: the plain nets ${plainDegradesEval ? 'degrade' : 'do not degrade'} and the ResNets ${resnetHoldsEval ? 'do not' : 'degrade too'} by this measure.`;
  const summary = [
    `Four nets with the same layers, two depths, with and without identity shortcuts, trained on the same batches of Fashion-MNIST with the same schedule (He et al. 2016, Fig. 1 and Fig. 6 in miniature).`,
    '',
    verdict,
    '',
    evalSentence,
    '',
    `Test errors after the last epoch: plain-${shallow} ${pct(pS.test_error)}, plain-${deep} ${pct(pD.test_error)}, ResNet-${shallow} ${pct(rS.test_error)}, ResNet-${deep} ${pct(rD.test_error)}.`,
  ].join('\n');

  const curveValues = (field: 'train_error' | 'test_error' | 'train_error_eval') =>
    records.map((r) => ({ net: r.net, epoch: r.epoch, error: r[field], family: r.net.startsWith('plain') ? 'plain' : 'ResNet' }));
  const order = nets.map((n) => n.name);
  const chart = (title: string, field: 'train_error' | 'test_error' | 'train_error_eval') =>
    lineChart({
      title,
      values: curveValues(field),
      x: { field: 'epoch', title: 'epoch' },
      y: { field: 'error', title: 'error', percent: true },
      color: { field: 'net', title: 'net', sort: order },
      dash: { field: 'family', title: 'family', sort: ['plain', 'ResNet'] },
    });
  const setup = [
    `Data: ${info.train} for training, ${info.test} for testing; no augmentation. Nets: the CIFAR ResNets of the paper (depth 6n+2, three stages of basic blocks, BatchNorm after every conv, option A shortcuts) and their plain twins (the same layers without shortcuts), first stage ${p.width} channels${p.width === 16 ? ' as in the paper' : ` (the paper has 16; narrower here to fit the budget)`}, one input channel.`,
    `Training: SGD, momentum 0.9, weight decay ${formatNumber(p.weightDecay)}, batch ${p.batch}, learning rate ${formatNumber(p.lr)} (reached by a linear warm-up from ${formatNumber(p.lr / 10)} over the first ${info.warmup} steps) divided by 10 after steps ${info.milestones.join(' and ')} of ${info.totalSteps} (the paper's schedule, shrunk; the paper starts its 110-layer net at ${formatNumber(p.lr / 10)} too). The same schedule for all four nets. Every net starts from the same seed and sees the same batches in the same order.`,
    `**Training error** is measured two ways. *Running* (the paper's curves): the share of wrong predictions over the epoch's mini-batches as they were trained on, in train mode (BatchNorm on batch statistics), while the weights were still moving. *Eval mode*: after the epoch, on a fixed sample of ${info.trainSample}, with BatchNorm's running statistics, as the test error is measured.`,
  ].join('\n\n');
  const finalTable = {
    columns: ['net', 'parameters', 'multiply-adds per image', 'training error (running)', 'training error (eval mode)', 'test error', 'training time (s)'],
    rows: nets.map((n) => {
      const r = final[n.name] as DegradationEpoch;
      return [n.name, n.parameters, n.macs, pct(r.train_error), pct(r.train_error_eval), pct(r.test_error), Number(n.seconds.toFixed(1))];
    }),
  };
  const epochTable = {
    columns: ['net', 'epoch', 'lr', 'training error (running)', 'training error (eval mode)', 'test error', 'test loss'],
    rows: records.map((r) => [r.net, r.epoch, r.lr, pct(r.train_error), pct(r.train_error_eval), pct(r.test_error), r.test_loss]),
  };
  return {
    title: `Degradation: plain-${shallow} vs plain-${deep} vs ResNet-${shallow} vs ResNet-${deep}`,
    summary,
    sections: [
      { heading: 'Setup', text: setup },
      {
        heading: 'Training error',
        text: 'Solid lines: plain nets; dashed: ResNets. The paper\'s claim is about this plot: if the deeper plain net is worse here, the problem is optimisation, not overfitting.',
        plots: [
          { file: 'training-error.svg', spec: chart('Training error (running, over each epoch)', 'train_error'), caption: 'Running training error per epoch, one line per net' },
          { file: 'training-error-eval.svg', spec: chart('Training error (eval mode, after each epoch)', 'train_error_eval'), caption: 'Training error in eval mode on a fixed sample of training images' },
        ],
      },
      {
        heading: 'Test error',
        text: 'The same nets on the test images, in eval mode.',
        plots: [{ file: 'test-error.svg', spec: chart('Test error', 'test_error'), caption: 'Test error per epoch, one line per net' }],
      },
      { heading: 'Numbers', text: 'After the last epoch:', tables: [finalTable] },
      { heading: 'Every epoch', text: 'The learning rate is the one the epoch started with.', tables: [epochTable] },
    ],
    data: {
      plan: p,
      nets,
      epochs: records,
      verdict: { reproduced, plainDegrades, resnetHolds, plainDegradesEval, resnetHoldsEval, resnetMarginPoints: resnetMargin, measure: 'running training error of the last epoch' },
      schedule: { totalSteps: info.totalSteps, milestones: info.milestones, warmup: info.warmup },
      data: { train: info.train, test: info.test, trainSample: info.trainSample },
    },
  };
}

export const degradation: Experiment = {
  name: 'degradation',
  about: 'plain-20/56 vs ResNet-20/56: the deeper plain net trains worse, the deeper ResNet does not',
  run,
};
