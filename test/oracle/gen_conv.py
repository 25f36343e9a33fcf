"""PyTorch oracle for conv2d (run with /usr/bin/python3).

Each case: x, weight, bias (or absent), the attributes (stride, padding, dilation, groups),
the output y, a random upstream gradient gy and the gradients gx, gw, gb from torch.autograd.
The grid covers stride 1/2 and asymmetric, padding 0/1/3, [h, w] pairs, 'same' (odd and even
kernels) and 'valid', dilation 1/2, kernels 1/3/5/7 and 3x5, groups 1/2/4/32, depthwise x1/x2,
non-square inputs, batch 1 and 3, an unbatched input and bias on/off.
"""
import torch
import torch.nn.functional as F

from common import enc, fmt, seeded, write_fixture

gen = seeded(2024)


def rn(*shape):
    return torch.randn(shape, dtype=torch.float64, generator=gen)


def fmt_arg(v):
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        return fmt(v)
    return str(v)


# (x shape, w shape, stride, padding, dilation, groups, bias)
GRID = [
    ([1, 2, 5, 6], [3, 2, 3, 3], 1, 0, 1, 1, True),
    ([3, 2, 5, 5], [2, 2, 3, 3], 1, 1, 1, 1, True),
    ([2, 3, 7, 6], [4, 3, 3, 3], 2, 1, 1, 1, True),
    ([1, 2, 9, 8], [2, 2, 3, 3], 1, 3, 2, 1, True),
    ([2, 4, 7, 9], [6, 2, 3, 3], 2, 1, 2, 2, True),
    ([1, 3, 6, 5], [2, 3, 1, 1], 1, 0, 1, 1, True),
    ([2, 4, 6, 6], [4, 4, 1, 1], 2, 0, 1, 1, False),
    ([1, 4, 3, 5], [6, 2, 1, 1], 1, 0, 1, 2, True),
    ([1, 2, 8, 7], [3, 2, 5, 5], 1, 2, 1, 1, True),
    ([1, 2, 9, 10], [2, 2, 7, 7], 2, 3, 1, 1, True),
    ([1, 1, 3, 3], [1, 1, 7, 7], 1, 3, 1, 1, True),
    ([2, 2, 6, 8], [3, 2, 3, 5], 1, [1, 2], 1, 1, True),
    ([1, 3, 7, 7], [2, 3, 3, 3], [2, 1], [0, 1], [1, 2], 1, True),
    ([1, 2, 8, 6], [2, 2, 3, 5], [1, 2], [3, 0], [2, 1], 1, False),
    ([1, 8, 5, 5], [8, 2, 3, 3], 1, 1, 1, 4, True),
    ([3, 4, 5, 5], [4, 2, 3, 3], 2, 0, 1, 2, False),
    ([1, 64, 4, 4], [64, 2, 3, 3], 1, 1, 1, 32, True),
    ([1, 32, 3, 4], [32, 1, 3, 3], 1, 1, 1, 32, False),
    ([2, 3, 5, 6], [3, 1, 3, 3], 1, 1, 1, 3, True),
    ([1, 4, 6, 5], [8, 1, 3, 3], 2, 1, 1, 4, True),
    ([1, 3, 6, 7], [6, 1, 5, 5], 1, 2, 2, 3, True),
    ([1, 2, 6, 7], [3, 2, 4, 4], 1, "same", 1, 1, True),
    ([1, 2, 7, 6], [2, 2, 3, 2], 1, "same", 2, 1, True),
    ([1, 2, 5, 6], [3, 2, 3, 3], 1, "valid", 1, 1, False),
    ([2, 5, 6], [3, 2, 3, 3], 1, 1, 1, 1, True),
]


def case(xs, ws, stride, padding, dilation, groups, bias):
    x = rn(*xs).requires_grad_(True)
    w = rn(*ws).requires_grad_(True)
    b = rn(ws[0]).requires_grad_(True) if bias else None
    y = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    gy = rn(*y.shape)
    grads = torch.autograd.grad(y, [x, w] + ([b] if bias else []), gy)
    name = (f"conv2d x={fmt(xs)} w={fmt(ws)} s={fmt_arg(stride)} p={fmt_arg(padding)} "
            f"d={fmt_arg(dilation)} g={groups}" + ("" if bias else " nobias"))
    c = {"name": name, "stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
         "x": enc(x), "w": enc(w), "y": enc(y), "gy": enc(gy), "gx": enc(grads[0]), "gw": enc(grads[1])}
    if bias:
        c["b"] = enc(b)
        c["gb"] = enc(grads[2])
    return c


write_fixture("conv", [case(*g) for g in GRID])
