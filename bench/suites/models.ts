// Whole models through the public API (float32, CPU): torchvision ResNet-18/50 and ResNeXt-50
// forward in eval mode at 224², and one CIFAR ResNet-20 training step (forward, cross-entropy,
// backward, SGD momentum 0.9) at batch 128 — ResNet-50 b1 and the training step are the issue's.
//
// Forward: the model's BatchNorm statistics and affine parameters are set to seeded, non-trivial
// values (so a peer that folds BN into its convolutions is checked doing it), and every rung and
// peer is checked against the same model's logits computed in float64 (TypeScript kernels)
// before it is timed. Peers (--peers) are built from OUR module tree and weights
// (peers/model_graph.ts): onnxruntime per thread count, tfjs-wasm on one thread.
//
// Training step: there is no affordable independent reference for a step, so the loss must be
// finite; the PyTorch peer (--peers) runs the same network in Debian's torch, per thread count.
// Batch 8 forwards run with --full only (tens of seconds a call on 2 cores).
import * as api from '../../index.js';
import type { Tensor } from '../../index.js';
import type { Module } from '../../nn/module.js';
import { prod, randnF32, uniformF32 } from '../data.js';
import { type ModelGraph, lowerModel } from '../peers/model_graph.js';
import { onnxOfModel, ortGraphVariant } from '../peers/onnx.js';
import { tfjsModelVariant } from '../peers/tfjs.js';
import { torchTrainStepVariant } from '../peers/torch.js';
import { anyThreadedVariant } from '../registry.js';
import { threadLadder, threadList } from '../threads.js';
import { gpuRung } from '../variants.js';
import type { Expected, Suite, SuiteContext, Variant, Workload } from '../types.js';

type Net = ReturnType<typeof api.models.resnet18>;

const CLASSES = 1000;
// Logits of float32 runs against the float64 forward: ~50 layers of float32 sums of up to 4608
// products in different orders (our WASM FMA tiles, XNNPACK, MLAS) plus BN folded into the
// weights (by the peers, and by nn/fuse.ts in our eval forward under noGrad). Measured on ResNet-50 here: 1e-7 (ours, TS kernels), 4e-7
// (onnxruntime), 1.3e-6 (tfjs-wasm) of the largest logit; 1e-4 leaves room for other summation
// orders and still catches a layer that is off by a percent.
const LOGIT_TOL = 1e-4;

function finiteCheck(size: number) {
  return (got: ArrayLike<number>): number => {
    if (got.length !== size) return Number.POSITIVE_INFINITY;
    for (let i = 0; i < got.length; i++) if (!Number.isFinite(got[i] as number)) return Number.POSITIVE_INFINITY;
    return 0;
  };
}

/**
 * Seeded, non-trivial eval statistics for every BatchNorm2d: μ ~ 0.1·N(0,1), σ² ~ U(0.8, 1.25),
 * γ ~ U(0.8, 1.2), β ~ 0.1·N(0,1) — mild, so 50 layers neither blow up nor vanish.
 */
export function seedNorms(model: Module, seed: number): void {
  let s = seed;
  api.noGrad(() => {
    for (const m of model.modules()) {
      if (!(m instanceof api.nn.BatchNorm2d)) continue;
      const c = m.numFeatures;
      const set = (t: Tensor | null, data: Float32Array) => t?.assign(api.tensor(data, { shape: [c] }));
      set(m.running_mean, randnF32(c, s++).map((v) => 0.1 * v));
      set(m.running_var, uniformF32(c, s++, 0.8, 1.25));
      set(m.weight, uniformF32(c, s++, 0.8, 1.2));
      set(m.bias, randnF32(c, s++).map((v) => 0.1 * v));
    }
  });
}

function forwardWorkload(name: string, make: () => Net, batch: number, ctx: SuiteContext, skip?: string): Workload {
  const shape = [batch, 3, 224, 224];
  const x = randnF32(prod(shape), 5);
  // One model and one peer graph per workload, shared by its rungs and peers, dropped after.
  let model: Net | undefined;
  let graph: ModelGraph | undefined;
  const net = (): Net => {
    if (!model) {
      api.manualSeed(0);
      model = make().eval();
      seedNorms(model, 100);
    }
    return model;
  };
  const lowered = () => {
    graph ??= lowerModel(net(), shape, [batch, CLASSES]);
    return { g: graph, x };
  };
  const rung = (): Variant => ({
    name: 'forward (eval)',
    kind: 'resgrad',
    backend: 'cpu: public API, float32 tensors',
    threads: 1,
    note: 'eval under noGrad: each conv → BatchNorm (→ ReLU) folded into one convolution (nn/fuse.ts), as the peers fold BN',
    ...(skip ? { skip } : {}),
    prepare() {
      const m = net();
      const xt = api.tensor(x, { shape });
      let last: Float32Array = new Float32Array(0);
      return {
        // inside tidy(), as the README recommends: activations live in the WASM heap
        run: () => {
          last = api.noGrad(() => api.tidy(() => m.forward(xt) as Tensor)).toArray() as Float32Array;
        },
        output: () => last,
      };
    },
  });
  const variants: Variant[] = !ctx.backends.has('cpu') ? [] : anyThreadedVariant() ? threadLadder(ctx, rung) : [rung()];
  if (ctx.backends.has('gpu')) variants.push(gpuForwardRung(make, shape, x, skip));
  if (ctx.peers && !skip) {
    variants.push(tfjsModelVariant('wasm', lowered));
    for (const t of threadList(ctx)) variants.push(ortGraphVariant(() => onnxOfModel(lowered().g, x), t, 'built from our module tree and weights, BN folded'));
  }
  // Batch 8 has no float64 reference (tens of seconds): finite logits of the right size.
  const reference = batch === 1;
  return {
    suite: 'models',
    name: `${name} forward b${batch} 224²`,
    spec: { op: 'model', name, batch, mode: 'forward' },
    expected(): Expected {
      if (skip || !reference) return { values: new Float32Array(0), check: finiteCheck(batch * CLASSES), tol: 0 };
      const m = net();
      m.double();
      try {
        const logits = api.noGrad(() => m.forward(api.tensor(Float64Array.from(x), { shape, dtype: 'float64' })) as Tensor).toArray() as Float64Array;
        return { values: logits, tol: LOGIT_TOL };
      } finally {
        m.float();
      }
    },
    variants,
    release() {
      model = undefined;
      graph = undefined;
    },
  };
}

