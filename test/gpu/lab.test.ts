// The lab page (lab/) end to end in headless Chromium: built by lab/build.mjs, served by
// lab/server.ts with and without COOP/COEP, driven by playwright-core. The page must load with no
// console error; a short CPU JS training run must lower the loss and give, step for step, the
// losses Node computes with the same code, seed and batches; the WASM threads path must run on
// 2 threads when the page is isolated and the page must say it is single-threaded when not; the
// race must finish on CPU JS, WASM SIMD, WASM threads and gpu.js webgl2 (SwiftShader) with no
// wrong result. Screenshots go to dist/lab-artifacts/ (git-ignored).
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFashionMnist } from '../../data/index.js';
import { buildLab } from '../../lab/build.mjs';
import type { LabState } from '../../lab/dom.js';
import { onCpuPath } from '../../lab/paths.js';
import { type LabServer, startLabServer } from '../../lab/server.js';
import { LabRun, type TrainConfig } from '../../lab/trainer.js';

// as test/gpu/browser.test.ts: a closed network, a fresh profile, SwiftShader for GL and WebGPU
const FLAGS = [
  '--headless', '--no-sandbox', '--no-first-run', '--disable-quic', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
  '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader',
];
const ARTIFACTS = 'dist/lab-artifacts';
const RUN: Omit<TrainConfig, 'seed' | 'lr'> = { model: 'cifarResNet8', norm: 'bn', width: 4, groups: 1, batch: 16, steps: 10 };

