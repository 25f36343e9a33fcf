// nn.Module: a tree of modules that own parameters (tensors that learn) and buffers (state
// that does not, like BatchNorm's running statistics). Names are the field names, so the
// state-dict keys come out as torchvision's: `layer1.0.bn1.running_mean`.
//
// A module remembers which field names are parameters, buffers and children (in registration
// order); the values are read from the fields themselves. So reassigning a registered field is
// seen everywhere, as in torch: `model.fc = new Linear(512, 10)` swaps the head that
// parameters(), stateDict() and forward all use. A new name needs `addModule(name, m)`.
import type { Device } from '../core/backend.js';
import type { DType } from '../core/dtype.js';
import { zeros } from '../core/creation.js';
import { ShapeError, ValueError, fmtShape } from '../core/errors.js';
import { pin } from '../core/scope.js';
import { shapesEqual } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { noGrad } from '../autograd/graph.js';
import '../autograd/tensor_methods.js';

/** Called after forward with the module, its inputs and output; a returned value replaces the output. */
export type ForwardHook = (module: Module, inputs: unknown[], output: unknown) => unknown;

/** Called before forward with the module and its inputs; a returned array replaces the inputs. */
export type ForwardPreHook = (module: Module, inputs: unknown[]) => unknown[] | undefined;

/** What registerForwardHook returns: `handle.remove()` unregisters the hook (torch's RemovableHandle). */
export interface HookHandle {
  remove(): void;
}

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/** One parameter's gradient summary, for gradient-flow plots (layer by layer, input to output). */
export interface GradInfo {
  name: string;
  shape: readonly number[];
  requiresGrad: boolean;
  /** null when the parameter has no gradient (frozen, unused, or before backward). */
  grad: Tensor | null;
  meanAbs: number;
  maxAbs: number;
  /** L2 norm of the gradient. */
  norm: number;
}

type Fields = Record<string, unknown>;

export abstract class Module {
  training = true;
  readonly #paramNames = new Set<string>();
  readonly #bufferNames = new Set<string>();
  readonly #nonPersistent = new Set<string>();
  readonly #childNames = new Set<string>();
  readonly #hooks: ForwardHook[] = [];
  readonly #preHooks: ForwardPreHook[] = [];

