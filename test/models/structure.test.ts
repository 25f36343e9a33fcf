// The model family against torchvision 0.14 and an independent torch CIFAR ResNet
// (fixtures from test/oracle/gen_models.py): state-dict keys in order, their shapes, parameter
// counts and multiply-adds (conv + fc) counted the same way.
import { describe, expect, it } from 'vitest';
import { models, type nn, noGrad, summary, zeros } from '../../index.js';
import { loadFixture } from '../helpers/oracle.js';

interface ModelFacts {
  name: string;
  keys: string[];
  shapes: number[][];
  params: number;
  macs224: number;
  macs64: number;
}
interface CifarFacts {
  name: string;
  depth: number;
  kind: 'A' | 'B' | 'none';
  keys: string[];
  shapes: number[][];
  params: number;
}

const family = loadFixture('models') as unknown as ModelFacts[];
const cifar = loadFixture('models_cifar') as unknown as CifarFacts[];

function facts(m: nn.Module): { keys: string[]; shapes: number[][]; params: number } {
  const sd = m.stateDict();
  return {
    keys: Object.keys(sd),
    shapes: Object.values(sd).map((t) => [...t.shape]),
    params: m.parameters().reduce((s, p) => s + p.numel(), 0),
  };
}

describe('torchvision family', () => {
  it.each(family.map((f) => [f.name, f] as const))('%s: keys, shapes, parameters, MACs at 64x64', (name, f) => {
    const m = (models as unknown as Record<string, () => nn.Module>)[name]!();
    const mine = facts(m);
    expect(mine.keys).toEqual(f.keys);
    expect(mine.shapes).toEqual(f.shapes);
    expect(mine.params).toBe(f.params);
    expect(summary(m, zeros([1, 3, 64, 64])).totalMacs).toBe(f.macs64);
  });

  it('resnet18 multiply-adds at 224x224 equal torchvision', () => {
    const f = family.find((x) => x.name === 'resnet18')!;
    const m = models.resnet18();
    expect(noGrad(() => summary(m, zeros([1, 3, 224, 224]))).totalMacs).toBe(f.macs224);
  });
});

describe('CIFAR ResNets of He et al. (option A, option B, plain)', () => {
  it.each(cifar.map((c) => [c.name, c] as const))('%s: keys, shapes, parameters', (_, c) => {
    const m = c.kind === 'none' ? models.cifarPlain(c.depth) : models.cifarResNet(c.depth, { shortcut: c.kind });
    const mine = facts(m);
    expect(mine.keys).toEqual(c.keys);
    expect(mine.shapes).toEqual(c.shapes);
    expect(mine.params).toBe(c.params);
  });

  it('rejects a depth that is not 6n+2', () => {
    expect(() => models.cifarResNet(21)).toThrow(/6n\+2.*21/);
  });
});
