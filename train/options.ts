// `resgrad train` flags: parsed with node:util's parseArgs, then every value checked before any
// work starts. A bad value is a UsageError that names the flag, what it takes and what it got.
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { NORM_KINDS, type NormKind, UsageError, modelSpec, resolveShape } from './models.js';

export type OptimizerKind = 'sgd' | 'adam' | 'adamw';
export type ScheduleKind = 'constant' | 'step' | 'multistep' | 'cosine';
export type SourceKind = 'auto' | 'full' | 'subset';

/** Everything a run is made of; config.json holds it, so a run can be repeated or resumed. */
export interface TrainOptions {
  model: string;
  norm: NormKind;
  groups: number | null;
  width: number | null;
  data: string | null;
  source: SourceKind;
  classes: number[] | null;
  perClass: number | null;
  testPerClass: number | null;
  cropPadding: number;
  hflip: boolean;
  epochs: number;
  batch: number;
  optimizer: OptimizerKind;
  lr: number;
  momentum: number;
  wd: number;
  schedule: ScheduleKind;
  milestones: number[];
  stepSize: number | null;
  gamma: number;
  warmup: number;
  seed: number;
  device: 'cpu' | 'gpu';
  gpuMode: string;
  threads: number | null;
  out: string | null;
  checkpointEvery: number;
  logEvery: number;
  init: string | null;
  freeze: string | null;
}

/** How this invocation behaves (not part of the run: may differ between a run and its resume). */
export interface Presentation {
  quiet: boolean;
  json: boolean;
  resume: string | null;
}

/**
 * The default run is the README's main job. Measured on the embedded subset (2-core AMD EPYC
 * shared with other work, load 8-15, 2 threads): ResNet-8 for 8 epochs of batch 64 reached
 * 86.5% test accuracy (ResNet-20 for 3 epochs, about as many multiply-adds: 83.5%; ResNet-8
 * with crop and flip augmentation: 82.4%, too few epochs to pay off; with 1 epoch of warm-up:
 * 86.0%). It trains about 300 images per CPU-second on one thread: ~2 minutes on 2 idle cores.
 */
export const DEFAULTS: TrainOptions = {
  model: 'cifarResNet8',
  norm: 'bn',
  groups: null,
  width: null,
  data: null,
  source: 'subset',
  classes: null,
  perClass: null,
  testPerClass: null,
  cropPadding: 0,
  hflip: false,
  epochs: 8,
  batch: 64,
  optimizer: 'sgd',
  lr: 0.1,
  momentum: 0.9,
  wd: 5e-4,
  schedule: 'cosine',
  milestones: [],
  stepSize: null,
  gamma: 0.1,
  warmup: 0,
  seed: 0,
  device: 'cpu',
  gpuMode: 'headlessgl',
  threads: null,
  out: null,
  checkpointEvery: 0,
  logEvery: 0,
  init: null,
  freeze: null,
};

/** Defaults that depend on the optimizer (torch's own defaults for Adam and AdamW). */
const OPTIMIZER_DEFAULTS: Record<OptimizerKind, { lr: number; wd: number }> = {
  sgd: { lr: 0.1, wd: 5e-4 },
  adam: { lr: 1e-3, wd: 0 },
  adamw: { lr: 1e-3, wd: 1e-2 },
};

