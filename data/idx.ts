// IDX, the file format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
//   bytes 0-1: zero; byte 2: element type (0x08 = unsigned byte); byte 3: number of dims d;
//   then d sizes as big-endian uint32; then the elements, row-major, nothing after them.
// The files ship gzipped; gunzip() uses node:zlib in Node and DecompressionStream in a browser.
import type * as NodeZlib from 'node:zlib';
import { ResgradError } from '../core/errors.js';

/** Missing, truncated or malformed data files; the message names the file and how to get a good copy. */
export class DataError extends ResgradError {}

export interface IdxArray {
  /** The sizes from the header, e.g. [60000, 28, 28]. */
  readonly dims: number[];
  /** The elements (a view into the bytes given to parseIdx). */
  readonly data: Uint8Array;
}

const UBYTE = 0x08;

/** Parse an (already gunzipped) IDX file of unsigned bytes with `ndims` dimensions. `what` names it in errors. */
export function parseIdx(bytes: Uint8Array, ndims: number, what: string): IdxArray {
  const expectedMagic = hex32((UBYTE << 8) | ndims);
  if (bytes.length < 4) {
    throw new DataError(`${what}: truncated IDX file: ${bytes.length} bytes, shorter than the 4-byte magic number ${expectedMagic}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  if (magic !== (UBYTE << 8) + ndims) {
    throw new DataError(
      `${what}: not an IDX file of ${ndims}-D unsigned bytes: expected magic number ${expectedMagic}, but got ${hex32(magic)}`,
    );
  }
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new DataError(`${what}: truncated IDX header: expected ${headerBytes} bytes for ${ndims} sizes, but the file has ${bytes.length}`);
  }
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i));
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = bytes.length - headerBytes;
  if (actual < expected) {
    throw new DataError(
      `${what}: truncated IDX data: the header says [${dims.join(', ')}] (${expected} bytes), but the file has ${actual} bytes after the header`,
    );
  }
  if (actual > expected) {
    throw new DataError(
      `${what}: malformed IDX data: the header says [${dims.join(', ')}] (${expected} bytes), but the file has ${actual} bytes after the header`,
    );
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/** Serialise unsigned bytes as an IDX file (uncompressed): the inverse of parseIdx. */
export function encodeIdx(data: Uint8Array, dims: readonly number[]): Uint8Array {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new DataError(`encodeIdx: data has ${data.length} bytes, but dims [${dims.join(', ')}] need ${expected}`);
  }
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, (UBYTE << 8) | dims.length);
  dims.forEach((d, i) => {
    view.setUint32(4 + 4 * i, d);
  });
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** gzip magic: 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Decompress a gzip file's bytes. `what` names the file in errors (truncated or not gzip). */
export async function gunzip(bytes: Uint8Array, what: string): Promise<Uint8Array> {
  if (!isGzip(bytes)) {
    const got = bytes.length < 2 ? `${bytes.length} bytes` : `${hex8(bytes[0]!)} ${hex8(bytes[1]!)}`;
    throw new DataError(`${what}: not a gzip file: expected the gzip magic 1f 8b, but got ${got}`);
  }
  const zlib = nodeZlib();
  try {
    if (zlib) {
      return await new Promise<Uint8Array>((resolve, reject) => {
        zlib.gunzip(bytes, (err, out) => (err ? reject(err) : resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength))));
      });
    }
    return await gunzipWithStreams(bytes);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    throw new DataError(`${what}: cannot gunzip (${reason}); the file is truncated or damaged`);
  }
}

/** The browser's (and Deno's) built-in gzip decoder. */
async function gunzipWithStreams(bytes: Uint8Array): Promise<Uint8Array> {
  const DS = (globalThis as { DecompressionStream?: new (format: string) => TransformStream<Uint8Array, Uint8Array> }).DecompressionStream;
  if (!DS) throw new Error('no node:zlib and no DecompressionStream in this JavaScript runtime');
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DS('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** node:zlib without a static import (so browser bundles build); null outside Node. */
function nodeZlib(): typeof NodeZlib | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return (proc?.getBuiltinModule?.('node:zlib') as typeof NodeZlib | undefined) ?? null;
}

function hex32(v: number): string {
  return `0x${v.toString(16).padStart(8, '0')}`;
}
function hex8(v: number): string {
  return v.toString(16).padStart(2, '0');
}
