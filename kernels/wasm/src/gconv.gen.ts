// Generator of the grouped / depthwise convolution module (and its relaxed-SIMD twin): direct
// convolution for few channels per group, vectorised over output pixels (f32x4), so a group is
// never turned into a tiny GEMM. Forward, input gradient and weight gradient.
//
// Staging. Before a group of one image is convolved, its K input planes are copied into
// per-thread scratch with the padding made explicit (zeros, written once per call) and split by
// phase modulo the strides, rows by sh and columns by sw:
//   staged[c][R mod sh][Q mod sw][R div sh][Q div sw] = src[c][R − padT][Q − padL]   (0 outside)
// Each of the sh·sw sub-planes has PH rows of PK floats. Output pixel (r, v) and kernel tap
// (i, j) read padded row r·sh + i·dh and column v·sw + j·dw, which sit in sub-plane
// ((i·dh) mod sh, (j·dw) mod sw) at row r + ⌊i·dh/sh⌋, column v + ⌊j·dw/sw⌋. So with the output
// flattened as q = r·PK + v (rows as wide as the staged ones, columns v >= ow being junk that is
// dropped later), every tap reads staged float tap_offset + q: stride, dilation and padding
// vanish from the inner loop, which runs over one long run of q with no rows, borders or
// branches. The caller lists the taps as byte offsets (c·plane + sub-plane·sub + (⌊i·dh/sh⌋·PK +
// ⌊j·dw/sw⌋)·4).
//
// Direct core ($tiles{OB}): OB output channels at once (4, 2 or 1) and NV f32x4 vectors of q per
// tile. For each tile, over the tap list (input channels × kernel taps, like a GEMM's k loop):
// load NV vectors at the tap's offset, broadcast OB weights, acc[o][v] += x[v] · w[o]. A tile
// needs OB·NV + NV + OB (+1 scratch without FMA) vector registers: 4×2 -> 15, 2×4 -> 15, within
// the 15 V8 gives (../shared/DESIGN.md); with one output channel each load meets one weight, so
// loads and multiply-adds alternate and 1×7 needs 7 + 2 (a 56-wide row is two tiles; 8 or more
// accumulators with the loads first spilled). The accumulators start at the bias;
// the store clamps from below with pmax(acc, lo) (lo = 0 is ReLU, lo = −∞ none).
//
// Output. With one column phase and rows at least a tile wide, the tiles write the output rows
// directly: per row ⌊W/span⌋ full tiles from column 0, then narrow tiles (NARROW_TILES vectors)
// ending exactly at column W (the first may overlap the full ones: same values again).
// Otherwise (narrow planes, or sw > 1 in the input gradient) they write a flat scratch plane and
// $unflatten copies its valid columns out.
//
// Input gradient: the same core on the padded dY with the kernel transposed (c and o swapped).
// For stride 1 that is one correlation with the flipped kernel; for stride s > 1 dX splits into
// sh·sw phases (iy mod sh, ix mod sw), each a stride-1 correlation of dY with the taps that land
// on it (kernels/wasm/grouped_conv.ts works them out). $unflatten interleaves the column phases
// of one row phase into dX (a SIMD zip for sw = 2).
//
// Weight gradient ($dwt{OB}): dw[o, c, i, j] = Σ_n Σ_q dys[o][q] · x[tap + q], with dY staged
// flat like the output (zeros in the junk columns, so they add nothing), for OB output channels
// and TB taps at once (2×4, or 1×3 with two vectors of q per step) in OB·TB vector accumulators,
// reduced across lanes at the end of each image. Threads own output channels, so no partial sums
// need merging; a thread stages each image of a group once for all its blocks of that group.
//
// Non-finite values: the forward multiplies the padding zeros in, as torch does (a ±Inf weight
// gives NaN where its tap reads padding). The input gradient multiplies dY's padding too and the
// weight gradient dY's junk columns, zeros torch never meets: the wrappers in
// kernels/wasm/grouped_conv.ts hand dX with a non-finite weight to im2col, and redo by im2col a
// weight gradient that came out holding a NaN.
//
// Both entry points read their sizes from a descriptor (an i32 table in the arena, fields named
// below) rather than thirty arguments. Pointers are byte offsets into the shared memory.

/** Fields of the staged-plane layout, shared by both descriptors. */
const STAGE_FIELDS = [
  'src', 'srcImage', 'srcGroup', 'srcPlane', 'srcRows', 'srcCols', 'k',
  'stPlane', 'stSH', 'stSW', 'stRows', 'stPK', 'stSub', 'stPadT', 'stPadL', 'stBytes',
  'scratch', 'scratchPerThread',
] as const;
/** Fields of gconv_direct's descriptor, in order (i32 each); the passes follow. */
export const DIRECT_FIELDS = [
  'n', 'groups', 'm', 'blocks', ...STAGE_FIELDS,
  'phaseB', 'planeB', 'out', 'outImage', 'outGroup', 'outChan', 'bias', 'lo',
  'passes', 'outPhases', 'outW', 'outRowStep',
] as const;
/** Fields of each pass of gconv_direct's descriptor, after DIRECT_FIELDS. */
export const PASS_FIELDS = ['tab', 'kt', 'w', 'wGroup', 'rows', 'outOff'] as const;
/** Fields of gconv_dweight's descriptor. */
export const DWEIGHT_FIELDS = [
  'n', 'groups', 'm', 'blocks', ...STAGE_FIELDS,
  'dysPlane', 'dy', 'dyImage', 'dyGroup', 'dyChan', 'oh', 'ow', 'tab', 'kt', 'dw', 'db',
] as const;

