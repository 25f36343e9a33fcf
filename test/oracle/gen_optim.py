"""Oracle for optimizers and LR schedulers (run with Debian's /usr/bin/python3, torch 1.13).

Cases:
- trajectory: a small MLP (Linear 4->5, ReLU, Linear 5->3) trained 5 steps with
  loss = mean((mlp(x) - y)^2) by one optimizer config; records the initial weights, each step's
  loss and the weights after every step (float64).
- schedule: the lr of every param group after construction and after each of N steps of a
  scheduler (optimizer.step() first, then scheduler.step(), as torch asks).
Options are written with resgrad's names (weightDecay, ...).
"""
import warnings

import torch

from common import enc, seeded, write_fixture

warnings.filterwarnings("ignore")
STEPS = 5

SNAKE = {"weightDecay": "weight_decay", "stepSize": "step_size", "tMax": "T_max", "etaMin": "eta_min",
         "startFactor": "start_factor", "endFactor": "end_factor", "totalIters": "total_iters"}


def torch_kwargs(opts):
    out = {}
    for k, v in opts.items():
        out[SNAKE.get(k, k)] = tuple(v) if k == "betas" else v
    return out


def make_mlp(gen):
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)).double()
    with torch.no_grad():
        for p in mlp.parameters():
            p.copy_(torch.randn(p.shape, dtype=torch.float64, generator=gen) * 0.5)
    return mlp


def state(mlp):
    return {k: enc(v) for k, v in mlp.state_dict().items()}


