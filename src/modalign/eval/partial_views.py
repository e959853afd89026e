"""Moving images of a small part of a large fixed image: ``python -m modalign.eval.partial_views``.

Generated pairs with exact ground truth: a photograph shipped with scikit-image,
upsampled to ``--size`` px on its longer side, is the fixed image; a square crop of it
at (700, 300), downsampled and inverted (another "modality"), is the moving image
(``--reverse``: the other way round, the large image warped onto the small one). The
pairs are registered with the default pipeline and again with ``--set``-style overrides
(by default the zoom search off), and the grid error of each is printed: over the small
image, in the large image's pixels.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

# (crop side in fixed pixels, moving image side): moving images of 20-29% of a 2048-px width
CROPS = ((600, 500), (500, 500), (400, 400))
IMAGES = ("astronaut", "coffee", "chelsea")


def partial_pair(name: str, size: int, crop: int, side: int) -> tuple[np.ndarray, ...]:
    """(large image, small image, H from small-image to large-image pixels) of one
    generated pair."""
    from skimage import data

    from ..geometry.transforms import resize_transform

    image = cv2.cvtColor(getattr(data, name)(), cv2.COLOR_RGB2GRAY)
    height = round(size * image.shape[0] / image.shape[1])
    fixed = cv2.resize(image, (size, height), interpolation=cv2.INTER_CUBIC)
    x, y = 700, 300
    window = fixed[y : y + crop, x : x + crop]
    moving = 255 - cv2.resize(window, (side, side), interpolation=cv2.INTER_AREA)
    offset = np.array([[1.0, 0, x], [0, 1.0, y], [0, 0, 1]])  # window -> fixed pixels
    return fixed, moving, offset @ resize_transform(crop / side, crop / side)


def main(argv: list[str] | None = None) -> None:
    from ..config import build, parse_overrides
    from ..pipeline import RegisterConfig, register
    from .metrics import grid_error

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="large image's longer side")
    parser.add_argument("--reverse", action="store_true", help="the large image is the moving one")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=None,
        help="override of the second run (default: zoom_search.mode=none); repeatable",
    )  # fmt: skip
    args = parser.parse_args(argv)
    overrides = args.overrides or ["zoom_search.mode=none"]
    configs = {"default": RegisterConfig(), " ".join(overrides): build(
        RegisterConfig, parse_overrides(overrides))}  # fmt: skip
    for label, config in configs.items():
        errors = []
        for name in IMAGES:
            for crop, side in CROPS:
                large, small, H = partial_pair(name, args.size, crop, side)
                start = time.perf_counter()
                if args.reverse:
                    registration = register(small, large, config=config)
                else:
                    registration = register(large, small, config=config)
                seconds = time.perf_counter() - start
                error = float("inf")
                if registration.success:  # the small image's grid, in large-image pixels
                    small_to_large = registration.H_1to0
                    if args.reverse:
                        small_to_large = np.linalg.inv(small_to_large)
                    error = grid_error(small_to_large, H, (small.shape[1], small.shape[0]))
                errors.append(error)
                print(
                    f"{label}: {name} crop {crop} -> {side} px "
                    f"({crop / args.size:.0%} of the width): error {error:.2f} px, "
                    f"{seconds:.1f} s, {registration.reason}"
                )
        right = np.array(errors) < 10
        print(f"{label}: {right.sum()} of {len(errors)} within 10 px\n")


if __name__ == "__main__":
    main()
