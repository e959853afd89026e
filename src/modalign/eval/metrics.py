"""Pure registration-error metrics (the protocol of the shared data README)."""

from __future__ import annotations

import numpy as np

from ..geometry.transforms import grid_points, transform_points


def landmark_error(
    H_1to0: np.ndarray | None, landmarks0: np.ndarray, landmarks1: np.ndarray
) -> float:
    """Mean distance (fixed pixels) between H_1to0·landmarks1 and landmarks0; inf if no H.

    Args:
        landmarks0, landmarks1: [N, 2] corresponding points in fixed / moving images.
    """
    if H_1to0 is None:
        return float("inf")
    error = np.linalg.norm(transform_points(H_1to0, landmarks1) - landmarks0, axis=1)
    return float(error.mean()) if np.isfinite(error).all() else float("inf")


def grid_error(
    H_1to0: np.ndarray | None, H_true: np.ndarray, size1: tuple[int, int], steps: int = 10
) -> float:
    """Mean distance between estimated and true mappings of a steps×steps grid spanning
    the moving image (width, height); inf if no estimate."""
    points = grid_points(*size1, steps)
    return landmark_error(H_1to0, transform_points(H_true, points), points)


THRESHOLDS = (5.0, 10.0, 20.0)


def success_rate(errors: np.ndarray, threshold: float) -> float:
    """Fraction of pairs whose error is below ``threshold`` (inf counts as failure)."""
    errors = np.asarray(errors, dtype=np.float64)
    return float((errors < threshold).mean()) if len(errors) else 0.0


def error_auc(errors: np.ndarray, threshold: float) -> float:
    """Area under the cumulative error curve up to ``threshold``, normalised to [0, 1].

    The curve is the fraction of pairs with error ≤ e as e goes from 0 to ``threshold``
    (failures, inf, never count), as in SuperGlue's and LoFTR's pose AUC.
    """
    errors = np.sort(np.asarray(errors, dtype=np.float64))
    if len(errors) == 0:
        return 0.0
    recall = np.arange(1, len(errors) + 1) / len(errors)
    errors = np.concatenate([[0.0], errors])
    recall = np.concatenate([[0.0], recall])
    last = int(np.searchsorted(errors, threshold))
    x = np.concatenate([errors[:last], [threshold]])
    y = np.concatenate([recall[:last], [recall[last - 1]]])
    return float(np.trapezoid(y, x) / threshold)
