// The models `resgrad train` can build, by name, with the norm, groups and width it was asked for,
// and the two transfer-learning steps: load weights from a safetensors file (--init) and freeze
// everything up to a named layer (--freeze).
import { ResgradError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';
import { sum } from '../autograd/ops/reduce.js';
import { noGrad } from '../autograd/graph.js';
import { BasicBlock, Bottleneck, type BlockType, type NormLayer, ResNet } from '../models/resnet.js';
import { CifarResNet } from '../models/cifar.js';
import { BatchNorm2d, GroupNorm, InstanceNorm2d } from '../nn/layers/norm.js';
import type { Module } from '../nn/module.js';
import { loadSafetensors } from '../models/safetensors.js';

/** A bad command-line value: names the flag, what it takes and what it got. */
export class UsageError extends ResgradError {}

export type NormKind = 'bn' | 'gn' | 'ln' | 'in';
export const NORM_KINDS: readonly NormKind[] = ['bn', 'gn', 'ln', 'in'];

/** How a family reads --groups and --width, and what it takes by default. */
interface CifarSpec {
  family: 'cifar';
  depth: number;
  plain: boolean;
}
interface TorchvisionSpec {
  family: 'torchvision';
  block: BlockType;
  layers: [number, number, number, number];
  groups: number;
  widthPerGroup: number;
}
export type ModelSpec = CifarSpec | TorchvisionSpec;

const CIFAR_DEPTHS = [8, 14, 20, 32, 44, 56, 110];
const TORCHVISION: Record<string, Omit<TorchvisionSpec, 'family'>> = {
  resnet18: { block: BasicBlock, layers: [2, 2, 2, 2], groups: 1, widthPerGroup: 64 },
  resnet34: { block: BasicBlock, layers: [3, 4, 6, 3], groups: 1, widthPerGroup: 64 },
  resnet50: { block: Bottleneck, layers: [3, 4, 6, 3], groups: 1, widthPerGroup: 64 },
  resnet101: { block: Bottleneck, layers: [3, 4, 23, 3], groups: 1, widthPerGroup: 64 },
  resnet152: { block: Bottleneck, layers: [3, 8, 36, 3], groups: 1, widthPerGroup: 64 },
  resnext50_32x4d: { block: Bottleneck, layers: [3, 4, 6, 3], groups: 32, widthPerGroup: 4 },
  resnext101_32x8d: { block: Bottleneck, layers: [3, 4, 23, 3], groups: 32, widthPerGroup: 8 },
  resnext101_64x4d: { block: Bottleneck, layers: [3, 4, 23, 3], groups: 64, widthPerGroup: 4 },
  wide_resnet50_2: { block: Bottleneck, layers: [3, 4, 6, 3], groups: 1, widthPerGroup: 128 },
  wide_resnet101_2: { block: Bottleneck, layers: [3, 4, 23, 3], groups: 1, widthPerGroup: 128 },
};

export const MODEL_NAMES: readonly string[] = [
  ...CIFAR_DEPTHS.map((d) => `cifarResNet${d}`),
  ...CIFAR_DEPTHS.map((d) => `cifarPlain${d}`),
  ...Object.keys(TORCHVISION),
];

/** The spec of a model name, or a UsageError listing the valid names. */
export function modelSpec(name: string): ModelSpec {
  const cifar = /^cifar(ResNet|Plain)(\d+)$/.exec(name);
  if (cifar && CIFAR_DEPTHS.includes(Number(cifar[2]))) return { family: 'cifar', depth: Number(cifar[2]), plain: cifar[1] === 'Plain' };
  const tv = Object.hasOwn(TORCHVISION, name) ? TORCHVISION[name] : undefined;
  if (tv) return { family: 'torchvision', ...tv };
  throw new UsageError(`--model: expected one of ${MODEL_NAMES.join(', ')}, but got '${name}'`);
}

/** GroupNorm's group count for --norm gn: the largest divisor of C that is <= 32 and leaves >= 4 channels a group. */
export function gnGroups(channels: number): number {
  for (let g = Math.min(32, Math.floor(channels / 4)); g > 1; g--) if (channels % g === 0) return g;
  return 1;
}

/** The norm layer after each conv for --norm. */
export function normLayer(kind: NormKind): NormLayer {
  switch (kind) {
    case 'bn':
      return (c) => new BatchNorm2d(c);
    case 'gn':
      return (c) => new GroupNorm(gnGroups(c), c);
    case 'ln':
      return (c) => new GroupNorm(1, c); // LayerNorm over (C, H, W) with a γ, β per channel
    case 'in':
      return (c) => new InstanceNorm2d(c, { affine: true }); // = GroupNorm(C, C)
  }
}

export interface ModelChoice {
  model: string;
  norm: NormKind;
  /** null: the family's default (1 for the CIFAR nets, the model's own for torchvision's). */
  groups: number | null;
  width: number | null;
}

/** Check --groups and --width against the model before anything is built; returns the values used. */
export function resolveShape(choice: ModelChoice): { groups: number; width: number } {
  const spec = modelSpec(choice.model);
  if (spec.family === 'cifar') {
    const width = choice.width ?? 16;
    const groups = choice.groups ?? 1;
    if (width % groups !== 0) {
      throw new UsageError(
        `--groups: expected a divisor of --width (${width}; the stages have ${width}, ${2 * width} and ${4 * width} channels), but got ${groups}`,
      );
    }
    return { groups, width };
  }
  if (spec.block === BasicBlock && ((choice.groups ?? 1) !== 1 || (choice.width ?? 64) !== 64)) {
    const flag = (choice.groups ?? 1) !== 1 ? `--groups: expected 1` : `--width: expected 64`;
    const got = (choice.groups ?? 1) !== 1 ? choice.groups : choice.width;
    throw new UsageError(
      `${flag} for ${choice.model} (torchvision's basic blocks take no groups or width per group; use resnet50, resnext50_32x4d, ... for those), but got ${got}`,
    );
  }
  return { groups: choice.groups ?? spec.groups, width: choice.width ?? spec.widthPerGroup };
}

/** Build the model for `inChannels`-channel images and `numClasses` classes. */
export function buildModel(choice: ModelChoice, inChannels: number, numClasses: number): Module & { forward(x: Tensor): Tensor } {
  const spec = modelSpec(choice.model);
  const { groups, width } = resolveShape(choice);
  const norm = normLayer(choice.norm);
  if (spec.family === 'cifar') {
    return new CifarResNet(spec.depth, spec.plain ? 'none' : 'A', { inChannels, numClasses, normLayer: norm, width, groups });
  }
  return new ResNet(spec.block, spec.layers, { inChannels, numClasses, normLayer: norm, groups, widthPerGroup: width });
}

/** The top-level children of a model, for messages. */
function childNames(model: Module): string[] {
  return [...model.namedChildren()].map(([n]) => n);
}

/**
 * Load `file` (safetensors) into `model` for fine-tuning. The classifier (fc) is taken only when
 * its shape fits this dataset's classes; otherwise the model keeps its fresh head. A 3-channel
 * first conv going into a 1-channel model is summed over its RGB filters, which is the same as
 * feeding the grey image as R = G = B. Returns what was done, for the log.
 */
export function loadInitWeights(model: Module, file: string): string[] {
  let sd: Record<string, Tensor>;
  try {
    sd = loadSafetensors(file);
  } catch (e) {
    throw new UsageError(`--init: cannot read '${file}': ${(e as Error).message}`);
  }
  const own = model.stateDict();
  const notes: string[] = [];
  const conv1 = sd['conv1.weight'];
  const mine = own['conv1.weight'];
  if (conv1 && mine && conv1.shape[1] === 3 && mine.shape[1] === 1 && conv1.shape.length === 4) {
    sd['conv1.weight'] = noGrad(() => sum(conv1, 1, true));
    notes.push('conv1: RGB filters summed for 1-channel input');
  }
  for (const key of ['fc.weight', 'fc.bias']) {
    const theirs = sd[key];
    const ours = own[key];
    if (theirs && ours && theirs.shape.join() !== ours.shape.join()) {
      delete sd[key];
      if (key === 'fc.weight') notes.push(`fc: new head [${ours.shape.join(', ')}] (the file's is [${theirs.shape.join(', ')}])`);
    }
  }
  const strictKeys = Object.keys(own).filter((k) => !k.startsWith('fc.') || k in sd);
  const missing = strictKeys.filter((k) => !(k in sd));
  const unexpected = Object.keys(sd).filter((k) => !(k in own));
  if (missing.length || unexpected.length) {
    const parts = [];
    if (missing.length) parts.push(`missing ${missing.length} key(s), the first '${missing[0]}'`);
    if (unexpected.length) parts.push(`${unexpected.length} unexpected key(s), the first '${unexpected[0]}'`);
    throw new UsageError(`--init: '${file}' does not fit this model (--model, --norm, --groups, --width): ${parts.join('; ')}`);
  }
  try {
    model.loadStateDict(sd, { strict: false });
  } catch (e) {
    throw new UsageError(`--init: '${file}' does not fit this model: ${(e as Error).message}`);
  }
  notes.unshift(`loaded ${Object.keys(sd).length} tensors from ${file}`);
  return notes;
}

/**
 * Freeze every parameter of the modules up to and including `layer` (a child name such as
 * 'layer2', or a dotted path such as 'layer3.0'), in the model's registration order, which is
 * the order data flows through these nets. Returns the frozen modules: the trainer keeps them in
 * eval mode, so their BatchNorm running statistics stay as loaded.
 */
export function freezeUpTo(model: Module, layer: string): Module[] {
  const all = [...model.namedModules()];
  const inLayer = (n: string) => n === layer || n.startsWith(`${layer}.`);
  let last = -1;
  all.forEach(([n], i) => {
    if (inLayer(n)) last = i;
  });
  if (last < 0) {
    throw new UsageError(`--freeze: expected a layer of the model (${childNames(model).join(', ')}, or a dotted path such as layer2.0), but got '${layer}'`);
  }
  // Ancestors of `layer` (the model itself, 'layer3' for 'layer3.0') hold later layers too: not frozen whole.
  const ancestors = (n: string) => n === '' || layer.startsWith(`${n}.`);
  const frozen = all.slice(0, last + 1).filter(([n]) => !ancestors(n)).map(([, m]) => m);
  for (const m of frozen) for (const [, p] of m.ownParameters()) p.requiresGrad = false;
  return frozen;
}

/** model.train(), except the frozen modules, which stay in eval mode. */
export function trainMode(model: Module, frozen: readonly Module[]): void {
  model.train();
  for (const m of frozen) m.training = false;
}
