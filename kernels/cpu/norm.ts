// Normalisation: one idea, four choices of axes. View the input as x[N, C, S] (S = H·W, or the
// product of whatever trailing dims there are) and split its elements into sets that share
// one mean μ and one (biased) variance σ²:
//
//   axes        module        one set per …           reduced over          set size m
//   'batch'     BatchNorm     channel c               (n, s)                N·S
//   'layer'     LayerNorm     sample n                (c, s)                C·S
//   'instance'  InstanceNorm  (n, c)                  s                     S
//   'group'     GroupNorm     (n, g), g = c div C/G   (c in group g, s)     (C/G)·S
//
// Then normalise, scale and shift, with γ and β per channel:
//   x̂ = (x − μ_k) · r_k,   r_k = 1/√(σ²_k + ε),   y = γ_c · x̂ + β_c
// where k is the set of the element and c its channel. LayerNorm's γ and β have one entry per
// normalised element: its input is viewed as [M, K, 1] (each of the K elements is a "channel",
// S = 1), and the same rule covers it. (Layer is group with G = 1, instance is group with G = C;
// they are kept as their own cases so the table above reads off the code.)
//
// Each kernel has a reference version (plain loops over the table) and a fast one (below the
// line) that the tests hold to it. Arrays are contiguous; statistics are kept in the input's
// dtype; sums are taken in doubles (JS numbers).

import { type NormLayout, numSets, setOf, setSize } from '../geometry.js';
type Floats = Float32Array | Float64Array;

// ---- reference ---------------------------------------------------------------------------

/** μ_k = Σ x / m, then σ²_k = Σ (x − μ_k)² / m (two passes: no cancellation of large means). */
export function normStatsReference(x: Floats, l: NormLayout, mean: Floats, variance: Floats): void {
  const { N, C, S } = l;
  const m = setSize(l);
  const sum = new Float64Array(numSets(l));
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const k = setOf(l, n, c);
      for (let s = 0; s < S; s++) sum[k] += x[(n * C + c) * S + s];
    }
  }
  for (let k = 0; k < sum.length; k++) mean[k] = sum[k] / m;
  const sq = new Float64Array(numSets(l));
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const k = setOf(l, n, c);
      const mu = mean[k];
      for (let s = 0; s < S; s++) {
        const d = x[(n * C + c) * S + s] - mu;
        sq[k] += d * d;
      }
    }
  }
  for (let k = 0; k < sq.length; k++) variance[k] = sq[k] / m;
}

/**
 * y = (x − μ_k) / √(σ²_k + ε) · γ_c + β_c, with the statistics indexed by `l` (the input's own
 * sets, or per-channel running statistics with axes 'batch'). Null γ means 1, null β means 0.
 * Non-finite values follow the formula: a NaN or ±Inf in a set's x makes the set's statistics
 * and y non-finite, as torch. One difference: torch computes BatchNorm, InstanceNorm and GroupNorm
 * as x·a + (β − μ·a) with a = γ·r, so a γ of ±Inf gives NaN (Inf − Inf) where x is on μ's side of
 * 0; (x − μ)·a + β gives the ±Inf the formula tends to there.
 */
export function normApplyReference(
  x: Floats,
  l: NormLayout,
  mean: Floats,
  variance: Floats,
  eps: number,
  weight: Floats | null,
  bias: Floats | null,
  y: Floats,
): void {
  const { N, C, S } = l;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const k = setOf(l, n, c);
      const r = 1 / Math.sqrt(variance[k] + eps);
      const gamma = weight ? weight[c] : 1;
      const beta = bias ? bias[c] : 0;
      for (let s = 0; s < S; s++) {
        const i = (n * C + c) * S + s;
        y[i] = (x[i] - mean[k]) * r * gamma + beta;
      }
    }
  }
}

/** The fused forward: statistics of the input's own sets, then normalise, scale and shift. */
export function normForwardReference(
  x: Floats,
  l: NormLayout,
  eps: number,
  weight: Floats | null,
  bias: Floats | null,
  y: Floats,
  mean: Floats,
  variance: Floats,
): void {
  normStatsReference(x, l, mean, variance);
  normApplyReference(x, l, mean, variance, eps, weight, bias, y);
}

