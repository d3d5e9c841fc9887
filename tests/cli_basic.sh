#!/usr/bin/env bash
# CLI end to end: train a tiny model, resume it, evaluate, attack with FGSM,
# check the outputs; then bad flags, missing and corrupt files: a one-line
# error naming the file or flag, a non-zero exit, no crash, no partial output.
set -u
G=${GIBBON:?set GIBBON to the gibbon binary}
. "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"

# expect_error NAME PATTERN CMD... : non-zero exit (not a signal), one stderr line matching PATTERN
expect_error() {
  local name=$1 pat=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then fail "$name (exit $rc)"; cat "$tmp/err"; return; fi
  if ! grep -q -- "$pat" "$tmp/err"; then fail "$name (stderr lacks '$pat')"; cat "$tmp/err"; return; fi
  if [ "$(wc -l <"$tmp/err")" -gt 2 ]; then fail "$name (more than a short error)"; cat "$tmp/err"; return; fi
  ok "$name"
}

# --- a tiny training run, stopped after 1 epoch and resumed for a 2nd
if "$G" train --arch conv8-fc16 --data fashion-mnist:train:2000 --test fashion-mnist:test:500 \
     --epochs 1 --batch 64 --out "$tmp/m.onnx" >"$tmp/train1" 2>"$tmp/train1.err" &&
   "$G" train --arch conv8-fc16 --data fashion-mnist:train:2000 --test fashion-mnist:test:500 \
     --epochs 2 --batch 64 --out "$tmp/m.onnx" --resume >"$tmp/train2" 2>"$tmp/train2.err"; then
  if grep -q "epoch 1/2" "$tmp/train2.err"; then fail "resume skipped the finished epoch"; else ok "train + resume"; fi
else
  fail "train"; cat "$tmp/train1.err" "$tmp/train2.err"
fi
[ -f "$tmp/m.onnx.ckpt" ] && ok "checkpoint written" || fail "checkpoint written"

out=$("$G" eval --model "$tmp/m.onnx" --data fashion-mnist:test:500 2>&1)
acc=$(echo "$out" | awk '/^accuracy/ {print $2}')
if awk -v a="${acc:-0}" 'BEGIN {exit !(a > 0.6)}'; then ok "eval ($acc)"; else fail "eval: $out"; fi

if "$G" attack --model "$tmp/m.onnx" --data fashion-mnist:test:300 --eps 0.1 --out "$tmp/a1" >"$tmp/att" 2>&1; then
  ok "attack single eps"
else
  fail "attack single eps"; cat "$tmp/att"
fi
for f in summary.json examples.csv examples.json adv.npy; do
  [ -s "$tmp/a1/$f" ] && ok "wrote $f" || fail "missing $f"
done
[ "$(($(wc -l <"$tmp/a1/examples.csv") - 1))" -eq 300 ] && ok "300 rows in examples.csv" || fail "examples.csv rows"
if command -v /usr/bin/python3 >/dev/null && /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  if /usr/bin/python3 - "$tmp/a1" <<'PY'
import json, sys, numpy as np
d = sys.argv[1]
s = json.load(open(d + "/summary.json"))
for k in ("clean_accuracy", "robust_accuracy", "success_rate", "n", "time_s", "attack"):
    assert k in s, k
assert s["n"] == 300 and 0 <= s["robust_accuracy"] <= s["clean_accuracy"] + 0.05
assert s["attack"]["name"] == "fgsm" and abs(s["attack"]["eps"] - 0.1) < 1e-9
a = np.load(d + "/adv.npy")
assert a.shape == (300, 1, 28, 28) and a.dtype == np.float32
assert a.min() >= 0 and a.max() <= 1
ex = json.load(open(d + "/examples.json"))
assert len(ex) == 300 and all(abs(e["linf"]) <= 0.1 + 1e-6 for e in ex)
PY
  then ok "summary.json / adv.npy / examples.json contents"; else fail "output contents"; fi
fi

