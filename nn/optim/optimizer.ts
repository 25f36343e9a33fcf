// The optimizer base: parameter groups (each with its own hyper-parameters, as torch's
// param_groups), per-parameter state, zeroGrad. Subclasses implement step(), which updates each
// parameter in place with Tensor.assign so modules keep their tensor objects.
//
// stateDict() / loadStateDict() use torch 1.13's layout, key for key: `state` maps a parameter's
// index (counted across the groups, in order) to its state under torch's names, and
// `param_groups` lists each group's hyper-parameters under torch's names with `params` holding
// those indices. Parameters are matched by position, as torch does, so a state dict belongs to
// any optimizer built over the same parameter list.
import { DTypeError, ShapeError, ValueError, fmtShape } from '../../core/errors.js';
import { Tensor } from '../../core/tensor.js';
import { pin } from '../../core/scope.js';
import { noGrad, withGradEnabled } from '../../autograd/graph.js';
import { clone, toDevice, toDtype } from '../../autograd/ops/views.js';

/** A group of parameters with the options that apply to them (missing options take the defaults). */
export type ParamGroupSpec<O> = Partial<O> & { params: Iterable<Tensor> };
/** A live parameter group: schedulers change `lr` here; `initialLr` is set by the first scheduler. */
export type ParamGroup<O> = O & { params: Tensor[]; initialLr?: number };

/** What an optimizer is built from: the parameters, or a list of groups with their own options. */
export type Params<O> = Iterable<Tensor> | ParamGroupSpec<O>[];

/** One parameter's state under torch's names (momentum_buffer; step, exp_avg, ...); null as torch's None. */
export type ParamStateDict = Record<string, Tensor | null>;
/** A group's hyper-parameters under torch's names (lr, weight_decay, betas, ...) and its parameter indices. */
export type ParamGroupDict = Record<string, unknown> & { params: number[] };
/** torch's optimizer state dict: `state` keyed by parameter index, then the groups. */
export interface OptimizerStateDict {
  state: Record<number, ParamStateDict>;
  param_groups: ParamGroupDict[];
}

/**
 * One entry of a group as torch writes it: an option under torch's key, or a torch switch that
 * says how torch computes a step (foreach, fused, ...). Switches are written with torch's
 * defaults, so the dict loads into torch on any device, and are ignored on load: how this process
 * computes a step (resgrad's own `fused`) is not part of the optimizer's state.
 */
export type GroupEntry = { key: string; option: string; kind: 'number' | 'boolean' | 'pair' } | { key: string; fixed: boolean | null };

/** Installs the checked state of one parameter (copying its tensors), run once everything checked out. */
export type StateMaker = () => void;

export abstract class Optimizer<O extends { lr: number } = { lr: number }, S = unknown> {
  readonly paramGroups: ParamGroup<O>[] = [];
  /** Per-parameter state (momentum buffers, moment estimates), created on the first step. */
  readonly state = new Map<Tensor, S>();
  readonly defaults: O;

  constructor(params: Params<O>, defaults: O) {
    this.defaults = defaults;
    const list = [...(params as Iterable<Tensor | ParamGroupSpec<O>>)];
    if (list.length === 0) throw new ValueError(`${this.constructor.name}: optimizer got an empty parameter list`);
    if (list[0] instanceof Tensor) this.addParamGroup({ params: list as Tensor[] } as unknown as ParamGroupSpec<O>);
    else for (const g of list as ParamGroupSpec<O>[]) this.addParamGroup(g);
  }

  /** Add a group (e.g. a new head during fine-tuning) with its own options. */
  addParamGroup(spec: ParamGroupSpec<O>): void {
    const name = this.constructor.name;
    const params = spec.params instanceof Tensor ? [spec.params] : [...spec.params];
    const taken = new Set(this.paramGroups.flatMap((g) => g.params));
    params.forEach((p, i) => {
      if (!(p instanceof Tensor)) throw new ValueError(`${name}: params[${i}] is not a Tensor`);
      if (!p.isLeaf) throw new ValueError(`${name}: can't optimize a non-leaf Tensor (params[${i}])`);
      if (p.dtype === 'int32') throw new DTypeError(`${name}: params[${i}] is int32; only floating point tensors can be optimized`);
      if (taken.has(p)) throw new ValueError(`${name}: some parameters appear in more than one parameter group`);
      taken.add(p);
    });
    const group = { ...this.defaults, ...spec, params } as ParamGroup<O>;
    this.validate(group);
    this.paramGroups.push(group);
  }

