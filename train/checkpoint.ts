// Checkpoints: everything a run needs to continue exactly where it stopped, in one folder
// `DIR/checkpoint/`:
//   model.safetensors      model.stateDict(), buffers included (loads into torch as it is)
//   optimizer.safetensors  the optimizer's state tensors, named state.<index>.<key>
//   optimizer.json         the rest of optimizer.stateDict(): param_groups, and null state values
//   scheduler.json         scheduler.stateDict() (only when a scheduler is given)
//   rng.json               the default generator's state
//   extra.json             whatever the caller adds (epoch, step, data order, ...)
//
// Atomic as a whole: the files go into DIR/checkpoint.tmp-<pid>/, each fsynced, then the folders
// swap by renames: checkpoint -> checkpoint.old, tmp -> checkpoint, then checkpoint.old is
// removed. Whenever the process dies, one complete checkpoint survives: `checkpoint/` if it
// exists (it only ever appears complete), else `checkpoint.old/` (killed between the two
// renames), and loadCheckpoint reads whichever it finds. A failed write (a full disk) removes the
// temporary folder and leaves the previous checkpoint as it was.
//
// node:fs and node:path come through process.getBuiltinModule (as in models/safetensors.ts), so
// index.ts can export this and browser bundles still build; in a page these functions throw.
import type * as NodeFs from 'node:fs';
import type * as NodePath from 'node:path';
import { ResgradError, fmtShape } from '../core/errors.js';
import { Generator, type RngState, getRngState, setRngState } from '../core/random.js';
import { Tensor } from '../core/tensor.js';
import { loadSafetensors, serializeSafetensors } from '../models/safetensors.js';
import type { Module } from '../nn/module.js';
import type { Scheduler, SchedulerStateDict } from '../nn/optim/lr_scheduler.js';
import type { Optimizer, OptimizerStateDict, ParamStateDict } from '../nn/optim/optimizer.js';

/** A checkpoint that cannot be written or read; `cause` holds the underlying error, if any. */
export class CheckpointError extends ResgradError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message);
    if ('cause' in opts) Object.defineProperty(this, 'cause', { value: opts.cause, enumerable: false, writable: true, configurable: true });
  }
}

/** What a checkpoint saves and restores. */
export interface CheckpointParts {
  model: Module;
  optimizer: Optimizer;
  scheduler?: Scheduler;
}

export interface SaveCheckpointOptions {
  /**
   * Writes one file whole and durably (default: create, write, fsync, close). Tests inject a
   * failing one to play a full disk; anything it throws aborts the save.
   */
  writeFile?: (path: string, bytes: Uint8Array) => void;
}

const FOLDER = 'checkpoint';

function builtin<T>(id: string): T {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  if (!proc?.getBuiltinModule) throw new CheckpointError(`checkpoints are folders on disk and need Node.js >= 20.16 (process.getBuiltinModule), not a browser`);
  return proc.getBuiltinModule(id) as T;
}
/** node:fs and node:path, looked up when a checkpoint is read or written. */
function nodeApi(): { fs: typeof NodeFs; path: typeof NodePath } {
  return { fs: builtin<typeof NodeFs>('node:fs'), path: builtin<typeof NodePath>('node:path') };
}

const REQUIRED = ['model.safetensors', 'optimizer.safetensors', 'optimizer.json', 'rng.json', 'extra.json'];

/**
 * Save model, optimizer, scheduler, the default generator's state and `extra` (JSON-safe: plain
 * objects, arrays, strings, finite numbers, booleans, null) as DIR/checkpoint/, replacing the
 * previous one atomically. DIR is created if needed.
 */
/**
 * Read every tensor a checkpoint holds back from its device, so that saveCheckpoint's synchronous
 * reads succeed on a backend that reads asynchronously (gpu.js webgpu). A no-op on the CPU.
 */
export async function fetchCheckpointTensors(c: Pick<CheckpointParts, 'model' | 'optimizer'>): Promise<void> {
  const all = [...Object.values(c.model.stateDict()), ...Object.values(splitOptimizerState(c.optimizer.stateDict()).tensors)];
  await Promise.all(all.filter((t) => t.device !== 'cpu').map((t) => t.data()));
}

