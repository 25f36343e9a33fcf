// Generator of the grouped / depthwise convolution module (and its relaxed-SIMD twin): direct
// convolution for few channels per group, vectorised over output pixels (f32x4 along a row), so
// a group is never turned into a tiny GEMM. Forward, the input gradient and the weight gradient.
//
// Staging. Before a group of one image is convolved, its K input planes are copied into
// per-thread scratch with the padding made explicit (zeros around, written once per call) and
// the columns split by phase modulo the column stride S:
//   staged[c][R][p][k] = src[c][R − padT][k·S + p − padL]   (0 outside the source)
// With that layout every kernel tap (i, j) reads, for four neighbouring output pixels, four
// neighbouring floats: output column v reads padded column v·S + j·dw, which is phase
// (j·dw) mod S, index v + ⌊j·dw / S⌋. So stride, dilation and any padding cost nothing in the
// inner loop, which has no branches and no borders; the caller only lists the taps as byte
// offsets into the staged planes (c·plane + i·dh·row + phase·PK·4 + ⌊j·dw/S⌋·4).
//
// Direct conv core ($rowsOB): OB output channels at once (4, 2 or 1), NV f32x4 pixel vectors
// per tile. For each tile, over the tap list (all input channels × kernel taps, flattened like
// a GEMM's k loop): load NV pixel vectors at the tap's offset, broadcast OB weights, and
//   acc[o][v] += x[v] · w[o]
// so the tile needs OB·NV + NV + OB (+1 scratch without FMA) vector registers: 4×2 -> 15,
// 2×4 -> 15, 1×6 -> 14, within V8's 15 (../shared/DESIGN.md). Rows are cut into tiles of NV
// vectors, then single vectors, then one last vector that ends at the row's end (it overlaps
// the previous one and rewrites the same values, so no partial vector exists unless the whole
// row is narrower than 4). The epilogue adds the bias (the accumulators start at it) and
// clamps from below with pmax(acc, lo): lo = 0 is ReLU, lo = −∞ is none.
//
// The input gradient is the same core run as a convolution of the padded dY with the kernel
// transposed (c and o swapped). For stride 1 that is one correlation with the flipped kernel;
// for stride S > 1 the output dX splits into sh·sw phases (iy mod sh, ix mod sw), each a stride-1
// correlation of dY with the taps that land on that phase. Phases of one output row-phase are
// written to scratch and interleaved into dX (SIMD zip for sw = 2).
//
// Weight gradient ($dwtOB): dw[o, c, i, j] = Σ_n Σ_{oy, ox} dy[n, o, oy, ox] · x[...]: for OB
// output channels (2 or 1) and TB = 3 taps at once, the sums over pixels run in OB·TB vector
// accumulators (lane l sums the columns ≡ l mod 4), reduced horizontally at the end of each
// image. The row's last partial vector is masked on dY. Threads own output channels, so no
// partial sums need merging.
//
// Both entry points read their sizes from a descriptor (an i32 table in the arena, fields named
// below) rather than thirty arguments. Pointers are byte offsets into the shared memory.

/** Fields of gconv_direct's descriptor, in order (i32 each); per-pass fields follow. */
export const DIRECT_FIELDS = [
  'n', 'groups', 'm', 'blocks',
  'src', 'srcImage', 'srcGroup', 'srcPlane', 'srcRows', 'srcCols', 'k',
  'stPlane', 'stRows', 'stPhases', 'stPK', 'stPadT', 'stPadL',
  'scratch', 'scratchPerThread', 'tmpPhase',
  'out', 'outImage', 'outGroup', 'outChan', 'bias', 'lo',
  'passes', 'outPhases', 'outW', 'outRowStep',
] as const;
/** Per-pass fields of gconv_direct's descriptor, after DIRECT_FIELDS. */
export const PASS_FIELDS = ['tab', 'kt', 'w', 'wGroup', 'rows', 'cols', 'srcRow', 'outOff', 'outRow'] as const;
/** Fields of gconv_dweight's descriptor. */
export const DWEIGHT_FIELDS = [
  'n', 'groups', 'm', 'blocks', 'k',
  'src', 'srcImage', 'srcGroup', 'srcPlane', 'srcRows', 'srcCols',
  'stPlane', 'stRows', 'stPhases', 'stPK', 'stPadT', 'stPadL',
  'scratch', 'scratchPerThread',
  'dy', 'dyImage', 'dyGroup', 'dyChan', 'oh', 'ow', 'srcRow',
  'tab', 'kt', 'dw', 'db',
] as const;

/** Vector tile per output-channel block in the direct core: OB -> NV. */
export const DIRECT_TILES: Readonly<Record<number, number>> = { 4: 2, 2: 4, 1: 6 };
/** Taps per weight-gradient tile (the tap table is padded to a multiple of it). */
export const DW_TAPS = 3;
/** Output channels per weight-gradient block. */
export const DW_BLOCK = 2;

const get = (name: string): string => `(local.get $${name})`;
const set = (name: string, v: string): string => `(local.set $${name} ${v})`;
const i32 = (n: number): string => `(i32.const ${n})`;
const add = (a: string, b: string): string => `(i32.add ${a} ${b})`;
const mul = (a: string, b: string): string => `(i32.mul ${a} ${b})`;
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Loads descriptor field `name` (index in `fields`) from the table at $d into local $name. */
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

