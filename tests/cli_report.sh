#!/usr/bin/env bash
# CLI end to end for `gibbon report`: a small real evaluation (gibbon eval
# --eps on the shipped model), the report rendered with a transfer matrix and
# a defense table, then checked twice:
#  - statically (/usr/bin/python3): every <img> is a data: PNG that decodes,
#    every inline <svg> parses as XML, the numbers shown are eval.json's, the
#    figures are the broken examples, nothing refers to the network;
#  - in headless Chromium (Debian's chromium): an injected script counts
#    images with naturalWidth > 0 and SVGs with a non-empty box and writes
#    the counts into the DOM (--dump-dom), the console log has no errors,
#    and a screenshot is a non-trivial 1200x2000 PNG. A copy with one image
#    corrupted must fail the same check (the check can fail).
# Chromium that cannot start prints a SKIP line for the browser part.
set -u
G=${GIBBON:?set GIBBON to the gibbon binary}
M=models/fmnist_cnn.onnx
PY=/usr/bin/python3
. "$(dirname "${BASH_SOURCE[0]}")/lib_cli.sh"
N=24
[ -n "${GIBBON_TEST_SANITIZED:-}" ] && N=8

# 1. A real evaluation, kept small: few iterations and targets.
if "$G" eval --model "$M" --data fashion-mnist:test --eps 0.05,0.1 --n "$N" --iters 5 --targets 2 \
     --attacks apgd-ce,apgd-t,fab-t --out "$tmp/ev" >"$tmp/eval.log" 2>&1 && [ -s "$tmp/ev/eval.json" ]; then
  ok "gibbon eval wrote eval.json"
else
  fail "gibbon eval"; cat "$tmp/eval.log"; exit 1
fi

# A second evaluation to compare with: the same model behind a bit-depth
# front, attacked through its true (zero) gradient: "robust", and flagged.
if "$G" eval --model "$M" --data fashion-mnist:test --eps 0.1 --n "$N" --iters 5 --attacks apgd-ce \
     --defense bits:4 --out "$tmp/evb" >"$tmp/evalb.log" 2>&1 && [ -s "$tmp/evb/eval.json" ]; then
  ok "gibbon eval --defense bits:4 wrote eval.json"
else
  fail "gibbon eval --defense"; cat "$tmp/evalb.log"; exit 1
fi

cat >"$tmp/transfer.json" <<'EOF'
{"attack": "pgd", "eps": 0.1, "command": "gibbon transfer --sources a.onnx,b.onnx --targets a.onnx,b.onnx,c.onnx",
 "sources": ["a.onnx", {"name": "b<script>.onnx"}], "targets": ["a.onnx", "b.onnx", "c.onnx"],
 "success": [[1.0, 0.42, null], [0.37, 0.98, 0.5]]}
EOF
cat >"$tmp/defenses.json" <<'EOF'
[{"name": "plain", "clean_accuracy": 0.923, "robust_accuracy": 0.0, "attack": "autoattack", "eps": 0.1},
 {"name": "pgd-at", "clean_accuracy": 0.85, "robust_accuracy": 0.61, "attack": "autoattack", "eps": 0.1}]
EOF

# 2. The report.
if "$G" report --in "$tmp/ev" --transfer "$tmp/transfer.json" --defenses "$tmp/defenses.json" --examples 3 \
     --compare "$tmp/ev,$tmp/evb" \
     >"$tmp/report.log" 2>&1 && [ -s "$tmp/ev/report.html" ] && grep -q "wrote $tmp/ev/report.html" "$tmp/report.log"; then
  ok "gibbon report wrote report.html"
else
  fail "gibbon report"; cat "$tmp/report.log"; exit 1
fi
ls "$tmp/ev" | grep -q '\.tmp\.' && fail "temporary file left behind" || ok "written atomically (no temporary left)"

# Bad input: one line, non-zero exit.
"$G" report >"$tmp/e1" 2>&1; [ $? -eq 2 ] && grep -q -- "--in DIR is required" "$tmp/e1" && ok "missing --in" || fail "missing --in"
"$G" report --in "$tmp/none" >"$tmp/e2" 2>&1; [ $? -eq 1 ] && grep -q "none/eval.json: cannot open" "$tmp/e2" && ok "missing dir names eval.json" || fail "missing dir"
"$G" report --in "$tmp/ev" --compare "$tmp/ev,$tmp/none" --out "$tmp/y.html" >"$tmp/e5" 2>&1
[ $? -eq 1 ] && grep -q "none/eval.json: cannot open" "$tmp/e5" && [ ! -e "$tmp/y.html" ] && ok "bad --compare dir named" || { fail "bad --compare"; cat "$tmp/e5"; }
"$G" report --in "$tmp/ev" --examples -1 >"$tmp/e3" 2>&1; [ $? -eq 2 ] && grep -q -- "--examples" "$tmp/e3" && ok "bad --examples" || fail "bad --examples"
echo '{"success": 1}' >"$tmp/bad.json"
"$G" report --in "$tmp/ev" --transfer "$tmp/bad.json" --out "$tmp/x.html" >"$tmp/e4" 2>&1
[ $? -eq 1 ] && grep -q "bad.json: no \"success\" matrix" "$tmp/e4" && [ ! -e "$tmp/x.html" ] && ok "bad transfer JSON" || { fail "bad transfer JSON"; cat "$tmp/e4"; }