/**
 * The same forward on device 'gpu': its own copy of the model (same seed and norm statistics),
 * moved with `.to('gpu')`; each call reads the logits back, which is what makes the work finish.
 */
function gpuForwardRung(make: () => Net, shape: number[], x: Float32Array, skip?: string): Variant {
  return gpuRung(
    'gpu forward (eval)',
    () => {
      api.manualSeed(0);
      const m = make().eval();
      seedNorms(m, 100);
      m.to('gpu');
      const xt = api.tensor(x, { shape, device: 'gpu' });
      let last: Float32Array = new Float32Array(0);
      return {
        run: async () => {
          const y = api.noGrad(() => api.tidy(() => m.forward(xt) as Tensor));
          last = (await y.data()) as Float32Array;
          y.dispose();
        },
        output: () => last,
        dispose: () => xt.dispose(),
      };
    },
    skip ? { skip } : {},
  );
}

/** One SGD step as the README writes it, inside tidy(): returns the detached loss. */
function trainStep(model: { forward(x: Tensor): unknown }, opt: InstanceType<typeof api.optim.SGD>, x: Tensor, target: Tensor): Tensor {
  return api.tidy(() => {
    opt.zeroGrad();
    const l = api.F.crossEntropy(model.forward(x) as Tensor, target);
    l.backward();
    opt.step();
    return l.detach();
  });
}

/** The same training step with the model, batch and optimizer state on device 'gpu'; the loss is read back each step. */
function gpuTrainStepRung(batch: number, shape: number[]): Variant {
  return gpuRung('gpu train step', () => {
    api.manualSeed(0);
    const model = api.models.cifarResNet(20).train().to('gpu');
    const opt = new api.optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
    const x = api.tensor(randnF32(prod(shape), 6), { shape, device: 'gpu' });
    const target = api.randint(0, 10, [batch], { dtype: 'int32' }).to('gpu');
    let last: Float32Array = new Float32Array(0);
    return {
      run: async () => {
        const loss = trainStep(model, opt, x, target);
        last = (await loss.data()) as Float32Array;
        loss.dispose();
      },
      output: () => last,
    };
  });
}

function cifarTrainStep(batch: number, ctx: SuiteContext): Workload {
  const shape = [batch, 3, 32, 32];
  const rung = (): Variant => ({
    name: 'train step',
    kind: 'resgrad',
    backend: 'cpu: public API, float32 tensors',
    threads: 1,
    prepare() {
      api.manualSeed(0);
      const model = api.models.cifarResNet(20).train();
      const opt = new api.optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
      const x = api.tensor(randnF32(prod(shape), 6), { shape });
      const target = api.randint(0, 10, [batch], { dtype: 'int32' });
      let last: Float32Array = new Float32Array(0);
      return {
        // the step as the README writes it: inside tidy(), so activations and gradients live in
        // the WASM heap (read in place by the kernels, freed at the end of the step)
        run: () => {
          last = trainStep(model, opt, x, target).toArray() as Float32Array;
        },
        output: () => last,
      };
    },
  });
  const variants: Variant[] = !ctx.backends.has('cpu') ? [] : anyThreadedVariant() ? threadLadder(ctx, rung) : [rung()];
  if (ctx.backends.has('gpu')) variants.push(gpuTrainStepRung(batch, shape));
  if (ctx.peers) {
    const steps = ctx.quick ? { warmup: 1, timed: 2 } : { warmup: 2, timed: 5 };
    for (const t of threadList(ctx)) variants.push(torchTrainStepVariant(batch, t, steps));
  }
  return {
    suite: 'models',
    name: `cifar resnet20 train step b${batch} 32²`,
    spec: { op: 'model', name: 'cifarResNet(20)', batch, mode: 'train-step' },
    images: batch,
    expected: () => ({ values: new Float32Array(0), check: finiteCheck(1), tol: 0 }),
    variants,
  };
}

export function modelSuite(): Suite {
  return {
    name: 'models',
    description: 'whole networks, forward (eval, noGrad) and a training step (calls/s and images/s, median)',
    workloads: (ctx: SuiteContext) => {
      if (!ctx.backends.has('cpu') && !ctx.backends.has('gpu')) return [];
      if (ctx.quick) return [cifarTrainStep(8, ctx)];
      const full = ctx.full ? undefined : 'batch 8 takes tens of seconds a call on 2 cores: run with --full';
      return [
        forwardWorkload('resnet18', () => api.models.resnet18(), 1, ctx),
        forwardWorkload('resnet50', () => api.models.resnet50(), 1, ctx),
        forwardWorkload('resnext50_32x4d', () => api.models.resnext50_32x4d(), 1, ctx),
        forwardWorkload('resnet18', () => api.models.resnet18(), 8, ctx, full),
        forwardWorkload('resnet50', () => api.models.resnet50(), 8, ctx, full),
        forwardWorkload('resnext50_32x4d', () => api.models.resnext50_32x4d(), 8, ctx, full),
        cifarTrainStep(128, ctx),
      ];
    },
  };
}
