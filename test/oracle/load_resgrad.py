"""The other direction of the torchvision parity test: weights that resgrad saved with
io.saveSafetensors load into torchvision's model of the same name (or the CIFAR nets of
cifar_ref.py) with load_state_dict(strict=True), and the loaded model's eval logits are written
out for the test to compare. Needs only Debian's python3-torch and python3-torchvision: the
safetensors file is read here (8-byte little-endian header size, JSON header, raw bytes).

  /usr/bin/python3 test/oracle/load_resgrad.py MANIFEST.json

The manifest lists cases: {"model": "resnet18" | "cifarResNet20" | "cifarPlain20" | ...,
"shortcut": "A" | "B", "num_classes": int, "in_channels": int, "weights": path,
"input": path (a safetensors file holding "x"), "output": path (gets "logits")}. The model runs
in float64 (the float32 weights convert exactly), so the logits carry no float32 rounding of
torch's own."""
import json
import re
import struct
import sys

import torch
import torch.nn as nn
import torchvision.models as tvm

from cifar_ref import Cifar
from common import save_safetensors

DTYPES = {"F64": torch.float64, "F32": torch.float32, "I64": torch.int64, "I32": torch.int32}


def load_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (size,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + size])
    data = blob[8 + size:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        raw = bytearray(data[begin:end])
        t = torch.frombuffer(raw, dtype=DTYPES[e["dtype"]]) if raw else torch.empty(0, dtype=DTYPES[e["dtype"]])
        out[name] = t.reshape(e["shape"])
    return out


def build(case):
    name = case["model"]
    cifar = re.fullmatch(r"cifar(ResNet|Plain)(\d+)", name)
    if cifar:
        kind = "none" if cifar.group(1) == "Plain" else case.get("shortcut", "A")
        return Cifar(int(cifar.group(2)), kind, cin=case.get("in_channels", 3))
    model = getattr(tvm, name)(weights=None, num_classes=case.get("num_classes", 1000))
    cin = case.get("in_channels", 3)
    if cin != 3:
        # what a user does for grey images: a new stem conv with the same geometry
        model.conv1 = nn.Conv2d(cin, 64, 7, 2, 3, bias=False)
    return model


def main(manifest):
    with open(manifest) as f:
        cases = json.load(f)["cases"]
    for case in cases:
        model = build(case)
        model.load_state_dict(load_safetensors(case["weights"]), strict=True)
        model = model.double().eval()
        x = load_safetensors(case["input"])["x"].double()
        with torch.no_grad():
            logits = model(x)
        save_safetensors(case["output"], {"logits": logits})
        print("ran", case["model"], tuple(logits.shape))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
