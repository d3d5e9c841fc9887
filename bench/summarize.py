#!/usr/bin/python3
"""summarize.py LINES.jsonl OUT.json THREADS: the table bench/run.sh prints.

Pools the repetitions of every round per (impl, measurement) and keeps those
that had the CPUs they asked for (CPU/wall >= 0.9 per thread: with 2 threads
a value near 1.0 means the host or another process took a vCPU away, and the
repetition measured the neighbours). Prints medians of the kept ones with
kept/all counts, and writes every JSON line plus the table to OUT.json
atomically (temporary file + rename).
"""
import json
import os
import statistics
import sys


def main():
    lines_path, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lines = [json.loads(l) for l in open(lines_path) if l.strip()]
    floor = 0.9 * threads
    res = {}
    for l in lines:
        r = res.setdefault((l["impl"], l["measure"]), {"ips": [], "cw": [], "all": 0})
        for ips, cw in zip(l["img_per_s_reps"], l["cpu_wall_reps"]):
            r["all"] += 1
            if cw >= floor:
                r["ips"].append(ips)
                r["cw"].append(cw)

    def stat(impl, m):
        r = res.get((impl, m))
        if not r or not r["ips"]:
            return float("nan"), float("nan"), 0, r["all"] if r else 0
        return statistics.median(r["ips"]), statistics.median(r["cw"]), len(r["ips"]), r["all"]

    rows, short = [], []
    print(f"\nmedians over repetitions with CPU/wall >= {floor:.1f} (kept/all in brackets)")
    print(f"{'measurement':<12} {'gibbon img/s':>18} {'torch img/s':>18} {'gibbon/torch':>13} "
          f"{'CPU/wall g':>11} {'CPU/wall t':>11}")
    for m in ("train", "forward", "input_grad"):
        g, gc, gk, ga = stat("gibbon", m)
        t, tc, tk, ta = stat("torch", m)
        ratio = g / t if t == t and t > 0 else float("nan")
        rows.append({"measure": m, "gibbon_img_per_s": g, "torch_img_per_s": t, "ratio": ratio,
                     "gibbon_cpu_wall": gc, "torch_cpu_wall": tc,
                     "gibbon_reps_kept": [gk, ga], "torch_reps_kept": [tk, ta]})
        print(f"{m:<12} {g:>10.0f} ({gk:>2}/{ga:<2}) {t:>10.0f} ({tk:>2}/{ta:<2}) {ratio:>13.2f} "
              f"{gc:>11.2f} {tc:>11.2f}")
        if gk < 3 or (ta and tk < 3):
            short.append(m)
    if short:
        print(f"warning: fewer than 3 uncontended repetitions on {', '.join(short)}: "
              "rerun when the machine is quiet")
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"cpu_wall_floor": floor, "table": rows, "runs": lines}, f, indent=1)
    os.replace(tmp, out)


if __name__ == "__main__":
    main()
