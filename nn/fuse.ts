// Inference-time fusion of Conv2d → BatchNorm2d (→ ReLU), as onnxruntime does when it loads a
// model. With the statistics fixed (eval mode), the norm is an affine map per output channel o:
//   bn(conv(x))[o] = γ·(conv(x; w)[o] + b[o] − μ)/√(σ² + ε) + β = conv(x; w·s)[o] + t
//   with s = γ/√(σ² + ε) and t = β + (b − μ)·s,
// so the norm's pass over y disappears and the ReLU rides on the convolution's write-back.
// The folded w·s and t are computed once (in float64 on the CPU) and cached per conv, stamped with
// the version of every tensor they come from: an optimizer step, assign(), loadStateDict() or
// to() makes them stale and the next call folds again.
//
// The fused path runs only where it computes what the modules would: the norm is a BatchNorm2d
// in eval mode with running statistics, no parameter of the two needs a gradient (noGrad(), or
// all frozen), and no forward hook sits on any of the modules. Anywhere else the modules run one
// after the other, as written, except that a BatchNorm2d and the ReLU after it share their passes
// (F.batchNormRelu: the norm's kernels apply the ReLU and its mask). A residual join
// relu(out + identity) is one pass (addRelu) in training too: the same floats as add, then relu.
import type { Storage, Tensor } from '../core/tensor.js';
import { pin, tidy } from '../core/scope.js';
import { isGradEnabled, noGrad } from '../autograd/graph.js';
import { add, addRelu, mul, neg, pow } from '../autograd/ops/elementwise.js';
import { contiguous, reshape } from '../autograd/ops/views.js';
import { ReLU, Sequential } from './layers/basic.js';
import { Conv2d } from './layers/conv.js';
import { BatchNorm2d } from './layers/norm.js';
import type { Module } from './module.js';
import { conv2d, conv2dRelu } from './ops/conv.js';

type Layer = Module & { forward(x: Tensor): Tensor };

interface Stamp {
  tensor: Tensor | null;
  storage: Storage | null;
  version: number;
}
interface Folded {
  norm: BatchNorm2d;
  eps: number;
  stamps: Stamp[];
  /** null: s or t is not finite, and this pair runs unfolded until a source changes */
  weight: Tensor | null;
  bias: Tensor | null;
}

const folds = new WeakMap<Conv2d, Folded>();

/** Switch for A/B runs and tests: with enabled false, convBn runs the modules one by one (no fold, no fused ReLU). */
export const fusion = { enabled: true };

/** The tensors a fold is computed from, in a fixed order. */
const sources = (conv: Conv2d, norm: BatchNorm2d): (Tensor | null)[] => [
  conv.weight, conv.bias, norm.weight, norm.bias, norm.running_mean, norm.running_var,
];
const stampOf = (t: Tensor | null): Stamp => ({ tensor: t, storage: t?.storage ?? null, version: t?.version ?? 0 });
const unchanged = (s: Stamp, t: Tensor | null): boolean =>
  s.tensor === t && (t === null || (s.storage === t.storage && s.version === t.version));

/** Exactly this class (a subclass may compute something else in forward), with no hooks. */
const plain = (m: Module | null, cls: abstract new (...a: never[]) => Module): boolean =>
  m !== null && Object.getPrototypeOf(m) === cls.prototype && !m.hasForwardHooks();

/** Whether conv → norm (→ relu) may run as one folded convolution now. */
export function canFold(conv: Module, norm: Module, relu: Module | null = null): boolean {
  if (!fusion.enabled) return false;
  if (!plain(conv, Conv2d) || !plain(norm, BatchNorm2d) || (relu !== null && !plain(relu, ReLU))) return false;
  const c = conv as Conv2d;
  const n = norm as BatchNorm2d;
  if (n.training || !n.running_mean || !n.running_var || n.numFeatures !== c.outChannels) return false;
  // mixed dtypes or devices: the modules as written raise the error that names them
  const w = c.weight;
  if (![c.bias, n.weight, n.bias].every((t) => !t || (t.dtype === w.dtype && t.device === w.device))) return false;
  if (![n.running_mean, n.running_var].every((t) => t.device === w.device)) return false;
  if (!isGradEnabled()) return true;
  return [c.weight, c.bias, n.weight, n.bias].every((p) => !p?.requiresGrad);
}

