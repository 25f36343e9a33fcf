// gradient-flow: how big is the gradient of each conv layer, from the classifier back to the stem?
// The CIFAR nets of the ResNet paper (depth 6n+2) in five versions: plain or residual (option A
// shortcuts), each with BatchNorm after every conv or with no normalisation at all (an identity
// in its place), plus the plain net without normalisation at the "small random" init of pre-2015
// nets (N(0, 0.01²) weights). Each is measured on one fixed Fashion-MNIST batch at initialisation
// and again after a few SGD steps.
//
// What to look for, layer l having gradient g_l = dL/dW_l = (input of l) ⊗ (dL/d output of l):
// - plain + BN: BatchNorm divides each layer's output by its batch std, so the backward pass
//   multiplies by a Jacobian whose scale is above 1 on average; over L layers the gradient at the
//   stem grows geometrically (Yang et al. 2019, "A mean field theory of batch normalization").
// - plain, no norm: the product of L random Jacobians. He init keeps its variance near 1 per
//   layer, but N(0, 0.01²) shrinks forward signal and gradient alike at every layer; since
//   g_l multiplies the two, every layer's gradient shrinks with depth as a whole.
// - residual: ∂(x + F(x))/∂x = I + ∂F/∂x, so the identity path hands the gradient back unchanged
//   and the stem's gradient stays the size of the head's. Without a norm, though, each block adds
//   the variance of F(x) to x's, so activations and every gradient grow as 2^blocks.
import { DataLoader, type ImageDataset } from '../data/index.js';
import { F, type Tensor, manualSeed, models, nn, optim, tidy } from '../index.js';
import { type Budget, type Experiment, type ExperimentOptions, type ExperimentResult, type Plot, formatNumber, median } from './framework.js';
import { applyThreads, fashion } from './train_util.js';

interface Plan {
  depths: number[];
  batch: number;
  steps: number;
  /** Images per class in the training sample. */
  perClass: number;
}

const PLANS: Record<Budget, Plan> = {
  tiny: { depths: [8, 14], batch: 8, steps: 2, perClass: 4 },
  quick: { depths: [8, 20, 56], batch: 16, steps: 10, perClass: 100 },
  full: { depths: [8, 20, 56, 110], batch: 32, steps: 50, perClass: 500 },
};

const SGD = { lr: 0.01, momentum: 0.9 };

/** The five nets, in the order the plots list them. */
export const NETS = ['plain + BN', 'plain, no norm', 'plain, no norm, N(0, 0.01²) init', 'ResNet + BN', 'ResNet, no norm'] as const;
export type NetName = (typeof NETS)[number];
const SMALL_INIT: NetName = 'plain, no norm, N(0, 0.01²) init';

/** The gradient norms of one net on the probe batch. */
export interface Profile {
  /** ‖dL/dW‖ of every conv weight, stem first. */
  norms: number[];
  first: number;
  last: number;
  /** first / last: above 1 the gradient grows on its way back to the stem, below 1 it shrinks. */
  ratio: number;
  median: number;
  loss: number;
}

export interface NetRun {
  net: NetName;
  depth: number;
  convs: string[];
  init: Profile;
  trained: Profile;
  /** The loss of every training step (up to the first that was not finite). */
  trainLoss: number[];
  /** The first step whose loss was not finite, or null. */
  divergedAt: number | null;
  seconds: number;
}

function build(net: NetName, depth: number) {
  const noNorm = { inChannels: 1, normLayer: () => new nn.Identity() };
  switch (net) {
    case 'plain + BN':
      return models.cifarPlain(depth, { inChannels: 1 });
    case 'plain, no norm':
      return models.cifarPlain(depth, noNorm);
    case 'plain, no norm, N(0, 0.01²) init': {
      const m = models.cifarPlain(depth, noNorm);
      for (const [name, p] of m.namedParameters()) if (p.shape.length === 4 || name === 'fc.weight') nn.init.normal(p, 0, 0.01);
      return m;
    }
    case 'ResNet + BN':
      return models.cifarResNet(depth, { inChannels: 1 });
    case 'ResNet, no norm':
      return models.cifarResNet(depth, noNorm);
  }
}

type Net = ReturnType<typeof build>;

