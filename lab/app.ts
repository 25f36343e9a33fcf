// The lab page: tabs, the isolation banner and the device list; each tab's code is in its own file.
import { byId, el, labState } from './dom.js';
import { gpuPathStatus } from './gpu.js';
import { setupLook } from './look_tab.js';
import type { PathStatus } from './paths.js';
import type { FromWorker } from './protocol.js';
import { setupRace } from './race_tab.js';
import { setupTrain } from './train_tab.js';

window.addEventListener('error', (e) => labState.errors.push(String(e.message)));
window.addEventListener('unhandledrejection', (e) => labState.errors.push(String(e.reason)));

/** Tabs as the WAI-ARIA pattern has them: click or arrow keys select, one tab stop. */
function setupTabs(): void {
  const tabs = [...document.querySelectorAll<HTMLButtonElement>('[role="tab"]')];
  const select = (tab: HTMLButtonElement, focus: boolean) => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      byId(t.getAttribute('aria-controls') as string).hidden = !on;
    }
    if (focus) tab.focus();
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener('click', () => select(tab, false));
    tab.addEventListener('keydown', (e) => {
      const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
      if (to === undefined) return;
      e.preventDefault();
      select(tabs[(to + tabs.length) % tabs.length] as HTMLButtonElement, true);
    });
  });
}

function showIsolation(isolated: boolean, threads: PathStatus | undefined): void {
  const banner = byId('isolation');
  if (isolated && threads?.available) {
    banner.className = 'threads';
    banner.textContent = `Multi-threaded: this page is cross-origin isolated (COOP/COEP), so the WASM kernels run on ${threads.threads} threads in a Web Worker.`;
  } else {
    banner.className = 'single';
    banner.textContent = isolated
      ? `Single-threaded: ${threads?.detail ?? 'no WASM threads here'}.`
      : 'Single-threaded: this page is not cross-origin isolated (it was served without the COOP/COEP headers), so SharedArrayBuffer is unavailable and the WASM kernels run on one thread. Serve it with "npm run lab" for threads.';
  }
  labState.isolated = isolated;
  labState.threads = isolated && threads?.available ? (threads.threads ?? 1) : 1;
}

async function main(): Promise<void> {
  setupTabs();
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  // the worker's first answer says what it can run; a worker that fails to load never answers
  const ready = new Promise<FromWorker & { type: 'ready' }>((resolve, reject) => {
    const first = (ev: MessageEvent<FromWorker>) => {
      if (ev.data.type !== 'ready') return;
      worker.removeEventListener('message', first);
      resolve(ev.data);
    };
    worker.addEventListener('message', first);
    worker.addEventListener('error', (e) => reject(new Error(`the engine's worker (worker.js) failed: ${e.message || 'it did not load'}`)));
  });
  worker.addEventListener('error', (e) => labState.errors.push(`worker: ${e.message}`));
  worker.addEventListener('message', (ev: MessageEvent<FromWorker>) => {
    if (ev.data.type !== 'error' || ev.data.where !== 'hello') return;
    labState.errors.push(`?threads: ${ev.data.message}`);
    byId('isolation').after(el('p', `The page's ?threads= was ignored: ${ev.data.message}`, { role: 'alert' }));
  });
  // ?threads=N sets the WASM threads path's thread count (default: one per core)
  const asked = new URLSearchParams(location.search).get('threads');
  worker.postMessage({ type: 'hello', ...(asked === null ? {} : { threads: Number(asked) }) });
  const [hello, gpus] = await Promise.all([ready, gpuPathStatus()]);
  const paths = [...hello.paths, ...gpus];
  showIsolation(hello.isolated, paths.find((p) => p.id === 'threads'));
  setupTrain(worker, paths);
  setupRace(worker, paths);
  await setupLook();
  labState.ready = true;
}

main().catch((e) => {
  labState.errors.push(String(e));
  byId('isolation').replaceChildren(el('strong', `The lab could not start: ${e instanceof Error ? e.message : String(e)}`));
});
