// Geometry of the kernel families, shared by every device (CPU TypeScript, WASM, gpu.js): the
// sizes an op works out once from its arguments and hands to whichever kernel runs. Pure data
// and a few pure functions; no arrays, no devices.

// ---- convolution

/** Sizes of one convolution. Arrays are contiguous NCHW / OIHW (w is [o, c/groups, kh, kw]). */
export interface ConvGeometry {
  n: number;
  c: number;
  h: number;
  w: number;
  o: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  /** top and left padding */
  pt: number;
  pl: number;
  dh: number;
  dw: number;
  groups: number;
  oh: number;
  ow: number;
}

// ---- pooling

export interface PoolGeometry {
  /** N·C planes of h×w in, oh×ow out */
  planes: number;
  h: number;
  w: number;
  oh: number;
  ow: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
}

export interface AvgPoolOptions {
  countIncludePad: boolean;
  /** Divide by this instead of the window size (0 = off). */
  divisorOverride: number;
}

// ---- normalisation (the table is in kernels/cpu/norm.ts)

export type NormAxes = 'batch' | 'layer' | 'instance' | 'group';

/** How x[N, C, S] is split into statistics sets. `groups` is only read for 'group'. */
export interface NormLayout {
  axes: NormAxes;
  N: number;
  C: number;
  S: number;
  groups: number;
}

/** How many sets (and so how many means and variances) the layout has. */
export function numSets(l: NormLayout): number {
  switch (l.axes) {
    case 'batch':
      return l.C;
    case 'layer':
      return l.N;
    case 'instance':
      return l.N * l.C;
    case 'group':
      return l.N * l.groups;
  }
}

/** The set that elements x[n, c, :] belong to. */
export function setOf(l: NormLayout, n: number, c: number): number {
  switch (l.axes) {
    case 'batch':
      return c;
    case 'layer':
      return n;
    case 'instance':
      return n * l.C + c;
    case 'group':
      return n * l.groups + Math.floor(c / (l.C / l.groups));
  }
}

/** Elements per set, m. */
export function setSize(l: NormLayout): number {
  return (l.N * l.C * l.S) / numSets(l);
}

// ---- strided views

/**
 * Merge neighbouring dims that every operand walks as one (stride[d] = stride[d+1]·size[d+1]) and
 * drop size-1 dims, so a contiguous [64, 64, 3, 3] copy is one row of 36864, not 12288 rows of 3.
 */
export function coalesce(
  shape: readonly number[],
  sa: readonly number[],
  sb: readonly number[],
  sc: readonly number[],
): [number[], number[], number[], number[]] {
  const outShape: number[] = [];
  const oa: number[] = [];
  const ob: number[] = [];
  const oc: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d];
    if (n === 1 && shape.length > 1) continue;
    const k = outShape.length - 1;
    if (k >= 0 && sa[d] === oa[0] * outShape[0] && sb[d] === ob[0] * outShape[0] && sc[d] === oc[0] * outShape[0]) {
      outShape[0] *= n;
      continue;
    }
    outShape.unshift(n);
    oa.unshift(sa[d]);
    ob.unshift(sb[d]);
    oc.unshift(sc[d]);
  }
  if (outShape.length === 0 && shape.length > 0) return [[1], [0], [0], [0]];
  return [outShape, oa, ob, oc];
}
