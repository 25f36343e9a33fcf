"""Oracle for safetensors loading (run with Debian's /usr/bin/python3, torch 1.13).

Writes fixtures/io_torch.safetensors by hand (struct + json, as the safetensors package may be
missing): 8-byte little-endian header length, JSON header, then the raw little-endian bytes of
each torch tensor. Tensors cover the dtypes a torchvision checkpoint brings (F32, F64, and I64
num_batches_tracked) plus I32, F16, BF16, U8, BOOL and an empty tensor. fixtures/io.json holds
the expected values (float64 / int) and the metadata.
"""
import json
import os
import struct

import torch

from common import FIXTURES, enc, seeded, write_fixture

gen = seeded(0)
DTYPE = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
         torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL"}

tensors = {
    "conv1.weight": torch.randn(2, 3, 2, 2, generator=gen),
    "fc.weight": torch.randn(3, 4, dtype=torch.float64, generator=gen),
    "bn1.num_batches_tracked": torch.tensor(7),
    "index": torch.tensor([-3, 0, 5, 2147483647, -2147483648]),
    "labels": torch.tensor([1, 0, 9, 4], dtype=torch.int32),
    # half: normals, a subnormal (2^-24), the largest half, infinities and a signed zero
    "half": torch.tensor([1.5, -0.333, 2.0 ** -24, 65504.0, float("inf"), float("-inf"), -0.0], dtype=torch.float16),
    "bf16": torch.randn(5, generator=gen).to(torch.bfloat16),
    "bytes": torch.tensor([0, 1, 128, 255], dtype=torch.uint8),
    "mask": torch.tensor([True, False, True]),
    "empty": torch.zeros(0, 3),
}


def raw_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


header = {"__metadata__": {"format": "pt", "source": "gen_io.py"}}
blobs = []
offset = 0
for name in sorted(tensors):  # the reference writer also orders the data region
    b = raw_bytes(tensors[name])
    header[name] = {"dtype": DTYPE[tensors[name].dtype], "shape": list(tensors[name].shape),
                    "data_offsets": [offset, offset + len(b)]}
    blobs.append(b)
    offset += len(b)
text = json.dumps(header).encode("utf-8")
text += b" " * ((8 - (len(text) + 8) % 8) % 8)
path = os.path.join(FIXTURES, "io_torch.safetensors")
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(text)))
    f.write(text)
    for b in blobs:
        f.write(b)
print(f"wrote {path}: {os.path.getsize(path)} bytes")


def finite_json(e):
    # JSON has no infinities: write them as the strings "Infinity" / "-Infinity" (Number() reads them)
    e["data"] = [v if v == v and abs(v) != float("inf") else ("Infinity" if v > 0 else "-Infinity") for v in e["data"]]
    return e


def expected(t):
    if t.dtype in (torch.float16, torch.bfloat16):
        return finite_json(enc(t.to(torch.float64)))
    if t.dtype in (torch.uint8, torch.bool):
        return enc(t.to(torch.int32))
    return enc(t)


write_fixture("io", [{
    "name": "io_torch.safetensors",
    "file": "io_torch.safetensors",
    "metadata": header["__metadata__"],
    "dtypes": {k: DTYPE[v.dtype] for k, v in tensors.items()},
    "tensors": {k: expected(v) for k, v in tensors.items()},
}])
