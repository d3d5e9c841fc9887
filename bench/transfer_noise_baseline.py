#!/usr/bin/python3
"""transfer_noise_baseline.py — the chance level for bench/transfer_experiment.sh:
the success rate of random +-eps sign noise (clipped to [0,1]) on the first N
Fashion-MNIST test images, per model, with the success rate of gibbon
transfer (correctly classified images made wrong). Runs the models with the
numpy interpreter of tests/oracle_example.py.

  /usr/bin/python3 bench/transfer_noise_baseline.py EPS N MODEL.onnx...
"""
import gzip
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from oracle_example import Model  # noqa: E402


def load(n):
    d = "/usr/share/datasets/fashion-mnist/"
    with gzip.open(d + "t10k-images-idx3-ubyte.gz") as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n]
    with gzip.open(d + "t10k-labels-idx1-ubyte.gz") as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:n]
    return x.astype(np.float32) / 255, y.astype(np.int64)


def main():
    eps, n, paths = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    x, y = load(n)
    rng = np.random.default_rng(0)
    xn = np.clip(x + eps * rng.choice([-1.0, 1.0], size=x.shape).astype(np.float32), 0, 1)
    for p in paths:
        m = Model(p)
        right = m.forward(x).argmax(1) == y
        wrong = m.forward(xn).argmax(1) != y
        print(f"{os.path.basename(p):24s} noise success rate {np.mean(wrong[right]):.4f}")


if __name__ == "__main__":
    main()