/** Forward and backward on the probe batch in training mode; the conv weights' gradient norms. */
function profile(model: Net, x: Tensor, y: Tensor): Profile {
  model.train();
  model.zeroGrad();
  const loss = tidy(() => {
    const l = F.crossEntropy(model.forward(x), y);
    l.backward();
    return l.item();
  });
  const norms = model
    .gradFlow()
    .filter((g) => g.shape.length === 4)
    .map((g) => g.norm);
  model.zeroGrad();
  const first = norms[0]!;
  const last = norms[norms.length - 1]!;
  return { norms, first, last, ratio: first / last, median: median(norms), loss };
}

async function sample(plan: Plan, seed: number): Promise<ImageDataset> {
  return fashion('train', 'subset', plan.perClass, seed);
}

export const gradientFlow: Experiment = {
  name: 'gradient-flow',
  about: 'per-layer gradient norms at init and after SGD steps: plain vs residual, with and without BatchNorm, depth 8 to 110',
  async run(opts: ExperimentOptions, log): Promise<ExperimentResult> {
    applyThreads(opts);
    const plan = PLANS[opts.budget];
    const ds = await sample(plan, opts.seed);
    const probe = new DataLoader(ds, { batchSize: plan.batch, shuffle: true, seed: opts.seed + 1 }).batchAt(0, 0);
    const loader = new DataLoader(ds, { batchSize: plan.batch, shuffle: true, seed: opts.seed, dropLast: true });
    const runs: NetRun[] = [];
    for (const depth of plan.depths) {
      for (const net of NETS) {
        const t0 = performance.now();
        manualSeed(opts.seed);
        const model = build(net, depth);
        const convs = [...model.namedParameters()].filter(([, p]) => p.shape.length === 4).map(([n]) => n);
        const init = profile(model, probe.x, probe.y);
        const opt = new optim.SGD(model.parameters(), SGD);
        const trainLoss: number[] = [];
        let divergedAt: number | null = null;
        model.train();
        for (let s = 0; s < plan.steps; s++) {
          const { x, y } = loader.batchAt(Math.floor(s / loader.numBatches), s % loader.numBatches);
          const l = tidy(() => {
            opt.zeroGrad();
            const loss = F.crossEntropy(model.forward(x), y);
            loss.backward();
            opt.step();
            return loss.item();
          });
          trainLoss.push(l);
          if (!Number.isFinite(l)) {
            divergedAt = s + 1; // the weights are garbage from here on: no point in more steps
            break;
          }
        }
        const trained = profile(model, probe.x, probe.y);
        const seconds = (performance.now() - t0) / 1000;
        runs.push({ net, depth, convs, init, trained, trainLoss, divergedAt, seconds });
        log(
          `${net} depth ${depth}: first/last ${formatNumber(init.ratio)} at init, ${formatNumber(trained.ratio)} after ${plan.steps} steps; ` +
            `loss ${formatNumber(trainLoss[0] ?? Number.NaN)} -> ${formatNumber(trainLoss.at(-1) ?? Number.NaN)} (${seconds.toFixed(1)} s)`,
        );
      }
    }
    return report(plan, runs, ds, opts);
  },
};

// ---------------------------------------------------------------- the report

/** Stem and last conv this far apart: the profile explodes or vanishes (two orders of magnitude). */
const SHAPE_FACTOR = 100;
/** The median layer this far off the shallowest twin's: the whole profile grows or sinks (one order). */
const LEVEL_FACTOR = 10;
type Verdict = 'explodes' | 'vanishes' | 'grows everywhere' | 'sinks everywhere' | 'flat';

/**
 * What happens to one net at the deepest depth, at init: the shape of its profile (stem vs last
 * conv, SHAPE_FACTOR apart) first, then its level against the shallowest twin (LEVEL_FACTOR).
 */
function verdict(deep: NetRun, shallow: NetRun): Verdict {
  if (underflowed(deep)) return 'sinks everywhere';
  const r = deep.init.ratio;
  if (!(r <= SHAPE_FACTOR)) return 'explodes'; // NaN from Inf/Inf (overflow) counts as exploding too
  if (r < 1 / SHAPE_FACTOR) return 'vanishes';
  const level = deep.init.median / shallow.init.median;
  if (level > LEVEL_FACTOR) return 'grows everywhere';
  if (level < 1 / LEVEL_FACTOR) return 'sinks everywhere';
  return 'flat';
}

