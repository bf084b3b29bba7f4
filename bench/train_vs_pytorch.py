#!/usr/bin/python3
"""Training throughput of trim against PyTorch on the same network, batch and threads.

Builds the network in PyTorch from a trim model description (default models/sicknet.model),
times SGD training steps (forward + backward + momentum update) on random data, and runs trim's
bench/train_step on the same description in alternation, so the noisy machine slows both alike.
Prints the median images/s of each and the ratio trim / PyTorch.

    bench/train_vs_pytorch.py [--model models/sicknet.model] [--batch 64] [--threads 2] [--rounds 5]
    bench/train_vs_pytorch.py --trim /tmp/old/train_step --trim build-h2/bin/train_step   # old vs new

Each --trim names a train_step binary (default build/bin/train_step); with several, every round
runs each of them and PyTorch in turn, so before/after ratios come from the same conditions.

Needs Debian's python3-torch (run with /usr/bin/python3); skips with a message otherwise.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_desc(path):
    """[section] + key=value lines -> [(type, {key: value})], the first being [input]."""
    sections = []
    for raw in open(path):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            sections.append((m.group(1), {}))
        else:
            k, v = line.split("=", 1)
            sections[-1][1][k.strip()] = v.strip()
    return sections


def build_torch(sections, torch):
    nn = torch.nn
    assert sections[0][0] == "input"
    c = int(sections[0][1]["channels"])
    h = int(sections[0][1]["height"])
    w = int(sections[0][1]["width"])
    layers, shape = [], (c, h, w)
    for kind, kv in sections[1:]:
        if kind == "conv":
            k, s, p = int(kv["size"]), int(kv.get("stride", 1)), int(kv.get("pad", 0))
            g, f = int(kv.get("groups", 1)), int(kv["filters"])
            layers.append(nn.Conv2d(shape[0], f, k, s, p, groups=g, bias=kv.get("bias", "1") != "0"))
            shape = (f, (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1)
        elif kind == "batchnorm":
            layers.append(nn.BatchNorm2d(shape[0], eps=float(kv.get("eps", 1e-5)), momentum=float(kv.get("momentum", 0.1))))
        elif kind == "relu":
            layers.append(nn.ReLU())
        elif kind == "relu6":
            layers.append(nn.ReLU6())
        elif kind in ("maxpool", "avgpool"):
            k = int(kv["size"]); s = int(kv.get("stride", k)); p = int(kv.get("pad", 0))
            layers.append(nn.MaxPool2d(k, s, p) if kind == "maxpool" else nn.AvgPool2d(k, s, p, count_include_pad=False))
            shape = (shape[0], (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1)
        elif kind == "globalavgpool":
            layers.append(nn.AdaptiveAvgPool2d(1))
            shape = (shape[0], 1, 1)
        elif kind == "flatten":
            layers.append(nn.Flatten())
            shape = (shape[0] * shape[1] * shape[2], 1, 1)
        elif kind == "linear":
            if len(layers) and not isinstance(layers[-1], nn.Flatten) and shape[1:] == (1, 1) and not any(isinstance(l, nn.Flatten) for l in layers):
                layers.append(nn.Flatten())
            layers.append(nn.Linear(shape[0], int(kv["out"]), bias=kv.get("bias", "1") != "0"))
            shape = (int(kv["out"]), 1, 1)
        elif kind == "dropout":
            layers.append(nn.Dropout(float(kv.get("p", 0.5))))
        else:
            raise SystemExit(f"unsupported layer type [{kind}]")
    return nn.Sequential(*layers), (c, h, w), shape[0]


def torch_images_per_s(torch, net, inp, classes, batch, steps):
    x = torch.randn(batch, *inp)
    y = torch.arange(batch) % classes
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    net.train()
    for _ in range(3):
        opt.zero_grad(); loss_fn(net(x), y).backward(); opt.step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        opt.zero_grad(); loss_fn(net(x), y).backward(); opt.step()
        times.append(time.perf_counter() - t)
    return batch / statistics.median(times)


def trim_images_per_s(exe, model, batch, threads, steps):
    out = subprocess.run([exe, "--model", model, "--batch", str(batch), "--threads", str(threads), "--runs", str(steps)],
                         check=True, capture_output=True, text=True).stdout
    return float(re.search(r"\(([\d.]+) images/s\)", out).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "sicknet.model"))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--trim", action="append", help="train_step binary (repeatable; default build/bin/train_step)")
    a = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("train_vs_pytorch: PyTorch is not installed (Debian package python3-torch; run with /usr/bin/python3): skipped")
        return 0
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net, inp, classes = build_torch(parse_desc(a.model), torch)
    # trim_train_step builds from a description file too: the same network on both sides.
    exes = a.trim or [os.path.join(ROOT, "build", "bin", "train_step")]
    trim_rates, torch_rates = [[] for _ in exes], []
    for r in range(a.rounds):
        for exe, rates in zip(exes, trim_rates):
            rates.append(trim_images_per_s(exe, a.model, a.batch, a.threads, a.steps))
        torch_rates.append(torch_images_per_s(torch, net, inp, classes, a.batch, a.steps))
        trims = ", ".join(f"trim{'' if len(exes) == 1 else ' ' + str(i + 1)} {rates[-1]:.0f}" for i, rates in enumerate(trim_rates))
        print(f"round {r + 1}: {trims} images/s, PyTorch {torch_rates[-1]:.0f} images/s", flush=True)
    p = statistics.median(torch_rates)
    for i, (exe, rates) in enumerate(zip(exes, trim_rates)):
        t = statistics.median(rates)
        label = "trim" if len(exes) == 1 else f"trim {i + 1} ({exe})"
        print(f"{os.path.basename(a.model)} batch {a.batch}, {a.threads} threads: {label} {t:.0f} images/s, "
              f"PyTorch {torch.__version__} {p:.0f} images/s, ratio trim/PyTorch {t / p:.2f}x (median of {a.rounds})")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.exit(main())
