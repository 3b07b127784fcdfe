"""Real MNIST digits, and the same digits damaged, as samples.npy files for `mnist-train eval`: how the
project's metric scores real data (BENCHMARKS.md, "MNIST: quality by the project's own metric").

Run from the repository root (needs: pip install numpy scipy):
    python apps/mnist-train/scripts/damaged_digits.py /tmp/digits
    for f in clean blur1 noise; do cargo run --release -p mnist-train -- eval --samples /tmp/digits/$f.npy; done
"""
import gzip
import os
import sys

import numpy as np
from scipy.ndimage import gaussian_filter

out = sys.argv[1] if len(sys.argv) > 1 else "."
os.makedirs(out, exist_ok=True)
with gzip.open("datasets/mnist/train-images-idx3-ubyte.gz") as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28).astype(np.float32) / 255
rng = np.random.default_rng(0)
clean = x[rng.choice(len(x), 1000, replace=False)]
np.save(os.path.join(out, "clean.npy"), clean[:, None])
np.save(os.path.join(out, "blur1.npy"), np.stack([gaussian_filter(im, 1.0) for im in clean])[:, None].astype(np.float32))
np.save(os.path.join(out, "noise.npy"), np.clip(clean + rng.normal(0, 0.25, clean.shape), 0, 1)[:, None].astype(np.float32))
