// Model summary: per-layer output shapes, parameters and multiply-adds, and totals.
import { describe, expect, it } from 'vitest';
import { type Tensor, nn, randn, summary } from '../../index.js';

describe('summary', () => {
  it('MLP Linear(8,16) ReLU Linear(16,4) on x=[2,8]: shapes, params, MACs = rows·in·out', () => {
    const l1 = new nn.Linear(8, 16);
    const l2 = new nn.Linear(16, 4);
    const model = new nn.Sequential(l1, new nn.ReLU(), l2);
    const s = summary(model, randn([2, 8]));
    expect(s.rows.map((r) => [r.name, r.type, r.outputShape])).toEqual([
      ['0', 'Linear', [2, 16]],
      ['1', 'ReLU', [2, 16]],
      ['2', 'Linear', [2, 4]],
    ]);
    expect(s.rows.map((r) => r.params)).toEqual([l1.numParameters(), 0, l2.numParameters()]);
    const macs = (l: nn.Linear) => 2 * l.inFeatures * l.outFeatures;
    expect(s.rows.map((r) => r.macs)).toEqual([macs(l1), 0, macs(l2)]);
    expect(s.totalMacs).toBe(macs(l1) + macs(l2));
    expect(s.totalParams).toBe(model.parameters().reduce((a, p) => a + p.numel(), 0));
    expect(s.trainableParams).toBe(s.totalParams);
    const text = String(s);
    expect(text).toContain('0 (Linear)');
    expect(text).toContain(`Total params: ${s.totalParams}`);
  });

  it('nested conv net x=[2,3,8,8]: containers sum their children; frozen params are non-trainable; state untouched', () => {
    const conv1 = new nn.Conv2d(3, 8, 3, { padding: 1 });
    const conv2 = new nn.Conv2d(8, 8, 3, { stride: 2, padding: 1, groups: 4, bias: false });
    const bn = new nn.BatchNorm2d(8);
    const body = new nn.Sequential(conv1, bn, new nn.ReLU(), conv2);
    const head = new nn.Linear(8 * 4 * 4, 10);
    const model = new nn.Sequential(body, new nn.Flatten(), head);
    body.freeze();
    const mean0 = [...(bn.stateDict().running_mean as Tensor).toArray()];
    const s = summary(model, randn([2, 3, 8, 8]));
    expect(s.rows.map((r) => [r.name, r.depth, r.outputShape])).toEqual([
      ['0', 1, [2, 8, 4, 4]],
      ['0.0', 2, [2, 8, 8, 8]],
      ['0.1', 2, [2, 8, 8, 8]],
      ['0.2', 2, [2, 8, 8, 8]],
      ['0.3', 2, [2, 8, 4, 4]],
      ['1', 1, [2, 128]],
      ['2', 1, [2, 10]],
    ]);
    const convMacs = (c: nn.Conv2d, out: number[]) =>
      (out[0] as number) * nn.conv2dMacs({ inChannels: c.inChannels, outChannels: c.outChannels, kernelSize: c.kernelSize, groups: c.groups }, [out[2] as number, out[3] as number]);
    const m1 = convMacs(conv1, [2, 8, 8, 8]);
    const m2 = convMacs(conv2, [2, 8, 4, 4]);
    const byName = Object.fromEntries(s.rows.map((r) => [r.name, r]));
    expect(byName['0.0']?.macs).toBe(m1);
    expect(byName['0.3']?.macs).toBe(m2);
    expect(byName['0']?.macs).toBe(m1 + m2);
    expect(byName['0']?.params).toBe(body.numParameters());
    expect(s.totalMacs).toBe(m1 + m2 + 2 * head.inFeatures * head.outFeatures);
    expect(s.trainableParams).toBe(head.numParameters());
    expect(s.totalParams).toBe(model.numParameters());
    // summary runs in eval mode without autograd and restores the mode
    expect(model.training).toBe(true);
    expect([...(bn.stateDict().running_mean as Tensor).toArray()]).toEqual(mean0);
  });

  it('a module called twice gets two rows, its parameters counted once', () => {
    const shared = new nn.Linear(4, 4);
    const model = new nn.Sequential(shared, new nn.ReLU(), shared);
    const s = summary(model, [randn([1, 4]) as Tensor]);
    expect(s.rows.map((r) => r.name)).toEqual(['0', '1', '0']);
    expect(s.rows.map((r) => r.params)).toEqual([shared.numParameters(), 0, 0]);
    expect(s.totalMacs).toBe(2 * 4 * 4);
  });
});