export function saveCheckpoint(dir: string, c: CheckpointParts & { extra: Record<string, unknown> }, opts: SaveCheckpointOptions = {}): void {
  const { fs, path } = nodeApi();
  const root = path.resolve(dir);
  // Everything is encoded before the disk is touched: a bad value leaves nothing behind.
  if (c.extra === null || typeof c.extra !== 'object' || Array.isArray(c.extra)) {
    throw new CheckpointError(`saveCheckpoint: 'extra' must be a plain object, but got ${Array.isArray(c.extra) ? 'an array' : String(c.extra)}`);
  }
  checkJsonSafe(c.extra, 'extra');
  const { tensors, json } = splitOptimizerState(c.optimizer.stateDict());
  const files: [string, Uint8Array][] = [
    ['model.safetensors', serializeSafetensors(c.model.stateDict(), { int32As: 'I64', metadata: { format: 'pt' } })],
    ['optimizer.safetensors', serializeSafetensors(tensors, { metadata: { format: 'pt' } })],
    ['optimizer.json', jsonBytes(json, 'optimizer state')],
    ['rng.json', jsonBytes(getRngState(), 'rng state')],
    ['extra.json', jsonBytes(c.extra, 'extra')],
  ];
  if (c.scheduler) files.push(['scheduler.json', jsonBytes(c.scheduler.stateDict(), 'scheduler state')]);

  fs.mkdirSync(root, { recursive: true });
  removeStaleTemps(root);
  const final = path.join(root, FOLDER);
  const old = `${final}.old`;
  const tmp = `${final}.tmp-${process.pid}`;
  const writeFile = opts.writeFile ?? writeDurably;
  fs.rmSync(tmp, { recursive: true, force: true });
  let current = '';
  try {
    fs.mkdirSync(tmp);
    for (const [name, bytes] of files) {
      current = name;
      writeFile(path.join(tmp, name), bytes);
    }
    current = '';
    fsyncDir(tmp);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    const what = current ? `writing ${current}` : 'preparing the new checkpoint';
    throw new CheckpointError(`saveCheckpoint: ${what} in ${tmp} failed (${(e as Error).message}); the previous checkpoint in ${root} is unchanged`, { cause: e });
  }
  // The swap. A complete checkpoint/ replaces any .old; with only .old there (a crash mid-swap),
  // .old is the last good one and stays until the new one is in place.
  let movedOld = false;
  try {
    if (fs.existsSync(final)) {
      fs.rmSync(old, { recursive: true, force: true });
      fs.renameSync(final, old);
      movedOld = true;
    }
    fs.renameSync(tmp, final);
  } catch (e) {
    if (movedOld && !fs.existsSync(final)) fs.renameSync(old, final);
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new CheckpointError(`saveCheckpoint: replacing ${final} failed (${(e as Error).message}); the previous checkpoint is unchanged`, { cause: e });
  }
  fsyncDir(root);
  fs.rmSync(old, { recursive: true, force: true });
}

/** The folder loadCheckpoint would read in DIR (its checkpoint/, else checkpoint.old/), or null. */
export function findCheckpoint(dir: string): string | null {
  const { fs, path } = nodeApi();
  const root = path.resolve(dir);
  for (const f of [path.join(root, FOLDER), path.join(root, `${FOLDER}.old`)]) if (fs.existsSync(f)) return f;
  // DIR may be the checkpoint folder itself
  return fs.existsSync(path.join(root, 'model.safetensors')) && fs.existsSync(path.join(root, 'optimizer.json')) ? root : null;
}

/**
 * Restore model, optimizer, scheduler and the default generator from DIR's checkpoint and return
 * its `extra`. Everything is read and checked first (missing files, bad JSON, another model's
 * keys or shapes, a bad RNG state): when it throws, nothing was changed.
 */