export const USAGE = `usage: resgrad train [options]

Train a network on Fashion-MNIST (28x28 grey images, 10 classes), evaluate it after every
epoch, and write a run folder: config.json, metrics.jsonl, curves.svg, confusion.json,
model.safetensors, report.md and checkpoint/. With no options: ResNet-8 (the ResNet paper's
CIFAR net with one block a stage) for 8 epochs on the embedded subset (5,000 training and
1,000 test images): about 86% test accuracy in about two minutes on 2 idle cores.

model
  --model NAME          (default ${DEFAULTS.model})
                        cifarResNet8, 14, 20, 32, 44, 56, 110: the ResNet paper's CIFAR nets (3x3
                          stem, stages of width, 2*width, 4*width channels, option A shortcuts)
                        cifarPlain8, 14, ..., 110: the same without shortcuts
                        resnet18, resnet34, resnet50, resnet101, resnet152, resnext50_32x4d,
                        resnext101_32x8d, resnext101_64x4d, wide_resnet50_2, wide_resnet101_2:
                          torchvision's, with their 7x7/2 stem and max-pool (28x28 input reaches
                          layer4 at 1x1) taking 1 channel (see --init)
  --norm bn|gn|ln|in    the norm after each conv (default bn):
                          bn  BatchNorm2d: statistics per channel over the batch (N, H, W);
                              running averages in eval
                          gn  GroupNorm(G, C): per sample, over groups of channels (with H, W);
                              G = the largest divisor of C up to 32 leaving >= 4 channels a group
                          ln  GroupNorm(1, C): per sample over all of (C, H, W), a gamma, beta per
                              channel (LayerNorm for conv nets)
                          in  InstanceNorm2d(C, affine): per sample and channel over (H, W),
                              the same as GroupNorm(C, C)
                        gn, ln and in do not depend on the batch: the same in training and eval.
  --groups G            cifar*: each block's first 3x3 conv in G groups (ResNeXt style; must
                        divide --width); torchvision bottleneck nets: the cardinality
                        (resnext50_32x4d: 32)
  --width W             cifar*: channels of the first stage (default 16); torchvision bottleneck
                        nets: width per group (default 64; resnext50_32x4d: 4)

data
  --source auto|full|subset  subset (default): the embedded 5,000 + 1,000 images, no install;
                        full: the 60,000 + 10,000 of Debian's dataset-fashion-mnist (or --data);
                        auto: full when installed, else the subset
  --data DIR            a folder with the four Fashion-MNIST .gz files (implies --source full)
  --classes 0,2,4       train and test on these classes only (relabelled 0..k-1)
  --per-class N         N training images of each class (seeded choice)
  --test-per-class N    N test images of each class
  --crop-padding P      augmentation: random crop back to 28x28 after P zero pixels a side
                        (default 0: none)
  --hflip               augmentation: mirror left-right with probability 1/2

optimisation
  --epochs N            (default ${DEFAULTS.epochs})
  --batch B             training batch size; the last partial batch is dropped (default ${DEFAULTS.batch})
  --optimizer sgd|adam|adamw  (default sgd)
  --lr LR               peak learning rate (default 0.1 for sgd, 0.001 for adam and adamw)
  --momentum M          SGD momentum (default 0.9)
  --wd WD               weight decay (default 5e-4 for sgd, 0 for adam, 0.01 for adamw)
  --schedule constant|step|multistep|cosine  (default cosine, down to 0 at the last step)
  --milestones E1,E2    multistep: epochs where the lr is multiplied by --gamma
  --step-size E         step: multiply the lr by --gamma every E epochs
  --gamma G             (default 0.1)
  --warmup E            linear warm-up from lr/10 over E epochs (may be fractional), then the
                        schedule. Schedules step after every batch (epochs become batch counts).
  --seed S              seeds the initial weights and the data order (default 0)

machine
  --device cpu|gpu      (default cpu); gpu runs on gpu.js (--gpu-mode, default headlessgl: run
                        under xvfb-run -a)
  --threads N           WASM worker threads (default: RESGRAD_NUM_THREADS or every core)

run folder
  --out DIR             (default runs/<date>-<model>); must be new or empty
  --resume DIR          continue the run in DIR from its last checkpoint, with its saved options
                        (flags given again must have the same values); ends bit-identical to an
                        uninterrupted run on the same machine and thread count
  --checkpoint-every N  also checkpoint every N steps (default: after each epoch only).
                        Ctrl-C finishes the current step, checkpoints and exits with 130.
  --log-every N         also write a metrics line every N steps (default: one per epoch)

transfer learning
  --init FILE           start from these weights (safetensors, e.g. torchvision's or a previous
                        run's model.safetensors). A classifier (fc) of another shape is replaced by
                        a new head for this dataset's classes; a 3-channel first conv is summed over
                        its RGB filters (the same as feeding the grey image as R = G = B)
  --freeze LAYER        freeze the parameters up to and including LAYER (a child such as layer2,
                        or a path such as layer3.0); BatchNorm layers there stay in eval mode

output
  --quiet               print only where the report is
  --json                print one JSON object per epoch (and per --log-every steps) and a summary,
                        nothing else
  -h, --help`;