/** f32x4 vectors per tile of the direct core, by output-channel block OB. */
export const DIRECT_TILES: Readonly<Record<number, number>> = { 4: 2, 2: 4, 1: 7 };
/**
 * Vectors per narrow tile, by OB: the tiles that finish a row after the full-width ones, when the
 * output is written row by row (W = 35 at OB = 1 is one tile of 28 and one of 8 ending at column
 * 35, overlapping the first by one float).
 */
export const NARROW_TILES: Readonly<Record<number, number>> = { 4: 1, 2: 2, 1: 2 };
/** Flat output planes are padded to a multiple of this many floats (every tile width divides it). */
export const FLAT_ALIGN = 112;
/**
 * Weight-gradient tiles by output-channel block: taps per tile and vectors of q per loop step.
 * Registers: OB·taps accumulators + U·(OB + taps) loads (+1): 2×4 -> 15, 1×3 (U = 2) -> 12.
 */
export const DW_TILES: Readonly<Record<number, { taps: number; unroll: number }>> = { 2: { taps: 4, unroll: 1 }, 1: { taps: 3, unroll: 2 } };
/** The tap table is padded to a multiple of this (every tile's tap count divides it). */
export const DW_TAPS = 12;
/** Flat dY planes are padded to a multiple of this many vectors (every unroll divides it). */
export const DW_UNROLL_MAX = 2;
/** Output channels per weight-gradient block. */
export const DW_BLOCK = 2;

const get = (name: string): string => `(local.get $${name})`;
const set = (name: string, v: string): string => `(local.set $${name} ${v})`;
const i32 = (n: number): string => `(i32.const ${n})`;
const add = (a: string, b: string): string => `(i32.add ${a} ${b})`;
const mul = (a: string, b: string): string => `(i32.mul ${a} ${b})`;
const shl2 = (a: string): string => `(i32.shl ${a} (i32.const 2))`;
const inc = (name: string, by: number | string): string => set(name, add(get(name), typeof by === 'number' ? i32(by) : by));
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Loads descriptor field `name` (its index in `fields`) from the table at $d into local $name. */
function field(fields: readonly string[], name: string): string {
  const at = fields.indexOf(name);
  if (at < 0) throw new Error(`gconv.gen: no descriptor field '${name}'`);
  return set(name, `(i32.load offset=${4 * at} (local.get $d))`);
}

/** acc + a·b: plain SIMD multiply then add, or one relaxed fused multiply-add. */
function madd(fma: boolean, acc: string, a: string, b: string): string {
  return fma ? `(f32x4.relaxed_madd ${a} ${b} ${acc})` : `(f32x4.add ${acc} (f32x4.mul ${a} ${b}))`;
}

/** i8x16.shuffle of two f32x4 picking float lanes (0-3 from a, 4-7 from b). */
function shuffle32(a: string, b: string, lanes: readonly number[]): string {
  const bytes = lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]);
  return `(i8x16.shuffle ${bytes.join(' ')} ${a} ${b})`;
}

/** `while (cond) { body }`, labels derived from `id`. */
function whileLoop(id: string, cond: string, body: string): string {
  return `(block $${id}_end (loop $${id}
      (br_if $${id}_end (i32.eqz ${cond}))
      ${body}
      (br $${id})))`;
}

/** [start, end) of thread tid's share of `total` items, into locals $it and $end. */
function threadShare(total: string): string {
  const at = (t: string): string => `(i32.wrap_i64 (i64.div_u (i64.mul (i64.extend_i32_u ${total}) (i64.extend_i32_u ${t})) (i64.extend_i32_u ${get('nt')})))`;
  return `${set('it', at(get('tid')))} ${set('end', at(add(get('tid'), i32(1))))}`;
}

/** Stages the K planes of image $img, group $g into the thread's scratch $scr. */
function stageCall(): string {
  return `(call $stage ${add(add(get('src'), mul(get('img'), get('srcImage'))), mul(get('g'), get('srcGroup')))}
                     ${get('srcPlane')} ${get('srcRows')} ${get('srcCols')} ${get('k')} ${get('scr')} ${get('stPlane')}
                     ${get('stSH')} ${get('stSW')} ${get('stRows')} ${get('stPK')} ${get('stSub')} ${get('stPadT')} ${get('stPadL')})`;
}

// ---- copies ----------------------------------------------------------------------------------

/**
 * Inline copy of n floats from s to d (not overlapping), four at a time, the last four
 * overlapping the ones before; uses locals $cd $cs $ce $cn (declared by the caller).
 */
function copyInline(d: string, s: string, n: string, id: string): string {
  return `
      ${set('cn', n)} ${set('cd', d)} ${set('cs', s)} ${set('ce', add(get('cs'), shl2(get('cn'))))}
      ${whileLoop(`${id}_vec`, `(i32.le_u ${add(get('cs'), i32(16))} ${get('ce')})`, `
        (v128.store ${get('cd')} (v128.load ${get('cs')}))
        ${inc('cd', 16)} ${inc('cs', 16)}`)}
      (if (i32.lt_u ${get('cs')} ${get('ce')}) (then
        (if (i32.ge_s ${get('cn')} (i32.const 4))
          (then (v128.store (i32.sub ${add(get('cd'), `(i32.sub ${get('ce')} ${get('cs')})`)} (i32.const 16))
                            (v128.load (i32.sub ${get('ce')} (i32.const 16)))))
          (else ${whileLoop(`${id}_one`, `(i32.lt_u ${get('cs')} ${get('ce')})`, `
            (f32.store ${get('cd')} (f32.load ${get('cs')}))
            ${inc('cd', 4)} ${inc('cs', 4)}`)}))))`;
}
const COPY_LOCALS = '(local $cd i32) (local $cs i32) (local $ce i32) (local $cn i32)';

