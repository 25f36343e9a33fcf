"""PyTorch oracle for pooling (run with /usr/bin/python3).

max_pool2d (with indices; including inputs full of ties, where PyTorch keeps the first maximum
in row-major order), avg_pool2d (count_include_pad, ceil_mode, divisor_override) and
adaptive_avg_pool2d (any output size, None keeps a dim). Each case holds the input, the
output(s), a random upstream gradient gy and the input gradient gx.
"""
import torch
import torch.nn.functional as F

from common import enc, seeded, write_fixture

gen = seeded(77)


def rn(*shape):
    return torch.randn(shape, dtype=torch.float64, generator=gen)


def ties(*shape):
    """Small integers: many equal values per window."""
    return torch.randint(0, 3, shape, generator=gen).double()


def fmt(v):
    if isinstance(v, (list, tuple)):
        return "[" + ",".join("null" if s is None else str(s) for s in v) + "]"
    return str(v)


def finish(name, x, outs, attrs):
    y = outs[0]
    gy = rn(*y.shape)
    (gx,) = torch.autograd.grad(y, [x], gy)
    c = {"name": name, **attrs, "x": enc(x), "y": enc(y), "gy": enc(gy), "gx": enc(gx)}
    if len(outs) > 1:
        c["indices"] = enc(outs[1])
    return c


def max_case(xs, k, s=None, p=0, d=1, ceil=False, tie=False):
    x = (ties(*xs) if tie else rn(*xs)).requires_grad_(True)
    y, idx = F.max_pool2d(x, k, stride=s, padding=p, dilation=d, ceil_mode=ceil, return_indices=True)
    name = f"maxPool2d x={fmt(xs)} k={fmt(k)} s={fmt(s if s is not None else k)} p={fmt(p)} d={fmt(d)}" + \
        (" ceil" if ceil else "") + (" ties" if tie else "")
    attrs = {"op": "max", "kernelSize": k, "stride": s, "padding": p, "dilation": d, "ceilMode": ceil, "ties": tie}
    return finish(name, x, (y, idx), attrs)


def avg_case(xs, k, s=None, p=0, ceil=False, include=True, divisor=None):
    x = rn(*xs).requires_grad_(True)
    y = F.avg_pool2d(x, k, stride=s, padding=p, ceil_mode=ceil, count_include_pad=include, divisor_override=divisor)
    name = f"avgPool2d x={fmt(xs)} k={fmt(k)} s={fmt(s if s is not None else k)} p={fmt(p)}" + \
        (" ceil" if ceil else "") + ("" if include else " excludePad") + (f" divisor={divisor}" if divisor else "")
    attrs = {"op": "avg", "kernelSize": k, "stride": s, "padding": p, "ceilMode": ceil,
             "countIncludePad": include, "divisorOverride": divisor}
    return finish(name, x, (y,), attrs)


def adaptive_case(xs, out):
    x = rn(*xs).requires_grad_(True)
    y = F.adaptive_avg_pool2d(x, out)
    return finish(f"adaptiveAvgPool2d x={fmt(xs)} out={fmt(out)}", x, (y,), {"op": "adaptive", "outputSize": out})


cases = [
    max_case([1, 2, 5, 6], 2),
    max_case([2, 3, 7, 7], 3, 2, 1),
    max_case([1, 2, 12, 12], 3, 2, 1),
    max_case([1, 2, 8, 9], 3, 2, 1, 2),
    max_case([1, 2, 7, 8], [2, 3], [2, 1], [1, 1], 1, True),
    max_case([1, 1, 6, 6], 3, 2, 0, 1, True),
    max_case([1, 2, 5, 5], 3, 2, 1, 1, True),
    max_case([2, 5, 5], 2, 1),
    max_case([1, 2, 6, 6], 3, 1, 1, 1, False, True),
    max_case([2, 2, 7, 5], 2, 2, 1, 2, True, True),
    avg_case([1, 2, 5, 6], 2),
    avg_case([2, 2, 7, 7], 3, 2, 1),
    avg_case([2, 2, 7, 7], 3, 2, 1, include=False),
    avg_case([1, 2, 6, 7], 3, 2, 1, ceil=True),
    avg_case([1, 2, 6, 7], 3, 2, 1, ceil=True, include=False),
    avg_case([1, 3, 5, 8], [2, 3], [1, 2], [1, 1]),
    avg_case([1, 2, 5, 5], 3, 2, 1, divisor=3),
    avg_case([2, 4, 4], 2),
    adaptive_case([1, 2, 7, 9], 1),
    adaptive_case([2, 2, 7, 9], [3, 4]),
    adaptive_case([1, 2, 10, 6], [5, None]),
    adaptive_case([1, 1, 3, 3], 5),
    adaptive_case([1, 2, 7, 7], 7),
    adaptive_case([3, 5, 6], [2, 4]),
]
write_fixture("pool", cases)