  /** Check a group's options (subclasses throw ValueError with torch's messages). */
  protected validate(group: O): void {
    if (!(group.lr >= 0)) throw new ValueError(`Invalid learning rate: ${group.lr}`);
  }

  /** Drop every gradient (setToNone, the default) or zero it in place. */
  zeroGrad(setToNone = true): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        if (!p.grad) continue;
        if (setToNone) p.grad = null;
        else p.grad.assign(Tensor.fromArray(new Float64Array(1), []));
      }
    }
  }

  /**
   * One update of every parameter that has a gradient. With a closure (which zeroes the grads,
   * recomputes the loss and calls backward), the closure runs first and its loss is returned.
   */
  step(closure?: () => Tensor): Tensor | undefined {
    const loss = closure ? withGradEnabled(true, closure) : undefined;
    for (const group of this.paramGroups) this.updateGroup(group);
    return loss;
  }

  /** Update the parameters of one group (called under noGrad-free context; use noGrad inside). */
  protected abstract updateGroup(group: ParamGroup<O>): void;

  /** The group entries in torch's order (lr first). */
  protected abstract groupLayout(): readonly GroupEntry[];
  /** Parameter p's state under torch's names (the live tensors, as torch); undefined if it has none. */
  protected abstract packState(p: Tensor): ParamStateDict | undefined;
  /** Check one saved state entry for parameter `p` (throw naming `where`); the maker installs a copy. */
  protected abstract readState(entry: Record<string, unknown>, p: Tensor, where: string): StateMaker;
  /** Forget every parameter's state (before a load installs the saved one). */
  protected clearState(): void {
    this.state.clear();
  }

  /**
   * The state in torch's layout: `{ state: { 0: {...}, ... }, param_groups: [{ lr, ..., params: [0, 1] }] }`.
   * State tensors are this optimizer's own (not copies), as torch's; save or clone them before stepping on.
   */
  stateDict(): OptimizerStateDict {
    const state: Record<number, ParamStateDict> = {};
    let index = 0;
    const paramGroups = this.paramGroups.map((g) => {
      const out: Record<string, unknown> = {};
      for (const e of this.groupLayout()) {
        if ('fixed' in e) out[e.key] = e.fixed;
        else {
          const v = (g as Record<string, unknown>)[e.option];
          out[e.key] = e.kind === 'pair' ? [...(v as number[])] : v;
        }
      }
      if (g.initialLr !== undefined) out.initial_lr = g.initialLr;
      const params = g.params.map((p) => {
        const packed = this.packState(p);
        if (packed !== undefined) state[index] = packed;
        return index++;
      });
      return { ...out, params };
    });
    return { state, param_groups: paramGroups };
  }

  /**
   * Take the hyper-parameters and state of `sd` (from stateDict() here or torch's
   * `optimizer.state_dict()`): the groups must match in number and size; state tensors are copied,
   * cast to their parameter's dtype and device. Everything is checked before anything changes.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const name = `${this.constructor.name}.loadStateDict`;
    if (sd === null || typeof sd !== 'object') throw new ValueError(`${name}: expected a state dict { state, param_groups }, but got ${String(sd)}`);
    const groups = (sd as { param_groups?: unknown }).param_groups;
    const saved = (sd as { state?: unknown }).state;
    if (!Array.isArray(groups)) throw new ValueError(`${name}: 'param_groups' must be an array, but got ${typeof groups}`);
    if (saved === null || typeof saved !== 'object' || Array.isArray(saved)) throw new ValueError(`${name}: 'state' must be an object keyed by parameter index, but got ${Array.isArray(saved) ? 'an array' : typeof saved}`);
    if (groups.length !== this.paramGroups.length) {
      throw new ValueError(`${name}: loaded state dict has ${groups.length} parameter group(s), but this optimizer has ${this.paramGroups.length}`);
    }
    // saved parameter index -> our parameter, by position across the groups (as torch's id_map)
    const byIndex = new Map<number, Tensor>();
    const options = groups.map((raw, gi) => {
      const where = `param_groups[${gi}]`;
      if (raw === null || typeof raw !== 'object') throw new ValueError(`${name}: ${where} must be an object, but got ${String(raw)}`);
      const group = raw as Record<string, unknown>;
      const own = this.paramGroups[gi] as ParamGroup<O>;
      const ids = group.params;
      if (!Array.isArray(ids)) throw new ValueError(`${name}: ${where}.params must be an array of parameter indices, but got ${typeof ids}`);
      if (ids.length !== own.params.length) {
        throw new ValueError(`${name}: loaded state dict contains a parameter group that doesn't match the size of optimizer's group: ${where} has ${ids.length} parameter(s), this optimizer's group ${gi} has ${own.params.length}`);
      }
      ids.forEach((id, j) => {
        if (!Number.isInteger(id) || byIndex.has(id as number)) throw new ValueError(`${name}: ${where}.params[${j}] must be a distinct integer index, but got ${String(id)}`);
        byIndex.set(id as number, own.params[j] as Tensor);
      });
      return this.readGroup(group, `${name}: ${where}`);
    });
    const makers: StateMaker[] = [];
    for (const [key, entry] of Object.entries(saved as Record<string, unknown>)) {
      const p = byIndex.get(Number(key));
      if (p === undefined || String(Number(key)) !== key) {
        throw new ValueError(`${name}: state has an entry for parameter ${key}, which no group lists (indices: ${[...byIndex.keys()].join(', ')})`);
      }
      if (entry === null || typeof entry !== 'object') throw new ValueError(`${name}: state[${key}] must be an object, but got ${String(entry)}`);
      makers.push(this.readState(entry as Record<string, unknown>, p, `${name}: state[${key}]`));
    }
    // all checked: now change things
    this.paramGroups.forEach((g, gi) => {
      const { initialLr, ...opts } = options[gi] as Partial<O> & { initialLr?: number };
      Object.assign(g, opts);
      if (initialLr === undefined) delete g.initialLr;
      else g.initialLr = initialLr;
    });
    this.clearState();
    noGrad(() => {
      for (const make of makers) make();
    });
  }

  /** A saved group's options under our names, type-checked and validated like a new group's. */
  private readGroup(group: Record<string, unknown>, where: string): Partial<O> & { initialLr?: number } {
    const out: Record<string, unknown> = {};
    for (const e of this.groupLayout()) {
      if ('fixed' in e) continue;
      const v = group[e.key];
      const ok =
        e.kind === 'number' ? typeof v === 'number' && !Number.isNaN(v)
        : e.kind === 'boolean' ? typeof v === 'boolean'
        : Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number');
      if (!ok) {
        const expected = e.kind === 'pair' ? 'a pair of numbers' : `a ${e.kind}`;
        throw new ValueError(`${where}.${e.key} must be ${expected}, but got ${v === undefined ? 'nothing (missing key)' : JSON.stringify(v)}`);
      }
      out[e.option] = e.kind === 'pair' ? [(v as number[])[0], (v as number[])[1]] : v;
    }
    if (group.initial_lr !== undefined) {
      if (typeof group.initial_lr !== 'number') throw new ValueError(`${where}.initial_lr must be a number, but got ${JSON.stringify(group.initial_lr)}`);
      out.initialLr = group.initial_lr;
    }
    try {
      this.validate({ ...this.defaults, ...out } as O);
    } catch (e) {
      throw new ValueError(`${where}: ${(e as Error).message}`);
    }
    return out as Partial<O> & { initialLr?: number };
  }
}