export function loadCheckpoint(dir: string, into: CheckpointParts): Record<string, unknown> {
  const { fs, path } = nodeApi();
  const folder = findCheckpoint(dir);
  if (folder === null) throw new CheckpointError(`loadCheckpoint: no checkpoint in ${path.resolve(dir)} (looked for ${path.join(path.resolve(dir), FOLDER)}/ and ${FOLDER}.old/)`);
  const needed = into.scheduler ? [...REQUIRED, 'scheduler.json'] : REQUIRED;
  const missing = needed.filter((f) => !fs.existsSync(path.join(folder, f)));
  if (missing.length) throw new CheckpointError(`loadCheckpoint: ${folder} is missing ${missing.join(', ')} (a checkpoint holds ${needed.join(', ')})`);

  const modelTensors = readSafetensors(folder, 'model.safetensors');
  checkModelFits(modelTensors, into.model, folder);
  const optimizerSd = joinOptimizerState(readJson(folder, 'optimizer.json'), readSafetensors(folder, 'optimizer.safetensors'), folder);
  const schedulerSd = into.scheduler ? (readJson(folder, 'scheduler.json') as SchedulerStateDict) : null;
  const rng = readJson(folder, 'rng.json') as RngState;
  try {
    new Generator().setState(rng);
  } catch (e) {
    throw new CheckpointError(`loadCheckpoint: ${path.join(folder, 'rng.json')} is not a generator state: ${(e as Error).message}`, { cause: e });
  }
  const extra = readJson(folder, 'extra.json');
  if (extra === null || typeof extra !== 'object' || Array.isArray(extra)) throw new CheckpointError(`loadCheckpoint: ${path.join(folder, 'extra.json')} must hold an object`);

  // Now change things; optimizer and scheduler check before they change, and a scheduler that
  // refuses its state puts the optimizer back as it was.
  const before = into.optimizer.stateDict();
  try {
    into.optimizer.loadStateDict(optimizerSd);
  } catch (e) {
    throw new CheckpointError(`loadCheckpoint: the optimizer state in ${folder} does not fit this optimizer: ${(e as Error).message}`, { cause: e });
  }
  if (into.scheduler && schedulerSd) {
    try {
      into.scheduler.loadStateDict(schedulerSd);
    } catch (e) {
      into.optimizer.loadStateDict(before);
      throw new CheckpointError(`loadCheckpoint: ${path.join(folder, 'scheduler.json')} does not fit this scheduler: ${(e as Error).message}`, { cause: e });
    }
  }
  into.model.loadStateDict(modelTensors);
  setRngState(rng);
  return extra as Record<string, unknown>;
}

/** Optimizer state tensors go to safetensors as state.<index>.<key>; the rest stays JSON. */
function splitOptimizerState(sd: OptimizerStateDict): { tensors: Record<string, Tensor>; json: unknown } {
  const tensors: Record<string, Tensor> = {};
  const state: Record<string, Record<string, unknown>> = {};
  for (const [index, entry] of Object.entries(sd.state)) {
    const rest: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(entry as ParamStateDict)) {
      if (v instanceof Tensor) tensors[`state.${index}.${key}`] = v;
      else rest[key] = v;
    }
    state[index] = rest;
  }
  return { tensors, json: { state, param_groups: sd.param_groups } };
}

function joinOptimizerState(json: unknown, tensors: Record<string, Tensor>, folder: string): OptimizerStateDict {
  const { path } = nodeApi();
  const where = path.join(folder, 'optimizer.json');
  const o = json as { state?: unknown; param_groups?: unknown };
  if (o === null || typeof o !== 'object' || o.state === null || typeof o.state !== 'object' || !Array.isArray(o.param_groups)) {
    throw new CheckpointError(`loadCheckpoint: ${where} must hold { state, param_groups }`);
  }
  const state: Record<string, ParamStateDict> = {};
  for (const [index, entry] of Object.entries(o.state as Record<string, unknown>)) {
    if (entry === null || typeof entry !== 'object') throw new CheckpointError(`loadCheckpoint: ${where}: state.${index} must be an object`);
    state[index] = { ...(entry as ParamStateDict) };
  }
  for (const [name, t] of Object.entries(tensors)) {
    const m = /^state\.(\d+)\.(.+)$/.exec(name);
    if (!m) throw new CheckpointError(`loadCheckpoint: ${path.join(folder, 'optimizer.safetensors')} holds '${name}', which is not a state.<index>.<key> name`);
    const [, index, key] = m as unknown as [string, string, string];
    state[index] ??= {};
    (state[index] as ParamStateDict)[key] = t;
  }
  return { state, param_groups: o.param_groups as OptimizerStateDict['param_groups'] };
}

