"""PyTorch oracle for non-finite inputs (run with /usr/bin/python3; torch 1.13).

Writes test/reliability/fixtures/nonfinite.json: small float64 cases with Inf, -Inf and NaN
planted in the inputs of convolution (forward and the three gradients), matmul, pooling, the
norms, relu and add, with torch's outputs. Non-finite numbers are stored as the strings "NaN",
"Infinity" and "-Infinity" (JSON has no literal for them).

float64 is torch's reference path here: its convolution is always the correlation of the
zero-padded input (im2col + GEMM), so padding zeros meet a non-finite weight or output gradient
(0 * Inf = NaN). Some float32 CPU paths of torch (the depthwise kernel, NNPACK at batch >= 16)
skip the padding instead and give +-Inf or finite numbers there; resgrad follows the float64 path.
"""
import json
import math
import os

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "nonfinite.json")
INF = math.inf
NAN = math.nan
gen = torch.Generator().manual_seed(14)


def num(v):
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def enc(t):
    t = t.detach().contiguous()
    dtype = "int32" if t.dtype in (torch.int64, torch.int32) else "float64"
    return {"shape": list(t.shape), "dtype": dtype, "data": [num(float(v)) for v in t.reshape(-1).tolist()]}


def rn(*shape):
    return torch.randn(shape, dtype=torch.float64, generator=gen)


def planted(t, spots):
    t = t.clone()
    for idx, v in spots:
        t[idx] = v
    return t


def grads(y, inputs, gy):
    gs = torch.autograd.grad(y, inputs, gy, allow_unused=True)
    return [torch.zeros_like(i) if g is None else g for i, g in zip(inputs, gs)]


cases = []


# ---- convolution: y, and dx, dw, db for an upstream gradient gy ----------------------------------

def conv(name, x, w, b, gy, stride=1, padding=0, dilation=1, groups=1):
    x = x.requires_grad_()
    w = w.requires_grad_()
    b = b.requires_grad_() if b is not None else None
    y = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)
    if callable(gy):
        gy = gy(y.shape)
    ins = [x, w] + ([b] if b is not None else [])
    g = grads(y, ins, gy)
    c = {"name": name, "kind": "conv", "stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
         "x": enc(x), "w": enc(w), "y": enc(y), "gy": enc(gy), "dx": enc(g[0]), "dw": enc(g[1])}
    if b is not None:
        c["b"] = enc(b)
        c["db"] = enc(g[2])
    cases.append(c)


conv("conv x planted at corners and inside, p=1",
     planted(rn(2, 3, 5, 6), [((0, 0, 0, 0), INF), ((1, 2, 4, 5), -INF), ((1, 0, 2, 3), NAN)]), rn(4, 3, 3, 3), rn(4), lambda s: rn(*s), padding=1)
conv("conv weight planted (meets the padding), p=1",
     rn(2, 3, 5, 6), planted(rn(4, 3, 3, 3), [((1, 0, 0, 0), INF), ((3, 2, 2, 2), NAN), ((0, 1, 1, 2), -INF)]), rn(4), lambda s: rn(*s), padding=1)
conv("conv gy planted at corners (dW meets the padding), p=1",
     rn(2, 3, 5, 6), rn(4, 3, 3, 3), rn(4), lambda s: planted(rn(*s), [((0, 1, 0, 0), INF), ((1, 3, 4, 5), -INF), ((1, 0, 2, 2), NAN)]), padding=1)
conv("conv bias planted",
     rn(1, 2, 4, 4), rn(3, 2, 3, 3), planted(rn(3), [((1,), INF), ((2,), NAN)]), lambda s: rn(*s), padding=0)
conv("conv s=2 d=2 p=2 g=2, x and gy planted",
     planted(rn(2, 4, 7, 8), [((0, 1, 6, 7), INF), ((1, 3, 0, 4), NAN)]), rn(6, 2, 3, 3), None,
     lambda s: planted(rn(*s), [((1, 5, 0, 0), -INF)]), stride=2, padding=2, dilation=2, groups=2)
conv("conv depthwise g=3 m=2, weight planted, p=1",
     rn(2, 3, 5, 5), planted(rn(6, 1, 3, 3), [((2, 0, 0, 0), INF), ((5, 0, 1, 1), NAN)]), rn(6), lambda s: rn(*s), padding=1, groups=3)
conv("conv depthwise g=3, x and gy planted, s=2 p=1",
     planted(rn(1, 3, 6, 7), [((0, 2, 0, 6), INF), ((0, 0, 5, 0), NAN)]), rn(3, 1, 3, 3), None,
     lambda s: planted(rn(*s), [((0, 1, 0, 0), -INF)]), stride=2, padding=1, groups=3)
