"""Facts about torchvision 0.14's ResNet family for test/models: state-dict keys and shapes (in
order), parameter counts, and multiply-adds at 224x224 (conv + fc), counted with forward hooks.
Run: /usr/bin/python3 test/oracle/gen_models.py"""
import torch
import torchvision.models as tvm

from common import write_fixture

NAMES = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
         "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2"]


def macs_at(model, size):
    total = [0]

    def conv_hook(m, inp, out):
        # each output element costs (in/groups)*kh*kw multiply-adds
        total[0] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def fc_hook(m, inp, out):
        total[0] += out.numel() * m.in_features

    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, torch.nn.Linear):
            m.register_forward_hook(fc_hook)
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    return total[0]


cases = []
for name in NAMES:
    model = getattr(tvm, name)(weights=None).eval()
    sd = model.state_dict()
    cases.append({
        "name": name,
        "keys": list(sd.keys()),
        "shapes": [list(v.shape) for v in sd.values()],
        "params": sum(p.numel() for p in model.parameters()),
        "macs224": macs_at(model, 224),
        "macs64": macs_at(getattr(tvm, name)(weights=None).eval(), 64),
    })
write_fixture("models", cases)


from cifar_ref import Cifar

cifar = []
for depth in [20, 32, 44, 56, 110]:
    for kind in ["A", "B", "none"]:
        m = Cifar(depth, kind)
        sd = m.state_dict()
        cifar.append({"name": f"cifar{depth}{kind}", "depth": depth, "kind": kind, "keys": list(sd.keys()),
                      "shapes": [list(v.shape) for v in sd.values()],
                      "params": sum(p.numel() for p in m.parameters())})
write_fixture("models_cifar", cifar)
