"""PyTorch oracle for the tensor core and autograd ops (run with /usr/bin/python3).

Each case: an op name and attributes, its inputs, the output, a random upstream gradient
`gout` and the gradient of every float input (torch.autograd with gout). Inputs live on the
domain where the op is smooth (positive for log/sqrt/pow/div denominators, no ties for
max/maximum/relu kinks), so the same cases also serve our float64 gradcheck; "kink" cases
sit exactly on ties and zeros, where only torch's choice of subgradient can be compared.
"nograd" cases (dtype promotion, int32 true division, comparisons, argmax) keep their input
dtypes and record only the output.
"""
import torch

from common import enc, fmt, seeded, write_fixture

gen = seeded(1234)


def rn(*shape):
    return torch.randn(shape, dtype=torch.float64, generator=gen)


def pos(*shape):
    """Positive values in [0.5, 2): safe for log, sqrt, pow bases and denominators."""
    return 0.5 + 1.5 * torch.rand(shape, dtype=torch.float64, generator=gen)


BINARY = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
    "pow": torch.pow, "maximum": torch.maximum, "minimum": torch.minimum,
    # resgrad's fused residual join; torch composes it
    "addRelu": lambda a, b: torch.relu(torch.add(a, b)),
}
UNARY = {
    "neg": torch.neg, "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "abs": torch.abs,
    "relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "sign": torch.sign,
    "square": torch.square,
}


def reduce_op(op, x, a):
    dim, keepdim = a.get("dim"), a.get("keepdim", False)
    if op == "sum":
        return x.sum() if dim is None else x.sum(dim, keepdim=keepdim)
    if op == "mean":
        return x.mean() if dim is None else x.mean(dim, keepdim=keepdim)
    if op in ("max", "min"):
        f = torch.amax if op == "max" else torch.amin
        return f(x) if dim is None else f(x, dim, keepdim=keepdim)
    if op == "std":
        return x.std() if dim is None else x.std(dim, keepdim=keepdim)
    if op == "var":
        unbiased = a.get("unbiased", True)
        return x.var(unbiased=unbiased) if dim is None else x.var(dim, unbiased=unbiased, keepdim=keepdim)
    raise ValueError(op)


def view_op(op, x, a):
    if a.get("permuteFirst") is not None:
        x = x.permute(*a["permuteFirst"])
    if op == "view":
        return x.view(*a["shape"])
    if op == "reshape":
        return x.reshape(*a["shape"])
    if op == "flatten":
        return x.flatten(a["startDim"], a["endDim"])
    if op == "permute":
        return x.permute(*a["dims"])
    if op == "transpose":
        return x.transpose(a["dim0"], a["dim1"])
    if op == "t":
        return x.t()
    if op == "expand":
        return x.expand(*a["shape"])
    if op == "expandAs":
        return x.expand_as(torch.empty(a["shape"]))
    if op == "squeeze":
        return x.squeeze() if a.get("dim") is None else x.squeeze(a["dim"])
    if op == "unsqueeze":
        return x.unsqueeze(a["dim"])
    if op == "slice":
        idx = [slice(None)] * x.dim()
        idx[a["dim"]] = slice(a["start"], a["end"], a["step"])
        return x[tuple(idx)]
    if op == "narrow":
        return x.narrow(a["dim"], a["start"], a["length"])
    if op == "select":
        return x.select(a["dim"], a["index"])
    if op == "contiguous":
        return x.contiguous()
    if op == "clone":
        return x.clone()
    if op == "toDtype":
        return x.float().double()
    raise ValueError(op)


