// Closeness checks that report the worst element, in the spirit of torch.testing.assert_close.
import { expect } from 'vitest';
import type { Tensor } from '../../index.js';

export interface CloseOptions {
  atol?: number;
  rtol?: number;
  label?: string;
}

/** Assert |actual - expected| <= atol + rtol·|expected| elementwise, shapes equal. */
export function expectClose(actual: Tensor | ArrayLike<number>, expected: Tensor | ArrayLike<number>, opts: CloseOptions = {}): void {
  const atol = opts.atol ?? 1e-10;
  const rtol = opts.rtol ?? 1e-8;
  const a = 'toArray' in actual ? (actual as Tensor) : null;
  const e = 'toArray' in expected ? (expected as Tensor) : null;
  if (a && e) expect([...a.shape], `${opts.label ?? ''} shape`).toEqual([...e.shape]);
  const av = a ? a.toArray() : (actual as ArrayLike<number>);
  const ev = e ? e.toArray() : (expected as ArrayLike<number>);
  expect(av.length, `${opts.label ?? ''} length`).toBe(ev.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < av.length; i++) {
    const x = av[i] as number;
    const y = ev[i] as number;
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    const excess = Math.abs(x - y) - (atol + rtol * Math.abs(y));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${opts.label ?? 'values'} differ at flat index ${worst}: actual ${av[worst]} vs expected ${ev[worst]} (atol ${atol}, rtol ${rtol})`,
    );
  }
}
