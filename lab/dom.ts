// Small DOM helpers for the lab page.

/** The element with this id; throws when the page lacks it (a typo here, not a user error). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`lab page: no element #${id}`);
  return el as T;
}

/** A new element with text and attributes. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, text = '', attrs: Record<string, string> = {}): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** 1234567 -> "1,234,567". */
export const fmtInt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** What tests read: the page's state, mirrored from what it shows. */
export interface LabState {
  ready: boolean;
  isolated: boolean;
  /** Threads the WASM threads path uses (1 when single-threaded). */
  threads: number;
  losses: number[];
  trainDone: boolean;
  raceDone: boolean;
  race: { case: string; path: string; status: string; gflops?: number }[];
  lookDone: boolean;
  errors: string[];
}

export const labState: LabState = { ready: false, isolated: false, threads: 1, losses: [], trainDone: false, raceDone: false, race: [], lookDone: false, errors: [] };
(globalThis as unknown as { __lab: LabState }).__lab = labState;
