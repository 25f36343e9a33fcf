// gradcheck: compare the analytic Jacobian (from backward) with central differences,
//   J_num[i, j] = (f_i(x + ε e_j) − f_i(x − ε e_j)) / 2ε,
// for every input that requires grad, in float64. Pass iff for every element
//   |J_analytic − J_num| <= atol + rtol·|J_num|,
// and both sides finite: a NaN or an Infinity in either Jacobian never passes (torch's allclose
// would let equal infinities through).
// Fast mode compares one random projection vᵀ·J·u per input instead of the whole matrix.
import { DTypeError, ResgradError, ValueError, fmtShape } from '../core/errors.js';
import { Generator } from '../core/random.js';
import { Tensor } from '../core/tensor.js';
import { backward, noGrad } from './graph.js';

export interface GradcheckOptions {
  /** Finite-difference step. */
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Check random projections vᵀJu instead of full Jacobians (for larger ops). */
  fastMode?: boolean;
  /** Seed for fast mode's random vectors. */
  seed?: number;
  /** Throw a GradcheckError on mismatch (default); otherwise return false. */
  raiseException?: boolean;
}

export class GradcheckError extends ResgradError {}

type Fn = (...inputs: Tensor[]) => Tensor | readonly Tensor[];

function outputsOf(r: Tensor | readonly Tensor[]): Tensor[] {
  return r instanceof Tensor ? [r] : [...r];
}

/** Flat storage positions of a view's elements, in row-major order. */
function positions(t: Tensor): number[] {
  const n = t.numel();
  const pos: number[] = new Array(n);
  const idx = new Array<number>(t.ndim).fill(0);
  for (let i = 0; i < n; i++) {
    let p = t.offset;
    for (let d = 0; d < t.ndim; d++) p += idx[d] * t.strides[d];
    pos[i] = p;
    for (let d = t.ndim - 1; d >= 0; d--) {
      idx[d]++;
      if (idx[d] < t.shape[d]) break;
      idx[d] = 0;
    }
  }
  return pos;
}

/** All outputs flattened into one Float64Array, evaluated without a graph. */
function evaluate(fn: Fn, inputs: Tensor[]): Float64Array {
  const outs = noGrad(() => outputsOf(fn(...inputs)));
  const parts = outs.map((o) => o.toArray());
  const total = parts.reduce((s, p) => s + p.length, 0);
  const flat = new Float64Array(total);
  let k = 0;
  for (const p of parts) {
    flat.set(p, k);
    k += p.length;
  }
  return flat;
}

/**
 * How far |a − n| is past atol + rtol·|n| (<= 0: within tolerance). A NaN or an Infinity on
 * either side is +Infinity: it always fails and ranks worst (an infinite numeric value would
 * otherwise make the tolerance itself infinite).
 */
function excessOf(a: number, n: number, atol: number, rtol: number): number {
  if (!Number.isFinite(a) || !Number.isFinite(n)) return Number.POSITIVE_INFINITY;
  return Math.abs(a - n) - (atol + rtol * Math.abs(n));
}

function why(a: number, n: number, atol: number, rtol: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(n)) return '(not finite: a NaN or an Infinity always fails)';
  return `(|diff| ${Math.abs(a - n)} > atol + rtol·|numeric| = ${atol + rtol * Math.abs(n)})`;
}

export function gradcheck(fn: Fn, inputs: readonly Tensor[], opts: GradcheckOptions = {}): boolean {
  // The check runs backward into the inputs' .grad; put back what was there (as torch's
  // gradcheck, which never touches .grad), also when it throws.
  const saved = inputs.map((t) => t.grad);
  try {
    return check(fn, inputs, opts);
  } finally {
    inputs.forEach((t, i) => {
      t.grad = saved[i] ?? null;
    });
  }
}

