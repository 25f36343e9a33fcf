// Transfer learning in one command: --init loads weights (a new head when the classes differ, RGB
// filters summed for grey input), --freeze keeps everything up to a layer as it was, BatchNorm
// running statistics included; and the norm choices of --norm.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { type Tensor, full, io, manualSeed, nn, noGrad, randn } from '../../index.js';
import { main } from '../../train/cli.js';
import { buildModel, freezeUpTo, gnGroups, loadInitWeights, normLayer } from '../../train/models.js';

const tmp = mkdtempSync(join(tmpdir(), 'resgrad-train-transfer-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const quiet = () => new Writable({ write: (_c, _e, cb) => cb() });
const bytes = (t: Tensor) => Buffer.from(t.contiguous().toArray().buffer.slice(0)).toString('base64');

/** A source model whose every tensor differs from a fresh one (BN statistics too), saved to `file`. */
function sourceWeights(file: string, inChannels: number, classes: number): Record<string, Tensor> {
  manualSeed(11);
  const m = buildModel({ model: 'cifarResNet8', norm: 'bn', groups: null, width: 4 }, inChannels, classes);
  noGrad(() => {
    for (const [k, t] of Object.entries(m.stateDict())) {
      if (k.endsWith('num_batches_tracked')) t.assign(full([], 37, { dtype: 'int32' }));
      else if (k.endsWith('running_var')) t.assign(randn(t.shape).abs().add(0.5));
      else t.assign(randn(t.shape).mul(0.3));
    }
  });
  io.saveSafetensors(file, m.stateDict());
  return io.loadSafetensors(file);
}

describe('--init', () => {
  it('a 3-channel, 10-class file into a 1-channel, 3-class model: RGB filters summed, a new head, the rest as saved', () => {
    const file = join(tmp, 'rgb.safetensors');
    const src = sourceWeights(file, 3, 10);
    manualSeed(5);
    const m = buildModel({ model: 'cifarResNet8', norm: 'bn', groups: null, width: 4 }, 1, 3);
    const freshHead = bytes(m.stateDict()['fc.weight']!);
    const notes = loadInitWeights(m, file);
    expect(notes.join('; ')).toMatch(/conv1: RGB filters summed for 1-channel input; fc: new head \[3, 16\] \(the file's is \[10, 16\]\)/);
    const sd = m.stateDict();
    const w = src['conv1.weight']!.toArray();
    const mine = sd['conv1.weight']!.toArray();
    for (let o = 0; o < 4; o++) {
      for (let k = 0; k < 9; k++) expect(mine[o * 9 + k]).toBe(Math.fround(w[o * 27 + k]! + w[o * 27 + 9 + k]! + w[o * 27 + 18 + k]!));
    }
    expect(bytes(sd['fc.weight']!)).toBe(freshHead);
    for (const k of Object.keys(sd)) if (k !== 'conv1.weight' && !k.startsWith('fc.')) expect(bytes(sd[k]!), k).toBe(bytes(src[k]!));
  });

  it('a file of another norm is refused, naming the first key', () => {
    const file = join(tmp, 'bn.safetensors');
    sourceWeights(file, 1, 10);
    const m = buildModel({ model: 'cifarResNet8', norm: 'gn', groups: null, width: 4 }, 1, 10);
    expect(() => loadInitWeights(m, file)).toThrow(
      /--init: '.*bn.safetensors' does not fit this model \(--model, --norm, --groups, --width\): \d+ unexpected key\(s\), the first 'bn1.running_mean'/,
    );
  });
});

describe('--freeze', () => {
  it('layer3.0 of ResNet-14: everything before it and its block frozen, layer3.1 and fc train', () => {
    const m = buildModel({ model: 'cifarResNet14', norm: 'bn', groups: null, width: 4 }, 1, 10);
    const frozen = freezeUpTo(m, 'layer3.0');
    const trainable = [...m.namedParameters()].filter(([, p]) => p.requiresGrad).map(([k]) => k);
    expect(trainable.every((k) => k.startsWith('layer3.1.') || k.startsWith('fc.'))).toBe(true);
    expect(trainable).toContain('layer3.1.conv1.weight');
    expect(trainable).toContain('fc.bias');
    expect(frozen.some((f) => f === m.getSubmodule('layer3'))).toBe(false); // the parent holds layer3.1 too
    expect(frozen).toContain(m.getSubmodule('layer3.0.bn2'));
  });

  it('a run with --init and --freeze layer2 ends with the frozen tensors (BN statistics too) unchanged bit for bit, and a new head', async () => {
    const file = join(tmp, 'init.safetensors');
    const src = sourceWeights(file, 1, 10);
    const out = join(tmp, 'frozen');
    const code = await main(
      [
        ...['--model', 'cifarResNet8', '--width', '4', '--classes', '0,1,2,3', '--per-class', '8', '--test-per-class', '4'],
        ...['--batch', '8', '--epochs', '1', '--threads', '1', '--init', file, '--freeze', 'layer2', '--quiet', '--out', out],
      ],
      { stdout: quiet(), stderr: quiet() },
    );
    expect(code).toBe(0);
    const after = io.loadSafetensors(join(out, 'model.safetensors'));
    const frozenKeys = Object.keys(src).filter((k) => /^(conv1|bn1|layer1|layer2)\./.test(k));
    expect(frozenKeys).toContain('layer2.0.bn2.running_mean');
    expect(frozenKeys).toContain('layer1.0.bn1.num_batches_tracked');
    for (const k of frozenKeys) expect(bytes(after[k]!), k).toBe(bytes(src[k]!));
    // layer3 trained (its BN statistics moved), the head is new: 4 classes
    expect(bytes(after['layer3.0.conv2.weight']!)).not.toBe(bytes(src['layer3.0.conv2.weight']!));
    expect(bytes(after['layer3.0.bn1.running_mean']!)).not.toBe(bytes(src['layer3.0.bn1.running_mean']!));
    expect(after['layer3.0.bn1.num_batches_tracked']!.item()).toBe(src['layer3.0.bn1.num_batches_tracked']!.item() + 4);
    expect([...after['fc.weight']!.shape]).toEqual([4, 16]);
  });
});

describe('--norm', () => {
  it('gn picks the largest divisor of C up to 32 with >= 4 channels a group', () => {
    expect([4, 8, 16, 24, 64, 128, 256, 2048].map(gnGroups)).toEqual([1, 2, 4, 6, 16, 32, 32, 32]);
  });

  it.each(['bn', 'gn', 'ln', 'in'] as const)('%s: the layer it makes, and a cifar net that runs forward and backward with it', (kind) => {
    const layer = normLayer(kind)(16);
    const expected = { bn: nn.BatchNorm2d, gn: nn.GroupNorm, ln: nn.GroupNorm, in: nn.InstanceNorm2d }[kind];
    expect(layer).toBeInstanceOf(expected);
    if (kind === 'gn') expect((layer as nn.GroupNorm).numGroups).toBe(4);
    if (kind === 'ln') expect((layer as nn.GroupNorm).numGroups).toBe(1);
    if (kind === 'in') expect((layer as nn.InstanceNorm2d).affine).toBe(true);
    const m = buildModel({ model: 'cifarResNet8', norm: kind, groups: 2, width: 8 }, 1, 10);
    const y = m.forward(randn([2, 1, 28, 28]));
    y.sum().backward();
    expect([...y.shape]).toEqual([2, 10]);
    expect(m.parameters().every((p) => p.grad !== null)).toBe(true);
  });
});
