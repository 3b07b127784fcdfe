"""More samples from the PyTorch reference program's trained model, for `mnist-train eval`.

`mnist_unet.py --train-minutes M` (in ../shared/bench/torch, see its README) saves its weights as
`mnist_unet_M<M>.pt` but draws only `--n-sample` images, DDPM-1000 first (about 1.2 s per image here), so 1000
of its DDIM-50 samples would cost 20 minutes of DDPM first. This script loads the saved weights and draws the
reference's own DDIM-50 (or DDPM-1000) with the reference's own code, seeded as it seeds them.

Run from the repository root (needs: pip install torch numpy pillow):
    python ../shared/bench/torch/mnist_unet.py --skip-bench --train-minutes 30
    python apps/mnist-train/scripts/torch_reference_samples.py bench-out/mnist_unet_M30.pt --n 1000 \
        --out bench-out/torch-ddim50.npy
    cargo run --release -p mnist-train -- eval --samples bench-out/torch-ddim50.npy
"""
import argparse
import os
import sys
import time

import numpy as np
import torch

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("weights", help="the .pt file mnist_unet.py --train-minutes saved")
ap.add_argument("--reference", default="../shared/bench/torch", help="folder holding mnist_unet.py")
ap.add_argument("--sampler", choices=["ddim50", "ddpm1000"], default="ddim50")
ap.add_argument("--n", type=int, default=1000)
ap.add_argument("--seed", type=int, default=0, help="as mnist_unet.py's --seed (it samples with seed + 100)")
ap.add_argument("--out", required=True, help=".npy to write: [N, 1, 28, 28] in [0, 1]")
args = ap.parse_args()

sys.path.insert(0, os.path.abspath(args.reference))
import mnist_unet as ref  # noqa: E402

torch.set_num_threads(2)
model = ref.UNet()
model.load_state_dict(torch.load(args.weights))
model.eval()
gen = torch.Generator().manual_seed(args.seed + 100)
start = time.perf_counter()
if args.sampler == "ddim50":
    x = ref.ddim_sample(model, ref.Schedule(), args.n, gen, steps=50)
else:
    x = ref.ddpm_sample(model, ref.Schedule(), args.n, gen)
wall = time.perf_counter() - start
x01 = ((x.clamp(-1, 1) + 1) / 2).numpy().astype(np.float32)
np.save(args.out, x01)
print(f"{args.n} {args.sampler} samples in {wall:.1f} s (raw range {float(x.min()):.2f}..{float(x.max()):.2f}, "
      f"mean pixel {float(x01.mean()):.3f}): wrote {args.out}")
