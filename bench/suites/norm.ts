// Normalisation forward and backward on a ResNet-sized activation x[8, 64, 56, 56] (the size) (float32),
// one workload per kind of axes. Memory-bound, so the throughput is GB/s of the bytes a call
// must move: forward reads x and writes y, backward reads x and gy and writes gx. Rungs: the
// reference loops, the fused two-pass kernels, from the kernel registry (forward) the public
// F.*Norm op as the registry picks and pinned to each 'normForward' variant, (backward) the
// backend's 'normBackward' pinned to each of its variants, then the WASM BatchNorm kernels
// called directly (batch axes) on 1..n threads.
import {
  normBackward,
  normBackwardReference,
  normForward,
  normForwardReference,
} from '../../kernels/cpu/norm.js';
import { type NormAxes, type NormLayout, numSets } from '../../kernels/geometry.js';
import { prod, randnF32, uniformF32 } from '../data.js';
import { peerVariants } from '../peers/index.js';
import type { FloatArray, Suite, SuiteContext, Variant, Workload } from '../types.js';
import { normBackwardWasm, normForwardWasm, wasmNormSupports } from '../../kernels/wasm/norm.js';
import { cpuInput, registryKernelRungs, registryOpRungs } from '../registry.js';
import { wasmKernelRungs } from '../wasm_kernels.js';

const EPS = 1e-5;
const GROUPS = 32;
// Sums are taken in doubles by every resgrad rung; float32 peers sum in float32 over up to
// 200k elements per set, ~1e-6 relative here. 1e-4 separates rounding from a wrong kernel.
const TOL = 1e-4;

/** The kernel layout of x[N, C, H, W] for each kind (LayerNorm: one "channel" per element). */
function layout(axes: NormAxes, [N, C, H, W]: number[]): NormLayout {
  if (axes === 'layer') return { axes, N: N!, C: C! * H! * W!, S: 1, groups: 1 };
  return { axes, N: N!, C: C!, S: H! * W!, groups: axes === 'group' ? GROUPS : 1 };
}

type Fwd = typeof normForward;
type Bwd = typeof normBackward;

function forwardVariant(name: string, f: Fwd, x: Float32Array, l: NormLayout, w: Float32Array, b: Float32Array, reference: boolean): Variant {
  return {
    name, kind: 'resgrad', backend: 'cpu: TypeScript kernel (float32)', threads: 1, isReference: reference,
    prepare() {
      const y = new Float32Array(x.length);
      const mean = new Float32Array(numSets(l));
      const variance = new Float32Array(numSets(l));
      return { run: () => f(x, l, EPS, w, b, y, mean, variance), output: () => y };
    },
  };
}

interface Saved {
  x: Float32Array;
  gy: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  w: Float32Array;
}

function backwardVariant(name: string, f: Bwd, s: Saved, l: NormLayout, reference: boolean): Variant {
  return {
    name, kind: 'resgrad', backend: 'cpu: TypeScript kernel (float32)', threads: 1, isReference: reference,
    prepare() {
      const gx = new Float32Array(s.x.length);
      const gw = new Float32Array(l.C);
      const gb = new Float32Array(l.C);
      return {
        run: () => f(s.x, s.gy, l, s.mean, s.variance, EPS, s.w, true, gx, gw, gb),
        output: () => concat(gx, gw, gb),
      };
    },
  };
}

