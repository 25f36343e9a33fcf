;; ew: elementwise float32 kernels over contiguous arrays, the memory-bound glue of a training step.
;;   ew_relu            y  = relu(x)         = x if not (x <= 0), else +0   (NaN passes through)
;;   ew_relu_backward   dx = x <= 0 ? 0 : dy                                (dy at NaN x, as torch)
;;   ew_add             y  = a + b
;;   ew_add_relu        y  = relu(a + b)                                    (residual join + ReLU)
;;   ew_axpy            y  = alpha*x + z                                    (two roundings, no FMA)
;;   ew_strided         dst[view] = src[view] (or +=), views of up to four dims (below)
;; Every entry point but ew_strided is (tid, nt, byte offsets..., n): thread tid takes a contiguous share of whole
;; 16-float blocks (one 64-byte cache line when the arrays are 64-byte aligned, as the arena's are),
;; so no two threads write the same line. The bodies read and write 8 floats (two f32x4) per
;; iteration, then one f32x4, then single floats for the last 0..3.
;;
;; ReLU as two SIMD ops: m = (x <= 0) is all-ones where x is 0, negative or -0 and all-zeros where x
;; is positive or NaN (every compare with NaN is false), so andnot(x, m) keeps x there and gives
;; the bits of +0 elsewhere. Same trick for the backward: andnot(dy, x <= 0) keeps dy at NaN x, as
;; torch's threshold_backward does.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; Thread tid's share [start, end) of n items: ceil(n / 16) blocks of 16 dealt out in nt
  ;; contiguous runs of ceil(blocks / nt) blocks; the last runs may be short or empty.
  (func $share (param $tid i32) (param $nt i32) (param $n i32) (result i32 i32)
    (local $per i32) (local $start i32) (local $end i32)
    (local.set $per
      (i32.shl
        (i32.div_u (i32.add (i32.shr_u (i32.add (local.get $n) (i32.const 15)) (i32.const 4))
                            (i32.sub (local.get $nt) (i32.const 1)))
                   (local.get $nt))
        (i32.const 4)))
    (local.set $start (i32.mul (local.get $tid) (local.get $per)))
    (if (i32.gt_u (local.get $start) (local.get $n)) (then (local.set $start (local.get $n))))
    (local.set $end (i32.add (local.get $start) (local.get $per)))
    (if (i32.gt_u (local.get $end) (local.get $n)) (then (local.set $end (local.get $n))))
    (local.get $start)
    (local.get $end))

  (func (export "ew_relu") (param $tid i32) (param $nt i32) (param $x i32) (param $y i32) (param $n i32)
    (local $i i32) (local $end i32) (local $o i32) (local $v v128) (local $w v128) (local $s f32)
    (call $share (local.get $tid) (local.get $nt) (local.get $n))
    (local.set $end)
    (local.set $i)
    (block $done8
      (loop $by8
        (br_if $done8 (i32.gt_u (i32.add (local.get $i) (i32.const 8)) (local.get $end)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $v (v128.load (i32.add (local.get $x) (local.get $o))))
        (local.set $w (v128.load offset=16 (i32.add (local.get $x) (local.get $o))))
        (v128.store (i32.add (local.get $y) (local.get $o))
          (v128.andnot (local.get $v) (f32x4.le (local.get $v) (v128.const f32x4 0 0 0 0))))
        (v128.store offset=16 (i32.add (local.get $y) (local.get $o))
          (v128.andnot (local.get $w) (f32x4.le (local.get $w) (v128.const f32x4 0 0 0 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $by8)))
    (if (i32.le_u (i32.add (local.get $i) (i32.const 4)) (local.get $end))
      (then
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $v (v128.load (i32.add (local.get $x) (local.get $o))))
        (v128.store (i32.add (local.get $y) (local.get $o))
          (v128.andnot (local.get $v) (f32x4.le (local.get $v) (v128.const f32x4 0 0 0 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))))
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $s (f32.load (i32.add (local.get $x) (local.get $o))))
        (f32.store (i32.add (local.get $y) (local.get $o))
          (select (f32.const 0) (local.get $s) (f32.le (local.get $s) (f32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $by1))))

  (func (export "ew_relu_backward") (param $tid i32) (param $nt i32) (param $x i32) (param $dy i32) (param $dx i32) (param $n i32)
    (local $i i32) (local $end i32) (local $o i32)
    (call $share (local.get $tid) (local.get $nt) (local.get $n))
    (local.set $end)
    (local.set $i)
    (block $done8
      (loop $by8
        (br_if $done8 (i32.gt_u (i32.add (local.get $i) (i32.const 8)) (local.get $end)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (v128.store (i32.add (local.get $dx) (local.get $o))
          (v128.andnot (v128.load (i32.add (local.get $dy) (local.get $o)))
                    (f32x4.le (v128.load (i32.add (local.get $x) (local.get $o))) (v128.const f32x4 0 0 0 0))))
        (v128.store offset=16 (i32.add (local.get $dx) (local.get $o))
          (v128.andnot (v128.load offset=16 (i32.add (local.get $dy) (local.get $o)))
                    (f32x4.le (v128.load offset=16 (i32.add (local.get $x) (local.get $o))) (v128.const f32x4 0 0 0 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $by8)))
    (if (i32.le_u (i32.add (local.get $i) (i32.const 4)) (local.get $end))
      (then
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (v128.store (i32.add (local.get $dx) (local.get $o))
          (v128.andnot (v128.load (i32.add (local.get $dy) (local.get $o)))
                    (f32x4.le (v128.load (i32.add (local.get $x) (local.get $o))) (v128.const f32x4 0 0 0 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))))
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (f32.store (i32.add (local.get $dx) (local.get $o))
          (select (f32.const 0)
                  (f32.load (i32.add (local.get $dy) (local.get $o)))
                  (f32.le (f32.load (i32.add (local.get $x) (local.get $o))) (f32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $by1))))

  (func (export "ew_add") (param $tid i32) (param $nt i32) (param $a i32) (param $b i32) (param $y i32) (param $n i32)
    (local $i i32) (local $end i32) (local $o i32)
    (call $share (local.get $tid) (local.get $nt) (local.get $n))
    (local.set $end)
    (local.set $i)
    (block $done8
      (loop $by8
        (br_if $done8 (i32.gt_u (i32.add (local.get $i) (i32.const 8)) (local.get $end)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (v128.store (i32.add (local.get $y) (local.get $o))
          (f32x4.add (v128.load (i32.add (local.get $a) (local.get $o)))
                     (v128.load (i32.add (local.get $b) (local.get $o)))))
        (v128.store offset=16 (i32.add (local.get $y) (local.get $o))
          (f32x4.add (v128.load offset=16 (i32.add (local.get $a) (local.get $o)))
                     (v128.load offset=16 (i32.add (local.get $b) (local.get $o)))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $by8)))
    (if (i32.le_u (i32.add (local.get $i) (i32.const 4)) (local.get $end))
      (then
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (v128.store (i32.add (local.get $y) (local.get $o))
          (f32x4.add (v128.load (i32.add (local.get $a) (local.get $o)))
                     (v128.load (i32.add (local.get $b) (local.get $o)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))))
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (f32.store (i32.add (local.get $y) (local.get $o))
          (f32.add (f32.load (i32.add (local.get $a) (local.get $o)))
                   (f32.load (i32.add (local.get $b) (local.get $o)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $by1))))

  (func (export "ew_add_relu") (param $tid i32) (param $nt i32) (param $a i32) (param $b i32) (param $y i32) (param $n i32)
    (local $i i32) (local $end i32) (local $o i32) (local $v v128) (local $w v128) (local $s f32)
    (call $share (local.get $tid) (local.get $nt) (local.get $n))
    (local.set $end)
    (local.set $i)
    (block $done8
      (loop $by8
        (br_if $done8 (i32.gt_u (i32.add (local.get $i) (i32.const 8)) (local.get $end)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $v (f32x4.add (v128.load (i32.add (local.get $a) (local.get $o)))
                                 (v128.load (i32.add (local.get $b) (local.get $o)))))
        (local.set $w (f32x4.add (v128.load offset=16 (i32.add (local.get $a) (local.get $o)))
                                 (v128.load offset=16 (i32.add (local.get $b) (local.get $o)))))
        (v128.store (i32.add (local.get $y) (local.get $o))
          (v128.andnot (local.get $v) (f32x4.le (local.get $v) (v128.const f32x4 0 0 0 0))))
        (v128.store offset=16 (i32.add (local.get $y) (local.get $o))
          (v128.andnot (local.get $w) (f32x4.le (local.get $w) (v128.const f32x4 0 0 0 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $by8)))
    (if (i32.le_u (i32.add (local.get $i) (i32.const 4)) (local.get $end))
      (then
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $v (f32x4.add (v128.load (i32.add (local.get $a) (local.get $o)))
                                 (v128.load (i32.add (local.get $b) (local.get $o)))))
        (v128.store (i32.add (local.get $y) (local.get $o))
          (v128.andnot (local.get $v) (f32x4.le (local.get $v) (v128.const f32x4 0 0 0 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))))
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $s (f32.add (f32.load (i32.add (local.get $a) (local.get $o)))
                               (f32.load (i32.add (local.get $b) (local.get $o)))))
        (f32.store (i32.add (local.get $y) (local.get $o))
          (select (f32.const 0) (local.get $s) (f32.le (local.get $s) (f32.const 0))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $by1))))

  (func (export "ew_axpy") (param $tid i32) (param $nt i32) (param $alpha f32) (param $x i32) (param $z i32) (param $y i32) (param $n i32)
    (local $i i32) (local $end i32) (local $o i32) (local $va v128)
    (call $share (local.get $tid) (local.get $nt) (local.get $n))
    (local.set $end)
    (local.set $i)
    (local.set $va (f32x4.splat (local.get $alpha)))
    (block $done8
      (loop $by8
        (br_if $done8 (i32.gt_u (i32.add (local.get $i) (i32.const 8)) (local.get $end)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (v128.store (i32.add (local.get $y) (local.get $o))
          (f32x4.add (f32x4.mul (local.get $va) (v128.load (i32.add (local.get $x) (local.get $o))))
                     (v128.load (i32.add (local.get $z) (local.get $o)))))
        (v128.store offset=16 (i32.add (local.get $y) (local.get $o))
          (f32x4.add (f32x4.mul (local.get $va) (v128.load offset=16 (i32.add (local.get $x) (local.get $o))))
                     (v128.load offset=16 (i32.add (local.get $z) (local.get $o)))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $by8)))
    (if (i32.le_u (i32.add (local.get $i) (i32.const 4)) (local.get $end))
      (then
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (v128.store (i32.add (local.get $y) (local.get $o))
          (f32x4.add (f32x4.mul (local.get $va) (v128.load (i32.add (local.get $x) (local.get $o))))
                     (v128.load (i32.add (local.get $z) (local.get $o)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))))
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (f32.store (i32.add (local.get $y) (local.get $o))
          (f32.add (f32.mul (local.get $alpha) (f32.load (i32.add (local.get $x) (local.get $o))))
                   (f32.load (i32.add (local.get $z) (local.get $o)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $by1))))
  ;; ew_strided: dst[d0·i0 + d1·i1 + d2·i2 + d3·i3] = src[s0·i0 + s1·i1 + s2·i2 + s3·i3] over the
  ;; index space n0×n1×n2×n3 (strides in floats, src and dst byte offsets of element 0), or += when
  ;; acc is 1: a strided view copied out (copy), the adjoint of a view (scatterView) and a slab of
  ;; cat. Thread tid takes the i0 in [n0·tid/nt, n0·(tid+1)/nt); with acc = 1 the caller runs one
  ;; thread (a broadcast view sends several i to one dst element). The innermost run is f32x4
  ;; when both of its strides are 1, else one float at a time.
  (func (export "ew_strided") (param $tid i32) (param $nt i32) (param $src i32) (param $dst i32)
        (param $n0 i32) (param $n1 i32) (param $n2 i32) (param $n3 i32)
        (param $s0 i32) (param $s1 i32) (param $s2 i32) (param $s3 i32)
        (param $d0 i32) (param $d1 i32) (param $d2 i32) (param $d3 i32) (param $acc i32)
    (local $i0 i32) (local $e0 i32) (local $i1 i32) (local $i2 i32) (local $i3 i32)
    (local $p1s i32) (local $p1d i32) (local $p2s i32) (local $p2d i32) (local $ps i32) (local $pd i32)
    (local $v128run i32) (local $end i32)
    (local.set $i0 (i32.wrap_i64 (i64.div_u (i64.mul (i64.extend_i32_u (local.get $n0)) (i64.extend_i32_u (local.get $tid)))
                                            (i64.extend_i32_u (local.get $nt)))))
    (local.set $e0 (i32.wrap_i64 (i64.div_u (i64.mul (i64.extend_i32_u (local.get $n0)) (i64.extend_i32_u (i32.add (local.get $tid) (i32.const 1))))
                                            (i64.extend_i32_u (local.get $nt)))))
    ;; strides in bytes from here on
    (local.set $s0 (i32.shl (local.get $s0) (i32.const 2))) (local.set $s1 (i32.shl (local.get $s1) (i32.const 2)))
    (local.set $s2 (i32.shl (local.get $s2) (i32.const 2))) (local.set $s3 (i32.shl (local.get $s3) (i32.const 2)))
    (local.set $d0 (i32.shl (local.get $d0) (i32.const 2))) (local.set $d1 (i32.shl (local.get $d1) (i32.const 2)))
    (local.set $d2 (i32.shl (local.get $d2) (i32.const 2))) (local.set $d3 (i32.shl (local.get $d3) (i32.const 2)))
    (local.set $v128run (i32.and (i32.eq (local.get $s3) (i32.const 4)) (i32.eq (local.get $d3) (i32.const 4))))
    ;; floats of the innermost run that whole f32x4 cover
    (local.set $end (i32.and (local.get $n3) (i32.const -4)))
    (block $done0 (loop $l0
      (br_if $done0 (i32.ge_u (local.get $i0) (local.get $e0)))
      (local.set $p1s (i32.add (local.get $src) (i32.mul (local.get $i0) (local.get $s0))))
      (local.set $p1d (i32.add (local.get $dst) (i32.mul (local.get $i0) (local.get $d0))))
      (local.set $i1 (i32.const 0))
      (block $done1 (loop $l1
        (br_if $done1 (i32.ge_u (local.get $i1) (local.get $n1)))
        (local.set $p2s (local.get $p1s))
        (local.set $p2d (local.get $p1d))
        (local.set $i2 (i32.const 0))
        (block $done2 (loop $l2
          (br_if $done2 (i32.ge_u (local.get $i2) (local.get $n2)))
          (local.set $ps (local.get $p2s))
          (local.set $pd (local.get $p2d))
          (local.set $i3 (i32.const 0))
          (if (local.get $v128run) (then
            (if (local.get $acc)
              (then
                (block $vd (loop $va
                  (br_if $vd (i32.ge_u (local.get $i3) (local.get $end)))
                  (v128.store (local.get $pd) (f32x4.add (v128.load (local.get $pd)) (v128.load (local.get $ps))))
                  (local.set $ps (i32.add (local.get $ps) (i32.const 16)))
                  (local.set $pd (i32.add (local.get $pd) (i32.const 16)))
                  (local.set $i3 (i32.add (local.get $i3) (i32.const 4)))
                  (br $va))))
              (else
                (block $vcd (loop $vc
                  (br_if $vcd (i32.ge_u (local.get $i3) (local.get $end)))
                  (v128.store (local.get $pd) (v128.load (local.get $ps)))
                  (local.set $ps (i32.add (local.get $ps) (i32.const 16)))
                  (local.set $pd (i32.add (local.get $pd) (i32.const 16)))
                  (local.set $i3 (i32.add (local.get $i3) (i32.const 4)))
                  (br $vc)))))))
          ;; the rest of the run (all of it when a stride is not 1), one float at a time
          (if (local.get $acc)
            (then
              (block $sd (loop $sa
                (br_if $sd (i32.ge_u (local.get $i3) (local.get $n3)))
                (f32.store (local.get $pd) (f32.add (f32.load (local.get $pd)) (f32.load (local.get $ps))))
                (local.set $ps (i32.add (local.get $ps) (local.get $s3)))
                (local.set $pd (i32.add (local.get $pd) (local.get $d3)))
                (local.set $i3 (i32.add (local.get $i3) (i32.const 1)))
                (br $sa))))
            (else
              (block $scd (loop $sc
                (br_if $scd (i32.ge_u (local.get $i3) (local.get $n3)))
                (f32.store (local.get $pd) (f32.load (local.get $ps)))
                (local.set $ps (i32.add (local.get $ps) (local.get $s3)))
                (local.set $pd (i32.add (local.get $pd) (local.get $d3)))
                (local.set $i3 (i32.add (local.get $i3) (i32.const 1)))
                (br $sc)))))
          (local.set $p2s (i32.add (local.get $p2s) (local.get $s2)))
          (local.set $p2d (i32.add (local.get $p2d) (local.get $d2)))
          (local.set $i2 (i32.add (local.get $i2) (i32.const 1)))
          (br $l2)))
        (local.set $p1s (i32.add (local.get $p1s) (local.get $s1)))
        (local.set $p1d (i32.add (local.get $p1d) (local.get $d1)))
        (local.set $i1 (i32.add (local.get $i1) (i32.const 1)))
        (br $l1)))
      (local.set $i0 (i32.add (local.get $i0) (i32.const 1)))
      (br $l0))))
)