/** Every conv gradient at init is exactly 0: float32 ran out of range on the way down (ratio 0/0). */
export const underflowed = (run: NetRun) => run.init.norms.every((n) => n === 0);

/** The per-layer factor behind a first/last ratio over L layers: ratio^(1/(L-1)). */
const perLayer = (run: NetRun) => run.init.ratio ** (1 / (run.init.norms.length - 1));

const f = formatNumber;

function why(net: NetName, v: Verdict, deep: NetRun, shallow: NetRun): string {
  const d = deep.depth;
  const s = shallow.depth;
  const shape = underflowed(deep)
    ? `every conv weight's gradient is exactly 0 at depth ${d} (below float32's smallest number: nothing reaches any layer), against a stem/last ratio of ${f(shallow.init.ratio)}x at depth ${s}`
    : `the stem's gradient is ${f(deep.init.ratio)}x the last conv's at depth ${d} (${f(shallow.init.ratio)}x at depth ${s}; ${f(perLayer(deep))}x per layer)`;
  const level = `the median layer's gradient is ${f(deep.init.median)} at depth ${d} against ${f(shallow.init.median)} at depth ${s}`;
  const expected: Record<NetName, Verdict[]> = {
    'plain + BN': ['explodes'],
    'plain, no norm': ['flat', 'sinks everywhere', 'vanishes'],
    'plain, no norm, N(0, 0.01²) init': ['vanishes', 'sinks everywhere'],
    'ResNet + BN': ['flat'],
    'ResNet, no norm': ['grows everywhere', 'flat'],
  };
  const reason: Record<NetName, string> = {
    'plain + BN':
      'BatchNorm rescales every layer to unit variance, and the backward pass through that rescaling amplifies the gradient a little at each layer; in a plain stack the factors multiply (Yang et al. 2019: BN nets without shortcuts have exploding gradients at init, however good the forward signal looks).',
    'plain, no norm':
      "He init sets each conv's weight variance to 2/fan so that one layer keeps the gradient's variance on average; the product of many random layers still drifts, and the signal that reaches the classifier (and with it every weight gradient) shrinks slowly with depth. No shortcut and no norm corrects the drift.",
    'plain, no norm, N(0, 0.01²) init':
      "with weights of std 0.01 each 3×3 conv scales a signal by about 0.01·√(9·C) ≪ 1, forward and backward. Layer l's weight gradient is its input (shrunk by the l-1 layers below) times the gradient at its output (shrunk by the L-l layers above), so every layer's gradient is shrunk L-1 times: the profile is level but the whole of it vanishes with depth, and SGD cannot move the weights. This is the vanishing gradient that stopped deep plain nets before He init and normalisation.",
    'ResNet + BN':
      'each block computes x + F(x), whose Jacobian is I + ∂F/∂x: the identity term hands the gradient back to the earlier layers unchanged, so the stem gets a gradient of the same size as the head however deep the net.',
    'ResNet, no norm':
      "the identity path keeps the profile level (stem and head stay in proportion), but without a norm every block adds F(x)'s variance to x's, so activations and with them every gradient grow by about 2x per block: the whole profile rises with depth, which is why unnormalised ResNets need a scaled-down residual branch (e.g. Fixup, or BN's γ = 0 in the last layer of each block).",
  };
  const words: Record<Verdict, string> = {
    explodes: 'explodes toward the input',
    vanishes: 'vanishes toward the input',
    'grows everywhere': 'stays level but grows everywhere with depth',
    'sinks everywhere': 'stays level but sinks everywhere with depth',
    flat: 'stays flat',
  };
  const surprise = expected[net].includes(v) ? '' : ' (not what the theory predicts at this depth: with more depth or another seed it may show more clearly)';
  return `- **${net}** ${words[v]}${surprise}: ${shape}; ${level}. Why: ${reason[net]}`;
}

