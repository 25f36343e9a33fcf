// groups: how many groups should a ResNeXt convolution have? Three measurements.
//
// 1. The bottleneck of resnet50's conv2 stage (256 -> width -> width -> 256 channels at 56×56)
//    in Xie et al.'s (2017) Table 2 templates, which keep parameters and multiply-adds about equal
//    while splitting the 3×3 conv into C groups of d channels: 1×64d, 2×40d, 4×24d, 8×14d, 32×4d,
//    and the extreme of depthwise (groups = channels, 128×1d). A grouped 3×3 conv with C groups
//    has 9·w²/C weights and as many multiply-adds per pixel, so wider-and-grouped costs the same
//    on paper; the wall clock disagrees, because many thin GEMMs use the machine worse than one
//    fat one. Both are measured here, forward and training step, medians in the same run.
// 2. The whole torchvision models where they exist: resnet50 (1×64d) and resnext50_32x4d (32×4d).
// 3. Each template trained at equal budget: a CIFAR-style ResNet whose first 3×3 conv per block is
//    grouped, with the width picked (a multiple of the groups) to match the ungrouped net's
//    parameter count, same epochs, same data, same seed; test accuracy.
import { type Tensor, manualSeed, models, noGrad, optim, randn, summary, tidy } from '../index.js';
import { type Budget, type Experiment, type ExperimentOptions, type ExperimentResult, formatNumber, formatPercent, median } from './framework.js';
import { applyThreads, evalError, evalLoader, fashion, trainEpoch, trainLoader } from './train_util.js';

interface Plan {
  /** The bottleneck's input: batch and spatial size (56 is resnet50's conv2 stage at 224²). */
  batch: number;
  spatial: number;
  /** Timed rounds (each times every template once, after one warm-up call each). */
  runs: number;
  /** The CIFAR net trained per template. */
  depth: number;
  /** The embedded subset (500 + 100 per class) or the installed full set (6000 + 1000). */
  source: 'subset' | 'full';
  perClass: number;
  /** null: the whole test split. */
  testPerClass: number | null;
  epochs: number;
  batchSize: number;
}

const PLANS: Record<Budget, Plan> = {
  tiny: { batch: 1, spatial: 8, runs: 1, depth: 8, source: 'subset', perClass: 3, testPerClass: 2, epochs: 1, batchSize: 10 },
  quick: { batch: 2, spatial: 56, runs: 7, depth: 8, source: 'subset', perClass: 100, testPerClass: null, epochs: 3, batchSize: 50 },
  // full: 4 epochs of 5,000 images per template: 40 min on 1 thread at load 5 (6 epochs were
  // estimated at 50 min on a quiet machine)
  full: { batch: 8, spatial: 56, runs: 9, depth: 20, source: 'full', perClass: 500, testPerClass: null, epochs: 4, batchSize: 64 },
};

const SGD = { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 };

/** C groups of d channels each in the 3×3 conv (d = width / C). */
export interface Template {
  name: string;
  groups: number;
  /** Width per group (torchvision's width_per_group). */
  d: number;
}

/** Xie et al. 2017, Table 2 (conv2 stage of resnet50), plus depthwise at 32×4d's width. */
export const TEMPLATES: readonly Template[] = [
  { name: '1×64d', groups: 1, d: 64 },
  { name: '2×40d', groups: 2, d: 40 },
  { name: '4×24d', groups: 4, d: 24 },
  { name: '8×14d', groups: 8, d: 14 },
  { name: '32×4d', groups: 32, d: 4 },
  { name: '128×1d', groups: 128, d: 1 },
];

export interface BlockRow {
  template: string;
  groups: number;
  width: number;
  params: number;
  macs: number;
  forwardMs: number;
  trainStepMs: number;
  /** Multiply-adds per second of the forward: what the kernels achieve on this shape. */
  forwardGmacs: number;
}

/** resnet50's conv2-stage bottleneck (256 in, planes 64, 256 out) as template `t`. */
export function bottleneck(t: Template) {
  return new models.Bottleneck(256, 64, { groups: t.groups, baseWidth: t.d });
}

/**
 * Time every template's forward and training step in rounds: one call of each per round, the
 * templates in turn, after a warm-up call of each. A slow phase of this shared machine then hits
 * all templates alike, and the median over rounds drops it.
 */
