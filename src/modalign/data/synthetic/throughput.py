"""Measure generation speed per modality on one core (``make synth-throughput``).

Usage: ``python -m modalign.data.synthetic.throughput [--size 256] [--pairs 200]
[--images DIR]``. Sources are drawn once before timing (the generator caches decoded and
procedural sources, so this is the steady state of a training stream); each timed pair
includes the warp, the dense ground truth, both simulators and the camera changes.
"""

from __future__ import annotations

import argparse
import time

import cv2
import torch

from .generator import PairGenerator, SynthConfig
from .runner import learned_simulators
from .simulators import SIMULATOR_NAMES
from .sources import FolderSource, ProceduralSource


def measure(generator: PairGenerator, pairs: int, names: tuple[str, ...]) -> dict[str, float]:
    """Pairs per second for each simulator (moving side; fixed side visible) and for the
    configured mix of built-in simulators (key "mixed")."""
    speeds = {}
    for name in (*names, "mixed"):
        forced = None if name == "mixed" else ("visible", name)
        start = time.perf_counter()
        for index in range(pairs):
            generator.pair(index, forced)
        speeds[name] = pairs / (time.perf_counter() - start)
    return speeds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--images", default=None, help="folder of source images")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    sources = [FolderSource(args.images)] if args.images else []
    sources.append(ProceduralSource(count=64))
    learned = learned_simulators(("v2i",))  # the shipped translator, timed on its own row
    generator = PairGenerator(SynthConfig(size=args.size), sources, extra_simulators=learned)
    names = (*SIMULATOR_NAMES, *learned)
    for index in range(args.pairs):  # draw every source item the timed loops will use
        generator.pair(index)
        for name in names:
            generator.pair(index, ("visible", name))
    speeds = measure(generator, args.pairs, names)
    print(f"{args.size}x{args.size}, one core, {args.pairs} pairs each, pairs/s:")
    for name, speed in speeds.items():
        print(f"  {name:10s} {speed:7.1f}")
    for label, group in (("built-in", SIMULATOR_NAMES), ("all", names)):
        mean = sum(speeds[n] for n in group) / len(group)
        print(f"  mean {label:8s} {mean:6.1f}  (mean over {len(group)} modalities)")


if __name__ == "__main__":
    main()
