"""PyTorch oracle for conv2d output sizes (run with /usr/bin/python3).

For each (input size, kernel, stride, padding, dilation) along one axis, the spatial size of
torch.nn.functional.conv2d's output on an input of that height and width (zeros; only the shape
matters), or "error" where torch refuses (the output would be empty). Includes dilation > 1 with
stride and padding, where dropping the dilation term changes the answer.
"""
import itertools

import torch
import torch.nn.functional as F

from common import write_fixture

cases = []
for size, k, s, p, d in itertools.product([1, 5, 7, 8, 13], [1, 2, 3, 5], [1, 2, 3], [0, 1, 2], [1, 2, 3]):
    x = torch.zeros(1, 1, size, size, dtype=torch.float64)
    w = torch.zeros(1, 1, k, k, dtype=torch.float64)
    try:
        out = F.conv2d(x, w, stride=s, padding=p, dilation=d).shape[-1]
    except RuntimeError:
        out = "error"
    cases.append({"name": f"in={size} k={k} s={s} p={p} d={d}", "inSize": size, "kernel": k,
                  "stride": s, "padding": p, "dilation": d, "out": out})

write_fixture("conv_arith", cases)
