;; pool: 2-D pooling on contiguous NCHW float32 planes (planes = N*C of h x w in, oh x ow out), the
;; rules of kernels/cpu/pool2d.ts:
;;   pool_max_forward        y = max over the window, idx = flat iy*w + ix of the winner; a tap wins if
;;                           it is greater than the best so far or NaN (ties: first in row-major
;;                           order; NaN: the last NaN), an empty window gives -inf at its first
;;                           clipped position
;;   pool_max_backward       dx = 0, then dx[plane, idx] += dy
;;   pool_avg_forward        y = sum of the clipped window / divisor (countIncludePad, divisorOverride)
;;   pool_avg_backward       dx = 0, then dx[window] += dy / divisor
;;   pool_adaptive_forward   windows [floor(o*In/Out), ceil((o+1)*In/Out)) per axis, averaged
;;   pool_adaptive_backward  dx = 0, then dx[window] += dy / |window|
;; The backward kernels overwrite dx (they zero it first): the TS kernels add into a dx the caller
;; zero-filled, which is the same result.
;; Work is split over planes: thread tid takes planes [floor(tid*P/nt), floor((tid+1)*P/nt)), so
;; every scatter of a backward stays inside planes that only one thread touches.
;;
;; SIMD where it pays: max pooling with column stride 1 or 2 does eight (or four) outputs of a row
;; at once wherever their whole windows lie inside the row; the border columns and other strides
;; take the reference's loop one output at a time. Either way the compare is m = (v > best) |
;; (v != v) and best, idx = bitselect(v, best, m), bitselect(k, idx, m) lane by lane: the scalar
;; rule exactly, visited in the same order, and without a branch (which tap wins is data-dependent,
;; and mispredicted branches made the one-output loop twice as slow). For stride 2 the four taps
;; x[c], x[c+2], x[c+4], x[c+6] come from two loads at c and c+3 and one shuffle (nothing past
;; x[c+6] is read). The global average (adaptive to 1 x 1, as every ResNet ends) sums each plane in
;; f32x4 lanes in blocks of 1024 folded into f64, and its backward is a splat fill.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; Thread tid's planes [q0, q1).
  (func $planes (param $tid i32) (param $nt i32) (param $P i32) (result i32 i32)
    (i32.wrap_i64 (i64.div_u (i64.mul (i64.extend_i32_u (local.get $tid)) (i64.extend_i32_u (local.get $P)))
                             (i64.extend_i32_u (local.get $nt))))
    (i32.wrap_i64 (i64.div_u (i64.mul (i64.extend_i32_u (i32.add (local.get $tid) (i32.const 1))) (i64.extend_i32_u (local.get $P)))
                             (i64.extend_i32_u (local.get $nt)))))

  ;; p[0 .. n) = v (floats, byte offset p)
  (func $fill (param $p i32) (param $n i32) (param $v f32)
    (local $e i32) (local $vv v128)
    (local.set $e (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $vv (f32x4.splat (local.get $v)))
    (block $done4
      (loop $by4
        (br_if $done4 (i32.gt_u (i32.add (local.get $p) (i32.const 16)) (local.get $e)))
        (v128.store (local.get $p) (local.get $vv))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))
        (br $by4)))
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $p) (local.get $e)))
        (f32.store (local.get $p) (local.get $v))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $by1))))

  ;; ---- max ---------------------------------------------------------------------------------------

  ;; One output (oy, ox) by the reference's loop: rows [y0, y1) step dh are already clipped. The
  ;; compare-and-take runs in lane 0 of v128 registers with bitselect, not with a branch: which tap
  ;; wins is data-dependent and a mispredicted branch costs more than the whole tap.
  (func $max_one (param $xb i32) (param $w i32) (param $y0 i32) (param $y1 i32) (param $ox i32)
                 (param $kw i32) (param $sw i32) (param $pw i32) (param $dh i32) (param $dw i32)
                 (param $yo i32) (param $io i32)
    (local $x0 i32) (local $x1 i32) (local $iy i32) (local $ix i32) (local $k i32)
    (local $v v128) (local $m v128) (local $best v128) (local $bi v128)
    (local.set $x0 (i32.sub (i32.mul (local.get $ox) (local.get $sw)) (local.get $pw)))
    (local.set $x1 (i32.add (local.get $x0) (i32.add (i32.mul (i32.sub (local.get $kw) (i32.const 1)) (local.get $dw)) (i32.const 1))))
    (if (i32.gt_s (local.get $x1) (local.get $w)) (then (local.set $x1 (local.get $w))))
    (block $pos (loop $up
      (br_if $pos (i32.ge_s (local.get $x0) (i32.const 0)))
      (local.set $x0 (i32.add (local.get $x0) (local.get $dw)))
      (br $up)))
    (local.set $best (f32x4.splat (f32.const -inf)))
    (local.set $bi (i32x4.splat (i32.add (i32.mul (local.get $y0) (local.get $w)) (local.get $x0))))
    (local.set $iy (local.get $y0))
    (block $rows_done (loop $rows
      (br_if $rows_done (i32.ge_s (local.get $iy) (local.get $y1)))
      (local.set $ix (local.get $x0))
      (block $cols_done (loop $cols
        (br_if $cols_done (i32.ge_s (local.get $ix) (local.get $x1)))
        (local.set $k (i32.add (i32.mul (local.get $iy) (local.get $w)) (local.get $ix)))
        (local.set $v (v128.load32_zero (i32.add (local.get $xb) (i32.shl (local.get $k) (i32.const 2)))))
        (local.set $m (v128.or (f32x4.gt (local.get $v) (local.get $best)) (f32x4.ne (local.get $v) (local.get $v))))
        (local.set $best (v128.bitselect (local.get $v) (local.get $best) (local.get $m)))
        (local.set $bi (v128.bitselect (i32x4.splat (local.get $k)) (local.get $bi) (local.get $m)))
        (local.set $ix (i32.add (local.get $ix) (local.get $dw)))
        (br $cols)))
      (local.set $iy (i32.add (local.get $iy) (local.get $dh)))
      (br $rows)))
    (f32.store (local.get $yo) (f32x4.extract_lane 0 (local.get $best)))
    (i32.store (local.get $io) (i32x4.extract_lane 0 (local.get $bi))))

  ;; Outputs ox .. ox+3 of one row whose windows lie inside the row (all kw taps valid); sw is 1 or 2.
  (func $max_four (param $xb i32) (param $w i32) (param $y0 i32) (param $y1 i32) (param $ox i32)
                  (param $kw i32) (param $sw i32) (param $pw i32) (param $dh i32) (param $dw i32)
                  (param $yo i32) (param $io i32)
    (local $c i32) (local $iy i32) (local $kx i32) (local $k i32) (local $p i32)
    (local $v v128) (local $m v128) (local $best v128) (local $bi v128) (local $lanes v128)
    (local.set $c (i32.sub (i32.mul (local.get $ox) (local.get $sw)) (local.get $pw)))
    ;; lane offsets 0, sw, 2sw, 3sw
    (local.set $lanes (i32x4.mul (v128.const i32x4 0 1 2 3) (i32x4.splat (local.get $sw))))
    (local.set $best (f32x4.splat (f32.const -inf)))
    (local.set $bi (i32x4.add (i32x4.splat (i32.add (i32.mul (local.get $y0) (local.get $w)) (local.get $c)))
                              (local.get $lanes)))
    (local.set $iy (local.get $y0))
    (block $rows_done (loop $rows
      (br_if $rows_done (i32.ge_s (local.get $iy) (local.get $y1)))
      (local.set $kx (i32.const 0))
      (block $taps_done (loop $taps
        (br_if $taps_done (i32.ge_s (local.get $kx) (local.get $kw)))
        (local.set $k (i32.add (i32.mul (local.get $iy) (local.get $w))
                               (i32.add (local.get $c) (i32.mul (local.get $kx) (local.get $dw)))))
        (local.set $p (i32.add (local.get $xb) (i32.shl (local.get $k) (i32.const 2))))
        (if (i32.eq (local.get $sw) (i32.const 1))
          (then (local.set $v (v128.load (local.get $p))))
          (else (local.set $v (i8x16.shuffle 0 1 2 3 8 9 10 11 20 21 22 23 28 29 30 31
                                (v128.load (local.get $p)) (v128.load offset=12 (local.get $p))))))
        (local.set $m (v128.or (f32x4.gt (local.get $v) (local.get $best)) (f32x4.ne (local.get $v) (local.get $v))))
        (local.set $best (v128.bitselect (local.get $v) (local.get $best) (local.get $m)))
        (local.set $bi (v128.bitselect (i32x4.add (i32x4.splat (local.get $k)) (local.get $lanes)) (local.get $bi) (local.get $m)))
        (local.set $kx (i32.add (local.get $kx) (i32.const 1)))
        (br $taps)))
      (local.set $iy (i32.add (local.get $iy) (local.get $dh)))
      (br $rows)))
    (v128.store (local.get $yo) (local.get $best))
    (v128.store (local.get $io) (local.get $bi)))

  ;; Outputs ox .. ox+7: two groups of four side by side, whose compare chains interleave (a tap's
  ;; compare waits for the previous tap's select, so one chain alone leaves the core idle).
  (func $max_eight (param $xb i32) (param $w i32) (param $y0 i32) (param $y1 i32) (param $ox i32)
                   (param $kw i32) (param $sw i32) (param $pw i32) (param $dh i32) (param $dw i32)
                   (param $yo i32) (param $io i32)
    (local $c i32) (local $iy i32) (local $kx i32) (local $k i32) (local $p i32) (local $q i32)
    (local $v v128) (local $m v128) (local $best v128) (local $bi v128)
    (local $u v128) (local $n v128) (local $best2 v128) (local $bi2 v128) (local $lanes v128) (local $lanes2 v128)
    (local.set $c (i32.sub (i32.mul (local.get $ox) (local.get $sw)) (local.get $pw)))
    (local.set $lanes (i32x4.mul (v128.const i32x4 0 1 2 3) (i32x4.splat (local.get $sw))))
    (local.set $lanes2 (i32x4.mul (v128.const i32x4 4 5 6 7) (i32x4.splat (local.get $sw))))
    (local.set $best (f32x4.splat (f32.const -inf)))
    (local.set $best2 (local.get $best))
    (local.set $bi (i32x4.add (i32x4.splat (i32.add (i32.mul (local.get $y0) (local.get $w)) (local.get $c)))
                              (local.get $lanes)))
    (local.set $bi2 (i32x4.add (i32x4.splat (i32.add (i32.mul (local.get $y0) (local.get $w)) (local.get $c)))
                               (local.get $lanes2)))
    (local.set $iy (local.get $y0))
    (block $rows_done (loop $rows
      (br_if $rows_done (i32.ge_s (local.get $iy) (local.get $y1)))
      (local.set $kx (i32.const 0))
      (block $taps_done (loop $taps
        (br_if $taps_done (i32.ge_s (local.get $kx) (local.get $kw)))
        (local.set $k (i32.add (i32.mul (local.get $iy) (local.get $w))
                               (i32.add (local.get $c) (i32.mul (local.get $kx) (local.get $dw)))))
        (local.set $p (i32.add (local.get $xb) (i32.shl (local.get $k) (i32.const 2))))
        ;; the second group starts 4*sw floats further
        (local.set $q (i32.add (local.get $p) (i32.shl (local.get $sw) (i32.const 4))))
        (if (i32.eq (local.get $sw) (i32.const 1))
          (then
            (local.set $v (v128.load (local.get $p)))
            (local.set $u (v128.load (local.get $q))))
          (else
            (local.set $v (i8x16.shuffle 0 1 2 3 8 9 10 11 20 21 22 23 28 29 30 31
                            (v128.load (local.get $p)) (v128.load offset=12 (local.get $p))))
            (local.set $u (i8x16.shuffle 0 1 2 3 8 9 10 11 20 21 22 23 28 29 30 31
                            (v128.load (local.get $q)) (v128.load offset=12 (local.get $q))))))
        (local.set $m (v128.or (f32x4.gt (local.get $v) (local.get $best)) (f32x4.ne (local.get $v) (local.get $v))))
        (local.set $n (v128.or (f32x4.gt (local.get $u) (local.get $best2)) (f32x4.ne (local.get $u) (local.get $u))))
        (local.set $best (v128.bitselect (local.get $v) (local.get $best) (local.get $m)))
        (local.set $best2 (v128.bitselect (local.get $u) (local.get $best2) (local.get $n)))
        (local.set $v (i32x4.splat (local.get $k)))
        (local.set $bi (v128.bitselect (i32x4.add (local.get $v) (local.get $lanes)) (local.get $bi) (local.get $m)))
        (local.set $bi2 (v128.bitselect (i32x4.add (local.get $v) (local.get $lanes2)) (local.get $bi2) (local.get $n)))
        (local.set $kx (i32.add (local.get $kx) (i32.const 1)))
        (br $taps)))
      (local.set $iy (i32.add (local.get $iy) (local.get $dh)))
      (br $rows)))
    (v128.store (local.get $yo) (local.get $best))
    (v128.store offset=16 (local.get $yo) (local.get $best2))
    (v128.store (local.get $io) (local.get $bi))
    (v128.store offset=16 (local.get $io) (local.get $bi2)))

  (func (export "pool_max_forward") (param $tid i32) (param $nt i32) (param $x i32) (param $y i32) (param $idx i32)
        (param $P i32) (param $h i32) (param $w i32) (param $oh i32) (param $ow i32)
        (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32) (param $ph i32) (param $pw i32) (param $dh i32) (param $dw i32)
    (local $q i32) (local $q1 i32) (local $xb i32) (local $ob i32) (local $oy i32) (local $ox i32) (local $y0 i32) (local $y1 i32)
    (local $oxa i32) (local $oxv i32) (local $span i32) (local $o i32)
    (call $planes (local.get $tid) (local.get $nt) (local.get $P))
    (local.set $q1)
    (local.set $q)
    ;; span: columns a window covers beyond its first, (kw-1)*dw
    (local.set $span (i32.mul (i32.sub (local.get $kw) (i32.const 1)) (local.get $dw)))
    ;; Four-wide groups start at ox in [oxa, oxv): x0 = ox*sw - pw >= 0 and the last tap of the
    ;; group's last output, (ox+3)*sw - pw + span, <= w - 1. None unless sw is 1 or 2.
    (local.set $oxa (i32.div_u (i32.add (local.get $pw) (i32.sub (local.get $sw) (i32.const 1))) (local.get $sw)))
    (local.set $oxv (i32.const 0))
    (if (i32.and (i32.le_u (local.get $sw) (i32.const 2))
                 (i32.ge_s (i32.sub (i32.add (local.get $w) (local.get $pw)) (i32.add (local.get $span) (i32.const 1))) (i32.const 0)))
      (then
        ;; largest ox with ox*sw <= w - 1 + pw - span, minus 3, exclusive bound
        (local.set $oxv (i32.sub (i32.add (i32.div_u (i32.sub (i32.add (local.get $w) (local.get $pw)) (i32.add (local.get $span) (i32.const 1)))
                                                     (local.get $sw))
                                          (i32.const 1))
                                 (i32.const 3)))))
    (block $planes_done (loop $each_plane
      (br_if $planes_done (i32.ge_u (local.get $q) (local.get $q1)))
      (local.set $xb (i32.add (local.get $x) (i32.shl (i32.mul (local.get $q) (i32.mul (local.get $h) (local.get $w))) (i32.const 2))))
      (local.set $ob (i32.shl (i32.mul (local.get $q) (i32.mul (local.get $oh) (local.get $ow))) (i32.const 2)))
      (local.set $oy (i32.const 0))
      (block $rows_done (loop $rows
        (br_if $rows_done (i32.ge_s (local.get $oy) (local.get $oh)))
        ;; the window's rows: [y0, y1) step dh, clipped to the input as the reference does
        (local.set $y0 (i32.sub (i32.mul (local.get $oy) (local.get $sh)) (local.get $ph)))
        (local.set $y1 (i32.add (local.get $y0) (i32.add (i32.mul (i32.sub (local.get $kh) (i32.const 1)) (local.get $dh)) (i32.const 1))))
        (if (i32.gt_s (local.get $y1) (local.get $h)) (then (local.set $y1 (local.get $h))))
        (block $pos (loop $up
          (br_if $pos (i32.ge_s (local.get $y0) (i32.const 0)))
          (local.set $y0 (i32.add (local.get $y0) (local.get $dh)))
          (br $up)))
        (local.set $ox (i32.const 0))
        (block $cols_done (loop $cols
          (br_if $cols_done (i32.ge_s (local.get $ox) (local.get $ow)))
          (local.set $o (i32.add (local.get $ob) (i32.shl (i32.add (i32.mul (local.get $oy) (local.get $ow)) (local.get $ox)) (i32.const 2))))
          (if (i32.and (i32.ge_s (local.get $ox) (local.get $oxa))
                       (i32.and (i32.lt_s (i32.add (local.get $ox) (i32.const 4)) (local.get $oxv))
                                (i32.le_s (i32.add (local.get $ox) (i32.const 8)) (local.get $ow))))
            (then
              (call $max_eight (local.get $xb) (local.get $w) (local.get $y0) (local.get $y1) (local.get $ox)
                (local.get $kw) (local.get $sw) (local.get $pw) (local.get $dh) (local.get $dw)
                (i32.add (local.get $y) (local.get $o)) (i32.add (local.get $idx) (local.get $o)))
              (local.set $ox (i32.add (local.get $ox) (i32.const 8)))
              (br $cols)))
          (if (i32.and (i32.ge_s (local.get $ox) (local.get $oxa))
                       (i32.and (i32.lt_s (local.get $ox) (local.get $oxv))
                                (i32.le_s (i32.add (local.get $ox) (i32.const 4)) (local.get $ow))))
            (then
              (call $max_four (local.get $xb) (local.get $w) (local.get $y0) (local.get $y1) (local.get $ox)
                (local.get $kw) (local.get $sw) (local.get $pw) (local.get $dh) (local.get $dw)
                (i32.add (local.get $y) (local.get $o)) (i32.add (local.get $idx) (local.get $o)))
              (local.set $ox (i32.add (local.get $ox) (i32.const 4))))
            (else
              (call $max_one (local.get $xb) (local.get $w) (local.get $y0) (local.get $y1) (local.get $ox)
                (local.get $kw) (local.get $sw) (local.get $pw) (local.get $dh) (local.get $dw)
                (i32.add (local.get $y) (local.get $o)) (i32.add (local.get $idx) (local.get $o)))
              (local.set $ox (i32.add (local.get $ox) (i32.const 1)))))
          (br $cols)))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (br $rows)))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br $each_plane))))

  ;; dx = 0, then dx[q, idx[q, k]] += dy[q, k]. An index outside [0, hw) sends nothing: only an empty
