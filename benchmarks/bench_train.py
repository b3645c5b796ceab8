"""Training throughput (images/s) of the study's U-Net and its narrower variants.

One training step = forward, class-weighted cross-entropy (1:5), backward and
an Adam update on a batch of random 320 x 320 images (the study's recipe),
all in this process. Every width is measured the same way: one warm-up step,
then the median of ``--steps`` timed steps. Ratios are against width 64 (the
study's network, 64-1024 channels) in float32. A last row times the data side (reading,
augmenting and painting one hair-loss sample) for comparison.

    python benchmarks/bench_train.py                  # widths 64, 32, 16, 8; about 2 minutes on 2 cores
    python benchmarks/bench_train.py --steps 5 --widths 64,16 --batch 8
    python benchmarks/bench_train.py --bf16           # also bfloat16 (alonet train --cpu-bf16)
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from bench_args import positive_int, run


def time_training_steps(width: int, depth: int, size: int, batch: int, steps: int, seed: int = 0,
                        bf16: bool = False) -> list[float]:
    """Seconds per training step (after one warm-up step); ``bf16`` as ``alonet train --cpu-bf16``."""
    import torch
    from torch import nn

    from alonet.model import ModelConfig, build_model

    torch.manual_seed(seed)
    model = build_model(ModelConfig(task="hairloss", base_width=width, depth=depth, input_size=size))
    model.train()
    x = torch.randn(batch, 3, size, size)
    if bf16:
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
    criterion = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 5.0]))
    y = (torch.rand(batch, size, size) < 0.3).long()
    times = []
    for step in range(steps + 1):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = criterion(logits.float(), y)
        loss.backward()
        optimizer.step()
        if step:  # the first step is a warm-up
            times.append(time.perf_counter() - start)
    return times


def time_data_pipeline(size: int, samples: int) -> float:
    """Seconds per hair-loss training sample: augmentation, predicted-like scalp, painting."""
    from alonet.train import TrainConfig
    from alonet.train.data import ArraySource, TaskDataset

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (samples, size, size, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:size, :size]
    scalp = np.repeat((((yy - size / 2) ** 2 + (xx - size / 2) ** 2) < (0.4 * size) ** 2)[None], samples, 0)
    loss = scalp & (xx < size / 2)[None]
    meta = [{"patient": f"p{i}", "visit": "1", "view": "top"} for i in range(samples)]
    source = ArraySource(images, scalp.astype(np.uint8), loss.astype(np.uint8), meta)
    ds = TaskDataset(source, range(samples), TrainConfig(input_size=size, imperfect_scalp_p=1.0), train=True)
    ds[0]
    start = time.perf_counter()
    for k in range(samples):
        ds[k]
    return (time.perf_counter() - start) / samples


def main(argv=None) -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=positive_int, default=2, help="timed steps per width (after one warm-up)")
    parser.add_argument("--batch", type=positive_int, default=4)
    parser.add_argument("--size", type=positive_int, default=320)
    parser.add_argument("--depth", type=positive_int, default=4)
    parser.add_argument("--widths", default="64,32,16,8", help="comma-separated; the first is the baseline")
    parser.add_argument("--bf16", action="store_true",
                        help="also time bfloat16 mixed precision (alonet train --cpu-bf16) for each width")
    args = parser.parse_args(argv)
    widths = [int(w) for w in args.widths.split(",")]

    print(f"training throughput: batch {args.batch}, {args.size}x{args.size}, depth {args.depth}, "
          f"{args.steps} timed step(s) after 1 warm-up, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s)")
    print(f"{'width':>6} {'precision':>9} {'channels':>14} {'params':>11} {'s/step':>8} {'images/s':>9} "
          f"{'vs width ' + str(widths[0]):>12}")
    baseline = None
    from alonet.model import ModelConfig, build_model, count_parameters

    for width in widths:
        cfg = ModelConfig(base_width=width, depth=args.depth, input_size=args.size)
        params = count_parameters(build_model(cfg))
        channels = f"{cfg.widths[0]}-{cfg.widths[-1]}"
        for bf16 in ((False, True) if args.bf16 else (False,)):
            seconds = statistics.median(
                time_training_steps(width, args.depth, args.size, args.batch, args.steps, bf16=bf16))
            rate = args.batch / seconds
            baseline = baseline or rate
            print(f"{width:>6} {'bf16' if bf16 else 'fp32':>9} {channels:>14} {params:>11,} {seconds:>8.2f} "
                  f"{rate:>9.2f} {rate / baseline:>11.1f}x", flush=True)
    per_sample = time_data_pipeline(args.size, samples=16)
    print(f"data side (augment + predicted-like scalp + paint, 1 process): {1 / per_sample:.0f} images/s")


if __name__ == "__main__":
    run(main)