const FLAGS = {
  model: { type: 'string' },
  norm: { type: 'string' },
  groups: { type: 'string' },
  width: { type: 'string' },
  data: { type: 'string' },
  source: { type: 'string' },
  classes: { type: 'string' },
  'per-class': { type: 'string' },
  'test-per-class': { type: 'string' },
  'crop-padding': { type: 'string' },
  hflip: { type: 'boolean' },
  epochs: { type: 'string' },
  batch: { type: 'string' },
  optimizer: { type: 'string' },
  lr: { type: 'string' },
  momentum: { type: 'string' },
  wd: { type: 'string' },
  schedule: { type: 'string' },
  milestones: { type: 'string' },
  'step-size': { type: 'string' },
  gamma: { type: 'string' },
  warmup: { type: 'string' },
  seed: { type: 'string' },
  device: { type: 'string' },
  'gpu-mode': { type: 'string' },
  threads: { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'string' },
  'checkpoint-every': { type: 'string' },
  'log-every': { type: 'string' },
  init: { type: 'string' },
  freeze: { type: 'string' },
  quiet: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The option name (camelCase, as in TrainOptions) of each run flag. */
const FLAG_TO_KEY: Record<string, keyof TrainOptions> = {
  model: 'model',
  norm: 'norm',
  groups: 'groups',
  width: 'width',
  data: 'data',
  source: 'source',
  classes: 'classes',
  'per-class': 'perClass',
  'test-per-class': 'testPerClass',
  'crop-padding': 'cropPadding',
  hflip: 'hflip',
  epochs: 'epochs',
  batch: 'batch',
  optimizer: 'optimizer',
  lr: 'lr',
  momentum: 'momentum',
  wd: 'wd',
  schedule: 'schedule',
  milestones: 'milestones',
  'step-size': 'stepSize',
  gamma: 'gamma',
  warmup: 'warmup',
  seed: 'seed',
  device: 'device',
  'gpu-mode': 'gpuMode',
  threads: 'threads',
  out: 'out',
  'checkpoint-every': 'checkpointEvery',
  'log-every': 'logEvery',
  init: 'init',
  freeze: 'freeze',
};

export type Parsed =
  | { help: true }
  | { help: false; options: TrainOptions; given: Partial<TrainOptions>; presentation: Presentation };

function fail(flag: string, expected: string, got: string): never {
  throw new UsageError(`--${flag}: expected ${expected}, but got '${got}'`);
}

function oneOf<T extends string>(flag: string, v: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(v)) fail(flag, `one of ${choices.join(', ')}`, v);
  return v as T;
}

function integer(flag: string, v: string, min: number): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isSafeInteger(n) || n < min) fail(flag, min === 0 ? 'a non-negative integer' : `an integer >= ${min}`, v);
  return n;
}

function number(flag: string, v: string, what: 'positive' | 'non-negative', max = Number.POSITIVE_INFINITY): number {
  const n = Number(v);
  const ok = v.trim() !== '' && Number.isFinite(n) && (what === 'positive' ? n > 0 : n >= 0) && n <= max;
  if (!ok) fail(flag, `a ${what} number${Number.isFinite(max) ? ` <= ${max}` : ''}`, v);
  return n;
}

function intList(flag: string, v: string, min: number): number[] {
  const parts = v.split(',');
  if (parts.some((p) => p.trim() === '')) fail(flag, 'a comma-separated list of integers such as 0,2,4', v);
  return parts.map((p) => integer(flag, p.trim(), min));
}

/**
 * Parse `args` (what follows `resgrad train`). Returns the options with the defaults filled in,
 * the ones given explicitly (to compare with a resumed run's), and how to present the run.
 */