  constructor() {
    // Route forward through hooks: the subclass's forward (found on the prototype) is wrapped
    // once here, so `m.forward(x)` runs pre-hooks on the inputs and hooks on the output.
    const inner = (this as unknown as { forward: (...a: unknown[]) => unknown }).forward;
    Object.defineProperty(this, 'forward', {
      value: (...inputs: unknown[]) => {
        let args = inputs;
        for (const h of [...this.#preHooks]) args = h(this, args) ?? args;
        let out = inner.apply(this, args);
        for (const h of [...this.#hooks]) {
          const replaced = h(this, args, out);
          if (replaced !== undefined) out = replaced;
        }
        return out;
      },
      writable: true,
    });
  }

  abstract forward(...inputs: never[]): unknown;

  /** Whether forward hooks or pre-hooks are registered here (fused paths step around no module that has them). */
  hasForwardHooks(): boolean {
    return this.#hooks.length + this.#preHooks.length > 0;
  }

  #field(name: string): unknown {
    return (this as unknown as Fields)[name];
  }

  #checkName(name: string, what: string): void {
    if (name === '' || name.includes('.')) throw new ValueError(`${what}: name must be non-empty and contain no '.', but got '${name}'`);
    const taken = this.#paramNames.has(name) || this.#bufferNames.has(name) || this.#childNames.has(name);
    // An own field still undefined is a subclass's declared field (`weight!: Tensor`), not a clash.
    if (!taken && (this as unknown as Fields)[name] !== undefined) throw new ValueError(`${what}: attribute '${name}' already exists on ${this.constructor.name}`);
  }

  /**
   * Register a learnable tensor under `name` (also set as the field `this[name]`). Parameters and
   * buffers are pinned (core/scope.ts): no tidy() scope frees them, and on the cpu their storage
   * moves into the WASM heap, where the fast kernels read it without a copy.
   */
  protected registerParameter<T extends Tensor | null>(name: string, t: T): T {
    if (t && !t.isLeaf) throw new ValueError(`registerParameter: '${name}' must be a leaf tensor (detach() it first)`);
    this.#checkName(name, 'registerParameter');
    if (t) pin(t).requiresGrad = true;
    this.#bufferNames.delete(name);
    this.#childNames.delete(name);
    this.#paramNames.add(name);
    (this as unknown as Fields)[name] = t;
    return t;
  }

  /** Register state that is saved in the state dict but not trained (unless persistent=false). */
  protected registerBuffer<T extends Tensor | null>(name: string, t: T, persistent = true): T {
    this.#checkName(name, 'registerBuffer');
    this.#paramNames.delete(name);
    this.#childNames.delete(name);
    this.#bufferNames.add(name);
    if (persistent) this.#nonPersistent.delete(name);
    else this.#nonPersistent.add(name);
    if (t) pin(t);
    (this as unknown as Fields)[name] = t;
    return t;
  }

  /** Register a child module under `name` (its keys are prefixed with `name.`). */
  protected registerModule<M extends Module | null>(name: string, m: M): M {
    this.#checkName(name, 'registerModule');
    this.#paramNames.delete(name);
    this.#bufferNames.delete(name);
    this.#childNames.add(name);
    (this as unknown as Fields)[name] = m;
    return m;
  }

  /** Add (or replace) a child from outside, as torch's add_module / setattr. */
  addModule<M extends Module | null>(name: string, m: M): M {
    return this.registerModule(name, m);
  }

  /** Replace an existing child: `model.setModule('fc', new Linear(512, 10))` (same as assigning the field). */
  setModule(name: string, m: Module | null): void {
    if (!this.#childNames.has(name)) {
      throw new ValueError(`setModule: ${this.constructor.name} has no child module named '${name}' (children: ${[...this.#childNames].join(', ')})`);
    }
    this.registerModule(name, m);
  }

  /** The child at a dotted path ('layer1.0.conv1'); '' is this module. */
  getSubmodule(path: string): Module {
    let m: Module = this;
    if (path === '') return m;
    for (const part of path.split('.')) {
      const c = m.#childNames.has(part) ? m.#field(part) : undefined;
      if (!(c instanceof Module)) throw new ValueError(`getSubmodule: ${m.constructor.name} has no child module '${part}' (in path '${path}')`);
      m = c;
    }
    return m;
  }

  *namedChildren(): Generator<[string, Module]> {
    for (const n of this.#childNames) {
      const m = this.#field(n);
      if (m instanceof Module) yield [n, m];
    }
  }
  children(): Module[] {
    return [...this.namedChildren()].map(([, m]) => m);
  }
  /** This module and all descendants, with dotted names ('' for this one); each module once. */
  *namedModules(prefix = '', seen = new Set<Module>()): Generator<[string, Module]> {
    if (seen.has(this)) return;
    seen.add(this);
    yield [prefix, this];
    for (const [n, m] of this.namedChildren()) yield* m.namedModules(prefix ? `${prefix}.${n}` : n, seen);
  }
  modules(): Module[] {
    return [...this.namedModules()].map(([, m]) => m);
  }

  /** Own (non-recursive) parameters of this module, in registration order. */
  *ownParameters(): Generator<[string, Tensor]> {
    for (const n of this.#paramNames) {
      const p = this.#field(n);
      if (p instanceof Tensor) yield [n, p];
    }
  }
  *#ownBuffers(persistentOnly: boolean): Generator<[string, Tensor]> {
    for (const n of this.#bufferNames) {
      const b = this.#field(n);
      if (b instanceof Tensor && !(persistentOnly && this.#nonPersistent.has(n))) yield [n, b];
    }
  }

  /** Every parameter once (a tensor shared by two layers is listed under its first name). */
  *namedParameters(prefix = ''): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    for (const [name, m] of this.namedModules(prefix)) {
      for (const [n, p] of m.ownParameters()) {
        if (seen.has(p)) continue;
        seen.add(p);
        yield [name ? `${name}.${n}` : n, p];
      }
    }
  }
  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }
  *namedBuffers(prefix = ''): Generator<[string, Tensor]> {
    for (const [name, m] of this.namedModules(prefix)) {
      for (const [n, b] of m.#ownBuffers(false)) yield [name ? `${name}.${n}` : n, b];
    }
  }
  buffers(): Tensor[] {
    return [...this.namedBuffers()].map(([, b]) => b);
  }
  /** Number of parameter elements (only those with requiresGrad when `trainableOnly`). */
  numParameters(trainableOnly = false): number {
    let n = 0;
    for (const p of this.parameters()) if (!trainableOnly || p.requiresGrad) n += p.numel();
    return n;
  }

  /** Set training mode here and below (BatchNorm, Dropout behave differently). */
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /**
   * Freeze (false) or unfreeze (true) every parameter here and below, as torch's
   * requires_grad_(). Frozen parameters get no .grad, so optimizers leave them as they are.
   */
  requiresGrad_(requiresGrad = true): this {
    for (const p of this.parameters()) p.requiresGrad = requiresGrad;
    return this;
  }
  freeze(): this {
    return this.requiresGrad_(false);
  }
  unfreeze(): this {
    return this.requiresGrad_(true);
  }

  /** Call fn on every module, children first (torch's apply order). */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  /** Drop every parameter's gradient (setToNone, the default), or fill it with zeros in place. */
  zeroGrad(setToNone = true): void {
    for (const p of this.parameters()) {
      if (!p.grad) continue;
      if (setToNone) p.grad = null;
      else p.grad.assign(zeros([], { dtype: p.grad.dtype }));
    }
  }

  /** Each parameter's gradient by dotted name (null where there is none). */
  namedGrads(): Record<string, Tensor | null> {
    const out: Record<string, Tensor | null> = {};
    for (const [n, p] of this.namedParameters()) out[n] = p.grad;
    return out;
  }

  /** Per-parameter gradient statistics in registration order (CPU tensors): the gradient-flow plot's data. */
  gradFlow(): GradInfo[] {
    return [...this.namedParameters()].map(([name, p]) => {
      const info: GradInfo = { name, shape: p.shape, requiresGrad: p.requiresGrad, grad: p.grad, meanAbs: 0, maxAbs: 0, norm: 0 };
      if (p.grad) {
        const g = p.grad.toArray();
        let sumAbs = 0;
        let sumSq = 0;
        for (let i = 0; i < g.length; i++) {
          const a = Math.abs(g[i]);
          sumAbs += a;
          sumSq += a * a;
          if (a > info.maxAbs) info.maxAbs = a;
        }
        info.meanAbs = g.length ? sumAbs / g.length : 0;
        info.norm = Math.sqrt(sumSq);
      }
      return info;
    });
  }

  /** Run `hook(module, inputs, output)` after every forward; `handle.remove()` unregisters it. */
  registerForwardHook(hook: ForwardHook): HookHandle {
    this.#hooks.push(hook);
    return {
      remove: () => {
        const i = this.#hooks.indexOf(hook);
        if (i >= 0) this.#hooks.splice(i, 1);
      },
    };
  }

  /** Run `hook(module, inputs)` before every forward; `handle.remove()` unregisters it. */
  registerForwardPreHook(hook: ForwardPreHook): HookHandle {
    this.#preHooks.push(hook);
    return {
      remove: () => {
        const i = this.#preHooks.indexOf(hook);
        if (i >= 0) this.#preHooks.splice(i, 1);
      },
    };
  }

  /** Parameters and persistent buffers in registration order, keyed by dotted path. */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [name, m] of this.namedModules()) {
      const key = (n: string) => (name ? `${name}.${n}` : n);
      for (const [n, p] of m.ownParameters()) out[key(n)] = p;
      for (const [n, b] of m.#ownBuffers(true)) out[key(n)] = b;
    }
    return out;
  }

