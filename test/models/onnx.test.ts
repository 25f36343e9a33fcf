// ONNX export checked by running the exported graph in onnxruntime-node: every model constructor
// of `models`, in eval mode with seeded random weights and non-trivial BatchNorm statistics, gives
// the logits resgrad gives. Tolerance: both sides compute in float32 with different summation
// orders (im2col / Winograd here, MLAS there) and, folded, with BN rounded into the weights, so
// each layer adds a few float32 ulps of relative error. 2e-4 of the largest logit leaves room for
// the 150-layer nets: seen, ~1e-6 of it for resnet18, ~5e-6 for resnet50, ~2e-5 for resnet152,
// about twice resgrad's own float32-vs-float64 difference (see helpers/bn_calibrate.ts).
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { ResgradError, type Tensor, ValueError, manualSeed, models, nn, noGrad, rand, randn } from '../../index.js';
import { OnnxExportError, exportOnnx, onnxModelOf, serializeOnnx } from '../../models/onnx.js';
import { expectClose } from '../helpers/assert.js';
import { calibrate } from '../helpers/bn_calibrate.js';

type Net = nn.Module & { forward(x: Tensor): Tensor };

/** Run the graph as written: no onnxruntime rewrites (its own BN folding, layout changes), and a quicker start. */
async function runOrt(bytes: Uint8Array | string, x: Tensor): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const options = { graphOptimizationLevel: 'disabled' } as const;
  const session = typeof bytes === 'string' ? await ort.InferenceSession.create(bytes, options) : await ort.InferenceSession.create(bytes, options);
  try {
    const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(x.toArray() as Float32Array), [...x.shape]) });
    const y = out.output as ort.Tensor;
    return { data: y.data as Float32Array, dims: y.dims };
  } finally {
    await session.release();
  }
}

/** resgrad's logits (`logits`, if already computed for x) vs onnxruntime's for the exported graph, on x or on `batch`. */
async function expectSameLogits(model: Net, x: Tensor, opts: { foldBatchNorm?: boolean; opset?: number } = {}, batch?: Tensor, logits?: Tensor): Promise<void> {
  const bytes = serializeOnnx(model, x, opts);
  const input = batch ?? x;
  const want = logits ?? noGrad(() => model.forward(input));
  const got = await runOrt(bytes, input);
  expect([...got.dims]).toEqual([...want.shape]);
  let scale = 0;
  for (const v of want.toArray()) scale = Math.max(scale, Math.abs(v));
  expect(scale).toBeGreaterThan(1e-3); // logits that vanished would compare trivially
  expectClose(got.data, want.toArray(), { rtol: 2e-4, atol: 2e-4 * scale, label: 'onnxruntime logits' });
}

const torchvision = 'resnet18 resnet34 resnet50 resnet101 resnet152 resnext50_32x4d resnext101_32x8d resnext101_64x4d wide_resnet50_2 wide_resnet101_2'.split(' ');