/**
 * The fused backward. Given gy = ∂L/∂y, for a set k of m elements with x̂_i = (x_i − μ) r:
 *   ∂L/∂β_c = Σ_{i in c} gy_i          ∂L/∂γ_c = Σ_{i in c} gy_i x̂_i
 *   g_i := ∂L/∂x̂_i = γ_c gy_i
 * When μ and σ² are the set's own statistics (batchStats), they depend on x too:
 *   ∂μ/∂x_i = 1/m,   ∂σ²/∂x_i = 2(x_i − μ)/m,   ∂r/∂x_i = −r³ (x_i − μ)/m
 *   ∂x̂_j/∂x_i = r (δ_ij − 1/m) − (x_j − μ) r³ (x_i − μ)/m = r (δ_ij − 1/m − x̂_j x̂_i / m)
 * so, with A_k = Σ_j g_j and B_k = Σ_j g_j x̂_j over the set,
 *   ∂L/∂x_i = Σ_j g_j ∂x̂_j/∂x_i = r (g_i − A_k/m − x̂_i B_k/m).
 * With fixed statistics (running averages in eval mode) only the first term is left:
 *   ∂L/∂x_i = r g_i.
 * gWeight and gBias (length C) are always filled.
 */
export function normBackwardReference(
  x: Floats,
  gy: Floats,
  l: NormLayout,
  mean: Floats,
  variance: Floats,
  eps: number,
  weight: Floats | null,
  batchStats: boolean,
  gx: Floats,
  gWeight: Floats,
  gBias: Floats,
): void {
  const { N, C, S } = l;
  const m = setSize(l);
  const r = new Float64Array(numSets(l));
  for (let k = 0; k < r.length; k++) r[k] = 1 / Math.sqrt(variance[k] + eps);
  const xhat = (i: number, k: number): number => (x[i] - mean[k]) * r[k];
  const A = new Float64Array(numSets(l));
  const B = new Float64Array(numSets(l));
  const gw = new Float64Array(C);
  const gb = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const k = setOf(l, n, c);
      const gamma = weight ? weight[c] : 1;
      for (let s = 0; s < S; s++) {
        const i = (n * C + c) * S + s;
        const g = gy[i];
        gb[c] += g;
        gw[c] += g * xhat(i, k);
        A[k] += gamma * g;
        B[k] += gamma * g * xhat(i, k);
      }
    }
  }
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const k = setOf(l, n, c);
      const gamma = weight ? weight[c] : 1;
      for (let s = 0; s < S; s++) {
        const i = (n * C + c) * S + s;
        const g = gamma * gy[i];
        gx[i] = batchStats
          ? r[k] * (g - A[k] / m - (xhat(i, k) * B[k]) / m)
          : r[k] * g;
      }
    }
  }
  for (let c = 0; c < C; c++) {
    gWeight[c] = gw[c];
    gBias[c] = gb[c];
  }
}

// ---- fast --------------------------------------------------------------------------------
// The same math with the loop structure each layout allows:
// - for the per-sample norms (layer, instance, group) every set is one contiguous run of m
//   elements, so statistics are single sweeps with the sums in locals, no per-set arrays;
// - for batch, a set is N runs of S elements, one per sample, stride C·S;
// - normalise-scale-shift is y = (x − μ_k)·a + β_c per (n, c) run, a = r_k γ_c (not folded
//   into x·a + (β_c − μ_k a): that cancels a large mean in float32 and turns a ±Inf γ into NaN);
// - the backward folds into gx = p·gy + q·(x − μ) + t per run (see normBackward);
// - LayerNorm (S = 1, a new γ every element) gets its own loops instead of runs of length 1.

/** Statistics as normStatsReference. */
export function normStats(x: Floats, l: NormLayout, mean: Floats, variance: Floats): void {
  const { N, C, S } = l;
  const m = setSize(l);
  if (l.axes === 'batch') {
    for (let c = 0; c < C; c++) {
      let sum = 0;
      for (let n = 0; n < N; n++) {
        const base = (n * C + c) * S;
        for (let i = base; i < base + S; i++) sum += x[i];
      }
      const mu = sum / m;
      let sq = 0;
      for (let n = 0; n < N; n++) {
        const base = (n * C + c) * S;
        for (let i = base; i < base + S; i++) {
          const d = x[i] - mu;
          sq += d * d;
        }
      }
      mean[c] = mu;
      variance[c] = sq / m;
    }
    return;
  }
  const sets = numSets(l);
  for (let k = 0; k < sets; k++) {
    const base = k * m;
    let sum = 0;
    for (let i = base; i < base + m; i++) sum += x[i];
    const mu = sum / m;
    let sq = 0;
    for (let i = base; i < base + m; i++) {
      const d = x[i] - mu;
      sq += d * d;
    }
    mean[k] = mu;
    variance[k] = sq / m;
  }
}