  /**
   * Copy values from `sd` into this module's tensors in place (converted to each tensor's dtype
   * and device). Wrong shapes are always an error; with strict (default) so is every missing
   * and unexpected key. All problems are reported in one error, as torch does.
   */
  loadStateDict(sd: Record<string, Tensor>, opts: { strict?: boolean } = {}): LoadResult {
    if (typeof sd !== 'object' || sd === null || Array.isArray(sd)) {
      throw new ValueError(`loadStateDict: argument 'stateDict' must be an object of name -> Tensor, but got ${sd === null ? 'null' : Array.isArray(sd) ? 'an array' : typeof sd}`);
    }
    const strict = opts.strict ?? true;
    const own = this.stateDict();
    // Own properties only: 'constructor', 'toString' or a JSON-made '__proto__' key are names
    // like any other, not something every object inherits.
    const has = (o: object, k: string): boolean => Object.hasOwn(o, k);
    const missingKeys = Object.keys(own).filter((k) => !has(sd, k));
    const unexpectedKeys = Object.keys(sd).filter((k) => !has(own, k));
    const problems: string[] = [];
    for (const [k, t] of Object.entries(own)) {
      if (!has(sd, k)) continue;
      const src = sd[k];
      if (!(src instanceof Tensor)) problems.push(`value for ${k} is not a Tensor`);
      else if (!shapesEqual(t.shape, src.shape)) {
        problems.push(`size mismatch for ${k}: copying a param with shape ${fmtShape(src.shape)}, the shape in current model is ${fmtShape(t.shape)}`);
      }
    }
    if (strict && missingKeys.length) problems.push(`Missing key(s) in state_dict: ${missingKeys.map((k) => `"${k}"`).join(', ')}`);
    if (strict && unexpectedKeys.length) problems.push(`Unexpected key(s) in state_dict: ${unexpectedKeys.map((k) => `"${k}"`).join(', ')}`);
    if (problems.length) {
      throw new ShapeError(`Error(s) in loading state_dict for ${this.constructor.name}:\n\t${problems.join('\n\t')}`);
    }
    noGrad(() => {
      for (const [k, t] of Object.entries(own)) if (has(sd, k)) t.assign(sd[k] as Tensor);
    });
    return { missingKeys, unexpectedKeys };
  }

