// torchvision's ResNet options: an injected norm layer (GroupNorm for BatchNorm),
// zeroInitResidual, replaceStrideWithDilation, inChannels/numClasses, and the init rules.
import { describe, expect, it } from 'vitest';
import { models, nn, noGrad, randn } from '../../index.js';

describe('ResNet options', () => {
  it('normLayer: GroupNorm(32, c) replaces every BatchNorm2d; keys lose the running stats', () => {
    const m = models.resnet18({ normLayer: (c) => new nn.GroupNorm(32, c) });
    const kinds = new Set(m.modules().map((x) => x.constructor.name));
    expect(kinds.has('GroupNorm')).toBe(true);
    expect(kinds.has('BatchNorm2d')).toBe(false);
    expect(Object.keys(m.stateDict()).some((k) => k.includes('running_mean'))).toBe(false);
    const y = noGrad(() => m.forward(randn([1, 3, 32, 32])));
    expect([...y.shape]).toEqual([1, 1000]);
  });

  it('zeroInitResidual zeroes the last norm weight of every block, so each block starts as the identity', () => {
    const m = models.resnet50({ zeroInitResidual: true });
    const last = [...m.namedParameters()].filter(([k]) => /layer\d\.\d+\.bn3\.weight$/.test(k));
    expect(last.length).toBe(16);
    for (const [, w] of last) expect(w.toArray().every((v) => v === 0)).toBe(true);
    const r18 = models.resnet18({ zeroInitResidual: true });
    const bn2 = [...r18.namedParameters()].filter(([k]) => /layer\d\.\d+\.bn2\.weight$/.test(k));
    expect(bn2.length).toBe(8);
    for (const [, w] of bn2) expect(w.toArray().every((v) => v === 0)).toBe(true);
  });

  it('norm layers start at weight 1, bias 0; conv weights are He-normal with fan_out', () => {
    const m = models.resnet18();
    for (const [k, p] of m.namedParameters()) {
      if (/bn\d\.weight$|downsample\.1\.weight$/.test(k)) expect(p.toArray().every((v) => v === 1)).toBe(true);
      if (/bn\d\.bias$|downsample\.1\.bias$/.test(k)) expect(p.toArray().every((v) => v === 0)).toBe(true);
    }
    // layer4.0.conv2: [512, 512, 3, 3], fan_out = 512·9, std = sqrt(2 / fan_out)
    const w = m.layer4.at(0) as unknown as { conv2: { weight: { toArray(): ArrayLike<number> } } };
    const v = w.conv2.weight.toArray();
    let s2 = 0;
    for (let i = 0; i < v.length; i++) s2 += (v[i] as number) ** 2;
    const std = Math.sqrt(s2 / v.length);
    expect(Math.abs(std / Math.sqrt(2 / (512 * 9)) - 1)).toBeLessThan(0.01);
  });

  it('replaceStrideWithDilation keeps layer4 at the resolution of layer3', () => {
    const m = models.resnet50({ replaceStrideWithDilation: [false, false, true] });
    const seen: number[][] = [];
    m.layer4.registerForwardHook((_mod, _in, out) => {
      seen.push([...(out as { shape: number[] }).shape]);
    });
    noGrad(() => m.eval().forward(randn([1, 3, 64, 64])));
    expect(seen[0]).toEqual([1, 2048, 4, 4]);
  });

  it('inChannels and numClasses: a 1-channel, 10-class resnet18 for Fashion-MNIST sized input', () => {
    const m = models.resnet18({ inChannels: 1, numClasses: 10 });
    const y = noGrad(() => m.eval().forward(randn([2, 1, 28, 28])));
    expect([...y.shape]).toEqual([2, 10]);
  });

  it('BasicBlock refuses groups/baseWidth (as torchvision)', () => {
    expect(() => new models.BasicBlock(64, 64, { groups: 2 })).toThrow(/groups=1/);
  });
});