;; window (possible with dilation, whose first clipped tap lies past the input) reports one, and its
;; output, a constant -inf, has no gradient. (The TS kernel adds it into the next plane instead.)
  (func (export "pool_max_backward") (param $tid i32) (param $nt i32) (param $dy i32) (param $idx i32) (param $dx i32)
        (param $P i32) (param $hw i32) (param $ohw i32)
    (local $q i32) (local $q1 i32) (local $xb i32) (local $k i32) (local $o i32) (local $i i32) (local $p i32)
    (call $planes (local.get $tid) (local.get $nt) (local.get $P))
    (local.set $q1)
    (local.set $q)
    (block $planes_done (loop $each_plane
      (br_if $planes_done (i32.ge_u (local.get $q) (local.get $q1)))
      (local.set $xb (i32.add (local.get $dx) (i32.shl (i32.mul (local.get $q) (local.get $hw)) (i32.const 2))))
      (call $fill (local.get $xb) (local.get $hw) (f32.const 0))
      (local.set $o (i32.shl (i32.mul (local.get $q) (local.get $ohw)) (i32.const 2)))
      (local.set $k (i32.const 0))
      (block $done (loop $each
        (br_if $done (i32.ge_u (local.get $k) (local.get $ohw)))
        (local.set $i (i32.load (i32.add (local.get $idx) (local.get $o))))
        (if (i32.lt_u (local.get $i) (local.get $hw))
          (then
            (local.set $p (i32.add (local.get $xb) (i32.shl (local.get $i) (i32.const 2))))
            (f32.store (local.get $p) (f32.add (f32.load (local.get $p)) (f32.load (i32.add (local.get $dy) (local.get $o)))))))
        (local.set $o (i32.add (local.get $o) (i32.const 4)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $each)))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br $each_plane))))

  ;; ---- average ---------------------------------------------------------------------------------

  ;; Window (oy, ox) clipped first to the padded input, then to the real one:
  ;; returns y0, y1, x0, x1 and the divisor (as the reference's avgWindow).
  (func $avg_window (param $oy i32) (param $ox i32) (param $h i32) (param $w i32) (param $kh i32) (param $kw i32)
                    (param $sh i32) (param $sw i32) (param $ph i32) (param $pw i32) (param $cip i32) (param $override i32)
                    (result i32 i32 i32 i32 f32)
    (local $py0 i32) (local $px0 i32) (local $py1 i32) (local $px1 i32) (local $y0 i32) (local $x0 i32) (local $y1 i32) (local $x1 i32)
    (local $div i32)
    (local.set $py0 (i32.sub (i32.mul (local.get $oy) (local.get $sh)) (local.get $ph)))
    (local.set $px0 (i32.sub (i32.mul (local.get $ox) (local.get $sw)) (local.get $pw)))
    (local.set $py1 (i32.add (local.get $py0) (local.get $kh)))
    (if (i32.gt_s (local.get $py1) (i32.add (local.get $h) (local.get $ph))) (then (local.set $py1 (i32.add (local.get $h) (local.get $ph)))))
    (local.set $px1 (i32.add (local.get $px0) (local.get $kw)))
    (if (i32.gt_s (local.get $px1) (i32.add (local.get $w) (local.get $pw))) (then (local.set $px1 (i32.add (local.get $w) (local.get $pw)))))
    (local.set $y0 (select (local.get $py0) (i32.const 0) (i32.gt_s (local.get $py0) (i32.const 0))))
    (local.set $x0 (select (local.get $px0) (i32.const 0) (i32.gt_s (local.get $px0) (i32.const 0))))
    (local.set $y1 (select (local.get $h) (local.get $py1) (i32.gt_s (local.get $py1) (local.get $h))))
    (local.set $x1 (select (local.get $w) (local.get $px1) (i32.gt_s (local.get $px1) (local.get $w))))
    (local.set $div
      (if (result i32) (local.get $override)
        (then (local.get $override))
        (else
          (if (result i32) (local.get $cip)
            (then (i32.mul (i32.sub (local.get $py1) (local.get $py0)) (i32.sub (local.get $px1) (local.get $px0))))
            (else (i32.mul (i32.sub (local.get $y1) (local.get $y0)) (i32.sub (local.get $x1) (local.get $x0))))))))
    (local.get $y0) (local.get $y1) (local.get $x0) (local.get $x1) (f32.convert_i32_s (local.get $div)))

  (func (export "pool_avg_forward") (param $tid i32) (param $nt i32) (param $x i32) (param $y i32)
        (param $P i32) (param $h i32) (param $w i32) (param $oh i32) (param $ow i32)
        (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32) (param $ph i32) (param $pw i32)
        (param $cip i32) (param $override i32)
    (local $q i32) (local $q1 i32) (local $xb i32) (local $yo i32) (local $oy i32) (local $ox i32)
    (local $y0 i32) (local $y1 i32) (local $x0 i32) (local $x1 i32) (local $div f32) (local $iy i32) (local $ix i32) (local $s f32)
    (call $planes (local.get $tid) (local.get $nt) (local.get $P))
    (local.set $q1)
    (local.set $q)
    (local.set $yo (i32.add (local.get $y) (i32.shl (i32.mul (local.get $q) (i32.mul (local.get $oh) (local.get $ow))) (i32.const 2))))
    (block $planes_done (loop $each_plane
      (br_if $planes_done (i32.ge_u (local.get $q) (local.get $q1)))
      (local.set $xb (i32.add (local.get $x) (i32.shl (i32.mul (local.get $q) (i32.mul (local.get $h) (local.get $w))) (i32.const 2))))
      (local.set $oy (i32.const 0))
      (block $rows_done (loop $rows
        (br_if $rows_done (i32.ge_s (local.get $oy) (local.get $oh)))
        (local.set $ox (i32.const 0))
        (block $cols_done (loop $cols
          (br_if $cols_done (i32.ge_s (local.get $ox) (local.get $ow)))
          (call $avg_window (local.get $oy) (local.get $ox) (local.get $h) (local.get $w) (local.get $kh) (local.get $kw)
            (local.get $sh) (local.get $sw) (local.get $ph) (local.get $pw) (local.get $cip) (local.get $override))
          (local.set $div) (local.set $x1) (local.set $x0) (local.set $y1) (local.set $y0)
          (local.set $s (f32.const 0))
          (local.set $iy (local.get $y0))
          (block $wr_done (loop $wr
            (br_if $wr_done (i32.ge_s (local.get $iy) (local.get $y1)))
            (local.set $ix (local.get $x0))
            (block $wc_done (loop $wc
              (br_if $wc_done (i32.ge_s (local.get $ix) (local.get $x1)))
              (local.set $s (f32.add (local.get $s)
                (f32.load (i32.add (local.get $xb) (i32.shl (i32.add (i32.mul (local.get $iy) (local.get $w)) (local.get $ix)) (i32.const 2))))))
              (local.set $ix (i32.add (local.get $ix) (i32.const 1)))
              (br $wc)))
            (local.set $iy (i32.add (local.get $iy) (i32.const 1)))
            (br $wr)))
          ;; an empty window gives 0
          (f32.store (local.get $yo)
            (select (f32.div (local.get $s) (local.get $div)) (f32.const 0)
                    (i32.and (i32.lt_s (local.get $y0) (local.get $y1)) (i32.lt_s (local.get $x0) (local.get $x1)))))
          (local.set $yo (i32.add (local.get $yo) (i32.const 4)))
          (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
          (br $cols)))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (br $rows)))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br $each_plane))))

  (func (export "pool_avg_backward") (param $tid i32) (param $nt i32) (param $dy i32) (param $dx i32)
        (param $P i32) (param $h i32) (param $w i32) (param $oh i32) (param $ow i32)
        (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32) (param $ph i32) (param $pw i32)
        (param $cip i32) (param $override i32)
    (local $q i32) (local $q1 i32) (local $xb i32) (local $go i32) (local $oy i32) (local $ox i32)
    (local $y0 i32) (local $y1 i32) (local $x0 i32) (local $x1 i32) (local $div f32) (local $iy i32) (local $ix i32) (local $g f32)
    (local $p i32)
    (call $planes (local.get $tid) (local.get $nt) (local.get $P))
    (local.set $q1)
    (local.set $q)
    (local.set $go (i32.add (local.get $dy) (i32.shl (i32.mul (local.get $q) (i32.mul (local.get $oh) (local.get $ow))) (i32.const 2))))
    (block $planes_done (loop $each_plane
      (br_if $planes_done (i32.ge_u (local.get $q) (local.get $q1)))
      (local.set $xb (i32.add (local.get $dx) (i32.shl (i32.mul (local.get $q) (i32.mul (local.get $h) (local.get $w))) (i32.const 2))))
      (call $fill (local.get $xb) (i32.mul (local.get $h) (local.get $w)) (f32.const 0))
      (local.set $oy (i32.const 0))
      (block $rows_done (loop $rows
        (br_if $rows_done (i32.ge_s (local.get $oy) (local.get $oh)))
        (local.set $ox (i32.const 0))
        (block $cols_done (loop $cols
          (br_if $cols_done (i32.ge_s (local.get $ox) (local.get $ow)))
          (call $avg_window (local.get $oy) (local.get $ox) (local.get $h) (local.get $w) (local.get $kh) (local.get $kw)
            (local.get $sh) (local.get $sw) (local.get $ph) (local.get $pw) (local.get $cip) (local.get $override))
          (local.set $div) (local.set $x1) (local.set $x0) (local.set $y1) (local.set $y0)
          (local.set $g (f32.div (f32.load (local.get $go)) (local.get $div)))
          (local.set $iy (local.get $y0))
          (block $wr_done (loop $wr
            (br_if $wr_done (i32.ge_s (local.get $iy) (local.get $y1)))
            (local.set $ix (local.get $x0))
            (block $wc_done (loop $wc
              (br_if $wc_done (i32.ge_s (local.get $ix) (local.get $x1)))
              (local.set $p (i32.add (local.get $xb) (i32.shl (i32.add (i32.mul (local.get $iy) (local.get $w)) (local.get $ix)) (i32.const 2))))
              (f32.store (local.get $p) (f32.add (f32.load (local.get $p)) (local.get $g)))
              (local.set $ix (i32.add (local.get $ix) (i32.const 1)))
              (br $wc)))
            (local.set $iy (i32.add (local.get $iy) (i32.const 1)))
            (br $wr)))
          (local.set $go (i32.add (local.get $go) (i32.const 4)))
          (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
          (br $cols)))
        (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
        (br $rows)))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br $each_plane))))

  ;; ---- adaptive average ----------------------------------------------------------------------------

  ;; sum of n floats at p: f32x4 lanes (two accumulators) over blocks of <= 1024, folded into f64.
  (func $sum_blocked (param $p i32) (param $n i32) (result f64)
    (local $e i32) (local $be i32) (local $a0 v128) (local $a1 v128) (local $s f32) (local $total f64)
    (local.set $e (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
    (block $blocks_done (loop $blocks
      (br_if $blocks_done (i32.ge_u (local.get $p) (local.get $e)))
      (local.set $be (i32.add (local.get $p) (i32.const 4096)))
      (if (i32.gt_u (local.get $be) (local.get $e)) (then (local.set $be (local.get $e))))
      (local.set $a0 (v128.const i32x4 0 0 0 0))
      (local.set $a1 (v128.const i32x4 0 0 0 0))
      (block $done8 (loop $by8
        (br_if $done8 (i32.gt_u (i32.add (local.get $p) (i32.const 32)) (local.get $be)))
        (local.set $a0 (f32x4.add (local.get $a0) (v128.load (local.get $p))))
        (local.set $a1 (f32x4.add (local.get $a1) (v128.load offset=16 (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (br $by8)))
      (local.set $a0 (f32x4.add (local.get $a0) (local.get $a1)))
      (local.set $s (f32.add (f32.add (f32x4.extract_lane 0 (local.get $a0)) (f32x4.extract_lane 1 (local.get $a0)))
                             (f32.add (f32x4.extract_lane 2 (local.get $a0)) (f32x4.extract_lane 3 (local.get $a0)))))
      (block $done1 (loop $by1
        (br_if $done1 (i32.ge_u (local.get $p) (local.get $be)))
        (local.set $s (f32.add (local.get $s) (f32.load (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $by1)))
      (local.set $total (f64.add (local.get $total) (f64.promote_f32 (local.get $s))))
      (br $blocks)))
    (local.get $total))

  ;; Adaptive window bounds along one axis for output o: [floor(o*in/out), ceil((o+1)*in/out)).
  (func $astart (param $o i32) (param $in i32) (param $out i32) (result i32)
    (i32.div_u (i32.mul (local.get $o) (local.get $in)) (local.get $out)))
  (func $aend (param $o i32) (param $in i32) (param $out i32) (result i32)
    (i32.div_u (i32.add (i32.mul (i32.add (local.get $o) (i32.const 1)) (local.get $in)) (i32.sub (local.get $out) (i32.const 1)))
               (local.get $out)))

  (func (export "pool_adaptive_forward") (param $tid i32) (param $nt i32) (param $x i32) (param $y i32)
        (param $P i32) (param $h i32) (param $w i32) (param $oh i32) (param $ow i32)
    (local $q i32) (local $q1 i32) (local $xb i32) (local $yo i32) (local $hw i32) (local $oy i32) (local $ox i32)
    (local $y0 i32) (local $y1 i32) (local $x0 i32) (local $x1 i32) (local $iy i32) (local $ix i32) (local $s f32)
    (call $planes (local.get $tid) (local.get $nt) (local.get $P))
    (local.set $q1)
    (local.set $q)
    (local.set $hw (i32.mul (local.get $h) (local.get $w)))
    (local.set $yo (i32.add (local.get $y) (i32.shl (i32.mul (local.get $q) (i32.mul (local.get $oh) (local.get $ow))) (i32.const 2))))
    (block $planes_done (loop $each_plane
      (br_if $planes_done (i32.ge_u (local.get $q) (local.get $q1)))
      (local.set $xb (i32.add (local.get $x) (i32.shl (i32.mul (local.get $q) (local.get $hw)) (i32.const 2))))
      (if (i32.and (i32.eq (local.get $oh) (i32.const 1)) (i32.eq (local.get $ow) (i32.const 1)))
        (then
          ;; global: the whole plane
          (f32.store (local.get $yo)
            (f32.demote_f64 (f64.div (call $sum_blocked (local.get $xb) (local.get $hw)) (f64.convert_i32_u (local.get $hw)))))
          (local.set $yo (i32.add (local.get $yo) (i32.const 4))))
        (else
          (local.set $oy (i32.const 0))
          (block $rows_done (loop $rows
            (br_if $rows_done (i32.ge_u (local.get $oy) (local.get $oh)))
            (local.set $y0 (call $astart (local.get $oy) (local.get $h) (local.get $oh)))
            (local.set $y1 (call $aend (local.get $oy) (local.get $h) (local.get $oh)))
            (local.set $ox (i32.const 0))
            (block $cols_done (loop $cols
              (br_if $cols_done (i32.ge_u (local.get $ox) (local.get $ow)))
              (local.set $x0 (call $astart (local.get $ox) (local.get $w) (local.get $ow)))
              (local.set $x1 (call $aend (local.get $ox) (local.get $w) (local.get $ow)))
              (local.set $s (f32.const 0))
              (local.set $iy (local.get $y0))
              (block $wr_done (loop $wr
                (br_if $wr_done (i32.ge_u (local.get $iy) (local.get $y1)))
                (local.set $ix (local.get $x0))
                (block $wc_done (loop $wc
                  (br_if $wc_done (i32.ge_u (local.get $ix) (local.get $x1)))
                  (local.set $s (f32.add (local.get $s)
                    (f32.load (i32.add (local.get $xb) (i32.shl (i32.add (i32.mul (local.get $iy) (local.get $w)) (local.get $ix)) (i32.const 2))))))
                  (local.set $ix (i32.add (local.get $ix) (i32.const 1)))
                  (br $wc)))
                (local.set $iy (i32.add (local.get $iy) (i32.const 1)))
                (br $wr)))
              (f32.store (local.get $yo)
                (f32.div (local.get $s)
                         (f32.convert_i32_u (i32.mul (i32.sub (local.get $y1) (local.get $y0)) (i32.sub (local.get $x1) (local.get $x0))))))
              (local.set $yo (i32.add (local.get $yo) (i32.const 4)))
              (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
              (br $cols)))
            (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
            (br $rows)))))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br $each_plane))))

  (func (export "pool_adaptive_backward") (param $tid i32) (param $nt i32) (param $dy i32) (param $dx i32)
        (param $P i32) (param $h i32) (param $w i32) (param $oh i32) (param $ow i32)
    (local $q i32) (local $q1 i32) (local $xb i32) (local $go i32) (local $hw i32) (local $oy i32) (local $ox i32)
    (local $y0 i32) (local $y1 i32) (local $x0 i32) (local $x1 i32) (local $iy i32) (local $ix i32) (local $g f32) (local $p i32)
    (call $planes (local.get $tid) (local.get $nt) (local.get $P))
    (local.set $q1)
    (local.set $q)
    (local.set $hw (i32.mul (local.get $h) (local.get $w)))
    (local.set $go (i32.add (local.get $dy) (i32.shl (i32.mul (local.get $q) (i32.mul (local.get $oh) (local.get $ow))) (i32.const 2))))
    (block $planes_done (loop $each_plane
      (br_if $planes_done (i32.ge_u (local.get $q) (local.get $q1)))
      (local.set $xb (i32.add (local.get $dx) (i32.shl (i32.mul (local.get $q) (local.get $hw)) (i32.const 2))))
      (if (i32.and (i32.eq (local.get $oh) (i32.const 1)) (i32.eq (local.get $ow) (i32.const 1)))
        (then
          ;; global: every position gets dy / hw
          (call $fill (local.get $xb) (local.get $hw)
            (f32.demote_f64 (f64.div (f64.promote_f32 (f32.load (local.get $go))) (f64.convert_i32_u (local.get $hw)))))
          (local.set $go (i32.add (local.get $go) (i32.const 4))))
        (else
          (call $fill (local.get $xb) (local.get $hw) (f32.const 0))
          (local.set $oy (i32.const 0))
          (block $rows_done (loop $rows
            (br_if $rows_done (i32.ge_u (local.get $oy) (local.get $oh)))
            (local.set $y0 (call $astart (local.get $oy) (local.get $h) (local.get $oh)))
            (local.set $y1 (call $aend (local.get $oy) (local.get $h) (local.get $oh)))
            (local.set $ox (i32.const 0))
            (block $cols_done (loop $cols
              (br_if $cols_done (i32.ge_u (local.get $ox) (local.get $ow)))
              (local.set $x0 (call $astart (local.get $ox) (local.get $w) (local.get $ow)))
              (local.set $x1 (call $aend (local.get $ox) (local.get $w) (local.get $ow)))
              (local.set $g (f32.div (f32.load (local.get $go))
                (f32.convert_i32_u (i32.mul (i32.sub (local.get $y1) (local.get $y0)) (i32.sub (local.get $x1) (local.get $x0))))))
              (local.set $iy (local.get $y0))
              (block $wr_done (loop $wr
                (br_if $wr_done (i32.ge_u (local.get $iy) (local.get $y1)))
                (local.set $ix (local.get $x0))
                (block $wc_done (loop $wc
                  (br_if $wc_done (i32.ge_u (local.get $ix) (local.get $x1)))
                  (local.set $p (i32.add (local.get $xb) (i32.shl (i32.add (i32.mul (local.get $iy) (local.get $w)) (local.get $ix)) (i32.const 2))))
                  (f32.store (local.get $p) (f32.add (f32.load (local.get $p)) (local.get $g)))
                  (local.set $ix (i32.add (local.get $ix) (i32.const 1)))
                  (br $wc)))
                (local.set $iy (i32.add (local.get $iy) (i32.const 1)))
                (br $wr)))
              (local.set $go (i32.add (local.get $go) (i32.const 4)))
              (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
              (br $cols)))
            (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
            (br $rows)))))
      (local.set $q (i32.add (local.get $q) (i32.const 1)))
      (br $each_plane)))))