describe('ONNX export runs in onnxruntime with the same logits', () => {
  it('the list below covers every model constructor in models', () => {
    const factories = Object.entries(models)
      .filter(([name, f]) => typeof f === 'function' && /^(resnet|resnext|wide_resnet|cifar)/.test(name) && !/^[A-Z]/.test(name))
      .map(([name]) => name)
      .sort();
    expect(factories).toEqual([...torchvision, 'cifarPlain', 'cifarResNet'].sort());
  });

  it.each(torchvision)('%s (BN folded)', async (name) => {
    manualSeed(11);
    const model = (models as unknown as Record<string, () => Net>)[name]?.() as Net;
    // 64² (layer4 2×2): the forward is cheap next to building the 100-layer nets, and on 32² (layer4
    // 1×1, BN statistics from 2 values a channel) the logits of resnet152 are 4x as sensitive to rounding
    const x = randn([2, 3, 64, 64]);
    await expectSameLogits(model, x, {}, undefined, calibrate(model, x));
  }, 240_000);

  it.each([
    ['cifarResNet(20) x=[2,3,32,32]', () => models.cifarResNet(20), [2, 3, 32, 32]],
    ['cifarResNet(32, B shortcuts) x=[2,3,32,32]', () => models.cifarResNet(32, { shortcut: 'B' }), [2, 3, 32, 32]],
    ['cifarResNet(20, 1 channel) x=[2,1,28,28]', () => models.cifarResNet(20, { inChannels: 1 }), [2, 1, 28, 28]],
    ['cifarPlain(20) x=[2,3,32,32]', () => models.cifarPlain(20), [2, 3, 32, 32]],
    ['cifarPlain(8, 1 channel) x=[2,1,28,28]', () => models.cifarPlain(8, { inChannels: 1 }), [2, 1, 28, 28]],
    ['cifarResNet(14, width 32, groups 4) x=[2,3,32,32]', () => models.cifarResNet(14, { width: 32, groups: 4 }), [2, 3, 32, 32]],
  ] as const)('%s', async (_name, make, shape) => {
    manualSeed(12);
    const model = make() as Net;
    const x = randn([...shape]);
    calibrate(model, x);
    for (const foldBatchNorm of [true, false]) await expectSameLogits(model, x, { foldBatchNorm });
  });

  it.each([
    ['resnet18', () => models.resnet18() as Net],
    ['resnext50_32x4d', () => models.resnext50_32x4d() as Net],
    ['resnet18 (1 channel, 10 classes) x=[2,1,28,28]', () => models.resnet18({ inChannels: 1, numClasses: 10 }) as Net],
  ])('%s with BatchNormalization nodes kept (foldBatchNorm false)', async (name, make) => {
    manualSeed(13);
    const model = make();
    const x = name.includes('28') ? randn([2, 1, 28, 28]) : randn([2, 3, 64, 64]);
    await expectSameLogits(model, x, { foldBatchNorm: false }, undefined, calibrate(model, x));
  }, 120_000);

  it('opset 13 and 21 as well as the default 17 (cifarResNet(20), folded and not)', async () => {
    manualSeed(14);
    const model = models.cifarResNet(20) as Net;
    const x = randn([2, 3, 32, 32]);
    calibrate(model, x);
    for (const opset of [13, 21]) for (const foldBatchNorm of [true, false]) await expectSameLogits(model, x, { opset, foldBatchNorm });
  });

  it('the batch dim is dynamic: exported with batch 2, run on batch 5', async () => {
    manualSeed(15);
    const model = models.cifarResNet(20) as Net;
    const x = randn([2, 3, 32, 32]);
    calibrate(model, x);
    await expectSameLogits(model, x, {}, randn([5, 3, 32, 32]));
    const g = onnxModelOf(model, x);
    expect(g.inputs[0]?.dims).toEqual(['N', 3, 32, 32]);
    expect(g.outputs[0]?.dims).toEqual(['N', 10]);
  });

  it('a float64 model exports as a float32 graph', async () => {
    manualSeed(21);
    const model = models.cifarResNet(8) as Net;
    calibrate(model, randn([2, 3, 16, 16]));
    model.double();
    const x = randn([2, 3, 16, 16]);
    const got = await runOrt(serializeOnnx(model, x), x);
    const want = noGrad(() => model.forward(x.double()));
    expectClose(got.data, want.toArray(), { rtol: 1e-4, atol: 1e-5, label: 'float32 graph vs float64 model' });
  });

  it('folding removes every BatchNormalization node; keeping them leaves one per BatchNorm2d', () => {
    manualSeed(16);
    const model = models.resnet18().eval();
    const x = randn([1, 3, 32, 32]);
    const ops = (fold: boolean) => onnxModelOf(model, x, { foldBatchNorm: fold }).nodes.map((n) => n.op);
    const bns = model.modules().filter((m) => m instanceof nn.BatchNorm2d).length;
    expect(ops(true).filter((op) => op === 'BatchNormalization')).toHaveLength(0);
    expect(ops(false).filter((op) => op === 'BatchNormalization')).toHaveLength(bns);
    expect(new Set(ops(true))).toEqual(new Set(['Conv', 'Relu', 'MaxPool', 'Add', 'GlobalAveragePool', 'Flatten', 'Gemm']));
  });
});

