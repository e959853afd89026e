"""Products for checking a registration by eye: checkerboard, overlay, matches."""

from __future__ import annotations

import cv2
import numpy as np

from .geometry.transforms import resize_transform, transform_points
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
    # odd tiles: row and column tile indexes of different parity (1-D, then broadcast: a
    # grid of indexes would take 16 bytes a pixel, half a gigabyte at 6000 × 6000)
    odd_rows = (np.arange(height) // tile) % 2 == 1
    odd_columns = (np.arange(width) // tile) % 2 == 1
    use_moving = (odd_rows[:, None] ^ odd_columns[None, :]) & valid
    return np.where(use_moving, to_uint8(warped1), to_uint8(gray0))


def overlay(gray0: np.ndarray, warped1: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """False-colour blend: fixed in magenta, moving in green; aligned structure looks gray.

    Returns:
        [H, W, 3] uint8 RGB.
    """
    fixed = to_uint8(gray0)  # channel by channel in uint8: a float [H, W, 3] stack
    moving = np.where(valid, to_uint8(warped1), np.uint8(0))  # is 12 bytes a pixel
    return np.stack([fixed, moving, fixed], axis=-1)


def draw_matches(
    gray0: np.ndarray,
    gray1: np.ndarray,
    keypoints0: np.ndarray,
    keypoints1: np.ndarray,
    max_lines: int = 400,
    seed: int = 0,
    max_height: int = 1024,
) -> np.ndarray:
    """Fixed (left) and moving (right) side by side with lines between matches.

    Both images are shown at one height, that of the taller one but at most
    ``max_height``, so that two resolutions of one scene (a 6000-px orthophoto, a 512-px
    thermal frame) show at comparable sizes and the picture stays small.

    Args:
        gray0: [H0, W0], gray1: [H1, W1] float in [0, 1]; keypoints0/1: [N, 2] pixels.
        max_lines: draw at most this many matches (a seeded random subset).
    Returns:
        [H, W0' + W1', 3] uint8 RGB, H = min(max(H0, H1), max_height) and each width
        scaled with its image.
    """
    height = min(max(gray0.shape[0], gray1.shape[0]), max_height)
    sides, resizes = [], []
    for gray in (gray0, gray1):
        original_height, original_width = gray.shape
        scale = height / original_height
        width = max(1, round(original_width * scale))
        if (width, height) != (original_width, original_height):
            area = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            gray = cv2.resize(np.asarray(gray, np.float32), (width, height), interpolation=area)
        sides.append(to_uint8(gray))
        resizes.append(resize_transform(width / original_width, height / original_height))
    width0 = sides[0].shape[1]
    canvas = np.repeat(np.hstack(sides)[..., None], 3, axis=-1)
    points0 = transform_points(resizes[0], np.asarray(keypoints0, float))
    points1 = transform_points(resizes[1], np.asarray(keypoints1, float)) + [width0, 0]
    index = np.arange(len(points0))
    if len(index) > max_lines:
        index = np.sort(np.random.default_rng(seed).choice(index, max_lines, replace=False))
    if not len(index):
        return canvas
    hues = np.linspace(0, 179, len(index), endpoint=False).astype(np.uint8)
    colours = cv2.cvtColor(
        np.stack([hues, np.full_like(hues, 255), np.full_like(hues, 255)], -1)[None],
        cv2.COLOR_HSV2RGB,
    )[0]
    thickness = max(1, round(height / 600))
    shift = 4  # sub-pixel drawing precision
    for colour, i in zip(colours, index, strict=True):
        point0 = tuple(np.round(points0[i] * (1 << shift)).astype(int))
        point1 = tuple(np.round(points1[i] * (1 << shift)).astype(int))
        rgb = tuple(int(c) for c in colour)
        cv2.line(canvas, point0, point1, rgb, thickness, cv2.LINE_AA, shift)
        for point in (point0, point1):
            cv2.circle(canvas, point, 2 * thickness << shift, rgb, -1, cv2.LINE_AA, shift)
    return canvas
