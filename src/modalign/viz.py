"""Products for checking a registration by eye: checkerboard, overlay, matches."""

from __future__ import annotations

import cv2
import numpy as np

from .io import to_uint8


def checkerboard(
    gray0: np.ndarray, warped1: np.ndarray, valid: np.ndarray, tiles: int = 8
) -> np.ndarray:
    """Alternate tiles of the fixed image and the warped moving image.

    Args:
        gray0: [H, W] float fixed image in [0, 1]; warped1: [H, W] warped moving image;
        valid: [H, W] bool, where warped1 has data (elsewhere the fixed image shows).
    Returns:
        [H, W] uint8.
    """
    height, width = gray0.shape
    tile = max(1, int(np.ceil(max(height, width) / tiles)))
    rows, columns = np.indices((height, width))
    use_moving = (((rows // tile) + (columns // tile)) % 2 == 1) & valid
    return to_uint8(np.where(use_moving, warped1, gray0))


def overlay(gray0: np.ndarray, warped1: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """False-colour blend: fixed in magenta, moving in green; aligned structure looks gray.

    Returns:
        [H, W, 3] uint8 RGB.
    """
    moving = np.where(valid, warped1, 0.0)
    return to_uint8(np.stack([gray0, moving, gray0], axis=-1))


def draw_matches(
    gray0: np.ndarray,
    gray1: np.ndarray,
    keypoints0: np.ndarray,
    keypoints1: np.ndarray,
    max_lines: int = 400,
    seed: int = 0,
) -> np.ndarray:
    """Fixed (left) and moving (right) side by side with lines between matches.

    Args:
        gray0: [H0, W0], gray1: [H1, W1] float in [0, 1]; keypoints0/1: [N, 2].
        max_lines: draw at most this many matches (a seeded random subset).
    Returns:
        [max(H0, H1), W0 + W1, 3] uint8 RGB.
    """
    height = max(gray0.shape[0], gray1.shape[0])
    width0 = gray0.shape[1]
    canvas = np.zeros((height, width0 + gray1.shape[1], 3), np.uint8)
    canvas[: gray0.shape[0], :width0] = to_uint8(gray0)[..., None]
    canvas[: gray1.shape[0], width0:] = to_uint8(gray1)[..., None]
    index = np.arange(len(keypoints0))
    if len(index) > max_lines:
        index = np.sort(np.random.default_rng(seed).choice(index, max_lines, replace=False))
    hues = np.linspace(0, 179, max(len(index), 1), endpoint=False).astype(np.uint8)
    colours = cv2.cvtColor(
        np.stack([hues, np.full_like(hues, 255), np.full_like(hues, 255)], -1)[None],
        cv2.COLOR_HSV2RGB,
    )[0]
    thickness = max(1, round(height / 600))
    shift = 4  # sub-pixel drawing precision
    for colour, i in zip(colours, index, strict=True):
        point0 = np.round(keypoints0[i] * (1 << shift)).astype(int)
        point1 = np.round((keypoints1[i] + [width0, 0]) * (1 << shift)).astype(int)
        rgb = tuple(int(c) for c in colour)
        cv2.line(canvas, tuple(point0), tuple(point1), rgb, thickness, cv2.LINE_AA, shift)
        for point in (point0, point1):
            cv2.circle(canvas, tuple(point), 2 * thickness << shift, rgb, -1, cv2.LINE_AA, shift)
    return canvas
