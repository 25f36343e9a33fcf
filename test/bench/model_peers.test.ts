// Model peers built from OUR module tree and weights (bench/peers/model_graph.ts): the lowering
// folds eval BatchNorm into the convolutions and fuses ReLUs, and tfjs (cpu, wasm) and
// onnxruntime then compute our model's function. Checked on a one-block-per-stage ResNet of
// ResNet-50's Bottleneck blocks (narrow: widthPerGroup 16, 10 classes, so it builds fast) with
// seeded BN statistics at a 32² input (1×1 at layer4), on a BasicBlock with a downsample, and
// on small Sequentials for the paths ResNet does not take (a BN after no conv, a conv bias).
import { describe, expect, it } from 'vitest';
import { lowerModel } from '../../bench/peers/model_graph.js';
import { onnxOfModel, ortGraphVariant } from '../../bench/peers/onnx.js';
import { tfjsModelVariant } from '../../bench/peers/tfjs.js';
import { scaledError } from '../../bench/runner.js';
import { seedNorms } from '../../bench/suites/models.js';
import { randnF32 } from '../../bench/data.js';
import type { Variant } from '../../bench/types.js';
import { manualSeed, models, nn, noGrad, tensor } from '../../index.js';
import type { Module } from '../../nn/module.js';

// float32 through ~20 layers in different summation orders, BN folded in float64 and rounded:
// ~1e-6 of the largest output here; a wrong layer is off by O(1) of it.
const TOL = 1e-4;

/** Our forward in float64 (the reference), then the model back in float32. */
function reference(m: Module & { forward(x: unknown): unknown }, x: Float32Array, shape: number[]): Float64Array {
  m.double();
  try {
    return noGrad(() => (m.forward(tensor(Float64Array.from(x), { shape, dtype: 'float64' })) as { toArray(): Float64Array }).toArray());
  } finally {
    m.float();
  }
}

async function outputOf(v: Variant): Promise<Float32Array> {
  const p = await v.prepare();
  try {
    await p.run();
    return (await p.output()) as Float32Array;
  } finally {
    await p.dispose?.();
  }
}

describe('bench model peers', () => {
  it('ResNet(Bottleneck, [1,1,1,1]) x=[1,3,32,32], seeded BN: BN folded, ReLUs fused; tfjs cpu/wasm and onnxruntime give our logits', async () => {
    manualSeed(0);
    const m = new models.ResNet(models.Bottleneck, [1, 1, 1, 1], { widthPerGroup: 16, numClasses: 10 }).eval();
    seedNorms(m, 7);
    const shape = [1, 3, 32, 32];
    const x = randnF32(3 * 32 * 32, 3);
    const g = lowerModel(m, shape, [1, 10]);
    const convs = m.modules().filter((q) => q instanceof nn.Conv2d).length;
    expect(convs).toBe(1 + 4 * 4); // stem; conv1-3 and the downsample of 4 blocks
    expect(g.nodes.filter((n) => n.op === 'conv')).toHaveLength(convs);
    expect(g.nodes.filter((n) => n.op === 'affine' || n.op === 'relu')).toHaveLength(0); // every BN folded, every ReLU fused
    expect(g.nodes.filter((n) => (n.op === 'conv' || n.op === 'add') && n.relu)).toHaveLength(1 + 4 * 3); // stem; conv1, conv2, the add of 4 blocks
    const exp = { values: reference(m, x, shape), tol: TOL };
    const ours = noGrad(() => m.forward(tensor(x, { shape }))).toArray() as Float32Array;
    expect(scaledError(ours, exp)).toBeLessThan(TOL);
    const peers = [tfjsModelVariant('cpu', () => ({ g, x })), tfjsModelVariant('wasm', () => ({ g, x })), ortGraphVariant(() => onnxOfModel(g, x), 1)];
    for (const v of peers) expect(scaledError(await outputOf(v), exp), v.name).toBeLessThan(TOL);
  }, 60_000);

  it('BasicBlock 4→8 s2 with downsample, Sequential(BN, ReLU), Sequential(Conv2d with bias, BN, ReLU, MaxPool2d) x=[2,4,9,7]: outputs match', async () => {
    manualSeed(1);
    const shape = [2, 4, 9, 7];
    const x = randnF32(2 * 4 * 9 * 7, 4);
    const down = new nn.Sequential(models.conv1x1(4, 8, 2), new nn.BatchNorm2d(8));
    const cases: [Module & { forward(x: unknown): unknown }, number[], string[]][] = [
      [new models.BasicBlock(4, 8, { stride: 2, downsample: down }), [2, 8, 5, 4], ['conv', 'conv', 'conv', 'add']],
      [new nn.Sequential(new nn.BatchNorm2d(4), new nn.ReLU()), [2, 4, 9, 7], ['affine']],
      [new nn.Sequential(new nn.Conv2d(4, 6, 3, { stride: 2, padding: 1 }), new nn.BatchNorm2d(6), new nn.ReLU(), new nn.MaxPool2d(3, { stride: 1, padding: 1 })), [2, 6, 5, 4], ['conv', 'maxpool']],
    ];
    for (const [m, outShape, ops] of cases) {
      m.eval();
      seedNorms(m, 11);
      const g = lowerModel(m, shape, outShape);
      expect(g.nodes.map((n) => n.op)).toEqual(ops);
      const exp = { values: reference(m, x, shape), tol: TOL };
      for (const v of [tfjsModelVariant('wasm', () => ({ g, x })), ortGraphVariant(() => onnxOfModel(g, x), 1)]) {
        expect(scaledError(await outputOf(v), exp), `${ops} ${v.name}`).toBeLessThan(TOL);
      }
    }
  }, 60_000);

  it('refuses what it cannot lower: an unknown module, BN in training mode; tfjs skips grouped convs', async () => {
    expect(() => lowerModel(new nn.Sequential(new nn.Flatten()), [1, 2, 2, 2], [1, 8])).toThrow('model lowering: no rule for Flatten');
    expect(() => lowerModel(new nn.Sequential(new nn.BatchNorm2d(2)), [1, 2, 2, 2], [1, 2, 2, 2])).toThrow(/training mode/);
    const grouped = new nn.Sequential(new nn.Conv2d(4, 4, 3, { groups: 2, padding: 1 })).eval();
    const g = lowerModel(grouped, [1, 4, 5, 5], [1, 4, 5, 5]);
    await expect(tfjsModelVariant('wasm', () => ({ g, x: new Float32Array(100) })).prepare()).rejects.toThrow('tfjs has no grouped conv2d');
  });
});