function measureBlocks(plan: Plan, log: (line: string) => void): BlockRow[] {
  const x = randn([plan.batch, 256, plan.spatial, plan.spatial]);
  const cases = TEMPLATES.map((t) => {
    manualSeed(0);
    const block = bottleneck(t);
    const s = summary(block, x);
    block.train();
    const opt = new optim.SGD(block.parameters(), { lr: 1e-3 });
    const forward = () => tidy(() => void noGrad(() => block.forward(x)));
    const step = () =>
      tidy(() => {
        opt.zeroGrad();
        block.forward(x).square().mean().backward();
        opt.step();
      });
    return { t, s, forward, step, forwardMs: [] as number[], stepMs: [] as number[] };
  });
  const timed = (fn: () => void) => {
    const t0 = performance.now();
    fn();
    return performance.now() - t0;
  };
  for (const c of cases) {
    c.forward();
    c.step();
  }
  for (let r = 0; r < plan.runs; r++) {
    for (const c of cases) {
      c.forwardMs.push(timed(c.forward));
      c.stepMs.push(timed(c.step));
    }
  }
  return cases.map(({ t, s, forwardMs, stepMs }) => {
    const row = { template: t.name, groups: t.groups, width: t.groups * t.d, params: s.totalParams, macs: s.totalMacs, forwardMs: median(forwardMs), trainStepMs: median(stepMs), forwardGmacs: 0 };
    row.forwardGmacs = row.macs / (row.forwardMs * 1e6);
    log(`bottleneck ${t.name}: ${row.params} params, ${formatNumber(row.macs / 1e6)} M MACs, forward ${formatNumber(row.forwardMs)} ms, train step ${formatNumber(row.trainStepMs)} ms`);
    return row;
  });
}

const countParams = (m: { parameters(): Tensor[] }) => m.parameters().reduce((n, p) => n + p.numel(), 0);

/**
 * Parameters of a torchvision bottleneck ResNet/ResNeXt from its shape alone (building resnet50
 * means drawing 25 M random weights: seconds to minutes on a busy machine). Stem 7×7 conv + BN;
 * per block 1×1 (in -> w), grouped 3×3 (w -> w, 9·w²/C weights), 1×1 (w -> 4p), a BN (γ, β) after
 * each, and a 1×1 projection + BN where the shape changes (each stage's first block); then fc.
 * w = floor(p·d/64)·C for planes p = 64, 128, 256, 512, as torchvision computes it.
 */
export function bottleneckResNetParams(layers: readonly number[], groups: number, widthPerGroup: number, numClasses = 1000, inChannels = 3): number {
  let n = 7 * 7 * inChannels * 64 + 2 * 64;
  let inPlanes = 64;
  layers.forEach((blocks, stage) => {
    const planes = 64 * 2 ** stage;
    const w = Math.floor((planes * widthPerGroup) / 64) * groups;
    const out = 4 * planes;
    for (let b = 0; b < blocks; b++) {
      n += inPlanes * w + 2 * w + (9 * w * w) / groups + 2 * w + w * out + 2 * out;
      if (b === 0 && (stage > 0 || inPlanes !== out)) n += inPlanes * out + 2 * out;
      inPlanes = out;
    }
  });
  return n + inPlanes * numClasses + numClasses;
}

/** The torchvision models built from the first and the fifth template. */
export const WHOLE_MODELS = [
  { model: 'resnet50', template: '1×64d', layers: [3, 4, 6, 3], groups: 1, widthPerGroup: 64, build: () => models.resnet50() },
  { model: 'resnext50_32x4d', template: '32×4d', layers: [3, 4, 6, 3], groups: 32, widthPerGroup: 4, build: () => models.resnext50_32x4d() },
] as const;

export interface CifarConfig {
  name: string;
  groups: number;
  width: number;
  params: number;
}

/**
 * The CIFAR net's templates: groups 1, 2, 4, 8 and groups = width (depthwise in the first stage),
 * each at the width (a multiple of its groups) whose parameter count is closest to groups 1 at
 * width 16, the paper's CIFAR net.
 */
export function cifarConfigs(depth: number): CifarConfig[] {
  const params = (groups: number, width: number) => countParams(models.cifarResNet(depth, { inChannels: 1, groups, width }));
  const target = params(1, 16);
  const out: CifarConfig[] = [{ name: '1×16d', groups: 1, width: 16, params: target }];
  const closest = (candidates: number[], groupsOf: (w: number) => number) => {
    let best = { width: 0, params: 0, gap: Number.POSITIVE_INFINITY };
    for (const w of candidates) {
      const p = params(groupsOf(w), w);
      if (Math.abs(p - target) < best.gap) best = { width: w, params: p, gap: Math.abs(p - target) };
    }
    return best;
  };
  for (const g of [2, 4, 8]) {
    const b = closest([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16].map((k) => g * k).filter((w) => w >= 16 && w <= 40), () => g);
    out.push({ name: `${g}×${b.width / g}d`, groups: g, width: b.width, params: b.params });
  }
  const dw = closest([16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26], (w) => w);
  out.push({ name: `${dw.width}×1d`, groups: dw.width, width: dw.width, params: dw.params });
  return out;
}

