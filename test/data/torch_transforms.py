# PyTorch oracle for the DataLoader's pixels: torchvision's own pipeline on PIL images, as a
# Fashion-MNIST training script runs it: RandomCrop(padding=p) = pad with black, crop at
# (top, left); RandomHorizontalFlip = hflip; then ToTensor() and Normalize((mean,), (std,)).
# The random choices come from resgrad's loader (stdin); the arithmetic is torchvision's.
#   stdin:  {"h", "w", "images": [n*h*w bytes], "mean", "std", "pad", "cases": [{"index", "top", "left", "flip"}]}
#   stdout: {"table": [the 256 normalised byte values], "cases": [[h*w floats], ...]}
import json
import sys

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image

req = json.load(sys.stdin)
h, w, p = req["h"], req["w"], req["pad"]
images = np.array(req["images"], dtype=np.uint8).reshape(-1, h, w)
mean, std = (req["mean"],), (req["std"],)


def finish(img):
    return TF.normalize(TF.to_tensor(img), mean, std)


out = {"table": finish(Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16))).flatten().tolist(), "cases": []}
for case in req["cases"]:
    img = Image.fromarray(images[case["index"]])
    if p > 0:
        img = TF.crop(TF.pad(img, p, fill=0), case["top"], case["left"], h, w)
    if case["flip"]:
        img = TF.hflip(img)
    t = finish(img)
    assert t.dtype == torch.float32 and tuple(t.shape) == (1, h, w)
    out["cases"].append(t.flatten().tolist())
json.dump(out, sys.stdout)
