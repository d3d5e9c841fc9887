#!/usr/bin/python3
"""Writes the seed corpus of the ONNX loader fuzzer (tests/fuzz/corpus/).

    /usr/bin/python3 tests/fuzz/make_corpus.py EXPORT_DIR

EXPORT_DIR holds the models tests/test_onnx.c exports with
GB_ONNX_EXPORT_DIR set (gibbon's hand-built graph and zoo models). The
corpus gets:
  - those, and the PyTorch fixtures in tests/golden/;
  - ONNX backend node tests (Debian's libonnx-testdata) for ops gibbon runs,
    with every input but the first turned into an initializer from the
    test's own data, so they load as one-input models and the fuzzer reaches
    the ops' attribute parsing and kernels;
  - truncated and bit-flipped copies of a few of them (seeded).
Files are named by content hash, as libFuzzer names what it adds.
"""
import hashlib
import os
import random
import sys

import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")
NODE = "/usr/share/libonnx-testdata/data/node"
NODE_TESTS = [
    "test_conv_with_strides_padding", "test_maxpool_2d_ceil", "test_averagepool_2d_pads_count_include_pad",
    "test_resize_upsample_scales_linear", "test_slice", "test_gather_0", "test_convtranspose_pads",
    "test_batchnorm_example", "test_reshape_negative_dim", "test_transpose_default",
    "test_split_equal_parts_1d", "test_reduce_mean_keepdims_example", "test_instancenorm_example",
    "test_lrn", "test_matmul_4d", "test_gemm_all_attributes", "test_expand_dim_changed",
    "test_softmax_axis_1", "test_clip", "test_concat_2d_axis_1", "test_constant_pad",
    "test_globalaveragepool", "test_prelu_example", "test_flatten_axis1", "test_unsqueeze_axis_0",
]


def save(data):
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


def one_input(test):
    """The node test's model with inputs 1.. turned into initializers."""
    d = os.path.join(NODE, test)
    if not os.path.exists(os.path.join(d, "model.onnx")):
        return None
    m = onnx.load(os.path.join(d, "model.onnx"))
    for i, vi in enumerate(list(m.graph.input)[1:], start=1):
        t = onnx.TensorProto()
        with open(os.path.join(d, "test_data_set_0", "input_%d.pb" % i), "rb") as f:
            t.ParseFromString(f.read())
        t.name = vi.name
        m.graph.initializer.append(t)
    del m.graph.input[1:]
    return m.SerializeToString()


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(1)
    seeds = []
    for d in (sys.argv[1], os.path.join(HERE, "..", "golden")):
        for f in sorted(os.listdir(d)):
            if f.endswith(".onnx"):
                with open(os.path.join(d, f), "rb") as fh:
                    seeds.append(fh.read())
    for t in NODE_TESTS:
        data = one_input(t)
        if data:
            seeds.append(data)
    for s in seeds:
        save(s)
    for s in seeds[:8]:
        for frac in (0.3, 0.7, 0.95):
            save(s[: int(len(s) * frac)])
        for _ in range(3):
            b = bytearray(s)
            for _ in range(4):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            save(bytes(b))
    print(len(os.listdir(OUT)), "files in", OUT)


if __name__ == "__main__":
    main()