  /** Convert every floating parameter and buffer (in place, so optimizers keep their references). */
  to(target: DType | Device): this {
    const isDevice = target === 'cpu' || target === 'gpu';
    noGrad(() => {
      for (const t of [...this.parameters(), ...this.buffers()]) {
        if (!isDevice && t.dtype === 'int32') continue;
        if (isDevice ? t.device === target : t.dtype === target) continue;
        // A dtype change needs a new storage of the new type: rebuild the tensor's storage in place.
        replaceStorage(t, t.to(target));
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

  /** Extra text inside this module's line of toString(), e.g. `in_features=4, out_features=3`. */
  extraRepr(): string {
    return '';
  }

  /** A torch-like tree: `Sequential(\n  (0): Linear(in_features=4, ...)\n  (1): ReLU()\n)`. */
  toString(): string {
    const kids = [...this.namedChildren()];
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    if (kids.length === 0) return `${head})`;
    const lines = kids.map(([n, m]) => `  (${n}): ${m.toString().split('\n').join('\n  ')}`);
    return `${head}\n${lines.join('\n')}\n)`;
  }
}

/** Make `t` share `src`'s storage (same shape): how dtype/device changes keep object identity. */
function replaceStorage(t: Tensor, src: Tensor): void {
  const s = src.contiguous();
  (t as unknown as { storage: unknown }).storage = s.storage;
  pin(t);
}
