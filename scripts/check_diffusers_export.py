"""Checks an exported pipeline folder with diffusers itself (developers' check, not run by CI).

    python scripts/check_diffusers_export.py EXPORTED_DIR OUT_DIR
writes OUT_DIR/init_noise.npy ([4, C, S, S]) and OUT_DIR/diffusers_samples.npy: DDPMPipeline.from_pretrained
loads the folder, then DDIM (eta 0, 10 steps, the folder's scheduler settings) samples from that noise,
mapped to [0, 1] as `(x + 1) / 2` clamped. A class-embedded model (`num_class_embeds`, a conditional run) is
given its last class, which this toolkit trains as "no class". Then sample the same folder with this toolkit:
    mnist-train sample --checkpoint EXPORTED_DIR --sampler ddim --steps 10 --init-noise OUT_DIR/init_noise.npy --out OUT_DIR
(add `--class none` for a conditional run)
and compare OUT_DIR/samples.npy with OUT_DIR/diffusers_samples.npy (this script does when it finds both).
Needs: pip install torch diffusers.
"""
import os
import sys

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMPipeline

folder, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
pipeline = DDPMPipeline.from_pretrained(folder)
unet = pipeline.unet.eval()
print(f"loaded {folder}: {type(unet).__name__}, {sum(p.numel() for p in unet.parameters())} parameters, "
      f"{type(pipeline.scheduler).__name__} ({pipeline.scheduler.config.prediction_type})")
c, s = unet.config.in_channels, unet.config.sample_size
noise_file = os.path.join(out, "init_noise.npy")
if not os.path.exists(noise_file):
    np.save(noise_file, torch.randn(4, c, s, s, generator=torch.Generator().manual_seed(0)).numpy())
x = torch.from_numpy(np.load(noise_file))
classes = unet.config.num_class_embeds
labels = None if classes is None else torch.full((x.shape[0],), classes - 1, dtype=torch.long)
ddim = DDIMScheduler.from_config(pipeline.scheduler.config)
ddim.set_timesteps(10)
with torch.no_grad():
    for t in ddim.timesteps:
        x = ddim.step(unet(x, t, class_labels=labels).sample, t, x, eta=0.0).prev_sample
theirs = (x / 2 + 0.5).clamp(0, 1).numpy()
np.save(os.path.join(out, "diffusers_samples.npy"), theirs)
ours_file = os.path.join(out, "samples.npy")
if os.path.exists(ours_file):
    ours = np.load(ours_file)
    print(f"max |toolkit - diffusers| = {np.abs(ours - theirs).max():.3e} over {theirs.size} values in [0, 1]")
