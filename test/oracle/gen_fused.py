"""PyTorch oracle for resgrad's fused ops (run with /usr/bin/python3); torch composes each of them.

conv2dRelu: y = relu(conv2d(x, w, b)), with a random upstream gradient gy and the gradients
gx, gw, gb. Values sit away from ReLU's kink (|conv| > 1e-3) so the float64 gradcheck can
use the same cases.

convBn: y = relu?(batch_norm(conv2d(x, w, b), running stats, γ, β, eval)) — what the folded
convolution of nn/fuse.ts must give — and gx for a random gy (the parameters are frozen there,
the input may still need a gradient).
"""
import torch
import torch.nn.functional as F

from common import enc, fmt, seeded, write_fixture

gen = seeded(4321)


def rn(*shape):
    return torch.randn(shape, dtype=torch.float64, generator=gen)


cases = []

# (x shape, w shape, stride, padding, dilation, groups, bias)
CONV_RELU = [
    ([2, 3, 6, 7], [4, 3, 3, 3], 1, 1, 1, 1, True),
    ([1, 4, 7, 5], [6, 2, 3, 3], 2, 1, 1, 2, False),
    ([2, 3, 5, 5], [3, 1, 3, 3], 1, 1, 1, 3, True),
    ([1, 2, 8, 6], [3, 2, 1, 1], 1, 0, 1, 1, True),
    ([1, 2, 9, 8], [2, 2, 3, 3], 1, 2, 2, 1, True),
    ([3, 5, 4], [4, 3, 2, 2], 1, 0, 1, 1, True),
]


def away_from_kink(y):
    """|y| >= 1e-3 everywhere (a case is redrawn until it is)."""
    return bool((y.abs() >= 1e-3).all())


for xs, ws, stride, padding, dilation, groups, bias in CONV_RELU:
    while True:
        x = rn(*xs).requires_grad_(True)
        w = rn(*ws).requires_grad_(True)
        b = rn(ws[0]).requires_grad_(True) if bias else None
        pre = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
        if away_from_kink(pre):
            break
    y = torch.relu(pre)
    gy = rn(*y.shape)
    grads = torch.autograd.grad(y, [x, w] + ([b] if bias else []), gy)
    c = {"name": f"conv2dRelu x={fmt(xs)} w={fmt(ws)} s={stride} p={padding} d={dilation} g={groups}" + ("" if bias else " nobias"),
         "kind": "conv2dRelu", "stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
         "x": enc(x), "w": enc(w), "y": enc(y), "gy": enc(gy), "gx": enc(grads[0]), "gw": enc(grads[1])}
    if bias:
        c["b"] = enc(b)
        c["gb"] = enc(grads[2])
    cases.append(c)

# (x shape, w shape, stride, padding, groups, conv bias, affine, relu, eps)
CONV_BN = [
    ([2, 3, 6, 7], [4, 3, 3, 3], 1, 1, 1, False, True, True, 1e-5),
    ([1, 4, 8, 8], [8, 4, 1, 1], 2, 0, 1, True, True, False, 1e-5),
    ([2, 4, 5, 6], [4, 1, 3, 3], 1, 1, 4, False, True, True, 1e-3),
    ([1, 8, 6, 6], [8, 2, 3, 3], 1, 1, 4, True, False, True, 1e-5),
    ([1, 16, 10, 10], [16, 16, 3, 3], 1, 1, 1, False, True, True, 1e-5),
]
for xs, ws, stride, padding, groups, bias, affine, relu, eps in CONV_BN:
    o = ws[0]
    x = rn(*xs).requires_grad_(True)
    w = rn(*ws)
    b = rn(o) if bias else None
    mean, var = 0.5 * rn(o), 0.5 + torch.rand(o, dtype=torch.float64, generator=gen)
    gamma, beta = (0.5 + torch.rand(o, dtype=torch.float64, generator=gen), 0.3 * rn(o)) if affine else (None, None)
    z = F.batch_norm(F.conv2d(x, w, b, stride=stride, padding=padding, groups=groups), mean, var, gamma, beta, training=False, eps=eps)
    y = torch.relu(z) if relu else z
    gy = rn(*y.shape)
    (gx,) = torch.autograd.grad(y, [x], gy)
    c = {"name": f"convBn x={fmt(xs)} w={fmt(ws)} s={stride} p={padding} g={groups}" + (" bias" if bias else "")
             + ("" if affine else " noaffine") + (" relu" if relu else "") + f" eps={eps}",
         "kind": "convBn", "stride": stride, "padding": padding, "groups": groups, "relu": relu, "eps": eps,
         "x": enc(x), "w": enc(w), "mean": enc(mean), "var": enc(var), "y": enc(y), "gy": enc(gy), "gx": enc(gx)}
    if bias:
        c["b"] = enc(b)
    if affine:
        c["gamma"] = enc(gamma)
        c["beta"] = enc(beta)
    cases.append(c)

# batchNormRelu: y = relu(batch_norm(x, ...)) in training (batch statistics; the running ones
# updated) and in eval, with gradients for x, γ and β. Values are kept off ReLU's kink.
# (x shape, training, affine, eps, momentum)
BN_RELU = [
    ([4, 3, 5, 6], True, True, 1e-5, 0.1),
    ([2, 5, 7, 3], True, False, 1e-3, 0.3),
    ([3, 4, 6], True, True, 1e-5, 0.1),
    ([2, 3, 4, 5], False, True, 1e-5, 0.1),
    ([8, 6], True, True, 1e-5, 0.1),
]
for xs, training, affine, eps, momentum in BN_RELU:
    c_ = xs[1]
    while True:
        x = rn(*xs).requires_grad_(True)
        gamma = (0.5 + torch.rand(c_, dtype=torch.float64, generator=gen)).requires_grad_(True) if affine else None
        beta = (0.3 * rn(c_)).requires_grad_(True) if affine else None
        mean0, var0 = 0.3 * rn(c_), 0.5 + torch.rand(c_, dtype=torch.float64, generator=gen)
        rm, rv = mean0.clone(), var0.clone()
        z = F.batch_norm(x, rm, rv, gamma, beta, training=training, momentum=momentum, eps=eps)
        if away_from_kink(z):
            break
    y = torch.relu(z)
    gy = rn(*y.shape)
    leaves = [x] + ([gamma, beta] if affine else [])
    grads = torch.autograd.grad(y, leaves, gy)
    c = {"name": f"batchNormRelu x={fmt(xs)} {'train' if training else 'eval'}" + ("" if affine else " noaffine") + f" eps={eps} momentum={momentum}",
         "kind": "bnRelu", "training": training, "eps": eps, "momentum": momentum,
         "x": enc(x), "mean0": enc(mean0), "var0": enc(var0), "y": enc(y), "gy": enc(gy), "gx": enc(grads[0]),
         "mean1": enc(rm), "var1": enc(rv)}
    if affine:
        c.update({"gamma": enc(gamma), "beta": enc(beta), "ggamma": enc(grads[1]), "gbeta": enc(grads[2])})
    cases.append(c)

write_fixture("fused", cases)