# 3. Static checks.
if [ -x "$PY" ]; then
  if "$PY" - "$tmp/ev" "$tmp/evb" >"$tmp/static.log" 2>&1 <<'PY'
import base64, csv, html, json, re, struct, sys, zlib
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
d = sys.argv[1]
page = open(f"{d}/report.html", encoding="utf-8").read()
ev = json.load(open(f"{d}/eval.json"))

class P(HTMLParser):
    def __init__(self):
        super().__init__(); self.imgs = []; self.refs = []; self.text = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img": self.imgs.append(a.get("src", ""))
        for k in ("src", "href"):
            if k in a and tag != "img": self.refs.append(a[k])
    def handle_data(self, t): self.text.append(t)
p = P(); p.feed(page)
assert not re.search(r"(src|href)=\"(https?:)?//", page), "network reference"
assert "<script" not in page and "&lt;script&gt;" in page, "names are escaped"

def png_ok(b):
    assert b[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", b[16:24]); assert w > 100 and h > 100
    i, idat = 8, b""
    while i < len(b):
        n, = struct.unpack(">I", b[i:i + 4]); t = b[i + 4:i + 8]
        if t == b"IDAT": idat += b[i + 8:i + 8 + n]
        i += 12 + n
    raw = zlib.decompress(idat); assert len(raw) == h * (1 + 3 * w), (len(raw), w, h)
for s in p.imgs:
    assert s.startswith("data:image/png;base64,"), s[:40]
    png_ok(base64.b64decode(s.split(",", 1)[1]))

# the figures are the most confident broken examples at the smallest eps that has any
runs = sorted(ev["runs"], key=lambda r: r["eps"])
broken = []
for r in runs:
    rows = list(csv.DictReader(open(f"{d}/{r['dir']}/examples.csv")))
    broken = [x for x in rows if x["robust"] == "0" and x["broken_by"] not in ("", "clean")]
    if broken: break
broken.sort(key=lambda x: (-float(x["adv_conf"]), int(x["index"])))
want = [int(x["index"]) for x in broken[:3]]
got = [int(m) for m in re.findall(r"<figcaption>Example (\d+) ", page)]
assert len(p.imgs) == len(want) and got == want, (got, want)

svgs = re.findall(r"<svg .*?</svg>", page, re.S)
for s in svgs: ET.fromstring(s)
# curve, 2 histograms, transfer heat map, defense bars, comparison bars
assert len(svgs) == 6, len(svgs)
# the comparison: one row per evaluation and eps, numbers and flags from each eval.json
cmp = page[page.index('id="compare"'):]
cmp = cmp[:cmp.index("</table>")]
rows = re.findall(r"<tr><td>\d+</td><td class=\"l\">(.*?)</td><td>(.*?)</td><td>(\d+)</td><td>(.*?)</td><td>(.*?)</td>"
                  r"<td class=\"l\">.*?</td><td class=\"l\">(.*?)</td></tr>", cmp)
want = []
for e, name in ((ev, "fmnist_cnn"), (json.load(open(f"{sys.argv[2]}/eval.json")), "fmnist_cnn + bits:4")):
    fl = ", ".join(f["code"] for f in e["flags"])
    for r in e["runs"]:
        want.append((name, f"{r['eps']:g}", str(e["n"]), f"{100 * e['clean_accuracy']:.1f}%",
                     f"{100 * r['robust_accuracy']:.1f}%", f"<b>{fl}</b>" if fl else "none"))
assert rows == want, (rows, want)
assert "zero_gradients" in rows[-1][5], rows[-1]

text = html.unescape("".join(p.text))
assert f"{100 * ev['clean_accuracy']:.1f}%" in text
for r in ev["runs"]:
    assert f"robust at \u03b5 = {r['eps']:g}{100 * r['robust_accuracy']:.1f}%" in text, r["eps"]
    for a in r["attacks"]:
        assert f"<td>{100 * a['robust_accuracy']:.1f}%</td>" in page, a
assert ev["command"] in text, "eval command shown"
for sec in ("flags", "examples", "robustness", "confidence", "transfer", "defenses", "compare", "reproduce"):
    assert f'id="{sec}"' in page, sec
print(f"static ok: {len(p.imgs)} figures, {len(svgs)} svgs")
PY
  then ok "static checks ($(tail -1 "$tmp/static.log"))"; else fail "static checks"; cat "$tmp/static.log"; fi
else
  echo "SKIP static checks: $PY missing"
fi

# 4. Headless Chromium.
CHROME=$(command -v chromium || command -v chromium-browser || true)
chrome() { # chrome ARGS...: a fresh profile each time, killed after 60 s
  local prof; prof=$(mktemp -d "$tmp/prof.XXXX")
  timeout 60 "$CHROME" --headless --no-sandbox --disable-gpu --user-data-dir="$prof" --no-first-run \
    --disable-extensions --enable-logging=stderr --v=0 "$@"
}
probe='<script>window.addEventListener("load",function(){var im=document.images,ok=0;
for(var i=0;i<im.length;i++)if(im[i].complete&&im[i].naturalWidth>0)ok++;
var sv=document.querySelectorAll("svg"),dr=0;
for(var j=0;j<sv.length;j++){var b=sv[j].getBoundingClientRect();if(b.width>0&&b.height>0&&sv[j].getBBox().width>0)dr++;}
var e=document.createElement("div");e.id="gb-check";e.textContent="images "+ok+"/"+im.length+" svgs "+dr+"/"+sv.length;
document.body.appendChild(e);});</script>'
inject() { "$PY" -c 'import sys; s=open(sys.argv[1]).read(); open(sys.argv[2],"w").write(s.replace("</body>", sys.argv[3] + "</body>"))' "$@"; }
nimg=$(grep -o '<img ' "$tmp/ev/report.html" | wc -l)
nsvg=$(grep -o '<svg ' "$tmp/ev/report.html" | wc -l)
: >"$tmp/dom.html"
if [ -n "$CHROME" ] && [ -x "$PY" ]; then
  cp "$tmp/ev/report.html" "$tmp/probe_src.html"
  inject "$tmp/probe_src.html" "$tmp/ev/probe.html" "$probe"
  chrome --virtual-time-budget=10000 --dump-dom "file://$tmp/ev/probe.html" >"$tmp/dom.html" 2>"$tmp/chrome.log"
