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


def working_size(
    image: np.ndarray, max_size: int, min_size: int = 0, min_side: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """``image`` resized so that its longer side is at most ``max_size`` (area averaging)
    and, if it is shorter than ``min_size``, enlarged to it (bilinear); no side under
    ``min_side`` pixels. Returns the image (the same object if kept as it is) and the [3, 3]
    map from its pixels to the result's."""
    height, width = image.shape[:2]
    longer = max(height, width)
    scale = min(1.0, max_size / longer)
    if 0 < longer < min_size:
        scale = min_size / longer
    if scale == 1.0:
        return image, np.eye(3)
    size = (max(min_side, round(width * scale)), max(min_side, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    resized = cv2.resize(image, size, interpolation=interpolation)
    return resized, resize_transform(size[0] / width, size[1] / height)
