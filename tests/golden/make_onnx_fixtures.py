#!/usr/bin/python3
"""Generates the PyTorch-exported ONNX fixtures that tests/test_onnx.c loads.

Run with Debian's interpreter (torch 1.13, onnx 1.12):

    /usr/bin/python3 tests/golden/make_onnx_fixtures.py

Writes into tests/golden/:
  torch_cnn.onnx   Conv(pad 1, stride 2) -> Relu -> MaxPool -> Flatten -> Gemm,
                   exported in eval mode (opset 13)
  torch_bn.onnx    Conv -> BatchNormalization -> Relu -> Flatten -> Gemm,
                   exported with training=PRESERVE on an eval-mode model and no
                   constant folding, so BatchNormalization stays a node with
                   its running statistics as initializers (opset 14)
  <name>_in.npy / <name>_out.npy   a fixed input batch and torch's logits

The outputs are torch's own forward pass (not an ONNX runtime), so the C test
checks gibbon's import against an independent implementation. Everything is
seeded; files are tiny (a few KB) and committed.
"""
import os

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))


class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, kernel_size=3, stride=2, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 2 * 2, 5)

    def forward(self, x):  # (N, 1, 8, 8)
        x = self.pool(torch.relu(self.conv(x)))  # (N, 4, 2, 2)
        return self.fc(torch.flatten(x, 1))  # (N, 5)


class TinyBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, kernel_size=3, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(3)
        self.fc = nn.Linear(3 * 4 * 4, 4)

    def forward(self, x):  # (N, 2, 6, 6)
        x = torch.relu(self.bn(self.conv(x)))  # (N, 3, 4, 4)
        return self.fc(torch.flatten(x, 1))  # (N, 4)


def export(name, model, x, opset, **kw):
    model.eval()
    with torch.no_grad():
        y = model(x)
    path = os.path.join(HERE, name + ".onnx")
    torch.onnx.export(model, x, path, opset_version=opset, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}},
                      **kw)
    np.save(os.path.join(HERE, name + "_in.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(HERE, name + "_out.npy"), y.numpy().astype(np.float32))
    print(name, tuple(x.shape), "->", tuple(y.shape), os.path.getsize(path), "bytes")


def main():
    torch.manual_seed(0)
    export("torch_cnn", TinyCNN(), torch.rand(3, 1, 8, 8), 13)

    bn = TinyBN()
    # Non-trivial running statistics and affine parameters, so a wrong BN
    # formula cannot pass by accident.
    with torch.no_grad():
        bn.bn.running_mean.uniform_(-0.5, 0.5)
        bn.bn.running_var.uniform_(0.5, 2.0)
        bn.bn.weight.uniform_(0.5, 1.5)
        bn.bn.bias.uniform_(-0.5, 0.5)
    export("torch_bn", bn, torch.rand(2, 2, 6, 6), 14,
           training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)


if __name__ == "__main__":
    main()