def forward(op, xs, a):
    if op in BINARY:
        other = a["scalar"] if "scalar" in a else xs[1]
        return BINARY[op](xs[0], other)
    if op in UNARY:
        return UNARY[op](xs[0])
    if op == "where":
        return torch.where(xs[0].bool(), xs[1], xs[2])
    if op in ("sum", "mean", "max", "min", "var", "std"):
        return reduce_op(op, xs[0], a)
    if op == "matmul":
        return torch.matmul(xs[0], xs[1])
    if op in ("eq", "ne", "lt", "le", "gt", "ge"):
        return getattr(torch, op)(xs[0], xs[1]).int()
    if op in ("argmax", "argmin"):
        f = torch.argmax if op == "argmax" else torch.argmin
        return f(xs[0]) if a.get("dim") is None else f(xs[0], a["dim"], keepdim=a.get("keepdim", False))
    if op == "softmax":
        return torch.softmax(xs[0], a["dim"])
    if op == "logSoftmax":
        return torch.log_softmax(xs[0], a["dim"])
    if op == "cat":
        return torch.cat(xs, a["dim"])
    if op == "stack":
        return torch.stack(xs, a["dim"])
    if op == "gather":
        return torch.gather(xs[0], a["dim"], xs[1].long())
    if op == "indexSelect":
        return torch.index_select(xs[0], a["dim"], xs[1].long())
    return view_op(op, xs[0], a)


cases = []


def case(name, op, inputs, kink=False, **attrs):
    """Run op on inputs (float ones require grad), back-propagate a random gout, record all."""
    xs = [x.clone().requires_grad_(x.is_floating_point()) for x in inputs]
    out = forward(op, xs, attrs)
    gout = rn(*out.shape)
    grads = torch.autograd.grad(out, [x for x in xs if x.requires_grad], gout)
    it = iter(grads)
    cases.append({
        "name": name, "op": op, "attrs": attrs,
        "inputs": [enc(x) for x in xs], "out": enc(out), "gout": enc(gout),
        "grads": [enc(next(it)) if x.requires_grad else None for x in xs],
        **({"kink": True} if kink else {}),
    })


def nograd(name, op, inputs, **attrs):
    """A case whose point is the value and dtype of the output: inputs keep their dtypes."""
    out = forward(op, inputs, attrs)
    cases.append({"name": name, "op": op, "attrs": attrs, "nograd": True,
                  "inputs": [enc(x) for x in inputs], "out": enc(out)})


# ---- binary ops with broadcasting --------------------------------------------------------
for op in ["add", "sub", "mul", "maximum", "minimum"]:
    case(f"{op} a=[2,3] b=[2,3]", op, [rn(2, 3), rn(2, 3)])
    case(f"{op} a=[2,1,4] b=[3,1]", op, [rn(2, 1, 4), rn(3, 1)])
    case(f"{op} a=[4] b=[3,1]", op, [rn(4), rn(3, 1)])
case("add a=[2,3] b=[]", "add", [rn(2, 3), rn()])
case("add a=[2,3] scalar=1.5", "add", [rn(2, 3)], scalar=1.5)
case("mul a=[3,2] scalar=-2", "mul", [rn(3, 2)], scalar=-2)
case("div a=[2,3] b=[2,3]", "div", [rn(2, 3), pos(2, 3)])
case("div a=[2,1,4] b=[3,1]", "div", [rn(2, 1, 4), -pos(3, 1)])
case("div a=[3] scalar=4", "div", [rn(3)], scalar=4)
case("pow a=[2,3] b=[2,3]", "pow", [pos(2, 3), rn(2, 3)])
case("pow a=[2,1,3] b=[4,1]", "pow", [pos(2, 1, 3), rn(4, 1)])
case("pow a=[2,3] scalar=3", "pow", [rn(2, 3)], scalar=3)
case("pow a=[5] scalar=0.5", "pow", [pos(5)], scalar=0.5)
case("where c=[2,3] a=[2,3] b=[3]", "where", [(rn(2, 3) > 0).int(), rn(2, 3), rn(3)])
case("where c=[3,1] a=[1,4] b=[3,4]", "where", [(rn(3, 1) > 0).int(), rn(1, 4), rn(3, 4)])

# ---- unary ops ---------------------------------------------------------------------------
for op in UNARY:
    x = pos(2, 3, 2) if op in ("log", "sqrt") else rn(2, 3, 2)
    case(f"{op} x=[2,3,2]", op, [x])

