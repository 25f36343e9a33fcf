"""Shared helpers for the PyTorch oracle generators (run with Debian's /usr/bin/python3).

Each generator gen_<family>.py builds cases with torch 1.13 in float64 and writes
test/oracle/fixtures/<family>.json via write_fixture. A case is a dict of named tensors
(inputs, outputs, gradients) plus plain attributes; tensors are {shape, dtype, data}.
"""
import json
import os

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


SAFETENSORS_DTYPES = {torch.float64: "F64", torch.float32: "F32", torch.int64: "I64", torch.int32: "I32"}


def save_safetensors(path, tensors):
    """Write the safetensors format by hand: u64 header length, JSON header, raw little-endian data."""
    import struct
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": SAFETENSORS_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
