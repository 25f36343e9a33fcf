// Convolution ladder on the layers ResNet and ResNeXt spend their time in (batch 1, float32
// inputs). Rungs: the direct 7-loop reference, im2col + blocked GEMM, the depthwise kernel (when
// groups = C), the public F.conv2d (adds the f32↔f64 conversion of the CPU adapter), and the GPU
// backend's conv2d when it has one. The kernel rungs run on float64 copies, as the adapter does.
import {
  conv2dDepthwise,
  conv2dDirect,
  conv2dIm2col,
} from '../../kernels/cpu/conv2d.js';
import { type ConvGeometry } from '../../kernels/geometry.js';
import { getBackend, hasBackend } from '../../index.js';
import { prod, randnF32 } from '../data.js';
import { peerVariants } from '../peers/index.js';
import type { Suite, SuiteContext, Variant, Workload } from '../types.js';
import { gpuVariant, opVariant } from '../variants.js';

type ConvKernel = (x: Float64Array, w: Float64Array, b: Float64Array | null, y: Float64Array, p: ConvGeometry) => void;

export interface ConvCase {
  name: string;
  x: [number, number, number, number];
  /** OIHW, I = C / groups */
  w: [number, number, number, number];
  stride: number;
  padding: number;
  groups: number;
}

export const CONV_CASES: ConvCase[] = [
  { name: 'resnet 3×3 64→64 56² s1', x: [1, 64, 56, 56], w: [64, 64, 3, 3], stride: 1, padding: 1, groups: 1 },
  { name: 'bottleneck 1×1 256→64 56²', x: [1, 256, 56, 56], w: [64, 256, 1, 1], stride: 1, padding: 0, groups: 1 },
  { name: 'resnext 3×3 128→128 g32 56²', x: [1, 128, 56, 56], w: [128, 4, 3, 3], stride: 1, padding: 1, groups: 32 },
  { name: 'depthwise 3×3 64 g64 56²', x: [1, 64, 56, 56], w: [64, 1, 3, 3], stride: 1, padding: 1, groups: 64 },
  { name: 'stride-2 3×3 64→128 56²→28²', x: [1, 64, 56, 56], w: [128, 64, 3, 3], stride: 2, padding: 1, groups: 1 },
];

const QUICK_CASES: ConvCase[] = [
  { name: 'quick 3×3 8→8 16² s1', x: [1, 8, 16, 16], w: [8, 8, 3, 3], stride: 1, padding: 1, groups: 1 },
  { name: 'quick 3×3 8→8 g4 16²', x: [1, 8, 16, 16], w: [8, 2, 3, 3], stride: 1, padding: 1, groups: 4 },
];

export function geometry(c: ConvCase): ConvGeometry {
  const [n, ch, h, w] = c.x;
  const [o, , kh, kw] = c.w;
  const oh = Math.floor((h + 2 * c.padding - kh) / c.stride) + 1;
  const ow = Math.floor((w + 2 * c.padding - kw) / c.stride) + 1;
  return { n, c: ch, h, w, o, kh, kw, sh: c.stride, sw: c.stride, pt: c.padding, pl: c.padding, dh: 1, dw: 1, groups: c.groups, oh, ow };
}

// Float32 peers sum K = C/g·kh·kw ≤ 2304 products in float32; see gemm.ts for the bound.
const TOL = 1e-4;

function kernelVariant(name: string, kernel: ConvKernel, x: Float64Array, w: Float64Array, p: ConvGeometry): Variant {
  return {
    name,
    isReference: kernel === conv2dDirect,
    kind: 'resgrad',
    backend: 'cpu: TypeScript kernel (float64)',
    threads: 1,
    prepare() {
      const y = new Float64Array(p.n * p.o * p.oh * p.ow);
      return { run: () => kernel(x, w, null, y, p), output: () => y };
    },
  };
}

export function convWorkload(c: ConvCase, ctx: SuiteContext): Workload {
  const seed = prod(c.x) + prod(c.w) + c.groups;
  const x32 = randnF32(prod(c.x), seed);
  const w32 = randnF32(prod(c.w), seed + 1);
  const x = Float64Array.from(x32);
  const w = Float64Array.from(w32);
  const p = geometry(c);
  const spec = { op: 'conv2d', x: c.x, w: c.w, stride: c.stride, padding: c.padding, groups: c.groups } as const;
  const opts = { stride: c.stride, padding: c.padding, groups: c.groups };
  const inputs = [{ data: x32, shape: [...c.x] }, { data: w32, shape: [...c.w] }];
  const variants: Variant[] = [];
  if (ctx.backends.has('cpu')) {
    variants.push(kernelVariant('direct', conv2dDirect, x, w, p), kernelVariant('im2col', conv2dIm2col, x, w, p));
    if (c.groups === p.c && p.c > 1) variants.push(kernelVariant('depthwise', conv2dDepthwise, x, w, p));
    variants.push(opVariant('F.conv2d', 'cpu', inputs, (t, ops) => ops.F.conv2d(t[0]!, t[1]!, null, opts)));
  }
  if (ctx.backends.has('gpu')) {
    const v = gpuVariant('gpu conv2d', inputs, (t, ops) => ops.F.conv2d(t[0]!, t[1]!, null, opts));
    if (hasBackend('gpu') && !getBackend('gpu').hasKernel('conv2d')) v.skip = 'the GPU backend has no conv2d kernel yet';
    variants.push(v);
  }
  if (ctx.peers) variants.push(...peerVariants(spec, { x: x32, w: w32 }));
  const outSize = p.n * p.o * p.oh * p.ow;
  return {
    suite: 'conv',
    name: `conv ${c.name}`,
    spec,
    flops: 2 * outSize * (p.c / p.groups) * p.kh * p.kw,
    bytes: 4 * (prod(c.x) + prod(c.w) + outSize),
    expected() {
      const y = new Float64Array(outSize);
      conv2dDirect(x, w, null, y, p);
      return { values: y, tol: TOL };
    },
    variants,
  };
}

export function convSuite(cases?: ConvCase[]): Suite {
  return {
    name: 'conv',
    description: 'conv2d forward, NCHW, batch 1 (GFLOP/s = 2·N·O·OH·OW·C/g·kh·kw / median time)',
    workloads: (ctx) => (cases ?? (ctx.quick ? QUICK_CASES : CONV_CASES)).map((c) => convWorkload(c, ctx)),
  };
}