/**
 * w·s and t of the header in the conv weight's dtype and on its device. On the CPU, s and t are
 * computed in float64 and w·s too, each rounded once; a non-finite s or t (σ² + ε = 0, an infinite
 * γ) is not folded: `weight` is null and the modules run as written, so Inf and NaN land where they
 * would without folding. On a GPU everything stays on the device in its dtype and that check is
 * skipped: a WebGPU buffer cannot be read back synchronously, and a forward must not wait.
 */
function fold(conv: Conv2d, norm: BatchNorm2d): Folded {
  const cached = folds.get(conv);
  const now = sources(conv, norm);
  if (cached && cached.norm === norm && cached.eps === norm.eps && cached.stamps.every((s, i) => unchanged(s, now[i] ?? null))) return cached;
  const { dtype, device } = conv.weight;
  const onCpu = device === 'cpu';
  const [weight, bias] = noGrad(() =>
    tidy(() => {
      const at = (t: Tensor) => (onCpu ? t.to('float64') : t);
      let s = pow(add(at(norm.running_var as Tensor), norm.eps), -0.5);
      if (norm.weight) s = mul(s, at(norm.weight));
      const mu = at(norm.running_mean as Tensor);
      let t = mul(conv.bias ? add(at(conv.bias), neg(mu)) : neg(mu), s);
      if (norm.bias) t = add(t, at(norm.bias));
      const [sd, td] = [s.to(dtype), t.to(dtype)];
      if (onCpu && ![...sd.toArray(), ...td.toArray()].every(Number.isFinite)) return [null, null];
      const w = mul(at(conv.weight), reshape(s, [conv.outChannels, 1, 1, 1])).to(dtype);
      return [pin(contiguous(w)), pin(contiguous(td))];
    }),
  ) as [Tensor, Tensor] | [null, null];
  const f: Folded = { norm, eps: norm.eps, stamps: now.map(stampOf), weight, bias };
  folds.set(conv, f);
  return f;
}

/**
 * relu?(norm(conv(x))): one folded convolution where canFold allows, else the three modules in
 * turn. `relu` is the ReLU module that follows (null: none).
 */
export function convBn(conv: Layer, norm: Layer, relu: Layer | null, x: Tensor): Tensor {
  if (!canFold(conv, norm, relu)) return unfused(conv, norm, relu, x);
  const c = conv as unknown as Conv2d;
  const f = fold(c, norm as unknown as BatchNorm2d);
  if (f.weight === null) return unfused(conv, norm, relu, x);
  const opts = { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups };
  return (relu ? conv2dRelu : conv2d)(x, f.weight, f.bias, opts);
}

/** The modules in turn; a BatchNorm2d and the ReLU after it still share one pass each way. */
function unfused(conv: Layer, norm: Layer, relu: Layer | null, x: Tensor): Tensor {
  const z = conv.forward(x);
  if (relu && fusion.enabled && plain(norm, BatchNorm2d) && plain(relu, ReLU)) return (norm as unknown as BatchNorm2d).forwardRelu(z);
  const y = norm.forward(z);
  return relu ? relu.forward(y) : y;
}

/** A Sequential(conv, norm) (a projection shortcut) through convBn; any other layer as it is. */
export function convBnLayer(layer: Layer, x: Tensor): Tensor {
  if (plain(layer, Sequential) && (layer as Sequential).length === 2) {
    const [conv, norm] = (layer as Sequential).children() as Layer[];
    return convBn(conv as Layer, norm as Layer, null, x);
  }
  return layer.forward(x);
}

/** relu(out + identity), a residual join: one pass (addRelu) unless the ReLU module has hooks or is a subclass. */
export function residualJoin(relu: Layer, out: Tensor, identity: Tensor): Tensor {
  return fusion.enabled && plain(relu, ReLU) ? addRelu(out, identity) : relu.forward(add(out, identity));
}
