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

