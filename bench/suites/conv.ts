// Convolution ladder on the layers ResNet and ResNeXt spend their time in (float32 inputs): the
// issue's three batch-8 layers (dense 3×3, ResNeXt grouped, depthwise), then batch-1 layers.
// Rungs: the direct 7-loop reference, im2col + blocked GEMM, the depthwise kernel (when groups =
// C), the public F.conv2d as the registry picks and pinned to each registered 'conv2d' variant
// that supports the layer, the WASM SIMD im2col + GEMM, Winograd F(2x2,3x3) (3×3 stride 1) and
// grouped (few channels per group) kernels called directly (plain and relaxed FMA) on 1..n
// threads, and the GPU backend's conv2d when it has one. The TypeScript kernel rungs run on
// float64 copies, as their adapter does.
import {
  conv2dDepthwise,
  conv2dDirect,
  conv2dIm2col,
} from '../../kernels/cpu/conv2d.js';
import type { ConvGeometry } from '../../kernels/geometry.js';
import { getBackend, hasBackend } from '../../index.js';
import { prod, randnF32 } from '../data.js';
import { peerVariants } from '../peers/index.js';
import { cpuInput, registryOpRungs } from '../registry.js';
import { wasmKernelRungs } from '../wasm_kernels.js';
import { groupedConv2dForwardWasm, groupedConvSupports } from '../../kernels/wasm/grouped_conv.js';
import { conv2dForwardWasm } from '../../kernels/wasm/conv.js';
import { winogradConv2dForwardWasm, winogradSupports } from '../../kernels/wasm/winograd.js';
import type { Suite, SuiteContext, Variant, Workload } from '../types.js';
import { gpuVariant } from '../variants.js';

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

/** The layers of issue 10's Must-show list, at batch 8. */
export const ISSUE_CONV_CASES: ConvCase[] = [
  { name: '3×3 64→64 56² b8', x: [8, 64, 56, 56], w: [64, 64, 3, 3], stride: 1, padding: 1, groups: 1 },
  { name: 'resnext grouped 3×3 128→128 g32 28² b8', x: [8, 128, 28, 28], w: [128, 4, 3, 3], stride: 1, padding: 1, groups: 32 },
  { name: 'depthwise 3×3 128 56² b8', x: [8, 128, 56, 56], w: [128, 1, 3, 3], stride: 1, padding: 1, groups: 128 },
];

export const CONV_CASES: ConvCase[] = [
  ...ISSUE_CONV_CASES,
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
// Above this many FLOPs a call, the direct loops take seconds: the reference answer covers the
// first and last image only, and the direct rungs are timed by their one checked call.
const BIG_FLOPS = 5e8;

function kernelVariant(name: string, kernel: ConvKernel, x: Float64Array, w: Float64Array, p: ConvGeometry, extra: Partial<Variant> = {}): Variant {
  return {
    name,
    isReference: kernel === conv2dDirect,
    ...extra,
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
  const outSize = p.n * p.o * p.oh * p.ow;
  const flops = 2 * outSize * (p.c / p.groups) * p.kh * p.kw;
  const big = flops > BIG_FLOPS;
  const once: Partial<Variant> = big ? { checkOnly: `the direct loops take seconds at ${(flops / 1e9).toFixed(1)} GFLOP a call` } : {};
  const variants: Variant[] = [];
  if (ctx.backends.has('cpu')) {
    variants.push(kernelVariant('direct', conv2dDirect, x, w, p, once), kernelVariant('im2col', conv2dIm2col, x, w, p));
    if (c.groups === p.c && p.c > 1) variants.push(kernelVariant('depthwise', conv2dDepthwise, x, w, p));
    const call = { kernel: 'conv2d', inputs: [cpuInput(x32, c.x), cpuInput(w32, c.w)], attrs: { geom: p } } as const;
    variants.push(...registryOpRungs(ctx, 'F.conv2d', call, inputs, (t, ops) => ops.F.conv2d(t[0]!, t[1]!, null, opts), (v) => (v.rank === 0 ? once : {})));
    variants.push(
      ...wasmKernelRungs(ctx, 'im2col', 'kernels/wasm/conv.ts', () => {
        const y = new Float32Array(outSize);
        return { run: (relaxed) => conv2dForwardWasm(x32, w32, null, y, p, { relaxed }), output: () => y };
      }, true),
    );
    if (winogradSupports(p)) {
      variants.push(
        ...wasmKernelRungs(ctx, 'winograd', 'kernels/wasm/winograd.ts', () => {
          const y = new Float32Array(outSize);
          return { run: (relaxed) => winogradConv2dForwardWasm(x32, w32, null, y, p, { relaxed }), output: () => y };
        }, true),
      );
    }
    if (groupedConvSupports(p)) {
      variants.push(
        ...wasmKernelRungs(ctx, 'grouped', 'kernels/wasm/grouped_conv.ts', () => {
          const y = new Float32Array(outSize);
          return { run: (relaxed) => groupedConv2dForwardWasm(x32, w32, null, y, p, { relaxed }), output: () => y };
        }, true),
      );
    }
  }
  if (ctx.backends.has('gpu')) {
    const v = gpuVariant('gpu conv2d', inputs, (t, ops) => ops.F.conv2d(t[0]!, t[1]!, null, opts));
    if (hasBackend('gpu') && !getBackend('gpu').hasKernel('conv2d')) v.skip = 'the GPU backend has no conv2d kernel yet';
    variants.push(v);
  }
  if (ctx.peers) variants.push(...peerVariants(spec, { x: x32, w: w32 }, ctx));
  return {
    suite: 'conv',
    name: `conv ${c.name}`,
    spec,
    flops,
    bytes: 4 * (prod(c.x) + prod(c.w) + outSize),
    expected() {
      if (!big || p.n <= 2) {
        const y = new Float64Array(outSize);
        conv2dDirect(x, w, null, y, p);
        return { values: y, tol: TOL };
      }
      return sampledImages(x, w, p, [0, p.n - 1]);
    },
    variants,
  };
}

/** The direct loops on a few images of the batch: their outputs and where they sit in y. */
function sampledImages(x: Float64Array, w: Float64Array, p: ConvGeometry, images: number[]) {
  const inSize = p.c * p.h * p.w;
  const outSize = p.o * p.oh * p.ow;
  const one = { ...p, n: 1 };
  const values = new Float64Array(images.length * outSize);
  const positions = new Int32Array(images.length * outSize);
  images.forEach((img, k) => {
    const y = values.subarray(k * outSize, (k + 1) * outSize);
    conv2dDirect(x.subarray(img * inSize, (img + 1) * inSize), w, null, y, one);
    for (let i = 0; i < outSize; i++) positions[k * outSize + i] = img * outSize + i;
  });
  return { values, positions, tol: TOL };
}

export function convSuite(cases?: ConvCase[]): Suite {
  return {
    name: 'conv',
    description: 'conv2d forward, NCHW, batch 1 (GFLOP/s = 2·N·O·OH·OW·C/g·kh·kw / median time)',
    workloads: (ctx) => (cases ?? (ctx.quick ? QUICK_CASES : CONV_CASES)).map((c) => convWorkload(c, ctx)),
  };
}