conv("conv 3x3 s=1 p=1 (Winograd's), x planted at the last row and column",
     planted(rn(1, 4, 7, 9), [((0, 0, 6, 8), INF), ((0, 3, 3, 0), -INF)]), rn(5, 4, 3, 3), rn(5), lambda s: rn(*s), padding=1)
conv("conv 1x1, x and gy planted",
     planted(rn(2, 3, 3, 5), [((1, 1, 2, 4), NAN)]), rn(4, 3, 1, 1), rn(4), lambda s: planted(rn(*s), [((0, 2, 0, 1), INF)]))


# ---- matmul ----------------------------------------------------------------------------------

a = planted(rn(5, 7), [((0, 3), INF), ((4, 6), -INF), ((2, 3), INF)])
b = planted(rn(7, 6), [((2, 5), NAN), ((3, 1), 0.0)])  # Inf · 0 = NaN at C[2, 1]
cases.append({"name": "matmul a=[5,7] b=[7,6], Inf meets a 0", "kind": "matmul", "a": enc(a), "b": enc(b), "c": enc(a @ b)})


# ---- pooling ---------------------------------------------------------------------------------

def pool(name, kind, x, gy_spots=(), **kw):
    x = x.requires_grad_()
    if kind == "max":
        y, idx = F.max_pool2d(x, return_indices=True, **kw)
    elif kind == "avg":
        y = F.avg_pool2d(x, **kw)
    else:
        y = F.adaptive_avg_pool2d(x, kw["output_size"])
    gy = planted(rn(*y.shape), gy_spots)
    (gx,) = grads(y, [x], gy)
    c = {"name": name, "kind": kind, "x": enc(x), "y": enc(y), "gy": enc(gy), "gx": enc(gx)}
    c.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()})
    if kind == "max":
        c["indices"] = enc(idx)
    cases.append(c)


