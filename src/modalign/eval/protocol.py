"""The evaluation protocol of ../shared/data/README.md.

Pairs with landmarks are scored by the mean landmark error, others by the mean error
over a 10×10 grid spanning the moving image. Pre-aligned pairs (H = identity) are first
made into a registration problem: the moving image is warped by a random homography
(rotation ≤ 30°, scale 0.7–1.4, perspective ≤ 1e-3, translation ≤ 20% of the size),
seeded per pair so that every run and every matcher sees the same problem.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import cv2
import numpy as np

from ..geometry.transforms import normalize_homography
from ..io import read_image
from .datasets import Pair
from .metrics import grid_error, landmark_error

PROTOCOL_VERSION = 1


@dataclass(frozen=True)
class RandomHomographyConfig:
    """Ranges of the random homography applied to pre-aligned pairs."""

    max_rotation_degrees: float = 30.0
    scale_range: tuple[float, float] = (0.7, 1.4)
    max_perspective: float = 1e-3
    max_translation: float = 0.2


def pair_rng(seed: int, key: str) -> np.random.Generator:
    """A generator that depends only on the seed and the pair's key."""
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


def random_homography(
    rng: np.random.Generator, width: int, height: int, config: RandomHomographyConfig | None = None
) -> np.ndarray:
    """A random 3×3 map of a (width × height) image onto itself, about its centre.

    Perspective terms are drawn in pixel units relative to the image centre.
    """
    config = config or RandomHomographyConfig()
    angle = np.deg2rad(rng.uniform(-config.max_rotation_degrees, config.max_rotation_degrees))
    low, high = np.log(config.scale_range[0]), np.log(config.scale_range[1])
    scale = float(np.exp(rng.uniform(low, high)))
    shift = rng.uniform(-config.max_translation, config.max_translation, 2) * [width, height]
    perspective = rng.uniform(-config.max_perspective, config.max_perspective, 2)
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    to_centre = np.array([[1, 0, -centre[0]], [0, 1, -centre[1]], [0, 0, 1.0]])
    rotation = np.eye(3)
    rotation[:2, :2] = scale * np.array(
        [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    )
    projective = np.eye(3)
    projective[2, :2] = perspective
    back = np.array([[1, 0, centre[0] + shift[0]], [0, 1, centre[1] + shift[1]], [0, 0, 1.0]])
    return normalize_homography(back @ projective @ rotation @ to_centre)


@dataclass(frozen=True)
class Problem:
    """What a matcher is given and how its answer is scored."""

    fixed: np.ndarray
    moving: np.ndarray
    H_1to0: np.ndarray  # ground truth for the moving image as given
    landmarks: np.ndarray | None

    def error(self, H_estimate: np.ndarray | None) -> float:
        """Landmark error where landmarks exist, else 10×10 grid error; inf if no estimate."""
        if self.landmarks is not None:
            return landmark_error(H_estimate, self.landmarks[:, :2], self.landmarks[:, 2:])
        size1 = (self.moving.shape[1], self.moving.shape[0])
        return grid_error(H_estimate, self.H_1to0, size1)


def make_problem(pair: Pair, seed: int) -> Problem:
    """Read a pair and, if it is pre-aligned, warp its moving image by the seeded homography."""
    fixed, moving = read_image(pair.fixed), read_image(pair.moving)
    if not pair.pre_aligned:
        return Problem(fixed, moving, pair.H_1to0, pair.landmarks)
    height, width = moving.shape[:2]
    warp = random_homography(pair_rng(seed, pair.key), width, height)  # old -> new moving pixels
    warped = cv2.warpPerspective(moving, warp, (width, height), flags=cv2.INTER_LINEAR)
    return Problem(fixed, warped, pair.H_1to0 @ np.linalg.inv(warp), None)
