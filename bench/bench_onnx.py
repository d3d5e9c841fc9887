#!/usr/bin/python3
"""bench_onnx.py: the PyTorch side of bench/bench_onnx.sh.

  bench_onnx.py export OUTDIR      writes resnet18_224.onnx (torchvision
                                   resnet18, 1000 classes, 3x224x224) and
                                   resnet18_cifar.onnx (ResNet-18 for CIFAR:
                                   3x3 stride-1 stem, no max-pool, 10 classes,
                                   3x32x32), random init, eval mode, batch
                                   dynamic (opset 14)
  bench_onnx.py run NAME BATCH [REPS]
                                   times the same model in PyTorch

Measurements, as bench_onnx.c (one JSON line each): forward (eval,
torch.no_grad()) and input_grad (eval: forward + summed cross-entropy +
torch.autograd.grad w.r.t. the input; parameters keep requires_grad as in an
attack loop, autograd only runs what leads to x). One warm-up pass, REPS
repetitions, median images/s and median CPU/wall. Run under /usr/bin/python3
with OPENBLAS_NUM_THREADS=1; torch.set_num_threads(2).
"""
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torchvision


def make(name):
    torch.manual_seed(0)
    if name == "resnet18_224":
        return torchvision.models.resnet18(num_classes=1000).eval(), 224
    m = torchvision.models.resnet18(num_classes=10)
    m.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
    m.maxpool = nn.Identity()
    return m.eval(), 32


def export(outdir):
    for name in ("resnet18_224", "resnet18_cifar"):
        m, hw = make(name)
        x = torch.rand(1, 3, hw, hw)
        torch.onnx.export(m, x, os.path.join(outdir, name + ".onnx"), opset_version=14,
                          input_names=["image"], output_names=["logits"],
                          dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}})


def run(name, batch, reps):
    torch.set_num_threads(2)
    m, hw = make(name)
    x = torch.rand(batch, 3, hw, hw)
    y = torch.randint(0, 10, (batch,))

    def forward():
        with torch.no_grad():
            m(x)

    def input_grad():
        xr = x.clone().requires_grad_(True)
        loss = nn.functional.cross_entropy(m(xr), y, reduction="sum")
        torch.autograd.grad(loss, xr)

    for what, fn in (("forward", forward), ("input_grad", input_grad)):
        fn()
        secs, ratio = [], []
        for _ in range(reps):
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            w, c = time.perf_counter() - w0, time.process_time() - c0
            secs.append(w)
            ratio.append(c / w)
        s = statistics.median(secs)
        print(json.dumps({"impl": "torch", "model": name + ".onnx", "what": what, "batch": batch,
                          "images_per_sec": round(batch / s, 2), "sec_per_batch": round(s, 4),
                          "cpu_over_wall": round(statistics.median(ratio), 2)}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "export":
        export(sys.argv[2])
    else:
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 5)
