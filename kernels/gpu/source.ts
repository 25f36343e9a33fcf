// Source generation for gpu.js kernels. A gpu.js kernel is a JavaScript function that gpu.js
// parses and translates (to GLSL, WGSL or plain JS); every GPU thread computes one output
// element. We generate that source as text, one kernel per *shape signature*: shapes, strides
// and loop bounds are baked in as literals, so the shader compiler sees constant loop bounds
// (gpu.js caps non-constant loops at loopMaxIterations and silently stops there) and can fold
// the index arithmetic. Storage offsets stay runtime arguments so slices of one shape share a
// kernel.
//
// Index arithmetic runs in float32 on WebGL (GLSL ES 1.0 has no usable integer division):
// integers are exact up to 2^24, and GPU division need not be correctly rounded. Below 2^23 a
// quotient q = ⌊r / n⌋ is ⌊(r + 0.5) / n⌋: the true value sits 0.5/n away from an integer, far
// more than the few-ulp division error. From 2^23 on, r + 0.5 is no float32 (it rounds to an
// even integer, so r = q·n − 1 lands on q), and a flat output index reaches 2^24: divModLines
// takes ⌊r / n⌋ up to ±1 first, then fixes it from the small, exact remainder. (Seen on an
// H200 through WebGPU and on llvmpipe: a 4096×4096 matmul had its last column of every row past
// 2048 wrong.)

/** A number as a JavaScript literal that stays a float in generated code. */
export function lit(x: number): string {
  if (!Number.isFinite(x)) throw new RangeError(`lit: ${x} is not a finite number`);
  return Number.isInteger(x) ? `${x}.0` : `${x}`;
}

/**
 * Statements declaring `q` = ⌊r / n⌋ and `i` = r − q·n, exact for an integer-valued float r in
 * [0, 2^24) and a positive integer n: q0 = ⌊r / n⌋ is off by at most one, so the remainder
 * r − q0·n lies in [−n, 2n), small enough for the ⌊(x + 0.5) / n⌋ rule.
 */
export function divModLines(q: string, i: string, r: string, n: number): string[] {
  return [
    `const ${q}0 = Math.floor(${r} / ${lit(n)});`,
    `const ${q} = ${q}0 + Math.floor((${r} - ${q}0 * ${lit(n)} + 0.5) / ${lit(n)});`,
    `const ${i} = ${r} - ${q} * ${lit(n)};`,
  ];
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
      lines.push(...divModLines(`q${d}`, `i${d}`, rest, n));
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