xp = planted(rn(1, 2, 5, 6), [((0, 0, 0, 0), NAN), ((0, 0, 2, 3), INF), ((0, 1, 4, 5), -INF), ((0, 1, 1, 1), NAN), ((0, 1, 1, 2), INF)])
pool("max k=3 s=2 p=1, NaN/Inf/-Inf in windows", "max", xp, kernel_size=3, stride=2, padding=1)
pool("max k=2 s=2 ceil, gy planted", "max", xp, gy_spots=[((0, 1, 0, 0), INF)], kernel_size=2, stride=2, ceil_mode=True)
pool("max k=2 s=1 p=1 on all -Inf (a window of padding and -Inf)", "max", torch.full((1, 1, 2, 3), -INF, dtype=torch.float64), kernel_size=2, stride=1, padding=1)
pool("max k=3 s=1 d=2, NaN", "max", planted(rn(1, 1, 6, 6), [((0, 0, 5, 5), NAN), ((0, 0, 2, 2), -INF)]), kernel_size=3, stride=1, dilation=2)
pool("avg k=3 s=2 p=1 countIncludePad", "avg", xp, gy_spots=[((0, 0, 2, 2), -INF)], kernel_size=3, stride=2, padding=1, count_include_pad=True)
pool("avg k=3 s=2 p=1 ceil, no pad count", "avg", xp, gy_spots=[((0, 1, 0, 2), NAN)], kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
pool("adaptive avg [5,6] -> [3,4]", "adaptive", xp, gy_spots=[((0, 0, 1, 1), INF)], output_size=(3, 4))


# ---- normalisation ---------------------------------------------------------------------------

def norm(name, axes, x, gy, weight=None, bias=None, groups=1, running=None):
    """axes: batch (train, or eval with running=(mean, var)), layer (last dim), instance, group."""
    x = x.requires_grad_()
    w = weight.requires_grad_() if weight is not None else None
    b = bias.requires_grad_() if bias is not None else None
    eps = 1e-5
    if axes == "batch":
        if running is not None:
            y = F.batch_norm(x, running[0], running[1], w, b, training=False, eps=eps)
        else:
            y = F.batch_norm(x, None, None, w, b, training=True, eps=eps)
    elif axes == "layer":
        y = F.layer_norm(x, x.shape[-1:], w, b, eps=eps)
    elif axes == "instance":
        y = F.instance_norm(x, weight=w, bias=b, eps=eps)
    else:
        y = F.group_norm(x, groups, w, b, eps=eps)
    ins = [x] + [t for t in (w, b) if t is not None]
    g = grads(y, ins, gy)
    c = {"name": name, "kind": "norm", "axes": axes, "groups": groups, "eps": eps, "x": enc(x), "gy": enc(gy), "y": enc(y), "gx": enc(g[0])}
    k = 1
    if w is not None:
        c["weight"] = enc(w)
        c["gweight"] = enc(g[k])
        k += 1
    if b is not None:
        c["bias"] = enc(b)
        c["gbias"] = enc(g[k])
    if running is not None:
        c["runningMean"] = enc(running[0])
        c["runningVar"] = enc(running[1])
    cases.append(c)


norm("batch train, x planted in channels 1 and 3", "batch", planted(rn(3, 4, 5), [((0, 1, 2), INF), ((2, 3, 4), NAN)]), rn(3, 4, 5), rn(4), rn(4))
norm("batch train, gy planted", "batch", rn(2, 3, 4), planted(rn(2, 3, 4), [((1, 2, 3), -INF)]), rn(3), rn(3))
norm("batch train, bias planted", "batch", rn(2, 3, 4), rn(2, 3, 4), rn(3), planted(rn(3), [((1,), INF)]))
norm("batch eval, running mean/var planted", "batch", rn(2, 4, 3), rn(2, 4, 3), rn(4), rn(4),
     running=(planted(rn(4), [((0,), INF)]), planted(rn(4).abs() + 0.5, [((2,), INF), ((3,), NAN)])))
norm("batch eval, x NaN and gy Inf (gx stays in its element)", "batch", planted(rn(2, 3, 4), [((0, 1, 2), NAN)]),
     planted(rn(2, 3, 4), [((1, 0, 0), INF)]), rn(3), rn(3), running=(rn(3), rn(3).abs() + 0.5))
norm("layer, x planted in row 1", "layer", planted(rn(3, 5), [((1, 2), INF)]), rn(3, 5), rn(5), rn(5))
norm("layer, weight planted", "layer", rn(3, 5), rn(3, 5), planted(rn(5), [((3,), INF)]), rn(5))
norm("layer, gy planted", "layer", rn(3, 5), planted(rn(3, 5), [((2, 0), NAN)]), rn(5), None)
norm("instance, x planted", "instance", planted(rn(2, 3, 5), [((1, 2, 0), -INF)]), rn(2, 3, 5), rn(3), rn(3))
norm("group G=3, x and gy planted", "group", planted(rn(2, 6, 3), [((0, 2, 1), INF)]), planted(rn(2, 6, 3), [((1, 5, 2), NAN)]), rn(6), rn(6), groups=3)


# ---- elementwise -----------------------------------------------------------------------------

x = torch.tensor([NAN, INF, -INF, 0.0, -0.0, 1.5, -2.0], dtype=torch.float64, requires_grad=True)
y = F.relu(x)
gy = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, NAN, INF], dtype=torch.float64)
(gx,) = grads(y, [x], gy)
cases.append({"name": "relu and its backward", "kind": "relu", "x": enc(x), "y": enc(y), "gy": enc(gy), "gx": enc(gx)})
a = torch.tensor([INF, INF, NAN, -INF, 1.0, INF], dtype=torch.float64)
b = torch.tensor([-INF, INF, 1.0, 2.0, -INF, 0.0], dtype=torch.float64)
cases.append({"name": "add", "kind": "add", "a": enc(a), "b": enc(b), "c": enc(a + b)})


# ---- reductions and softmax (rows mixing NaN, Inf, -Inf; a row of -Inf; Inf with Inf) --------------

x = torch.tensor([[1.0, NAN, 3.0, INF], [-INF, -5.0, NAN, NAN], [2.0, 2.0, 1.0, 0.0], [1.0, 3.0, INF, 2.0],
                  [-INF, 0.0, 1.0, -INF], [-INF, -INF, -INF, -INF], [INF, INF, 0.0, -1.0], [INF, -INF, 1.0, 0.5]], dtype=torch.float64)
cases.append({"name": "reductions along dim 1 (sum, max, min, prod, argmax, argmin) and softmax, logSoftmax", "kind": "rows", "x": enc(x),
              "sum": enc(x.sum(1, keepdim=True)), "max": enc(x.max(1, keepdim=True).values), "min": enc(x.min(1, keepdim=True).values),
              "prod": enc(x.prod(1, keepdim=True)), "argmax": enc(x.argmax(1, keepdim=True)), "argmin": enc(x.argmin(1, keepdim=True)),
              "softmax": enc(x.softmax(1)), "logSoftmax": enc(x.log_softmax(1))})

os.makedirs(os.path.dirname(OUT), exist_ok=True)
doc = {"generator": "test/reliability/gen_nonfinite.py", "torch": torch.__version__, "cases": cases}
tmp = OUT + ".tmp"
with open(tmp, "w") as f:
    json.dump(doc, f, separators=(",", ":"), allow_nan=False)
os.replace(tmp, OUT)
print(f"wrote {OUT}: {len(cases)} cases, {os.path.getsize(OUT) / 1e3:.1f} kB")
