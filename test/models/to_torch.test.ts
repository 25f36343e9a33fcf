// Leaving resgrad for PyTorch: a model's state dict saved with io.saveSafetensors, as a user saves
// it, loads into torchvision's model of the same name (the CIFAR nets: test/oracle/cifar_ref.py)
// with load_state_dict(strict=True), and gives the same eval logits. Weights are seeded random
// with non-trivial BatchNorm statistics; torch runs them in float64 (the float32 weights convert
// exactly), so the difference is resgrad's float32 rounding alone: within 2e-4 of the largest
// logit (seen: ~1e-6 to ~1e-5). One /usr/bin/python3 run (Debian's python3-torch and
// python3-torchvision) does every model: test/oracle/load_resgrad.py.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Tensor, io, manualSeed, models, type nn, randn } from '../../index.js';
import { expectClose } from '../helpers/assert.js';
import { calibrate } from '../helpers/bn_calibrate.js';

type Net = nn.Module & { forward(x: Tensor): Tensor };

interface Case {
  /** torchvision's name, or cifarResNet<depth> / cifarPlain<depth> as load_resgrad.py reads it */
  model: string;
  make: () => Net;
  input: number[];
  shortcut?: 'A' | 'B';
  num_classes?: number;
  in_channels?: number;
}

const cases: Record<string, Case> = {
  resnet18: { model: 'resnet18', make: () => models.resnet18(), input: [2, 3, 64, 64] },
  'resnet18 (1 channel, 10 classes)': {
    model: 'resnet18',
    make: () => models.resnet18({ inChannels: 1, numClasses: 10 }),
    input: [2, 1, 28, 28],
    in_channels: 1,
    num_classes: 10,
  },
  resnet50: { model: 'resnet50', make: () => models.resnet50(), input: [2, 3, 64, 64] },
  resnext50_32x4d: { model: 'resnext50_32x4d', make: () => models.resnext50_32x4d(), input: [2, 3, 64, 64] },
  'cifarResNet(20, 1 channel)': { model: 'cifarResNet20', make: () => models.cifarResNet(20, { inChannels: 1 }), input: [4, 1, 28, 28], in_channels: 1 },
  'cifarResNet(20, B shortcuts)': { model: 'cifarResNet20', make: () => models.cifarResNet(20, { shortcut: 'B' }), input: [4, 3, 32, 32], shortcut: 'B' },
  'cifarPlain(20)': { model: 'cifarPlain20', make: () => models.cifarPlain(20), input: [4, 3, 32, 32] },
};

describe('resgrad weights in PyTorch: strict load_state_dict, same eval logits', () => {
  const dir = mkdtempSync(join(tmpdir(), 'resgrad-to-torch-'));
  const ours: Record<string, Tensor> = {};
  let theirs: Record<string, Tensor> = {};

  beforeAll(() => {
    const manifest = Object.entries(cases).map(([label, c], i) => {
      manualSeed(100 + i);
      const model = c.make();
      const x = randn(c.input);
      ours[label] = calibrate(model, x);
      const weights = join(dir, `${i}.weights.safetensors`);
      const input = join(dir, `${i}.input.safetensors`);
      io.saveSafetensors(weights, model.stateDict());
      io.saveSafetensors(input, { x });
      const { make: _make, input: _shape, ...spec } = c;
      return { ...spec, weights, input, output: join(dir, `${i}.logits.safetensors`) };
    });
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ cases: manifest }));
    try {
      execFileSync('/usr/bin/python3', [join(import.meta.dirname, '..', 'oracle', 'load_resgrad.py'), join(dir, 'manifest.json')], { stdio: 'pipe' });
    } catch (e) {
      throw new Error(`test/oracle/load_resgrad.py failed (needs apt python3-torch python3-torchvision): ${String((e as { stderr?: Buffer }).stderr ?? e)}`);
    }
    theirs = Object.fromEntries(manifest.map((m, i) => [Object.keys(cases)[i] as string, io.loadSafetensors(m.output).logits as Tensor]));
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(Object.keys(cases))('%s', (label) => {
    const want = theirs[label] as Tensor;
    const got = ours[label] as Tensor;
    expect([...got.shape]).toEqual([...want.shape]);
    let scale = 0;
    for (const v of want.toArray()) scale = Math.max(scale, Math.abs(v));
    expect(scale).toBeGreaterThan(1e-3);
    expectClose(got, want.float(), { rtol: 2e-4, atol: 2e-4 * scale, label: `${label} logits, resgrad vs torch` });
  });
});
