#!/usr/bin/env bash
# CLI end to end for the defenses and confidence: adversarial training with
# progress showing adversarial numbers and resume, distillation at a
# temperature, `eval --confidence` outputs, and bad flags refused.
set -u
G=${GIBBON:?set GIBBON to the gibbon binary}
. "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"

expect_error() {
  local name=$1 pat=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then fail "$name (exit $rc)"; cat "$tmp/err"; return; fi
  if ! grep -q -- "$pat" "$tmp/err"; then fail "$name (stderr lacks '$pat')"; cat "$tmp/err"; return; fi
  ok "$name"
}

D="--data fashion-mnist:train:256 --test fashion-mnist:test:128 --arch conv4-fc16 --batch 64"
if "$G" train $D --epochs 1 --adv pgd --adv-eps 0.1 --adv-steps 2 --out "$tmp/a.onnx" 2>"$tmp/a.err" >/dev/null &&
   "$G" train $D --epochs 2 --adv pgd --adv-eps 0.1 --adv-steps 2 --out "$tmp/a.onnx" --resume 2>"$tmp/b.err" >/dev/null; then
  if grep -q "adv acc" "$tmp/a.err" && grep -q "pgd adversarial training at eps 0.1" "$tmp/a.err"; then
    ok "adversarial training progress"
  else
    fail "adversarial training progress"; cat "$tmp/a.err"
  fi
  if grep -q "epoch 1/2" "$tmp/b.err"; then fail "adversarial resume redid epoch 1"; else ok "adversarial resume"; fi
else
  fail "adversarial training"; cat "$tmp/a.err" "$tmp/b.err"
fi

if "$G" train $D --epochs 1 --temperature 20 --out "$tmp/t.onnx" >/dev/null 2>"$tmp/t.err" &&
   "$G" train $D --epochs 1 --temperature 20 --distill-from "$tmp/t.onnx" --out "$tmp/s.onnx" >/dev/null 2>"$tmp/s.err"; then
  grep -q "distilled from" "$tmp/s.err" && ok "distillation" || { fail "distillation"; cat "$tmp/s.err"; }
else
  fail "distillation runs"; cat "$tmp/t.err" "$tmp/s.err"
fi

if "$G" eval --model "$tmp/t.onnx" --data fashion-mnist:test:200 --confidence --out "$tmp/c" >"$tmp/c.out" 2>&1 &&
   [ -s "$tmp/c/reliability.svg" ] && [ -s "$tmp/c/reliability_scaled.svg" ] &&
   grep -q '"auroc_energy"' "$tmp/c/confidence.json" && grep -q '"ece_scaled"' "$tmp/c/confidence.json"; then
  ok "eval --confidence"
else
  fail "eval --confidence"; cat "$tmp/c.out"
fi
# The FGSM part: consistent counts (histograms sum to the images and to the
# fooled ones), FGSM lowers the accuracy, and the ECE is a number in [0, 1].
if [ -s "$tmp/c/reliability_adversarial.svg" ] && /usr/bin/python3 - "$tmp/c/confidence.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
a = c["adversarial"]
assert a["eps"] == 0.1 and sum(a["hist_clean"]) == c["n_eval"], a
assert sum(a["hist_fooled"]) == a["fooled"] > 0, a
assert a["accuracy"] < c["accuracy"] and 0 <= a["ece"] <= 1 and 0 < a["mean_conf_fooled"] <= 1, a
PY
then ok "eval --confidence: FGSM calibration and confidence"; else fail "eval --confidence: FGSM part"; fi

expect_error "bad --adv" "--adv: 'madry'" "$G" train --adv madry --out "$tmp/x.onnx"
expect_error "--adv with --temperature" "do not combine" "$G" train --adv pgd --temperature 10 --out "$tmp/x.onnx"
expect_error "missing teacher" "--distill-from" "$G" train --distill-from "$tmp/none.onnx" --data fashion-mnist:train:16 --test none --out "$tmp/x.onnx"
expect_error "--confidence without --out" "needs --out" "$G" eval --model "$tmp/t.onnx" --confidence
expect_error "bad --adv-eps" "--adv-eps" "$G" eval --model "$tmp/t.onnx" --confidence --adv-eps -1 --out "$tmp/c2"

[ $fails -eq 0 ] && echo "all defense CLI checks passed" || { echo "$fails defense CLI checks failed"; exit 1; }
