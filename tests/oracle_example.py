#!/usr/bin/python3
"""oracle_example.py — an external oracle for `gibbon attack --oracle` (and the tests).

It speaks gibbon's oracle protocol (README, "Black-box attacks"): read one .npy
float32 (N, C, H, W) batch from stdin, write one .npy reply to stdout, repeat
until stdin ends. The reply is float32 (N, K) softmax probabilities, or with
--labels int64 (N,) top labels.

The model is an ONNX file run by a small numpy interpreter written here
(Sub, Div, Mul, Add, Conv, Relu, MaxPool, Flatten, Gemm, Dropout as identity,
Softmax): enough for gibbon's zoo CNNs such as models/fmnist_cnn.onnx. To
attack another runtime, keep read_request/write_reply and replace forward().

  /usr/bin/python3 tests/oracle_example.py models/fmnist_cnn.onnx [--labels]
"""
import ast
import io
import sys

import numpy as np


def read_exact(f, n):
    buf = b""
    while len(buf) < n:
        chunk = f.read(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_request(f):
    """One .npy array from a stream (np.load wants a seekable file)."""
    pre = read_exact(f, 10)
    if pre is None:
        return None
    assert pre[:6] == b"\x93NUMPY", "not a .npy request"
    if pre[6] == 1:
        hlen = int.from_bytes(pre[8:10], "little")
    else:
        hlen = int.from_bytes(pre[8:10] + read_exact(f, 2), "little")
    header = ast.literal_eval(read_exact(f, hlen).decode("latin1"))
    dtype = np.dtype(header["descr"])
    shape = header["shape"]
    count = int(np.prod(shape))
    data = read_exact(f, count * dtype.itemsize)
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def write_reply(f, arr):
    b = io.BytesIO()
    np.lib.format.write_array(b, np.ascontiguousarray(arr), allow_pickle=False)
    f.write(b.getvalue())
    f.flush()


def conv2d(x, w, b, stride, pads):
    n, c, h, wd = x.shape
    oc, _, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (x.shape[2] - kh) // stride[0] + 1
    ow = (x.shape[3] - kw) // stride[1] + 1
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=np.float32)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = x[:, :, i:i + stride[0] * oh:stride[0], j:j + stride[1] * ow:stride[1]]
    out = np.einsum("nckluv,ockl->nouv", cols, w, optimize=True)
    return out + (b.reshape(1, -1, 1, 1) if b is not None else 0)


def maxpool(x, k, s):
    n, c, h, w = x.shape
    oh, ow = (h - k[0]) // s[0] + 1, (w - k[1]) // s[1] + 1
    out = np.full((n, c, oh, ow), -np.inf, dtype=np.float32)
    for i in range(k[0]):
        for j in range(k[1]):
            out = np.maximum(out, x[:, :, i:i + s[0] * oh:s[0], j:j + s[1] * ow:s[1]])
    return out


class Model:
    def __init__(self, path):
        import onnx  # here, so that tests/oracle_bad.py starts fast
        from onnx import numpy_helper

        self.attr = onnx.helper.get_attribute_value
        g = onnx.load(path).graph
        self.vals0 = {t.name: numpy_helper.to_array(t).astype(np.float32) for t in g.initializer}
        self.nodes = g.node
        self.input = [i.name for i in g.input if i.name not in self.vals0][0]
        self.output = g.output[0].name

    def forward(self, x):
        v = dict(self.vals0)
        v[self.input] = x.astype(np.float32)
        for nd in self.nodes:
            a = {at.name: self.attr(at) for at in nd.attribute}
            i = [v[name] if name else None for name in nd.input]
            op = nd.op_type
            if op in ("Sub", "Div", "Mul", "Add"):
                y = {"Sub": np.subtract, "Div": np.divide, "Mul": np.multiply, "Add": np.add}[op](i[0], i[1])
            elif op == "Conv":
                y = conv2d(i[0], i[1], i[2] if len(i) > 2 else None, a.get("strides", [1, 1]),
                           a.get("pads", [0, 0, 0, 0]))
            elif op == "Relu":
                y = np.maximum(i[0], 0)
            elif op == "MaxPool":
                y = maxpool(i[0], a["kernel_shape"], a.get("strides", a["kernel_shape"]))
            elif op == "Flatten":
                y = i[0].reshape(i[0].shape[0], -1)
            elif op == "Gemm":
                w = i[1].T if a.get("transB", 0) else i[1]
                y = i[0] @ w + (i[2] if len(i) > 2 else 0)
            elif op in ("Dropout", "Identity"):
                y = i[0]
            elif op == "BatchNormalization":  # inference: running statistics
                c = (-1,) + (1,) * (i[0].ndim - 2)
                y = (i[0] - i[3].reshape(c)) / np.sqrt(i[4].reshape(c) + a.get("epsilon", 1e-5))
                y = y * i[1].reshape(c) + i[2].reshape(c)
            elif op == "Softmax":
                y = i[0]  # probabilities are taken below
            else:
                raise SystemExit(f"oracle_example.py: op {op} not supported")
            v[nd.output[0]] = y.astype(np.float32)
        return v[self.output]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    labels = "--labels" in sys.argv
    model = Model(args[0] if args else "models/fmnist_cnn.onnx")
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        x = read_request(inp)
        if x is None:
            return
        z = model.forward(x).astype(np.float64)
        if labels:
            write_reply(out, z.argmax(1).astype(np.int64))
        else:
            p = np.exp(z - z.max(1, keepdims=True))
            write_reply(out, (p / p.sum(1, keepdims=True)).astype(np.float32))


if __name__ == "__main__":
    main()
