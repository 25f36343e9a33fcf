// Source generation for gpu.js kernels. A gpu.js kernel is a JavaScript function that gpu.js
// parses and translates (to GLSL, WGSL or plain JS); every GPU thread computes one output
// element. We generate that source as text, one kernel per *shape signature*: shapes, strides
// and loop bounds are baked in as literals, so the shader compiler sees constant loop bounds
// (gpu.js caps non-constant loops at loopMaxIterations and silently stops there) and can fold
// the index arithmetic. Storage offsets stay runtime arguments so slices of one shape share a
// kernel.
//
// Index arithmetic runs in float32 on WebGL (GLSL ES 1.0 has no usable integer division):
// integers are exact up to 2^24, and GPU division need not be correctly rounded, so a quotient
// q = ⌊r / n⌋ is taken as ⌊(r + 0.5) / n⌋ — the true value sits at least 0.5/n away from an
// integer, far more than the few-ulp division error, so the floor is always right.

/** A number as a JavaScript literal that stays a float in generated code. */
export function lit(x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`lit: ${x} is not a finite number`);
  return Number.isInteger(x) ? `${x}.0` : `${x}`;
}

/** One strided operand of an elementwise kernel: position = `offsetArg` + Σ i_d·strides[d]. */
export interface StridedOperand {
  /** Name of the position variable to declare. */
  readonly pos: string;
  /** Name of the kernel argument holding the storage offset. */
  readonly offsetArg: string;
  readonly strides: readonly number[];
}

/**
 * Statements that split the row-major flat index `flat` over `shape` into per-dim indices
 * i_d (last dim fastest) and declare, for every operand, `pos = offset + Σ i_d·strides[d]`.
 * Dims of size 1 and zero strides generate no code.
 */
export function stridedPositions(shape: readonly number[], flat: string, operands: readonly StridedOperand[]): string {
  const lines: string[] = [];
  const terms: string[][] = operands.map((o) => [o.offsetArg]);
  let rest = flat; // the flat index with the dims after d divided out
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d];
    if (n === 1) continue;
    let idx = rest;
    const outer = shape.slice(0, d).some((s) => s !== 1);
    if (outer) {
      lines.push(`const q${d} = Math.floor((${rest} + 0.5) / ${lit(n)});`);
      lines.push(`const i${d} = ${rest} - q${d} * ${lit(n)};`);
      idx = `i${d}`;
      rest = `q${d}`;
    }
    operands.forEach((o, k) => {
      const s = o.strides[d];
      if (s !== 0) terms[k].push(s === 1 ? idx : `${idx} * ${lit(s)}`);
    });
    if (!outer) break;
  }
  operands.forEach((o, k) => {
    lines.push(`const ${o.pos} = ${terms[k].join(' + ')};`);
  });
  return lines.join('\n  ');
}

/** A complete gpu.js kernel function source. */
export function kernelFunction(args: readonly string[], body: string): string {
  return `function(${args.join(', ')}) {\n  ${body}\n}`;
}