export interface TrainRow extends CifarConfig {
  macs: number;
  trainError: number;
  testAccuracy: number;
  imagesPerS: number;
  seconds: number;
}

export const groups: Experiment = {
  name: 'groups',
  about: 'ResNeXt templates (1×64d ... 32×4d, depthwise): parameters, multiply-adds, measured time, accuracy at equal budget',
  async run(opts: ExperimentOptions, log): Promise<ExperimentResult> {
    applyThreads(opts);
    const plan = PLANS[opts.budget];

    const blocks = measureBlocks(plan, log);

    // The tiny budget (tests) counts by shape only; the others also build the model and count its tensors.
    const whole = WHOLE_MODELS.map((w) => {
      const params = bottleneckResNetParams(w.layers, w.groups, w.widthPerGroup);
      const built = opts.budget === 'tiny' ? null : countParams(w.build());
      log(`${w.model}: ${params} parameters by shape${built === null ? '' : `, ${built} in the built model`}`);
      return { model: w.model, template: w.template, params, built };
    });

    const train = await fashion('train', plan.source, plan.perClass, opts.seed);
    const test = await fashion('test', plan.source, plan.testPerClass, opts.seed);
    const trained: TrainRow[] = [];
    const configs = cifarConfigs(plan.depth);
    // A few throwaway steps first, so the first template's img/s is not the one that pays for V8's warm-up.
    const warm = models.cifarResNet(plan.depth, { inChannels: 1 });
    trainEpoch(warm, new optim.SGD(warm.parameters(), SGD), trainLoader(train, plan.batchSize, opts.seed), 0, { maxSteps: 3 });
    for (const c of configs) {
      manualSeed(opts.seed);
      const model = models.cifarResNet(plan.depth, { inChannels: 1, groups: c.groups, width: c.width });
      const macs = summary(model, randn([1, 1, train.height, train.width])).totalMacs;
      const loader = trainLoader(train, plan.batchSize, opts.seed);
      const opt = new optim.SGD(model.parameters(), SGD);
      const scheduler = new optim.CosineAnnealingLR(opt, { tMax: plan.epochs * loader.numBatches });
      let seconds = 0;
      let images = 0;
      let trainError = Number.NaN;
      for (let e = 0; e < plan.epochs; e++) {
        const s = trainEpoch(model, opt, loader, e, { scheduler });
        seconds += s.seconds;
        images += s.images;
        trainError = s.error;
      }
      const testAccuracy = 1 - evalError(model, evalLoader(test)).error;
      const row = { ...c, macs, trainError, testAccuracy, imagesPerS: images / seconds, seconds };
      trained.push(row);
      log(`cifarResNet${plan.depth} ${c.name}: ${c.params} params, test accuracy ${formatPercent(testAccuracy)}, ${formatNumber(row.imagesPerS)} img/s`);
    }
    return report(plan, blocks, whole, trained, { train: train.length, test: test.length, source: train.source });
  },
};

// ---------------------------------------------------------------- the report

const f = formatNumber;