function trainedWords(runs: NetRun[], steps: number): string {
  const deepest = Math.max(...runs.map((r) => r.depth));
  const lines = runs
    .filter((r) => r.depth === deepest)
    .map((r) => {
      if (r.divergedAt !== null) return `- ${r.net}: diverged: the loss of step ${r.divergedAt} was ${f(r.trainLoss[r.divergedAt - 1]!)} (first step: ${f(r.trainLoss[0]!)}), and training stopped there.`;
      const start = r.trainLoss[0]!;
      const end = r.trainLoss.at(-1)!;
      if (r.trained.norms.every((n) => n === 0)) return `- ${r.net}: loss ${f(start)} -> ${f(end)}; every gradient is still exactly 0, so SGD has not moved a single conv weight.`;
      return `- ${r.net}: loss ${f(start)} -> ${f(end)}; first/last ratio ${f(r.init.ratio)} -> ${f(r.trained.ratio)}.`;
    });
  const bn = runs.find((r) => r.depth === deepest && r.net === 'plain + BN')!;
  const settled =
    bn.divergedAt === null && bn.init.ratio > SHAPE_FACTOR && bn.trained.ratio < bn.init.ratio / SHAPE_FACTOR
      ? `\n\nThe plain net with BN no longer explodes after training (ratio ${f(bn.init.ratio)} -> ${f(bn.trained.ratio)}): its large early gradients made the early weights larger, and a conv followed by BatchNorm computes the same function at any scale of its weights while its gradient shrinks as 1/‖W‖, so the layers that got the biggest steps now get the smallest gradients (BN's automatic step-size tuning; Arora et al. 2018). The explosion is a problem of the first steps, one reason why deep nets are often started with a small learning rate (He et al. 2016 warm up ResNet-110 at 0.01).`
      : '';
  return `After ${steps} SGD steps (lr ${SGD.lr}, momentum ${SGD.momentum}) at depth ${deepest}:\n\n${lines.join('\n')}${settled}`;
}

function finite(x: number): boolean {
  return Number.isFinite(x) && x > 0;
}

function plots(runs: NetRun[], steps: number): Plot[] {
  const phase = (p: 'init' | 'trained') => (p === 'init' ? 'at initialisation' : `after ${steps} steps`);
  const layerValues = runs.flatMap((r) =>
    (['init', 'trained'] as const).flatMap((p) =>
      r[p].norms.map((norm, i) => ({ layer: i + 1, norm, net: r.net, depth: `depth ${r.depth}`, phase: phase(p) })).filter((v) => finite(v.norm)),
    ),
  ).filter((v) => v.net !== SMALL_INIT); // its 1e-8 .. 1e-40 would squash the other four into a line
  const depthValues = runs.flatMap((r) =>
    (['init', 'trained'] as const).map((p) => ({ depth: r.depth, ratio: r[p].ratio, median: r[p].median, net: r.net, phase: phase(p) })),
  );
  // one colour per net in every plot, whether or not a plot shows all five
  const color = { field: 'net', type: 'nominal', title: 'net', scale: { domain: [...NETS] }, legend: { labelLimit: 400 } };
  const log = { type: 'log' };
  return [
    {
      file: 'grad-norms.svg',
      caption: `Gradient norm of every conv weight, stem (layer 1) to the last conv, log scale; one line per net, one row per depth (the ${SMALL_INIT} net, orders of magnitude below, is in the level plot; zeros and non-finite norms are left out)`,
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        data: { values: layerValues },
        facet: { row: { field: 'depth', type: 'nominal', title: null, sort: runs.map((r) => `depth ${r.depth}`) }, column: { field: 'phase', type: 'nominal', title: null, sort: [phase('init'), phase('trained')] } },
        spec: {
          width: 320,
          height: 160,
          mark: { type: 'line', point: { size: 12 } },
          encoding: {
            x: { field: 'layer', type: 'quantitative', title: 'conv layer (1 = stem)' },
            y: { field: 'norm', type: 'quantitative', title: '‖dL/dW‖', scale: log },
            color,
          },
        },
      },
    },
    {
      file: 'ratio-vs-depth.svg',
      caption: "The stem conv's gradient over the last conv's, against depth (log scale): above 1 the gradient grows on its way back, below 1 it shrinks",
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        data: { values: depthValues.filter((v) => finite(v.ratio)) },
        facet: { column: { field: 'phase', type: 'nominal', title: null, sort: [phase('init'), phase('trained')] } },
        spec: {
          width: 320,
          height: 220,
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'depth', type: 'quantitative', title: 'depth (layers)' },
            y: { field: 'ratio', type: 'quantitative', title: 'first / last conv gradient norm', scale: log },
            color,
          },
        },
      },
    },
    {
      file: 'level-vs-depth.svg',
      caption: 'The median conv gradient norm against depth (log scale): the level of the whole profile',
      spec: {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        data: { values: depthValues.filter((v) => finite(v.median)) },
        facet: { column: { field: 'phase', type: 'nominal', title: null, sort: [phase('init'), phase('trained')] } },
        spec: {
          width: 320,
          height: 220,
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'depth', type: 'quantitative', title: 'depth (layers)' },
            y: { field: 'median', type: 'quantitative', title: 'median ‖dL/dW‖ over the convs', scale: log },
            color,
          },
        },
      },
    },
  ];
}