/**
 * A saved state tensor for parameter `p`, checked (a Tensor of p's shape) and turned into a maker
 * of a kept copy in p's dtype on p's device (state outlives any tidy() scope).
 */
export function stateTensor(v: unknown, p: Tensor, where: string): () => Tensor {
  if (!(v instanceof Tensor)) throw new ValueError(`${where} must be a Tensor, but got ${v === undefined ? 'nothing (missing key)' : v === null ? 'null' : typeof v}`);
  if (v.dtype === 'int32') throw new DTypeError(`${where} must be a floating point Tensor, but got int32`);
  if (v.shape.length !== p.shape.length || v.shape.some((d, i) => d !== p.shape[i])) {
    throw new ShapeError(`${where} has shape ${fmtShape(v.shape)}, but its parameter has shape ${fmtShape(p.shape)}`);
  }
  return () => pin(clone(toDevice(toDtype(v, p.dtype), p.device)));
}

/** torch 1.13 keeps Adam's `step` as a 0-d float32 tensor; a plain number is taken too. */
export function stepCount(v: unknown, where: string): number {
  const n = v instanceof Tensor && v.numel() === 1 ? v.item() : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
    throw new ValueError(`${where} must be a non-negative whole number (or a one-element Tensor of one), but got ${v instanceof Tensor ? `a Tensor of shape ${fmtShape(v.shape)}` : String(v)}`);
  }
  return n;
}
