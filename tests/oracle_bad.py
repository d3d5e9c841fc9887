#!/usr/bin/python3
"""oracle_bad.py MODE — an oracle program that breaks gibbon's protocol on
purpose, for tests/test_blackbox.c. It reads one request, then:
  shape   replies (N+1, 10) probabilities      nan     replies NaN scores
  logits  replies scores that are not probabilities
  extra   replies correctly, then 5 more bytes
  slow    replies correctly, but after 30 s     die     exits with status 7"""
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from oracle_example import read_request, write_reply  # noqa: E402

mode = sys.argv[1]
x = read_request(sys.stdin.buffer)
n = x.shape[0]
out = sys.stdout.buffer
p = np.full((n, 10), 0.1, dtype=np.float32)
if mode == "shape":
    write_reply(out, np.full((n + 1, 10), 0.1, dtype=np.float32))
elif mode == "nan":
    p[0, 0] = np.nan
    write_reply(out, p)
elif mode == "logits":
    write_reply(out, p * 30 - 2)
elif mode == "extra":
    write_reply(out, p)
    out.write(b"12345")
    out.flush()
elif mode == "slow":
    time.sleep(30)
    write_reply(out, p)
elif mode == "die":
    sys.exit(7)
time.sleep(30)