let outDir = '';
let isolated: LabServer;
let open: LabServer;
let browser: Browser;

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), 'resgrad-lab-e2e-'));
  await buildLab({ outDir, minify: true, sourcemap: false }); // as npm run build ships it
  [isolated, open] = await Promise.all([startLabServer({ root: outDir }), startLabServer({ root: outDir, isolation: false })]);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: FLAGS, headless: true });
  mkdirSync(ARTIFACTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([isolated?.close(), open?.close()]);
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

const state = (page: Page) => page.evaluate(() => (window as unknown as { __lab: LabState }).__lab);

/** Wait until the page's training or race is done (or has failed); its state, with no error in it. */
async function finished(page: Page, flag: 'trainDone' | 'raceDone', timeout: number): Promise<LabState> {
  await page.waitForFunction(
    (f) => {
      const s = (window as unknown as { __lab: LabState }).__lab;
      return s[f] || s.errors.length > 0;
    },
    flag,
    { timeout },
  );
  const s = await state(page);
  expect(s.errors).toEqual([]);
  return s;
}

/** Open the lab at `url`, collecting console errors and uncaught exceptions into `errors`. */
async function openLab(url: string, errors: string[]): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${String(e)}`));
  await page.goto(url);
  await page.waitForFunction(() => {
    const s = (window as unknown as { __lab?: LabState }).__lab;
    return s !== undefined && (s.ready || s.errors.length > 0);
  }, null, { timeout: 60_000 });
  return page;
}

describe('the lab, served with COOP/COEP (cross-origin isolated)', () => {
  const errors: string[] = [];
  let page: Page;
  let cpuLosses: number[] = [];

  it('loads with no console error and runs the WASM threads path on 2 threads', async () => {
    page = await openLab(`${isolated.url}?threads=2`, errors);
    const s = await state(page);
    expect(s.errors).toEqual([]);
    expect(errors).toEqual([]);
    expect(s.isolated).toBe(true);
    expect(s.threads).toBe(2);
    expect(await page.textContent('#isolation')).toMatch(/^Multi-threaded: .* on 2 threads/);
    expect(await page.isDisabled('#device-threads')).toBe(false);
    expect(s.lookDone).toBe(true);
  });

  it('tabs work from the keyboard; Look shows each norm\'s groups and the residual block', async () => {
    await page.focus('#tab-train');
    await page.keyboard.press('ArrowRight');
    expect(await page.getAttribute('#tab-race', 'aria-selected')).toBe('true');
    expect(await page.isVisible('#panel-race')).toBe(true);
    await page.keyboard.press('End');
    expect(await page.getAttribute('#tab-look', 'aria-selected')).toBe('true');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('tab-look');
    expect(await page.isHidden('#panel-train')).toBe(true);
    await page.selectOption('#look-norm', 'gn');
    await page.selectOption('#look-groups', '4');
    expect(await page.locator('#norm-table tbody tr').count()).toBe(16); // 4 images x 4 groups
    expect(await page.textContent('#cube-caption')).toMatch(/^GroupNorm averages over C, H, W .*16 groups of 1,568 elements/);
    expect(await page.textContent('#norm-check')).toMatch(/F\.groupNorm with 4 groups: largest difference [0-9.]+e-[0-9]+\.$/);
    expect(await page.locator('#block-maps canvas').count()).toBe(4 * 8);
    expect(await page.textContent('#block-summary')).toMatch(/layer1\.0's own forward: largest difference 0\.0e\+0\.\)$/);
    await page.focus('#tab-look');
    await page.keyboard.press('Home');
    expect(await page.getAttribute('#tab-train', 'aria-selected')).toBe('true');
  });

  it('CPU JS: 10 steps of ResNet-8 (width 4, batch 16) lower the loss, with the losses Node computes', async () => {
    await page.check('#device-js');
    await page.fill('#width', String(RUN.width));
    await page.fill('#batch', String(RUN.batch));
    await page.fill('#steps', String(RUN.steps));
    const lr = Number(await page.inputValue('#lr'));
    await page.click('#start');
    const s = await finished(page, 'trainDone', 90_000);
    const got = s.losses;
    expect(got.length).toBe(RUN.steps);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(got.slice(-3))).toBeLessThan(mean(got.slice(0, 3)));
    expect(await page.locator('#grid figure').count()).toBe(16);
    await page.screenshot({ path: `${ARTIFACTS}/lab-train.png`, fullPage: true });

    // Node: the same LabRun (seed 0 as the page's form), the same subset, the CPU JS path
    const ds = await loadFashionMnist({ split: 'train', source: 'subset' });
    const run = new LabRun({ ...RUN, lr, seed: 0 }, ds, 'cpu', (fn) => onCpuPath('js', fn));
    for (let i = 0; i < RUN.steps; i++) {
      const want = (await run.step()).loss;
      // float64 JS arithmetic rounded to float32 in both: equal but for libm differences
      expect(Math.abs((got[i] as number) - want) / Math.abs(want), `step ${i + 1}: page ${got[i]} vs node ${want}`).toBeLessThanOrEqual(1e-5);
    }
    cpuLosses = got;
  });

  it('WebGPU (gpu.js on SwiftShader, on the page): 2 steps give the CPU JS losses within float32 error', async () => {
    expect(await page.isDisabled('#device-webgpu')).toBe(false);
    await page.check('#device-webgpu');
    await page.fill('#steps', '2');
    await page.click('#start');
    const s = await finished(page, 'trainDone', 90_000);
    expect(await page.textContent('#train-status')).toMatch(/ · on gpu: gpu\.js webgpu /);
    expect(s.losses.length).toBe(2);
    // float32 sums in another order than the float64 TypeScript kernels: 1e-4 relative
    for (let i = 0; i < 2; i++) expect(Math.abs((s.losses[i] as number) - (cpuLosses[i] as number)) / (cpuLosses[i] as number)).toBeLessThan(1e-4);
  });


  it('WASM threads: Pause stops between steps, Resume finishes; the status names the 2 threads', async () => {
    await page.check('#device-threads');
    await page.fill('#steps', '30');
    await page.click('#start');
    // pause once the first step is in: the worker stops before its next one
    await page.waitForFunction(() => (window as unknown as { __lab: LabState }).__lab.losses.length >= 1, null, { timeout: 30_000 });
    await page.click('#pause');
    await page.waitForFunction(() => document.querySelector('#train-status')?.textContent?.startsWith('Paused after step'), null, { timeout: 30_000 });
    const held = (await state(page)).losses.length;
    await page.waitForTimeout(300);
    expect((await state(page)).losses.length).toBe(held);
    expect(held).toBeLessThan(30);
    expect(await page.isDisabled('#pause')).toBe(true);
    await page.click('#resume');
    await finished(page, 'trainDone', 60_000);
    // the worker's WASM runtime says what it ran on: "wasm simd128 [+ relaxed fma], 2 threads"
    expect(await page.textContent('#train-status')).toMatch(/^Done: 30 steps\. .* · on wasm simd128.*, 2 threads$/);
    expect((await state(page)).losses.length).toBe(30);
  });

  it('the race finishes on CPU JS, WASM SIMD, WASM threads and gpu.js webgl2, every result checked right', async () => {
    await page.click('#tab-race');
    expect(await page.getAttribute('#tab-race', 'aria-selected')).toBe('true');
    await page.click('#race-start');
    const s = await finished(page, 'raceDone', 110_000);
    for (const path of ['js', 'wasm', 'threads', 'webgl2']) {
      const rows = s.race.filter((r) => r.path === path);
      expect(rows.map((r) => r.case), path).toEqual(['gemm256', 'gemm512', 'conv', 'gconv', 'bn']);
      for (const r of rows) expect(['ok', 'once'], `${r.case} on ${path}`).toContain(r.status);
    }
    expect(s.race.filter((r) => r.status === 'wrong' || r.status === 'error')).toEqual([]);
    expect(await page.textContent('#race-status')).toMatch(/^Race finished in [0-9.]+ s\.$/);
    await page.screenshot({ path: `${ARTIFACTS}/lab-race.png`, fullPage: true });
    await page.click('#tab-look');
    await page.screenshot({ path: `${ARTIFACTS}/lab-look.png`, fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe('the lab, served without COOP/COEP', () => {
  it('says on the page that it runs single-threaded, and why', async () => {
    const errors: string[] = [];
    const page = await openLab(open.url, errors);
    const s = await state(page);
    expect(s.errors).toEqual([]);
    expect(errors).toEqual([]);
    expect(s.isolated).toBe(false);
    expect(s.threads).toBe(1);
    expect(await page.textContent('#isolation')).toMatch(/^Single-threaded: this page is not cross-origin isolated .*COOP\/COEP/);
    expect(await page.isDisabled('#device-threads')).toBe(true);
    expect(await page.textContent('label[for="device-threads"]')).toMatch(/unavailable: single-threaded/);
    await page.screenshot({ path: `${ARTIFACTS}/lab-no-isolation.png` });
    await page.close();
  });
});
