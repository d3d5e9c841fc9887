"""Real JPEG (libjpeg through Pillow) as the reference for gibbon's jpeg:Q
defense: python3 jpeg_pil.py in.npy out.npy Q. in.npy holds (N, 1, H, W)
floats in [0,1]; each image is rounded to 8 bits, saved as a greyscale
baseline JPEG at quality Q (Pillow's tables: the standard luminance table
scaled as libjpeg does), decoded, and written back as floats in [0,1]."""
import io
import sys

import numpy as np
from PIL import Image

x = np.load(sys.argv[1])
q = int(sys.argv[3])
out = np.empty_like(x, dtype=np.float32)
for i in range(x.shape[0]):
    for c in range(x.shape[1]):
        img = Image.fromarray(np.rint(np.clip(x[i, c], 0, 1) * 255).astype(np.uint8), mode="L")
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=q)
        buf.seek(0)
        out[i, c] = np.asarray(Image.open(buf), dtype=np.float32) / 255
np.save(sys.argv[2], out)