if "$G" attack --model "$tmp/m.onnx" --data fashion-mnist:test:200 --eps 0.05,0.2 --targeted --target random \
     --out "$tmp/a2" >"$tmp/att2" 2>&1 && [ -s "$tmp/a2/summary.json" ] && [ -s "$tmp/a2/eps_0.2/summary.json" ]; then
  ok "attack sweep, targeted"
else
  fail "attack sweep, targeted"; cat "$tmp/att2"
fi

# --- bad flags
expect_error "unknown command" "unknown command" "$G" frobnicate
expect_error "unknown flag" "unknown option '--epz'" "$G" attack --model "$tmp/m.onnx" --epz 0.1 --out "$tmp/x"
expect_error "bad eps" "eps" "$G" attack --model "$tmp/m.onnx" --eps abc --out "$tmp/x"
expect_error "eps out of range" "outside" "$G" attack --model "$tmp/m.onnx" --eps 3 --out "$tmp/x"
expect_error "bad attack name" "unknown attack" "$G" attack --model "$tmp/m.onnx" --attack nope --out "$tmp/x"
expect_error "bad int" "not a valid integer" "$G" train --epochs ten --out "$tmp/y.onnx"
expect_error "missing value" "needs a value" "$G" eval --model
expect_error "missing required" "required" "$G" eval
expect_error "bad arch" "unknown architecture layer" "$G" train --arch conv8-blah --data fashion-mnist:train:100 --test none --out "$tmp/y.onnx"
expect_error "bad optimizer" "optimizer" "$G" train --optimizer rmsprop --out "$tmp/y.onnx"

# --- missing and corrupt files
expect_error "missing model" "$tmp/none.onnx" "$G" eval --model "$tmp/none.onnx"
head -c 1000 "$tmp/m.onnx" >"$tmp/trunc.onnx"
expect_error "truncated model" "$tmp/trunc.onnx" "$G" eval --model "$tmp/trunc.onnx"
head -c 4096 /dev/urandom >"$tmp/rand.onnx"
expect_error "random-bytes model" "$tmp/rand.onnx" "$G" eval --model "$tmp/rand.onnx"
: >"$tmp/empty.onnx"
expect_error "empty model" "$tmp/empty.onnx" "$G" eval --model "$tmp/empty.onnx"
expect_error "missing data dir" "no such dataset directory" "$G" eval --model "$tmp/m.onnx" --data "$tmp/nodata:test"
mkdir -p "$tmp/bad"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  cp "/usr/share/datasets/fashion-mnist/$f.gz" "$tmp/bad/$f.gz"
done
head -c 20000 /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz >"$tmp/bad/t10k-images-idx3-ubyte.gz"
expect_error "truncated gzip data" "t10k-images-idx3-ubyte.gz" "$G" eval --model "$tmp/m.onnx" --data "$tmp/bad:test"
printf '\x00\x00\x08\x04\x00\x00\x00\x01' | gzip >"$tmp/bad/t10k-images-idx3-ubyte.gz"
expect_error "wrong IDX magic" "magic" "$G" eval --model "$tmp/m.onnx" --data "$tmp/bad:test"
cp /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz "$tmp/bad/"
cp /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz "$tmp/bad/t10k-labels-idx1-ubyte.gz"
expect_error "mismatched label count" "10000" "$G" eval --model "$tmp/m.onnx" --data "$tmp/bad:test"

# --- no partial output when a run fails: the model file is not created
expect_error "train fails cleanly" "" "$G" train --arch conv8-fc16 --data "$tmp/bad:test" --test none --out "$tmp/never.onnx"
[ ! -e "$tmp/never.onnx" ] && ok "no partial model file" || fail "partial model file left"
ls "$tmp" | grep -q '\.tmp\.' && fail "temporary files left behind" || ok "no temporary files left"

if [ $fails -gt 0 ]; then echo "$fails CLI checks failed"; exit 1; fi
echo "all CLI checks passed"
