#!/usr/bin/env bash
# gibbon info: the report on a supported model (op histogram, parameters,
# FLOPs, "supported: yes", exit 0) and on one with an op gibbon lacks (the op
# is named, exit 3), using the ONNX node-suite model for Erf when Debian's
# libonnx-testdata is installed.
set -u
cd "$(dirname "$0")/.."
G=${GIBBON:-build/release/gibbon}
fail=0
out=$("$G" info --model models/fmnist_cnn.onnx); rc=$?
for want in "input:      image (-1, 1, 28, 28)" "Conv " "parameters: " "FLOPs:      " "supported:  yes" "classes:    10"; do
  if [ $rc -ne 0 ] || ! grep -qF "$want" <<<"$out"; then echo "FAIL info on the shipped model lacks '$want' (rc $rc)"; fail=1; fi
done
[ $fail = 0 ] && echo "ok   info on the shipped model"
erf=/usr/share/libonnx-testdata/data/node/test_erf/model.onnx
if [ -f "$erf" ]; then
  out=$("$G" info --model "$erf"); rc=$?
  if [ $rc -eq 3 ] && grep -q "supported:  no: .*Erf" <<<"$out" && grep -q "Erf .*(not supported)" <<<"$out"; then
    echo "ok   info names the unsupported op"
  else
    echo "FAIL info on $erf (rc $rc): $out"; fail=1
  fi
fi
exit $fail
