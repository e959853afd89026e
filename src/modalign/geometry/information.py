"""Normalised mutual information of two registered images.

Mutual information (Viola & Wells 1997; Maes et al. 1997) measures how well one image's
intensities predict the other's, whatever the mapping between them, which is why it is
the classic criterion of multi-modal medical registration. The normalised form of
Studholme, Hill & Hawkes (1999), (H(A) + H(B)) / H(A, B), does not grow with the
overlap the way plain mutual information does. The pipeline uses it to choose among
fitted models (similarity, affine, homography) where the matches alone do not decide,
and, for blurred scans on a dark background, maximises it to refine the transform
(:func:`modalign.geometry.information_refine.maximise_information`). This module holds
the measure, its settings and the gates that decide which pairs are scans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from ..errors import ConfigError
from .warp import working_size


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def mutual_information(
    image0: np.ndarray,
    image1: np.ndarray,
    H_1to0: np.ndarray,
    bins: int = 32,
    background: float = 0.05,
    max_size: int = 1536,
) -> float:
    """Normalised mutual information of the fixed image and the moving image warped onto it.

    Counted over their overlap, leaving out the pixels dark in both images (the black
    surround of a medical slice would otherwise fill the joint histogram's first bin and
    dominate it) unless fewer than 100 pixels remain. An image longer than ``max_size``
    is first reduced to it: a histogram of 32 bins a side needs no more pixels, and a
    36-megapixel pair took a second a call.

    Args:
        image0, image1: [H, W] float32 fixed / moving images in [0, 1].
        H_1to0: [3, 3] moving-to-fixed transform.
        bins: histogram bins per image.
        background: intensity at or below which a pixel is dark.
        max_size: longer side of the images counted (larger ones are reduced to it).
    Returns:
        1 for independent images, 2 when each determines the other; 0 when the overlap
        is under 5% of the fixed image.
    """
    reduced0, to_small0 = working_size(image0, max_size)
    reduced1, to_small1 = working_size(image1, max_size)
    if reduced0 is not image0 or reduced1 is not image1:
        image0, image1 = reduced0, reduced1
        H_1to0 = to_small0 @ H_1to0 @ np.linalg.inv(to_small1)
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


@dataclass(frozen=True)
class InformationConfig:
    """Refinement of a registration by maximising its normalised mutual information.

    Where two scans lie on an empty (dark) background — MR, CT, PET, SPECT slices — the
    classic criterion of multi-modal medical registration takes over from the matches
    once they have brought the images close: the transform is polished over all its
    degrees of freedom by gradient ascent on a differentiable (Parzen-window)
    normalised mutual information, coarse to fine (Mattes et al. 2003 use the same
    smooth estimate). Matched keypoints tie a blurred modality's edges (PET activity)
    to the strongest edge nearby (the skull), a bias the robust fit cannot average
    away; the information of the whole slice is not biased that way
    (docs/model_card.md, "Mutual information refines blurred scans").

    Attributes:
        mode: "scans" refines pairs of scans (both images on a dark surround, see
            ``dark_ring``) where one is blurrier than the other (``max_detail_ratio``)
            and the structure agreement is flat (``max_sharpness``); "all" every
            registration; "none" none.
        sizes: the pyramid: the longer side of the fixed image at each level (never
            above the image's own size).
        iterations: Adam steps at each level (same length as ``sizes``).
        learning_rates: Adam step size at each level, in units of the fixed image's
            half longer side (same length as ``sizes``).
        bins: histogram bins per image; the Parzen window is a Gaussian one bin wide.
        samples: at most this many fixed-image pixels (a seeded random subset) enter
            the histogram at a level.
        background: intensity at or below which a pixel is dark; pixels dark in both
            images are left out of the histogram.
        dark_ring: in "scans" mode, at least this fraction of a border ring
            (``ring_width`` of the shorter side) of both images must be dark.
        ring_width: the ring's width as a fraction of the shorter side.
        min_gain: the refined transform must raise the information (measured exactly,
            :func:`mutual_information`) by more than this.
        max_change: nor move the fixed-image points of the moving image's 10×10 grid
            by more than this fraction of the fixed image's longer side (mean).
        max_sharpness: only registrations whose structure agreement is flat
            (``Registration.structure_sharpness`` below this) are refined: there a
            blurred modality (PET, SPECT) leaves the dense refinement nothing to lock
            onto, whereas sharp pairs (CT or MR against MR) are held more precisely by
            their matches than by the information, whose maximum can lie elsewhere
            (the skull of a CT against the scalp of an MR).
        max_detail_ratio: ...and only pairs where one image is markedly blurrier than
            the other (a functional scan against an anatomical one): the blurrier
            image's :func:`fine_detail` is below this fraction of the sharper one's.
    """

    mode: Literal["scans", "all", "none"] = "scans"
    sizes: tuple[int, ...] = (64, 128, 256)
    iterations: tuple[int, ...] = (40, 25, 20)
    learning_rates: tuple[float, ...] = (0.02, 0.006, 0.002)
    bins: int = 32
    samples: int = 8192
    background: float = 0.05
    dark_ring: float = 0.6
    ring_width: float = 0.05
    min_gain: float = 0.002
    max_change: float = 0.15
    max_sharpness: float = 0.025
    max_detail_ratio: float = 0.55

    def __post_init__(self) -> None:
        levels = {len(self.sizes), len(self.iterations), len(self.learning_rates)}
        if len(levels) != 1:
            raise ConfigError("information: sizes, iterations and learning_rates differ in length")
        if self.bins < 2:
            raise ConfigError(f"information.bins: {self.bins} is fewer than 2")


def dark_surround(image: np.ndarray, config: InformationConfig) -> bool:
    """Whether an [H, W] image in [0, 1] lies on an empty background (a scan's)."""
    height, width = image.shape
    band = max(2, round(config.ring_width * min(height, width)))
    ring = np.concatenate(
        [
            image[:band].ravel(),
            image[-band:].ravel(),
            image[:, :band].ravel(),
            image[:, -band:].ravel(),
        ]
    )
    return bool((ring <= config.background).mean() >= config.dark_ring)


def fine_detail(image: np.ndarray, background: float = 0.05, size: int = 256) -> float:
    """The share of fine detail in an [H, W] image in [0, 1]: with its longer side
    resampled to ``size``, the RMS of what a Gaussian blur of σ 2 px removes over the RMS
    of what one of σ 8 px removes, over the content (pixels brighter than
    ``background``, grown by 2 px). On the aanlib slices: 0.3–0.5 for PET, about twice
    that for MR and CT; 0 for an image without content."""
    scale = size / max(image.shape)
    resized = cv2.resize(
        image,
        None,
        fx=scale,
        fy=scale,
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
    )
    content = cv2.dilate((resized > background).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if not content.any():
        return 0.0
    fine = (resized - cv2.GaussianBlur(resized, (0, 0), 2.0))[content].astype(np.float64)
    coarse = (resized - cv2.GaussianBlur(resized, (0, 0), 8.0))[content].astype(np.float64)
    coarse_power = float(np.mean(coarse**2))
    return 0.0 if coarse_power == 0 else float(np.sqrt(np.mean(fine**2) / coarse_power))


def scans(image0: np.ndarray, image1: np.ndarray, config: InformationConfig) -> bool:
    """Whether both [H, W] images in [0, 1] lie on a dark surround (``config.dark_ring``)."""
    return dark_surround(image0, config) and dark_surround(image1, config)


def blurred_scans(image0: np.ndarray, image1: np.ndarray, config: InformationConfig) -> bool:
    """Whether [H, W] images in [0, 1] are scans on a dark surround, one of them markedly
    blurrier than the other (see :class:`InformationConfig`)."""
    if not scans(image0, image1, config):
        return False
    detail0 = fine_detail(image0, config.background)
    detail1 = fine_detail(image1, config.background)
    return min(detail0, detail1) < config.max_detail_ratio * max(detail0, detail1)