# ---- reductions --------------------------------------------------------------------------
for op in ["sum", "mean", "max", "min"]:
    case(f"{op} x=[3,4] all", op, [rn(3, 4)])
    case(f"{op} x=[2,3,4] dim=1", op, [rn(2, 3, 4)], dim=1)
    case(f"{op} x=[2,3,4] dim=[0,2] keepdim", op, [rn(2, 3, 4)], dim=[0, 2], keepdim=True)
    case(f"{op} x=[2,3,4] dim=-1 keepdim", op, [rn(2, 3, 4)], dim=-1, keepdim=True)
case("std x=[3,4] all", "std", [rn(3, 4)])
case("std x=[2,3,4] dim=2 keepdim", "std", [rn(2, 3, 4)], dim=2, keepdim=True)
case("var x=[3,4] all unbiased", "var", [rn(3, 4)])
case("var x=[2,3,4] dim=1 unbiased", "var", [rn(2, 3, 4)], dim=1, unbiased=True)
case("var x=[2,3,4] dim=[0,2] biased keepdim", "var", [rn(2, 3, 4)], dim=[0, 2], unbiased=False, keepdim=True)

# ---- matmul (1-D, 2-D, batched, broadcast batch) -----------------------------------------
case("matmul a=[4] b=[4]", "matmul", [rn(4), rn(4)])
case("matmul a=[4] b=[4,3]", "matmul", [rn(4), rn(4, 3)])
case("matmul a=[3,4] b=[4]", "matmul", [rn(3, 4), rn(4)])
case("matmul a=[3,4] b=[4,5]", "matmul", [rn(3, 4), rn(4, 5)])
case("matmul a=[2,3,4] b=[2,4,5]", "matmul", [rn(2, 3, 4), rn(2, 4, 5)])
case("matmul a=[2,3,4] b=[4,2]", "matmul", [rn(2, 3, 4), rn(4, 2)])
case("matmul a=[2,1,3,4] b=[3,4,2]", "matmul", [rn(2, 1, 3, 4), rn(3, 4, 2)])
case("matmul a=[4] b=[2,4,3]", "matmul", [rn(4), rn(2, 4, 3)])

# ---- softmax -----------------------------------------------------------------------------
case("softmax x=[3,5] dim=1", "softmax", [rn(3, 5)], dim=1)
case("softmax x=[2,3,4] dim=0", "softmax", [rn(2, 3, 4)], dim=0)
case("logSoftmax x=[3,5] dim=-1", "logSoftmax", [rn(3, 5)], dim=-1)
case("logSoftmax x=[2,3,4] dim=1", "logSoftmax", [rn(2, 3, 4)], dim=1)
case("softmax x=[] dim=0", "softmax", [rn()], dim=0)
case("logSoftmax x=[] dim=-1", "logSoftmax", [rn()], dim=-1)

# ---- joining and indexing ----------------------------------------------------------------
case("cat xs=[2,3],[2,1],[2,2] dim=1", "cat", [rn(2, 3), rn(2, 1), rn(2, 2)], dim=1)
case("cat xs=[1,3],[2,3] dim=0", "cat", [rn(1, 3), rn(2, 3)], dim=0)
case("stack xs=[2,3]x3 dim=1", "stack", [rn(2, 3), rn(2, 3), rn(2, 3)], dim=1)
case("stack xs=[3]x2 dim=-1", "stack", [rn(3), rn(3)], dim=-1)
case("gather x=[3,4] dim=1 index=[3,2]", "gather", [rn(3, 4), torch.tensor([[0, 3], [1, 1], [2, 0]]).int()], dim=1)
case("gather x=[3,4] dim=0 index=[2,4]", "gather", [rn(3, 4), torch.tensor([[2, 0, 1, 2], [0, 0, 2, 1]]).int()], dim=0)
case("indexSelect x=[4,3] dim=0 index=[5]", "indexSelect", [rn(4, 3), torch.tensor([3, 0, 3, 1, 3]).int()], dim=0)
case("indexSelect x=[2,4,3] dim=1 index=[2]", "indexSelect", [rn(2, 4, 3), torch.tensor([2, 1]).int()], dim=1)

