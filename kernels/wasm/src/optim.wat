;; optim: one optimizer step over a flat float32 parameter, in place, torch 1.13's single-tensor
;; rules (nn/optim/sgd.ts and adam.ts say the same with tensor ops). With g the gradient:
;;   sgd_step   g <- -g if maximize;  g <- g + wd*theta if wd != 0
;;              momentum: buf <- g on the first step, else momentum*buf + (1 - dampening)*g;
;;                        g <- g + momentum*buf (nesterov) or buf
;;              theta <- theta + (-lr)*g
;;   adam_step  g <- -g if maximize; weight decay: theta <- theta*(1 - lr*wd) (AdamW, decoupled)
;;              or g <- g + wd*theta (Adam)
;;              m <- beta1*m + (1 - beta1)*g;  v <- beta2*v + ((1 - beta2)*g)*g
;;              vmax <- max(vmax, v) and s = vmax with amsgrad, else s = v   (max keeps NaN)
;;              theta <- theta + (m*(-stepSize)) / (sqrt(s)/bc2 + eps)
;;              stepSize = lr/(1 - beta1^t) and bc2 = sqrt(1 - beta2^t) come from the caller.
;; Every product and sum is rounded to f32 where torch's (and our tensor ops') would be; scalars
;; arrive as f32. The flags are loop-invariant, so their branches inside the loop predict
;; perfectly. Four floats at a time, then a scalar loop with the same steps for the last 0..3.
;; Parallel: thread tid takes a contiguous share of whole 16-float blocks (64-byte lines).
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; Thread tid's share [start, end) of n items in blocks of 16.
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


  ;; flags: 1 momentum (buf is read and written), 2 first step (buf <- g), 4 nesterov, 8 maximize,
  ;; 16 weight decay. damp1 = 1 - dampening.
  (func (export "sgd_step") (param $tid i32) (param $nt i32)
        (param $theta i32) (param $grad i32) (param $buf i32) (param $n i32)
        (param $lr f32) (param $momentum f32) (param $damp1 f32) (param $wd f32) (param $flags i32)
    (local $i i32) (local $end i32) (local $o i32)
    (local $vt v128) (local $vg v128) (local $vb v128) (local $nlr v128) (local $mu v128) (local $d1 v128) (local $vwd v128)
    (local $t f32) (local $g f32) (local $b f32)
    (call $share (local.get $tid) (local.get $nt) (local.get $n))
    (local.set $end)
    (local.set $i)
    (local.set $nlr (f32x4.splat (f32.neg (local.get $lr))))
    (local.set $mu (f32x4.splat (local.get $momentum)))
    (local.set $d1 (f32x4.splat (local.get $damp1)))
    (local.set $vwd (f32x4.splat (local.get $wd)))
    (block $done4
      (loop $by4
        (br_if $done4 (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $end)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $vt (v128.load (i32.add (local.get $theta) (local.get $o))))
        (local.set $vg (v128.load (i32.add (local.get $grad) (local.get $o))))
        (if (i32.and (local.get $flags) (i32.const 8)) (then (local.set $vg (f32x4.neg (local.get $vg)))))
        (if (i32.and (local.get $flags) (i32.const 16))
          (then (local.set $vg (f32x4.add (local.get $vg) (f32x4.mul (local.get $vt) (local.get $vwd))))))
        (if (i32.and (local.get $flags) (i32.const 1))
          (then
            (if (i32.and (local.get $flags) (i32.const 2))
              (then (local.set $vb (local.get $vg)))
              (else
                (local.set $vb (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $buf) (local.get $o))) (local.get $mu))
                                          (f32x4.mul (local.get $vg) (local.get $d1))))))
            (v128.store (i32.add (local.get $buf) (local.get $o)) (local.get $vb))
            (if (i32.and (local.get $flags) (i32.const 4))
              (then (local.set $vg (f32x4.add (local.get $vg) (f32x4.mul (local.get $vb) (local.get $mu)))))
              (else (local.set $vg (local.get $vb))))))
        (v128.store (i32.add (local.get $theta) (local.get $o))
          (f32x4.add (local.get $vt) (f32x4.mul (local.get $vg) (local.get $nlr))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $by4)))
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $t (f32.load (i32.add (local.get $theta) (local.get $o))))
        (local.set $g (f32.load (i32.add (local.get $grad) (local.get $o))))
        (if (i32.and (local.get $flags) (i32.const 8)) (then (local.set $g (f32.neg (local.get $g)))))
        (if (i32.and (local.get $flags) (i32.const 16))
          (then (local.set $g (f32.add (local.get $g) (f32.mul (local.get $t) (local.get $wd))))))
        (if (i32.and (local.get $flags) (i32.const 1))
          (then
            (if (i32.and (local.get $flags) (i32.const 2))
              (then (local.set $b (local.get $g)))
              (else
                (local.set $b (f32.add (f32.mul (f32.load (i32.add (local.get $buf) (local.get $o))) (local.get $momentum))
                                       (f32.mul (local.get $g) (local.get $damp1))))))
            (f32.store (i32.add (local.get $buf) (local.get $o)) (local.get $b))
            (if (i32.and (local.get $flags) (i32.const 4))
              (then (local.set $g (f32.add (local.get $g) (f32.mul (local.get $b) (local.get $momentum)))))
              (else (local.set $g (local.get $b))))))
        (f32.store (i32.add (local.get $theta) (local.get $o))
          (f32.add (local.get $t) (f32.mul (local.get $g) (f32.neg (local.get $lr)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $by1))))

  ;; flags: 1 amsgrad (vmax is read and written), 2 decoupled weight decay (AdamW), 4 maximize,
  ;; 16 weight decay. omb1 = 1 - beta1, omb2 = 1 - beta2, decay = 1 - lr*wd.
  (func (export "adam_step") (param $tid i32) (param $nt i32)
        (param $theta i32) (param $grad i32) (param $m i32) (param $v i32) (param $vmax i32) (param $n i32)
        (param $beta1 f32) (param $beta2 f32) (param $omb1 f32) (param $omb2 f32) (param $eps f32)
        (param $wd f32) (param $decay f32) (param $stepSize f32) (param $bc2 f32) (param $flags i32)
    (local $i i32) (local $end i32) (local $o i32)
    (local $vt v128) (local $vg v128) (local $vm v128) (local $vv v128) (local $vs v128)
    (local $b1 v128) (local $b2 v128) (local $o1 v128) (local $o2 v128) (local $ve v128) (local $vwd v128)
    (local $vdec v128) (local $nstep v128) (local $vbc2 v128)
    (local $t f32) (local $g f32) (local $sm f32) (local $sv f32) (local $ss f32)
    (call $share (local.get $tid) (local.get $nt) (local.get $n))
    (local.set $end)
    (local.set $i)
    (local.set $b1 (f32x4.splat (local.get $beta1)))
    (local.set $b2 (f32x4.splat (local.get $beta2)))
    (local.set $o1 (f32x4.splat (local.get $omb1)))
    (local.set $o2 (f32x4.splat (local.get $omb2)))
    (local.set $ve (f32x4.splat (local.get $eps)))
    (local.set $vwd (f32x4.splat (local.get $wd)))
    (local.set $vdec (f32x4.splat (local.get $decay)))
    (local.set $nstep (f32x4.splat (f32.neg (local.get $stepSize))))
    (local.set $vbc2 (f32x4.splat (local.get $bc2)))
    (block $done4
      (loop $by4
        (br_if $done4 (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $end)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $vt (v128.load (i32.add (local.get $theta) (local.get $o))))
        (local.set $vg (v128.load (i32.add (local.get $grad) (local.get $o))))
        (if (i32.and (local.get $flags) (i32.const 4)) (then (local.set $vg (f32x4.neg (local.get $vg)))))
        (if (i32.and (local.get $flags) (i32.const 16))
          (then
            (if (i32.and (local.get $flags) (i32.const 2))
              (then (local.set $vt (f32x4.mul (local.get $vt) (local.get $vdec))))
              (else (local.set $vg (f32x4.add (local.get $vg) (f32x4.mul (local.get $vt) (local.get $vwd))))))))
        (local.set $vm (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $o))) (local.get $b1))
                                  (f32x4.mul (local.get $vg) (local.get $o1))))
        (local.set $vv (f32x4.add (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $o))) (local.get $b2))
                                  (f32x4.mul (f32x4.mul (local.get $vg) (local.get $o2)) (local.get $vg))))
        (v128.store (i32.add (local.get $m) (local.get $o)) (local.get $vm))
        (v128.store (i32.add (local.get $v) (local.get $o)) (local.get $vv))
        (local.set $vs (local.get $vv))
        (if (i32.and (local.get $flags) (i32.const 1))
          (then
            (local.set $vs (f32x4.max (v128.load (i32.add (local.get $vmax) (local.get $o))) (local.get $vv)))
            (v128.store (i32.add (local.get $vmax) (local.get $o)) (local.get $vs))))
        (v128.store (i32.add (local.get $theta) (local.get $o))
          (f32x4.add (local.get $vt)
            (f32x4.div (f32x4.mul (local.get $vm) (local.get $nstep))
                       (f32x4.add (f32x4.div (f32x4.sqrt (local.get $vs)) (local.get $vbc2)) (local.get $ve)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $by4)))
    (block $done1
      (loop $by1
        (br_if $done1 (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $t (f32.load (i32.add (local.get $theta) (local.get $o))))
        (local.set $g (f32.load (i32.add (local.get $grad) (local.get $o))))
        (if (i32.and (local.get $flags) (i32.const 4)) (then (local.set $g (f32.neg (local.get $g)))))
        (if (i32.and (local.get $flags) (i32.const 16))
          (then
            (if (i32.and (local.get $flags) (i32.const 2))
              (then (local.set $t (f32.mul (local.get $t) (local.get $decay))))
              (else (local.set $g (f32.add (local.get $g) (f32.mul (local.get $t) (local.get $wd))))))))
        (local.set $sm (f32.add (f32.mul (f32.load (i32.add (local.get $m) (local.get $o))) (local.get $beta1))
                                (f32.mul (local.get $g) (local.get $omb1))))
        (local.set $sv (f32.add (f32.mul (f32.load (i32.add (local.get $v) (local.get $o))) (local.get $beta2))
                                (f32.mul (f32.mul (local.get $g) (local.get $omb2)) (local.get $g))))
        (f32.store (i32.add (local.get $m) (local.get $o)) (local.get $sm))
        (f32.store (i32.add (local.get $v) (local.get $o)) (local.get $sv))
        (local.set $ss (local.get $sv))
        (if (i32.and (local.get $flags) (i32.const 1))
          (then
            (local.set $ss (f32.max (f32.load (i32.add (local.get $vmax) (local.get $o))) (local.get $sv)))
            (f32.store (i32.add (local.get $vmax) (local.get $o)) (local.get $ss))))
        (f32.store (i32.add (local.get $theta) (local.get $o))
          (f32.add (local.get $t)
            (f32.div (f32.mul (local.get $sm) (f32.neg (local.get $stepSize)))
                     (f32.add (f32.div (f32.sqrt (local.get $ss)) (local.get $bc2)) (local.get $eps)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $by1)))))