/**
 * $stage: C source planes (rows × cols, srcPlane bytes apart) -> staged planes at dst (dplane
 * bytes apart), split into sh·sw sub-planes (sub bytes apart) of PH rows × PK floats: source
 * (iy, ix) goes to R = iy + padT, Q = ix + padL, sub-plane (R mod sh, Q mod sw), row R div sh,
 * column Q div sw. Only the source's footprint is written (the zeros around it stay).
 */
function stageFunc(): string {
  // source floats ix .. ix1 − 1 one at a time: phase ph = Q mod sw and index k = Q div sw of
  // Q = ix + padL, carried along (one division per row)
  const scalarRest = `
      ${set('q', add(get('ix'), get('padL')))}
      ${set('ph', `(i32.rem_u ${get('q')} ${get('sw')})`)}
      ${set('k', `(i32.div_u ${get('q')} ${get('sw')})`)}
      ${whileLoop('rest', `(i32.lt_s ${get('ix')} ${get('ix1')})`, `
        (f32.store ${add(get('drow'), add(mul(get('ph'), get('sub')), shl2(get('k'))))} (f32.load ${add(get('srow'), shl2(get('ix')))}))
        ${inc('ix', 1)}
        ${inc('ph', 1)}
        (if (i32.eq ${get('ph')} ${get('sw')}) (then ${set('ph', i32(0))} ${inc('k', 1)}))`)}`;
  // sw = 2: eight source floats from column ix: the four at even offsets have Q's parity (phase
  // Q mod 2, index Q div 2 on), the four at odd offsets the other phase (from index (Q + 1) div 2)
  const group2 = `
        ${set('q', add(get('ix'), get('padL')))}
        ${set('a', `(v128.load ${add(get('srow'), shl2(get('ix')))})`)}
        ${set('b', `(v128.load offset=16 ${add(get('srow'), shl2(get('ix')))})`)}
        (v128.store ${add(add(get('drow'), `(select ${get('sub')} (i32.const 0) (i32.and ${get('q')} (i32.const 1)))`), shl2(`(i32.shr_u ${get('q')} (i32.const 1))`))}
                    ${shuffle32(get('a'), get('b'), [0, 2, 4, 6])})
        (v128.store ${add(add(get('drow'), `(select (i32.const 0) ${get('sub')} (i32.and ${get('q')} (i32.const 1)))`), shl2(`(i32.shr_u ${add(get('q'), i32(1))} (i32.const 1))`))}
                    ${shuffle32(get('a'), get('b'), [1, 3, 5, 7])})`;
  const deinterleave2 = `
      ;; groups of eight, the last one ending at the row's end (overlapping, same values)
      ${whileLoop('pairs', `(i32.le_s ${add(get('ix'), i32(8))} ${get('ix1')})`, `${group2} ${inc('ix', 8)}`)}
      (if (i32.and (i32.lt_s ${get('ix')} ${get('ix1')}) (i32.ge_s (i32.sub ${get('ix1')} ${get('ix0')}) (i32.const 8))) (then
        ${set('ix', `(i32.sub ${get('ix1')} (i32.const 8))`)} ${group2} ${set('ix', get('ix1'))}))`;
  return `
  (func $stage (param $src i32) (param $splane i32) (param $rows i32) (param $cols i32) (param $C i32)
               (param $dst i32) (param $dplane i32) (param $sh i32) (param $sw i32) (param $PH i32) (param $PK i32)
               (param $sub i32) (param $padT i32) (param $padL i32)
    (local $c i32) (local $iy i32) (local $iy0 i32) (local $iy1 i32) (local $ix i32) (local $ix0 i32) (local $ix1 i32)
    (local $py i32) (local $rq i32) (local $py0 i32) (local $rq0 i32) (local $srow i32) (local $drow i32) (local $q i32) (local $ph i32) (local $k i32)
    (local $a v128) (local $b v128) ${COPY_LOCALS}
    ;; the source rows and columns that land inside the staged planes
    ${set('iy0', `(select (i32.const 0) (i32.sub (i32.const 0) ${get('padT')}) (i32.ge_s ${get('padT')} (i32.const 0)))`)}
    ${set('iy1', `(i32.sub ${mul(get('PH'), get('sh'))} ${get('padT')})`)}
    (if (i32.gt_s ${get('iy1')} ${get('rows')}) (then ${set('iy1', get('rows'))}))
    ${set('ix0', `(select (i32.const 0) (i32.sub (i32.const 0) ${get('padL')}) (i32.ge_s ${get('padL')} (i32.const 0)))`)}
    ${set('ix1', `(i32.sub ${mul(get('PK'), get('sw'))} ${get('padL')})`)}
    (if (i32.gt_s ${get('ix1')} ${get('cols')}) (then ${set('ix1', get('cols'))}))
    (if (i32.or (i32.ge_s ${get('iy0')} ${get('iy1')}) (i32.ge_s ${get('ix0')} ${get('ix1')})) (then (return)))
    ;; row phase py = R mod sh and staged row rq = R div sh of R = iy + padT, carried along
    ${set('py0', `(i32.rem_u ${add(get('iy0'), get('padT'))} ${get('sh')})`)}
    ${set('rq0', `(i32.div_u ${add(get('iy0'), get('padT'))} ${get('sh')})`)}
    ${whileLoop('chan', `(i32.lt_s ${get('c')} ${get('C')})`, `
      ${set('iy', get('iy0'))} ${set('py', get('py0'))} ${set('rq', get('rq0'))}
      ${whileLoop('row', `(i32.lt_s ${get('iy')} ${get('iy1')})`, `
        ${set('srow', add(add(get('src'), mul(get('c'), get('splane'))), shl2(mul(get('iy'), get('cols')))))}
        ${set('drow', add(add(get('dst'), mul(get('c'), get('dplane'))), add(mul(mul(get('py'), get('sw')), get('sub')), shl2(mul(get('rq'), get('PK'))))))}
        ${inc('py', 1)}
        (if (i32.eq ${get('py')} ${get('sh')}) (then ${set('py', i32(0))} ${inc('rq', 1)}))
        (if (i32.eq ${get('sw')} (i32.const 1))
          (then ${copyInline(add(get('drow'), shl2(add(get('ix0'), get('padL')))), add(get('srow'), shl2(get('ix0'))), `(i32.sub ${get('ix1')} ${get('ix0')})`, 'cp')})
          (else
            ${set('ix', get('ix0'))}
            (if (i32.eq ${get('sw')} (i32.const 2)) (then ${deinterleave2}))
            ${scalarRest}))
        ${inc('iy', 1)}`)}
      ${inc('c', 1)}`)})`;
}