/** The checkpoint's model must be this model: the first missing or unexpected key, or differing shape, is named. */
function checkModelFits(saved: Record<string, Tensor>, model: Module, folder: string): void {
  const { path } = nodeApi();
  const own = model.stateDict();
  const problem = (what: string) =>
    new CheckpointError(`loadCheckpoint: ${path.join(folder, 'model.safetensors')} is a checkpoint of another model (${model.constructor.name}): ${what}`);
  for (const [k, t] of Object.entries(own)) {
    const s = saved[k];
    if (s === undefined) throw problem(`key '${k}' is missing from the checkpoint`);
    if (s.shape.length !== t.shape.length || s.shape.some((d, i) => d !== t.shape[i])) {
      throw problem(`'${k}' has shape ${fmtShape(s.shape)} in the checkpoint, ${fmtShape(t.shape)} in the model`);
    }
  }
  const extra = Object.keys(saved).find((k) => !(k in own));
  if (extra !== undefined) throw problem(`the checkpoint has key '${extra}', which the model does not`);
}

function readSafetensors(folder: string, name: string): Record<string, Tensor> {
  const { path } = nodeApi();
  try {
    return loadSafetensors(path.join(folder, name));
  } catch (e) {
    throw new CheckpointError(`loadCheckpoint: ${path.join(folder, name)} cannot be read: ${(e as Error).message}`, { cause: e });
  }
}

function readJson(folder: string, name: string): unknown {
  const { fs, path } = nodeApi();
  const file = path.join(folder, name);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CheckpointError(`loadCheckpoint: ${file} is not valid JSON (${(e as Error).message})`, { cause: e });
  }
}

function jsonBytes(value: unknown, what: string): Uint8Array {
  checkJsonSafe(value, what);
  return new TextEncoder().encode(`${JSON.stringify(value, null, 1)}\n`);
}

/** Refuse what JSON would change or drop (NaN, undefined, typed arrays, class instances). */
function checkJsonSafe(v: unknown, path: string, depth = 0): void {
  const bad = (why: string) => new CheckpointError(`saveCheckpoint: ${path} ${why}; a checkpoint stores plain JSON (objects, arrays, strings, finite numbers, booleans, null)`);
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw bad(`is ${v}`);
    return;
  }
  if (depth > 64) throw bad('nests too deep');
  if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) checkJsonSafe(x, `${path}[${i}]`, depth + 1);
    return;
  }
  if (typeof v === 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(v))) {
    for (const [k, x] of Object.entries(v as object)) checkJsonSafe(x, `${path}.${k}`, depth + 1);
    return;
  }
  const kind = typeof v === 'object' ? (v as object).constructor?.name ?? 'object' : typeof v;
  throw bad(`is ${kind === 'undefined' ? 'undefined' : `a ${kind}`}${ArrayBuffer.isView(v) ? ' (use Array.from)' : ''}`);
}

function writeDurably(path: string, bytes: Uint8Array): void {
  const { fs } = nodeApi();
  const fd = fs.openSync(path, 'wx', 0o644);
  try {
    let written = 0;
    while (written < bytes.length) written += fs.writeSync(fd, bytes, written, bytes.length - written);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Make renames and new entries in a folder durable (not every platform can fsync a folder). */
function fsyncDir(dir: string): void {
  const { fs } = nodeApi();
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // best effort: the files themselves were fsynced
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/** Temporary folders of saves that died (their process is gone) are removed. */
function removeStaleTemps(root: string): void {
  const { fs, path } = nodeApi();
  for (const name of fs.readdirSync(root)) {
    const m = /^checkpoint\.tmp-(\d+)$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && processAlive(pid)) continue;
    fs.rmSync(path.join(root, name), { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
