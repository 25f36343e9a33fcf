// Render an HTML report in headless Chromium and save a PNG, to look at what a reader sees:
//   tsx bench/report/screenshot.ts report.html report.png
// Needs apt `chromium` and the playwright-core devDependency (it never downloads a browser).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export async function screenshot(htmlPath: string, pngPath: string, executablePath = '/usr/bin/chromium'): Promise<void> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(pathToFileURL(resolve(htmlPath)).href);
    const svgs = await page.locator('svg').count();
    if (svgs === 0) throw new Error(`${htmlPath}: no <svg> chart rendered`);
    await page.screenshot({ path: pngPath, fullPage: true });
  } finally {
    await browser.close();
  }
}

if (process.argv[1]?.endsWith('screenshot.ts')) {
  const [html, png] = process.argv.slice(2);
  if (!html || !png) {
    process.stderr.write('usage: tsx bench/report/screenshot.ts report.html report.png\n');
    process.exit(1);
  }
  await screenshot(html, png);
  process.stderr.write(`wrote ${png}\n`);
}
