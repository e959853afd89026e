"""Timings of the matcher on this machine: ``python -m modalign.models.timing``.

Inference per 640×480 pair in torch and in ONNX Runtime (best of ``--repeats``, after a
warm-up), one training step at batch 8 of 256×256 synthetic pairs (fp32 and bf16), and
the parameter count. Threads: ``--threads`` for torch and ONNX Runtime alike.

``--register SET`` instead times what users run: :func:`modalign.register` end to end,
default settings, on the first ``--pairs`` pairs of a benchmark set resized to 640×480,
and the stages of those calls (``stage_<name>_s``, the medians over the pairs).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")


def fastest(function: Callable[[], T], repeats: int) -> tuple[float, T]:
    """Seconds of the fastest of ``repeats`` calls, after one warm-up call, and its result."""
    function()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        runs.append((time.perf_counter() - start, result))
    return min(runs, key=lambda run: run[0])


def best_time(function: Callable[[], object], repeats: int) -> float:
    """Seconds of the fastest of ``repeats`` calls, after one warm-up call."""
    return fastest(function, repeats)[0]


def inference_times(weights: str, threads: int, repeats: int) -> dict[str, float]:
    from .checkpoint import load_model
    from .export import OnnxMatcherSession, export_onnx

    torch.set_num_threads(threads)
    model = load_model(weights)
    rng = np.random.default_rng(0)
    image0, image1 = (rng.random((480, 640), dtype=np.float32) for _ in range(2))
    batch = {"image0": torch.from_numpy(image0)[None, None],
             "image1": torch.from_numpy(image1)[None, None]}  # fmt: skip
    with torch.inference_mode():
        torch_seconds = best_time(lambda: model(batch), repeats)
    with tempfile.TemporaryDirectory() as folder:
        session = OnnxMatcherSession(export_onnx(model, Path(folder) / "m.onnx"), threads)
        onnx_seconds = best_time(lambda: session(image0, image1), repeats)
    return {"torch_640x480_s": torch_seconds, "onnx_640x480_s": onnx_seconds}


def training_step_times(threads: int, repeats: int) -> dict[str, float]:
    from dataclasses import replace

    from ..teachers import load_teacher
    from ..train import train_config
    from ..train.distributed import Context
    from ..train.trainer import _loader, _State, training_step

    torch.set_num_threads(threads)
    config = train_config("default", {"data": {"workers": 0}})
    teacher = load_teacher(config.teacher)
    state = _State(config, None if teacher is None else teacher.dim)
    batch = next(iter(_loader(config, Context(0, 1, torch.device("cpu")), 0)))
    out = {}
    for precision in ("fp32", "bf16"):
        step_config = replace(config, precision=precision)
        step = lambda c=step_config: training_step(state.model, state, teacher, batch, c)  # noqa: E731
        out[f"train_step_b8_256_{precision}_s"] = best_time(step, repeats)
    out["parameters"] = sum(p.numel() for p in state.model.parameters())
    return out


def register_times(
    directory: str, pairs: int, threads: int, repeats: int, device: str = "cpu"
) -> dict[str, float]:
    """Best-of-``repeats`` seconds of a default ``register`` call per 640×480 pair: the
    median and the maximum over the pairs (the matcher loaded once, as a service would),
    and the median over the pairs of each stage of those fastest calls
    (``Registration.timings``, 0 where a pair skips the stage; ``structure`` runs on a
    thread beside ``match``, so the stages sum to more than the call). ``device``: the
    matcher's (``matcher_conf.device``; on a GPU its network runs in torch)."""
    import cv2

    from ..eval.datasets import read_set
    from ..io import read_image
    from ..pipeline import RegisterConfig, register

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    config = RegisterConfig(matcher_conf={} if device == "cpu" else {"device": device})
    seconds, stages = [], []
    for pair in read_set(directory)[:pairs]:
        fixed, moving = (cv2.resize(read_image(p), (640, 480)) for p in (pair.fixed, pair.moving))
        call, registration = fastest(
            lambda f=fixed, m=moving: register(f, m, config=config), repeats
        )
        seconds.append(call)
        stages.append(registration.timings)
    results = {"register_640x480_median_s": float(np.median(seconds)),
               "register_640x480_max_s": float(np.max(seconds)), "pairs": len(seconds)}  # fmt: skip
    for stage in dict.fromkeys(name for timings in stages for name in timings):
        median = np.median([timings.get(stage, 0.0) for timings in stages])
        results[f"stage_{stage}_s"] = float(median)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="modalign", help="weights name or .safetensors")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--register", default="", help="set folder: time register instead")
    parser.add_argument("--pairs", type=int, default=6, help="pairs of --register's set")
    parser.add_argument("--device", default="cpu", help="--register: the matcher's device")
    args = parser.parse_args()
    if args.register:
        results = register_times(args.register, args.pairs, args.threads, args.repeats, args.device)
    else:
        results = inference_times(args.weights, args.threads, args.repeats)
        results.update(training_step_times(args.threads, max(2, args.repeats // 2)))
    for name, value in results.items():
        print(f"{name}: {value:.3f}" if isinstance(value, float) else f"{name}: {value}")


if __name__ == "__main__":
    main()