/**
 * $unflatten: flat scratch results -> output rows. Column phase rx of channel o is the flat
 * plane at tmp + rx·phaseB + o·planeB, its row u starting rowB bytes after row u − 1; output row u
 * of channel o (at dst + o·chan + u·rowStep) gets dst[ix] = phase (ix mod sw)[ix div sw] for
 * ix < W. sw = 1 is a copy, sw = 2 a zip of two phases.
 */
function unflattenFunc(): string {
  // output columns ix .. ix + 7 for sw = 2: column ix is phase (ix mod 2) at index ix div 2, column
  // ix + 1 the other phase at (ix + 1) div 2, and so on alternating: a zip of two loads
  const zipAt = `
                ${set('a', `(v128.load ${add(add(get('s0'), `(select ${get('phaseB')} (i32.const 0) (i32.and ${get('ix')} (i32.const 1)))`), shl2(`(i32.shr_u ${get('ix')} (i32.const 1))`))})`)}
                ${set('b', `(v128.load ${add(add(get('s0'), `(select (i32.const 0) ${get('phaseB')} (i32.and ${get('ix')} (i32.const 1)))`), shl2(`(i32.shr_u ${add(get('ix'), i32(1))} (i32.const 1))`))})`)}
                (v128.store ${add(get('drow'), shl2(get('ix')))} ${shuffle32(get('a'), get('b'), [0, 4, 1, 5])})
                (v128.store offset=16 ${add(get('drow'), shl2(get('ix')))} ${shuffle32(get('a'), get('b'), [2, 6, 3, 7])})`;
  // the remaining columns one at a time: phase rx = ix mod sw and index v = ix div sw carried along
  const rest = `
            ${set('rx', `(i32.rem_u ${get('ix')} ${get('sw')})`)}
            ${set('v', `(i32.div_u ${get('ix')} ${get('sw')})`)}
            ${whileLoop('rest', `(i32.lt_s ${get('ix')} ${get('W')})`, `
              (f32.store ${add(get('drow'), shl2(get('ix')))} (f32.load ${add(add(get('s0'), mul(get('rx'), get('phaseB'))), shl2(get('v')))}))
              ${inc('ix', 1)}
              ${inc('rx', 1)}
              (if (i32.eq ${get('rx')} ${get('sw')}) (then ${set('rx', i32(0))} ${inc('v', 1)}))`)}`;
  return `
  (func $unflatten (param $tmp i32) (param $phaseB i32) (param $planeB i32) (param $rowB i32) (param $ob i32) (param $U i32)
                   (param $W i32) (param $sw i32) (param $dst i32) (param $chan i32) (param $rowStep i32)
    (local $o i32) (local $u i32) (local $ix i32) (local $rx i32) (local $v i32) (local $drow i32) (local $s0 i32)
    (local $a v128) (local $b v128) ${COPY_LOCALS}
    ${whileLoop('chan', `(i32.lt_s ${get('o')} ${get('ob')})`, `
      ${set('u', i32(0))}
      ${whileLoop('row', `(i32.lt_s ${get('u')} ${get('U')})`, `
        ${set('drow', add(add(get('dst'), mul(get('o'), get('chan'))), mul(get('u'), get('rowStep'))))}
        ${set('s0', add(add(get('tmp'), mul(get('o'), get('planeB'))), mul(get('u'), get('rowB'))))}
        ${set('ix', i32(0))}
        (if (i32.eq ${get('sw')} (i32.const 1))
          (then ${copyInline(get('drow'), get('s0'), get('W'), 'cp')})
          (else
            (if (i32.eq ${get('sw')} (i32.const 2)) (then
              ;; four floats of each phase -> eight neighbouring columns, the last eight ending at
              ;; the row's end (overlapping, same values)
              ${whileLoop('zip', `(i32.le_s ${add(get('ix'), i32(8))} ${get('W')})`, `${zipAt} ${inc('ix', 8)}`)}
              (if (i32.and (i32.lt_s ${get('ix')} ${get('W')}) (i32.ge_s ${get('W')} (i32.const 8))) (then
                ${set('ix', `(i32.sub ${get('W')} (i32.const 8))`)} ${zipAt} ${set('ix', get('W'))}))))
            ${rest}))
        ${inc('u', 1)}`)}
      ${inc('o', 1)}`)})`;
}

// ---- direct convolution core -----------------------------------------------------------------

/** $tiles{ob} (DIRECT_TILES vectors wide) or $tiles{ob}n{nv} (narrow). */
const tileName = (ob: number, nv: number): string => (nv === DIRECT_TILES[ob] ? `tiles${ob}` : `tiles${ob}n${nv}`);

