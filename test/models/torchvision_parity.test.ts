// Parity with torchvision (and an independent torch CIFAR ResNet): the same random weights,
// loaded through safetensors, give the same eval logits (float64 and float32) and, in train
// mode, the same loss, input gradient, parameter gradients and updated running statistics.
// The cases are generated at test time by test/oracle/make_model_cases.py into .cache/ (weights
// are hundreds of MB), with Debian's torch: `apt-get install python3-torch python3-torchvision`.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { F, type Tensor, io, models, type nn, noGrad } from '../../index.js';
import { expectClose } from '../helpers/assert.js';

const ROOT = join(import.meta.dirname, '..', '..');
const CACHE = join(ROOT, '.cache', 'models');
const VERSION = '2';

type Net = nn.Module & { forward(x: Tensor): Tensor };
const factories: Record<string, () => Net> = {
  resnet18: () => models.resnet18(),
  resnext50_32x4d: () => models.resnext50_32x4d(),
  cifar20A: () => models.cifarResNet(20, { inChannels: 1 }),
};

function ensureCases(names: string[]): void {
  const stale = names.filter((n) => {
    const v = join(CACHE, n, 'VERSION');
    return !existsSync(v) || readFileSync(v, 'utf8') !== VERSION;
  });
  if (stale.length === 0) return;
  try {
    execFileSync('/usr/bin/python3', [join(ROOT, 'test/oracle/make_model_cases.py'), CACHE, ...stale], { stdio: 'pipe' });
  } catch (e) {
    throw new Error(`could not generate model cases with /usr/bin/python3 (needs apt python3-torch python3-torchvision; run bash .ci/setup.sh): ${String((e as { stderr?: Buffer }).stderr ?? e)}`);
  }
}

/** |a − e| <= rel·|e| + rel·max|e|: relative to each tensor's own scale. */
function closeScaled(actual: Tensor, expected: Tensor, rel: number, label: string): void {
  const e = expected.toArray();
  let maxAbs = 0;
  for (const v of e) maxAbs = Math.max(maxAbs, Math.abs(v));
  expectClose(actual, expected, { rtol: rel, atol: rel * maxAbs, label });
}

describe.each(Object.keys(factories))('%s vs torch', (name) => {
  let weights: Record<string, Tensor>;
  let c: Record<string, Tensor>;
  beforeAll(() => {
    ensureCases([name]);
    weights = io.loadSafetensors(join(CACHE, name, 'weights.safetensors'));
    c = io.loadSafetensors(join(CACHE, name, 'case.safetensors'));
  }, 600_000);

  it('state-dict keys and shapes load strictly', () => {
    const m = (factories[name] as () => Net)();
    expect(Object.keys(m.stateDict())).toEqual(Object.keys(weights));
    m.loadStateDict(weights);
  });

  it('eval logits, float64 within 1e-9 and float32 within 1e-4 (relative to the largest logit)', () => {
    const m = (factories[name] as () => Net)().double();
    m.loadStateDict(weights);
    m.eval();
    const x = c.x as Tensor;
    closeScaled(m.forward(x) as Tensor, c.logits_eval as Tensor, 1e-9, 'f64 logits');
    const m32 = (factories[name] as () => Net)();
    m32.loadStateDict(weights);
    m32.eval();
    closeScaled(m32.forward(x.float()) as Tensor, c.logits_eval_f32 as Tensor, 1e-4, 'f32 logits');
  });

  it('eval logits under noGrad (every conv → BatchNorm folded, nn/fuse.ts): the same tolerances', () => {
    const m = (factories[name] as () => Net)().double();
    m.loadStateDict(weights);
    m.eval();
    const x = c.x as Tensor;
    closeScaled(noGrad(() => m.forward(x) as Tensor), c.logits_eval as Tensor, 1e-9, 'f64 folded logits');
    const m32 = (factories[name] as () => Net)();
    m32.loadStateDict(weights);
    m32.eval();
    closeScaled(noGrad(() => m32.forward(x.float()) as Tensor), c.logits_eval_f32 as Tensor, 1e-4, 'f32 folded logits');
  });

  it('train mode float64: loss, input grad, every parameter grad, updated running stats', () => {
    const m = (factories[name] as () => Net)().double();
    m.loadStateDict(weights);
    m.train();
    const x = (c.x as Tensor).detach();
    x.requiresGrad = true;
    const logits = m.forward(x) as Tensor;
    closeScaled(logits, c.logits_train as Tensor, 1e-9, 'train logits');
    const loss = F.crossEntropy(logits, c.target as Tensor);
    closeScaled(loss.reshape([1]), c.loss_train as Tensor, 1e-9, 'loss');
    loss.backward();
    closeScaled(x.grad as Tensor, c.grad_x as Tensor, 1e-9, 'grad x');
    for (const [k, p] of m.namedParameters()) closeScaled(p.grad as Tensor, c[`grad.${k}`] as Tensor, 1e-8, `grad ${k}`);
    for (const [k, b] of m.namedBuffers()) closeScaled(b, c[`after.${k}`] as Tensor, 1e-9, `buffer ${k}`);
  });
});