# ---- views -------------------------------------------------------------------------------
case("view x=[2,3,4] shape=[6,4]", "view", [rn(2, 3, 4)], shape=[6, 4])
case("view x=[2,3,4] shape=[-1,2]", "view", [rn(2, 3, 4)], shape=[-1, 2])
case("reshape x=[2,3,4] shape=[4,6]", "reshape", [rn(2, 3, 4)], shape=[4, 6])
case("reshape permuted x=[2,3,4] perm=[2,0,1] shape=[4,6]", "reshape", [rn(2, 3, 4)], permuteFirst=[2, 0, 1], shape=[4, 6])
case("flatten x=[2,3,4,2] start=1 end=2", "flatten", [rn(2, 3, 4, 2)], startDim=1, endDim=2)
case("flatten permuted x=[2,3,4] perm=[1,0,2] start=0 end=-1", "flatten", [rn(2, 3, 4)], permuteFirst=[1, 0, 2], startDim=0, endDim=-1)
case("permute x=[2,3,4] dims=[2,0,1]", "permute", [rn(2, 3, 4)], dims=[2, 0, 1])
case("transpose x=[2,3,4] dim0=0 dim1=-1", "transpose", [rn(2, 3, 4)], dim0=0, dim1=-1)
case("t x=[3,4]", "t", [rn(3, 4)])
case("expandAs x=[2,1] other=[3,2,4]", "expandAs", [rn(2, 1)], shape=[3, 2, 4])
case("expand x=[3,1] shape=[2,3,4]", "expand", [rn(3, 1)], shape=[2, 3, 4])
case("expand x=[1,3] shape=[4,-1]", "expand", [rn(1, 3)], shape=[4, -1])
case("squeeze x=[2,1,3,1] all", "squeeze", [rn(2, 1, 3, 1)])
case("squeeze x=[2,1,3,1] dim=1", "squeeze", [rn(2, 1, 3, 1)], dim=1)
case("unsqueeze x=[2,3] dim=1", "unsqueeze", [rn(2, 3)], dim=1)
case("unsqueeze x=[2,3] dim=-1", "unsqueeze", [rn(2, 3)], dim=-1)
case("slice x=[4,7] dim=1 start=1 end=6 step=2", "slice", [rn(4, 7)], dim=1, start=1, end=6, step=2)
case("slice x=[5,3] dim=0 start=-4 end=5 step=3", "slice", [rn(5, 3)], dim=0, start=-4, end=5, step=3)
case("slice permuted x=[3,6] perm=[1,0] dim=0 start=0 end=6 step=2", "slice", [rn(3, 6)], permuteFirst=[1, 0], dim=0, start=0, end=6, step=2)
case("narrow x=[3,5] dim=1 start=1 length=3", "narrow", [rn(3, 5)], dim=1, start=1, length=3)
case("select x=[3,4,2] dim=1 index=2", "select", [rn(3, 4, 2)], dim=1, index=2)
case("select x=[3,4] dim=0 index=-1", "select", [rn(3, 4)], dim=0, index=-1)
case("contiguous permuted x=[2,3,4] perm=[1,2,0]", "contiguous", [rn(2, 3, 4)], permuteFirst=[1, 2, 0])
case("clone x=[2,3]", "clone", [rn(2, 3)])
case("toDtype x=[2,3] float64->float32->float64", "toDtype", [rn(2, 3)])

