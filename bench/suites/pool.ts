// Pooling: ResNet's stem max-pool and a 2×2 average pool (float32, GB/s of x read + y written).
// pool2d.ts has one kernel per kind (it is the reference), so the ladder is the kernel, the
// public F op as the registry picks and pinned to each registered variant of its kernel, the
// WASM kernel called directly on 1..n threads, and the GPU when its backend has the kernel; the
// peers run the same pooling.
import {
  avgPool2dForward,
  maxPool2dForward,
} from '../../kernels/cpu/pool2d.js';
import type { AvgPoolOptions, PoolGeometry } from '../../kernels/geometry.js';
import { type Tensor, getBackend, hasBackend } from '../../index.js';
import type * as Api from '../../index.js';
import { prod, randnF32 } from '../data.js';
import { peerVariants } from '../peers/index.js';
import type { Suite, SuiteContext, Variant, Workload } from '../types.js';
import { avgPool2dForwardWasm, maxPool2dForwardWasm } from '../../kernels/wasm/pool.js';
import { cpuInput, registryOpRungs } from '../registry.js';
import { wasmKernelRungs } from '../wasm_kernels.js';
import { gpuVariant } from '../variants.js';

interface PoolCase {
  name: string;
  kind: 'max' | 'avg';
  x: [number, number, number, number];
  kernel: number;
  stride: number;
  padding: number;
}

const CASES: PoolCase[] = [
  { name: 'maxPool 3×3 s2 p1 [1,64,112,112]', kind: 'max', x: [1, 64, 112, 112], kernel: 3, stride: 2, padding: 1 },
  { name: 'avgPool 2×2 s2 [1,256,56,56]', kind: 'avg', x: [1, 256, 56, 56], kernel: 2, stride: 2, padding: 0 },
];
const QUICK: PoolCase[] = [{ name: 'maxPool 3×3 s2 p1 [1,4,16,16]', kind: 'max', x: [1, 4, 16, 16], kernel: 3, stride: 2, padding: 1 }];

function geometry(c: PoolCase): PoolGeometry {
  const [n, ch, h, w] = c.x;
  const o = (len: number) => Math.floor((len + 2 * c.padding - c.kernel) / c.stride) + 1;
  return { planes: n * ch, h, w, oh: o(h), ow: o(w), kh: c.kernel, kw: c.kernel, sh: c.stride, sw: c.stride, ph: c.padding, pw: c.padding, dh: 1, dw: 1 };
}

// torch's default avg-pool divisor counts the padding; with padding 0 every convention agrees.
const AVG: AvgPoolOptions = { countIncludePad: true, divisorOverride: 0 };

function run(c: PoolCase, x: Float32Array, y: Float32Array, idx: Int32Array, p: PoolGeometry): void {
  if (c.kind === 'max') maxPool2dForward(x, y, idx, p);
  else avgPool2dForward(x, y, p, AVG);
}

function poolWorkload(c: PoolCase, ctx: SuiteContext): Workload {
  const x = randnF32(prod(c.x), 31 + prod(c.x));
  const p = geometry(c);
  const outSize = p.planes * p.oh * p.ow;
  const spec = { op: 'pool2d', kind: c.kind, x: c.x, kernel: c.kernel, stride: c.stride, padding: c.padding } as const;
  const opts = { stride: c.stride, padding: c.padding };
  const op = (t: Tensor[], ops: typeof Api) =>
    c.kind === 'max' ? ops.F.maxPool2d(t[0]!, c.kernel, opts) : ops.F.avgPool2d(t[0]!, c.kernel, opts);
  const variants: Variant[] = [];
  if (ctx.backends.has('cpu')) {
    variants.push({
      name: 'kernel', kind: 'resgrad', backend: 'cpu: TypeScript kernel (float32)', threads: 1, isReference: true,
      prepare() {
        const y = new Float32Array(outSize);
        const idx = new Int32Array(outSize);
        return { run: () => run(c, x, y, idx, p), output: () => y };
      },
    });
    const label = `F.${c.kind}Pool2d`;
    const host = [{ data: x, shape: [...c.x] }];
    const xIn = [cpuInput(x, c.x)];
    variants.push(
      ...(c.kind === 'max'
        ? registryOpRungs(ctx, label, { kernel: 'maxPool2d', inputs: xIn, attrs: { geom: p } }, host, op)
        : registryOpRungs(ctx, label, { kernel: 'avgPool2d', inputs: xIn, attrs: { geom: p, options: AVG } }, host, op)),
    );
    variants.push(
      ...wasmKernelRungs(ctx, `${c.kind}Pool`, 'kernels/wasm/pool.ts', () => {
        const y = new Float32Array(outSize);
        const idx = new Int32Array(outSize);
        return { run: () => (c.kind === 'max' ? maxPool2dForwardWasm(x, y, idx, p) : avgPool2dForwardWasm(x, y, p, AVG)), output: () => y };
      }),
    );
  }
  if (ctx.backends.has('gpu')) {
    const v = gpuVariant(`gpu ${c.kind}Pool2d`, [{ data: x, shape: [...c.x] }], op);
    const kernel = c.kind === 'max' ? 'maxPool2d' : 'avgPool2d';
    if (hasBackend('gpu') && !getBackend('gpu').hasKernel(kernel)) v.skip = `the GPU backend has no ${kernel} kernel yet`;
    variants.push(v);
  }
  if (ctx.peers) variants.push(...peerVariants(spec, { x }, ctx));
  return {
    suite: 'pool', name: c.name, spec, bytes: 4 * (x.length + outSize),
    expected() {
      const y = new Float32Array(outSize);
      run(c, x, y, new Int32Array(outSize), p);
      return { values: y, tol: 1e-6 };
    },
    variants,
  };
}

export function poolSuite(): Suite {
  return {
    name: 'pool',
    description: 'max / average pooling forward (GB/s of x read + y written)',
    workloads: (ctx) => (ctx.quick ? QUICK : CASES).map((c) => poolWorkload(c, ctx)),
  };
}
