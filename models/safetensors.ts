// safetensors (https://github.com/huggingface/safetensors), the weight format PyTorch users share:
//   [8 bytes: N, little-endian u64][N bytes: JSON header][data bytes]
// The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets into
// the data bytes, little-endian values, row-major), plus an optional "__metadata__" map of
// strings. The data must be covered exactly: no overlaps, no holes, nothing after the last tensor.
//
// A torchvision checkpoint becomes a file this reads with one line of Python (pip safetensors):
//   python3 -c "import torch, torchvision; from safetensors.torch import save_file; save_file(torchvision.models.resnet18(weights='DEFAULT').state_dict(), 'resnet18.safetensors')"
//
// Every check below turns a truncated or malformed file into a SafetensorsError that says what is
// wrong; nothing loops over attacker-chosen sizes before they are checked against the file size.
//
// The format has no checksum, so a flipped bit in the data loads as a changed weight. resgrad's
// writer adds one hash per tensor to "__metadata__": key `resgrad.sha256.<tensor name>`, value the
// hex SHA-256 of the UTF-8 text `<dtype><shape as JSON>` (e.g. `F32[64,3,7,7]`) followed by the
// tensor's data bytes, so an edited dtype or shape is caught as well as changed bytes. In Python:
//   hashlib.sha256(f"{dtype}{json.dumps(shape, separators=(',', ':'))}".encode() + data).hexdigest()
// The loader checks them when present (verify: 'if-present', the default), always (verify: true:
// a file without them is an error) or never (verify: false). Files without hashes still load.
import type * as NodeFs from 'node:fs';
import type * as NodePath from 'node:path';
import type { DType, TypedArray } from '../core/dtype.js';
import { ResgradError, ValueError, fmtShape } from '../core/errors.js';
import { MAX_NUMEL } from '../core/shape.js';
import { Tensor } from '../core/tensor.js';
import { sha256Hex } from './sha256.js';

export { sha256Hex };

export class SafetensorsError extends ResgradError {}

/** Element size and how to decode each dtype we read (everything becomes float32/float64/int32). */
const DTYPES: Record<string, { bytes: number; decode: (b: Uint8Array, name: string) => TypedArray }> = {
  F64: { bytes: 8, decode: (b) => new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8) },
  F32: { bytes: 4, decode: (b) => new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) },
  F16: { bytes: 2, decode: (b) => Float32Array.from(new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2), halfToFloat) },
  // bfloat16 is the top half of a float32's bits
  BF16: { bytes: 2, decode: (b) => new Float32Array(Uint32Array.from(new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2), (h) => h << 16).buffer) },
  I64: { bytes: 8, decode: (b, name) => narrowToInt32(new BigInt64Array(b.buffer, b.byteOffset, b.byteLength / 8), name, 'I64') },
  U64: { bytes: 8, decode: (b, name) => narrowToInt32(new BigUint64Array(b.buffer, b.byteOffset, b.byteLength / 8), name, 'U64') },
  I32: { bytes: 4, decode: (b) => new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4) },
  U32: { bytes: 4, decode: (b, name) => narrowToInt32(new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4), name, 'U32') },
  I16: { bytes: 2, decode: (b) => Int32Array.from(new Int16Array(b.buffer, b.byteOffset, b.byteLength / 2)) },
  U16: { bytes: 2, decode: (b) => Int32Array.from(new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2)) },
  I8: { bytes: 1, decode: (b) => Int32Array.from(new Int8Array(b.buffer, b.byteOffset, b.byteLength)) },
  U8: { bytes: 1, decode: (b) => Int32Array.from(b) },
  BOOL: { bytes: 1, decode: (b) => Int32Array.from(b, (v) => (v ? 1 : 0)) },
};

/** IEEE half → number: sign, 5-bit exponent (bias 15), 10-bit mantissa; exponent 0 is subnormal. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** 64-bit (or unsigned) integers into int32, refusing values that do not fit. */
function narrowToInt32(src: BigInt64Array | BigUint64Array | Uint32Array, name: string, dtype: string): Int32Array {
  const out = new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = Number(src[i]);
    if (v > 2147483647 || v < -2147483648) {
      throw new SafetensorsError(`safetensors: tensor '${name}' (${dtype}) holds ${String(src[i])} at index ${i}, which does not fit in int32`);
    }
    out[i] = v;
  }
  return out;
}

const littleEndian = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/** obj[key] = value as an own property, even for a key like '__proto__' (names come from the file). */
function define<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function fail(msg: string): never {
  throw new SafetensorsError(`safetensors: ${msg}`);
}

// ---- content hashes ---------------------------------------------------------------------------

