"""Warping the moving image onto the fixed grid, and reducing an image to a working size."""

from __future__ import annotations

import cv2
import numpy as np

from .transforms import resize_transform

_INTERPOLATION = {
    "nearest": cv2.INTER_NEAREST,
    "linear": cv2.INTER_LINEAR,
    "cubic": cv2.INTER_CUBIC,
}


def warp_image(
    image: np.ndarray,
    H_1to0: np.ndarray,
    size0: tuple[int, int],
    interpolation: str = "linear",
) -> tuple[np.ndarray, np.ndarray]:
    """Resample a moving image on the fixed image's pixel grid.

    Args:
        image: [H1, W1] or [H1, W1, C] (C ≤ 4), uint8/uint16/float32/float64.
        H_1to0: [3, 3] moving-to-fixed transform.
        size0: (width, height) of the fixed image.
        interpolation: "nearest", "linear" or "cubic".
    Returns:
        warped: [H0, W0(, C)] with ``image``'s dtype, zero outside the moving image.
        valid: [H0, W0] bool, True where the fixed pixel maps inside the moving image.
    """
    width0, height0 = size0
    flags = _INTERPOLATION[interpolation]
    source = image.astype(np.float32) if image.dtype not in (np.uint8, np.uint16) else image
    if image.dtype == np.float64:
        source = image
    warped = cv2.warpPerspective(
        source, H_1to0.astype(np.float64), (width0, height0), flags=flags, borderValue=0
    )
    if warped.dtype != image.dtype:
        warped = warped.astype(image.dtype)
    if image.ndim == 3 and warped.ndim == 2:
        warped = warped[..., None]
    ones = np.ones(image.shape[:2], dtype=np.uint8)
    valid = cv2.warpPerspective(
        ones, H_1to0.astype(np.float64), (width0, height0), flags=cv2.INTER_NEAREST, borderValue=0
    )
    return warped, valid.astype(bool)


def downsized(image: np.ndarray, max_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``image`` with its longer side reduced to ``max_size`` (area averaging), or as it is
    if not longer; with the [3, 3] map from its pixels to the result's."""
    height, width = image.shape[:2]
    scale = max_size / max(height, width)
    if scale >= 1:
        return image, np.eye(3)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return small, resize_transform(size[0] / width, size[1] / height)
