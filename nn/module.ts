// nn.Module: a tree of modules that own parameters (tensors that learn) and buffers (state
// that does not, like BatchNorm's running statistics). Names are the field names, so the
// state-dict keys come out as torchvision's: `layer1.0.bn1.running_mean`.
import type { Device } from '../core/backend.js';
import type { DType } from '../core/dtype.js';
import { ShapeError, ValueError, fmtShape } from '../core/errors.js';
import { shapesEqual } from '../core/shape.js';
import type { Tensor } from '../core/tensor.js';
import { noGrad } from '../autograd/graph.js';
import '../autograd/tensor_methods.js';

export type ForwardHook = (module: Module, inputs: unknown[], output: unknown) => void;

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export abstract class Module {
  training = true;
  private readonly params = new Map<string, Tensor | null>();
  private readonly bufs = new Map<string, Tensor | null>();
  private readonly nonPersistent = new Set<string>();
  private readonly mods = new Map<string, Module | null>();
  private readonly hooks: ForwardHook[] = [];

  constructor() {
    // Route forward through hooks: the subclass's forward (found on the prototype) is wrapped
    // once here, so `m.forward(x)` runs registered forward hooks after computing the output.
    const inner = (this as unknown as { forward: (...a: unknown[]) => unknown }).forward;
    Object.defineProperty(this, 'forward', {
      value: (...args: unknown[]) => {
        const out = inner.apply(this, args);
        for (const h of this.hooks) h(this, args, out);
        return out;
      },
      writable: true,
    });
  }

  abstract forward(...inputs: never[]): unknown;

  /** Register a learnable tensor under `name` (also set as the field `this[name]`). */
  protected registerParameter<T extends Tensor | null>(name: string, t: T): T {
    if (t && !t.isLeaf) throw new ValueError(`registerParameter: '${name}' must be a leaf tensor (detach() it first)`);
    if (t) t.requiresGrad = true;
    this.params.set(name, t);
    (this as unknown as Record<string, unknown>)[name] = t;
    return t;
  }

  /** Register state that is saved in the state dict but not trained (unless persistent=false). */
  protected registerBuffer<T extends Tensor | null>(name: string, t: T, persistent = true): T {
    this.bufs.set(name, t);
    if (!persistent) this.nonPersistent.add(name);
    (this as unknown as Record<string, unknown>)[name] = t;
    return t;
  }

  /** Register a child module under `name` (its keys are prefixed with `name.`). */
  protected registerModule<M extends Module | null>(name: string, m: M): M {
    this.mods.set(name, m);
    (this as unknown as Record<string, unknown>)[name] = m;
    return m;
  }

  /** Replace a registered child (e.g. `model.setModule('fc', new Linear(512, 10))`). */
  setModule(name: string, m: Module | null): void {
    if (!this.mods.has(name)) throw new ValueError(`setModule: no child module named '${name}'`);
    this.registerModule(name, m);
  }

  *namedChildren(): Generator<[string, Module]> {
    for (const [n, m] of this.mods) if (m) yield [n, m];
  }
  children(): Module[] {
    return [...this.namedChildren()].map(([, m]) => m);
  }
  /** This module and all descendants, with dotted names ('' for this one). */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [n, m] of this.namedChildren()) yield* m.namedModules(prefix ? `${prefix}.${n}` : n);
  }
  modules(): Module[] {
    return [...this.namedModules()].map(([, m]) => m);
  }
  *namedParameters(prefix = ''): Generator<[string, Tensor]> {
    for (const [name, m] of this.namedModules(prefix)) {
      for (const [n, p] of m.params) if (p) yield [name ? `${name}.${n}` : n, p];
    }
  }
  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }
  *namedBuffers(prefix = ''): Generator<[string, Tensor]> {
    for (const [name, m] of this.namedModules(prefix)) {
      for (const [n, b] of m.bufs) if (b) yield [name ? `${name}.${n}` : n, b];
    }
  }
  buffers(): Tensor[] {
    return [...this.namedBuffers()].map(([, b]) => b);
  }

  /** Set training mode here and below (BatchNorm, Dropout behave differently). */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Call fn on every module, children first (torch's apply order). */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /** Run `hook(module, inputs, output)` after every forward; returns a function that removes it. */
  registerForwardHook(hook: ForwardHook): () => void {
    this.hooks.push(hook);
    return () => {
      const i = this.hooks.indexOf(hook);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  /** Parameters and persistent buffers in registration order, keyed by dotted path. */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [name, m] of this.namedModules()) {
      const key = (n: string) => (name ? `${name}.${n}` : n);
      for (const [n, p] of m.params) if (p) out[key(n)] = p;
      for (const [n, b] of m.bufs) if (b && !m.nonPersistent.has(n)) out[key(n)] = b;
    }
    return out;
  }

  /**
   * Copy values from `sd` into this module's tensors in place. With strict (default), every
   * missing, unexpected and wrong-shaped key is reported in one error.
   */
  loadStateDict(sd: Record<string, Tensor>, opts: { strict?: boolean } = {}): LoadResult {
    const strict = opts.strict ?? true;
    const own = this.stateDict();
    const missingKeys = Object.keys(own).filter((k) => !(k in sd));
    const unexpectedKeys = Object.keys(sd).filter((k) => !(k in own));
    const wrongShape = Object.keys(own)
      .filter((k) => k in sd && !shapesEqual((own[k] as Tensor).shape, (sd[k] as Tensor).shape))
      .map((k) => `size mismatch for ${k}: copying a param with shape ${fmtShape((sd[k] as Tensor).shape)}, the shape in current model is ${fmtShape((own[k] as Tensor).shape)}`);
    const problems: string[] = [];
    if (wrongShape.length) problems.push(...wrongShape);
    if (strict && missingKeys.length) problems.push(`Missing key(s) in state_dict: ${missingKeys.map((k) => `"${k}"`).join(', ')}`);
    if (strict && unexpectedKeys.length) problems.push(`Unexpected key(s) in state_dict: ${unexpectedKeys.map((k) => `"${k}"`).join(', ')}`);
    if (problems.length) {
      throw new ShapeError(`Error(s) in loading state_dict for ${this.constructor.name}:\n\t${problems.join('\n\t')}`);
    }
    noGrad(() => {
      for (const [k, t] of Object.entries(own)) if (k in sd) t.assign(sd[k] as Tensor);
    });
    return { missingKeys, unexpectedKeys };
  }

  /** Convert every floating parameter and buffer (in place, so optimizers keep their references). */
  to(target: DType | Device): this {
    noGrad(() => {
      for (const t of [...this.parameters(), ...this.buffers()]) {
        const isDevice = target === 'cpu' || target === 'gpu';
        if (!isDevice && t.dtype === 'int32') continue;
        if (isDevice ? t.device === target : t.dtype === target) continue;
        const converted = t.to(target);
        // A dtype change needs a new storage of the new type: rebuild the tensor's storage in place.
        replaceStorage(t, converted);
        if (t.grad) replaceStorage(t.grad, t.grad.to(target));
      }
    });
    return this;
  }
  double(): this {
    return this.to('float64');
  }
  float(): this {
    return this.to('float32');
  }
}

/** Make `t` share `src`'s storage (same shape): how dtype/device changes keep object identity. */
function replaceStorage(t: Tensor, src: Tensor): void {
  const s = src.contiguous();
  (t as unknown as { storage: unknown }).storage = s.storage;
}
