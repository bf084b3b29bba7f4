#!/usr/bin/python3
"""make_models.py OUT_DIR [NAME ...] - the ONNX files tests/test_onnx_torch.cpp imports.

For each network (tests/onnx/torch_nets.py: trim's SICK-Net and MobileNet V1 in plain PyTorch)
this draws random weights and non-trivial BatchNorm statistics (seeded), exports the network
with torch.onnx.export at opsets 13 and 17 and writes, beside the .onnx files, a fixed input
batch and PyTorch's logits for it:

    OUT_DIR/NAME.opset13.onnx  NAME.opset17.onnx  NAME.input.bin  NAME.logits.bin  NAME.shape
    (.bin: float32 little-endian; .shape: "N C H W K")

The exports use TrainingMode.PRESERVE on the eval-mode model, which keeps every
BatchNormalization as its own node (TrainingMode.EVAL folds it into the convolution; the
"_folded" network is exported that way to cover that form too). "mixed" covers what the
CNNs above do not emit: ReLU6 as Clip (with attributes at opset 10), average pooling with
padding, a Reshape to [-1, F], MatMul + Add for a linear layer, Dropout.
"""
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_nets import mobilenet_v1, sicknet  # noqa: E402


class Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 2, 1, bias=True)
        self.conv1_bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU6()
        self.pool = nn.AvgPool2d(3, 2, 1, count_include_pad=False)
        self.dw = nn.Conv2d(8, 8, 3, 1, 1, groups=8, bias=False)
        self.mpool = nn.MaxPool2d(3, 1, 1)
        self.w = nn.Parameter(torch.randn(8 * 4 * 4, 5) * 0.1)
        self.b = nn.Parameter(torch.randn(5))
        self.drop = nn.Dropout(0.25)

    def forward(self, x):
        x = self.pool(self.act(self.conv1_bn(self.conv1(x))))
        x = self.mpool(torch.relu(self.dw(x)))
        x = self.drop(x.reshape(-1, 8 * 4 * 4))
        return x @ self.w + self.b


# name: (constructor, input C, H, W, opsets, training mode)
NETS = {
    "sicknet": (lambda: sicknet(1, 28, 10), (1, 28, 28), (13, 17), "PRESERVE"),
    "sicknet_folded": (lambda: sicknet(1, 28, 10), (1, 28, 28), (13,), "EVAL"),
    "mobilenet_v1_0.5_28": (lambda: mobilenet_v1(0.5, 28, 1, 10, small_input=True), (1, 28, 28), (13, 17), "PRESERVE"),
    "mobilenet_v1_0.25_224": (lambda: mobilenet_v1(0.25, 224, 3, 1000), (3, 224, 224), (13, 17), "PRESERVE"),
    "mobilenet_v1_1.0_224": (lambda: mobilenet_v1(1.0, 224, 3, 1000), (3, 224, 224), (13, 17), "PRESERVE"),
    "mobilenet_v1_0.25_224_relu6": (lambda: mobilenet_v1(0.25, 224, 3, 1000, relu6=True), (3, 224, 224), (13,), "PRESERVE"),
    "mixed": (Mixed, (3, 16, 16), (10, 13, 17), "PRESERVE"),
}


def randomise(model, seed):
    """Random weights (PyTorch's default init, seeded) and BN statistics far from 0/1, so an
    importer that drops or swaps one of them gets visibly different logits."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.2)
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                m.eps = 1e-3 if c % 16 else 1e-5  # a non-default epsilon somewhere
    return model.eval()


def main():
    out = sys.argv[1]
    names = sys.argv[2:] or list(NETS)
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(1)
    for i, name in enumerate(names):
        make, (c, h, w), opsets, mode = NETS[name]
        model = randomise(make(), 100 + i)
        x = torch.randn(2, c, h, w, generator=torch.Generator().manual_seed(7))
        with torch.no_grad():
            y = model(x)
        for opset in opsets:
            torch.onnx.export(model, x[:1], os.path.join(out, f"{name}.opset{opset}.onnx"), opset_version=opset,
                              input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                              training=getattr(torch.onnx.TrainingMode, mode), do_constant_folding=True)
        x.numpy().astype("<f4").tofile(os.path.join(out, f"{name}.input.bin"))
        y.numpy().astype("<f4").tofile(os.path.join(out, f"{name}.logits.bin"))
        with open(os.path.join(out, f"{name}.shape"), "w") as f:
            f.write(f"{x.shape[0]} {c} {h} {w} {y.shape[1]}\n")
        print(name, "opsets", opsets, flush=True)


if __name__ == "__main__":
    main()
