"""PyTorch peer of the bench's CIFAR ResNet-20 training step (bench/suites/models.ts).

Run with Debian's interpreter, the one that has python3-torch:

    /usr/bin/python3 bench/peers/torch_train_step.py --batch 128 --threads 1

It builds the same network as resgrad's models.cifarResNet(20) (He et al. 2016, section 4.2:
3x3 convs without bias, BatchNorm, option A shortcuts that subsample and zero-pad channels,
global average pooling, a 64 -> 10 linear layer; Kaiming-normal fan_out init of the convs), with
the same module names, so the state-dict keys match resgrad's. One step is what the bench times on
our side: zero_grad, forward in train mode, cross-entropy, backward, SGD (lr 0.01, momentum 0.9).
After `--warmup` untimed steps it times `--steps` steps and prints one line of JSON on stdout:
the per-step times, their median, images/s, the first loss, and the state-dict names and shapes
(the bench's tests compare them with resgrad's).
"""

import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class PadShortcut(nn.Module):
    """Option A: x[:, :, ::s, ::s] with (out - in) / 2 zero channels on each side (no parameters)."""

    def __init__(self, in_planes, out_planes, stride):
        super().__init__()
        self.extra = out_planes - in_planes
        self.stride = stride

    def forward(self, x):
        sub = x[:, :, :: self.stride, :: self.stride]
        before = self.extra // 2
        return F.pad(sub, (0, 0, 0, 0, before, self.extra - before))


class CifarBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))."""

    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        changes = stride != 1 or in_planes != planes
        self.shortcut = PadShortcut(in_planes, planes, stride) if changes else None

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (self.shortcut(x) if self.shortcut is not None else x))


class CifarResNet(nn.Module):
    def __init__(self, depth, num_classes=10, in_channels=3):
        super().__init__()
        if depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"depth must be 6n+2 with n >= 1, got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        in_planes = 16
        for stage, planes in enumerate([16, 32, 64]):
            blocks = []
            for i in range(n):
                blocks.append(CifarBlock(in_planes, planes, 2 if i == 0 and stage > 0 else 1))
                in_planes = planes
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.fc(torch.flatten(self.avgpool(out), 1))


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=5, help="timed steps (the median is reported)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--depth", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    for name in ("batch", "threads", "steps", "depth"):
        if getattr(a, name) < 1:
            p.error(f"--{name} must be a positive integer, got {getattr(a, name)}")
    if a.warmup < 0:
        p.error(f"--warmup must be >= 0, got {a.warmup}")

    torch.manual_seed(a.seed)
    model = CifarResNet(a.depth)
    state = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    torch.set_num_threads(a.threads)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(a.batch, 3, 32, 32)
    target = torch.randint(0, 10, (a.batch,))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), target)
        loss.backward()
        opt.step()
        return loss.item()

    times = []
    first_loss = None
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        loss = step()
        dt = time.perf_counter() - t0
        if first_loss is None:
            first_loss, first_step_s = loss, dt
        if i >= a.warmup:
            times.append(dt)
    median = statistics.median(times)
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "batch": a.batch,
                "depth": a.depth,
                "parameters": sum(q.numel() for q in model.parameters()),
                "first_step_s": first_step_s,
                "step_s": times,
                "median_s": median,
                "images_per_s": a.batch / median,
                "first_loss": first_loss,
                "state": state,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