/**
 * $tiles{ob}: for `count` tiles of nv vectors (q in bytes from 0 by 16·nv):
 *   out[o·plane + q + 16v] = max(lo, bias[o] + Σ_t x[src + tab[t] + q + 16v] · wp[t·ob + o])
 */
function tilesFunc(ob: number, fma: boolean, nv = DIRECT_TILES[ob]!): string {
  const name = tileName(ob, nv);
  const acc = (o: number, v: number): string => `a${o}_${v}`;
  const outAt = (o: number): string => (o === 0 ? get('op') : add(get('op'), get(`c${o}`)));
  const locals = [
    ...range(ob).map((o) => `(local $b${o} v128)`),
    ...range(ob).flatMap((o) => range(nv).map((v) => `(local $${acc(o, v)} v128)`)),
    ...(ob === 1 ? [] : range(nv).map((v) => `(local $x${v} v128)`)),
    '(local $w v128) (local $lov v128)',
  ];
  // one output channel: each loaded vector meets one weight, so load and multiply-add in turn
  // (NV + 2 registers, which lets a tile be wide); more channels: load the NV vectors, then
  // each channel's weight meets them all
  const oneChannelTap = [
    set('w', `(v128.load32_splat ${get('wq')})`),
    ...range(nv).map((v) => set(acc(0, v), madd(fma, get(acc(0, v)), `(v128.load offset=${16 * v} ${get('xp')})`, get('w')))),
  ].join('\n          ');
  const manyChannelTap = [
    ...range(nv).map((v) => set(`x${v}`, `(v128.load offset=${16 * v} ${get('xp')})`)),
    ...range(ob).flatMap((o) => [
      set('w', `(v128.load32_splat offset=${4 * o} ${get('wq')})`),
      ...range(nv).map((v) => set(acc(o, v), madd(fma, get(acc(o, v)), get(`x${v}`), get('w')))),
    ]),
  ].join('\n          ');
  return `
  (func $${name} (param $src i32) (param $tab i32) (param $kt i32) (param $wp i32) (param $out i32) (param $plane i32)
                    (param $count i32) (param $bias i32) (param $lo f32)
    (local $q i32) (local $qend i32) (local $spv i32) (local $op i32) (local $tp i32) (local $tend i32) (local $wq i32) (local $xp i32)
    (local $c1 i32) (local $c2 i32) (local $c3 i32)
    ${locals.join(' ')}
    ${range(ob)
      .map((o) => set(`b${o}`, `(v128.load32_splat offset=${4 * o} ${get('bias')})`))
      .join(' ')}
    ${set('lov', `(f32x4.splat ${get('lo')})`)}
    ${set('tend', add(get('tab'), shl2(get('kt'))))}
    ${set('qend', mul(get('count'), i32(16 * nv)))}
    ${set('c1', get('plane'))} ${set('c2', `(i32.shl ${get('plane')} (i32.const 1))`)} ${set('c3', add(get('c2'), get('plane')))}
    ${whileLoop('tile', `(i32.lt_u ${get('q')} ${get('qend')})`, `
      ${set('spv', add(get('src'), get('q')))}
      ${range(ob)
        .flatMap((o) => range(nv).map((v) => set(acc(o, v), get(`b${o}`))))
        .join(' ')}
      ${set('tp', get('tab'))}
      ${set('wq', get('wp'))}
      (block $taps_end
        (br_if $taps_end (i32.ge_u ${get('tp')} ${get('tend')}))
        (loop $taps
          ${set('xp', add(get('spv'), `(i32.load ${get('tp')})`))}
          ${ob === 1 ? oneChannelTap : manyChannelTap}
          ${inc('tp', 4)}
          ${inc('wq', 4 * ob)}
          (br_if $taps (i32.lt_u ${get('tp')} ${get('tend')}))))
      ${set('op', add(get('out'), get('q')))}
      ${range(ob)
        .flatMap((o) => range(nv).map((v) => `(v128.store offset=${16 * v} ${outAt(o)} (f32x4.pmax ${get(acc(o, v))} ${get('lov')}))`))
        .join('\n      ')}
      ${inc('q', 16 * nv)}`)})`;
}

