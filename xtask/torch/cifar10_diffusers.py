"""A pipeline laid out as google/ddpm-cifar10-32 (UNet2DModel 128-256-256-256, attention at 16x16, 35.7 M
parameters), random weights, in diffusers on PyTorch: what `cargo xtask bench` times
`image-train sample --checkpoint PIPE --sampler ddim --steps 20` and `mnist-train bench --pipeline PIPE`
against.

Run: python cifar10_diffusers.py --pipeline DIR --workload ddim|train [--quick]   (needs: pip install torch diffusers)
Writes the pipeline folder (seed 0 weights, the hub's configs) to DIR when it has none, then prints JSON
lines: `model`, then for `ddim` a `ddim` line (16 images, 20 DDIM steps by diffusers' own loop from a
seeded x_T, eta 0, clipped x_0 as the hub's scheduler says; the median of its timed repetitions), for
`train` `bench_train` (AdamW lr 2e-4, weight decay 0.01, global-norm clipping at 1, batch 16 of N(0, 1)
images noised by DDPMScheduler, MSE on eps) and `bench_forward` (batch 32, random t), as
`unet2d_diffusers.py` times them; and `end` (peak memory). One workload per process, so that the peak
memory is the workload's own. On torch.get_num_threads() threads (set OMP_NUM_THREADS to change it).
"""
import argparse
import json
import pathlib
import resource
import statistics
import time

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMPipeline, DDPMScheduler, UNet2DModel

parser = argparse.ArgumentParser()
parser.add_argument("--pipeline", type=pathlib.Path, required=True)
parser.add_argument("--workload", choices=["ddim", "train"], required=True)
parser.add_argument("--quick", action="store_true")
args = parser.parse_args()
warmup, reps, images, steps = (0, 1, 2, 2) if args.quick else (1, 3, 16, 20)
train_steps, forward_reps, train_batch, forward_batch = (1, 1, 2, 2) if args.quick else (5, 3, 16, 32)


def emit(line):
    print(json.dumps(line), flush=True)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# google/ddpm-cifar10-32's unet/config.json and scheduler_config.json.
UNET = dict(sample_size=32, in_channels=3, out_channels=3, layers_per_block=2, block_out_channels=(128, 256, 256, 256),
            down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"), attention_head_dim=None,
            downsample_padding=0, flip_sin_to_cos=False, freq_shift=1, norm_eps=1e-6, norm_num_groups=32)
if not (args.pipeline / "model_index.json").is_file():
    torch.manual_seed(0)
    DDPMPipeline(unet=UNet2DModel(**UNET), scheduler=DDPMScheduler(num_train_timesteps=1000, clip_sample=True)).save_pretrained(
        args.pipeline)

model = UNet2DModel.from_pretrained(args.pipeline / "unet")
emit({"kind": "model", "n_params": sum(p.numel() for p in model.parameters()), "threads": torch.get_num_threads(),
      "torch": torch.__version__})


def ddim():
    model.eval()
    scheduler = DDIMScheduler.from_config(DDPMScheduler.load_config(args.pipeline / "scheduler"))
    times = []
    with torch.no_grad():
        for i in range(warmup + reps):
            x = torch.randn(images, 3, 32, 32, generator=torch.Generator().manual_seed(0))
            started = time.perf_counter()
            scheduler.set_timesteps(steps)
            for t in scheduler.timesteps:
                x = scheduler.step(model(x, t).sample, t, x, eta=0.0).prev_sample
            if i >= warmup:
                times.append(time.perf_counter() - started)
    emit({"kind": "ddim", "images": images, "steps": steps, "median_s": statistics.median(times), "peak_rss_mib": peak_rss_mib()})


def train():
    scheduler = DDPMScheduler(num_train_timesteps=1000)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4, weight_decay=0.01)
    model.train()
    times = []
    for i in range(warmup + train_steps):
        x0 = torch.randn(train_batch, 3, 32, 32)
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
    x = torch.randn(forward_batch, 3, 32, 32)
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


ddim() if args.workload == "ddim" else train()
emit({"kind": "end", "peak_rss_mib": peak_rss_mib()})
