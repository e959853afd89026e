"""A multi-instance benchmark set generator (after IMD's IMIM benchmark).

Each scene repeats one object/texture patch several times across a weakly textured,
unique background; the moving view is the scene seen through a known homography and
rendered in another modality. Matching one copy to another copy fits a transform that is
off by at least the spacing between copies (≥ one patch size), so matchers that rely on
local appearance alone fail and the harness scores them as failures.

Construction of a pair (all draws from ``numpy.random.default_rng([seed, index])``):

1. Background: low-frequency noise (a 6×8 random field, bicubic upsampled) plus 6–12
   random lines and rectangles at low contrast — a unique but weak layout.
2. Instances: one square crop of a photograph bundled with scikit-image (astronaut,
   coffee, chelsea, rocket, camera, coins, immunohistochemistry), side 14–22% of the
   image width, pasted 4–8 times in distinct cells of a 4×3 grid with a random offset
   inside each cell, each copy within ±6% brightness of the others.
3. Geometry: a random homography (rotation ≤ 25°, scale 0.8–1.25, perspective ≤ 4e-4,
   translation ≤ 10%) maps fixed pixels to moving pixels; H_1to0 is its inverse.
4. Modality of the moving view, cycling through the styles: ``thermal`` (inverted,
   gamma 0.7, blurred, noisy), ``nir`` (channel mix with a red/green weighting unlike
   luminance), ``sar`` (log of gamma-distributed multiplicative speckle, 4 looks) and
   ``map`` (posterised to 5 levels with dark edge lines).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..io import to_uint8, write_image
from .datasets import new_set_folder, write_pairs_csv
from .protocol import RandomHomographyConfig, random_homography

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "immunohistochemistry")
STYLES = ("thermal", "nir", "sar", "map")
GEOMETRY = RandomHomographyConfig(
    max_rotation_degrees=25.0, scale_range=(0.8, 1.25), max_perspective=4e-4, max_translation=0.1
)


@dataclass(frozen=True)
class MultiInstanceConfig:
    """Size of the set and of its scenes."""

    pairs: int = 20
    seed: int = 0
    size: int = 512
    copies: tuple[int, int] = (4, 8)
    patch_fraction: tuple[float, float] = (0.14, 0.22)


def _photo(name: str) -> np.ndarray:
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return image[..., :3].astype(np.float32) / 255.0


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    field = rng.uniform(0.3, 0.7, (6, 8, 3)).astype(np.float32)
    canvas = cv2.resize(field, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(rng.integers(6, 13)):
        colour = tuple(float(c) for c in rng.uniform(0.25, 0.75, 3))
        a = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        b = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        if rng.random() < 0.5:
            cv2.line(canvas, a, b, colour, int(rng.integers(2, 6)), cv2.LINE_AA)
        else:
            cv2.rectangle(canvas, a, b, colour, int(rng.integers(2, 5)))
    return np.clip(canvas, 0, 1)


def make_scene(rng: np.random.Generator, config: MultiInstanceConfig) -> np.ndarray:
    """[H, W, 3] float scene with repeated instances of one patch."""
    width, height = config.size, config.size * 3 // 4
    canvas = _background(rng, width, height)
    photo = _photo(PHOTOS[rng.integers(len(PHOTOS))])
    side = int(width * rng.uniform(*config.patch_fraction))
    crop = int(min(photo.shape[:2]) * rng.uniform(0.35, 0.6))
    y, x = rng.integers(0, photo.shape[0] - crop + 1), rng.integers(0, photo.shape[1] - crop + 1)
    patch = cv2.resize(
        photo[y : y + crop, x : x + crop], (side, side), interpolation=cv2.INTER_AREA
    )
    columns, rows = 4, 3
    cells = rng.permutation(columns * rows)[: rng.integers(config.copies[0], config.copies[1] + 1)]
    cell_w, cell_h = width // columns, height // rows
    for cell in cells:
        left = (cell % columns) * cell_w + rng.integers(0, max(1, cell_w - side))
        top = (cell // columns) * cell_h + rng.integers(0, max(1, cell_h - side))
        bottom, right = min(height, top + side), min(width, left + side)
        gain = rng.uniform(0.94, 1.06)
        canvas[top:bottom, left:right] = np.clip(patch[: bottom - top, : right - left] * gain, 0, 1)
    return canvas


def restyle(image: np.ndarray, style: str, rng: np.random.Generator) -> np.ndarray:
    """[H, W] float rendering of an [H, W, 3] float image in another modality."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if style == "thermal":
        out = cv2.GaussianBlur(1.0 - gray**0.7, (0, 0), 1.5)
        out = out + rng.normal(0, 0.02, out.shape)
    elif style == "nir":
        red, green, blue = image[..., 0], image[..., 1], image[..., 2]
        out = 0.9 * red + 0.6 * green - 0.5 * blue
    elif style == "sar":
        speckle = rng.gamma(4.0, 1.0 / 4.0, gray.shape)
        out = np.log(1e-3 + cv2.GaussianBlur(gray, (0, 0), 1.0) * speckle)
    elif style == "map":
        levels = np.round(cv2.GaussianBlur(gray, (0, 0), 2.0) * 4) / 4
        edges = cv2.Canny(to_uint8(gray), 60, 140) > 0
        out = np.where(edges, 0.0, 0.3 + 0.6 * levels)
    else:
        raise ValueError(f"unknown style {style!r}")
    out = out.astype(np.float32)
    low, high = np.percentile(out, (0.5, 99.5))
    return np.clip((out - low) / max(high - low, 1e-6), 0, 1)


def write_multi_instance_set(out: str | Path, config: MultiInstanceConfig) -> list[str]:
    """Write the set (pairs.csv + pair folders) into ``out``, which must not exist or be empty."""
    if config.pairs < 1 or config.size < 64:
        raise InputError("bench-make", "needs --pairs ≥ 1 and --size ≥ 64")
    rows, names = [], []
    with new_set_folder(out) as staging:
        for index in range(config.pairs):
            rng = np.random.default_rng([config.seed, index])
            scene = make_scene(rng, config)
            style = STYLES[index % len(STYLES)]
            height, width = scene.shape[:2]
            H_0to1 = random_homography(rng, width, height, GEOMETRY)
            moving = cv2.warpPerspective(restyle(scene, style, rng), H_0to1, (width, height))
            pair_id = f"mi_{index:04d}"
            relative = f"MultiInstance/{style}/{pair_id}"
            folder = staging / relative
            folder.mkdir(parents=True)
            write_image(folder / "fixed.png", to_uint8(scene))
            write_image(folder / "moving.png", to_uint8(moving))
            np.savetxt(folder / "H.txt", np.linalg.inv(H_0to1) / np.linalg.inv(H_0to1)[2, 2])
            source = "modalign-multi-instance"
            rows.append(["synthetic", f"MultiInstance/{style}", pair_id, "visible", style,
                         relative, width, height, width, height, 0, source])  # fmt: skip
            names.append(pair_id)
        write_pairs_csv(staging, rows)
    return names
