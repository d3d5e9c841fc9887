#!/usr/bin/python3
"""Exports torchvision models and small CNNs to ONNX with PyTorch's logits and
input gradients, for tests/test_torchvision.c (run by tests/cli_torchvision.sh).

Run with Debian's interpreter (torch 1.13, torchvision 0.14, onnx 1.12):

    /usr/bin/python3 tests/golden/make_torchvision.py OUTDIR [NAME...]

For each model NAME it writes into OUTDIR:
  NAME.onnx         exported in eval mode (opset 14 unless noted), batch dynamic
  NAME_x.npy        a fixed input batch (N, 3, H, W) in [0, 1]
  NAME_y.npy        the labels used for the loss (int64)
  NAME_logits.npy   torch's logits
  NAME_grad.npy     d/dx of the cross-entropy loss SUMMED over the batch (the
                    convention of gb_input_gradient), from torch's autograd
The models are randomly initialised (seeded); BatchNorm running statistics are
randomised too, so folding them into the convolutions is not a no-op. The
files are large (resnet18 is 45 MB), so the test generates them in a
temporary directory instead of committing them.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


class SmallCNN(nn.Module):
    """The shapes PyTorch users write by hand: flatten through x.view(x.size(0), -1),
    which the exporter writes as Shape -> Gather -> Unsqueeze -> Concat -> Reshape,
    grouped convolution, ReLU6 (Clip with constant inputs), ceil-mode max pooling
    and F.avg_pool2d with padding (Pad + AveragePool)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.b1 = nn.BatchNorm2d(16)
        self.c2 = nn.Conv2d(16, 32, 3, stride=2, padding=1, groups=4)
        self.b2 = nn.BatchNorm2d(32)
        self.fc = nn.Linear(32 * 4 * 4, 10)

    def forward(self, x):  # (N, 3, 32, 32)
        x = F.relu6(self.b1(self.c1(x)))
        x = F.max_pool2d(x, 3, stride=2, ceil_mode=True)  # (N, 16, 16, 16)
        x = torch.relu(self.b2(self.c2(x)))  # (N, 32, 8, 8)
        x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)  # (N, 32, 4, 4)
        return self.fc(x.view(x.size(0), -1))


class OpsCNN(nn.Module):
    """Exercises the operators beyond the classic CNN set: transposed
    convolution, nearest and bilinear upsampling (Resize), HardSwish, ELU,
    PReLU, SELU, LeakyReLU, InstanceNorm, global max pooling, channel shuffle
    (Reshape/Transpose on shapes computed from Shape), reflection padding
    (whose pads torch computes with ConstantOfShape/Slice/Transpose/Cast),
    Slice, Pow/Sqrt, Mean and Max reductions. (nn.LocalResponseNorm exports
    as an If over the input rank, so LRN is left to the node suite.)"""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.up = nn.ConvTranspose2d(8, 8, 3, stride=2, padding=1, output_padding=1)
        self.prelu = nn.PReLU(8)
        self.inorm = nn.InstanceNorm2d(8, affine=True)
        self.c2 = nn.Conv2d(16, 16, 3, stride=2, padding=1, groups=2)
        self.fc = nn.Linear(16 + 16 + 16, 10)

    def forward(self, x):  # (N, 3, 16, 16)
        x = F.hardswish(self.c1(x))  # (N, 8, 16, 16)
        a = self.prelu(self.up(x))  # (N, 8, 32, 32)
        a = F.elu(self.inorm(a))
        b = F.interpolate(x, scale_factor=2, mode="nearest")
        b = F.leaky_relu(b, 0.1)
        y = torch.cat([a, b], 1)  # (N, 16, 32, 32)
        n, c, h, w = y.shape
        y = y.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)  # channel shuffle
        y = F.pad(y, (1, 1, 1, 1), mode="reflect")[:, :, 1:-1, 1:-1]
        y = F.selu(self.c2(y))  # (N, 16, 16, 16)
        z = F.interpolate(y, size=(24, 24), mode="bilinear", align_corners=False)
        g1 = F.adaptive_max_pool2d(y, 1).flatten(1)
        g2 = torch.sqrt(z.pow(2).mean(dim=(2, 3)) + 1e-3)
        g3 = torch.sigmoid(z).amax(dim=(2, 3))
        return self.fc(torch.cat([g1, g2, g3], 1))