function report(
  plan: Plan,
  blocks: BlockRow[],
  whole: { model: string; template: string; params: number; built: number | null }[],
  trained: TrainRow[],
  dataInfo: { train: number; test: number; source: string },
): ExperimentResult {
  const base = blocks[0]!;
  const dense = blocks.filter((b) => b.groups <= 32);
  const slowest = blocks.reduce((a, b) => (b.trainStepMs > a.trainStepMs ? b : a));
  const dw = blocks[blocks.length - 1]!;
  const macSpread = Math.max(...dense.map((b) => b.macs)) / Math.min(...dense.map((b) => b.macs));
  const timeSpread = Math.max(...dense.map((b) => b.trainStepMs)) / Math.min(...dense.map((b) => b.trainStepMs));
  const best = trained.reduce((a, b) => (b.testAccuracy > a.testAccuracy ? b : a));
  const worst = trained.reduce((a, b) => (b.testAccuracy < a.testAccuracy ? b : a));
  const accSpread = best.testAccuracy - worst.testAccuracy;
  // One test image is worth 1/n of accuracy; a binomial standard error at this accuracy gives the noise floor.
  const noise = Math.sqrt((best.testAccuracy * (1 - best.testAccuracy)) / dataInfo.test);
  // two independent accuracies: the difference has √2 times the standard error of each
  const noiseDiff = Math.SQRT2 * noise;

  const fastest = dense.reduce((a, b) => (b.trainStepMs < a.trainStepMs ? b : a));
  const slowDense = dense.reduce((a, b) => (b.trainStepMs > a.trainStepMs ? b : a));
  const dwMacs = dw.macs / base.macs;
  const dwTime = dw.trainStepMs / base.trainStepMs;
  const summary = [
    `The five templates of Xie et al. (Table 2) cost the same on paper: the bottleneck of resnet50's conv2 stage has between ${f(Math.min(...dense.map((b) => b.params)))} and ${f(Math.max(...dense.map((b) => b.params)))} parameters and its multiply-adds differ by at most ${f((macSpread - 1) * 100)}% across them. ` +
      `Measured, a training step takes from ${f(fastest.trainStepMs)} ms (${fastest.template}) to ${f(slowDense.trainStepMs)} ms (${slowDense.template}), ${f(timeSpread)}x apart` +
      (timeSpread >= 1.25
        ? ': equal FLOPs, unequal wall time. A grouped conv is C small GEMMs instead of one large one, and how well each fills the SIMD units and caches decides the time, not the count of multiply-adds.'
        : timeSpread >= 1.1
          ? `: more than the ${f((macSpread - 1) * 100)}% the FLOPs differ by, but within 1.25x; at these group sizes the grouped kernels nearly keep up with the dense one on this machine.`
          : ': about what the FLOPs predict; at these group sizes the grouped kernels keep up with the dense one on this machine.') +
      ` Depthwise (${dw.template}, groups = channels) does ${f(dwMacs)}x the multiply-adds of 1×64d and takes ${f(dwTime)}x its time (forward at ${f(dw.forwardGmacs)} GMAC/s against ${f(base.forwardGmacs)} GMAC/s for 1×64d)` +
      (dwTime >= 1.25 * dwMacs
        ? dw.forwardGmacs < base.forwardGmacs / 1.25
          ? ': each output channel reads a single input channel, so there is little arithmetic per byte moved and no large GEMM to keep the machine busy. This is where FLOPs and wall time part most.'
          : ': its forward keeps up with the dense conv here, its backward does not. Equal FLOPs, unequal time.'
        : '.') +
      (slowest === dw ? '' : ` The slowest template of all is ${slowest.template}.`),
    '',
    `Whole models: resnet50 (1×64d) has ${whole[0]!.params} parameters and resnext50_32x4d (32×4d) ${whole[1]!.params}: ${f((1 - whole[1]!.params / whole[0]!.params) * 100)}% fewer for the same layout (the test checks both counts against torchvision's).`,
    '',
    `Trained at equal budget (cifarResNet${plan.depth}, ${plan.epochs} epochs on ${dataInfo.train} images, parameters matched within ${f(Math.max(...trained.map((t) => Math.abs(t.params / trained[0]!.params - 1))) * 100)}%), test accuracy ranges from ${formatPercent(worst.testAccuracy)} (${worst.name}) to ${formatPercent(best.testAccuracy)} (${best.name}). ` +
      (accSpread <= 2 * noiseDiff
        ? `That spread is within twice the standard error of a difference of two accuracies on ${dataInfo.test} test images (±${formatPercent(noiseDiff)}), so this budget cannot rank the templates: at about equal parameters, grouping neither helped nor hurt measurably here.`
        : `That spread is more than twice the standard error of a difference of two accuracies on ${dataInfo.test} test images (±${formatPercent(noiseDiff)}): at this budget ${best.name} trained best` +
          (Math.abs(best.params / trained[0]!.params - 1) > 0.05 || Math.abs(worst.params / trained[0]!.params - 1) > 0.05
            ? `, though with ${f(best.params)} parameters against ${f(worst.params)} for ${worst.name}, part of the gap may be the parameter count rather than the groups.`
            : '.')),
  ].join('\n');

  const blockTable = {
    columns: ['template', 'groups', 'width', 'parameters', 'MACs (M)', 'forward (ms)', 'train step (ms)', 'forward GMAC/s'],
    rows: blocks.map((b) => [b.template, b.groups, b.width, b.params, b.macs / 1e6, b.forwardMs, b.trainStepMs, b.forwardGmacs]),
  };
  const wholeTable = {
    columns: ['model', 'template', 'parameters (by shape)', 'parameters (built resgrad model)'],
    rows: whole.map((w) => [w.model, w.template, w.params, w.built ?? 'not built (tiny budget)']),
  };
  const trainTable = {
    columns: ['template', 'groups', 'width', 'parameters', 'vs 1×16d', 'MACs (M)', 'train error (last epoch)', 'test accuracy', 'img/s'],
    rows: trained.map((t) => [t.name, t.groups, t.width, t.params, `${f((t.params / trained[0]!.params - 1) * 100)}%`, t.macs / 1e6, t.trainError, t.testAccuracy, t.imagesPerS]),
  };
  const sortTemplates = blocks.map((b) => b.template);
  // Each measure relative to 1×64d's: multiply-adds stay at ~1 while the times move.
  const measures = ['multiply-adds', 'forward time', 'training-step time'];
  const relative = blocks.flatMap((b) => [
    { template: b.template, measure: measures[0], ratio: b.macs / base.macs },
    { template: b.template, measure: measures[1], ratio: b.forwardMs / base.forwardMs },
    { template: b.template, measure: measures[2], ratio: b.trainStepMs / base.trainStepMs },
  ]);
  return {
    title: 'Choosing the number of groups: parameters, multiply-adds, time and accuracy',
    summary,
    sections: [
      {
        heading: 'One bottleneck, six templates',
        text: `resnet50's conv2-stage bottleneck (256 -> w -> w -> 256 channels, the 3×3 conv in C groups) on a [${plan.batch}, 256, ${plan.spatial}, ${plan.spatial}] input. Parameters and multiply-adds from summary(); times are medians of ${plan.runs} rounds after a warm-up, each round timing every template once in turn (training step: forward, backward of mean(y²), SGD update).`,
        tables: [blockTable],
        plots: [
          {
            file: 'macs-vs-time.svg',
            caption: 'Multiply-adds, forward time and training-step time of each template, relative to 1×64d: equal bars would mean FLOPs predict time',
            spec: {
              $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
              data: { values: relative },
              width: 480,
              height: 260,
              layer: [
                {
                  mark: { type: 'bar' },
                  encoding: {
                    x: { field: 'template', type: 'nominal', title: 'template (groups × width per group)', sort: sortTemplates, axis: { labelAngle: 0 } },
                    xOffset: { field: 'measure', type: 'nominal', sort: measures },
                    y: { field: 'ratio', type: 'quantitative', title: 'relative to 1×64d' },
                    color: { field: 'measure', type: 'nominal', title: null, sort: measures, legend: { orient: 'top' } },
                  },
                },
                { mark: { type: 'rule', strokeDash: [4, 4] }, encoding: { y: { datum: 1 } } },
              ],
            },
          },
        ],
      },
      {
        heading: 'Whole models',
        text: "Parameter counts of the torchvision models built from the first and fifth templates: from the layer shapes, and from the tensors of resgrad's own model (models.resnet50(), models.resnext50_32x4d()).",
        tables: [wholeTable],
      },
      {
        heading: 'Equal-budget training',
        text: `cifarResNet${plan.depth} (1 input channel) with each block's first 3×3 conv grouped, the width chosen (a multiple of the groups) to match the parameters of the ungrouped width-16 net. ${plan.epochs} epochs of SGD (lr ${SGD.lr}, cosine to 0, momentum ${SGD.momentum}, weight decay ${SGD.weightDecay}), batch ${plan.batchSize}, on ${dataInfo.train} training images from ${dataInfo.source}; accuracy on ${dataInfo.test} test images.`,
        tables: [trainTable],
        plots: [
          {
            file: 'accuracy-vs-groups.svg',
            caption: 'Test accuracy against the number of groups (log scale), parameters about matched (the table gives each gap); the bar is ±1 binomial standard error of the test set',
            spec: {
              $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
              data: { values: trained.map((t) => ({ groups: t.groups, accuracy: t.testAccuracy, lo: t.testAccuracy - noise, hi: t.testAccuracy + noise, template: t.name })) },
              width: 420,
              height: 240,
              layer: [
                { mark: { type: 'rule' }, encoding: { x: { field: 'groups', type: 'quantitative', scale: { type: 'log', base: 2 } }, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
                {
                  mark: { type: 'line', point: true },
                  encoding: {
                    x: { field: 'groups', type: 'quantitative', title: 'groups', scale: { type: 'log', base: 2 } },
                    y: { field: 'accuracy', type: 'quantitative', title: 'test accuracy', scale: { zero: false }, axis: { format: '.0%' } },
                  },
                },
                { mark: { type: 'text', dy: -10 }, encoding: { x: { field: 'groups', type: 'quantitative' }, y: { field: 'accuracy', type: 'quantitative' }, text: { field: 'template' } } },
              ],
            },
          },
        ],
      },
    ],
    data: { plan, sgd: SGD, blocks, whole, trained, testNoise: noise, testNoiseOfDifference: noiseDiff, data: dataInfo },
  };
}