export function parseTrainArgs(args: string[]): Parsed {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args, options: FLAGS, strict: true, allowPositionals: false }));
  } catch (e) {
    // parseArgs says "Unknown option '--lrr'" or "Option '--lr <value>' argument missing"
    throw new UsageError(`${(e as Error).message.replace(/\. To specify a positional argument.*$/s, '')} (resgrad train --help lists the options)`);
  }
  if (values.help) return { help: true };
  const given: Partial<TrainOptions> = {};
  const set = <K extends keyof TrainOptions>(k: K, v: TrainOptions[K]) => {
    given[k] = v;
  };
  const s = (flag: string) => values[flag] as string | undefined;
  for (const flag of [...Object.keys(FLAG_TO_KEY), 'resume']) {
    if (values[flag] === '') fail(flag, 'a value', '');
  }
  if (s('model') !== undefined) {
    modelSpec(s('model') as string); // lists the valid names
    set('model', s('model') as string);
  }
  if (s('norm') !== undefined) set('norm', oneOf('norm', s('norm') as string, NORM_KINDS));
  if (s('groups') !== undefined) set('groups', integer('groups', s('groups') as string, 1));
  if (s('width') !== undefined) set('width', integer('width', s('width') as string, 1));
  if (s('data') !== undefined) set('data', s('data') as string);
  if (s('source') !== undefined) set('source', oneOf('source', s('source') as string, ['auto', 'full', 'subset'] as const));
  if (s('classes') !== undefined) {
    const list = intList('classes', s('classes') as string, 0);
    if (new Set(list).size !== list.length) fail('classes', 'distinct class indices', s('classes') as string);
    if (list.length < 2) fail('classes', 'at least two classes', s('classes') as string);
    set('classes', list);
  }
  if (s('per-class') !== undefined) set('perClass', integer('per-class', s('per-class') as string, 1));
  if (s('test-per-class') !== undefined) set('testPerClass', integer('test-per-class', s('test-per-class') as string, 1));
  if (s('crop-padding') !== undefined) set('cropPadding', integer('crop-padding', s('crop-padding') as string, 0));
  if (values.hflip !== undefined) set('hflip', values.hflip === true);
  if (s('epochs') !== undefined) set('epochs', integer('epochs', s('epochs') as string, 1));
  if (s('batch') !== undefined) set('batch', integer('batch', s('batch') as string, 1));
  if (s('optimizer') !== undefined) set('optimizer', oneOf('optimizer', s('optimizer') as string, ['sgd', 'adam', 'adamw'] as const));
  if (s('lr') !== undefined) set('lr', number('lr', s('lr') as string, 'positive'));
  if (s('momentum') !== undefined) set('momentum', number('momentum', s('momentum') as string, 'non-negative', 1));
  if (s('wd') !== undefined) set('wd', number('wd', s('wd') as string, 'non-negative'));
  if (s('schedule') !== undefined) set('schedule', oneOf('schedule', s('schedule') as string, ['constant', 'step', 'multistep', 'cosine'] as const));
  if (s('milestones') !== undefined) set('milestones', intList('milestones', s('milestones') as string, 1));
  if (s('step-size') !== undefined) set('stepSize', integer('step-size', s('step-size') as string, 1));
  if (s('gamma') !== undefined) set('gamma', number('gamma', s('gamma') as string, 'positive', 1));
  if (s('warmup') !== undefined) set('warmup', number('warmup', s('warmup') as string, 'non-negative'));
  if (s('seed') !== undefined) set('seed', integer('seed', s('seed') as string, 0));
  if (s('device') !== undefined) set('device', oneOf('device', s('device') as string, ['cpu', 'gpu'] as const));
  if (s('gpu-mode') !== undefined) set('gpuMode', oneOf('gpu-mode', s('gpu-mode') as string, ['headlessgl', 'webgl2', 'webgl', 'webgpu', 'cpu'] as const));
  if (s('threads') !== undefined) set('threads', integer('threads', s('threads') as string, 1));
  if (s('out') !== undefined) set('out', s('out') as string);
  if (s('checkpoint-every') !== undefined) set('checkpointEvery', integer('checkpoint-every', s('checkpoint-every') as string, 1));
  if (s('log-every') !== undefined) set('logEvery', integer('log-every', s('log-every') as string, 1));
  if (s('init') !== undefined) set('init', s('init') as string);
  if (s('freeze') !== undefined) set('freeze', s('freeze') as string);

  const opt = given.optimizer ?? DEFAULTS.optimizer;
  const options: TrainOptions = { ...defaultsFor(opt), ...given };
  if (given.data !== undefined && given.source === undefined) options.source = 'full';
  const presentation: Presentation = { quiet: values.quiet === true, json: values.json === true, resume: s('resume') ?? null };
  if (presentation.quiet && presentation.json) throw new UsageError(`--quiet and --json: expected at most one of them, but got both`);
  if (presentation.resume === null) checkOptions(options, given);
  return { help: false, options, given, presentation };
}