/** `while (cond) { body }` with labels derived from `id`. */
function whileLoop(id: string, cond: string, body: string): string {
  return `(block $${id}_end (loop $${id}
      (br_if $${id}_end (i32.eqz ${cond}))
      ${body}
      (br $${id})))`;
}

// ---- staging ---------------------------------------------------------------------------------

/**
 * $stage: C source planes (rows × cols, planes srcPlane bytes apart) -> staged planes at dst
 * (dplane bytes apart): rows R = iy + padT in [0, PH), columns Q = ix + padL split into S phases
 * of PK floats (row = S·PK floats). Only the source's footprint is written; the zeros around
 * it are written once per call by the caller.
 */
function stageFunc(): string {
  const copyBody = `
      ;; S = 1: a plain copy of n floats, four at a time, the last four overlapping
      (local.set $i (i32.const 0))
      ${whileLoop('cp', `(i32.le_s (i32.add ${get('i')} (i32.const 4)) ${get('n')})`, `
        (v128.store (i32.add ${get('d')} (i32.shl ${get('i')} (i32.const 2)))
                    (v128.load (i32.add ${get('s')} (i32.shl ${get('i')} (i32.const 2)))))
        (local.set $i (i32.add ${get('i')} (i32.const 4)))`)}
      (if (i32.lt_s ${get('i')} ${get('n')}) (then
        (if (i32.ge_s ${get('n')} (i32.const 4))
          (then (v128.store offset=0 (i32.add ${get('d')} (i32.shl (i32.sub ${get('n')} (i32.const 4)) (i32.const 2)))
                            (v128.load (i32.add ${get('s')} (i32.shl (i32.sub ${get('n')} (i32.const 4)) (i32.const 2))))))
          (else ${whileLoop('cp1', `(i32.lt_s ${get('i')} ${get('n')})`, `
            (f32.store (i32.add ${get('d')} (i32.shl ${get('i')} (i32.const 2)))
                       (f32.load (i32.add ${get('s')} (i32.shl ${get('i')} (i32.const 2)))))
            (local.set $i (i32.add ${get('i')} (i32.const 1)))`)}))))`;
  // one source float at column ix to its staged place: phase Q mod S, index Q div S
  const scalarOne = `
        (local.set $q (i32.add ${get('ix')} ${get('padL')}))
        (f32.store (i32.add ${get('drow')} (i32.shl (i32.add (i32.mul (i32.rem_u ${get('q')} ${get('S')}) ${get('PK')})
                                                         (i32.div_u ${get('q')} ${get('S')})) (i32.const 2)))
                   (f32.load (i32.add ${get('srow')} (i32.shl ${get('ix')} (i32.const 2)))))
        (local.set $ix (i32.add ${get('ix')} (i32.const 1)))`;
  const deinterleave2 = `
      ;; S = 2: eight source floats -> four even columns to phase 0, four odd ones to phase 1
      (local.set $ix ${get('ix0')})
      (if (i32.and (i32.add ${get('ix')} ${get('padL')}) (i32.const 1)) (then ${scalarOne}))
      ${whileLoop('de', `(i32.le_s (i32.add ${get('ix')} (i32.const 8)) ${get('ix1')})`, `
        (local.set $a (v128.load (i32.add ${get('srow')} (i32.shl ${get('ix')} (i32.const 2)))))
        (local.set $b (v128.load offset=16 (i32.add ${get('srow')} (i32.shl ${get('ix')} (i32.const 2)))))
        (local.set $k (i32.add ${get('drow')} (i32.shl (i32.shr_u (i32.add ${get('ix')} ${get('padL')}) (i32.const 1)) (i32.const 2))))
        (v128.store ${get('k')} ${shuffle32(get('a'), get('b'), [0, 2, 4, 6])})
        (v128.store (i32.add ${get('k')} ${get('pkB')}) ${shuffle32(get('a'), get('b'), [1, 3, 5, 7])})
        (local.set $ix (i32.add ${get('ix')} (i32.const 8)))`)}
      ${whileLoop('de1', `(i32.lt_s ${get('ix')} ${get('ix1')})`, scalarOne)}`;
  return `
  (func $stage (param $src i32) (param $splane i32) (param $rows i32) (param $cols i32) (param $C i32)
               (param $dst i32) (param $dplane i32) (param $PH i32) (param $S i32) (param $PK i32)
               (param $padT i32) (param $padL i32)
    (local $c i32) (local $iy i32) (local $iy0 i32) (local $iy1 i32) (local $ix i32) (local $ix0 i32) (local $ix1 i32)
    (local $rowB i32) (local $pkB i32) (local $srow i32) (local $drow i32) (local $q i32) (local $k i32)
    (local $s i32) (local $d i32) (local $n i32) (local $i i32) (local $a v128) (local $b v128)
    (local.set $pkB (i32.shl ${get('PK')} (i32.const 2)))
    (local.set $rowB (i32.mul ${get('S')} ${get('pkB')}))
    ;; the source rows and columns that land inside the staged plane
    (local.set $iy0 (select (i32.const 0) (i32.sub (i32.const 0) ${get('padT')}) (i32.ge_s ${get('padT')} (i32.const 0))))
    (local.set $iy1 (i32.sub ${get('PH')} ${get('padT')}))
    (if (i32.gt_s ${get('iy1')} ${get('rows')}) (then (local.set $iy1 ${get('rows')})))
    (local.set $ix0 (select (i32.const 0) (i32.sub (i32.const 0) ${get('padL')}) (i32.ge_s ${get('padL')} (i32.const 0))))
    (local.set $ix1 (i32.sub (i32.mul ${get('S')} ${get('PK')}) ${get('padL')}))
    (if (i32.gt_s ${get('ix1')} ${get('cols')}) (then (local.set $ix1 ${get('cols')})))
    (if (i32.or (i32.ge_s ${get('iy0')} ${get('iy1')}) (i32.ge_s ${get('ix0')} ${get('ix1')})) (then (return)))
    (local.set $n (i32.sub ${get('ix1')} ${get('ix0')}))
    (local.set $c (i32.const 0))
    ${whileLoop('ch', `(i32.lt_s ${get('c')} ${get('C')})`, `
      (local.set $iy ${get('iy0')})
      ${whileLoop('row', `(i32.lt_s ${get('iy')} ${get('iy1')})`, `
        (local.set $srow (i32.add (i32.add ${get('src')} (i32.mul ${get('c')} ${get('splane')}))
                                  (i32.shl (i32.mul ${get('iy')} ${get('cols')}) (i32.const 2))))
        (local.set $drow (i32.add (i32.add ${get('dst')} (i32.mul ${get('c')} ${get('dplane')}))
                                  (i32.mul (i32.add ${get('iy')} ${get('padT')}) ${get('rowB')})))
        (if (i32.eq ${get('S')} (i32.const 1))
          (then
            (local.set $s (i32.add ${get('srow')} (i32.shl ${get('ix0')} (i32.const 2))))
            (local.set $d (i32.add ${get('drow')} (i32.shl (i32.add ${get('ix0')} ${get('padL')}) (i32.const 2))))
            ${copyBody})
          (else
            (if (i32.eq ${get('S')} (i32.const 2))
              (then ${deinterleave2})
              (else
                (local.set $ix ${get('ix0')})
                ${whileLoop('gen', `(i32.lt_s ${get('ix')} ${get('ix1')})`, scalarOne)}))))
        (local.set $iy (i32.add ${get('iy')} (i32.const 1)))`)}
      (local.set $c (i32.add ${get('c')} (i32.const 1)))`)})`;
}

