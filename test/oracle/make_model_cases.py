"""Model parity cases, generated at test time into an ignored cache (the weights are too big to
commit). For each model: random weights with realistic BatchNorm statistics, an input batch,
eval logits (float64 and float32), and one train-mode step in float64: loss, input gradient,
every parameter gradient and the updated running statistics.
Run: /usr/bin/python3 test/oracle/make_model_cases.py OUTDIR [name ...]"""
import copy
import os
import sys

import torch
import torch.nn.functional as F
import torchvision.models as tvm

from cifar_ref import Cifar
from common import save_safetensors

VERSION = "2"
MODELS = {
    "resnet18": lambda: tvm.resnet18(weights=None),
    "resnext50_32x4d": lambda: tvm.resnext50_32x4d(weights=None),
    "cifar20A": lambda: Cifar(20, "A", cin=1),
}
INPUT = {"resnet18": (2, 3, 64, 64), "resnext50_32x4d": (2, 3, 64, 64), "cifar20A": (4, 1, 28, 28)}


def make(name, out):
    torch.manual_seed(0)
    model = MODELS[name]().double()
    n_classes = model.fc.out_features
    # Realistic running statistics: a few train-mode passes with cumulative averaging.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(INPUT[name], dtype=torch.float64))
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 0.1
    save_safetensors(os.path.join(out, "weights.safetensors"), model.state_dict())

    x = torch.randn(INPUT[name], dtype=torch.float64)
    target = torch.randint(0, n_classes, (INPUT[name][0],))
    case = {"x": x, "target": target}
    model.eval()
    with torch.no_grad():
        case["logits_eval"] = model(x)
        case["logits_eval_f32"] = copy.deepcopy(model).float()(x.float()).double()
    model.train()
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    loss = F.cross_entropy(logits, target)
    loss.backward()
    case["logits_train"] = logits
    case["loss_train"] = loss.reshape(1)
    case["grad_x"] = xg.grad
    for k, p in model.named_parameters():
        case["grad." + k] = p.grad
    for k, b in model.named_buffers():
        case["after." + k] = b
    save_safetensors(os.path.join(out, "case.safetensors"), case)
    with open(os.path.join(out, "VERSION"), "w") as f:
        f.write(VERSION)


if __name__ == "__main__":
    outdir = sys.argv[1]
    names = sys.argv[2:] or list(MODELS)
    for name in names:
        d = os.path.join(outdir, name)
        os.makedirs(d, exist_ok=True)
        make(name, d)
        print("wrote", d)
