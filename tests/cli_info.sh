#!/usr/bin/env bash
# gibbon info: the report on a supported model (op histogram, parameters,
# FLOPs, "supported: yes", exit 0), on one with an op gibbon lacks (the op
# is named, exit 3), and on models with several inputs (each listed with
# shape and type, exit 3 naming the problem) or outputs (each listed;
# --output picks one, an unknown name is an error), using ONNX node-suite
# models when Debian's libonnx-testdata is installed.
set -u
cd "$(dirname "$0")/.."
G=${GIBBON:-build/release/gibbon}
fail=0
out=$("$G" info --model models/fmnist_cnn.onnx); rc=$?
for want in "input:      'image' (-1, 1, 28, 28) float32" "Conv " "parameters: " "FLOPs:      " "supported:  yes" "classes:    10"; do
  if [ $rc -ne 0 ] || ! grep -qF "$want" <<<"$out"; then echo "FAIL info on the shipped model lacks '$want' (rc $rc)"; fail=1; fi
done
[ $fail = 0 ] && echo "ok   info on the shipped model"
node=/usr/share/libonnx-testdata/data/node
# expect NAME MODEL WANT_RC PATTERN... [-- ARGS...]: info's exit status and output lines
expect() {
  local name=$1 model=$2 want_rc=$3; shift 3
  local pats=() args=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do pats+=("$1"); shift; done
  [ $# -gt 0 ] && shift && args=("$@")
  local out rc
  out=$("$G" info --model "$model" "${args[@]}" 2>&1); rc=$?
  for p in "${pats[@]}"; do
    if [ $rc -ne "$want_rc" ] || ! grep -qE -- "$p" <<<"$out"; then
      echo "FAIL $name (rc $rc, want $want_rc; no line matching '$p'):"; echo "$out"; fail=1; return
    fi
  done
  echo "ok   $name"
}
if [ -d "$node" ]; then
  expect "info names the unsupported op" "$node/test_hardmax_example/model.onnx" 3 \
    "supported:  no: .*Hardmax" "Hardmax .*\(not supported\)"
  expect "info on a model with three inputs" "$node/test_where_example/model.onnx" 3 \
    "^inputs:     3: 'condition' \(2, 2\) bool, 'x' \(2, 2\) float32, 'y' \(2, 2\) float32" \
    "^  Where +1$" "supported:  no: .*3 graph inputs .*one image input"
  expect "info on a model with two outputs" "$node/test_split_equal_parts_2d/model.onnx" 0 \
    "^input:      'input' \(2, 6\) float32" \
    "^outputs:    2: 'output_1' \(2, 3\) float32, 'output_2' \(2, 3\) float32 \(choose with --output\)" \
    "^output:     output_1 \(2, 3\)" "supported:  yes"
  expect "info --output picks the second output" "$node/test_split_equal_parts_2d/model.onnx" 0 \
    "^output:     output_2 \(2, 3\)" -- --output output_2
  expect "info --output with an unknown name" "$node/test_split_equal_parts_2d/model.onnx" 3 \
    "supported:  no: .*nope" -- --output nope
fi
exit $fail
