#!/usr/bin/python3
"""train_torch_fmnist.py - the "bring your own model" starting point: a SICK-Net-like network
(tests/onnx/torch_nets.py: trim's SICK-Net at half width, 16-32-64 channels, FC 128) trained in PyTorch on Fashion-MNIST, then exported
to ONNX (opset 13, BatchNormalization kept apart from the convolutions so trim can prune by it).

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/peers/train_torch_fmnist.py --out runs/byom

Reads the IDX files of Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist) and
normalises exactly as trim does (x / 255, mean 0.2860, std 0.3530), so the ONNX model takes the
same input in trim, ONNX Runtime and here. Writes OUT/net_torch.onnx and OUT/torch.json
(test accuracy, seconds).
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "onnx"))
from torch_nets import sicknet  # noqa: E402

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def idx(path):
    with (gzip.open(path) if path.endswith(".gz") else open(path, "rb")) as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 0x803:
        h, w = struct.unpack(">II", data[8:16])
        x = torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8).reshape(n, 1, h, w)
        return (x.float() / 255.0 - 0.2860) / 0.3530
    return torch.frombuffer(bytearray(data[8:]), dtype=torch.uint8).long()


def load(root, split):
    def find(stem):
        for ext in ("", ".gz"):
            if os.path.exists(os.path.join(root, stem + ext)):
                return os.path.join(root, stem + ext)
        raise SystemExit(f"{root}: no {stem}[.gz]")
    return idx(find(f"{split}-images-idx3-ubyte")), idx(find(f"{split}-labels-idx1-ubyte"))


def accuracy(model, x, y):
    model.eval()
    right = 0
    with torch.no_grad():
        for i in range(0, len(x), 500):
            right += (model(x[i:i + 500]).argmax(1) == y[i:i + 500]).sum().item()
    return right / len(x)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", default="runs/byom")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--width", type=float, default=0.5, help="channel multiplier of SICK-Net (1.0: trim's)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    xtr, ytr = load(a.data, "train")
    xte, yte = load(a.data, "t10k")
    model = sicknet(width=a.width, hidden=128)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps = a.epochs * (len(xtr) // a.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.time()
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        for s in range(len(xtr) // a.batch):
            idxs = perm[s * a.batch:(s + 1) * a.batch]
            xb = xtr[idxs]
            flip = torch.rand(len(xb)) < 0.5  # horizontal flips, as trim's Fashion-MNIST training
            xb[flip] = xb[flip].flip(3)
            opt.zero_grad()
            loss = loss_fn(model(xb), ytr[idxs])
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch + 1}/{a.epochs}: loss {loss.item():.3f}, test {100 * accuracy(model, xte, yte):.2f}% "
              f"({time.time() - t0:.0f} s)", flush=True)
    acc = accuracy(model, xte, yte)
    model.eval()
    path = os.path.join(a.out, "net_torch.onnx")
    # TrainingMode.PRESERVE on an eval-mode model: the export keeps each BatchNormalization as its
    # own node (TrainingMode.EVAL folds it into the convolution, and trim's pruning ranks by BN).
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=True)
    # Class names as metadata_props "classes", which trim's importer reads.
    write_classes(path, CLASSES)
    json.dump({"test_acc": acc, "epochs": a.epochs, "width": a.width, "seconds": time.time() - t0, "threads": a.threads},
              open(os.path.join(a.out, "torch.json"), "w"), indent=1)
    print(f"test accuracy {100 * acc:.2f}% after {a.epochs} epochs, {time.time() - t0:.0f} s; wrote {path}")


def write_classes(path, names):
    """Appends metadata_props {key: "classes", value: names} to an ONNX file: field 14 of
    ModelProto, a StringStringEntryProto (1: key, 2: value). Protobuf messages concatenate, so
    appending the encoded field adds it (python3-onnx is not needed)."""
    def varint(n):
        out = b""
        while True:
            b = n & 0x7F
            n >>= 7
            out += bytes([b | (0x80 if n else 0)])
            if not n:
                return out

    def field(num, payload):
        return varint(num << 3 | 2) + varint(len(payload)) + payload
    entry = field(1, b"classes") + field(2, "\n".join(names).encode() + b"\n")
    with open(path, "ab") as f:
        f.write(field(14, entry))


if __name__ == "__main__":
    main()