def trajectory(name, optimizer, opts, groups=None, seed=0):
    gen = seeded(seed)
    mlp = make_mlp(gen)
    x = torch.randn(6, 4, dtype=torch.float64, generator=gen)
    y = torch.randn(6, 3, dtype=torch.float64, generator=gen)
    init = state(mlp)
    named = dict(mlp.named_parameters())
    if groups:
        params = [dict(torch_kwargs({k: v for k, v in g.items() if k != "params"}), params=[named[n] for n in g["params"]])
                  for g in groups]
    else:
        params = mlp.parameters()
    opt = getattr(torch.optim, optimizer)(params, **torch_kwargs(opts))
    losses, states = [], []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = ((mlp(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        states.append(state(mlp))
    case = {"name": name, "kind": "trajectory", "optimizer": optimizer, "opts": opts, "x": enc(x), "y": enc(y),
            "init": init, "losses": losses, "states": states}
    if groups:
        case["groups"] = groups
    return case


def build_scheduler(opt, spec):
    kind = spec["kind"]
    if kind == "SequentialLR":
        scheds = [build_scheduler(opt, s) for s in spec["schedulers"]]
        return torch.optim.lr_scheduler.SequentialLR(opt, scheds, milestones=spec["milestones"])
    if kind == "ChainedScheduler":
        return torch.optim.lr_scheduler.ChainedScheduler([build_scheduler(opt, s) for s in spec["schedulers"]])
    kwargs = torch_kwargs({k: v for k, v in spec.items() if k != "kind"})
    return getattr(torch.optim.lr_scheduler, kind)(opt, **kwargs)


def schedule(name, spec, steps, lrs=(0.1, 0.02)):
    params = [torch.zeros(1, requires_grad=True) for _ in lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=lrs[0])
    sched = build_scheduler(opt, spec)
    seq = [list(sched.get_last_lr())]
    for _ in range(steps):
        opt.step()
        sched.step()
        seq.append(list(sched.get_last_lr()))
    return {"name": name, "kind": "schedule", "spec": spec, "lrs": list(lrs), "sequence": seq}


cases = [
    trajectory("SGD lr=0.1", "SGD", {"lr": 0.1}),
    trajectory("SGD momentum=0.9", "SGD", {"lr": 0.05, "momentum": 0.9}, seed=1),
    trajectory("SGD momentum=0.9 dampening=0.3 weightDecay=0.01", "SGD",
               {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weightDecay": 0.01}, seed=2),
    trajectory("SGD nesterov momentum=0.8 weightDecay=0.02", "SGD",
               {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weightDecay": 0.02}, seed=3),
    trajectory("SGD maximize momentum=0.5", "SGD", {"lr": 0.02, "momentum": 0.5, "maximize": True}, seed=4),
    trajectory("SGD param groups lr=[0.1, default 0.05] momentum=[0, 0.9]", "SGD", {"lr": 0.05},
               groups=[{"params": ["0.weight", "0.bias"], "lr": 0.1},
                       {"params": ["2.weight", "2.bias"], "momentum": 0.9}], seed=5),
    trajectory("Adam lr=0.01", "Adam", {"lr": 0.01}, seed=6),
    trajectory("Adam betas=[0.8,0.99] eps=1e-6 weightDecay=0.1", "Adam",
               {"lr": 0.02, "betas": [0.8, 0.99], "eps": 1e-6, "weightDecay": 0.1}, seed=7),
    trajectory("Adam amsgrad weightDecay=0.05", "Adam", {"lr": 0.02, "amsgrad": True, "weightDecay": 0.05}, seed=8),
    trajectory("Adam maximize", "Adam", {"lr": 0.01, "maximize": True}, seed=9),
    trajectory("AdamW lr=0.01 (weightDecay 0.01 default)", "AdamW", {"lr": 0.01}, seed=10),
    trajectory("AdamW amsgrad weightDecay=0.1", "AdamW", {"lr": 0.02, "weightDecay": 0.1, "amsgrad": True}, seed=11),
    schedule("StepLR stepSize=3 gamma=0.5", {"kind": "StepLR", "stepSize": 3, "gamma": 0.5}, 12),
    schedule("MultiStepLR milestones=[2,5,5,9] gamma=0.3",
             {"kind": "MultiStepLR", "milestones": [2, 5, 5, 9], "gamma": 0.3}, 12),
    schedule("CosineAnnealingLR tMax=10 etaMin=0.001 (30 steps, past tMax)",
             {"kind": "CosineAnnealingLR", "tMax": 10, "etaMin": 0.001}, 30),
    schedule("LinearLR startFactor=0.25 totalIters=4 (warm-up)",
             {"kind": "LinearLR", "startFactor": 0.25, "totalIters": 4}, 8),
    schedule("LinearLR startFactor=1 endFactor=0.1 totalIters=6 (decay)",
             {"kind": "LinearLR", "startFactor": 1.0, "endFactor": 0.1, "totalIters": 6}, 9),
    schedule("SequentialLR [LinearLR warm-up 3, CosineAnnealingLR tMax=8] milestones=[3]",
             {"kind": "SequentialLR", "milestones": [3], "schedulers": [
                 {"kind": "LinearLR", "startFactor": 0.1, "totalIters": 3},
                 {"kind": "CosineAnnealingLR", "tMax": 8}]}, 14),
    schedule("SequentialLR [LinearLR, StepLR, MultiStepLR] milestones=[2,6]",
             {"kind": "SequentialLR", "milestones": [2, 6], "schedulers": [
                 {"kind": "LinearLR", "startFactor": 0.5, "totalIters": 2},
                 {"kind": "StepLR", "stepSize": 2, "gamma": 0.5},
                 {"kind": "MultiStepLR", "milestones": [1, 3], "gamma": 0.1}]}, 10),
    schedule("ChainedScheduler [LinearLR warm-up 4, StepLR stepSize=3 gamma=0.7]",
             {"kind": "ChainedScheduler", "schedulers": [
                 {"kind": "LinearLR", "startFactor": 0.2, "totalIters": 4},
                 {"kind": "StepLR", "stepSize": 3, "gamma": 0.7}]}, 10),
]

# nn.init's constants: gains and fans, as torch computes them
GAINS = [["linear"], ["conv2d"], ["sigmoid"], ["tanh"], ["relu"], ["leaky_relu"], ["leaky_relu", 0.2], ["selu"]]
FAN_SHAPES = [[5, 3], [8, 4, 3, 3], [6, 2, 5], [16, 1, 7, 7]]
fans = []
for shape in FAN_SHAPES:
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    fans.append({"shape": shape, "fanIn": fan_in, "fanOut": fan_out})
cases.append({"name": "init constants", "kind": "init",
              "gains": [{"args": g, "gain": torch.nn.init.calculate_gain(*g)} for g in GAINS], "fans": fans})

write_fixture("optim", cases)
