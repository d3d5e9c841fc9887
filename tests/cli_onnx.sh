#!/usr/bin/env bash
# ONNX export validated by the reference checker: test_onnx writes the models
# it exports (a hand-built Conv/BatchNorm/Clip/Reshape/Gemm graph and re-exports
# of the PyTorch fixtures) into a directory, then onnx.checker.check_model with
# full_check (schema and shape inference) must accept each one.
# Needs Debian's /usr/bin/python3 with the onnx module; skips without it.
set -u
cd "$(dirname "$0")/.."
bin=${TESTBIN:-$(dirname "${GIBBON:-build/release/gibbon}")/tests}/test_onnx
py=/usr/bin/python3
if [ ! -x "$bin" ]; then echo "FAIL cli_onnx: no test binary at $bin"; exit 1; fi
if ! "$py" -c 'import onnx' 2>/dev/null; then echo "SKIP cli_onnx: $py has no onnx module"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! GB_ONNX_EXPORT_DIR="$tmp" "$bin" >"$tmp/log" 2>&1; then
  echo "FAIL cli_onnx: $bin failed"; cat "$tmp/log"; exit 1
fi
"$py" - "$tmp" <<'PY'
import os, sys
import numpy as np
import onnx
from onnx import helper, numpy_helper
d = sys.argv[1]
names = sorted(f for f in os.listdir(d) if f.endswith(".onnx"))
want = {"handmade.onnx", "torch_cnn.onnx", "torch_bn.onnx"}
bad = 0
if not want <= set(names):
    print("FAIL cli_onnx: missing exports", sorted(want - set(names)))
    bad += 1
for f in names:
    m = onnx.load(os.path.join(d, f))
    try:
        onnx.checker.check_model(m, full_check=True)
        assert m.producer_name == "gibbon" and m.graph.name == "gibbon"
        assert len(m.graph.input) == 1 and len(m.graph.output) == 1
        assert m.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
        assert m.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "N"
        print("ok   onnx.checker", f)
    except Exception as e:
        print("FAIL onnx.checker", f, ":", e)
        bad += 1
    # Re-exports of the torch fixtures must carry the same tensors (decoded
    # here by onnx's own numpy_helper) and the same nodes as torch wrote.
    orig = os.path.join("tests/golden", f)
    if f.startswith("torch_") and os.path.exists(orig):
        o = onnx.load(orig)
        mine = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        theirs = {t.name: numpy_helper.to_array(t) for t in o.graph.initializer}
        attrs = lambda n: {a.name: helper.get_attribute_value(a) for a in n.attribute}
        same = mine.keys() == theirs.keys() and all(
            mine[k].dtype == theirs[k].dtype and np.array_equal(mine[k], theirs[k]) for k in mine)
        same = same and [(n.op_type, list(n.input), list(n.output), attrs(n)) for n in m.graph.node] == \
                        [(n.op_type, list(n.input), list(n.output), attrs(n)) for n in o.graph.node]
        print("ok  " if same else "FAIL", "same tensors and nodes as", orig)
        bad += not same
    if f == "handmade.onnx":
        shape = [numpy_helper.to_array(t) for t in m.graph.initializer if t.name == "shape"]
        good = len(shape) == 1 and shape[0].dtype == np.int64 and shape[0].tolist() == [-1, 32]
        print("ok  " if good else "FAIL", "int64 initializer in", f)
        bad += not good
sys.exit(1 if bad else 0)
PY
