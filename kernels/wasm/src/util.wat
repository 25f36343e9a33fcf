;; util: parallel fill, copy and NaN search over the shared memory, the smallest useful parallel kernels.
;; Every parallel entry point takes (tid, nt) first and does thread tid's share of the work.
;; Shares are whole 64-byte cache lines (16 floats), so two threads never write the same line.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; [start, end) of thread tid's share of n items, cut into nt runs of whole blocks of `block`
  ;; items: per = ceil(ceil(n / block) / nt) * block, start = min(n, tid * per), end = min(n, start + per).
  ;; Returns start and end packed as (start, end) through two results.
  (func $share (param $tid i32) (param $nt i32) (param $n i32) (param $block i32) (result i32 i32)
    (local $blocks i32) (local $per i32) (local $start i32) (local $end i32)
    (local.set $blocks (i32.div_u (i32.add (local.get $n) (i32.sub (local.get $block) (i32.const 1)))
                                  (local.get $block)))
    (local.set $per (i32.mul (i32.div_u (i32.add (local.get $blocks) (i32.sub (local.get $nt) (i32.const 1)))
                                        (local.get $nt))
                             (local.get $block)))
    (local.set $start (i32.mul (local.get $tid) (local.get $per)))
    (if (i32.gt_u (local.get $start) (local.get $n)) (then (local.set $start (local.get $n))))
    (local.set $end (i32.add (local.get $start) (local.get $per)))
    (if (i32.gt_u (local.get $end) (local.get $n)) (then (local.set $end (local.get $n))))
    (local.get $start)
    (local.get $end))

  ;; util_fill: dst[i] = value for i in [0, count) (f32 elements; dst is a byte offset, any alignment).
  (func (export "util_fill") (param $tid i32) (param $nt i32) (param $dst i32) (param $count i32) (param $value f32)
    (local $i i32) (local $end i32) (local $v v128)
    (call $share (local.get $tid) (local.get $nt) (local.get $count) (i32.const 16))
    (local.set $end)
    (local.set $i)
    (local.set $v (f32x4.splat (local.get $value)))
    ;; four lanes at a time while at least four remain, then one at a time
    (block $done4
      (loop $four
        (br_if $done4 (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $end)))
        (v128.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2))) (local.get $v))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $four)))
    (block $done1
      (loop $one
        (br_if $done1 (i32.ge_u (local.get $i) (local.get $end)))
        (f32.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 2))) (local.get $value))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $one))))

  ;; util_copy: dst[0 .. bytes) = src[0 .. bytes), byte offsets; the two ranges must not overlap
  ;; (each thread copies its own slice, so an overlapping move could read bytes another thread
  ;; already overwrote).
  (func (export "util_copy") (param $tid i32) (param $nt i32) (param $dst i32) (param $src i32) (param $bytes i32)
    (local $start i32) (local $end i32)
    (call $share (local.get $tid) (local.get $nt) (local.get $bytes) (i32.const 64))
    (local.set $end)
    (local.set $start)
    (memory.copy (i32.add (local.get $dst) (local.get $start))
                 (i32.add (local.get $src) (local.get $start))
                 (i32.sub (local.get $end) (local.get $start))))

  ;; util_find_nan: flags[tid] (an i32 at byte offset flags + 4·tid) = 1 if thread tid's share of
  ;; x[0 .. n) (f32, byte offset x) holds a NaN, else 0. NaN is the one value unequal to itself, so
  ;; the lanes of (v != v) are or-ed together: one compare and one or per four floats.
  (func (export "util_find_nan") (param $tid i32) (param $nt i32) (param $x i32) (param $n i32) (param $flags i32)
    (local $i i32) (local $end i32) (local $acc v128) (local $v v128) (local $s f32) (local $any i32)
    (call $share (local.get $tid) (local.get $nt) (local.get $n) (i32.const 16))
    (local.set $end)
    (local.set $i)
    (block $done4
      (loop $four
        (br_if $done4 (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $end)))
        (local.set $v (v128.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $acc (v128.or (local.get $acc) (f32x4.ne (local.get $v) (local.get $v))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $four)))
    (local.set $any (v128.any_true (local.get $acc)))
    (block $done1
      (loop $one
        (br_if $done1 (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $s (f32.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2)))))
        (local.set $any (i32.or (local.get $any) (f32.ne (local.get $s) (local.get $s))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $one)))
    (i32.store (i32.add (local.get $flags) (i32.shl (local.get $tid) (i32.const 2))) (local.get $any)))
)