/** The exported driver of the direct core: the forward (one pass) and the input gradient (a pass per phase). */
function directFunc(name: string): string {
  const f = (n: string): string => field(DIRECT_FIELDS, n);
  const passField = (n: (typeof PASS_FIELDS)[number]): string =>
    set(`p_${n}`, `(i32.load offset=${4 * (DIRECT_FIELDS.length + PASS_FIELDS.indexOf(n))} ${get('pd')})`);
  // one block through tile function `fn` (tiles of `span` floats): straight into the output rows
  // when they are one phase and at least a tile wide, else into the flat scratch and out by
  // $unflatten after the last column phase
  const tiles = (fn: string, src: string, out: string, plane: string, count: string): string =>
    `(call $${fn} ${src} ${get('p_tab')} ${get('p_kt')} ${get('wptr')} ${out} ${plane} ${count} ${get('bptr')} ${get('lof')})`;
  const call = (ob: number): string => {
    const fn = tileName(ob, DIRECT_TILES[ob]!);
    const span = 4 * DIRECT_TILES[ob]!;
    const narrow = tileName(ob, NARROW_TILES[ob]!);
    const nspan = 4 * NARROW_TILES[ob]!;
    return `
        (if (i32.and (i32.eq ${get('outPhases')} (i32.const 1)) (i32.ge_s ${get('outW')} ${i32(span)}))
          (then
            ${set('u', i32(0))} ${set('srow', get('scr'))} ${set('orow', add(get('final'), get('p_outOff')))}
            ${set('full', `(i32.div_u ${get('outW')} ${i32(span)})`)}
            ;; the rest of a row, ⌈(W − full·span) / nspan⌉ narrow tiles ending at column W
            ${set('nn', `(i32.div_u ${add(`(i32.sub ${get('outW')} ${mul(get('full'), i32(span))})`, i32(nspan - 1))} ${i32(nspan)})`)}
            ${set('lastB', shl2(`(i32.sub ${get('outW')} ${mul(get('nn'), i32(nspan))})`))}
            ${whileLoop(`rows${ob}`, `(i32.lt_s ${get('u')} ${get('p_rows')})`, `
              ${tiles(fn, get('srow'), get('orow'), get('outChan'), get('full'))}
              (if ${get('nn')} (then
                ${tiles(narrow, add(get('srow'), get('lastB')), add(get('orow'), get('lastB')), get('outChan'), get('nn'))}))
              ${inc('srow', shl2(get('stPK')))} ${inc('orow', get('outRowStep'))} ${inc('u', 1)}`)})
          (else
            ${tiles(fn, get('scr'), get('flat'), get('planeB'), `(i32.div_u ${add(mul(get('p_rows'), get('stPK')), i32(span - 1))} ${i32(span)})`)}
            (if (i32.eq ${get('rx')} (i32.sub ${get('outPhases')} (i32.const 1))) (then
              (call $unflatten ${get('tmp')} ${get('phaseB')} ${get('planeB')} ${shl2(get('stPK'))} ${get('ob')} ${get('p_rows')}
                    ${get('outW')} ${get('outPhases')} ${add(get('final'), get('p_outOff'))} ${get('outChan')} ${get('outRowStep')})))))`;
  };
  const locals = [...DIRECT_FIELDS, ...PASS_FIELDS.map((p) => `p_${p}`)].map((n) => `(local $${n} i32)`);
  return `
  (func (export "${name}") (param $tid i32) (param $nt i32) (param $d i32)
    ${locals.join(' ')}
    (local $it i32) (local $end i32) (local $ng i32) (local $last i32) (local $b i32) (local $img i32) (local $g i32)
    (local $o0 i32) (local $ob i32) (local $q4 i32) (local $scr i32) (local $tmp i32) (local $flat i32) (local $p i32) (local $pd i32)
    (local $rx i32) (local $wptr i32) (local $bptr i32) (local $final i32) (local $lof f32)
    (local $u i32) (local $srow i32) (local $orow i32) (local $full i32) (local $nn i32) (local $lastB i32)
    ${DIRECT_FIELDS.map(f).join(' ')}
    ${set('lof', `(f32.reinterpret_i32 ${get('lo')})`)}
    ;; thread tid's share of the (image, group, output block) items
    ${threadShare(mul(mul(get('n'), get('groups')), get('blocks')))}
    (if (i32.ge_u ${get('it')} ${get('end')}) (then (return)))
    ${set('scr', add(get('scratch'), mul(get('tid'), get('scratchPerThread'))))}
    ${set('tmp', add(get('scr'), get('stBytes')))}
    (memory.fill ${get('scr')} (i32.const 0) ${get('stBytes')})
    ${set('q4', `(i32.shr_u ${get('m')} (i32.const 2))`)}
    ${set('last', i32(-1))}
    ${whileLoop('items', `(i32.lt_u ${get('it')} ${get('end')})`, `
      ${set('ng', `(i32.div_u ${get('it')} ${get('blocks')})`)}
      ${set('b', `(i32.sub ${get('it')} ${mul(get('ng'), get('blocks'))})`)}
      ${set('img', `(i32.div_u ${get('ng')} ${get('groups')})`)}
      ${set('g', `(i32.sub ${get('ng')} ${mul(get('img'), get('groups'))})`)}
      (if (i32.ne ${get('ng')} ${get('last')}) (then ${stageCall()} ${set('last', get('ng'))}))
      ;; block b of the group's m outputs: blocks of 4, then one of 2, then one of 1
      (if (i32.lt_u ${get('b')} ${get('q4')})
        (then ${set('o0', `(i32.shl ${get('b')} (i32.const 2))`)} ${set('ob', i32(4))})
        (else (if (i32.and (i32.eq ${get('b')} ${get('q4')}) (i32.ne (i32.and ${get('m')} (i32.const 2)) (i32.const 0)))
          (then ${set('o0', `(i32.shl ${get('q4')} (i32.const 2))`)} ${set('ob', i32(2))})
          (else ${set('o0', `(i32.sub ${get('m')} (i32.const 1))`)} ${set('ob', i32(1))}))))
      ${set('bptr', add(get('bias'), shl2(add(mul(get('g'), get('m')), get('o0')))))}
      ${set('final', add(add(add(get('out'), mul(get('img'), get('outImage'))), mul(get('g'), get('outGroup'))), mul(get('o0'), get('outChan'))))}
      ${set('p', i32(0))}
      ${whileLoop('passes', `(i32.lt_u ${get('p')} ${get('passes')})`, `
        ${set('pd', add(get('d'), mul(get('p'), i32(4 * PASS_FIELDS.length))))}
        ${PASS_FIELDS.map(passField).join(' ')}
        ;; column phase rx of this row phase goes to its flat scratch; after the last, out to the output
        ${set('rx', `(i32.rem_u ${get('p')} ${get('outPhases')})`)}
        ${set('flat', add(get('tmp'), mul(get('rx'), get('phaseB'))))}
        ${set('wptr', add(add(get('p_w'), mul(get('g'), get('p_wGroup'))), shl2(mul(get('o0'), get('p_kt')))))}
        (if (i32.eq ${get('ob')} (i32.const 4))
          (then ${call(4)})
          (else (if (i32.eq ${get('ob')} (i32.const 2)) (then ${call(2)}) (else ${call(1)}))))
        ${inc('p', 1)}`)}
      ${inc('it', 1)}`)})`;
}

