"""Oracle for optimizer and scheduler state dicts (run with Debian's /usr/bin/python3, torch 1.13).

Cases:
- optimizer: float32 parameters (in one or two groups) take STEPS updates from given gradients
  (the last parameter never gets one, so it has no state); records the parameters and
  optimizer.state_dict() after them, then MORE further updates and the state dict and parameters
  at the end. A test steps resgrad the same way, compares the state dicts, then loads torch's
  mid-way state dict into a fresh resgrad optimizer and compares the end.
- scheduler: two param groups, a scheduler stepped N times; records scheduler.state_dict() and
  the optimizer's param_groups (which carry initial_lr) after every step.
State dicts are JSON: tensors as {shape, dtype, data}, None as null, tuples as lists, and
MultiStepLR's Counter as {epoch: count} (keys become strings in JSON, as in resgrad's).
"""
import warnings

import torch

from common import enc, seeded, write_fixture

warnings.filterwarnings("ignore")
STEPS = 3
MORE = 2
SHAPES = [[3, 4], [4], [2]]

SNAKE = {"weightDecay": "weight_decay", "stepSize": "step_size", "tMax": "T_max", "etaMin": "eta_min",
         "startFactor": "start_factor", "endFactor": "end_factor", "totalIters": "total_iters"}


def torch_kwargs(opts):
    return {SNAKE.get(k, k): tuple(v) if k == "betas" else v for k, v in opts.items()}


def enc_state_dict(sd):
    def value(v):
        if isinstance(v, torch.Tensor):
            return enc(v)
        if isinstance(v, tuple):
            return list(v)
        return v

    state = {str(i): {k: value(v) for k, v in s.items()} for i, s in sd["state"].items()}
    groups = [{k: value(v) for k, v in g.items()} for g in sd["param_groups"]]
    return {"state": state, "param_groups": groups}


def optimizer_case(name, optimizer, opts, groups=None, seed=0):
    """groups: a list of (parameter indices, options) instead of one group of every parameter."""
    gen = seeded(seed)
    params = [torch.randn(s, generator=gen).requires_grad_() for s in SHAPES]
    grads = [[torch.randn(s, generator=gen) for s in SHAPES[:-1]] for _ in range(STEPS + MORE)]
    init = [enc(p) for p in params]
    if groups:
        spec = [dict(torch_kwargs(o), params=[params[i] for i in idx]) for idx, o in groups]
    else:
        spec = params
    opt = getattr(torch.optim, optimizer)(spec, **torch_kwargs(opts))

    def step(i):
        for p, g in zip(params, grads[i]):
            p.grad = g.clone()
        opt.step()

    for i in range(STEPS):
        step(i)
    middle = {"params": [enc(p) for p in params], "state_dict": enc_state_dict(opt.state_dict())}
    for i in range(STEPS, STEPS + MORE):
        step(i)
    end = {"params": [enc(p) for p in params], "state_dict": enc_state_dict(opt.state_dict())}
    return {"name": name, "kind": "optimizer", "optimizer": optimizer, "opts": opts,
            "groups": [{"params": idx, "opts": o} for idx, o in groups] if groups else None,
            "init": init, "grads": [[enc(g) for g in gs] for gs in grads], "steps": STEPS,
            "middle": middle, "end": end}


def build_scheduler(opt, spec):
    kind = spec["kind"]
    if kind == "SequentialLR":
        scheds = [build_scheduler(opt, s) for s in spec["schedulers"]]
        return torch.optim.lr_scheduler.SequentialLR(opt, scheds, milestones=spec["milestones"])
    if kind == "ChainedScheduler":
        return torch.optim.lr_scheduler.ChainedScheduler([build_scheduler(opt, s) for s in spec["schedulers"]])
    kwargs = torch_kwargs({k: v for k, v in spec.items() if k != "kind"})
    return getattr(torch.optim.lr_scheduler, kind)(opt, **kwargs)


def scheduler_case(name, spec, steps, lrs=(0.1, 0.02)):
    params = [torch.zeros(1, requires_grad=True) for _ in lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=lrs[0], momentum=0.9)
    sched = build_scheduler(opt, spec)
    dicts = []
    for _ in range(steps + 1):
        dicts.append({"scheduler": sched.state_dict(), "param_groups": enc_state_dict(opt.state_dict())["param_groups"]})
        opt.step()
        sched.step()
    return {"name": name, "kind": "scheduler", "spec": spec, "lrs": list(lrs), "dicts": dicts}


cases = [
    optimizer_case("SGD momentum=0.9 nesterov weightDecay=0.01", "SGD",
                   {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weightDecay": 0.01}, seed=20),
    optimizer_case("SGD no momentum (momentum_buffer None)", "SGD", {"lr": 0.1}, seed=21),
    optimizer_case("SGD two groups: momentum=[0.5 dampening 0.2, 0] maximize", "SGD", {"lr": 0.05, "maximize": True},
                   groups=[([0], {"momentum": 0.5, "dampening": 0.2}), ([1, 2], {"lr": 0.2})], seed=22),
    optimizer_case("Adam amsgrad weightDecay=0.05", "Adam", {"lr": 0.02, "amsgrad": True, "weightDecay": 0.05}, seed=23),
    optimizer_case("Adam two groups betas=[0.8,0.99] eps=1e-6", "Adam", {"lr": 0.01, "betas": [0.8, 0.99], "eps": 1e-6},
                   groups=[([1], {"lr": 0.03}), ([0, 2], {})], seed=24),
    optimizer_case("AdamW lr=0.01", "AdamW", {"lr": 0.01}, seed=25),
    optimizer_case("AdamW amsgrad maximize weightDecay=0.1", "AdamW",
                   {"lr": 0.02, "amsgrad": True, "maximize": True, "weightDecay": 0.1}, seed=26),
    scheduler_case("StepLR stepSize=2 gamma=0.5", {"kind": "StepLR", "stepSize": 2, "gamma": 0.5}, 5),
    scheduler_case("MultiStepLR milestones=[2,4,4] gamma=0.3", {"kind": "MultiStepLR", "milestones": [4, 2, 4], "gamma": 0.3}, 5),
    scheduler_case("CosineAnnealingLR tMax=4 etaMin=0.001", {"kind": "CosineAnnealingLR", "tMax": 4, "etaMin": 0.001}, 6),
    scheduler_case("LinearLR startFactor=0.25 totalIters=3", {"kind": "LinearLR", "startFactor": 0.25, "totalIters": 3}, 5),
    scheduler_case("SequentialLR [LinearLR warm-up 3, CosineAnnealingLR tMax=5] milestones=[3]",
                   {"kind": "SequentialLR", "milestones": [3], "schedulers": [
                       {"kind": "LinearLR", "startFactor": 0.1, "totalIters": 3},
                       {"kind": "CosineAnnealingLR", "tMax": 5}]}, 7),
    scheduler_case("ChainedScheduler [LinearLR warm-up 2, StepLR stepSize=2 gamma=0.7]",
                   {"kind": "ChainedScheduler", "schedulers": [
                       {"kind": "LinearLR", "startFactor": 0.2, "totalIters": 2},
                       {"kind": "StepLR", "stepSize": 2, "gamma": 0.7}]}, 5),
]

write_fixture("optim_state", cases)
