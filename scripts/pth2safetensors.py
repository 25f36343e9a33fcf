"""Convert a PyTorch checkpoint (.pth state dict) or a torchvision model's weights to safetensors,
with nothing but torch installed (Debian: apt-get install python3-torch python3-torchvision).

  /usr/bin/python3 scripts/pth2safetensors.py resnet18.pth resnet18.safetensors
  /usr/bin/python3 scripts/pth2safetensors.py torchvision:resnet18 resnet18.safetensors   # random init
"""
import json
import os
import struct
import sys

DTYPES = {"torch.float64": "F64", "torch.float32": "F32", "torch.float16": "F16",
          "torch.int64": "I64", "torch.int32": "I32", "torch.uint8": "U8", "torch.bool": "BOOL"}


def save_safetensors(path, tensors):
    """u64 little-endian header length, the JSON header, then each tensor's raw bytes in order.
    Written to a temporary file and renamed, so a reader never sees half a file."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[str(t.dtype)], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * ((8 - len(head) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


if __name__ == "__main__":
    import torch
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    if src.startswith("torchvision:"):
        import torchvision.models as tvm
        sd = getattr(tvm, src.split(":", 1)[1])(weights=None).state_dict()
    else:
        sd = torch.load(src, map_location="cpu")
        sd = sd.get("state_dict", sd) if isinstance(sd, dict) else sd.state_dict()
    save_safetensors(dst, sd)
    print(f"wrote {dst}: {len(sd)} tensors")