// ---- weight gradient -------------------------------------------------------------------------

/**
 * $dwt{ob}: for ob output channels (flat dY planes `dyPlane` bytes apart at dys) and the TB
 * taps at tp, s[o][t] = Σ_{q < nvec·4} dys[o][q] · xs[tab[t] + q]; then dw[o·kstr + 4t] = s
 * (or += s when acc) for the first `valid` taps. U vectors of q per iteration (nvec a multiple
 * of U).
 */
function dwtFunc(ob: number, fma: boolean): string {
  const { taps: tb, unroll } = DW_TILES[ob]!;
  const acc = (o: number, t: number): string => `a${o}_${t}`;
  const hsum = (v: string): string =>
    `(f32.add (f32x4.extract_lane 0 (local.tee $h (f32x4.add ${v} ${shuffle32(v, v, [2, 3, 0, 1])}))) (f32x4.extract_lane 1 ${get('h')}))`;
  const stores = range(ob).flatMap((o) =>
    range(tb).map((t) => {
      const at = add(get('dwp'), o === 0 ? i32(4 * t) : add(mul(get('kstr'), i32(o)), i32(4 * t)));
      return `(if (i32.gt_s ${get('valid')} ${i32(t)}) (then
      ${set('s', hsum(get(acc(o, t))))}
      (if ${get('acc')} (then ${set('s', `(f32.add ${get('s')} (f32.load ${at}))`)}))
      (f32.store ${at} ${get('s')})))`;
    }),
  );
  const loads = range(unroll).flatMap((u) => [
    ...range(ob).map((o) => set(`y${o}_${u}`, `(v128.load offset=${16 * u} ${add(get(`d${o}`), get('vb'))})`)),
    ...range(tb).map((t) => set(`x${t}_${u}`, `(v128.load offset=${16 * u} ${add(get(`p${t}`), get('vb'))})`)),
  ]);
  const fmas = range(unroll).flatMap((u) =>
    range(ob).flatMap((o) => range(tb).map((t) => set(acc(o, t), madd(fma, get(acc(o, t)), get(`y${o}_${u}`), get(`x${t}_${u}`))))),
  );
  return `
  (func $dwt${ob} (param $xs i32) (param $tp i32) (param $dys i32) (param $dyPlane i32) (param $nvec i32)
                  (param $dwp i32) (param $kstr i32) (param $valid i32) (param $acc i32)
    (local $vb i32) (local $vend i32) (local $s f32) (local $h v128)
    ${range(tb)
      .map((t) => `(local $p${t} i32) ${range(unroll).map((u) => `(local $x${t}_${u} v128)`).join(' ')}`)
      .join(' ')}
    ${range(ob)
      .map((o) => `(local $d${o} i32) ${range(unroll).map((u) => `(local $y${o}_${u} v128)`).join(' ')}`)
      .join(' ')}
    ${range(ob)
      .flatMap((o) => range(tb).map((t) => `(local $${acc(o, t)} v128)`))
      .join(' ')}
    ${range(tb)
      .map((t) => set(`p${t}`, add(get('xs'), `(i32.load offset=${4 * t} ${get('tp')})`)))
      .join(' ')}
    ${range(ob)
      .map((o) => set(`d${o}`, o === 0 ? get('dys') : add(get('dys'), mul(get('dyPlane'), i32(o)))))
      .join(' ')}
    ${set('vend', `(i32.shl ${get('nvec')} (i32.const 4))`)}
    ${whileLoop('vec', `(i32.lt_u ${get('vb')} ${get('vend')})`, `
      ${loads.join('\n      ')}
      ${fmas.join('\n      ')}
      ${inc('vb', 16 * unroll)}`)}
    ${stores.join('\n    ')})`;
}

/** $planeSum: Σ of `count` floats at p. */
function planeSumFunc(): string {
  const at = add(get('p'), shl2(get('i')));
  return `
  (func $planeSum (param $p i32) (param $count i32) (result f32)
    (local $i i32) (local $v v128) (local $s f32)
    ${whileLoop('vec', `(i32.le_s ${add(get('i'), i32(4))} ${get('count')})`, `
      ${set('v', `(f32x4.add ${get('v')} (v128.load ${at}))`)}
      ${inc('i', 4)}`)}
    ${set('s', `(f32.add (f32.add (f32x4.extract_lane 0 ${get('v')}) (f32x4.extract_lane 1 ${get('v')}))
                         (f32.add (f32x4.extract_lane 2 ${get('v')}) (f32x4.extract_lane 3 ${get('v')})))`)}
    ${whileLoop('one', `(i32.lt_s ${get('i')} ${get('count')})`, `
      ${set('s', `(f32.add ${get('s')} (f32.load ${at}))`)}
      ${inc('i', 1)}`)}
    ${get('s')})`;
}

/**
 * The exported weight-gradient driver: threads own (group, block of DW_BLOCK output channels)
 * items; a thread stages each image of a group once for all its blocks of that group.
 */
