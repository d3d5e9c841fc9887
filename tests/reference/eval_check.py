"""Independent check of a `gibbon eval --eps` directory (tests/cli_eval.sh):
runs the ONNX model with PyTorch (attacks_torch.py's loader) on the clean and
adversarial images and checks eval.json and examples.csv against it.
  /usr/bin/python3 tests/reference/eval_check.py OUT_DIR MODEL.onnx N"""
import csv, json, sys
import numpy as np, torch
sys.path.insert(0, "tests/reference")
from attacks_torch import OnnxTorch, load_fmnist
out, model_path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
model = OnnxTorch(model_path).eval()
x, y = load_fmnist(n)
js = json.load(open(f"{out}/eval.json"))
with torch.no_grad():
    clean = model(x).argmax(1)
acc = (clean == y).float().mean().item()
assert abs(js["clean_accuracy"] - acc) < 1e-6, (js["clean_accuracy"], acc)
assert js["n"] == n and js["threat_model"] == "Linf" and js["complete"]
for run in js["runs"]:
    eps = run["eps"]
    rows = list(csv.DictReader(open(f"{out}/{run['dir']}/examples.csv")))
    xa = torch.tensor(np.load(f"{out}/{run['dir']}/x_adv.npy"))
    assert xa.shape == x.shape, xa.shape
    with torch.no_grad():
        pred = model(xa).argmax(1)
    d = (xa - x).abs().flatten(1).max(1).values
    assert (d <= eps + 1e-6).all(), ("outside the ball", d.max().item(), eps)
    assert (xa >= 0).all() and (xa <= 1).all(), "outside the box"
    robust = 0
    for i, r in enumerate(rows):
        assert int(r["label"]) == int(y[i])
        if r["broken_by"] == "clean":
            assert int(clean[i]) != int(y[i])
        elif r["robust"] == "1":
            robust += 1
            assert torch.equal(xa[i], x[i]) and int(pred[i]) == int(y[i])
        else:
            assert int(pred[i]) != int(y[i]) and int(pred[i]) == int(r["adv_pred"]), (i, r)
    assert abs(run["robust_accuracy"] - robust / n) < 1e-5, (run["robust_accuracy"], robust / n)
    cum = [a["robust_accuracy"] for a in run["attacks"]]
    assert all(b <= a + 1e-9 for a, b in zip(cum, cum[1:])) and abs(cum[-1] - robust / n) < 1e-5
    assert acc >= cum[0]
print("checked", len(js["runs"]), "runs")
