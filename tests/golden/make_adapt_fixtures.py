#!/usr/bin/python3
"""Generates the PyTorch fixtures for gibbon's model adapters (tests/test_adapt.c):
models that expect something other than [0,1] NCHW pixels and return
something other than plain logits, as models in the wild do.

Run with Debian's interpreter (torch 1.13):

    /usr/bin/python3 tests/golden/make_adapt_fixtures.py

Writes into tests/golden/:
  torch_norm255.onnx   (N,3,8,8) input expected normalized in 0..255 units,
                       (x255 - mean) / std with Caffe-style per-channel
                       mean/std; Conv -> Relu -> Flatten -> Gemm -> Softmax
  torch_norm255_in.npy     pixels in [0,1] (what gibbon is given)
  torch_norm255_out.npy    torch's logits (the Softmax's input) for the
                           normalized batch torch is given
  torch_nhwc.onnx      (N,6,6,2) NHWC input (permuted inside the model), two
                       outputs: "logp" (LogSoftmax of the logits) and "feat"
                       (the features before the last layer)
  torch_nhwc_in.npy        the batch in NCHW, as gibbon takes it
  torch_nhwc_logp.npy, torch_nhwc_feat.npy   torch's outputs
Everything is seeded; files are a few KB.
"""
import os

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
MEAN255 = [123.675, 116.28, 103.53]
STD255 = [58.395, 57.12, 57.375]


class Norm255(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 6)

    def logits(self, x):
        return self.fc(torch.flatten(torch.relu(self.conv(x)), 1))

    def forward(self, x):
        return torch.softmax(self.logits(x), dim=1)


class NHWC(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3)
        self.fc = nn.Linear(3 * 4 * 4, 5)

    def forward(self, x):  # (N, 6, 6, 2)
        f = torch.flatten(torch.relu(self.conv(x.permute(0, 3, 1, 2))), 1)
        return torch.log_softmax(self.fc(f), dim=1), f


def save(name, a):
    np.save(os.path.join(HERE, name + ".npy"), np.ascontiguousarray(a, dtype=np.float32))


def main():
    torch.manual_seed(3)
    m = Norm255().eval()
    x = torch.rand(4, 3, 8, 8)
    mean = torch.tensor(MEAN255).view(1, 3, 1, 1)
    std = torch.tensor(STD255).view(1, 3, 1, 1)
    xn = (x * 255 - mean) / std
    with torch.no_grad():
        logits = m.logits(xn)
    path = os.path.join(HERE, "torch_norm255.onnx")
    torch.onnx.export(m, xn, path, opset_version=13, input_names=["data"], output_names=["prob"],
                      dynamic_axes={"data": {0: "N"}, "prob": {0: "N"}})
    save("torch_norm255_in", x.numpy())
    save("torch_norm255_out", logits.numpy())
    print("torch_norm255", os.path.getsize(path), "bytes")

    m = NHWC().eval()
    x = torch.rand(3, 2, 6, 6)
    with torch.no_grad():
        logp, feat = m(x.permute(0, 2, 3, 1))
    path = os.path.join(HERE, "torch_nhwc.onnx")
    torch.onnx.export(m, x.permute(0, 2, 3, 1).contiguous(), path, opset_version=13,
                      input_names=["image"], output_names=["logp", "feat"],
                      dynamic_axes={"image": {0: "N"}, "logp": {0: "N"}, "feat": {0: "N"}})
    save("torch_nhwc_in", x.numpy())
    save("torch_nhwc_logp", logp.numpy())
    save("torch_nhwc_feat", feat.numpy())
    print("torch_nhwc", os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
