"""torch_nets.py - SICK-Net and MobileNet V1 written in plain PyTorch, layer for layer what trim
builds (models/zoo.cpp; models/sicknet.model), with the module names trim gives its layers, so
torch.onnx.export names the nodes after them. Shared by tests/onnx/make_models.py and
bench/peers/train_torch_fmnist.py."""
from collections import OrderedDict

from torch import nn


def conv_bn_act(layers, name, cin, cout, k, stride, pad, groups, act):
    layers[name] = nn.Conv2d(cin, cout, k, stride, pad, groups=groups, bias=False)
    layers[name + "_bn"] = nn.BatchNorm2d(cout)
    layers[name + "_" + act] = nn.ReLU6() if act == "relu6" else nn.ReLU()


def sicknet(channels=1, size=28, classes=10, dropout=0.5, width=1.0, hidden=256):
    """width scales the convolutions' channels (1.0: trim's SICK-Net)."""
    L = OrderedDict()
    stages = [int(c * width) for c in [32, 64, 128] + ([256] if size >= 128 else [])]
    cin, conv = channels, 1
    for st, c in enumerate(stages):
        for _ in range(2):
            conv_bn_act(L, f"conv{conv}", cin, c, 3, 1, 1, 1, "relu")
            cin, conv = c, conv + 1
        L[f"pool{st + 1}"] = nn.MaxPool2d(2, 2)
        size //= 2
    L["flatten"] = nn.Flatten()
    L["fc1"] = nn.Linear(cin * size * size, hidden)
    L["fc1_relu"] = nn.ReLU()
    L["fc1_dropout"] = nn.Dropout(dropout)
    L["fc2"] = nn.Linear(hidden, classes)
    return nn.Sequential(L)


def mobilenet_v1(alpha=1.0, resolution=224, channels=3, classes=1000, small_input=False, min_final_size=2, relu6=False):
    width = lambda c: max(8, int(round(c * alpha)))  # noqa: E731  (std::lround: halves away from zero)
    plan = [[2, 32], [1, 64], [2, 128], [1, 128], [2, 256], [1, 256], [2, 512], [1, 512], [1, 512], [1, 512],
            [1, 512], [1, 512], [2, 1024], [1, 1024]]
    if small_input:
        def final_size():
            s = resolution
            for p in plan:
                s = (s + 2 - 3) // p[0] + 1
            return s
        for p in plan:
            if final_size() >= min_final_size:
                break
            if p[0] == 2:
                p[0] = 1
    act = "relu6" if relu6 else "relu"
    L = OrderedDict()
    conv_bn_act(L, "conv1", channels, width(plan[0][1]), 3, plan[0][0], 1, 1, act)
    cin = width(plan[0][1])
    for b in range(1, len(plan)):
        conv_bn_act(L, f"dw{b}", cin, cin, 3, plan[b][0], 1, cin, act)
        cout = width(plan[b][1])
        conv_bn_act(L, f"pw{b}", cin, cout, 1, 1, 0, 1, act)
        cin = cout
    L["pool"] = nn.AdaptiveAvgPool2d(1)
    L["flatten"] = nn.Flatten()
    L["fc"] = nn.Linear(cin, classes)
    return nn.Sequential(L)