fi
if [ -z "$CHROME" ] || [ ! -x "$PY" ] || ! grep -q "<html" "$tmp/dom.html"; then
  echo "SKIP chromium: ${CHROME:-not installed}${CHROME:+ cannot start} (Debian's chromium: bash scripts/install-deps.sh test)"
  [ -n "$CHROME" ] && tail -3 "$tmp/chrome.log"
else
  if grep -q "id=\"gb-check\">images $nimg/$nimg svgs $nsvg/$nsvg<" "$tmp/dom.html" && [ "$nimg" -gt 0 ]; then
    ok "chromium: all $nimg images and $nsvg plots loaded"
  else
    fail "chromium load check: $(grep -o 'id="gb-check">[^<]*' "$tmp/dom.html" || echo 'no result in the DOM'), want $nimg images, $nsvg svgs"
  fi
  if grep -E "CONSOLE|Uncaught|Failed to load resource" "$tmp/chrome.log" >"$tmp/console.txt"; then
    fail "chromium console errors"; head -5 "$tmp/console.txt"
  else
    ok "chromium: no console errors"
  fi
  # Negative control: a corrupted image and a console error must both be seen.
  "$PY" -c 'import sys; s=open(sys.argv[1]).read(); open(sys.argv[1],"w").write(s.replace("base64,iVBOR", "base64,AAAA", 1))' "$tmp/probe_src.html"
  inject "$tmp/probe_src.html" "$tmp/ev/broken.html" "$probe<script>console.error(\"gb-negative-control\")</script>"
  chrome --virtual-time-budget=10000 --dump-dom "file://$tmp/ev/broken.html" >"$tmp/dom2.html" 2>"$tmp/chrome2.log"
  if grep -q "id=\"gb-check\">images $((nimg - 1))/$nimg " "$tmp/dom2.html" &&
     grep -E "CONSOLE|Uncaught|Failed to load resource" "$tmp/chrome2.log" | grep -q gb-negative-control; then
    ok "chromium: a corrupted image and a console error are detected"
  else
    fail "negative control: $(grep -o 'id="gb-check">[^<]*' "$tmp/dom2.html" || echo 'no result')"
  fi
  chrome --screenshot="$tmp/shot.png" --window-size=1200,2000 --hide-scrollbars "file://$tmp/ev/report.html" \
    >/dev/null 2>"$tmp/chrome3.log"
  if "$PY" - "$tmp/shot.png" <<'PY'
import struct, sys, zlib
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", b[16:24])
assert (w, h) == (1200, 2000), (w, h)
i, idat = 8, b""
while i < len(b):
    n, = struct.unpack(">I", b[i:i + 4])
    if b[i + 4:i + 8] == b"IDAT": idat += b[i + 8:i + 8 + n]
    i += 12 + n
raw = zlib.decompress(idat)
# a blank or single-colour page compresses to almost nothing and has few byte values
assert len(b) > 30000 and len(set(raw)) > 100, (len(b), len(set(raw)))
PY
  then ok "chromium screenshot: non-trivial 1200x2000 PNG"; else fail "screenshot"; fi
fi

[ $fails -eq 0 ] && echo "cli_report: all ok" || echo "cli_report: $fails failed"
[ $fails -eq 0 ]
