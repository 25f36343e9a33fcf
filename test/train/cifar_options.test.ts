// models/cifar.ts options for the trainer: `width` (stages width, 2·width, 4·width) and `groups`
// (each block's first 3×3 conv grouped). Parameter counts are written out layer by layer.
import { describe, expect, it } from 'vitest';
import { models, type nn, noGrad, randn } from '../../index.js';

const count = (m: nn.Module) => m.parameters().reduce((s, p) => s + p.numel(), 0);
const shapeOf = (m: nn.Module, key: string) => [...(m.stateDict()[key]?.shape ?? [])];

describe('cifarResNet width and groups', () => {
  it('cifarResNet8 width=4 groups=2 inChannels=1: output [2, 10], weights and parameter count by hand', () => {
    const m = models.cifarResNet(8, { width: 4, groups: 2, inChannels: 1 });
    const y = noGrad(() => m.eval().forward(randn([2, 1, 28, 28])));
    expect([...y.shape]).toEqual([2, 10]);
    expect(shapeOf(m, 'conv1.weight')).toEqual([4, 1, 3, 3]);
    expect(shapeOf(m, 'layer1.0.conv1.weight')).toEqual([4, 2, 3, 3]); // grouped: 4 / 2 inputs per group
    expect(shapeOf(m, 'layer1.0.conv2.weight')).toEqual([4, 4, 3, 3]); // dense
    expect(shapeOf(m, 'layer2.0.conv1.weight')).toEqual([8, 2, 3, 3]);
    expect(shapeOf(m, 'layer3.0.conv1.weight')).toEqual([16, 4, 3, 3]);
    expect(shapeOf(m, 'fc.weight')).toEqual([10, 16]);
    const bn = (c: number) => 2 * c; // γ and β
    const stem = 1 * 4 * 9 + bn(4);
    const layer1 = 4 * 2 * 9 + bn(4) + 4 * 4 * 9 + bn(4);
    const layer2 = 8 * 2 * 9 + bn(8) + 8 * 8 * 9 + bn(8); // option A shortcut: no parameters
    const layer3 = 16 * 4 * 9 + bn(16) + 16 * 16 * 9 + bn(16);
    const fc = 16 * 10 + 10;
    expect(count(m)).toBe(stem + layer1 + layer2 + layer3 + fc); // 4142
  });

  it('cifarResNet20 width=32: output [1, 10], parameter count by hand (and width 16 as the paper)', () => {
    const m = models.cifarResNet(20, { width: 32 });
    expect(shapeOf(m, 'layer3.2.conv2.weight')).toEqual([128, 128, 3, 3]);
    const y = noGrad(() => m.eval().forward(randn([1, 3, 32, 32])));
    expect([...y.shape]).toEqual([1, 10]);
    // 3 stages x 3 blocks x 2 convs; the first conv of stages 2 and 3 reads half the channels
    const convs = (w: number) => {
      let s = 3 * w * 9;
      for (const [c, cin] of [
        [w, w],
        [2 * w, w],
        [4 * w, 2 * w],
      ]) s += c * cin * 9 + c * c * 9 + 2 * (2 * c * c * 9);
      return s;
    };
    // norms: the stem's, then 6 per stage (bn1, bn2 of 3 blocks), each with γ and β per channel
    const norms = (w: number) => 2 * w + 6 * 2 * w + 6 * 2 * (2 * w) + 6 * 2 * (4 * w);
    expect(count(m)).toBe(convs(32) + norms(32) + (4 * 32 * 10 + 10));
    expect(count(models.cifarResNet(20))).toBe(convs(16) + norms(16) + (4 * 16 * 10 + 10)); // 269,722: the paper's 0.27 M
  });

  it('option B and the plain twin take width and groups too', () => {
    const b = models.cifarResNet(8, { width: 8, groups: 4, shortcut: 'B' });
    expect(shapeOf(b, 'layer2.0.shortcut.0.weight')).toEqual([16, 8, 1, 1]);
    expect(shapeOf(b, 'layer2.0.conv1.weight')).toEqual([16, 2, 3, 3]);
    const p = models.cifarPlain(8, { width: 8, groups: 8 });
    expect(shapeOf(p, 'layer3.0.conv1.weight')).toEqual([32, 2, 3, 3]);
    const y = noGrad(() => p.eval().forward(randn([1, 3, 16, 16])));
    expect([...y.shape]).toEqual([1, 10]);
  });

  it('groups that do not divide a stage, and bad widths, are errors naming the values', () => {
    expect(() => models.cifarResNet(20, { groups: 3 })).toThrow(/'groups' \(3\) must divide the channels of every stage \(16, 32, 64 for width=16\), but 16 % 3 = 1/);
    expect(() => models.cifarResNet(20, { width: 6, groups: 4 })).toThrow(/6 % 4 = 2/);
    expect(() => models.cifarResNet(20, { width: 0 })).toThrow(/'width' must be a positive integer, but got 0/);
    expect(() => models.cifarPlain(20, { width: 2.5 })).toThrow(/'width' must be a positive integer, but got 2.5/);
    expect(() => models.cifarResNet(20, { groups: 0 })).toThrow(/'groups' must be a positive integer, but got 0/);
  });
});
