"""Normalised mutual information of two registered images.

Mutual information (Viola & Wells 1997; Maes et al. 1997) measures how well one image's
intensities predict the other's, whatever the mapping between them, which is why it is
the classic criterion of multi-modal medical registration. The normalised form of
Studholme, Hill & Hawkes (1999), (H(A) + H(B)) / H(A, B), does not grow with the
overlap the way plain mutual information does. The pipeline uses it to choose among
fitted models (similarity, affine, homography) where the matches alone do not decide.
"""

from __future__ import annotations

import cv2
import numpy as np


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def mutual_information(
    image0: np.ndarray,
    image1: np.ndarray,
    H_1to0: np.ndarray,
    bins: int = 32,
    background: float = 0.05,
) -> float:
    """Normalised mutual information of the fixed image and the moving image warped onto it.

    Counted over their overlap, leaving out the pixels dark in both images (the black
    surround of a medical slice would otherwise fill the joint histogram's first bin and
    dominate it) unless fewer than 100 pixels remain.

    Args:
        image0, image1: [H, W] float32 fixed / moving images in [0, 1].
        H_1to0: [3, 3] moving-to-fixed transform.
        bins: histogram bins per image.
        background: intensity at or below which a pixel is dark.
    Returns:
        1 for independent images, 2 when each determines the other; 0 when the overlap
        is under 5% of the fixed image.
    """
    height, width = image0.shape
    warped = cv2.warpPerspective(
        image1, H_1to0, (width, height), flags=cv2.INTER_LINEAR, borderValue=-1.0
    )
    overlap = warped >= 0
    if overlap.sum() < 0.05 * overlap.size:
        return 0.0
    values0, values1 = image0[overlap], warped[overlap]
    foreground = (values0 > background) | (values1 > background)
    if foreground.sum() > 100:
        values0, values1 = values0[foreground], values1[foreground]
    index0 = np.minimum((values0 * bins).astype(np.int64), bins - 1)
    index1 = np.minimum((values1 * bins).astype(np.int64), bins - 1)
    joint = np.bincount(index0 * bins + index1, minlength=bins * bins).reshape(bins, bins)
    joint_entropy = _entropy(joint)
    if joint_entropy == 0:
        return 0.0
    return (_entropy(joint.sum(axis=1)) + _entropy(joint.sum(axis=0))) / joint_entropy