// ---- direct convolution core -----------------------------------------------------------------

/**
 * One tile of `nv` pixel vectors at byte column $vb of the current row, OB = ob channels: the
 * accumulators start at the bias, run over the tap list, and are clamped and stored. With
 * `partial`, only the row's first `cols` (< 4) lanes are stored.
 */
function directTile(ob: number, nv: number, fma: boolean, partial: boolean): string {
  const acc = (o: number, v: number): string => `a${o}_${v}`;
  const init = range(ob).flatMap((o) => range(nv).map((v) => set(acc(o, v), get(`b${o}`))));
  const loads = range(nv).map((v) => set(`x${v}`, `(v128.load offset=${16 * v} ${get('xp')})`));
  const fmas = range(ob).flatMap((o) => [
    set('w', `(v128.load32_splat offset=${4 * o} ${get('wq')})`),
    ...range(nv).map((v) => set(acc(o, v), madd(fma, get(acc(o, v)), get(`x${v}`), get('w')))),
  ]);
  const dst = (o: number): string => add(add(get('op'), get('vb')), o === 0 ? i32(0) : get(`c${o}`));
  const stores = range(ob).flatMap((o) =>
    range(nv).map((v) => {
      const value = `(f32x4.pmax ${get(acc(o, v))} ${get('lov')})`;
      if (!partial) return `(v128.store offset=${16 * v} ${dst(o)} ${value})`;
      return `(local.set $w ${value})
        ${range(3)
          .map((l) => `(if (i32.gt_s ${get('cols')} ${i32(l)}) (then (f32.store offset=${4 * l} ${dst(o)} (f32x4.extract_lane ${l} ${get('w')}))))`)
          .join('\n        ')}`;
    }),
  );
  return `
        (local.set $spv (i32.add ${get('sp')} ${get('vb')}))
        ${init.join(' ')}
        (local.set $tp ${get('tab')})
        (local.set $wq ${get('wp')})
        (block $taps_end
          (br_if $taps_end (i32.ge_u ${get('tp')} ${get('tend')}))
          (loop $taps
            (local.set $xp (i32.add ${get('spv')} (i32.load ${get('tp')})))
            ${loads.join('\n            ')}
            ${fmas.join('\n            ')}
            (local.set $tp (i32.add ${get('tp')} (i32.const 4)))
            (local.set $wq (i32.add ${get('wq')} (i32.const ${4 * ob})))
            (br_if $taps (i32.lt_u ${get('tp')} ${get('tend')}))))
        ${stores.join('\n        ')}`;
}

/**
 * $rows{ob}: out[o][r][v] = max(lo, bias[o] + Σ_t x[src + r·srow + 4v + tab[t]] · wp[t·ob + o])
 * for o < ob, r < rows, v < cols (output planes `chan` bytes apart, rows `orow` bytes apart).
 */
