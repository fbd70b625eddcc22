#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""PyTorch reference of the gst-nerv HNeRV decoder: speed benchmark and cross-check.

Modes:
  bench --threads T [--config anchor|small|FILE] [--frames N] [--steps S]
      time a training step (fwd + MSE + bwd + Adam, batch 1) and a decode, per frame.
  crosscheck DIR
      compare the C side's output.bin / losses.txt with PyTorch on the same weights.
  selftest-dump DIR [--config tiny|anchor|small|FILE]
      write a complete crosscheck directory from PyTorch itself (to test crosscheck).

Run with Debian's torch: /usr/bin/python3 (python3-torch 1.13).
File formats (little-endian float32, no headers) are described in crosscheck_files().
"""
import argparse
import math
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# Tolerances of the crosscheck (C float32 vs PyTorch float32):
#   forward: max |C - torch| over all output values of all frames must be <= 1e-3
#   loss curve: |loss_torch - loss_c| / |loss_torch| must be <= 5 % at every step
FWD_MAX_ABS_TOL = 1e-3
LOSS_REL_TOL = 0.05

BUILTIN_CONFIGS = {
    # The ANCHORS.md HNeRV benchmark decoder: 320x160, 476,470 parameters.
    "anchor": dict(width=320, height=160, frames=32, embed_c=16, embed_h=2, embed_w=4,
                   fc_dim=61, n_stages=5, strides=[5, 2, 2, 2, 2], kernels=[1, 3, 5, 5, 5],
                   channels=[51, 42, 35, 29, 24], head_kernel=3, out_channels=3,
                   lr=0.001, steps=100),
    "small": dict(width=320, height=192, frames=32, embed_c=8, embed_h=3, embed_w=5,
                  fc_dim=24, n_stages=5, strides=[4, 2, 2, 2, 2], kernels=[1, 3, 3, 3, 3],
                  channels=[20, 17, 14, 12, 10], head_kernel=3, out_channels=3,
                  lr=0.001, steps=100),
    # Quick default for selftest-dump: 64x64, 4 frames, 20 steps.
    "tiny": dict(width=64, height=64, frames=4, embed_c=8, embed_h=2, embed_w=2,
                 fc_dim=16, n_stages=4, strides=[4, 2, 2, 2], kernels=[1, 3, 3, 3],
                 channels=[16, 12, 10, 8], head_kernel=3, out_channels=3,
                 lr=0.001, steps=20),
}
LIST_KEYS = ("strides", "kernels", "channels")
FLOAT_KEYS = ("lr",)


# ---------------------------------------------------------------- config
def parse_config(path):
    cfg = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            key, val = (s.strip() for s in line.split("=", 1))
            if key in LIST_KEYS:
                cfg[key] = [int(v) for v in val.split(",") if v.strip()]
            elif key in FLOAT_KEYS:
                cfg[key] = float(val)
            else:
                cfg[key] = int(val)
    return cfg


def load_config(name):
    if name in BUILTIN_CONFIGS and not os.path.exists(name):
        cfg = dict(BUILTIN_CONFIGS[name])
    else:
        cfg = parse_config(name)
    cfg.setdefault("out_channels", 3)
    cfg.setdefault("lr", 0.001)
    cfg.setdefault("steps", 100)
    cfg.setdefault("n_stages", len(cfg["strides"]))
    n = cfg["n_stages"]
    for key in LIST_KEYS:
        if len(cfg[key]) != n:
            sys.exit(f"config: {key} has {len(cfg[key])} entries, n_stages={n}")
    up = math.prod(cfg["strides"])
    if (cfg["embed_h"] * up, cfg["embed_w"] * up) != (cfg["height"], cfg["width"]):
        sys.exit("config: embed_h/embed_w * prod(strides) does not give height/width")
    return cfg


def write_config(cfg, path):
    with open(path, "w") as f:
        for key, val in cfg.items():
            if isinstance(val, list):
                val = ",".join(str(v) for v in val)
            f.write(f"{key}={val}\n")


# ---------------------------------------------------------------- model
class HNeRVDecoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.stem = nn.Conv2d(cfg["embed_c"], cfg["fc_dim"], 1)
        self.stages = nn.ModuleList()
        self.strides = cfg["strides"]
        c_in = cfg["fc_dim"]
        for c, s, k in zip(cfg["channels"], cfg["strides"], cfg["kernels"]):
            self.stages.append(nn.Conv2d(c_in, c * s * s, k, padding=(k - 1) // 2))
            c_in = c
        hk = cfg["head_kernel"]
        self.head = nn.Conv2d(c_in, cfg["out_channels"], hk, padding=(hk - 1) // 2)

    def ordered_params(self):
        """Parameters in weights.bin order."""
        convs = [self.stem, *self.stages, self.head]
        return [p for conv in convs for p in (conv.weight, conv.bias)]

    def forward(self, x):
        x = F.gelu(self.stem(x), approximate="none")
        for conv, s in zip(self.stages, self.strides):
            x = F.gelu(F.pixel_shuffle(conv(x), s), approximate="none")
        return torch.tanh(self.head(x)) * 0.5 + 0.5


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- raw files
def read_f32(path, shape):
    a = np.fromfile(path, dtype="<f4")
    if a.size != math.prod(shape):
        sys.exit(f"{path}: {a.size} floats, expected {math.prod(shape)} for {list(shape)}")
    return torch.from_numpy(a.astype(np.float32).reshape(shape))


def write_f32(path, t):
    t.detach().cpu().numpy().astype("<f4").tofile(path)


def load_weights(model, path):
    a = np.fromfile(path, dtype="<f4")
    total = n_params(model)
    if a.size != total:
        sys.exit(f"{path}: {a.size} floats, the config's decoder has {total}")
    off = 0
    with torch.no_grad():
        for p in model.ordered_params():
            p.copy_(torch.from_numpy(a[off:off + p.numel()].astype(np.float32)).view_as(p))
            off += p.numel()


def save_weights(model, path):
    write_f32(path, torch.cat([p.detach().reshape(-1) for p in model.ordered_params()]))


def embed_shape(cfg):
    return (cfg["frames"], cfg["embed_c"], cfg["embed_h"], cfg["embed_w"])


def frames_shape(cfg):
    return (cfg["frames"], cfg["out_channels"], cfg["height"], cfg["width"])


# ---------------------------------------------------------------- training
def lr_at(t, n, lr):
    """Linear warm-up from 0.1*lr over the first 10 % of steps, then cosine to 0."""
    warm = max(1, int(0.1 * n))
    if t < warm:
        return lr * (0.1 + 0.9 * t / warm)
    return lr * 0.5 * (1 + math.cos(math.pi * (t - warm) / (n - warm)))


def make_optimizer(model, embeds, lr):
    # One parameter per frame embedding: a frame without gradient this step has
    # grad None and Adam skips it (no moment decay), like the C side.
    return torch.optim.Adam(list(model.parameters()) + list(embeds), lr=lr,
                            betas=(0.9, 0.999), eps=1e-8)


def train_step(model, opt, embed, target):
    opt.zero_grad(set_to_none=True)  # 1.13 defaults to zero tensors: Adam would update them
    loss = F.mse_loss(model(embed.unsqueeze(0)), target.unsqueeze(0))
    loss.backward()
    opt.step()
    return loss.item()


def train_curve(cfg, model, embeds, frames):
    """Train cfg['steps'] steps, frame = step % frames; returns the loss of each step."""
    n, lr = cfg["steps"], cfg["lr"]
    opt = make_optimizer(model, embeds, lr)
    losses = []
    for t in range(n):
        for group in opt.param_groups:
            group["lr"] = lr_at(t, n, lr)
        i = t % cfg["frames"]
        losses.append(train_step(model, opt, embeds[i], frames[i]))
    return losses


def forward_all(model, embeds):
    with torch.no_grad():
        return torch.stack([model(e.unsqueeze(0))[0] for e in embeds])


# ---------------------------------------------------------------- modes
def cmd_bench(args):
    threads = args.threads or int(os.environ.get("OMP_NUM_THREADS", "1"))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = load_config(args.config)
    frames = args.frames or cfg["frames"]
    model = HNeRVDecoder(cfg)
    embeds = [nn.Parameter(torch.randn(embed_shape(cfg)[1:])) for _ in range(frames)]
    targets = torch.rand(frames, cfg["out_channels"], cfg["height"], cfg["width"])
    opt = make_optimizer(model, embeds, cfg["lr"])
    print(f"config {args.config}: {cfg['width']}x{cfg['height']} fc_dim={cfg['fc_dim']} "
          f"strides={cfg['strides']} torch {torch.__version__}")

    warmup = 3
    times = []
    for t in range(warmup + args.steps):
        i = t % frames
        t0 = time.perf_counter()
        train_step(model, opt, embeds[i], targets[i])
        if t >= warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    train_ms = statistics.median(times)
    print(f"torch train mean={statistics.mean(times):.3f} median={train_ms:.3f} ms "
          f"({args.steps} steps)")

    dec = []
    with torch.no_grad():
        for t in range(warmup + max(args.steps, 5)):
            x = embeds[t % frames].detach().unsqueeze(0)
            t0 = time.perf_counter()
            model(x)
            if t >= warmup:
                dec.append((time.perf_counter() - t0) * 1e3)
    print(f"torch params={n_params(model)} threads={threads}")
    print(f"torch train_ms_per_frame={train_ms:.3f}")
    print(f"torch decode_ms_per_frame={statistics.mean(dec):.3f}")
    return 0


def crosscheck_files(d):
    """DIR/config.txt, weights.bin (stem, stages, head; weight then bias, Conv2d layout),
    embed.bin [frames][c][h][w], frames.bin [frames][3][H][W], output.bin (C forward,
    [frames][3][H][W]), losses.txt (one loss per training step)."""
    return {k: os.path.join(d, k) for k in
            ("config.txt", "weights.bin", "embed.bin", "frames.bin", "output.bin",
             "losses.txt")}


def cmd_crosscheck(args):
    torch.set_num_threads(args.threads or int(os.environ.get("OMP_NUM_THREADS", "1")))
    f = crosscheck_files(args.dir)
    cfg = load_config(f["config.txt"])
    model = HNeRVDecoder(cfg)
    load_weights(model, f["weights.bin"])
    embed = read_f32(f["embed.bin"], embed_shape(cfg))
    c_out = read_f32(f["output.bin"], frames_shape(cfg))
    print(f"torch params={n_params(model)}")
    diff = (forward_all(model, embed) - c_out).abs()
    max_abs = diff.max().item()
    print(f"crosscheck forward max_abs_diff={max_abs:.3e} mean_abs_diff={diff.mean().item():.3e}")
    ok = max_abs <= FWD_MAX_ABS_TOL

    frames = read_f32(f["frames.bin"], frames_shape(cfg))
    with open(f["losses.txt"]) as fh:
        c_losses = [float(l) for l in fh if l.strip()]
    embeds = [nn.Parameter(e.clone()) for e in embed]
    losses = train_curve(cfg, model, embeds, frames)
    if len(c_losses) != len(losses):
        print(f"crosscheck loss: losses.txt has {len(c_losses)} steps, config steps={len(losses)}")
        ok = False
    n = min(len(c_losses), len(losses))
    if n:
        print(f"crosscheck loss step0 torch={losses[0]:.6g} c={c_losses[0]:.6g}")
        print(f"crosscheck loss step{n - 1} torch={losses[n - 1]:.6g} c={c_losses[n - 1]:.6g}")
        rel = max(abs(a - b) / max(abs(a), 1e-12) for a, b in zip(losses, c_losses))
        print(f"crosscheck loss max_rel_diff={rel:.3e}")
        ok = ok and rel <= LOSS_REL_TOL
    print("crosscheck " + ("PASS" if ok else "FAIL") +
          f" (tolerances: forward max_abs <= {FWD_MAX_ABS_TOL}, loss rel <= {LOSS_REL_TOL})")
    return 0 if ok else 1


def cmd_selftest_dump(args):
    torch.manual_seed(1)
    cfg = load_config(args.config)
    if args.steps:
        cfg["steps"] = args.steps
    os.makedirs(args.dir, exist_ok=True)
    f = crosscheck_files(args.dir)
    model = HNeRVDecoder(cfg)
    embed = torch.randn(embed_shape(cfg))
    # smooth targets (low-res noise upsampled) so the loss curve actually falls
    lo = torch.rand(cfg["frames"], cfg["out_channels"], cfg["height"] // 8, cfg["width"] // 8)
    frames = F.interpolate(lo, size=(cfg["height"], cfg["width"]), mode="bilinear",
                           align_corners=False).clamp(0, 1)
    write_config(cfg, f["config.txt"])
    save_weights(model, f["weights.bin"])
    write_f32(f["embed.bin"], embed)
    write_f32(f["frames.bin"], frames)
    write_f32(f["output.bin"], forward_all(model, embed))
    losses = train_curve(cfg, model, [nn.Parameter(e.clone()) for e in embed], frames)
    with open(f["losses.txt"], "w") as fh:
        fh.writelines(f"{l:.9g}\n" for l in losses)
    print(f"selftest-dump: wrote {args.dir} ({n_params(model)} params, {cfg['steps']} steps, "
          f"loss {losses[0]:.4g} -> {losses[-1]:.4g})")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    b = sub.add_parser("bench", help="time training step and decode per frame")
    b.add_argument("--threads", type=int, default=0, help="default: $OMP_NUM_THREADS or 1")
    b.add_argument("--config", default="anchor", help="anchor, small or a config.txt file")
    b.add_argument("--frames", type=int, default=0, help="default: the config's frames")
    b.add_argument("--steps", type=int, default=20, help="timed steps (default 20)")
    b.set_defaults(func=cmd_bench)
    c = sub.add_parser("crosscheck", help="compare with the C side's files in DIR")
    c.add_argument("dir")
    c.add_argument("--threads", type=int, default=0)
    c.set_defaults(func=cmd_crosscheck)
    s = sub.add_parser("selftest-dump", help="write a crosscheck DIR from PyTorch itself")
    s.add_argument("dir")
    s.add_argument("--config", default="tiny", help="tiny (default), anchor, small or FILE")
    s.add_argument("--steps", type=int, default=0, help="override the config's steps")
    s.set_defaults(func=cmd_selftest_dump)
    args = ap.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