function dweightFunc(name: string): string {
  const f = (n: string): string => field(DWEIGHT_FIELDS, n);
  const call = (ob: number): string =>
    `(call $dwt${ob} ${get('scr')} ${add(get('tab'), shl2(get('t')))} ${get('dys')} ${get('dysPlane')} ${get('nvec')}
                  ${add(get('dwp'), shl2(get('t')))} ${shl2(get('kt'))} (i32.sub ${get('kt')} ${get('t')}) ${get('img')})
     ${inc('t', DW_TILES[ob]!.taps)}`;
  return `
  (func (export "${name}") (param $tid i32) (param $nt i32) (param $d i32)
    ${DWEIGHT_FIELDS.map((n) => `(local $${n} i32)`).join(' ')}
    (local $it i32) (local $end i32) (local $g i32) (local $gEnd i32) (local $b i32) (local $bEnd i32) (local $o0 i32) (local $ob i32)
    (local $img i32) (local $scr i32) (local $dys i32) (local $dyp i32) (local $dwp i32) (local $nvec i32) (local $t i32) (local $o i32)
    (local $s f32) (local $at i32)
    ${DWEIGHT_FIELDS.map(f).join(' ')}
    ${threadShare(mul(get('groups'), get('blocks')))}
    (if (i32.ge_u ${get('it')} ${get('end')}) (then (return)))
    ${set('scr', add(get('scratch'), mul(get('tid'), get('scratchPerThread'))))}
    ${set('dys', add(get('scr'), get('stBytes')))}
    (memory.fill ${get('scr')} (i32.const 0) ${get('scratchPerThread')})
    ;; dY is staged flat like the output: oh rows of PK floats, zeros past ow (and past the end,
    ;; up to a whole number of unrolled steps)
    ${set('nvec', `(i32.and ${add(`(i32.shr_u ${add(mul(get('oh'), get('stPK')), i32(3))} (i32.const 2))`, i32(DW_UNROLL_MAX - 1))} ${i32(-DW_UNROLL_MAX)})`)}
    ;; items [it, end) are blocks of groups it / blocks .. (end − 1) / blocks
    ${set('g', `(i32.div_u ${get('it')} ${get('blocks')})`)}
    ${set('gEnd', `(i32.div_u (i32.sub ${get('end')} (i32.const 1)) ${get('blocks')})`)}
    ${whileLoop('groups', `(i32.le_u ${get('g')} ${get('gEnd')})`, `
      ${set('img', i32(0))}
      ${whileLoop('images', `(i32.lt_s ${get('img')} ${get('n')})`, `
        ${stageCall()}
        ${set('b', `(select (i32.sub ${get('it')} ${mul(get('g'), get('blocks'))}) (i32.const 0) (i32.eq ${get('g')} (i32.div_u ${get('it')} ${get('blocks')})))`)}
        ${set('bEnd', `(select (i32.sub ${get('end')} ${mul(get('g'), get('blocks'))}) ${get('blocks')} (i32.eq ${get('g')} ${get('gEnd')}))`)}
        ${whileLoop('blocks', `(i32.lt_u ${get('b')} ${get('bEnd')})`, `
          ${set('o0', mul(get('b'), i32(DW_BLOCK)))}
          ${set('ob', `(i32.sub ${get('m')} ${get('o0')})`)}
          (if (i32.gt_s ${get('ob')} ${i32(DW_BLOCK)}) (then ${set('ob', i32(DW_BLOCK))}))
          ${set('dwp', add(get('dw'), shl2(mul(add(mul(get('g'), get('m')), get('o0')), get('kt')))))}
          ${set('dyp', add(add(add(get('dy'), mul(get('img'), get('dyImage'))), mul(get('g'), get('dyGroup'))), mul(get('o0'), get('dyChan'))))}
          (call $stage ${get('dyp')} ${get('dyChan')} ${get('oh')} ${get('ow')} ${get('ob')} ${get('dys')} ${get('dysPlane')}
                       (i32.const 1) (i32.const 1) ${get('oh')} ${get('stPK')} (i32.const 0) (i32.const 0) (i32.const 0))
          ${set('t', i32(0))}
          ${whileLoop('tiles', `(i32.lt_s ${get('t')} ${get('kt')})`, `
            (if (i32.eq ${get('ob')} (i32.const 2)) (then ${call(2)}) (else ${call(1)}))`)}
          ;; db[o] = Σ dy[n, o, :, :]
          (if ${get('db')} (then
            ${set('o', i32(0))}
            ${whileLoop('bias', `(i32.lt_s ${get('o')} ${get('ob')})`, `
              ${set('s', `(call $planeSum ${add(get('dyp'), mul(get('o'), get('dyChan')))} ${mul(get('oh'), get('ow'))})`)}
              ${set('at', add(get('db'), shl2(add(add(mul(get('g'), get('m')), get('o0')), get('o')))))}
              (if ${get('img')} (then ${set('s', `(f32.add ${get('s')} (f32.load ${get('at')}))`)}))
              (f32.store ${get('at')} ${get('s')})
              ${inc('o', 1)}`)}))
          ${inc('b', 1)}`)}
        ${inc('img', 1)}`)}
      ${inc('g', 1)}`)})`;
}

function moduleText(fma: boolean): string {
  const suffix = fma ? '_relaxed' : '';
  return `;; Generated by kernels/wasm/src/gconv.gen.ts${fma ? ' (relaxed-SIMD twin: fused multiply-add)' : ''}.
(module
  (import "env" "memory" (memory 1 65536 shared))
${stageFunc()}
${unflattenFunc()}
${tilesFunc(4, fma)}
${tilesFunc(2, fma)}
${tilesFunc(1, fma)}
${[4, 2, 1].map((ob) => tilesFunc(ob, fma, NARROW_TILES[ob])).join('\n')}
${directFunc(`gconv_direct${suffix}`)}
${dwtFunc(2, fma)}
${dwtFunc(1, fma)}
${planeSumFunc()}
${dweightFunc(`gconv_dweight${suffix}`)}
)
`;
}

export function generate(): Record<string, string> {
  return { gconv: moduleText(false), 'gconv.relaxed': moduleText(true) };
}