function rowsFunc(ob: number, fma: boolean): string {
  const nv = DIRECT_TILES[ob]!;
  const vecLocals = [
    ...range(ob).map((o) => `(local $b${o} v128)`),
    ...range(ob).flatMap((o) => range(nv).map((v) => `(local $a${o}_${v} v128)`)),
    ...range(nv).map((v) => `(local $x${v} v128)`),
    '(local $w v128) (local $lov v128)',
  ];
  const bigTiles =
    nv > 1
      ? whileLoop('big', `(i32.le_s (i32.add ${get('vb')} (i32.const ${16 * nv})) ${get('colsB')})`, `
        ${directTile(ob, nv, fma, false)}
        (local.set $vb (i32.add ${get('vb')} (i32.const ${16 * nv})))`)
      : '';
  return `
  (func $rows${ob} (param $src i32) (param $tab i32) (param $kt i32) (param $wp i32) (param $out i32) (param $chan i32)
                   (param $rows i32) (param $cols i32) (param $srow i32) (param $orow i32) (param $bias i32) (param $lo f32)
    (local $r i32) (local $vb i32) (local $colsB i32) (local $sp i32) (local $op i32) (local $spv i32)
    (local $tp i32) (local $tend i32) (local $wq i32) (local $xp i32) (local $c1 i32) (local $c2 i32) (local $c3 i32)
    ${vecLocals.join(' ')}
    ${range(ob)
      .map((o) => set(`b${o}`, `(v128.load32_splat offset=${4 * o} ${get('bias')})`))
      .join(' ')}
    (local.set $lov (f32x4.splat ${get('lo')}))
    (local.set $tend (i32.add ${get('tab')} (i32.shl ${get('kt')} (i32.const 2))))
    (local.set $colsB (i32.shl ${get('cols')} (i32.const 2)))
    (local.set $c1 ${get('chan')})
    (local.set $c2 (i32.shl ${get('chan')} (i32.const 1)))
    (local.set $c3 (i32.add ${get('c2')} ${get('chan')}))
    (local.set $r (i32.const 0))
    ${whileLoop('row', `(i32.lt_s ${get('r')} ${get('rows')})`, `
      (local.set $sp (i32.add ${get('src')} ${mul(get('r'), get('srow'))}))
      (local.set $op (i32.add ${get('out')} ${mul(get('r'), get('orow'))}))
      (local.set $vb (i32.const 0))
      ${bigTiles}
      ${whileLoop('one', `(i32.le_s (i32.add ${get('vb')} (i32.const 16)) ${get('colsB')})`, `
        ${directTile(ob, 1, fma, false)}
        (local.set $vb (i32.add ${get('vb')} (i32.const 16)))`)}
      (if (i32.lt_s ${get('vb')} ${get('colsB')}) (then
        (if (i32.ge_s ${get('colsB')} (i32.const 16))
          (then
            ;; the last vector ends at the row's end, overlapping the one before
            (local.set $vb (i32.sub ${get('colsB')} (i32.const 16)))
            ${directTile(ob, 1, fma, false)})
          (else
            (local.set $vb (i32.const 0))
            ${directTile(ob, 1, fma, true)}))))
      (local.set $r (i32.add ${get('r')} (i32.const 1)))`)})`;
}

/**
 * $interleave: the sw column phases of OB channels, U rows each, held in scratch (phase rx at
 * tmp + rx·phaseB, planes [o][u][Vrx] with Vrx = ⌈(W − rx)/sw⌉) -> dst rows of W floats
 * (channel planes `chan` bytes apart, rows `rowStep` bytes apart): dst[o][u][ix] = phase
 * (ix mod sw) at index ix div sw.
 */