/** Normalise, scale and shift as normApplyReference. */
export function normApply(
  x: Floats,
  l: NormLayout,
  mean: Floats,
  variance: Floats,
  eps: number,
  weight: Floats | null,
  bias: Floats | null,
  y: Floats,
): void {
  const { N, C, S } = l;
  if (l.axes === 'layer' && S === 1) {
    for (let n = 0; n < N; n++) {
      const mu = mean[n];
      const r = 1 / Math.sqrt(variance[n] + eps);
      const base = n * C;
      if (weight && bias) {
        for (let c = 0; c < C; c++) y[base + c] = (x[base + c] - mu) * r * weight[c] + bias[c];
      } else {
        for (let c = 0; c < C; c++) {
          const gamma = weight ? weight[c] : 1;
          const beta = bias ? bias[c] : 0;
          y[base + c] = (x[base + c] - mu) * r * gamma + beta;
        }
      }
    }
    return;
  }
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const k = setOf(l, n, c);
      const a = (weight ? weight[c] : 1) / Math.sqrt(variance[k] + eps);
      const b = bias ? bias[c] : 0;
      const mu = mean[k];
      const base = (n * C + c) * S;
      for (let i = base; i < base + S; i++) y[i] = (x[i] - mu) * a + b;
    }
  }
}

/** The fused forward as normForwardReference. */
export function normForward(
  x: Floats,
  l: NormLayout,
  eps: number,
  weight: Floats | null,
  bias: Floats | null,
  y: Floats,
  mean: Floats,
  variance: Floats,
): void {
  normStats(x, l, mean, variance);
  normApply(x, l, mean, variance, eps, weight, bias, y);
}

/**
 * The fused backward as normBackwardReference. Expanding x̂ = (x − μ) r in
 *   gx = r (γ gy − A/m − x̂ B/m)
 * gives, per (n, c) run, gx = p·gy + q·(x − μ) + t with p = r γ_c, q = −r² B/m, t = −r A/m.
 * Pass 1 sums Σ gy and Σ gy·x̂ per run (the γ, β gradients, and A, B by γ_c-weighted sums);
 * pass 2 writes gx.
 */
export function normBackward(
  x: Floats,
  gy: Floats,
  l: NormLayout,
  mean: Floats,
  variance: Floats,
  eps: number,
  weight: Floats | null,
  batchStats: boolean,
  gx: Floats,
  gWeight: Floats,
  gBias: Floats,
): void {
  const { N, C, S } = l;
  const m = setSize(l);
  const sets = numSets(l);
  const r = new Float64Array(sets);
  for (let k = 0; k < sets; k++) r[k] = 1 / Math.sqrt(variance[k] + eps);
  const A = new Float64Array(sets);
  const B = new Float64Array(sets);
  const gw = new Float64Array(C);
  const gb = new Float64Array(C);
  if (l.axes === 'layer' && S === 1) {
    for (let n = 0; n < N; n++) {
      const mu = mean[n];
      const rn = r[n];
      const base = n * C;
      let a = 0;
      let b = 0;
      for (let c = 0; c < C; c++) {
        const g = gy[base + c];
        const xh = (x[base + c] - mu) * rn;
        const gamma = weight ? weight[c] : 1;
        gb[c] += g;
        gw[c] += g * xh;
        a += gamma * g;
        b += gamma * g * xh;
      }
      const q = (-rn * rn * b) / m;
      const t = (-rn * a) / m;
      for (let c = 0; c < C; c++) {
        const p = rn * (weight ? weight[c] : 1);
        // fixed statistics: gx = p·gy alone (x and μ must not reach it: 0·NaN is NaN)
        gx[base + c] = batchStats ? p * gy[base + c] + q * (x[base + c] - mu) + t : p * gy[base + c];
      }
    }
  } else {
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const k = setOf(l, n, c);
        const mu = mean[k];
        const base = (n * C + c) * S;
        let sg = 0;
        let sgd = 0;
        for (let i = base; i < base + S; i++) {
          const g = gy[i];
          sg += g;
          sgd += g * (x[i] - mu);
        }
        const sgxhat = r[k] * sgd; // Σ gy·x̂ = r Σ gy·(x − μ)
        const gamma = weight ? weight[c] : 1;
        gb[c] += sg;
        gw[c] += sgxhat;
        A[k] += gamma * sg;
        B[k] += gamma * sgxhat;
      }
    }
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < C; c++) {
        const k = setOf(l, n, c);
        const rk = r[k];
        const p = rk * (weight ? weight[c] : 1);
        const base = (n * C + c) * S;
        if (!batchStats) {
          // fixed statistics: gx = p·gy alone (x and μ must not reach it: 0·NaN is NaN)
          for (let i = base; i < base + S; i++) gx[i] = p * gy[i];
          continue;
        }
        const q = (-rk * rk * B[k]) / m;
        const t = (-rk * A[k]) / m;
        const mu = mean[k];
        for (let i = base; i < base + S; i++) gx[i] = p * gy[i] + q * (x[i] - mu) + t;
      }
    }
  }
  for (let c = 0; c < C; c++) {
    gWeight[c] = gw[c];
    gBias[c] = gb[c];
  }
}