/** Metadata keys of the per-tensor hashes: `resgrad.sha256.<tensor name>`. */
export const HASH_PREFIX = 'resgrad.sha256.';

/** A tensor's hash: SHA-256 of `<dtype><shape as JSON>` and its data bytes. */
function tensorDigest(dtype: string, shape: readonly number[], data: Uint8Array): string {
  return sha256Hex([new TextEncoder().encode(`${dtype}${JSON.stringify(shape)}`), data]);
}

export interface LoadOptions {
  /**
   * Check the per-tensor hashes: 'if-present' (default) when the file has them, true always (a
   * file without them is an error), false never.
   */
  verify?: boolean | 'if-present';
}

/** Check every tensor against its hash; a tensor without one, or a hash without a tensor, is an error too. */
function verifyHashes(entries: readonly Entry[], data: Uint8Array, metadata: Record<string, string>, verify: boolean | 'if-present'): void {
  if (verify === false) return;
  const hashKeys = Object.keys(metadata).filter((k) => k.startsWith(HASH_PREFIX));
  if (hashKeys.length === 0) {
    if (verify === 'if-present') return;
    fail(`verify: the file has no ${HASH_PREFIX}* hashes to check (it was written by another tool or an older resgrad); load it with { verify: 'if-present' } or { verify: false }`);
  }
  const names = new Set(entries.map((e) => e.name));
  for (const k of hashKeys) {
    if (!names.has(k.slice(HASH_PREFIX.length))) fail(`verify: hash '${k}' belongs to no tensor in the file (was a tensor renamed or removed?)`);
  }
  for (const e of entries) {
    const key = HASH_PREFIX + e.name;
    if (!Object.hasOwn(metadata, key)) fail(`verify: tensor '${e.name}' has no hash '${key}' while others have one (was it added or renamed?)`);
    const got = tensorDigest(e.dtype, e.shape, data.subarray(e.begin, e.end));
    if (got !== metadata[key]) {
      fail(`verify: tensor '${e.name}' is corrupted: the SHA-256 of its dtype, shape and data is ${got}, but the file says ${metadata[key]}`);
    }
  }
}

/** Validate one header entry against the data size; returns it typed. */
function checkEntry(name: string, raw: unknown, dataLength: number): Entry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`header entry '${name}' is not an object`);
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== 'string') fail(`tensor '${name}' has no string 'dtype'`);
  const info = DTYPES[dtype];
  if (!info) fail(`tensor '${name}' has unknown dtype '${dtype}' (supported: ${Object.keys(DTYPES).join(', ')})`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    fail(`tensor '${name}' has an invalid shape ${JSON.stringify(shape)} (expected a list of non-negative integers)`);
  }
  if ((shape as number[]).some((d) => d > MAX_NUMEL)) fail(`tensor '${name}' has shape ${fmtShape(shape as number[])} with a dim larger than a tensor may have (${MAX_NUMEL})`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    fail(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offsets)} (expected [begin, end])`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) fail(`tensor '${name}' has data_offsets [${begin}, ${end}] with end before begin`);
  if (end > dataLength) fail(`tensor '${name}' has data_offsets [${begin}, ${end}] beyond the ${dataLength} data bytes (truncated file?)`);
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  if (count * info.bytes !== end - begin) {
    fail(`tensor '${name}' of shape ${fmtShape(shape as number[])} and dtype ${dtype} needs ${count * info.bytes} bytes, but data_offsets [${begin}, ${end}] span ${end - begin}`);
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

function checkVerify(opts: LoadOptions | undefined): boolean | 'if-present' {
  if (opts === undefined) return 'if-present';
  if (typeof opts !== 'object' || opts === null) throw new ValueError(`loadSafetensors: argument 'options' must be an object such as { verify: true }, but got ${String(opts)}`);
  const v = opts.verify ?? 'if-present';
  if (v !== true && v !== false && v !== 'if-present') {
    throw new ValueError(`loadSafetensors: option 'verify' must be true, false or 'if-present', but got ${typeof v === 'string' ? `'${v}'` : String(v)}`);
  }
  return v;
}

/**
 * Decode a safetensors image into CPU tensors (F16/BF16 become float32; integer types int32),
 * checking the per-tensor hashes as `opts.verify` says (before any tensor is made).
 */
export function parseSafetensors(bytes: Uint8Array, opts?: LoadOptions): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const verify = checkVerify(opts);
  if (!littleEndian) fail('big-endian hosts are not supported');
  // A plain Uint8Array over the same memory: Node's Buffer.slice would not copy (nor align) below.
  bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length field`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (headerLength > bytes.length - 8) {
    fail(`header length ${headerLength} exceeds the ${bytes.length - 8} bytes after the length field (truncated or not a safetensors file)`);
  }
  let header: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const data = bytes.subarray(8 + headerLength);
  const metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__ value for '${k}' is not a string`);
        define(metadata, k, v);
      }
      continue;
    }
    entries.push(checkEntry(name, raw, data.length));
  }
  // The tensors must tile the data bytes exactly.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let prev: Entry | null = null;
  for (const e of sorted) {
    if (e.begin < covered) fail(`tensors '${prev?.name}' and '${e.name}' overlap (data_offsets [${prev?.begin}, ${prev?.end}] and [${e.begin}, ${e.end}])`);
    if (e.begin > covered) fail(`data bytes [${covered}, ${e.begin}) belong to no tensor (a hole before '${e.name}')`);
    covered = e.end;
    if (e.end > e.begin) prev = e;
  }
  if (covered !== data.length) fail(`${data.length - covered} data bytes after the last tensor belong to no tensor`);
  verifyHashes(entries, data, metadata, verify);
  // the hashes are the format's bookkeeping, not the user's metadata: a save of what was loaded writes fresh ones
  for (const k of Object.keys(metadata)) if (k.startsWith(HASH_PREFIX)) delete metadata[k];

  const tensors: Record<string, Tensor> = {};
  for (const e of entries) {
    // slice() copies into a fresh, aligned buffer that the tensor then owns
    const values = (DTYPES[e.dtype] as (typeof DTYPES)[string]).decode(data.slice(e.begin, e.end), e.name);
    define(tensors, e.name, Tensor.fromArray(values, e.shape));
  }
  return { tensors, metadata };
}

type NodeModules = { fs: typeof NodeFs; path: typeof NodePath };

/** node:fs and node:path without a static import (so browser bundles build); null outside Node. */
function nodeModules(): NodeModules | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  if (!proc?.getBuiltinModule) return null;
  return { fs: proc.getBuiltinModule('node:fs') as typeof NodeFs, path: proc.getBuiltinModule('node:path') as typeof NodePath };
}

function requireNode(what: string): NodeModules {
  const m = nodeModules();
  if (!m) throw new SafetensorsError(`safetensors: ${what} needs Node.js >= 20.16 (process.getBuiltinModule); in a browser pass the file's bytes instead`);
  return m;
}