function interleaveFunc(): string {
  const scalar = (id: string): string =>
    whileLoop(id, `(i32.lt_s ${get('ix')} ${get('W')})`, `
          (local.set $rx (i32.rem_u ${get('ix')} ${get('sw')}))
          (local.set $vw (i32.div_u (i32.sub (i32.add ${get('W')} ${get('sw')}) (i32.add ${get('rx')} (i32.const 1))) ${get('sw')}))
          (f32.store (i32.add ${get('drow')} (i32.shl ${get('ix')} (i32.const 2)))
            (f32.load (i32.add (i32.add ${get('tmp')} (i32.mul ${get('rx')} ${get('phaseB')}))
                               (i32.shl (i32.add (i32.mul (i32.add (i32.mul ${get('o')} ${get('U')}) ${get('u')}) ${get('vw')})
                                                 (i32.div_u ${get('ix')} ${get('sw')})) (i32.const 2)))))
          (local.set $ix (i32.add ${get('ix')} (i32.const 1)))`);
  return `
  (func $interleave (param $tmp i32) (param $phaseB i32) (param $ob i32) (param $U i32) (param $W i32) (param $sw i32)
                    (param $dst i32) (param $chan i32) (param $rowStep i32)
    (local $o i32) (local $u i32) (local $ix i32) (local $rx i32) (local $vw i32) (local $drow i32)
    (local $v0 i32) (local $v1 i32) (local $p0 i32) (local $p1 i32) (local $a v128) (local $b v128)
    (local.set $v0 (i32.shr_u (i32.add ${get('W')} (i32.const 1)) (i32.const 1)))
    (local.set $v1 (i32.shr_u ${get('W')} (i32.const 1)))
    (local.set $o (i32.const 0))
    ${whileLoop('ch', `(i32.lt_s ${get('o')} ${get('ob')})`, `
      (local.set $u (i32.const 0))
      ${whileLoop('row', `(i32.lt_s ${get('u')} ${get('U')})`, `
        (local.set $drow (i32.add (i32.add ${get('dst')} ${mul(get('o'), get('chan'))}) ${mul(get('u'), get('rowStep'))}))
        (local.set $ix (i32.const 0))
        (if (i32.eq ${get('sw')} (i32.const 2)) (then
          ;; zip four floats of each phase into eight neighbouring columns
          (local.set $p0 (i32.add ${get('tmp')} (i32.shl (i32.mul (i32.add (i32.mul ${get('o')} ${get('U')}) ${get('u')}) ${get('v0')}) (i32.const 2))))
          (local.set $p1 (i32.add (i32.add ${get('tmp')} ${get('phaseB')})
                                  (i32.shl (i32.mul (i32.add (i32.mul ${get('o')} ${get('U')}) ${get('u')}) ${get('v1')}) (i32.const 2))))
          ${whileLoop('zip', `(i32.le_s (i32.add ${get('ix')} (i32.const 8)) ${get('W')})`, `
            (local.set $a (v128.load (i32.add ${get('p0')} (i32.shl ${get('ix')} (i32.const 1)))))
            (local.set $b (v128.load (i32.add ${get('p1')} (i32.shl ${get('ix')} (i32.const 1)))))
            (v128.store (i32.add ${get('drow')} (i32.shl ${get('ix')} (i32.const 2))) ${shuffle32(get('a'), get('b'), [0, 4, 1, 5])})
            (v128.store offset=16 (i32.add ${get('drow')} (i32.shl ${get('ix')} (i32.const 2))) ${shuffle32(get('a'), get('b'), [2, 6, 3, 7])})
            (local.set $ix (i32.add ${get('ix')} (i32.const 8)))`)}))
        ${scalar('rest')}
        (local.set $u (i32.add ${get('u')} (i32.const 1)))`)}
      (local.set $o (i32.add ${get('o')} (i32.const 1)))`)})`;
}