function concat(...parts: FloatArray[]): Float64Array {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const NAMES: Record<NormAxes, string> = { batch: 'batchNorm', layer: 'layerNorm', instance: 'instanceNorm', group: `groupNorm(${GROUPS})` };

function normWorkloads(axes: NormAxes, shape: number[], ctx: SuiteContext): Workload[] {
  const l = layout(axes, shape);
  const n = prod(shape);
  const x = randnF32(n, 7 + n);
  const w = uniformF32(l.C, 8, 0.5, 1.5);
  const b = randnF32(l.C, 9);
  const gy = randnF32(n, 10 + n);
  const mean = new Float32Array(numSets(l));
  const variance = new Float32Array(numSets(l));
  normForwardReference(x, l, EPS, w, b, new Float32Array(n), mean, variance);
  const saved: Saved = { x, gy, mean, variance, w };
  const shapeStr = `[${shape.join(',')}]`;
  const cShape = axes === 'layer' ? shape.slice(1) : [shape[1]!];
  const fwdSpec = { op: 'norm', axes, pass: 'forward', x: shape, groups: l.groups, eps: EPS } as const;
  const cpu = ctx.backends.has('cpu');
  const attrs = { ...l, eps: EPS, hasWeight: true, hasBias: true };
  const fwdCall = { kernel: 'normForward', inputs: [cpuInput(x, shape), cpuInput(w, cShape), cpuInput(b, cShape)], attrs } as const;
  const fwd: Variant[] = cpu
    ? [
        forwardVariant('reference', normForwardReference, x, l, w, b, true),
        forwardVariant('fused', normForward, x, l, w, b, false),
        ...registryOpRungs(ctx, `F.${NAMES[axes].replace(/\(.*/, '')}`, fwdCall, [{ data: x, shape }, { data: w, shape: cShape }, { data: b, shape: cShape }], ([xt, wt, bt], { F }) => {
          if (axes === 'batch') return F.batchNorm(xt!, null, null, wt!, bt!, { training: true, eps: EPS });
          if (axes === 'layer') return F.layerNorm(xt!, shape.slice(1), wt!, bt!, { eps: EPS });
          if (axes === 'instance') return F.instanceNorm(xt!, null, null, wt!, bt!, { eps: EPS });
          return F.groupNorm(xt!, GROUPS, wt!, bt!, { eps: EPS });
        }),
      ]
    : [];
  const wasm = cpu && wasmNormSupports(l);
  if (wasm) {
    fwd.push(
      ...wasmKernelRungs(ctx, 'bn', 'kernels/wasm/norm.ts', () => {
        const y = new Float32Array(n);
        const [m, v] = [new Float32Array(l.C), new Float32Array(l.C)];
        return { run: () => normForwardWasm(x, l, EPS, w, b, y, m, v), output: () => y };
      }),
    );
  }
  if (ctx.peers) fwd.push(...peerVariants(fwdSpec, { x, w, b }, ctx));
  // normBackward's inputs: [x, gy, mean, var, weight]; outputs [gx, gWeight, gBias] (core/cpu/norm.ts)
  const sets = [numSets(l)];
  const bwdCall = {
    kernel: 'normBackward',
    inputs: [cpuInput(x, shape), cpuInput(gy, shape), cpuInput(mean, sets), cpuInput(variance, sets), cpuInput(w, cShape)],
    attrs: { ...attrs, batchStats: true },
  } as const;
  const bwd: Variant[] = cpu
    ? [
        backwardVariant('reference', normBackwardReference, saved, l, true),
        backwardVariant('fused', normBackward, saved, l, false),
        ...registryKernelRungs(ctx, bwdCall, (outs) => concat(...outs)),
      ]
    : [];
  if (wasm) {
    bwd.push(
      ...wasmKernelRungs(ctx, 'bn', 'kernels/wasm/norm.ts', () => {
        const [gx, gw, gb] = [new Float32Array(n), new Float32Array(l.C), new Float32Array(l.C)];
        return { run: () => normBackwardWasm(x, gy, l, mean, variance, EPS, w, true, gx, gw, gb), output: () => concat(gx, gw, gb) };
      }),
    );
  }
  return [
    {
      suite: 'norm', name: `${NAMES[axes]} forward ${shapeStr}`, spec: fwdSpec, bytes: 2 * 4 * n,
      expected() {
        const y = new Float32Array(n);
        normForwardReference(x, l, EPS, w, b, y, new Float32Array(numSets(l)), new Float32Array(numSets(l)));
        return { values: y, tol: TOL };
      },
      variants: fwd,
    },
    {
      suite: 'norm', name: `${NAMES[axes]} backward ${shapeStr}`, spec: { ...fwdSpec, pass: 'backward' }, bytes: 3 * 4 * n,
      expected() {
        const gx = new Float32Array(n);
        const gw = new Float32Array(l.C);
        const gb = new Float32Array(l.C);
        normBackwardReference(x, gy, l, mean, variance, EPS, w, true, gx, gw, gb);
        return { values: concat(gx, gw, gb), tol: TOL };
      },
      variants: bwd,
    },
  ];
}

export function normSuite(): Suite {
  return {
    name: 'norm',
    description: 'Batch/Layer/Instance/GroupNorm with batch statistics, forward and backward (GB/s of x, y, gy, gx moved)',
    workloads: (ctx) => {
      const shape = ctx.quick ? [2, GROUPS, 6, 6] : [8, 64, 56, 56];
      return (['batch', 'layer', 'instance', 'group'] as const).flatMap((a) => normWorkloads(a, shape, ctx));
    },
  };
}
