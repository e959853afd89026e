"""Random geometry with exact dense ground truth, and an exact bilinear sampler.

A pair is cut from one source image S (already resized so that the fixed view is a
window of it at 1:1). The fixed image is the integer window ``S[top:top+h, left:left+w]``;
each moving pixel x1 shows S at ``p = H_source · (x1 + d(x1))``, where ``H_source`` maps
moving pixels to source pixels and ``d`` is an optional smooth displacement field. Its
fixed-image position is therefore exactly ``x0 = p - (left, top)``: the dense ground truth
needs no inversion, and the images are sampled at those very coordinates (bilinear, in
floating point — OpenCV's remap quantises positions to 1/32 px, too coarse for exact
ground truth).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class WarpConfig:
    """Ranges of the random view change of the moving image relative to the fixed one.

    Attributes:
        rotation: maximum absolute in-plane rotation, degrees.
        scale: (min, max) zoom of the moving view, sampled log-uniformly.
        anisotropy: maximum relative difference between the x and y scales.
        shear: maximum shear (tangent).
        perspective: maximum absolute perspective coefficient, per unit of image size.
        translation: maximum shift of the moving view's centre, fraction of the size.
        nonrigid: maximum displacement of the smooth non-rigid field, pixels (0: none).
        nonrigid_grid: control points per side of that field (cubic interpolation).
        nonrigid_probability: probability that a pair gets the non-rigid field.
    """

    rotation: float = 30.0
    scale: tuple[float, float] = (0.7, 1.4)
    anisotropy: float = 0.1
    shear: float = 0.1
    perspective: float = 0.3
    translation: float = 0.2
    nonrigid: float = 0.0
    nonrigid_grid: int = 4
    nonrigid_probability: float = 0.5


@dataclass(frozen=True)
class Warp:
    """One sampled view change.

    Attributes:
        H_1to0: [3, 3] homography from moving to fixed pixels (without the non-rigid part).
        displacement: [H1, W1, 2] float32 non-rigid field in moving pixels, or None.
    """

    H_1to0: np.ndarray
    displacement: np.ndarray | None


def sample_warp(
    config: WarpConfig, size0: tuple[int, int], size1: tuple[int, int], rng: np.random.Generator
) -> Warp:
    """A random homography (and field) about the images' centres.

    Args:
        size0, size1: (width, height) of the fixed / moving images.
    """
    width1, height1 = size1
    angle = np.deg2rad(rng.uniform(-config.rotation, config.rotation))
    scale = np.exp(rng.uniform(*np.log(config.scale)))
    stretch = 1 + rng.uniform(-config.anisotropy, config.anisotropy)
    linear = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    linear = linear @ np.array([[scale * stretch, 0], [0, scale / stretch]])
    linear = linear @ np.array([[1, rng.uniform(-config.shear, config.shear)], [0, 1]])
    centre1 = np.array([(width1 - 1) / 2, (height1 - 1) / 2])
    centre0 = np.array([(size0[0] - 1) / 2, (size0[1] - 1) / 2])
    shift = rng.uniform(-config.translation, config.translation, 2) * np.array(size0)
    # moving pixels -> centred, unit-size coordinates -> perspective -> fixed pixels
    extent = max(width1, height1)
    to_unit = np.diag([1 / extent, 1 / extent, 1.0])
    to_unit[:2, 2] = -centre1 / extent
    perspective = np.eye(3)
    perspective[2, :2] = rng.uniform(-config.perspective, config.perspective, 2)
    affine = np.eye(3)
    affine[:2, :2] = linear * extent
    affine[:2, 2] = centre0 + shift
    H_1to0 = affine @ perspective @ to_unit
    displacement = None
    if config.nonrigid > 0 and rng.random() < config.nonrigid_probability:
        grid = config.nonrigid_grid
        control = rng.uniform(-config.nonrigid, config.nonrigid, (grid, grid, 2)).astype(np.float32)
        displacement = cv2.resize(control, (width1, height1), interpolation=cv2.INTER_CUBIC)
    return Warp(H_1to0 / H_1to0[2, 2], displacement)


@functools.lru_cache(maxsize=8)
def pixel_grid(width: int, height: int) -> np.ndarray:
    """[H, W, 2] float64 (x, y) coordinates of every pixel centre (read-only, cached)."""
    x, y = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    grid = np.stack([x, y], axis=-1)
    grid.flags.writeable = False
    return grid


def correspondence(warp: Warp, size1: tuple[int, int]) -> np.ndarray:
    """[H1, W1, 2] float32: fixed-image position of every moving pixel."""
    points = pixel_grid(*size1)
    if warp.displacement is not None:
        points = points + warp.displacement
    H = warp.H_1to0
    x, y = points[..., 0], points[..., 1]
    denominator = H[2, 0] * x + H[2, 1] * y + H[2, 2]  # > 0: perspective is bounded
    out = np.empty(points.shape, np.float32)
    out[..., 0] = (H[0, 0] * x + H[0, 1] * y + H[0, 2]) / denominator
    out[..., 1] = (H[1, 0] * x + H[1, 1] * y + H[1, 2]) / denominator
    return out


def bilinear(image: np.ndarray, points: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Sample ``image`` at real-valued pixel positions, exactly (no position quantisation).

    Runs on torch's ``grid_sample`` (float32, corners aligned to pixel centres), whose
    round trip through normalised coordinates costs < 1e-4 px.

    Args:
        image: [H, W] or [H, W, C] float32.
        points: [..., 2] (x, y) positions.
    Returns:
        [..., C] (or [...] for a 2-D image) float32; ``fill`` outside the image.
    """
    import torch

    height, width = image.shape[:2]
    tensor = torch.from_numpy(np.asarray(image, dtype=np.float32))
    source = (tensor[None] if image.ndim == 2 else tensor.permute(2, 0, 1))[None]
    x, y = points[..., 0].reshape(1, 1, -1), points[..., 1].reshape(1, 1, -1)
    grid = np.empty((1, 1, x.size, 2), np.float32)
    grid[..., 0] = x * np.float32(2 / (width - 1)) - 1
    grid[..., 1] = y * np.float32(2 / (height - 1)) - 1
    sampled = torch.nn.functional.grid_sample(
        source, torch.from_numpy(grid), mode="bilinear",
        padding_mode="border", align_corners=True,
    )[0, :, 0].numpy()  # fmt: skip
    inside = ((x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)).ravel()
    sampled[:, ~inside] = fill
    out = sampled.T if image.ndim == 3 else sampled[0]
    shape = points.shape[:-1] + (() if image.ndim == 2 else (image.shape[2],))
    return np.ascontiguousarray(out).reshape(shape)
