"""The CIFAR ResNets of He et al. (2016) section 4.2, written independently in torch (the oracle for models/cifar.ts)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride, kind):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.kind, self.cin, self.cout, self.stride = kind, cin, cout, stride
        changes = stride != 1 or cin != cout
        self.shortcut = None
        if kind == "B" and changes:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        if self.kind == "none":
            return self.relu(out)
        if self.shortcut is not None:
            sc = self.shortcut(x)
        elif self.stride != 1 or self.cin != self.cout:
            sub = x[:, :, ::self.stride, ::self.stride]
            extra = self.cout - self.cin
            sc = F.pad(sub, (0, 0, 0, 0, extra // 2, extra - extra // 2))
        else:
            sc = x
        return self.relu(out + sc)


class Cifar(nn.Module):
    def __init__(self, depth, kind, cin=3):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(cin, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        planes_in = 16
        for stage, planes in enumerate([16, 32, 64]):
            blocks = []
            for i in range(n):
                blocks.append(Block(planes_in, planes, 2 if (i == 0 and stage > 0) else 1, kind))
                planes_in = planes
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.fc(torch.flatten(self.avgpool(out), 1))


