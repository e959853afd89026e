"""Planar transforms in pixel-centre coordinates (see :mod:`modalign.types`)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def transform_points(H: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 3×3 homography to points.

    Args:
        H: [3, 3] transform.
        points: [N, 2] (x, y).
    Returns:
        [N, 2] transformed points (inf where the point maps to infinity).
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    homogeneous = np.concatenate([points, np.ones((len(points), 1))], axis=1) @ np.asarray(H).T
    with np.errstate(divide="ignore", invalid="ignore"):
        return homogeneous[:, :2] / homogeneous[:, 2:3]


def resize_transform(scale_x: float, scale_y: float) -> np.ndarray:
    """The 3×3 map from original pixels to pixels of the image resized by (scale_x, scale_y).

    Pixel centres map as ``x' + 0.5 = (x + 0.5) * scale`` (what cv2.resize does).
    """
    return np.array(
        [[scale_x, 0.0, 0.5 * scale_x - 0.5], [0.0, scale_y, 0.5 * scale_y - 0.5], [0, 0, 1.0]]
    )


def rotation90_transform(quarter_turns: int, width: int, height: int) -> np.ndarray:
    """The 3×3 map from pixels of a (width × height) image to pixels of the same image
    rotated clockwise by ``quarter_turns`` × 90° (as ``np.rot90(image, -quarter_turns)``)."""
    quarter_turns %= 4
    H = np.eye(3)
    for _ in range(quarter_turns):
        # clockwise quarter turn of a w×h image: (x, y) -> (h - 1 - y, x), new size h×w
        step = np.array([[0.0, -1.0, height - 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
        H = step @ H
        width, height = height, width
    return H


def similarity_view(
    width: int, height: int, scale: float, degrees: float
) -> tuple[np.ndarray, tuple[int, int]]:
    """The view of a (width × height) image scaled by ``scale`` and turned clockwise (as
    displayed, y pointing down) by ``degrees`` about its centre, on a canvas scaled with it.

    Returns:
        ([3, 3] map from the image's pixels to the view's, (width, height) of the view).
    """
    view_width, view_height = max(1, round(width * scale)), max(1, round(height * scale))
    angle = np.deg2rad(degrees)
    turn = np.eye(3)
    turn[:2, :2] = scale * np.array(
        [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    )
    from_centre = np.array([[1, 0, -(width - 1) / 2], [0, 1, -(height - 1) / 2], [0, 0, 1.0]])
    to_centre = np.array([[1, 0, (view_width - 1) / 2], [0, 1, (view_height - 1) / 2], [0, 0, 1.0]])
    return to_centre @ turn @ from_centre, (view_width, view_height)


def rotate90(image: np.ndarray, quarter_turns: int) -> np.ndarray:
    """Rotate an [H, W(, C)] image clockwise by ``quarter_turns`` × 90°."""
    return np.ascontiguousarray(np.rot90(image, -(quarter_turns % 4), axes=(0, 1)))


def normalize_homography(H: np.ndarray) -> np.ndarray:
    """Scale H so that H[2, 2] = 1 (when it is not ~0)."""
    H = np.asarray(H, dtype=np.float64)
    return H / H[2, 2] if abs(H[2, 2]) > 1e-12 else H


def grid_points(width: int, height: int, steps: int = 10) -> np.ndarray:
    """[steps², 2] points of a regular grid spanning an image from first to last pixel."""
    xs = np.linspace(0, width - 1, steps)
    ys = np.linspace(0, height - 1, steps)
    return np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)


def corners(width: int, height: int) -> np.ndarray:
    """[4, 2] outer corners of an image's pixel area, clockwise from the top-left."""
    return np.array(
        [[-0.5, -0.5], [width - 0.5, -0.5], [width - 0.5, height - 0.5], [-0.5, height - 0.5]]
    )


def mean_transform(transforms: Sequence[np.ndarray], size1: tuple[int, int]) -> np.ndarray:
    """The transform that maps a 10 × 10 grid over the moving image (width, height) to the
    mean of where ``transforms`` map it: their mean if all are affine (exact: an affine
    map is linear in its matrix, and a mean of similarities is a similarity), otherwise
    the least-squares homography."""
    if all(np.allclose(H[2], (0.0, 0.0, H[2, 2])) for H in transforms):
        return normalize_homography(np.mean([normalize_homography(H) for H in transforms], 0))
    points = grid_points(*size1)
    mean = np.mean([transform_points(H, points) for H in transforms], axis=0)
    H, _ = cv2.findHomography(points.astype(np.float32), mean.astype(np.float32), 0)
    return normalize_homography(H)