# ---- kinks: ties and zeros, where torch picks a subgradient (no gradcheck) ----------------
case("maximum ties a=[4] b=[4]", "maximum", [torch.tensor([1.0, 2.0, 3.0, -1.0], dtype=torch.float64), torch.tensor([1.0, 5.0, 0.0, -1.0], dtype=torch.float64)], kink=True)
case("minimum ties a=[2,2] b=[2]", "minimum", [torch.tensor([[1.0, 2.0], [0.0, 2.0]], dtype=torch.float64), torch.tensor([1.0, 2.0], dtype=torch.float64)], kink=True)
ties = torch.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], dtype=torch.float64)
case("max ties x=[2,3] dim=1 (gradient shared evenly, as amax)", "max", [ties], kink=True, dim=1)
case("max ties x=[2,3] all", "max", [ties], kink=True)
case("min ties x=[2,3] dim=0 keepdim", "min", [ties], kink=True, dim=0, keepdim=True)
zero_mid = torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64)
for op in ["relu", "abs", "sign"]:
    case(f"{op} at zero x=[3]", op, [zero_mid], kink=True)
case("pow base zero a=[3] b=[3]", "pow", [torch.tensor([0.0, 0.5, 2.0], dtype=torch.float64), torch.tensor([1.5, 2.0, 0.5], dtype=torch.float64)], kink=True)

# ---- dtype promotion, comparisons, argmax (no gradients) --------------------------------
nograd("promote add float32[2,3]+float64[3]", "add", [rn(2, 3).float(), rn(3)])
nograd("promote mul float64[3]*float32[2,3]", "mul", [rn(3), rn(2, 3).float()])
nograd("promote add int32[3]+float32[3]", "add", [torch.tensor([1, -2, 3]).int(), rn(3).float()])
nograd("promote 0-d: add float32[2,3]+float64[] stays float32", "add", [rn(2, 3).float(), rn()])
nograd("promote 0-d: mul float64[]*float32[3] stays float32", "mul", [rn(), rn(3).float()])
nograd("promote 0-d: add int32[3]+float64[] is float64", "add", [torch.tensor([1, -2, 3]).int(), rn()])
nograd("promote 0-d: add float32[]+float64[] is float64", "add", [rn().float(), rn()])
nograd("true division int32[5]/int32[5]", "div", [torch.tensor([7, -7, 5, 0, 9]).int(), torch.tensor([2, 2, -3, 4, 3]).int()])
# comparisons happen in the promoted dtype: float64 0.1 equals float32 0.1 only once rounded
tenth = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
nograd("eq float32[3] vs float64[] (compared in float32)", "eq", [tenth.float(), tenth[0].clone()])
nograd("eq float32[3] vs float64[3] (compared in float64)", "eq", [tenth.float(), tenth])
for op in ["eq", "ne", "lt", "le", "gt", "ge"]:
    a = torch.tensor([[1.0, 2.0, 3.0], [0.5, 2.0, -1.0]], dtype=torch.float64)
    nograd(f"{op} a=[2,3] b=[3]", op, [a, torch.tensor([1.0, 2.0, -1.0], dtype=torch.float64)])
nograd("argmax x=[3,4] all", "argmax", [rn(3, 4)])
nograd("argmax x=[2,3,4] dim=1", "argmax", [rn(2, 3, 4)], dim=1)
nograd("argmin x=[2,3,4] dim=-1 keepdim", "argmin", [rn(2, 3, 4)], dim=-1, keepdim=True)
nograd("argmax ties x=[2,4] dim=1 (first index)", "argmax",
       [torch.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]], dtype=torch.float64)], dim=1)

# ---- addRelu (relu(a + b) in one op), appended last so the cases above keep their values ----
case("addRelu a=[2,3] b=[2,3]", "addRelu", [rn(2, 3), rn(2, 3)])
case("addRelu a=[2,1,4] b=[3,1]", "addRelu", [rn(2, 1, 4), rn(3, 1)])
case("addRelu a=[3] scalar=0.25", "addRelu", [rn(3)], scalar=0.25)
case("addRelu at zero a=[4] b=[4]", "addRelu", [torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64),
                                                torch.tensor([-1.0, 1.0, -0.5, -1.0], dtype=torch.float64)], kink=True)

write_fixture("core", cases)