describe('ONNX export of other norms and layers', () => {
  it.each([
    ['GroupNorm(8, c)', (c: number) => new nn.GroupNorm(8, c)],
    ['GroupNorm(1, c) (LayerNorm over C, H, W)', (c: number) => new nn.GroupNorm(1, c)],
    ['InstanceNorm2d(c, affine)', (c: number) => new nn.InstanceNorm2d(c, { affine: true })],
    ['InstanceNorm2d(c, tracked statistics)', (c: number) => new nn.InstanceNorm2d(c, { trackRunningStats: true, affine: true })],
  ])('cifarResNet(20) with %s, opsets 13 and 17', async (_name, norm) => {
    manualSeed(17);
    const model = models.cifarResNet(20, { normLayer: norm }) as Net;
    noGrad(() => {
      for (const [k, p] of model.namedParameters()) if (/bn|shortcut\.1/.test(k)) p.assign(randn(p.shape).mul(0.2).add(k.endsWith('weight') ? 1 : 0));
      for (const m of model.modules()) {
        if (m instanceof nn.InstanceNorm2d && m.running_mean && m.running_var) {
          m.running_mean.assign(randn([m.numFeatures]).mul(0.1));
          m.running_var.assign(rand([m.numFeatures]).add(0.5));
        }
      }
    });
    model.eval();
    const x = randn([2, 3, 16, 16]);
    for (const opset of [13, 17]) await expectSameLogits(model, x, { opset });
  });

  it('LayerNorm over [C, H, W] and over the last dim, opsets 13 and 17', async () => {
    manualSeed(18);
    const model = new nn.Sequential(
      new nn.Conv2d(3, 4, 3, { padding: 1 }),
      new nn.LayerNorm([4, 6, 6]),
      new nn.Flatten(),
      new nn.Linear(144, 8),
      new nn.LayerNorm(8, { elementwiseAffine: false }),
      new nn.Linear(8, 5),
    ) as Net;
    noGrad(() => {
      for (const [k, p] of model.namedParameters()) if (k.startsWith('1.')) p.assign(randn(p.shape).mul(0.3).add(k.endsWith('weight') ? 1 : 0));
    });
    model.eval();
    const x = randn([3, 3, 6, 6]);
    for (const opset of [13, 17]) await expectSameLogits(model, x, { opset });
  });

  it('conv options, pools and heads: bias, stride, dilation, groups, same padding, ceil mode, padded average, adaptive 2x2, Linear on 3D', async () => {
    manualSeed(19);
    const bnAfterRelu = new nn.BatchNorm2d(8);
    const head = new nn.BatchNorm1d(6);
    const model = new nn.Sequential(
      new nn.Conv2d(3, 8, 3, { stride: 2, padding: 2, dilation: 2 }),
      new nn.ReLU(),
      bnAfterRelu, // not after a conv: stays a BatchNormalization node even when folding
      new nn.Conv2d(8, 8, [3, 2], { padding: 'same', groups: 4 }),
      new nn.MaxPool2d(3, { stride: 2, padding: 1, ceilMode: true }),
      new nn.AvgPool2d(2, { stride: 1, padding: 1, countIncludePad: false }),
      new nn.Conv2d(8, 6, 1),
      new nn.AdaptiveAvgPool2d(2),
      new nn.Flatten(2),
      new nn.Linear(4, 3), // on [N, 6, 4]: MatMul + Add
      new nn.Flatten(),
      new nn.Dropout(0.5),
      new nn.Linear(18, 6),
      head,
      new nn.Identity(),
    ) as Net;
    noGrad(() => {
      for (const bn of [bnAfterRelu, head]) {
        const c = bn.numFeatures;
        bn.weight?.assign(rand([c]).add(0.5));
        bn.bias?.assign(randn([c]));
        bn.running_mean?.assign(randn([c]).mul(0.3));
        bn.running_var?.assign(rand([c]).add(0.5));
      }
    });
    model.eval();
    const x = randn([2, 3, 17, 23]); // 23: the ceil-mode max pool keeps a last, partial window
    const ops = onnxModelOf(model, x).nodes.map((n) => n.op);
    expect(ops.filter((op) => op === 'BatchNormalization')).toHaveLength(2);
    for (const foldBatchNorm of [true, false]) await expectSameLogits(model, x, { foldBatchNorm }, randn([3, 3, 17, 23]));
  });
});

