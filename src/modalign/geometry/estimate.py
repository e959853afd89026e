"""Robust estimation of the moving-to-fixed transform from matches.

Affine and homography models use OpenCV's USAC with MAGSAC++ scoring. OpenCV's USAC has
no 4-DoF (similarity) solver, so similarity uses OpenCV's RANSAC with Levenberg-Marquardt
refinement. Every candidate is checked for degeneracy (flips, extreme scale or shear,
a horizon crossing the moving image, collinear inliers) before it can be returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import cv2
import numpy as np

from ..types import TransformType
from .transforms import corners, normalize_homography, transform_points

TransformChoice = Literal["auto", "similarity", "affine", "homography"]


@dataclass(frozen=True)
class GeometryConfig:
    """Robust estimation settings.

    Attributes:
        transform: model to fit, or "auto" to choose by inlier support.
        threshold: inlier threshold in pixels of a fixed image whose longer side is
            ``threshold_size`` (MAGSAC's maximum sigma); see :meth:`for_image`.
        threshold_size: the threshold scales in proportion to the fixed image's longer
            side over this (0: ``threshold`` is in fixed-image pixels whatever the size).
            Matchers work at a bounded resolution (the learned ones at 512–640 px), so
            their keypoints' error in image pixels grows with the image: 5 px at 640
            is 8 px on a 1024-px image.
        min_threshold: ...but never below this many pixels (or ``threshold``, if that is
            lower): upsampling a small image adds no detail, so cross-modal keypoints do
            not get more precise than this.
        confidence: RANSAC confidence.
        max_iterations: RANSAC iteration cap.
        min_inliers: fewer inliers than this is a failed registration.
        dof_penalty: in "auto", each extra degree of freedom beyond the similarity's 4
            costs this fraction of the inlier count.
        max_scale: largest accepted scale change (and its inverse), per axis, relative to
            the ratio of the two images' longer sides where the fixed image's size is
            known: two images of one scene at different resolutions (a 6000-px
            orthophoto and a 512-px thermal frame) are not degenerate.
        max_anisotropy: largest accepted ratio of the two axis scales (shear/stretch).
        min_inlier_spread: inliers must cover at least this fraction of the moving
            image (convex-hull area); guards against collinear or clustered support.
        min_structure_correlation: the registered images' phase-congruency maps must
            correlate at least this much over their overlap (0 disables the check).
            0.07 keeps the most right estimates net of wrong ones on the tuning parts
            of roadscene, aanlib and visnir_country (right at 10 px minus accepted
            ones 20 px or more off: 208 at 0.07, 207 at 0.05, 203 at 0.1;
            docs/model_card.md): PET-MRI structure maps correlate weakly even when the
            registration is right.
        information_choice: in "auto", the pipeline also refines and checks the other
            valid models and keeps the one under which the registered images share the
            most information (normalised mutual information,
            :mod:`modalign.geometry.information`) if it beats the chosen model by
            ``information_margin`` while its structure maps correlate at most
            ``information_tolerance`` less. The matches' support alone tends to pick
            too many degrees of freedom when keypoints are imprecise (blurred PET) and
            too few when the perspective is strong. Models within
            ``information_min_change`` px of the chosen one (mean over a 10×10 grid on
            the moving image) are not tried: each costs an ECC run and could not change
            the outcome; nor are those whose unrefined registration falls short of the
            chosen model's (refined) information plus the margin by more than
            ``information_refine_gain``: ECC raises the information by less than 0.01
            in 9 of 10 refinements (median 0.0002; tuning parts). Needs the structure
            maps (refinement or the structure check).
    """

    transform: TransformChoice = "auto"
    threshold: float = 5.0
    threshold_size: int = 640
    min_threshold: float = 3.0
    confidence: float = 0.9999
    max_iterations: int = 10000
    min_inliers: int = 15
    dof_penalty: float = 0.025
    max_scale: float = 8.0
    max_anisotropy: float = 4.0
    min_inlier_spread: float = 0.005
    min_structure_correlation: float = 0.07
    information_choice: bool = True
    information_margin: float = 0.002
    information_tolerance: float = 0.05
    information_min_change: float = 3.0
    information_refine_gain: float = 0.01

    def for_image(self, size0: tuple[int, int]) -> GeometryConfig:
        """These settings with ``threshold`` in pixels of a fixed image of size0 (w, h)."""
        if not self.threshold_size:
            return self
        scaled = self.threshold * max(size0) / self.threshold_size
        threshold = max(scaled, min(self.min_threshold, self.threshold))
        return replace(self, threshold=threshold, threshold_size=0)


@dataclass(frozen=True)
class Estimate:
    """A fitted transform, or the reason there is none (``H_1to0`` None); in "auto" mode
    also the other models that were fitted and passed the checks (``alternatives``)."""

    transform: TransformType
    H_1to0: np.ndarray | None
    inliers: np.ndarray  # [N] bool
    rmse: float | None
    reason: str
    alternatives: tuple[Estimate, ...] = field(default=(), repr=False)  # other valid models

    @property
    def num_inliers(self) -> int:
        return int(self.inliers.sum())

    def refused(self, reason: str) -> Estimate:
        """This estimate without its transform, refused for ``reason`` (a later check)."""
        return Estimate(self.transform, None, self.inliers, self.rmse, reason)


def _fit(
    model: TransformType, points1: np.ndarray, points0: np.ndarray, config: GeometryConfig
) -> np.ndarray | None:
    source = points1.astype(np.float32)
    target = points0.astype(np.float32)
    if model is TransformType.HOMOGRAPHY:
        H, _ = cv2.findHomography(
            source, target, cv2.USAC_MAGSAC, config.threshold,
            maxIters=config.max_iterations, confidence=config.confidence,
        )  # fmt: skip
        return None if H is None else normalize_homography(H)
    if model is TransformType.AFFINE:
        A, _ = cv2.estimateAffine2D(
            source, target, method=cv2.USAC_MAGSAC, ransacReprojThreshold=config.threshold,
            maxIters=config.max_iterations, confidence=config.confidence,
        )  # fmt: skip
    else:
        A, _ = cv2.estimateAffinePartial2D(
            source, target, method=cv2.RANSAC, ransacReprojThreshold=config.threshold,
            maxIters=config.max_iterations, confidence=config.confidence, refineIters=10,
        )  # fmt: skip
    return None if A is None else np.vstack([A, [0.0, 0.0, 1.0]])


def degeneracy(
    H_1to0: np.ndarray,
    size1: tuple[int, int],
    config: GeometryConfig,
    size0: tuple[int, int] | None = None,
) -> str | None:
    """Why a transform is implausible for a registration, or None if it is acceptable.

    Args:
        size1, size0: (width, height) of the moving and, if known, the fixed image; the
            scale change is judged relative to the ratio of their longer sides.
    """
    if not np.isfinite(H_1to0).all():
        return "transform has non-finite entries"
    width1, height1 = size1
    box = corners(width1, height1)
    w = box @ H_1to0[2, :2] + H_1to0[2, 2]
    if (w <= 1e-8).any():
        return "homography sends part of the moving image to infinity"
    mapped = transform_points(H_1to0, box)
    edges = np.roll(mapped, -1, axis=0) - mapped
    turns = (
        edges[:, 0] * np.roll(edges, -1, axis=0)[:, 1]
        - edges[:, 1] * np.roll(edges, -1, axis=0)[:, 0]
    )
    if (turns <= 0).any():
        return "transform flips or folds the moving image"
    centre = np.array([[(width1 - 1) / 2, (height1 - 1) / 2]])
    jacobian = _jacobian(H_1to0, centre[0])
    singular = np.linalg.svd(jacobian, compute_uv=False)
    relative = singular / (1.0 if size0 is None else max(size0) / max(size1))
    if relative[0] > config.max_scale or relative[1] < 1 / config.max_scale:
        sizes = "" if size0 is None or max(size0) == max(size1) else ", for the images' sizes"
        return f"extreme scale change ({relative[1]:.3g}–{relative[0]:.3g}{sizes})"
    if singular[0] / singular[1] > config.max_anisotropy:
        return f"extreme shear or stretch (axis ratio {singular[0] / singular[1]:.3g})"
    return None


def _jacobian(H: np.ndarray, point: np.ndarray) -> np.ndarray:
    x, y = point
    w = H[2, 0] * x + H[2, 1] * y + H[2, 2]
    u = H[0, 0] * x + H[0, 1] * y + H[0, 2]
    v = H[1, 0] * x + H[1, 1] * y + H[1, 2]
    return np.array(
        [
            [(H[0, 0] * w - u * H[2, 0]) / w**2, (H[0, 1] * w - u * H[2, 1]) / w**2],
            [(H[1, 0] * w - v * H[2, 0]) / w**2, (H[1, 1] * w - v * H[2, 1]) / w**2],
        ]
    )


def residuals(H_1to0: np.ndarray, points1: np.ndarray, points0: np.ndarray) -> np.ndarray:
    """[N] distance in fixed pixels between H_1to0·points1 and points0."""
    error = np.linalg.norm(transform_points(H_1to0, points1) - points0, axis=1)
    return np.where(np.isfinite(error), error, np.inf)


def _spread(points: np.ndarray, size: tuple[int, int]) -> float:
    if len(points) < 3:
        return 0.0
    hull = cv2.convexHull(points.astype(np.float32))
    return float(cv2.contourArea(hull)) / float(size[0] * size[1])


def fit_model(
    model: TransformType,
    points1: np.ndarray,
    points0: np.ndarray,
    size1: tuple[int, int],
    config: GeometryConfig,
    size0: tuple[int, int] | None = None,
) -> Estimate:
    """Fit one model robustly and check it; ``H_1to0`` is None when it is not acceptable
    (``size0``: the fixed image's size, see :func:`degeneracy`)."""
    empty = np.zeros(len(points0), dtype=bool)
    minimal = {TransformType.SIMILARITY: 2, TransformType.AFFINE: 3, TransformType.HOMOGRAPHY: 4}
    if len(points0) < max(minimal[model] + 1, config.min_inliers):
        return Estimate(model, None, empty, None, f"too few matches ({len(points0)})")
    H = _fit(model, points1, points0, config)
    if H is None:
        return Estimate(model, None, empty, None, f"no {model.value} could be fitted")
    error = residuals(H, points1, points0)
    inliers = error < config.threshold
    rmse = float(np.sqrt(np.mean(error[inliers] ** 2))) if inliers.any() else None
    problem = degeneracy(H, size1, config, size0)
    if problem is None and inliers.sum() < config.min_inliers:
        problem = f"too few inliers ({int(inliers.sum())} < {config.min_inliers})"
    if problem is None and _spread(points1[inliers], size1) < config.min_inlier_spread:
        problem = "inliers are collinear or clustered in a tiny area"
    if problem is not None:
        return Estimate(model, None, inliers, rmse, problem)
    return Estimate(model, H, inliers, rmse, "ok")


def estimate_transform(
    points1: np.ndarray,
    points0: np.ndarray,
    size1: tuple[int, int],
    config: GeometryConfig,
    size0: tuple[int, int] | None = None,
) -> Estimate:
    """Estimate H_1to0 from matched points.

    Args:
        points1: [N, 2] moving-image points.
        points0: [N, 2] fixed-image points.
        size1: (width, height) of the moving image.
        size0: (width, height) of the fixed image, if known: scale changes are then
            judged relative to the images' sizes (:func:`degeneracy`).
    Returns:
        The chosen :class:`Estimate`. In "auto" mode it is the valid model with the
        highest MSAC support (inliers weighted by 1 − (residual / threshold)²) after the
        degree-of-freedom penalty, carrying the other valid models as ``alternatives``
        (the pipeline may prefer one of them on the images' evidence); if none is
        valid, the failure of the model with the most inliers (to report its reason).
    """
    if config.transform != "auto":
        model = TransformType(config.transform)
        return fit_model(model, points1, points0, size1, config, size0)
    candidates = [fit_model(m, points1, points0, size1, config, size0) for m in TransformType]
    valid = [c for c in candidates if c.H_1to0 is not None]
    if not valid:
        return max(candidates, key=lambda c: c.num_inliers)

    def score(candidate: Estimate) -> float:
        # MSAC's truncated quadratic: an inlier counts less the farther it is, so a model
        # that fits the matches more tightly wins even when a looser one keeps as many
        error = residuals(candidate.H_1to0, points1, points0)
        support = np.clip(1.0 - (error / config.threshold) ** 2, 0.0, None).sum()
        extra = candidate.transform.degrees_of_freedom - 4
        return support * (1.0 - config.dof_penalty * extra)

    best = max(valid, key=score)
    return replace(best, alternatives=tuple(c for c in valid if c is not best))
