#!/usr/bin/env bash
# The model-loading flags of eval and info (--mean/--std/--range/--layout/
# --output) on the PyTorch fixtures of tests/golden/make_adapt_fixtures.py:
# a model expecting normalized 0..255 input gets torch's predictions on [0,1]
# data with the flags, the final Softmax is announced, layout and range
# mistakes are refused with the fix in the message.
set -u
cd "$(dirname "$0")/.."
G=${GIBBON:-build/release/gibbon}
py=/usr/bin/python3
if ! "$py" -c 'import numpy' 2>/dev/null; then echo "SKIP cli_adapt: $py has no numpy"; exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }

# Data sets: the fixtures' [0,1] inputs labelled with torch's own predictions,
# the same scaled to 0..255, and the NHWC model's input.
"$py" - "$tmp" <<'PY'
import sys, numpy as np
d = sys.argv[1]
x = np.load("tests/golden/torch_norm255_in.npy")
y = np.load("tests/golden/torch_norm255_out.npy").argmax(1).astype(np.int64)
np.save(d + "/x.npy", x); np.save(d + "/y.npy", y)
np.save(d + "/x255.npy", x * 255)
np.save(d + "/h.npy", np.load("tests/golden/torch_nhwc_in.npy"))
np.save(d + "/hy.npy", np.load("tests/golden/torch_nhwc_logp.npy").argmax(1).astype(np.int64))
PY
M=tests/golden/torch_norm255.onnx
NORM=(--mean 123.675,116.28,103.53 --std 58.395,57.12,57.375 --range 255)

out=$("$G" eval --model $M --data "$tmp/x.npy,$tmp/y.npy" "${NORM[@]}" 2>"$tmp/err"); rc=$?
if [ $rc -eq 0 ] && grep -q "accuracy 1.0000 (4 examples)" <<<"$out"; then ok "eval with --mean/--std/--range 255 matches torch"
else bad "eval with normalization flags (rc $rc): $out $(cat "$tmp/err")"; fi
if grep -q "note: .* ends in Softmax; gibbon uses its input" "$tmp/err"; then ok "Softmax removal is announced"
else bad "no Softmax notice: $(cat "$tmp/err")"; fi

out=$("$G" eval --model $M --data "$tmp/x255.npy,$tmp/y.npy" "${NORM[@]}" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -qE "pixel values reach 255 .*divide the data by 255|outside \[0, 1\]" <<<"$out"; then ok "0..255 data is refused"
else bad "0..255 data (rc $rc): $out"; fi

out=$("$G" eval --model $M --data "$tmp/x.npy,$tmp/y.npy" --mean 1,2 --std 1 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "mean/std have 2 values but the model's input has 3 channels" <<<"$out"; then ok "channel mismatch"
else bad "channel mismatch (rc $rc): $out"; fi
for flags in "--mean 1,x" "--std 0" "--range -1" "--layout nwhc"; do
  out=$("$G" eval --model $M $flags 2>&1); rc=$?
  if [ $rc -eq 2 ] && [ "$(wc -l <<<"$out")" -eq 1 ]; then ok "bad flag $flags: $out"
  else bad "bad flag $flags (rc $rc): $out"; fi
done

out=$("$G" info --model $M "${NORM[@]}"); rc=$?
if [ $rc -eq 0 ] && grep -q "adapter:    \[0,1\] NCHW pixels -> x \* 255 -> (x - mean) / std" <<<"$out" &&
   grep -q "final Softmax is removed" <<<"$out"; then ok "info reports the adapter"
else bad "info with flags (rc $rc): $out"; fi

H=tests/golden/torch_nhwc.onnx
out=$("$G" eval --model $H --data "$tmp/h.npy,$tmp/hy.npy" 2>&1); rc=$?
if [ $rc -eq 1 ] && grep -q "takes NHWC input and the data is NCHW; load the model with --layout nhwc" <<<"$out"; then
  ok "NCHW data into an NHWC model names --layout nhwc"
else bad "NHWC mix-up (rc $rc): $out"; fi
out=$("$G" eval --model $H --data "$tmp/h.npy,$tmp/hy.npy" --layout nhwc 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q "accuracy 1.0000 (3 examples)" <<<"$out" && grep -q "has 2 outputs ('logp', 'feat'); using 'logp'" <<<"$out" &&
   grep -q "ends in LogSoftmax" <<<"$out"; then ok "--layout nhwc runs it, outputs and LogSoftmax announced"
else bad "--layout nhwc (rc $rc): $out"; fi
out=$("$G" info --model $H --layout nhwc --output feat); rc=$?
if [ $rc -eq 0 ] && grep -q "output:     feat (1, 48)" <<<"$out" && grep -q -- "-> NHWC (1 node inserted" <<<"$out"; then
  ok "info --output feat --layout nhwc"
else bad "info --output (rc $rc): $out"; fi
out=$("$G" info --model $H --output nope 2>&1); rc=$?
if grep -q "no graph output named 'nope' (the model's outputs: 'logp', 'feat')" <<<"$out"; then ok "unknown --output lists the outputs"
else bad "unknown --output (rc $rc): $out"; fi
exit $fail