/**
 * Read a .safetensors file (path in Node) or image (bytes) into CPU tensors, keyed by name.
 * `{ verify: true }` insists on resgrad's per-tensor hashes and names a corrupted tensor.
 */
export function loadSafetensors(source: string | Uint8Array | ArrayBuffer, opts?: LoadOptions): Record<string, Tensor> {
  return loadSafetensorsWithMetadata(source, opts).tensors;
}

export function loadSafetensorsWithMetadata(
  source: string | Uint8Array | ArrayBuffer,
  opts?: LoadOptions,
): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  let bytes: Uint8Array;
  if (typeof source === 'string') bytes = requireNode('reading a path').fs.readFileSync(source);
  else if (source instanceof Uint8Array || source instanceof ArrayBuffer) bytes = source instanceof Uint8Array ? source : new Uint8Array(source);
  else throw new ValueError(`loadSafetensors: argument 'source' must be a path, a Uint8Array or an ArrayBuffer, but got ${source === null ? 'null' : typeof source}`);
  return parseSafetensors(bytes, opts);
}

export interface SaveOptions {
  /**
   * String-to-string metadata stored under "__metadata__" (e.g. { format: 'pt' }). Keys starting
   * with `resgrad.sha256.` are dropped (stale hashes of a loaded file); fresh ones are written.
   */
  metadata?: Record<string, string>;
  /** Write a SHA-256 per tensor into the metadata (default true); false writes a plain file. */
  hashes?: boolean;
  /** How int32 tensors are written: 'I32' (default), or 'I64' as torch stores num_batches_tracked. */
  int32As?: 'I32' | 'I64';
}

const WRITE_DTYPE: Record<DType, string> = { float32: 'F32', float64: 'F64', int32: 'I32' };