/** The defaults for one optimizer. */
export function defaultsFor(optimizer: OptimizerKind): TrainOptions {
  return { ...DEFAULTS, optimizer, ...OPTIMIZER_DEFAULTS[optimizer] };
}

/** The checks that involve more than one flag, or the file system. */
export function checkOptions(o: TrainOptions, given: Partial<TrainOptions> = o): void {
  resolveShape(o);
  if (o.data !== null) {
    if (o.source === 'subset') throw new UsageError(`--data: expected no --source subset with it (the subset is embedded), but got --data '${o.data}'`);
    if (!existsSync(o.data)) throw new UsageError(`--data: expected an existing folder with the Fashion-MNIST .gz files, but got '${o.data}' (not found)`);
  }
  if (o.classes) {
    const bad = o.classes.find((c) => c > 9);
    if (bad !== undefined) fail('classes', 'class indices of Fashion-MNIST, 0..9', o.classes.join(','));
  }
  if (o.milestones.length && o.schedule !== 'multistep') fail('milestones', 'no milestones unless --schedule multistep', o.milestones.join(','));
  if (o.schedule === 'multistep') {
    if (o.milestones.length === 0) fail('milestones', `epochs such as 2,4 with --schedule multistep`, '');
    const bad = o.milestones.find((m, i) => m >= o.epochs || (i > 0 && m <= (o.milestones[i - 1] as number)));
    if (bad !== undefined) fail('milestones', `increasing epochs below --epochs (${o.epochs})`, o.milestones.join(','));
    const first = o.milestones[0] as number;
    if (o.warmup >= first) fail('warmup', `fewer epochs than the first milestone (${first})`, String(o.warmup));
  }
  if (o.stepSize !== null && o.schedule !== 'step') fail('step-size', 'no step size unless --schedule step', String(o.stepSize));
  if (o.schedule === 'step' && o.stepSize === null) fail('step-size', 'a number of epochs with --schedule step', '');
  if (o.warmup >= o.epochs) fail('warmup', `fewer epochs than --epochs (${o.epochs})`, String(o.warmup));
  if (o.optimizer !== 'sgd' && given.momentum !== undefined) fail('momentum', 'no momentum with adam or adamw (they take betas)', String(o.momentum));
  if (o.init !== null && !existsSync(o.init)) throw new UsageError(`--init: expected an existing .safetensors file, but got '${o.init}' (not found)`);
  if (o.freeze !== null && o.freeze.trim() === '') fail('freeze', 'a layer name such as layer2', o.freeze);
  if (o.device === 'gpu' && o.threads !== null) fail('threads', 'no thread count with --device gpu', String(o.threads));
}

/** Flags given again on --resume must say what the saved run says. */
export function checkResumeFlags(saved: TrainOptions, given: Partial<TrainOptions>): void {
  for (const [key, value] of Object.entries(given) as [keyof TrainOptions, unknown][]) {
    if (key === 'out') continue; // checked against the run folder by the caller
    if (JSON.stringify(value) !== JSON.stringify(saved[key])) {
      const flag = Object.entries(FLAG_TO_KEY).find(([, k]) => k === key)?.[0] ?? key;
      throw new UsageError(
        `--${flag}: expected the resumed run's value ${JSON.stringify(saved[key])} (a run continues with its saved options), but got ${JSON.stringify(value)}`,
      );
    }
  }
}

/** The flags that reproduce `o` (for config.json and report.md). */
export function toArgs(o: TrainOptions): string[] {
  const out: string[] = [];
  const defaults = { ...defaultsFor(o.optimizer), optimizer: DEFAULTS.optimizer };
  for (const [flag, key] of Object.entries(FLAG_TO_KEY)) {
    const v = o[key];
    if (v === null || key === 'out' || JSON.stringify(v) === JSON.stringify(defaults[key])) continue;
    if (typeof v === 'boolean') {
      if (v) out.push(`--${flag}`);
    } else out.push(`--${flag}`, Array.isArray(v) ? v.join(',') : String(v));
  }
  return out;
}