/** The exported driver of the direct core: forward (one pass) and input gradient (one pass per phase). */
function directFunc(name: string): string {
  const f = (n: string): string => field(DIRECT_FIELDS, n);
  const passField = (n: string): string =>
    set(`p_${n}`, `(i32.load offset=${4 * (DIRECT_FIELDS.length + PASS_FIELDS.indexOf(n as (typeof PASS_FIELDS)[number]))} ${get('pd')})`);
  const core = (out: string, chan: string, orow: string): string => `
          (local.set $wptr (i32.add (i32.add ${get('p_w')} ${mul(get('g'), get('p_wGroup'))}) (i32.shl ${mul(get('o0'), get('p_kt'))} (i32.const 2))))
          (if (i32.eq ${get('ob')} (i32.const 4))
            (then (call $rows4 ${get('scr')} ${get('p_tab')} ${get('p_kt')} ${get('wptr')} ${out} ${chan} ${get('p_rows')} ${get('p_cols')} ${get('p_srcRow')} ${orow} ${get('bptr')} ${get('lof')}))
            (else (if (i32.eq ${get('ob')} (i32.const 2))
              (then (call $rows2 ${get('scr')} ${get('p_tab')} ${get('p_kt')} ${get('wptr')} ${out} ${chan} ${get('p_rows')} ${get('p_cols')} ${get('p_srcRow')} ${orow} ${get('bptr')} ${get('lof')}))
              (else (call $rows1 ${get('scr')} ${get('p_tab')} ${get('p_kt')} ${get('wptr')} ${out} ${chan} ${get('p_rows')} ${get('p_cols')} ${get('p_srcRow')} ${orow} ${get('bptr')} ${get('lof')})))))`;
  const locals = [...DIRECT_FIELDS, ...PASS_FIELDS.map((p) => `p_${p}`)].map((n) => `(local $${n} i32)`);
  return `
  (func (export "${name}") (param $tid i32) (param $nt i32) (param $d i32)
    ${locals.join(' ')}
    (local $total i32) (local $it i32) (local $end i32) (local $ng i32) (local $last i32) (local $b i32) (local $img i32) (local $g i32)
    (local $o0 i32) (local $ob i32) (local $q4 i32) (local $scr i32) (local $tmp i32) (local $p i32) (local $pd i32) (local $rx i32)
    (local $wptr i32) (local $bptr i32) (local $final i32) (local $lof f32)
    ${DIRECT_FIELDS.map(f).join(' ')}
    (local.set $lof (f32.reinterpret_i32 ${get('lo')}))
    ;; thread tid's items: [tid·total/nt, (tid+1)·total/nt) of the (image, group, block) triples
    (local.set $total ${mul(mul(get('n'), get('groups')), get('blocks'))})
    (local.set $it (i32.wrap_i64 (i64.div_u (i64.mul (i64.extend_i32_u ${get('total')}) (i64.extend_i32_u ${get('tid')})) (i64.extend_i32_u ${get('nt')}))))
    (local.set $end (i32.wrap_i64 (i64.div_u (i64.mul (i64.extend_i32_u ${get('total')}) (i64.extend_i32_u (i32.add ${get('tid')} (i32.const 1)))) (i64.extend_i32_u ${get('nt')}))))
    (if (i32.ge_u ${get('it')} ${get('end')}) (then (return)))
    (local.set $scr (i32.add ${get('scratch')} ${mul(get('tid'), get('scratchPerThread'))}))
    (local.set $tmp (i32.add ${get('scr')} (i32.and (i32.add ${mul(get('k'), get('stPlane'))} (i32.const 63)) (i32.const -64))))
    (memory.fill ${get('scr')} (i32.const 0) ${mul(get('k'), get('stPlane'))})
    (local.set $q4 (i32.shr_u ${get('m')} (i32.const 2)))
    (local.set $last (i32.const -1))
    ${whileLoop('items', `(i32.lt_u ${get('it')} ${get('end')})`, `
      (local.set $ng (i32.div_u ${get('it')} ${get('blocks')}))
      (local.set $b (i32.sub ${get('it')} ${mul(get('ng'), get('blocks'))}))
      (local.set $img (i32.div_u ${get('ng')} ${get('groups')}))
      (local.set $g (i32.sub ${get('ng')} ${mul(get('img'), get('groups'))}))
      (if (i32.ne ${get('ng')} ${get('last')}) (then
        (call $stage (i32.add (i32.add ${get('src')} ${mul(get('img'), get('srcImage'))}) ${mul(get('g'), get('srcGroup'))})
                     ${get('srcPlane')} ${get('srcRows')} ${get('srcCols')} ${get('k')}
                     ${get('scr')} ${get('stPlane')} ${get('stRows')} ${get('stPhases')} ${get('stPK')} ${get('stPadT')} ${get('stPadL')})
        (local.set $last ${get('ng')})))
      ;; block b of the group's m outputs: blocks of 4, then one of 2, then one of 1
      (if (i32.lt_u ${get('b')} ${get('q4')})
        (then (local.set $o0 (i32.shl ${get('b')} (i32.const 2))) (local.set $ob (i32.const 4)))
        (else (if (i32.and (i32.eq ${get('b')} ${get('q4')}) (i32.ne (i32.and ${get('m')} (i32.const 2)) (i32.const 0)))
          (then (local.set $o0 (i32.shl ${get('q4')} (i32.const 2))) (local.set $ob (i32.const 2)))
          (else (local.set $o0 (i32.sub ${get('m')} (i32.const 1))) (local.set $ob (i32.const 1))))))
      (local.set $bptr (i32.add ${get('bias')} (i32.shl (i32.add ${mul(get('g'), get('m'))} ${get('o0')}) (i32.const 2))))
      (local.set $final (i32.add (i32.add (i32.add ${get('out')} ${mul(get('img'), get('outImage'))}) ${mul(get('g'), get('outGroup'))})
                                 ${mul(get('o0'), get('outChan'))}))
      (local.set $p (i32.const 0))
      ${whileLoop('passes', `(i32.lt_u ${get('p')} ${get('passes')})`, `
        (local.set $pd (i32.add ${get('d')} (i32.mul ${get('p')} (i32.const ${4 * PASS_FIELDS.length}))))
        ${PASS_FIELDS.map(passField).join(' ')}
        (if (i32.eq ${get('outPhases')} (i32.const 1))
          (then ${core(add(get('final'), get('p_outOff')), get('outChan'), get('p_outRow'))})
          (else
            ;; column phase rx goes to scratch; after the last one, interleave them into the output
            (local.set $rx (i32.rem_u ${get('p')} ${get('outPhases')}))
            ${core(add(get('tmp'), mul(get('rx'), get('tmpPhase'))), `(i32.shl ${mul(get('p_rows'), get('p_cols'))} (i32.const 2))`, `(i32.shl ${get('p_cols')} (i32.const 2))`)}
            (if (i32.eq ${get('rx')} (i32.sub ${get('outPhases')} (i32.const 1))) (then
              (call $interleave ${get('tmp')} ${get('tmpPhase')} ${get('ob')} ${get('p_rows')} ${get('outW')} ${get('outPhases')}
                    (i32.sub (i32.add ${get('final')} ${get('p_outOff')}) (i32.shl ${get('rx')} (i32.const 2))) ${get('outChan')} ${get('outRowStep')})))))
        (local.set $p (i32.add ${get('p')} (i32.const 1)))`)}
      (local.set $it (i32.add ${get('it')} (i32.const 1)))`)})`;
}

// ---- weight gradient -------------------------------------------------------------------------

/**
 * $dwt{ob}: for ob output channels (dY planes `dyChan` bytes apart) and the TB taps at tp,
 *   s[o][t] = Σ_{r < oh, v < ow} dy[o][r][v] · xs[r·srow + tab[t] + 4v]
 * and dw[o·kstr + 4t] = s (or += s when acc) for the first `valid` taps.
 */