function check(fn: Fn, inputs: readonly Tensor[], opts: GradcheckOptions): boolean {
  const eps = opts.eps ?? 1e-6;
  const atol = opts.atol ?? 1e-5;
  const rtol = opts.rtol ?? 1e-3;
  const raise = opts.raiseException ?? true;
  const ins = [...inputs];
  const checked = ins.map((t, i) => ({ t, i })).filter(({ t }) => t.requiresGrad);
  if (checked.length === 0) throw new ValueError('gradcheck: at least one input tensor must have requiresGrad=true');
  for (const { t, i } of checked) {
    if (t.dtype !== 'float64') {
      throw new DTypeError(
        `gradcheck: input ${i} has dtype ${t.dtype}, expected float64. Finite differences with eps=${eps} are swamped by float32 rounding (~1e-7 relative), so the check would fail or pass by accident; convert with .double()`,
      );
    }
    if (t.device !== 'cpu') throw new ValueError(`gradcheck: input ${i} is on '${t.device}', expected a cpu tensor`);
    if (!t.isLeaf) throw new ValueError(`gradcheck: input ${i} must be a leaf tensor (create it with requiresGrad, or detach() it)`);
  }

  // Forward once with the graph; every row of the analytic Jacobian is a backward through it.
  const outs = outputsOf(fn(...ins));
  for (const [k, o] of outs.entries()) {
    if (o.dtype !== 'float64') throw new DTypeError(`gradcheck: output ${k} has dtype ${o.dtype}, expected float64`);
  }
  const outSizes = outs.map((o) => o.numel());
  const nOut = outSizes.reduce((a, b) => a + b, 0);

  /** Jᵀv for one flat output weighting v: one backward pass (grads of all checked inputs). */
  const vjp = (v: Float64Array): Float64Array[] => {
    for (const { t } of checked) t.grad = null;
    let k = 0;
    outs.forEach((o, oi) => {
      const n = outSizes[oi];
      if (o.requiresGrad) backward(o, Tensor.fromArray(v.slice(k, k + n), o.shape), { retainGraph: true });
      k += n;
    });
    return checked.map(({ t }) => (t.grad ? (t.grad.toArray() as Float64Array) : new Float64Array(t.numel())));
  };

  /** Central difference of all outputs along direction u of input t. */
  const jvpNumeric = (t: Tensor, pos: number[], u: Float64Array): Float64Array => {
    const buf = t.storage.buffer as Float64Array;
    const orig = pos.map((p) => buf[p]);
    pos.forEach((p, j) => {
      buf[p] = orig[j] + eps * u[j];
    });
    const plus = evaluate(fn, ins);
    pos.forEach((p, j) => {
      buf[p] = orig[j] - eps * u[j];
    });
    const minus = evaluate(fn, ins);
    pos.forEach((p, j) => {
      buf[p] = orig[j];
    });
    const d = new Float64Array(plus.length);
    for (let i = 0; i < d.length; i++) d[i] = (plus[i] - minus[i]) / (2 * eps);
    return d;
  };

  const fail = (msg: string): boolean => {
    if (raise) throw new GradcheckError(msg);
    return false;
  };

  if (opts.fastMode) {
    const gen = new Generator(opts.seed ?? 0);
    const v = new Float64Array(nOut).map(() => gen.normal());
    const jtv = vjp(v);
    for (const [c, { t, i }] of checked.entries()) {
      const u = new Float64Array(t.numel()).map(() => gen.normal());
      const jv = jvpNumeric(t, positions(t), u);
      let numeric = 0;
      for (let k = 0; k < nOut; k++) numeric += v[k] * jv[k];
      let analytic = 0;
      const g = jtv[c] as Float64Array;
      for (let j = 0; j < u.length; j++) analytic += g[j] * u[j];
      if (!(excessOf(analytic, numeric, atol, rtol) <= 0)) {
        // a projection hides where a NaN or Infinity came from: point at the first one
        const badIn = g.findIndex((x) => !Number.isFinite(x));
        const badOut = jv.findIndex((x) => !Number.isFinite(x));
        const where =
          (badIn >= 0 ? `; the analytic Jᵀv is ${g[badIn]} at input element ${badIn}` : '') +
          (badOut >= 0 ? `; the numeric Ju is ${jv[badOut]} at output element ${badOut}` : '');
        return fail(
          `gradcheck (fast mode): mismatch for input ${i} (shape ${fmtShape(t.shape)}): projection vᵀJu analytic ${analytic} vs numeric ${numeric} ${why(analytic, numeric, atol, rtol)}${where}`,
        );
      }
    }
    return true;
  }

  // Full Jacobians: rows from one backward per output element, columns from one pair of
  // perturbed forwards per input element.
  const analytic: Float64Array[][] = checked.map(() => []);
  const onehot = new Float64Array(nOut);
  for (let r = 0; r < nOut; r++) {
    onehot.fill(0);
    onehot[r] = 1;
    for (const [c, g] of vjp(onehot).entries()) analytic[c].push(g);
  }
  for (const [c, { t, i }] of checked.entries()) {
    const pos = positions(t);
    let worst: { r: number; j: number; a: number; n: number; excess: number } | null = null;
    const unit = new Float64Array(pos.length);
    for (let j = 0; j < pos.length; j++) {
      unit.fill(0);
      unit[j] = 1;
      const col = jvpNumeric(t, pos, unit);
      for (let r = 0; r < nOut; r++) {
        const a = analytic[c][r][j];
        const n = col[r];
        const excess = excessOf(a, n, atol, rtol);
        if (!(excess <= 0) && (!worst || excess > worst.excess)) worst = { r, j, a, n, excess };
      }
    }
    if (worst) {
      return fail(
        `gradcheck: Jacobian mismatch for input ${i} (shape ${fmtShape(t.shape)}) at output element ${worst.r}, input element ${worst.j}: ` +
          `analytic ${worst.a} vs numeric ${worst.n} ${why(worst.a, worst.n, atol, rtol)}`,
      );
    }
  }
  return true;
}
