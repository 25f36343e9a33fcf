// The paths a page takes, run in Node with node:fs and node:zlib hidden: the subset is fetched
// (fetch stubbed to serve the repository's files) and gunzipped by DecompressionStream. And
// source 'auto' in Node when Debian's package is not installed: the embedded subset.
import * as fs from 'node:fs';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DataError, encodeIdx, gunzip, loadFashionMnist } from '../../data/index.js';

const realGetBuiltin = process.getBuiltinModule.bind(process);

/** Hide node:fs and node:zlib as a browser would; serve file: URLs through a stubbed fetch. */
function actLikeABrowser(): string[] {
  const fetched: string[] = [];
  vi.spyOn(process, 'getBuiltinModule').mockImplementation(((id: string) =>
    id === 'node:fs' || id === 'node:zlib' ? undefined : realGetBuiltin(id)) as typeof process.getBuiltinModule);
  vi.stubGlobal('fetch', async (url: URL | string) => {
    fetched.push(String(url));
    try {
      return new Response(readFileSync(fileURLToPath(url)));
    } catch {
      return new Response(null, { status: 404, statusText: 'Not Found' });
    }
  });
  return fetched;
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllGlobals();
});

describe('without node:fs and node:zlib (a page)', () => {
  it('gunzip uses DecompressionStream, and a truncated stream is a DataError', async () => {
    actLikeABrowser();
    const raw = encodeIdx(new Uint8Array(4000).map((_, i) => (i * 7) % 256), [40, 10, 10]);
    const gz = gzipSync(raw);
    expect(await gunzip(gz, 'g.gz')).toEqual(raw);
    await expect(gunzip(gz.subarray(0, gz.length - 30), 'cut.gz')).rejects.toThrow(DataError);
    await expect(gunzip(gz.subarray(0, gz.length - 30), 'cut.gz')).rejects.toThrow(/cut\.gz: cannot gunzip/);
  });

  it("source 'auto' fetches the embedded subset beside the module", async () => {
    const fetched = actLikeABrowser();
    const ds = await loadFashionMnist({ split: 'test' });
    expect(ds.source).toBe('embedded subset');
    expect(ds.length).toBe(1000);
    expect(fetched.map((u) => u.split('/').slice(-2).join('/'))).toEqual([
      'fashion-mnist-subset/t10k-images-idx3-ubyte.gz',
      'fashion-mnist-subset/t10k-labels-idx1-ubyte.gz',
    ]);
    vi.restoreAllMocks();
    vi.unstubAllGlobals();
    const fromFiles = await loadFashionMnist({ split: 'test', source: 'subset' });
    expect(Buffer.compare(fromFiles.images, ds.images)).toBe(0);
    expect(Buffer.compare(fromFiles.labels, ds.labels)).toBe(0);
  });
});

describe("source 'auto' in Node without Debian's package", () => {
  it('falls back to the embedded subset, for both splits even when only a test file is missing', async () => {
    const hidden = { ...fs, existsSync: (p: fs.PathLike) => !String(p).includes('/fashion-mnist/t10k-labels') && fs.existsSync(p) };
    vi.spyOn(process, 'getBuiltinModule').mockImplementation(((id: string) => (id === 'node:fs' ? hidden : realGetBuiltin(id))) as typeof process.getBuiltinModule);
    const ds = await loadFashionMnist({ split: 'train' });
    expect([ds.source, ds.length]).toEqual(['embedded subset', 5000]);
  });
});