function dwtFunc(ob: number, fma: boolean): string {
  const tb = DW_TAPS;
  const acc = (o: number, t: number): string => `a${o}_${t}`;
  const body = (masked: boolean): string =>
    [
      ...range(ob).map((o) => {
        const load = `(v128.load ${add(o === 0 ? get('yr') : get('yr1'), get('vb'))})`;
        return set(`y${o}`, masked ? `(v128.and ${load} ${get('mask')})` : load);
      }),
      ...range(tb).map((t) => set(`x${t}`, `(v128.load ${add(get(`p${t}`), get('vb'))})`)),
      ...range(ob).flatMap((o) => range(tb).map((t) => set(acc(o, t), madd(fma, get(acc(o, t)), get(`y${o}`), get(`x${t}`))))),
    ].join('\n        ');
  const hsum = (v: string): string =>
    `(f32.add (f32x4.extract_lane 0 (local.tee $h (f32x4.add ${v} ${shuffle32(v, v, [2, 3, 0, 1])}))) (f32x4.extract_lane 1 ${get('h')}))`;
  const stores = range(ob).flatMap((o) =>
    range(tb).map((t) => {
      const at = add(get('dwp'), o === 0 ? i32(4 * t) : add(get('kstr'), i32(4 * t)));
      return `(if (i32.gt_s ${get('valid')} ${i32(t)}) (then
        (local.set $s ${hsum(get(acc(o, t)))})
        (if ${get('acc')} (then (local.set $s (f32.add ${get('s')} (f32.load ${at})))))
        (f32.store ${at} ${get('s')})))`;
    }),
  );
  return `
  (func $dwt${ob} (param $xs i32) (param $tp i32) (param $dy i32) (param $dyChan i32) (param $oh i32) (param $ow i32)
                  (param $srow i32) (param $dwp i32) (param $kstr i32) (param $valid i32) (param $acc i32)
    (local $r i32) (local $vb i32) (local $fullB i32) (local $xr i32) (local $yr i32) (local $yr1 i32) (local $s f32) (local $h v128)
    ${range(tb)
      .map((t) => `(local $f${t} i32) (local $p${t} i32) (local $x${t} v128)`)
      .join(' ')}
    ${range(ob)
      .map((o) => `(local $y${o} v128) ${range(tb).map((t) => `(local $${acc(o, t)} v128)`).join(' ')}`)
      .join(' ')}
    (local $mask v128)
    ${range(tb)
      .map((t) => set(`f${t}`, `(i32.load offset=${4 * t} ${get('tp')})`))
      .join(' ')}
    ;; lanes below ow mod 4 count in the row's last, partial vector
    (local.set $mask (i32x4.lt_s (v128.const i32x4 0 1 2 3) (i32x4.splat (i32.and ${get('ow')} (i32.const 3)))))
    (local.set $fullB (i32.shl (i32.shr_u ${get('ow')} (i32.const 2)) (i32.const 4)))
    (local.set $r (i32.const 0))
    ${whileLoop('row', `(i32.lt_s ${get('r')} ${get('oh')})`, `
      (local.set $xr (i32.add ${get('xs')} ${mul(get('r'), get('srow'))}))
      (local.set $yr (i32.add ${get('dy')} (i32.shl ${mul(get('r'), get('ow'))} (i32.const 2))))
      (local.set $yr1 (i32.add ${get('yr')} ${get('dyChan')}))
      ${range(tb)
        .map((t) => set(`p${t}`, add(get('xr'), get(`f${t}`))))
        .join(' ')}
      (local.set $vb (i32.const 0))
      ${whileLoop('vec', `(i32.lt_s ${get('vb')} ${get('fullB')})`, `
        ${body(false)}
        (local.set $vb (i32.add ${get('vb')} (i32.const 16)))`)}
      (if (i32.and ${get('ow')} (i32.const 3)) (then
        ${body(true)}))
      (local.set $r (i32.add ${get('r')} (i32.const 1)))`)}
    ${stores.join('\n    ')})`;
}

/** $planeSum: Σ of `count` floats at p. */
function planeSumFunc(): string {
  return `
  (func $planeSum (param $p i32) (param $count i32) (result f32)
    (local $i i32) (local $v v128) (local $s f32)
    ${whileLoop('vec', `(i32.le_s (i32.add ${get('i')} (i32.const 4)) ${get('count')})`, `
      (local.set $v (f32x4.add ${get('v')} (v128.load (i32.add ${get('p')} (i32.shl ${get('i')} (i32.const 2))))))
      (local.set $i (i32.add ${get('i')} (i32.const 4)))`)}
    (local.set $s (f32.add (f32.add (f32x4.extract_lane 0 ${get('v')}) (f32x4.extract_lane 1 ${get('v')}))
                           (f32.add (f32x4.extract_lane 2 ${get('v')}) (f32x4.extract_lane 3 ${get('v')}))))
    ${whileLoop('one', `(i32.lt_s ${get('i')} ${get('count')})`, `
      (local.set $s (f32.add ${get('s')} (f32.load (i32.add ${get('p')} (i32.shl ${get('i')} (i32.const 2))))))
      (local.set $i (i32.add ${get('i')} (i32.const 1)))`)}
    ${get('s')})`;
}

