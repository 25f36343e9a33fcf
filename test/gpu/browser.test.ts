// The gpu backend in a real browser: esbuild bundles resgrad with gpu.js (its browser build) and
// the GPU-vs-CPU cases (test/browser/cases.ts) into one page; headless Chromium (apt chromium,
// driven by playwright-core) runs it. 'webgl2' and 'webgl' must run on SwiftShader (Chromium's software GL,
// through ANGLE) and every case must match the cpu within the tolerance of test/gpu/helpers.ts.
// 'webgpu' (--enable-unsafe-webgpu): see the last test.
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as esbuild from 'esbuild';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaseResult } from '../browser/cases.js';
import { expectWithin } from './helpers.js';

type Outcome = { mode: string; describe: string; renderer: string; maxTextureSize: number; results: CaseResult[] } | { error: string; name: string };

// Flags: a closed network (no background connections), a fresh profile, and SwiftShader as the
// GL and WebGPU device (there is no GPU here; Chromium no longer falls back to it by itself).
const FLAGS = [
  '--headless', '--no-sandbox', '--no-first-run', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
  '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader',
];

let server: Server;
let browser: Browser;
let origin = '';

beforeAll(async () => {
  const bundle = await esbuild.build({
    entryPoints: ['test/browser/page.ts'],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    // the page carries gpu.js: initGpu's import('gpu.js') resolves to its browser build
    alias: { 'gpu.js': './node_modules/gpu.js/dist/gpu-browser.js' },
    external: ['node:*', 'webgpu'], // initGpu imports Dawn's binding only in Node
    logLevel: 'silent',
  });
  const js = bundle.outputFiles[0]?.text ?? '';
  const html = '<!doctype html><meta charset="utf-8"><title>resgrad gpu</title><script type="module" src="/page.js"></script>';
  server = createServer((req, res) => {
    const isJs = req.url === '/page.js';
    res.writeHead(200, { 'content-type': isJs ? 'text/javascript' : 'text/html' });
    res.end(isJs ? js : html);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: FLAGS, headless: true });
});

afterAll(async () => {
  await browser?.close();
  if (server) await new Promise((r) => server.close(r));
});

async function runPage(mode: string): Promise<Outcome> {
  const page = await browser.newPage();
  const logs: string[] = [];
  page.on('console', (m) => logs.push(m.text()));
  page.on('pageerror', (e) => logs.push(String(e)));
  try {
    await page.goto(`${origin}/?mode=${mode}`);
    await page.waitForFunction(() => (window as unknown as { __resgrad?: unknown }).__resgrad !== undefined, null, { timeout: 240_000 });
    return (await page.evaluate(() => (window as unknown as { __resgrad: Outcome }).__resgrad)) as Outcome;
  } catch (e) {
    throw new Error(`${mode} page: ${(e as Error).message}\npage log:\n${logs.join('\n')}`);
  } finally {
    await page.close();
  }
}

/** Run the page in `mode`, assert the backend and renderer that ran, and compare every case. */
async function expectCasesMatch(mode: string, renderer: RegExp): Promise<void> {
  const o = await runPage(mode);
  if ('error' in o) throw new Error(`${mode} did not start: ${o.name}: ${o.error}`);
  console.log(`browser: ${o.describe}; MAX_TEXTURE_SIZE ${o.maxTextureSize}`);
  // the largest buffer the backend allows (2^24 elements) needs a 4096x4096 texture
  if (mode !== 'webgpu') expect(o.maxTextureSize).toBeGreaterThanOrEqual(4096);
  expect(o.mode).toBe(mode);
  expect(o.describe).toContain(`gpu.js ${mode}`);
  expect(o.renderer).toMatch(renderer);
  expect(o.results.length).toBeGreaterThanOrEqual(9);
  for (const r of o.results) {
    expect(r.device, r.label).toBe('gpu');
    expectWithin(r.gpu, r.cpu, r.scale, r.atol, `${mode} ${r.label}`);
  }
}

describe('headless Chromium', () => {
  it("'webgl2' on SwiftShader (ANGLE over SwiftShader's Vulkan): every case gpu == cpu", async () => {
    await expectCasesMatch('webgl2', /^ANGLE \(Google, Vulkan .*SwiftShader/);
  });
  it("'webgl' (WebGL 1) on SwiftShader: every case gpu == cpu", async () => {
    await expectCasesMatch('webgl', /^ANGLE \(Google, Vulkan .*SwiftShader/);
  });
  // WebGPU runs here on Chromium's SwiftShader adapter (--enable-unsafe-webgpu
  // --use-webgpu-adapter=swiftshader). gpu.js's WebGPU kernels are asynchronous, so the backend
  // runs in async mode: buffers hold promises and are read with await data().
  it("'webgpu' on SwiftShader (async): every case gpu == cpu", async () => {
    await expectCasesMatch('webgpu', /swiftshader/i);
  });
});