class TinyViT(nn.Module):
    """A transformer on 4x4 patches, exported at opset 17: LayerNormalization,
    exact GELU (Erf), multi-head self-attention (MatMul, Transpose, Softmax),
    a class token broadcast over the batch (Expand on a shape computed from
    Shape), positional embeddings repeated per example (Tile), an attention
    mask applied with masked_fill (Where on a constant Equal mask), and a
    Mish-activated head."""

    def __init__(self, dim=32, heads=2):
        super().__init__()
        self.heads = heads
        self.patch = nn.Conv2d(3, dim, 4, stride=4)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.5)
        self.pos = nn.Parameter(torch.randn(1, 17, dim) * 0.5)
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.fc2 = nn.Linear(2 * dim, dim)
        self.ln3 = nn.LayerNorm(dim, eps=1e-3)
        self.head = nn.Linear(dim, 10)
        # token i may not attend to token j when (i + 2 j) % 5 == 4 (the class token always sees all)
        idx = torch.arange(17)
        self.register_buffer("band", (idx[:, None] + 2 * idx[None, :]) % 5)

    def forward(self, x):  # (N, 3, 16, 16)
        n = x.shape[0]
        t = self.patch(x).flatten(2).transpose(1, 2)  # (N, 16, dim)
        t = torch.cat([self.cls.expand(n, -1, -1), t], 1) + self.pos.repeat(n, 1, 1)
        h = self.ln1(t)
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        split = lambda a: a.reshape(n, 17, self.heads, -1).transpose(1, 2)  # (N, H, 17, d)
        q, k, v = split(q), split(k), split(v)
        s = q @ k.transpose(-2, -1) / (q.shape[-1] ** 0.5)
        mask = (self.band == 4) & (torch.arange(17)[:, None] > 0)
        s = s.masked_fill(mask, float("-inf"))
        a = (s.softmax(-1) @ v).transpose(1, 2).reshape(n, 17, -1)
        t = t + self.proj(a)
        t = t + self.fc2(F.gelu(self.fc1(self.ln2(t))))
        z = self.ln3(t)
        return self.head(F.mish(z[:, 0] + z[:, 1:].mean(1)))


def randomize_bn(model):
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                c = mod.num_features
                mod.running_mean.copy_(torch.rand(c, generator=g) * 0.2 - 0.1)
                mod.running_var.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
                mod.weight.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
                mod.bias.copy_(torch.rand(c, generator=g) * 0.2 - 0.1)


MODELS = {
    # name: (constructor, input shape[, opset (default 14)])
    "resnet18": (lambda: torchvision.models.resnet18(weights=None), (2, 3, 224, 224)),
    "mobilenet_v2": (lambda: torchvision.models.mobilenet_v2(weights=None), (2, 3, 224, 224)),
    "squeezenet1_1": (lambda: torchvision.models.squeezenet1_1(weights=None), (2, 3, 224, 224)),
    "small_cnn": (SmallCNN, (4, 3, 32, 32)),
    "ops_cnn": (OpsCNN, (3, 3, 16, 16)),
    "tiny_vit": (TinyViT, (3, 3, 16, 16), 17),
}


def export(outdir, name):
    ctor, shape, *opset = MODELS[name]
    torch.manual_seed(0)
    model = ctor()
    randomize_bn(model)
    model.eval()
    x = torch.rand(*shape)
    path = os.path.join(outdir, name + ".onnx")
    torch.onnx.export(model, x, path, opset_version=opset[0] if opset else 14, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    y = torch.arange(x.shape[0]) * 7 % logits.shape[1]
    F.cross_entropy(logits, y, reduction="sum").backward()
    save = lambda suffix, a: np.save(os.path.join(outdir, f"{name}_{suffix}.npy"), a)
    save("x", x.numpy().astype(np.float32))
    save("y", y.numpy().astype(np.int64))
    save("logits", logits.detach().numpy().astype(np.float32))
    save("grad", xg.grad.numpy().astype(np.float32))
    print(f"{name}: {tuple(x.shape)} -> {tuple(logits.shape)}, {os.path.getsize(path)} bytes")


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: make_torchvision.py OUTDIR [NAME...]")
    torch.set_num_threads(2)
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    for name in sys.argv[2:] or list(MODELS):
        export(outdir, name)


if __name__ == "__main__":
    main()