/** Encode tensors (any device that can be read synchronously) as a safetensors image. */
export function serializeSafetensors(tensors: Record<string, Tensor>, opts: SaveOptions = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.metadata ?? {})) {
    if (typeof v !== 'string') throw new SafetensorsError(`safetensors: metadata value for '${k}' must be a string`);
    if (!k.startsWith(HASH_PREFIX)) define(metadata, k, v);
  }
  const hashes = opts.hashes ?? true;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__') throw new SafetensorsError("safetensors: '__metadata__' cannot be a tensor name");
    if (!(t instanceof Tensor)) throw new SafetensorsError(`safetensors: value for '${name}' is not a Tensor`);
    const values = t.toArray();
    let dtype = WRITE_DTYPE[t.dtype];
    let raw: Uint8Array = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    if (t.dtype === 'int32' && opts.int32As === 'I64') {
      dtype = 'I64';
      const wide = BigInt64Array.from(values as Int32Array, (v) => BigInt(v));
      raw = new Uint8Array(wide.buffer);
    }
    define(header, name, { dtype, shape: [...t.shape], data_offsets: [offset, offset + raw.byteLength] });
    if (hashes) define(metadata, HASH_PREFIX + name, tensorDigest(dtype, t.shape, raw));
    chunks.push(raw);
    offset += raw.byteLength;
  }
  // "__metadata__" first, where a reader looking at the file's head sees it
  let json = JSON.stringify(Object.keys(metadata).length > 0 ? { __metadata__: metadata, ...header } : header);
  // Pad the header with spaces so the data starts 8-byte aligned (as the reference writer does).
  json += ' '.repeat((8 - ((new TextEncoder().encode(json).length + 8) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerBytes.length, true);
  view.setUint32(4, 0, true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

// Temporary files are named `<target>.tmp-<pid>-<n>` so that a later save of the same target
// recognises them; earlier versions wrote `.<target>.<pid>.<random>.tmp`.
let tempCounter = 0;

/** The pid in the name of one of `base`'s temporary files, or null when `file` is not one. */
function tempFilePid(file: string, base: string): number | null {
  if (file.startsWith(`${base}.tmp-`)) {
    const m = /^(\d+)-\d+$/.exec(file.slice(base.length + 5));
    return m ? Number(m[1]) : null;
  }
  if (file.startsWith(`.${base}.`) && file.endsWith('.tmp')) {
    const m = /^(\d+)\.[a-z0-9]+$/.exec(file.slice(base.length + 2, -4));
    return m ? Number(m[1]) : null;
  }
  return null;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH'; // EPERM: it exists, owned by someone else
  }
}

/**
 * Remove the temporary files that earlier saves of `base` in `dir` left behind when their process
 * was killed (its pid no longer runs). A live process's file may be a save in progress: kept.
 */
function removeStaleTempFiles(fs: typeof NodeFs, P: typeof NodePath, dir: string, base: string): void {
  let files: string[];
  try {
    files = fs.readdirSync(dir);
  } catch {
    return; // the save itself will report an unreadable directory
  }
  for (const f of files) {
    const pid = tempFilePid(f, base);
    if (pid !== null && pid !== process.pid && !processAlive(pid)) fs.rmSync(P.join(dir, f), { force: true });
  }
}

/**
 * Write tensors to `path` atomically: the bytes go to a temporary file in the same directory
 * (`<path>.tmp-<pid>-<n>`), which is fsynced and then renamed over `path`. A reader sees the old
 * file or the new one, never half of one; on any failure the temporary file is removed and `path`
 * is untouched. Temporary files of `path` left by a killed process are removed first.
 */
export function saveSafetensors(path: string, tensors: Record<string, Tensor>, opts: SaveOptions = {}): void {
  const { fs, path: P } = requireNode('saving');
  if (typeof path !== 'string' || path === '') throw new ValueError(`saveSafetensors: argument 'path' must be a non-empty string, but got ${typeof path === 'string' ? "''" : typeof path}`);
  const bytes = serializeSafetensors(tensors, opts); // before touching the disk: a bad tensor leaves nothing behind
  const dir = P.dirname(P.resolve(path));
  const base = P.basename(path);
  removeStaleTempFiles(fs, P, dir, base);
  writeAtomic(fs, P, dir, base, bytes);
}

/**
 * Write `bytes` to `path` whole or not at all: into a temporary file in the same folder
 * (`<name>.tmp-<pid>-<n>`), fsynced, then renamed over `path` (the folder fsynced too where the
 * platform allows). On any failure the temporary file is removed and `path` is untouched. Node
 * only; the ONNX exporter and the trainer's run folder write through it too.
 */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const { fs, path: P } = requireNode('writing a file');
  writeAtomic(fs, P, P.dirname(P.resolve(path)), P.basename(path), bytes);
}

function writeAtomic(fs: typeof NodeFs, P: typeof NodePath, dir: string, base: string, bytes: Uint8Array): void {
  const path = P.join(dir, base);
  const tmp = P.join(dir, `${base}.tmp-${process.pid}-${tempCounter++}`);
  const fd = fs.openSync(tmp, 'wx', 0o644);
  try {
    try {
      let written = 0;
      while (written < bytes.length) written += fs.writeSync(fd, bytes, written, bytes.length - written);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  // Make the rename itself durable; not every platform lets a directory be fsynced.
  try {
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    // best effort
  }
}