describe('exportOnnx writes the file atomically and refuses what it cannot export', () => {
  const dir = mkdtempSync(join(tmpdir(), 'resgrad-onnx-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a model onnxruntime loads from the path, and no temporary file is left', async () => {
    manualSeed(20);
    const model = models.cifarResNet(8) as Net;
    const x = randn([2, 3, 16, 16]);
    calibrate(model, x);
    const path = join(dir, 'net.onnx');
    exportOnnx(model, x, path);
    expect(readdirSync(dir)).toEqual(['net.onnx']);
    expect(readFileSync(path)).toEqual(Buffer.from(serializeOnnx(model, x)));
    const got = await runOrt(path, x);
    expectClose(got.data, noGrad(() => model.forward(x)).toArray(), { rtol: 2e-4, atol: 1e-5 });
  });

  it('a failed export leaves the previous file as it was', () => {
    const path = join(dir, 'keep.onnx');
    writeFileSync(path, 'previous');
    const model = models.cifarResNet(8); // still in training mode
    expect(() => exportOnnx(model, randn([1, 3, 8, 8]), path)).toThrow(OnnxExportError);
    expect(readFileSync(path, 'utf8')).toBe('previous');
    expect(() => exportOnnx(model.eval(), randn([1, 3, 8, 8]), join(dir, 'no', 'such', 'folder.onnx'))).toThrow(/ENOENT/);
    expect(existsSync(join(dir, 'no'))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('clear errors: training mode, unknown module, overridden forward, batch-statistics BatchNorm, bad arguments', () => {
    const x = randn([1, 3, 8, 8]);
    expect(() => serializeOnnx(models.cifarResNet(8), x)).toThrow(/eval mode \(call model.eval\(\)\), but module '<root>' \(CifarResNet\) has training=true/);
    const half = models.cifarResNet(8).eval();
    half.layer2.train();
    expect(() => serializeOnnx(half, x)).toThrow(/module 'layer2' \(Sequential\) has training=true/);

    class Swish extends nn.Module {
      forward(t: Tensor): Tensor {
        return t.mul(t.sigmoid());
      }
    }
    const custom = new nn.Sequential(new nn.Conv2d(3, 4, 3), new nn.Sequential(new nn.ReLU(), new Swish())).eval();
    expect(() => serializeOnnx(custom, x)).toThrow(/no ONNX export for module class Swish at '1\.1'; supported: Conv2d, /);

    class LeakyBlock extends nn.ReLU {
      override forward(t: Tensor): Tensor {
        return t.maximum(t.mul(0.1));
      }
    }
    expect(() => serializeOnnx(new nn.Sequential(new LeakyBlock()).eval(), x)).toThrow(/LeakyBlock at '0' overrides forward\(\) of ReLU/);

    const batchStats = new nn.Sequential(new nn.Conv2d(3, 4, 3), new nn.BatchNorm2d(4, { trackRunningStats: false })).eval();
    expect(() => serializeOnnx(batchStats, x)).toThrow(/BatchNorm2d '1' has no running statistics \(trackRunningStats=false\)/);

    const net = models.cifarResNet(8).eval();
    expect(() => serializeOnnx(net, x, { opset: 12 })).toThrow(ValueError);
    expect(() => serializeOnnx(net, x, { opset: 12 })).toThrow(/'opts.opset' must be an integer from 13 to 21, but got 12/);
    expect(() => serializeOnnx({} as nn.Module, x)).toThrow(/argument 'model' must be a Module, but got Object/);
    expect(() => serializeOnnx(net, [1, 2] as unknown as Tensor)).toThrow(/argument 'exampleInput' must be a Tensor, but got Array/);
    expect(() => serializeOnnx(net, randn([3]))).toThrow(/must have a batch dim and at least one more, but got shape \[3\]/);
    expect(() => serializeOnnx(net, randn([1, 2, 8, 8]))).toThrow(/Conv2d 'conv1'.*3 channels, but got 2 channels/);
    expect(() => exportOnnx(net, x, '')).toThrow(/argument 'path' must be a non-empty string/);
    expect(() => serializeOnnx(net, x)).not.toThrow(ResgradError);
  });
});
