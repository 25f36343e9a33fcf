"""PyTorch oracle for the normalisation layers (run with /usr/bin/python3).

Each case builds one torch.nn module (BatchNorm1d/2d, InstanceNorm2d, LayerNorm, GroupNorm) in
float64 with random gamma/beta (when affine), then runs a list of steps: train steps (forward,
backward with a random upstream gradient `gy`) followed by eval steps. Every step records the
input, the output, the gradients of x, weight and bias, and the buffers after the step
(running_mean, running_var, num_batches_tracked), so the test can replay the same steps on our
module and compare after each one.
"""
import torch

from common import enc, fmt, seeded, write_fixture

gen = seeded(2024)


def rn(*shape):
    return torch.randn(shape, dtype=torch.float64, generator=gen)


def make_input(shape):
    """Random data with a different offset and scale per channel, so the statistics matter."""
    x = rn(*shape)
    if len(shape) >= 2:
        view = [1] * len(shape)
        view[1] = shape[1]
        x = x * (0.5 + rn(shape[1]).abs()).view(view) + rn(shape[1]).view(view)
    return x


def run_case(name, module, args, shapes, train_steps, eval_steps=1):
    module = module.double()
    init = {}
    with torch.no_grad():
        for pname in ("weight", "bias"):
            p = getattr(module, pname, None)
            if p is not None:
                p.copy_(rn(*p.shape))
                init[pname] = enc(p)
    steps = []
    for i in range(train_steps + eval_steps):
        training = i < train_steps
        module.train(training)
        shape = shapes[i % len(shapes)]
        x = make_input(shape).requires_grad_(True)
        module.zero_grad()
        y = module(x)
        gy = rn(*y.shape)
        y.backward(gy)
        step = {"training": training, "x": enc(x), "gy": enc(gy), "y": enc(y), "gx": enc(x.grad)}
        for pname in ("weight", "bias"):
            p = getattr(module, pname, None)
            if p is not None:
                step["g" + pname] = enc(p.grad)
        for bname in ("running_mean", "running_var", "num_batches_tracked"):
            b = getattr(module, bname, None)
            if b is not None:
                step[bname] = enc(b)
        steps.append(step)
    return {"name": name, "module": type(module).__name__, "args": args, "init": init, "steps": steps}


cases = []
nn = torch.nn

# BatchNorm: momentum 0.1 and None (cumulative average), affine or not, tracking or not,
# odd spatial sizes, C = 1, 2-D and 3-D inputs for BatchNorm1d.
for mom in (0.1, None):
    for affine in (True, False):
        args = {"numFeatures": 3, "momentum": mom, "affine": affine}
        cases.append(run_case(f"BatchNorm2d x=[3,3,4,5] momentum={mom} affine={affine}",
                              nn.BatchNorm2d(3, momentum=mom, affine=affine), args, [(3, 3, 4, 5)], 3, 2))
cases.append(run_case("BatchNorm2d x=[2,1,3,3] C=1 momentum=0.1", nn.BatchNorm2d(1),
                      {"numFeatures": 1}, [(2, 1, 3, 3)], 3))
cases.append(run_case("BatchNorm2d x=[4,2,3,1] eps=1e-3 momentum=0.3", nn.BatchNorm2d(2, eps=1e-3, momentum=0.3),
                      {"numFeatures": 2, "eps": 1e-3, "momentum": 0.3}, [(4, 2, 3, 1)], 2))
cases.append(run_case("BatchNorm2d x=[3,2,3,3] trackRunningStats=false", nn.BatchNorm2d(2, track_running_stats=False),
                      {"numFeatures": 2, "trackRunningStats": False}, [(3, 2, 3, 3)], 2, 1))
cases.append(run_case("BatchNorm1d x=[5,4] momentum=None", nn.BatchNorm1d(4, momentum=None),
                      {"numFeatures": 4, "momentum": None}, [(5, 4)], 3))
cases.append(run_case("BatchNorm1d x=[4,3,7] momentum=0.1", nn.BatchNorm1d(3),
                      {"numFeatures": 3}, [(4, 3, 7)], 3))