/** The exported weight-gradient driver: threads own (group, block of DW_BLOCK output channels). */
function dweightFunc(name: string): string {
  const f = (n: string): string => field(DWEIGHT_FIELDS, n);
  const call = (ob: number): string =>
    `(call $dwt${ob} ${get('scr')} (i32.add ${get('tab')} (i32.shl ${get('t')} (i32.const 2))) ${get('dyp')} ${get('dyChan')} ${get('oh')} ${get('ow')}
                  ${get('srcRow')} (i32.add ${get('dwp')} (i32.shl ${get('t')} (i32.const 2))) (i32.shl ${get('kt')} (i32.const 2))
                  (i32.sub ${get('kt')} ${get('t')}) ${get('img')})`;
  return `
  (func (export "${name}") (param $tid i32) (param $nt i32) (param $d i32)
    ${DWEIGHT_FIELDS.map((n) => `(local $${n} i32)`).join(' ')}
    (local $total i32) (local $it i32) (local $end i32) (local $g i32) (local $b i32) (local $o0 i32) (local $ob i32)
    (local $img i32) (local $scr i32) (local $dyp i32) (local $dwp i32) (local $t i32) (local $o i32) (local $s f32) (local $at i32)
    ${DWEIGHT_FIELDS.map(f).join(' ')}
    (local.set $total ${mul(get('groups'), get('blocks'))})
    (local.set $it (i32.wrap_i64 (i64.div_u (i64.mul (i64.extend_i32_u ${get('total')}) (i64.extend_i32_u ${get('tid')})) (i64.extend_i32_u ${get('nt')}))))
    (local.set $end (i32.wrap_i64 (i64.div_u (i64.mul (i64.extend_i32_u ${get('total')}) (i64.extend_i32_u (i32.add ${get('tid')} (i32.const 1)))) (i64.extend_i32_u ${get('nt')}))))
    (if (i32.ge_u ${get('it')} ${get('end')}) (then (return)))
    (local.set $scr (i32.add ${get('scratch')} ${mul(get('tid'), get('scratchPerThread'))}))
    (memory.fill ${get('scr')} (i32.const 0) ${mul(get('k'), get('stPlane'))})
    ${whileLoop('items', `(i32.lt_u ${get('it')} ${get('end')})`, `
      (local.set $g (i32.div_u ${get('it')} ${get('blocks')}))
      (local.set $b (i32.sub ${get('it')} ${mul(get('g'), get('blocks'))}))
      (local.set $o0 (i32.mul ${get('b')} (i32.const ${DW_BLOCK})))
      (local.set $ob (i32.sub ${get('m')} ${get('o0')}))
      (if (i32.gt_s ${get('ob')} (i32.const ${DW_BLOCK})) (then (local.set $ob (i32.const ${DW_BLOCK}))))
      (local.set $dwp (i32.add ${get('dw')} (i32.shl ${mul(add(mul(get('g'), get('m')), get('o0')), get('kt'))} (i32.const 2))))
      (local.set $img (i32.const 0))
      ${whileLoop('images', `(i32.lt_s ${get('img')} ${get('n')})`, `
        (call $stage (i32.add (i32.add ${get('src')} ${mul(get('img'), get('srcImage'))}) ${mul(get('g'), get('srcGroup'))})
                     ${get('srcPlane')} ${get('srcRows')} ${get('srcCols')} ${get('k')}
                     ${get('scr')} ${get('stPlane')} ${get('stRows')} ${get('stPhases')} ${get('stPK')} ${get('stPadT')} ${get('stPadL')})
        (local.set $dyp (i32.add (i32.add (i32.add ${get('dy')} ${mul(get('img'), get('dyImage'))}) ${mul(get('g'), get('dyGroup'))})
                                 ${mul(get('o0'), get('dyChan'))}))
        (local.set $t (i32.const 0))
        ${whileLoop('tiles', `(i32.lt_s ${get('t')} ${get('kt')})`, `
          (if (i32.eq ${get('ob')} (i32.const 2)) (then ${call(2)}) (else ${call(1)}))
          (local.set $t (i32.add ${get('t')} (i32.const ${DW_TAPS})))`)}
        ;; db[o] = Σ dy[n, o, :, :]
        (if ${get('db')} (then
          (local.set $o (i32.const 0))
          ${whileLoop('bias', `(i32.lt_s ${get('o')} ${get('ob')})`, `
            (local.set $s (call $planeSum (i32.add ${get('dyp')} ${mul(get('o'), get('dyChan'))}) ${mul(get('oh'), get('ow'))}))
            (local.set $at (i32.add ${get('db')} (i32.shl (i32.add (i32.add ${mul(get('g'), get('m'))} ${get('o0')}) ${get('o')}) (i32.const 2))))
            (if ${get('img')} (then (local.set $s (f32.add ${get('s')} (f32.load ${get('at')})))))
            (f32.store ${get('at')} ${get('s')})
            (local.set $o (i32.add ${get('o')} (i32.const 1)))`)}))
        (local.set $img (i32.add ${get('img')} (i32.const 1)))`)}
      (local.set $it (i32.add ${get('it')} (i32.const 1)))`)})`;
}

function moduleText(fma: boolean): string {
  const suffix = fma ? '_relaxed' : '';
  return `;; Generated by kernels/wasm/src/gconv.gen.ts${fma ? ' (relaxed-SIMD twin: fused multiply-add)' : ''}.
(module
  (import "env" "memory" (memory 1 65536 shared))
${stageFunc()}
${rowsFunc(4, fma)}
${rowsFunc(2, fma)}
${rowsFunc(1, fma)}
${interleaveFunc()}
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
