"""trim_model.py - read a trim model (NAME.model text description + NAME.weights) and build the
same network in PyTorch, layer for layer, so the peers time exactly the architecture trim runs
(pruned models included: the channel counts come from the description).

Format: docs/model-format.md. Used by compare.py; also runnable on its own:
    /usr/bin/python3 bench/peers/trim_model.py runs/x/model.model   # prints the torch module
"""
import os
import struct
import sys
import zlib

import torch
from torch import nn

SECTION_KEYS = {
    "conv": {"filters", "size", "stride", "pad", "groups", "bias"},
    "batchnorm": {"eps", "momentum"},
    "relu": set(), "relu6": set(), "flatten": set(), "globalavgpool": set(),
    "maxpool": {"size", "stride", "pad"}, "avgpool": {"size", "stride", "pad"},
    "linear": {"out", "bias"}, "dropout": {"p"},
}


def parse_description(text, filename="<model>"):
    """Returns (input (C, H, W), [(type, {key: value}), ...]) from a .model description."""
    sections = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            sections.append((line[1:-1].strip(), {}, lineno))
            continue
        if "=" not in line or not sections:
            raise ValueError(f"{filename}:{lineno}: expected [section] or key=value, got {raw!r}")
        k, v = (s.strip() for s in line.split("=", 1))
        sections[-1][1][k] = v
    if not sections or sections[0][0] != "input":
        raise ValueError(f"{filename}: the first section must be [input]")
    inp = sections[0][1]
    shape = tuple(int(inp[k]) for k in ("channels", "height", "width"))
    layers = []
    for i, (typ, kv, lineno) in enumerate(sections[1:], 1):
        if typ not in SECTION_KEYS:
            raise ValueError(f"{filename}:{lineno}: unknown layer type [{typ}]")
        unknown = set(kv) - SECTION_KEYS[typ] - {"name"}
        if unknown:
            raise ValueError(f"{filename}:{lineno}: unknown key(s) {sorted(unknown)} for [{typ}]")
        kv.setdefault("name", f"{typ}{i}")
        layers.append((typ, kv))
    return shape, layers


def read_weights(path):
    """{name: float32 tensor} from a TRIMWTS1 file, checking magic, version and CRC-32."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"TRIMWTS1":
        raise ValueError(f"{path}: not a trim weights file (bad magic)")
    if zlib.crc32(data[:-4]) != struct.unpack_from("<I", data, len(data) - 4)[0]:
        raise ValueError(f"{path}: checksum mismatch")
    version, count = struct.unpack_from("<II", data, 8)
    if version != 1:
        raise ValueError(f"{path}: unsupported version {version}")
    off, out = 16, {}
    for _ in range(count):
        (n,) = struct.unpack_from("<I", data, off)
        name = data[off + 4: off + 4 + n].decode()
        off += 4 + n
        (rank,) = struct.unpack_from("<I", data, off)
        dims = struct.unpack_from(f"<{rank}I", data, off + 4)
        off += 4 + 4 * rank
        off = (off + 63) // 64 * 64
        numel = 1
        for d in dims:
            numel *= d
        out[name] = torch.frombuffer(bytearray(data[off: off + 4 * numel]), dtype=torch.float32).reshape(dims).clone()
        off += 4 * numel
    return out


def build_torch(shape, layers, weights=None):
    """nn.Sequential equal to the trim model in eval mode (weights: {name: tensor} or None)."""
    c, h, w = shape
    mods = []
    flat = False  # activations are N x C (after flatten / linear) rather than N x C x H x W
    for typ, kv in layers:
        name = kv["name"]
        if typ == "conv":
            k, s, p, g = int(kv["size"]), int(kv.get("stride", 1)), int(kv.get("pad", 0)), int(kv.get("groups", 1))
            out = int(kv["filters"])
            m = nn.Conv2d(c, out, k, s, p, groups=g, bias=kv.get("bias", "1") != "0")
            h, w, c = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1, out
        elif typ == "batchnorm":
            m = nn.BatchNorm2d(c, eps=float(kv.get("eps", 1e-5)), momentum=float(kv.get("momentum", 0.1)))
        elif typ == "relu":
            m = nn.ReLU()
        elif typ == "relu6":
            m = nn.ReLU6()
        elif typ in ("maxpool", "avgpool"):
            k = int(kv["size"])
            s, p = int(kv.get("stride", k)), int(kv.get("pad", 0))
            # trim's average pool leaves padding out of the divisor.
            m = nn.MaxPool2d(k, s, p) if typ == "maxpool" else nn.AvgPool2d(k, s, p, count_include_pad=False)
            h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        elif typ == "globalavgpool":
            m = nn.AdaptiveAvgPool2d(1)
            h = w = 1
        elif typ == "flatten":
            m = nn.Flatten()
            c, h, w = c * h * w, 1, 1
        elif typ == "linear":
            out = int(kv["out"])
            m = nn.Linear(c, out, bias=kv.get("bias", "1") != "0")
            c = out
        elif typ == "dropout":
            m = nn.Dropout(float(kv.get("p", 0.5)))
        if typ == "linear" and not flat:
            # trim's linear reads C x 1 x 1 maps (after a global pool); torch's wants N x C.
            mods.append(nn.Flatten())
        flat = typ in ("flatten", "linear") or (flat and typ in ("relu", "relu6", "dropout", "batchnorm"))
        if weights is not None:
            # trim's names: conv/linear weight, bias; batchnorm gamma, beta, running_mean, running_var.
            rename = {"weight": "gamma", "bias": "beta"} if typ == "batchnorm" else {}
            for pname, t in m.state_dict().items():
                if pname == "num_batches_tracked":
                    continue
                key = f"{name}.{rename.get(pname, pname)}"
                if key not in weights:
                    raise ValueError(f"weights: missing tensor {key}")
                t.copy_(weights[key].reshape(t.shape))
        mods.append(m)
    return nn.Sequential(*mods).eval()


def load(model_path):
    """(input shape, torch module) for NAME.model with NAME.weights beside it (random if absent)."""
    with open(model_path) as f:
        shape, layers = parse_description(f.read(), model_path)
    wpath = model_path[:-len(".model")] + ".weights" if model_path.endswith(".model") else model_path + ".weights"
    weights = read_weights(wpath) if os.path.exists(wpath) else None
    return shape, build_torch(shape, layers, weights)


if __name__ == "__main__":
    shape, net = load(sys.argv[1])
    print(shape)
    print(net)
    with torch.no_grad():
        print(net(torch.randn(1, *shape)).shape)
