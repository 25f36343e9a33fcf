// A static file server for the built lab (node:http, no framework). With isolation on it sends
// the two headers that make a page cross-origin isolated, which is what unlocks
// SharedArrayBuffer and so the WASM thread pool:
//   Cross-Origin-Opener-Policy: same-origin      (no other origin shares the browsing context)
//   Cross-Origin-Embedder-Policy: require-corp   (every subresource opts in; ours are same-origin)
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { ValueError } from '../core/errors.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.gz': 'application/octet-stream', // the IDX files are fetched as bytes and gunzipped by the page
};

export interface LabServerOptions {
  /** The built lab folder (buildLab's output). */
  root: string;
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** Send COOP/COEP (default true). */
  isolation?: boolean;
}

export interface LabServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** The file under `root` that a request path names, or null when it points outside or nowhere. */
export function resolveRequest(root: string, urlPath: string): string | null {
  let path: string;
  try {
    path = decodeURIComponent(new URL(urlPath, 'http://x').pathname);
  } catch {
    return null;
  }
  if (path.endsWith('/')) path += 'index.html';
  const file = normalize(join(root, path));
  if (file !== root && !file.startsWith(root.endsWith(sep) ? root : root + sep)) return null;
  try {
    return statSync(file).isFile() ? file : null;
  } catch {
    return null;
  }
}

export async function startLabServer(opts: LabServerOptions): Promise<LabServer> {
  const root = resolve(opts.root);
  const isolation = opts.isolation ?? true;
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ValueError(`port must be an integer from 0 to 65535, but got ${String(port)}`);
  const server = createServer((req, res) => {
    const headers: Record<string, string> = { 'cache-control': 'no-store' };
    if (isolation) {
      headers['cross-origin-opener-policy'] = 'same-origin';
      headers['cross-origin-embedder-policy'] = 'require-corp';
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, allow: 'GET, HEAD' }).end();
      return;
    }
    const file = resolveRequest(root, req.url ?? '/');
    if (file === null) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => ok());
  });
  const url = `http://${host}:${(server.address() as AddressInfo).port}/`;
  const close = () =>
    new Promise<void>((ok) => {
      server.close(() => ok());
      server.closeAllConnections(); // keep-alive sockets would hold close() for their timeout
    });
  return { server, url, close };
}