function report(plan: Plan, runs: NetRun[], ds: ImageDataset, opts: ExperimentOptions): ExperimentResult {
  const deepest = Math.max(...plan.depths);
  const shallowest = Math.min(...plan.depths);
  const pick = (net: NetName, depth: number) => runs.find((r) => r.net === net && r.depth === depth)!;
  const verdicts = NETS.map((net) => ({ net, verdict: verdict(pick(net, deepest), pick(net, shallowest)) }));
  const bullets = NETS.map((net, i) => why(net, verdicts[i]!.verdict, pick(net, deepest), pick(net, shallowest)));
  const summary = [
    `Gradient norms of every conv layer of CIFAR-style nets (depth ${plan.depths.join(', ')}) on one batch of ${plan.batch} Fashion-MNIST images, at initialisation and after ${plan.steps} SGD steps. At depth ${deepest}, at initialisation:`,
    '',
    ...bullets,
    '',
    `A net "explodes" or "vanishes" here when its stem and last conv gradients are more than ${SHAPE_FACTOR}x apart; it "grows" or "sinks everywhere" when its median layer is more than ${LEVEL_FACTOR}x off its depth-${shallowest} twin; otherwise it is flat.`,
  ].join('\n');
  const table = {
    columns: ['net', 'depth', 'first/last at init', 'median at init', 'first/last after steps', 'median after steps', 'loss: first step', 'loss: last step'],
    rows: runs.map((r) => [r.net, r.depth, r.init.ratio, r.init.median, r.trained.ratio, r.trained.median, r.trainLoss[0] ?? Number.NaN, r.trainLoss.at(-1) ?? Number.NaN]),
  };
  const [norms, ratio, level] = plots(runs, plan.steps);
  return {
    title: 'Gradient flow: plain vs residual, with and without BatchNorm',
    summary,
    sections: [
      {
        heading: 'Per-layer gradient norms',
        text: `Each conv weight's gradient norm ‖dL/dW‖ on the same probe batch (training mode, so BatchNorm uses the batch's statistics), from the stem (layer 1) to the last conv before the classifier. Every net starts from seed ${opts.seed}.`,
        plots: [norms!],
      },
      {
        heading: 'Shape and level against depth',
        text: 'The ratio of the stem\'s gradient to the last conv\'s says whether the gradient grows or shrinks on its way back; the median says how large the gradients are overall.',
        plots: [ratio!, level!],
        tables: [table],
      },
      {
        heading: 'After training steps',
        text: trainedWords(runs, plan.steps),
      },
      {
        heading: 'Setup',
        text: [
          `- Data: ${ds.length} training images (${plan.perClass} per class) from ${ds.source}; the probe batch is ${plan.batch} of them, fixed for every net.`,
          `- Nets: models.cifarPlain / models.cifarResNet (option A shortcuts), width 16, 1 input channel; "no norm" puts an identity where BatchNorm was. Convs start from He init (normal, fan_out) unless stated.`,
          `- Training: ${plan.steps} steps of SGD (lr ${SGD.lr}, momentum ${SGD.momentum}), batch ${plan.batch}, the same batches for every net.`,
        ].join('\n'),
      },
    ],
    data: { plan, sgd: SGD, thresholds: { shape: SHAPE_FACTOR, level: LEVEL_FACTOR }, verdicts, runs },
  };
}
