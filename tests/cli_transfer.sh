#!/usr/bin/env bash
# CLI end to end for gibbon transfer on the shipped model: the diagonal of
# the matrix (source = target) equals the white-box success rate gibbon
# attack reports for the same attack and images (PGD with its random start:
# the same per-batch seeds); an ensemble of two copies of one model gives
# that model's row and the very same adversarial images; every output file
# is written; missing and corrupt model files, models with other input
# shapes or class counts (tiny ONNX files made here with Debian's python3
# onnx) and bad flags fail with a message naming the file or flag.
set -u
G=${GIBBON:?set GIBBON to the gibbon binary}
PY=/usr/bin/python3
M=models/fmnist_cnn.onnx
. "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
N=60
[ -n "${GIBBON_TEST_SANITIZED:-}" ] && N=16

cp "$M" "$tmp/copy.onnx"
"$G" attack --model "$M" --data fashion-mnist:test:$N --attack pgd --eps 0.05 --steps 10 --batch 32 \
    --out "$tmp/wb" >"$tmp/wb.log" 2>&1 || { fail "gibbon attack"; cat "$tmp/wb.log"; }
if "$G" transfer --source "$M,$tmp/copy.onnx" --target "$M" --attack pgd --eps 0.05 --steps 10 --batch 32 \
    --data fashion-mnist:test -n $N --out "$tmp/tr" >"$tmp/tr.log" 2>&1; then ok "transfer runs"
else fail "transfer runs"; cat "$tmp/tr.log"; fi
for f in matrix.csv cells.csv transfer.json transfer.svg adv_fmnist_cnn.npy adv_copy.npy adv_ensemble.npy; do
  [ -s "$tmp/tr/$f" ] && ok "wrote $f" || fail "missing $f"
done
$PY - "$tmp" <<'PY' && ok "diagonal = white-box success; ensemble of copies = single row" || fail "consistency"
import json, sys, csv
import numpy as np
t = sys.argv[1]
wb = json.load(open(t + "/wb/summary.json"))["success_rate"]
tr = json.load(open(t + "/tr/transfer.json"))
m = tr["success_rate"]
rows = list(csv.reader(open(t + "/tr/matrix.csv")))
assert rows[0] == ["source", "fmnist_cnn"], rows[0]
assert [r[0] for r in rows[1:]] == ["fmnist_cnn", "copy", "ensemble"], rows
assert abs(m[0][0] - wb) < 1e-6, (m[0][0], wb)
assert m[0] == m[1] == m[2], m
a = np.load(t + "/tr/adv_fmnist_cnn.npy")
assert np.array_equal(a, np.load(t + "/wb/adv.npy"))
assert np.array_equal(a, np.load(t + "/tr/adv_ensemble.npy"))
svg = open(t + "/tr/transfer.svg").read()
assert "fmnist_cnn" in svg and "ensemble" in svg and svg.rstrip().endswith("</svg>")
PY

# Models that do not fit: 5 classes, and a 32x32 input.
$PY - "$tmp" <<'PY' || fail "making test models"
import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
def make(path, side, k):
    w = numpy_helper.from_array(np.zeros((side * side, k), np.float32), "w")
    g = helper.make_graph([helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("MatMul", ["f", "w"], ["y"])],
                          "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, side, side])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, k])], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
make(sys.argv[1] + "/k5.onnx", 28, 5)
make(sys.argv[1] + "/s32.onnx", 32, 10)
PY
head -c 300 "$M" > "$tmp/corrupt.onnx"
expect_fail() { # NAME PATTERN ARGS...: non-zero exit, one message matching PATTERN
  local name=$1 pat=$2; shift 2
  "$G" transfer --data fashion-mnist:test -n 4 --out "$tmp/bad" "$@" >"$tmp/bad.log" 2>&1
  local rc=$?
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q -- "$pat" "$tmp/bad.log"; then ok "$name"
  else fail "$name (exit $rc)"; cat "$tmp/bad.log"; fi
}
expect_fail "missing model"   "nope.onnx"    --source "$tmp/nope.onnx" --target "$M"
expect_fail "corrupt model"   "corrupt.onnx" --source "$M" --target "$tmp/corrupt.onnx"
expect_fail "class count"     "classes"      --source "$M" --target "$tmp/k5.onnx"
expect_fail "input shape"     "s32.onnx"     --source "$tmp/s32.onnx" --target "$M"
expect_fail "no target"       "required"     --source "$M"
expect_fail "bad attack"      "--attack"     --source "$M" --target "$M" --attack nope
expect_fail "black-box craft" "white-box"    --source "$M" --target "$M" --attack hsj
expect_fail "bad di"          "--di"         --source "$M" --target "$M" --di 2
expect_fail "too many"        "at most"      --source "$M,$M,$M,$M,$M,$M,$M,$M,$M" --target "$M"
[ $fails -eq 0 ] && echo "cli_transfer: all ok" || echo "cli_transfer: $fails failed"
exit $((fails > 0))
