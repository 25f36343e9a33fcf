"""Shared helpers for the PyTorch oracle generators (run with Debian's /usr/bin/python3).

Each generator gen_<family>.py builds cases with torch 1.13 in float64 and writes
test/oracle/fixtures/<family>.json via write_fixture. A case is a dict of named tensors
(inputs, outputs, gradients) plus plain attributes; tensors are {shape, dtype, data}.
"""
import json
import os
import sys

import torch

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def enc(t):
    """A tensor as {shape, dtype, data} with data flattened row-major."""
    t = t.detach().contiguous()
    dtype = {torch.float64: "float64", torch.float32: "float32", torch.int64: "int32",
             torch.int32: "int32", torch.bool: "int32"}[t.dtype]
    data = t.reshape(-1).tolist()
    if t.dtype == torch.bool:
        data = [int(v) for v in data]
    return {"shape": list(t.shape), "dtype": dtype, "data": data}


def fmt(shape):
    """A shape as case names write it: [2,3,5]."""
    return "[" + ",".join(str(s) for s in shape) + "]"


def seeded(seed):
    g = torch.Generator().manual_seed(seed)
    return g


def randn(shape, gen, requires_grad=True):
    return torch.randn(shape, dtype=torch.float64, generator=gen).requires_grad_(requires_grad)


def write_fixture(family, cases):
    os.makedirs(FIXTURES, exist_ok=True)
    path = os.path.join(FIXTURES, f"{family}.json")
    doc = {"generator": f"test/oracle/gen_{family}.py", "torch": torch.__version__, "cases": cases}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    os.replace(tmp, path)
    print(f"wrote {path}: {len(cases)} cases, {os.path.getsize(path) / 1e3:.1f} kB")


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from pth2safetensors import save_safetensors  # noqa: E402,F401  (one writer for tests and users)
