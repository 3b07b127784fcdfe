"""Seed 002's UNet2DModel in diffusers on PyTorch, timed as `mnist-train bench --network unet2d` times it.

Run: python unet2d_diffusers.py [--quick]   (needs: pip install torch diffusers)
Prints JSON lines like `mnist-train bench`: `model`, `bench_train` (AdamW lr 2e-4, weight decay 0.01,
global-norm clipping at 1, batch 64 of N(0, 1) 28x28 images noised by DDPMScheduler, MSE on eps) and
`bench_forward` (batch 256, random t), each the median of its timed repetitions, on
torch.get_num_threads() threads (set OMP_NUM_THREADS to change it). `cargo xtask bench` runs it.
"""
import json
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DModel

quick = "--quick" in sys.argv
warmup, train_steps, forward_reps, train_batch, forward_batch = (0, 1, 1, 8, 8) if quick else (2, 20, 10, 64, 256)


def emit(line):
    print(json.dumps(line), flush=True)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


torch.manual_seed(0)
model = UNet2DModel(sample_size=28, in_channels=1, out_channels=1, layers_per_block=2, block_out_channels=(32, 64, 64),
                    down_block_types=("DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
                    up_block_types=("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"))
scheduler = DDPMScheduler(num_train_timesteps=1000)
optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4, weight_decay=0.01)
emit({"kind": "model", "n_params": sum(p.numel() for p in model.parameters()), "threads": torch.get_num_threads(),
      "torch": torch.__version__})

times = []
for i in range(warmup + train_steps):
    x0 = torch.randn(train_batch, 1, 28, 28)
    noise = torch.randn_like(x0)
    t = torch.randint(0, 1000, (train_batch,))
    started = time.perf_counter()
    loss = F.mse_loss(model(scheduler.add_noise(x0, noise, t), t).sample, noise)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    loss.item()
    if i >= warmup:
        times.append(time.perf_counter() - started)
step = statistics.median(times)
emit({"kind": "bench_train", "batch": train_batch, "median_step_s": step, "train_images_per_s": train_batch / step,
      "peak_rss_mib": peak_rss_mib()})

model.eval()
x = torch.randn(forward_batch, 1, 28, 28)
t = torch.randint(0, 1000, (forward_batch,))
times = []
with torch.no_grad():
    for i in range(warmup + forward_reps):
        started = time.perf_counter()
        model(x, t)
        if i >= warmup:
            times.append(time.perf_counter() - started)
forward = statistics.median(times)
emit({"kind": "bench_forward", "batch": forward_batch, "median_s": forward, "forward_images_per_s": forward_batch / forward,
      "peak_rss_mib": peak_rss_mib()})
emit({"kind": "end", "peak_rss_mib": peak_rss_mib()})
