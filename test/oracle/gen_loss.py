"""PyTorch oracle for relu, log_softmax, linear, nll_loss and cross_entropy (run with /usr/bin/python3).

Each case: the op and its options, float64 inputs (int targets as int32), the output, a random
upstream gradient gout of the output's shape and the gradient of every float input.
Class-index targets include ignore_index entries; cross_entropy covers label smoothing with
and without class weights, class-probability targets and K-dimensional inputs.
"""
import torch
import torch.nn.functional as F

from common import enc, fmt, seeded, write_fixture

gen = seeded(99)


def rn(*shape):
    return torch.randn(shape, dtype=torch.float64, generator=gen)


def grads(name, out, inputs, attrs, extra):
    gout = rn(*out.shape)
    wanted = {k: v for k, v in inputs.items() if v.requires_grad}
    gs = torch.autograd.grad(out, list(wanted.values()), gout)
    c = {"name": name, **attrs, "out": enc(out), "gout": enc(gout)}
    for k, v in inputs.items():
        c[k] = enc(v)
    for k, g in zip(wanted, gs):
        c["g" + k] = enc(g)
    c.update(extra)
    return c


def linear_case(xs, out_f, bias):
    x = rn(*xs).requires_grad_(True)
    w = rn(out_f, xs[-1]).requires_grad_(True)
    inputs = {"x": x, "w": w}
    if bias:
        inputs["b"] = rn(out_f).requires_grad_(True)
    y = F.linear(x, w, inputs.get("b"))
    name = f"linear x={fmt(xs)} w={fmt(list(w.shape))}" + ("" if bias else " nobias")
    return grads(name, y, inputs, {"op": "linear"}, {})


def targets(shape, c, ignore):
    t = torch.randint(0, c, shape, generator=gen)
    if ignore is not None:
        t.view(-1)[::3] = ignore
    return t


def loss_case(op, xs, reduction="mean", weight=False, ignore=None, smoothing=0.0, prob=False):
    cdim = 0 if len(xs) == 1 else 1
    c = xs[cdim]
    x = rn(*xs).requires_grad_(True)
    tshape = [s for d, s in enumerate(xs) if d != cdim]
    inputs = {"x": x}
    kw = {"reduction": reduction}
    if prob:
        target = torch.softmax(rn(*xs), cdim)
    else:
        target = targets(tshape, c, ignore)
        if ignore is not None:
            kw["ignore_index"] = ignore
    if weight:
        inputs["weight"] = (0.5 + torch.rand(c, dtype=torch.float64, generator=gen))
    if op == "nllLoss":
        out = F.nll_loss(x, target, weight=inputs.get("weight"), **kw)
    else:
        out = F.cross_entropy(x, target, weight=inputs.get("weight"), label_smoothing=smoothing, **kw)
    name = f"{op} x={fmt(xs)} {reduction}" + (" weight" if weight else "") + \
        (f" ignore={ignore}" if ignore is not None else "") + (f" smoothing={smoothing}" if smoothing else "") + \
        (" probTarget" if prob else "")
    attrs = {"op": op, "reduction": reduction, "ignoreIndex": ignore, "labelSmoothing": smoothing}
    return grads(name, out, inputs, attrs, {"target": enc(target)})


def unary_case(op, xs, dim=None):
    x = rn(*xs).requires_grad_(True)
    y = torch.relu(x) if op == "relu" else torch.log_softmax(x, dim)
    name = f"{op} x={fmt(xs)}" + ("" if dim is None else f" dim={dim}")
    return grads(name, y, {"x": x}, {"op": op, "dim": dim}, {})


cases = [
    unary_case("relu", [3, 7]),
    unary_case("logSoftmax", [4, 5], 1),
    unary_case("logSoftmax", [2, 3, 4], -1),
    unary_case("logSoftmax", [2, 3, 4], 0),
    linear_case([3, 5], 4, True),
    linear_case([2, 3, 5], 4, False),
    linear_case([5], 3, True),
]
for red in ("mean", "sum", "none"):
    cases += [
        loss_case("nllLoss", [6, 4], red),
        loss_case("nllLoss", [6, 4], red, weight=True, ignore=-100),
        loss_case("nllLoss", [2, 3, 2, 2], red, weight=True, ignore=1),
        loss_case("crossEntropy", [6, 5], red),
        loss_case("crossEntropy", [6, 5], red, weight=True, ignore=2),
        loss_case("crossEntropy", [6, 5], red, ignore=-100, smoothing=0.1),
        loss_case("crossEntropy", [6, 5], red, weight=True, ignore=0, smoothing=0.2),
        loss_case("crossEntropy", [2, 4, 3], red, smoothing=0.3),
        loss_case("crossEntropy", [4, 5], red, prob=True),
        loss_case("crossEntropy", [4, 5], red, weight=True, smoothing=0.25, prob=True),
    ]
cases += [
    loss_case("nllLoss", [5], "mean"),
    loss_case("crossEntropy", [5], "none", weight=True, smoothing=0.1),
    loss_case("crossEntropy", [2, 3, 2, 2], "mean", weight=True, ignore=1, smoothing=0.1),
]
write_fixture("loss", cases)
