// Whole models through the public API (float32, CPU): torchvision ResNet-18/50 and ResNeXt-50
// forward in eval mode at 224², and one CIFAR ResNet-20 training step (forward, cross-entropy,
// backward, SGD) at batch 128. There is no independent reference for a whole network at this
// size (the direct-loop conv would take minutes), so a model run is checked for an output of the
// right size with every value finite; its layers' kernels are each checked in the other suites.
// Batch 8 forwards run with --full only (tens of seconds a call on 2 cores).
import * as api from '../../index.js';
import type { Tensor } from '../../index.js';
import { prod, randnF32 } from '../data.js';
import type { Suite, SuiteContext, Variant, Workload } from '../types.js';

type Net = ReturnType<typeof api.models.resnet18>;

function finiteCheck(size: number) {
  return (got: ArrayLike<number>): number => {
    if (got.length !== size) return Number.POSITIVE_INFINITY;
    for (let i = 0; i < got.length; i++) if (!Number.isFinite(got[i] as number)) return Number.POSITIVE_INFINITY;
    return 0;
  };
}

function forwardWorkload(name: string, make: () => Net, batch: number, skip?: string): Workload {
  const shape = [batch, 3, 224, 224];
  const variant: Variant = {
    name: 'forward (eval)', kind: 'resgrad', backend: 'cpu: public API, float32 tensors', threads: 1,
    ...(skip ? { skip } : {}),
    prepare() {
      api.manualSeed(0);
      const model = make().eval();
      const x = api.tensor(randnF32(prod(shape), 5), { shape });
      let last: Float32Array = new Float32Array(0);
      return {
        run: () => {
          last = api.noGrad(() => model.forward(x) as Tensor).toArray() as Float32Array;
        },
        output: () => last,
      };
    },
  };
  return {
    suite: 'models', name: `${name} forward b${batch} 224²`, spec: { op: 'model', name, batch, mode: 'forward' },
    expected: () => ({ values: new Float32Array(0), check: finiteCheck(batch * 1000), tol: 0 }),
    variants: [variant],
  };
}

function cifarTrainStep(batch: number): Workload {
  const shape = [batch, 3, 32, 32];
  const variant: Variant = {
    name: 'train step', kind: 'resgrad', backend: 'cpu: public API, float32 tensors', threads: 1,
    // ~0.25 s an image on 2 busy cores: a batch of 128 is one long call, timed once
    ...(batch >= 64 ? { checkOnly: `one step at batch ${batch} takes tens of seconds` } : {}),
    prepare() {
      api.manualSeed(0);
      const model = api.models.cifarResNet(20).train();
      const opt = new api.optim.SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
      const x = api.tensor(randnF32(prod(shape), 6), { shape });
      const target = api.randint(0, 10, [batch], { dtype: 'int32' });
      let last: Float32Array = new Float32Array(0);
      return {
        run: () => {
          opt.zeroGrad();
          const loss = api.F.crossEntropy(model.forward(x) as Tensor, target);
          loss.backward();
          opt.step();
          last = loss.toArray() as Float32Array;
        },
        output: () => last,
      };
    },
  };
  return {
    suite: 'models', name: `cifar resnet20 train step b${batch} 32²`, spec: { op: 'model', name: 'cifarResNet(20)', batch, mode: 'train-step' },
    expected: () => ({ values: new Float32Array(0), check: finiteCheck(1), tol: 0 }),
    variants: [variant],
  };
}

export function modelSuite(): Suite {
  return {
    name: 'models',
    description: 'whole networks, forward (eval, noGrad) and a training step (calls/s, median)',
    workloads: (ctx: SuiteContext) => {
      if (!ctx.backends.has('cpu')) return [];
      if (ctx.quick) return [cifarTrainStep(8)];
      const full = ctx.full ? undefined : 'batch 8 takes tens of seconds a call on 2 cores: run with --full';
      return [
        forwardWorkload('resnet18', () => api.models.resnet18(), 1),
        forwardWorkload('resnet50', () => api.models.resnet50(), 1),
        forwardWorkload('resnext50_32x4d', () => api.models.resnext50_32x4d(), 1),
        forwardWorkload('resnet18', () => api.models.resnet18(), 8, full),
        forwardWorkload('resnet50', () => api.models.resnet50(), 8, full),
        forwardWorkload('resnext50_32x4d', () => api.models.resnext50_32x4d(), 8, full),
        cifarTrainStep(128),
      ];
    },
  };
}