cases.append(run_case("BatchNorm1d x=[2,3] N=2", nn.BatchNorm1d(3), {"numFeatures": 3}, [(2, 3)], 2))

# InstanceNorm2d: defaults (no affine, no running stats), affine, tracking running stats.
cases.append(run_case("InstanceNorm2d x=[2,3,4,5] defaults", nn.InstanceNorm2d(3),
                      {"numFeatures": 3}, [(2, 3, 4, 5)], 1, 1))
cases.append(run_case("InstanceNorm2d x=[2,3,3,5] affine", nn.InstanceNorm2d(3, affine=True),
                      {"numFeatures": 3, "affine": True}, [(2, 3, 3, 5)], 2, 1))
cases.append(run_case("InstanceNorm2d x=[3,2,3,3] affine trackRunningStats momentum=0.1",
                      nn.InstanceNorm2d(2, affine=True, track_running_stats=True),
                      {"numFeatures": 2, "affine": True, "trackRunningStats": True}, [(3, 2, 3, 3)], 3, 2))
cases.append(run_case("InstanceNorm2d x=[1,1,3,3] N=1 C=1 trackRunningStats momentum=0.2",
                      nn.InstanceNorm2d(1, track_running_stats=True, momentum=0.2),
                      {"numFeatures": 1, "trackRunningStats": True, "momentum": 0.2}, [(1, 1, 3, 3)], 2, 1))
cases.append(run_case("InstanceNorm2d x=[3,5,3] unbatched affine", nn.InstanceNorm2d(3, affine=True),
                      {"numFeatures": 3, "affine": True}, [(3, 5, 3)], 1, 0))

# LayerNorm: the last one, two or three dims; without affine; N = 1.
cases.append(run_case("LayerNorm x=[3,4,5] normalizedShape=[5]", nn.LayerNorm(5),
                      {"normalizedShape": [5]}, [(3, 4, 5)], 1, 1))
cases.append(run_case("LayerNorm x=[2,3,4,5] normalizedShape=[4,5]", nn.LayerNorm([4, 5]),
                      {"normalizedShape": [4, 5]}, [(2, 3, 4, 5)], 1, 0))
cases.append(run_case("LayerNorm x=[2,3,3,5] normalizedShape=[3,3,5]", nn.LayerNorm([3, 3, 5]),
                      {"normalizedShape": [3, 3, 5]}, [(2, 3, 3, 5)], 1, 0))
cases.append(run_case("LayerNorm x=[3,6] normalizedShape=[6] elementwiseAffine=false",
                      nn.LayerNorm(6, elementwise_affine=False),
                      {"normalizedShape": [6], "elementwiseAffine": False}, [(3, 6)], 1, 0))
cases.append(run_case("LayerNorm x=[1,7] N=1 eps=1e-3", nn.LayerNorm(7, eps=1e-3),
                      {"normalizedShape": [7], "eps": 1e-3}, [(1, 7)], 1, 0))

# GroupNorm: G in {1, 2, C/2, C}, without affine, N = 1, 2-D input.
for g in (1, 2, 3, 6):
    cases.append(run_case(f"GroupNorm x=[2,6,3,5] G={g}", nn.GroupNorm(g, 6),
                          {"numGroups": g, "numChannels": 6}, [(2, 6, 3, 5)], 1, 1))
cases.append(run_case("GroupNorm x=[2,4,3,3] G=2 affine=false", nn.GroupNorm(2, 4, affine=False),
                      {"numGroups": 2, "numChannels": 4, "affine": False}, [(2, 4, 3, 3)], 1, 0))
cases.append(run_case("GroupNorm x=[1,4,3,3] N=1 G=2", nn.GroupNorm(2, 4),
                      {"numGroups": 2, "numChannels": 4}, [(1, 4, 3, 3)], 1, 0))
cases.append(run_case("GroupNorm x=[3,4] G=2", nn.GroupNorm(2, 4), {"numGroups": 2, "numChannels": 4}, [(3, 4)], 1, 0))

write_fixture("norm", cases)
