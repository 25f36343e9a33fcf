;; bn: BatchNorm over x[N, C, S] (float32, contiguous), the 'batch' layout of kernels/cpu/norm.ts:
;; channel c owns the N runs x[n, c, 0..S) at float offset (n*C + c)*S, m = N*S elements.
;;   bn_forward_train  mean_c and (biased) var_c of the batch, then y = (x - mean_c)*a_c + beta_c
;;                     with a_c = gamma_c / sqrt(var_c + eps)
;;   bn_apply          the same y from given mean, var (running statistics, eval mode)
;;   bn_backward       gbeta_c = sum gy, ggamma_c = sum gy*xhat, and per channel
;;                       gx = p*gy + q*(x - mean) + t,  p = r*gamma, q = -r^2*gamma*ggamma/m,
;;                                                      t = -r*gamma*gbeta/m,  r = 1/sqrt(var + eps)
;;                     with batch statistics (derivation above normBackward in kernels/cpu/norm.ts),
;;                     or gx = p*gy with fixed ones
;; Each can fuse the ReLU that follows a BatchNorm in a ResNet (relu = 1): the forward writes
;; max(y, 0), and the backward masks the incoming gradient by y > 0, recomputing y from x with the
;; forward's own float32 operations, so relu(bn(x)) costs one pass each way instead of two.
;; Work is split over channels: thread tid takes channels [floor(tid*C/nt), floor((tid+1)*C/nt))
;; and writes only their parts of y / gx and their entries of the per-channel outputs. y may be
;; written over x and gx over gy (each element is read before its own store).
;;
;; Accuracy of the sums. Elements go in blocks of at most 1024: a piece of one run, or several
;; whole runs when S is small. A piece is summed in f32x4 lanes (8 lanes, so a lane adds at most
;; 128 values: error <= ~131 ulps of sum |x|), and the pieces of a block, and the blocks, are added
;; in f64. For the variance each block is swept twice while it sits in L1: once for its sum, giving
;; its rough mean b (rounded to f32), once for sum (x - b) and sum (x - b)^2; then its exact mean
;; and squared deviation
;;   mean_B = b + sum (x - b)/n_B,   M2_B = sum (x - b)^2 - (sum (x - b))^2/n_B
;; are merged into the channel's running (n, mean, M2) with Chan et al.'s rule
;;   d = mean_B - mean,  n' = n + n_B,  mean += d*n_B/n',  M2 += M2_B + d^2*n*n_B/n'
;; and var = M2/m: a two-pass variance inside each block (no cancellation of a large mean against
;; the spread) with one trip through memory. The mean that is returned and used for y is
;; sum x / m from the f64 sum of the block sums, so a channel holding +inf reports mean = +inf and
;; var = NaN, as the reference does; NaN anywhere in a channel makes its statistics and y NaN and
;; touches no other channel.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; ---- helpers over one contiguous piece of `len` floats (byte offsets) ----------------------

  ;; (l0 + l1) + (l2 + l3)
  (func $hsum (param $v v128) (result f32)
    (f32.add (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
             (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; sum x
  (func $piece_sum (param $p i32) (param $len i32) (result f32)
    (local $e i32) (local $a0 v128) (local $a1 v128) (local $s f32)
    (local.set $e (i32.add (local.get $p) (i32.shl (local.get $len) (i32.const 2))))
    (block $done8
      (loop $by8
        (br_if $done8 (i32.gt_u (i32.add (local.get $p) (i32.const 32)) (local.get $e)))
        (local.set $a0 (f32x4.add (local.get $a0) (v128.load (local.get $p))))
        (local.set $a1 (f32x4.add (local.get $a1) (v128.load offset=16 (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (br $by8)))
    (if (i32.le_u (i32.add (local.get $p) (i32.const 16)) (local.get $e))
      (then
        (local.set $a0 (f32x4.add (local.get $a0) (v128.load (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))))
    (local.set $s (call $hsum (f32x4.add (local.get $a0) (local.get $a1))))
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $p) (local.get $e)))
        (local.set $s (f32.add (local.get $s) (f32.load (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $by1)))
    (local.get $s))

  ;; sum (x - b) and sum (x - b)^2
  (func $piece_dev (param $p i32) (param $len i32) (param $b f32) (result f32 f32)
    (local $e i32) (local $vb v128) (local $d0 v128) (local $d1 v128)
    (local $s0 v128) (local $s1 v128) (local $q0 v128) (local $q1 v128) (local $s f32) (local $q f32) (local $d f32)
    (local.set $e (i32.add (local.get $p) (i32.shl (local.get $len) (i32.const 2))))
    (local.set $vb (f32x4.splat (local.get $b)))
    (block $done8
      (loop $by8
        (br_if $done8 (i32.gt_u (i32.add (local.get $p) (i32.const 32)) (local.get $e)))
        (local.set $d0 (f32x4.sub (v128.load (local.get $p)) (local.get $vb)))
        (local.set $d1 (f32x4.sub (v128.load offset=16 (local.get $p)) (local.get $vb)))
        (local.set $s0 (f32x4.add (local.get $s0) (local.get $d0)))
        (local.set $s1 (f32x4.add (local.get $s1) (local.get $d1)))
        (local.set $q0 (f32x4.add (local.get $q0) (f32x4.mul (local.get $d0) (local.get $d0))))
        (local.set $q1 (f32x4.add (local.get $q1) (f32x4.mul (local.get $d1) (local.get $d1))))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (br $by8)))
    (if (i32.le_u (i32.add (local.get $p) (i32.const 16)) (local.get $e))
      (then
        (local.set $d0 (f32x4.sub (v128.load (local.get $p)) (local.get $vb)))
        (local.set $s0 (f32x4.add (local.get $s0) (local.get $d0)))
        (local.set $q0 (f32x4.add (local.get $q0) (f32x4.mul (local.get $d0) (local.get $d0))))
        (local.set $p (i32.add (local.get $p) (i32.const 16)))))
    (local.set $s (call $hsum (f32x4.add (local.get $s0) (local.get $s1))))
    (local.set $q (call $hsum (f32x4.add (local.get $q0) (local.get $q1))))
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $p) (local.get $e)))
        (local.set $d (f32.sub (f32.load (local.get $p)) (local.get $b)))
        (local.set $s (f32.add (local.get $s) (local.get $d)))
        (local.set $q (f32.add (local.get $q) (f32.mul (local.get $d) (local.get $d))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $by1)))
    (local.get $s)
    (local.get $q))

  ;; sum gy and sum gy*(x - mu)
  (func $piece_dot (param $pg i32) (param $px i32) (param $len i32) (param $mu f32) (result f32 f32)
    (local $e i32) (local $vm v128) (local $g0 v128) (local $g1 v128)
    (local $s0 v128) (local $s1 v128) (local $t0 v128) (local $t1 v128) (local $s f32) (local $t f32) (local $g f32)
    (local.set $e (i32.add (local.get $pg) (i32.shl (local.get $len) (i32.const 2))))
    (local.set $vm (f32x4.splat (local.get $mu)))
    (block $done8
      (loop $by8
        (br_if $done8 (i32.gt_u (i32.add (local.get $pg) (i32.const 32)) (local.get $e)))
        (local.set $g0 (v128.load (local.get $pg)))
        (local.set $g1 (v128.load offset=16 (local.get $pg)))
        (local.set $s0 (f32x4.add (local.get $s0) (local.get $g0)))
        (local.set $s1 (f32x4.add (local.get $s1) (local.get $g1)))
        (local.set $t0 (f32x4.add (local.get $t0)
          (f32x4.mul (local.get $g0) (f32x4.sub (v128.load (local.get $px)) (local.get $vm)))))
        (local.set $t1 (f32x4.add (local.get $t1)
          (f32x4.mul (local.get $g1) (f32x4.sub (v128.load offset=16 (local.get $px)) (local.get $vm)))))
        (local.set $pg (i32.add (local.get $pg) (i32.const 32)))
        (local.set $px (i32.add (local.get $px) (i32.const 32)))
        (br $by8)))
    (if (i32.le_u (i32.add (local.get $pg) (i32.const 16)) (local.get $e))
      (then
        (local.set $g0 (v128.load (local.get $pg)))
        (local.set $s0 (f32x4.add (local.get $s0) (local.get $g0)))
        (local.set $t0 (f32x4.add (local.get $t0)
          (f32x4.mul (local.get $g0) (f32x4.sub (v128.load (local.get $px)) (local.get $vm)))))
        (local.set $pg (i32.add (local.get $pg) (i32.const 16)))
        (local.set $px (i32.add (local.get $px) (i32.const 16)))))
    (local.set $s (call $hsum (f32x4.add (local.get $s0) (local.get $s1))))
    (local.set $t (call $hsum (f32x4.add (local.get $t0) (local.get $t1))))
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $pg) (local.get $e)))
        (local.set $g (f32.load (local.get $pg)))
        (local.set $s (f32.add (local.get $s) (local.get $g)))
        (local.set $t (f32.add (local.get $t)
          (f32.mul (local.get $g) (f32.sub (f32.load (local.get $px)) (local.get $mu)))))
        (local.set $pg (i32.add (local.get $pg) (i32.const 4)))
        (local.set $px (i32.add (local.get $px) (i32.const 4)))
        (br $by1)))
    (local.get $s)
    (local.get $t))

  ;; y = max((x - mu)*a + beta, floor): floor 0 fuses a ReLU (max keeps NaN, turns -0 into +0),
  ;; floor -inf leaves y as it is
  (func $piece_affine (param $px i32) (param $py i32) (param $len i32) (param $mu f32) (param $a f32) (param $beta f32) (param $floor f32)
    (local $e i32) (local $vm v128) (local $va v128) (local $vb v128) (local $vf v128)
    (local.set $e (i32.add (local.get $px) (i32.shl (local.get $len) (i32.const 2))))
    (local.set $vm (f32x4.splat (local.get $mu)))
    (local.set $va (f32x4.splat (local.get $a)))
    (local.set $vb (f32x4.splat (local.get $beta)))
    (local.set $vf (f32x4.splat (local.get $floor)))
    (block $done8
      (loop $by8
        (br_if $done8 (i32.gt_u (i32.add (local.get $px) (i32.const 32)) (local.get $e)))
        (v128.store (local.get $py)
          (f32x4.max (f32x4.add (f32x4.mul (f32x4.sub (v128.load (local.get $px)) (local.get $vm)) (local.get $va)) (local.get $vb)) (local.get $vf)))
        (v128.store offset=16 (local.get $py)
          (f32x4.max (f32x4.add (f32x4.mul (f32x4.sub (v128.load offset=16 (local.get $px)) (local.get $vm)) (local.get $va)) (local.get $vb)) (local.get $vf)))
        (local.set $px (i32.add (local.get $px) (i32.const 32)))
        (local.set $py (i32.add (local.get $py) (i32.const 32)))
        (br $by8)))
    (if (i32.le_u (i32.add (local.get $px) (i32.const 16)) (local.get $e))
      (then
        (v128.store (local.get $py)
          (f32x4.max (f32x4.add (f32x4.mul (f32x4.sub (v128.load (local.get $px)) (local.get $vm)) (local.get $va)) (local.get $vb)) (local.get $vf)))
        (local.set $px (i32.add (local.get $px) (i32.const 16)))
        (local.set $py (i32.add (local.get $py) (i32.const 16)))))
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $px) (local.get $e)))
        (f32.store (local.get $py)
          (f32.max (f32.add (f32.mul (f32.sub (f32.load (local.get $px)) (local.get $mu)) (local.get $a)) (local.get $beta)) (local.get $floor)))
        (local.set $px (i32.add (local.get $px) (i32.const 4)))
        (local.set $py (i32.add (local.get $py) (i32.const 4)))
        (br $by1))))

  ;; gx = p*gy + q*(x - mu) + t
  (func $piece_gx (param $pg i32) (param $px i32) (param $po i32) (param $len i32)
                  (param $p f32) (param $q f32) (param $mu f32) (param $t f32)
    (local $e i32) (local $vp v128) (local $vq v128) (local $vm v128) (local $vt v128)
    (local.set $e (i32.add (local.get $pg) (i32.shl (local.get $len) (i32.const 2))))
    (local.set $vp (f32x4.splat (local.get $p)))
    (local.set $vq (f32x4.splat (local.get $q)))
    (local.set $vm (f32x4.splat (local.get $mu)))
    (local.set $vt (f32x4.splat (local.get $t)))
    (block $done8
      (loop $by8
        (br_if $done8 (i32.gt_u (i32.add (local.get $pg) (i32.const 32)) (local.get $e)))
        (v128.store (local.get $po)
          (f32x4.add (f32x4.add (f32x4.mul (local.get $vp) (v128.load (local.get $pg)))
                                (f32x4.mul (local.get $vq) (f32x4.sub (v128.load (local.get $px)) (local.get $vm))))
                     (local.get $vt)))
        (v128.store offset=16 (local.get $po)
          (f32x4.add (f32x4.add (f32x4.mul (local.get $vp) (v128.load offset=16 (local.get $pg)))
                                (f32x4.mul (local.get $vq) (f32x4.sub (v128.load offset=16 (local.get $px)) (local.get $vm))))
                     (local.get $vt)))
        (local.set $pg (i32.add (local.get $pg) (i32.const 32)))
        (local.set $px (i32.add (local.get $px) (i32.const 32)))
        (local.set $po (i32.add (local.get $po) (i32.const 32)))
        (br $by8)))
    (if (i32.le_u (i32.add (local.get $pg) (i32.const 16)) (local.get $e))
      (then
        (v128.store (local.get $po)
          (f32x4.add (f32x4.add (f32x4.mul (local.get $vp) (v128.load (local.get $pg)))
                                (f32x4.mul (local.get $vq) (f32x4.sub (v128.load (local.get $px)) (local.get $vm))))
                     (local.get $vt)))
        (local.set $pg (i32.add (local.get $pg) (i32.const 16)))
        (local.set $px (i32.add (local.get $px) (i32.const 16)))
        (local.set $po (i32.add (local.get $po) (i32.const 16)))))
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $pg) (local.get $e)))
        (f32.store (local.get $po)
          (f32.add (f32.add (f32.mul (local.get $p) (f32.load (local.get $pg)))
                            (f32.mul (local.get $q) (f32.sub (f32.load (local.get $px)) (local.get $mu))))
                   (local.get $t)))
        (local.set $pg (i32.add (local.get $pg) (i32.const 4)))
        (local.set $px (i32.add (local.get $px) (i32.const 4)))
        (local.set $po (i32.add (local.get $po) (i32.const 4)))
        (br $by1))))

  ;; gx = p*gy
  (func $piece_scale (param $pg i32) (param $po i32) (param $len i32) (param $p f32)
    (local $e i32) (local $vp v128)
    (local.set $e (i32.add (local.get $pg) (i32.shl (local.get $len) (i32.const 2))))
    (local.set $vp (f32x4.splat (local.get $p)))
    (block $done8
      (loop $by8
        (br_if $done8 (i32.gt_u (i32.add (local.get $pg) (i32.const 32)) (local.get $e)))
        (v128.store (local.get $po) (f32x4.mul (local.get $vp) (v128.load (local.get $pg))))
        (v128.store offset=16 (local.get $po) (f32x4.mul (local.get $vp) (v128.load offset=16 (local.get $pg))))
        (local.set $pg (i32.add (local.get $pg) (i32.const 32)))
        (local.set $po (i32.add (local.get $po) (i32.const 32)))
        (br $by8)))
    (if (i32.le_u (i32.add (local.get $pg) (i32.const 16)) (local.get $e))
      (then
        (v128.store (local.get $po) (f32x4.mul (local.get $vp) (v128.load (local.get $pg))))
        (local.set $pg (i32.add (local.get $pg) (i32.const 16)))
        (local.set $po (i32.add (local.get $po) (i32.const 16)))))
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $pg) (local.get $e)))
        (f32.store (local.get $po) (f32.mul (local.get $p) (f32.load (local.get $pg))))
        (local.set $pg (i32.add (local.get $pg) (i32.const 4)))
        (local.set $po (i32.add (local.get $po) (i32.const 4)))
        (br $by1))))

  ;; ---- the same three with a fused ReLU after the BatchNorm ----------------------------------
  ;; The gradient reaching BN's output is g = y > 0 ? gy : 0, where y = (x - mu)*a + beta is
  ;; recomputed here with the forward's own float32 operations, so the mask is the forward's exactly.

  ;; sum g and sum g*(x - mu)
  (func $piece_dot_relu (param $pg i32) (param $px i32) (param $len i32) (param $mu f32) (param $a f32) (param $beta f32)
                        (result f32 f32)
    (local $e i32) (local $vm v128) (local $va v128) (local $vb v128) (local $d0 v128) (local $d1 v128) (local $g0 v128) (local $g1 v128)
    (local $s0 v128) (local $s1 v128) (local $t0 v128) (local $t1 v128) (local $s f32) (local $t f32) (local $d f32) (local $g f32)
    (local.set $e (i32.add (local.get $pg) (i32.shl (local.get $len) (i32.const 2))))
    (local.set $vm (f32x4.splat (local.get $mu)))
    (local.set $va (f32x4.splat (local.get $a)))
    (local.set $vb (f32x4.splat (local.get $beta)))
    (block $done8
      (loop $by8
        (br_if $done8 (i32.gt_u (i32.add (local.get $pg) (i32.const 32)) (local.get $e)))
        (local.set $d0 (f32x4.sub (v128.load (local.get $px)) (local.get $vm)))
        (local.set $d1 (f32x4.sub (v128.load offset=16 (local.get $px)) (local.get $vm)))
        (local.set $g0 (v128.andnot (v128.load (local.get $pg))
          (f32x4.le (f32x4.add (f32x4.mul (local.get $d0) (local.get $va)) (local.get $vb)) (v128.const f32x4 0 0 0 0))))
        (local.set $g1 (v128.andnot (v128.load offset=16 (local.get $pg))
          (f32x4.le (f32x4.add (f32x4.mul (local.get $d1) (local.get $va)) (local.get $vb)) (v128.const f32x4 0 0 0 0))))
        (local.set $s0 (f32x4.add (local.get $s0) (local.get $g0)))
        (local.set $s1 (f32x4.add (local.get $s1) (local.get $g1)))
        (local.set $t0 (f32x4.add (local.get $t0) (f32x4.mul (local.get $g0) (local.get $d0))))
        (local.set $t1 (f32x4.add (local.get $t1) (f32x4.mul (local.get $g1) (local.get $d1))))
        (local.set $pg (i32.add (local.get $pg) (i32.const 32)))
        (local.set $px (i32.add (local.get $px) (i32.const 32)))
        (br $by8)))
    (if (i32.le_u (i32.add (local.get $pg) (i32.const 16)) (local.get $e))
      (then
        (local.set $d0 (f32x4.sub (v128.load (local.get $px)) (local.get $vm)))
        (local.set $g0 (v128.andnot (v128.load (local.get $pg))
          (f32x4.le (f32x4.add (f32x4.mul (local.get $d0) (local.get $va)) (local.get $vb)) (v128.const f32x4 0 0 0 0))))
        (local.set $s0 (f32x4.add (local.get $s0) (local.get $g0)))
        (local.set $t0 (f32x4.add (local.get $t0) (f32x4.mul (local.get $g0) (local.get $d0))))
        (local.set $pg (i32.add (local.get $pg) (i32.const 16)))
        (local.set $px (i32.add (local.get $px) (i32.const 16)))))
    (local.set $s (call $hsum (f32x4.add (local.get $s0) (local.get $s1))))
    (local.set $t (call $hsum (f32x4.add (local.get $t0) (local.get $t1))))
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $pg) (local.get $e)))
        (local.set $d (f32.sub (f32.load (local.get $px)) (local.get $mu)))
        (local.set $g (select (f32.const 0) (f32.load (local.get $pg))
          (f32.le (f32.add (f32.mul (local.get $d) (local.get $a)) (local.get $beta)) (f32.const 0))))
        (local.set $s (f32.add (local.get $s) (local.get $g)))
        (local.set $t (f32.add (local.get $t) (f32.mul (local.get $g) (local.get $d))))
        (local.set $pg (i32.add (local.get $pg) (i32.const 4)))
        (local.set $px (i32.add (local.get $px) (i32.const 4)))
        (br $by1)))
    (local.get $s)
    (local.get $t))

  ;; gx = p*g + q*(x - mu) + t
  (func $piece_gx_relu (param $pg i32) (param $px i32) (param $po i32) (param $len i32)
                       (param $p f32) (param $q f32) (param $mu f32) (param $t f32) (param $a f32) (param $beta f32)
    (local $e i32) (local $vp v128) (local $vq v128) (local $vm v128) (local $vt v128) (local $va v128) (local $vb v128)
    (local $d v128) (local $sd f32)
    (local.set $e (i32.add (local.get $pg) (i32.shl (local.get $len) (i32.const 2))))
    (local.set $vp (f32x4.splat (local.get $p)))
    (local.set $vq (f32x4.splat (local.get $q)))
    (local.set $vm (f32x4.splat (local.get $mu)))
    (local.set $vt (f32x4.splat (local.get $t)))
    (local.set $va (f32x4.splat (local.get $a)))
    (local.set $vb (f32x4.splat (local.get $beta)))
    (block $done4
      (loop $by4
        (br_if $done4 (i32.gt_u (i32.add (local.get $pg) (i32.const 16)) (local.get $e)))
        (local.set $d (f32x4.sub (v128.load (local.get $px)) (local.get $vm)))
        (v128.store (local.get $po)
          (f32x4.add
            (f32x4.add
              (f32x4.mul (local.get $vp)
                (v128.andnot (v128.load (local.get $pg))
                  (f32x4.le (f32x4.add (f32x4.mul (local.get $d) (local.get $va)) (local.get $vb)) (v128.const f32x4 0 0 0 0))))
              (f32x4.mul (local.get $vq) (local.get $d)))
            (local.get $vt)))
        (local.set $pg (i32.add (local.get $pg) (i32.const 16)))
        (local.set $px (i32.add (local.get $px) (i32.const 16)))
        (local.set $po (i32.add (local.get $po) (i32.const 16)))
        (br $by4)))
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $pg) (local.get $e)))
        (local.set $sd (f32.sub (f32.load (local.get $px)) (local.get $mu)))
        (f32.store (local.get $po)
          (f32.add
            (f32.add
              (f32.mul (local.get $p)
                (select (f32.const 0) (f32.load (local.get $pg))
                  (f32.le (f32.add (f32.mul (local.get $sd) (local.get $a)) (local.get $beta)) (f32.const 0))))
              (f32.mul (local.get $q) (local.get $sd)))
            (local.get $t)))
        (local.set $pg (i32.add (local.get $pg) (i32.const 4)))
        (local.set $px (i32.add (local.get $px) (i32.const 4)))
        (local.set $po (i32.add (local.get $po) (i32.const 4)))
        (br $by1))))

  ;; gx = p*g (fixed statistics: x is read only for the mask, so a NaN in x gives gx = 0 there)
  (func $piece_scale_relu (param $pg i32) (param $px i32) (param $po i32) (param $len i32)
                          (param $p f32) (param $mu f32) (param $a f32) (param $beta f32)
    (local $e i32) (local $vp v128) (local $vm v128) (local $va v128) (local $vb v128)
    (local.set $e (i32.add (local.get $pg) (i32.shl (local.get $len) (i32.const 2))))
    (local.set $vp (f32x4.splat (local.get $p)))
    (local.set $vm (f32x4.splat (local.get $mu)))
    (local.set $va (f32x4.splat (local.get $a)))
    (local.set $vb (f32x4.splat (local.get $beta)))
    (block $done4
      (loop $by4
        (br_if $done4 (i32.gt_u (i32.add (local.get $pg) (i32.const 16)) (local.get $e)))
        (v128.store (local.get $po)
          (f32x4.mul (local.get $vp)
            (v128.andnot (v128.load (local.get $pg))
              (f32x4.le (f32x4.add (f32x4.mul (f32x4.sub (v128.load (local.get $px)) (local.get $vm)) (local.get $va)) (local.get $vb))
                        (v128.const f32x4 0 0 0 0)))))
        (local.set $pg (i32.add (local.get $pg) (i32.const 16)))
        (local.set $px (i32.add (local.get $px) (i32.const 16)))
        (local.set $po (i32.add (local.get $po) (i32.const 16)))
        (br $by4)))
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $pg) (local.get $e)))
        (f32.store (local.get $po)
          (f32.mul (local.get $p)
            (select (f32.const 0) (f32.load (local.get $pg))
              (f32.le (f32.add (f32.mul (f32.sub (f32.load (local.get $px)) (local.get $mu)) (local.get $a)) (local.get $beta))
                      (f32.const 0)))))
        (local.set $pg (i32.add (local.get $pg) (i32.const 4)))
        (local.set $px (i32.add (local.get $px) (i32.const 4)))
        (local.set $po (i32.add (local.get $po) (i32.const 4)))
        (br $by1))))

  ;; ---- per channel -----------------------------------------------------------------------------

  ;; Channel c's (sum x, M2) as described at the top. Blocks: g whole runs of S when S < 1024
  ;; (g = floor(1024/S)), else pieces of 1024 of one run. Returns sum x and M2 = sum (x - mu)^2 in f64.
  (func $channel_stats (param $x i32) (param $N i32) (param $C i32) (param $S i32) (param $c i32) (result f64 f64)
    (local $g i32) (local $L i32) (local $n0 i32) (local $n1 i32) (local $n i32) (local $o i32) (local $len i32)
    (local $stride i32) (local $p0 i32) (local $s f64) (local $b f32) (local $sd f64) (local $sq f64)
    (local $nb f64) (local $cnt f64) (local $mean f64) (local $m2 f64) (local $total f64)
    (local $mb f64) (local $m2b f64) (local $delta f64) (local $f f64)
    (local.set $stride (i32.shl (i32.mul (local.get $C) (local.get $S)) (i32.const 2)))
    (if (i32.or (i32.ge_u (local.get $S) (i32.const 1024)) (i32.eqz (local.get $S)))
      (then (local.set $g (i32.const 1)) (local.set $L (i32.const 1024)))
      (else (local.set $g (i32.div_u (i32.const 1024) (local.get $S))) (local.set $L (local.get $S))))
    (local.set $n0 (i32.const 0))
    (block $runs_done
      (loop $runs
        (br_if $runs_done (i32.ge_u (local.get $n0) (local.get $N)))
        (local.set $n1 (i32.add (local.get $n0) (local.get $g)))
        (if (i32.gt_u (local.get $n1) (local.get $N)) (then (local.set $n1 (local.get $N))))
        ;; p0: byte offset of x[n0, c, 0]
        (local.set $p0 (i32.add (local.get $x)
          (i32.shl (i32.mul (i32.add (i32.mul (local.get $n0) (local.get $C)) (local.get $c)) (local.get $S)) (i32.const 2))))
        (local.set $o (i32.const 0))
        (block $pieces_done
          (loop $pieces
            (br_if $pieces_done (i32.ge_u (local.get $o) (local.get $S)))
            (local.set $len (i32.sub (local.get $S) (local.get $o)))
            (if (i32.gt_u (local.get $len) (local.get $L)) (then (local.set $len (local.get $L))))
            ;; sweep 1: the block's sum
            (local.set $s (f64.const 0))
            (local.set $n (local.get $n0))
            (block $d1 (loop $l1
              (br_if $d1 (i32.ge_u (local.get $n) (local.get $n1)))
              (local.set $s (f64.add (local.get $s)
                (f64.promote_f32 (call $piece_sum
                  (i32.add (i32.add (local.get $p0) (i32.mul (i32.sub (local.get $n) (local.get $n0)) (local.get $stride)))
                           (i32.shl (local.get $o) (i32.const 2)))
                  (local.get $len)))))
              (local.set $n (i32.add (local.get $n) (i32.const 1)))
              (br $l1)))
            (local.set $nb (f64.convert_i32_u (i32.mul (i32.sub (local.get $n1) (local.get $n0)) (local.get $len))))
            (local.set $total (f64.add (local.get $total) (local.get $s)))
            (local.set $b (f32.demote_f64 (f64.div (local.get $s) (local.get $nb))))
            ;; sweep 2 (from L1): deviations from the block's rough mean b
            (local.set $sd (f64.const 0))
            (local.set $sq (f64.const 0))
            (local.set $n (local.get $n0))
            (block $d2 (loop $l2
              (br_if $d2 (i32.ge_u (local.get $n) (local.get $n1)))
              (call $piece_dev
                (i32.add (i32.add (local.get $p0) (i32.mul (i32.sub (local.get $n) (local.get $n0)) (local.get $stride)))
                         (i32.shl (local.get $o) (i32.const 2)))
                (local.get $len) (local.get $b))
              (local.set $sq (f64.add (f64.promote_f32) (local.get $sq)))
              (local.set $sd (f64.add (f64.promote_f32) (local.get $sd)))
              (local.set $n (i32.add (local.get $n) (i32.const 1)))
              (br $l2)))
            ;; the block's exact mean and M2, merged into the channel's (cnt, mean, m2)
            (local.set $mb (f64.add (f64.promote_f32 (local.get $b)) (f64.div (local.get $sd) (local.get $nb))))
            (local.set $m2b (f64.sub (local.get $sq) (f64.div (f64.mul (local.get $sd) (local.get $sd)) (local.get $nb))))
            (local.set $delta (f64.sub (local.get $mb) (local.get $mean)))
            (local.set $f (f64.div (local.get $nb) (f64.add (local.get $cnt) (local.get $nb))))
            (local.set $mean (f64.add (local.get $mean) (f64.mul (local.get $delta) (local.get $f))))
            (local.set $m2 (f64.add (local.get $m2)
              (f64.add (local.get $m2b) (f64.mul (f64.mul (local.get $delta) (local.get $delta)) (f64.mul (local.get $cnt) (local.get $f))))))
            (local.set $cnt (f64.add (local.get $cnt) (local.get $nb)))
            (local.set $o (i32.add (local.get $o) (local.get $len)))
            (br $pieces)))
        (local.set $n0 (local.get $n1))
        (br $runs)))
    (local.get $total)
    (local.get $m2))

  ;; Thread tid's channels [c0, c1).
  (func $channels (param $tid i32) (param $nt i32) (param $C i32) (result i32 i32)
    (i32.wrap_i64 (i64.div_u (i64.mul (i64.extend_i32_u (local.get $tid)) (i64.extend_i32_u (local.get $C)))
                             (i64.extend_i32_u (local.get $nt))))
    (i32.wrap_i64 (i64.div_u (i64.mul (i64.extend_i32_u (i32.add (local.get $tid) (i32.const 1))) (i64.extend_i32_u (local.get $C)))
                             (i64.extend_i32_u (local.get $nt)))))

  ;; a_c = gamma_c / sqrt(var_c + eps), worked out in f64 from the stored f32 values, then rounded.
  (func $scale_of (param $gamma i32) (param $var i32) (param $c i32) (param $eps f32) (result f32)
    (f32.demote_f64
      (f64.div (f64.promote_f32 (f32.load (i32.add (local.get $gamma) (i32.shl (local.get $c) (i32.const 2)))))
               (f64.sqrt (f64.add (f64.promote_f32 (f32.load (i32.add (local.get $var) (i32.shl (local.get $c) (i32.const 2)))))
                                  (f64.promote_f32 (local.get $eps)))))))

  ;; y[n, c, :] = max((x - mean_c)*a_c + beta_c, floor) for every n, from the f32 statistics stored at
  ;; mean[c], var[c].
  (func $channel_apply (param $x i32) (param $y i32) (param $mean i32) (param $var i32) (param $gamma i32) (param $beta i32)
                       (param $N i32) (param $C i32) (param $S i32) (param $c i32) (param $eps f32) (param $floor f32)
    (local $n i32) (local $off i32) (local $stride i32) (local $mu f32) (local $a f32) (local $bt f32)
    (local.set $mu (f32.load (i32.add (local.get $mean) (i32.shl (local.get $c) (i32.const 2)))))
    (local.set $a (call $scale_of (local.get $gamma) (local.get $var) (local.get $c) (local.get $eps)))
    (local.set $bt (f32.load (i32.add (local.get $beta) (i32.shl (local.get $c) (i32.const 2)))))
    (local.set $stride (i32.shl (i32.mul (local.get $C) (local.get $S)) (i32.const 2)))
    (local.set $off (i32.shl (i32.mul (local.get $c) (local.get $S)) (i32.const 2)))
    (local.set $n (i32.const 0))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $n) (local.get $N)))
        (call $piece_affine (i32.add (local.get $x) (local.get $off)) (i32.add (local.get $y) (local.get $off))
          (local.get $S) (local.get $mu) (local.get $a) (local.get $bt) (local.get $floor))
        (local.set $off (i32.add (local.get $off) (local.get $stride)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        (br $each))))

  ;; ---- entry points ----------------------------------------------------------------------------

  ;; Batch statistics into mean[c], var[c] (biased), then y. gamma, beta: C floats each (the wrapper passes
  ;; ones / zeros when the module has none). relu = 1 fuses a ReLU: y = max(bn(x), 0).
  (func (export "bn_forward_train") (param $tid i32) (param $nt i32)
        (param $x i32) (param $y i32) (param $mean i32) (param $var i32) (param $gamma i32) (param $beta i32)
        (param $N i32) (param $C i32) (param $S i32) (param $eps f32) (param $relu i32)
    (local $c i32) (local $c1 i32) (local $m f64) (local $sum f64) (local $m2 f64)
    (call $channels (local.get $tid) (local.get $nt) (local.get $C))
    (local.set $c1)
    (local.set $c)
    (local.set $m (f64.convert_i32_u (i32.mul (local.get $N) (local.get $S))))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $c) (local.get $c1)))
        (call $channel_stats (local.get $x) (local.get $N) (local.get $C) (local.get $S) (local.get $c))
        (local.set $m2)
        (local.set $sum)
        (f32.store (i32.add (local.get $mean) (i32.shl (local.get $c) (i32.const 2)))
          (f32.demote_f64 (f64.div (local.get $sum) (local.get $m))))
        ;; max(*, 0): M2 from merged blocks can come out a rounding below 0 for a constant channel
        (f32.store (i32.add (local.get $var) (i32.shl (local.get $c) (i32.const 2)))
          (f32.demote_f64 (f64.max (f64.div (local.get $m2) (local.get $m)) (f64.const 0))))
        (call $channel_apply (local.get $x) (local.get $y) (local.get $mean) (local.get $var) (local.get $gamma) (local.get $beta)
          (local.get $N) (local.get $C) (local.get $S) (local.get $c) (local.get $eps)
          (select (f32.const 0) (f32.const -inf) (local.get $relu)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $each))))

  ;; y from given per-channel statistics (eval mode); relu = 1 fuses a ReLU.
  (func (export "bn_apply") (param $tid i32) (param $nt i32)
        (param $x i32) (param $y i32) (param $mean i32) (param $var i32) (param $gamma i32) (param $beta i32)
        (param $N i32) (param $C i32) (param $S i32) (param $eps f32) (param $relu i32)
    (local $c i32) (local $c1 i32)
    (call $channels (local.get $tid) (local.get $nt) (local.get $C))
    (local.set $c1)
    (local.set $c)
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $c) (local.get $c1)))
        (call $channel_apply (local.get $x) (local.get $y) (local.get $mean) (local.get $var) (local.get $gamma) (local.get $beta)
          (local.get $N) (local.get $C) (local.get $S) (local.get $c) (local.get $eps)
          (select (f32.const 0) (f32.const -inf) (local.get $relu)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $each))))

  ;; The fused backward. Per channel: pass 1 sums sum gy and sum gy*(x - mu) (blocks of <= 1024 folded
  ;; into f64, as the statistics), giving gbeta, ggamma = r*sum gy*(x - mu) and p, q, t; pass 2 writes gx.
  ;; batchStats = 0 (fixed statistics) writes gx = p*gy without reading x, so a NaN in x reaches
  ;; only ggamma, as in the reference. relu = 1: the forward was relu(bn(x)) (bn_forward_train or
  ;; bn_apply with relu = 1, same statistics, gamma and beta) and gy is the gradient of its output;
  ;; gy is masked by y > 0 (y recomputed from x) before everything above.
  (func (export "bn_backward") (param $tid i32) (param $nt i32)
        (param $x i32) (param $gy i32) (param $mean i32) (param $var i32) (param $gamma i32)
        (param $N i32) (param $C i32) (param $S i32) (param $eps f32) (param $batchStats i32)
        (param $gx i32) (param $gGamma i32) (param $gBeta i32) (param $beta i32) (param $relu i32)
    (local $c i32) (local $c1 i32) (local $n i32) (local $o i32) (local $len i32) (local $off i32) (local $stride i32)
    (local $mu f32) (local $sg f64) (local $sgd f64) (local $r f64) (local $gam f64) (local $m f64)
    (local $p f32) (local $q f32) (local $t f32) (local $a f32) (local $bt f32)
    (call $channels (local.get $tid) (local.get $nt) (local.get $C))
    (local.set $c1)
    (local.set $c)
    (local.set $m (f64.convert_i32_u (i32.mul (local.get $N) (local.get $S))))
    (local.set $stride (i32.shl (i32.mul (local.get $C) (local.get $S)) (i32.const 2)))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $c) (local.get $c1)))
        (local.set $mu (f32.load (i32.add (local.get $mean) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $r (f64.div (f64.const 1)
          (f64.sqrt (f64.add (f64.promote_f32 (f32.load (i32.add (local.get $var) (i32.shl (local.get $c) (i32.const 2)))))
                             (f64.promote_f32 (local.get $eps))))))
        (local.set $gam (f64.promote_f32 (f32.load (i32.add (local.get $gamma) (i32.shl (local.get $c) (i32.const 2))))))
        (if (local.get $relu)
          (then
            (local.set $a (call $scale_of (local.get $gamma) (local.get $var) (local.get $c) (local.get $eps)))
            (local.set $bt (f32.load (i32.add (local.get $beta) (i32.shl (local.get $c) (i32.const 2)))))))
        ;; pass 1: pieces of <= 1024 of each run, each folded into f64
        (local.set $sg (f64.const 0))
        (local.set $sgd (f64.const 0))
        (local.set $off (i32.shl (i32.mul (local.get $c) (local.get $S)) (i32.const 2)))
        (local.set $n (i32.const 0))
        (block $runs_done
          (loop $runs
            (br_if $runs_done (i32.ge_u (local.get $n) (local.get $N)))
            (local.set $o (i32.const 0))
            (block $pieces_done
              (loop $pieces
                (br_if $pieces_done (i32.ge_u (local.get $o) (local.get $S)))
                (local.set $len (i32.sub (local.get $S) (local.get $o)))
                (if (i32.gt_u (local.get $len) (i32.const 1024)) (then (local.set $len (i32.const 1024))))
                (if (result f32 f32) (local.get $relu)
                  (then
                    (call $piece_dot_relu
                      (i32.add (i32.add (local.get $gy) (local.get $off)) (i32.shl (local.get $o) (i32.const 2)))
                      (i32.add (i32.add (local.get $x) (local.get $off)) (i32.shl (local.get $o) (i32.const 2)))
                      (local.get $len) (local.get $mu) (local.get $a) (local.get $bt)))
                  (else
                    (call $piece_dot
                      (i32.add (i32.add (local.get $gy) (local.get $off)) (i32.shl (local.get $o) (i32.const 2)))
                      (i32.add (i32.add (local.get $x) (local.get $off)) (i32.shl (local.get $o) (i32.const 2)))
                      (local.get $len) (local.get $mu))))
                (local.set $sgd (f64.add (f64.promote_f32) (local.get $sgd)))
                (local.set $sg (f64.add (f64.promote_f32) (local.get $sg)))
                (local.set $o (i32.add (local.get $o) (local.get $len)))
                (br $pieces)))
            (local.set $off (i32.add (local.get $off) (local.get $stride)))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (br $runs)))
        ;; gbeta = sum gy, ggamma = r*sum gy*(x - mu); A = gamma*gbeta, B = gamma*ggamma; p = r*gamma, q = -r^2B/m, t = -rA/m
        (local.set $sgd (f64.mul (local.get $r) (local.get $sgd)))
        (f32.store (i32.add (local.get $gBeta) (i32.shl (local.get $c) (i32.const 2))) (f32.demote_f64 (local.get $sg)))
        (f32.store (i32.add (local.get $gGamma) (i32.shl (local.get $c) (i32.const 2))) (f32.demote_f64 (local.get $sgd)))
        (local.set $p (f32.demote_f64 (f64.mul (local.get $r) (local.get $gam))))
        (local.set $q (f32.demote_f64 (f64.div (f64.neg (f64.mul (f64.mul (local.get $r) (local.get $r))
                                                                 (f64.mul (local.get $gam) (local.get $sgd))))
                                               (local.get $m))))
        (local.set $t (f32.demote_f64 (f64.div (f64.neg (f64.mul (local.get $r) (f64.mul (local.get $gam) (local.get $sg))))
                                               (local.get $m))))
        ;; pass 2
        (local.set $off (i32.shl (i32.mul (local.get $c) (local.get $S)) (i32.const 2)))
        (local.set $n (i32.const 0))
        (block $out_done
          (loop $out
            (br_if $out_done (i32.ge_u (local.get $n) (local.get $N)))
            (if (local.get $relu)
              (then
                (if (local.get $batchStats)
                  (then
                    (call $piece_gx_relu (i32.add (local.get $gy) (local.get $off)) (i32.add (local.get $x) (local.get $off))
                      (i32.add (local.get $gx) (local.get $off)) (local.get $S)
                      (local.get $p) (local.get $q) (local.get $mu) (local.get $t) (local.get $a) (local.get $bt)))
                  (else
                    (call $piece_scale_relu (i32.add (local.get $gy) (local.get $off)) (i32.add (local.get $x) (local.get $off))
                      (i32.add (local.get $gx) (local.get $off)) (local.get $S)
                      (local.get $p) (local.get $mu) (local.get $a) (local.get $bt)))))
              (else
                (if (local.get $batchStats)
                  (then
                    (call $piece_gx (i32.add (local.get $gy) (local.get $off)) (i32.add (local.get $x) (local.get $off))
                      (i32.add (local.get $gx) (local.get $off)) (local.get $S)
                      (local.get $p) (local.get $q) (local.get $mu) (local.get $t)))
                  (else
                    (call $piece_scale (i32.add (local.get $gy) (local.get $off)) (i32.add (local.get $gx) (local.get $off))
                      (local.get $S) (local.get $p))))))
            (local.set $off (i32.add (local.get $off) (local.get $stride)))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            (br $out)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $each)))))
