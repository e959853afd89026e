"""Refining a registration by maximising the normalised mutual information of the two
images (:mod:`modalign.geometry.information` holds the measure and its settings).

A differentiable version of the measure (Parzen windows over the joint histogram of
sampled fixed pixels and the moving image resampled through the transform) is ascended
by gradient over the transform's parameters, coarse to fine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..eval.metrics import grid_error
from ..types import TransformType
from .information import InformationConfig, mutual_information
from .transforms import normalize_homography


def _parzen(values: torch.Tensor, bins: int) -> torch.Tensor:
    """[N] values in [0, 1] -> [N, bins] Gaussian window weights, each row summing to 1."""
    centres = torch.linspace(0, 1, bins, dtype=values.dtype)
    exponent = ((values[:, None] - centres) * bins) ** 2 / 2
    # more than 12.6 bins away the window is below e^-80 (2e-35) and soon subnormal in
    # float32, where exp and its gradient run several times slower: exactly 0 there
    weights = torch.exp(-exponent.clamp_max(80)) * (exponent < 80)
    return weights / weights.sum(dim=1, keepdim=True)


def _entropy_of(p: torch.Tensor) -> torch.Tensor:
    return -(p * torch.log(p.clamp_min(1e-12))).sum()


class _Level:
    """One pyramid level: sampled fixed pixels and the moving image at that scale."""

    def __init__(
        self, image0: np.ndarray, image1: np.ndarray, size: int, config: InformationConfig
    ):
        scale0 = min(1.0, size / max(image0.shape))
        scale1 = min(1.0, size / max(image1.shape))
        small0 = cv2.resize(image0, None, fx=scale0, fy=scale0, interpolation=cv2.INTER_AREA)
        small1 = cv2.resize(image1, None, fx=scale1, fy=scale1, interpolation=cv2.INTER_AREA)
        height, width = small0.shape
        ys, xs = np.mgrid[0:height, 0:width]
        # the level's pixel centres in full-resolution fixed pixels (centre convention)
        up0 = np.array([image0.shape[1] / width, image0.shape[0] / height])
        points = np.ones((xs.size, 3))
        points[:, 0] = (xs.ravel() + 0.5) * up0[0] - 0.5
        points[:, 1] = (ys.ravel() + 0.5) * up0[1] - 0.5
        # full-resolution moving pixels -> this level's
        self.down1 = torch.tensor(
            [small1.shape[1] / image1.shape[1], small1.shape[0] / image1.shape[0]],
            dtype=torch.float64,
        )
        values0 = torch.from_numpy(small0.ravel().astype(np.float32))
        if config.samples and len(values0) > config.samples:
            generator = torch.Generator().manual_seed(0)
            keep = torch.randperm(len(values0), generator=generator)[: config.samples]
            points, values0 = points[keep.numpy()], values0[keep]
        self.points0 = torch.from_numpy(points)
        self.weights0 = _parzen(values0, config.bins)
        self.light0 = torch.sigmoid((values0 - config.background) * 100)
        self.image1 = torch.from_numpy(small1.astype(np.float32))[None, None]
        # this level's moving pixels -> grid_sample's [-1, 1] (align_corners)
        self.span1 = torch.tensor([small1.shape[1] - 1, small1.shape[0] - 1], dtype=torch.float64)
        self.config = config

    def information(self, H_1to0: torch.Tensor) -> torch.Tensor:
        """Differentiable normalised mutual information under ``H_1to0`` (full-resolution)."""
        mapped = self.points0 @ torch.linalg.inv(H_1to0).T
        xy = (mapped[:, :2] / mapped[:, 2:] + 0.5) * self.down1 - 0.5
        grid = (xy / self.span1 * 2 - 1).float()
        inside = (grid.abs() <= 1).all(dim=1).float()
        values1 = F.grid_sample(self.image1, grid[None, None], align_corners=True).ravel()
        light1 = torch.sigmoid((values1 - self.config.background) * 100)
        mask = inside * (1 - (1 - self.light0) * (1 - light1))
        joint = (self.weights0 * mask[:, None]).T @ _parzen(values1.clamp(0, 1), self.config.bins)
        joint = joint / joint.sum().clamp_min(1e-12)
        return (_entropy_of(joint.sum(1)) + _entropy_of(joint.sum(0))) / _entropy_of(joint)


# Each transform model's correction: which entries of a 3×3 matrix its parameters add to
# the identity (in normalised fixed coordinates); a similarity's two linear parameters
# each fill two entries (scale: both diagonal ones; rotation: the off-diagonal pair).
_CORRECTIONS = {
    TransformType.SIMILARITY: [
        [(0, 0, 1), (1, 1, 1)],
        [(0, 1, -1), (1, 0, 1)],
        [(0, 2, 1)],
        [(1, 2, 1)],
    ],
    TransformType.AFFINE: [[(r, c, 1)] for r in range(2) for c in range(3)],
    TransformType.HOMOGRAPHY: [[(r, c, 1)] for r in range(3) for c in range(3) if (r, c) != (2, 2)],
}


def _basis(transform: TransformType) -> torch.Tensor:
    """[P, 3, 3] the matrices that the correction's P parameters multiply."""
    entries = _CORRECTIONS[transform]
    basis = torch.zeros(len(entries), 3, 3, dtype=torch.float64)
    for index, cells in enumerate(entries):
        for row, column, sign in cells:
            basis[index, row, column] = sign
    return basis


class _ThreadPin:
    """How many callers are inside :func:`_one_thread`, and torch's thread count before
    the first of them entered."""

    lock = threading.Lock()
    callers = 0
    saved = 1


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one thread inside, restoring its thread count when the last of any
    concurrent callers leaves. Torch splits the histogram's sums differently on different
    thread counts, and Adam's path follows the rounding: the same pair ended up to a few
    pixels apart on one and two threads (docs/model_card.md, "Mutual information refines
    blurred scans"); on one thread it is the same on any machine, and the same as in the
    benchmark's one-thread workers."""
    with _ThreadPin.lock:
        if _ThreadPin.callers == 0:
            _ThreadPin.saved = torch.get_num_threads()
            torch.set_num_threads(1)
        _ThreadPin.callers += 1
    try:
        yield
    finally:
        with _ThreadPin.lock:
            _ThreadPin.callers -= 1
            if _ThreadPin.callers == 0:
                torch.set_num_threads(_ThreadPin.saved)


def _ascend(
    objective: Callable[[torch.Tensor], torch.Tensor],
    transform: Callable[[torch.Tensor], torch.Tensor],
    parameters: torch.Tensor,
    steps: int,
    rate: float,
) -> None:
    """Adam's gradient ascent on ``objective(transform(parameters))``, in place (Kingma &
    Ba 2015, their default moments). Written out: the first use of ``torch.optim``
    imports torch's compiler stack, which costs more than a registration."""
    first = torch.zeros_like(parameters)
    second = torch.zeros_like(parameters)
    for step in range(1, steps + 1):
        (gradient,) = torch.autograd.grad(-objective(transform(parameters)), parameters)
        first.mul_(0.9).add_(gradient, alpha=0.1)
        second.mul_(0.999).addcmul_(gradient, gradient, value=0.001)
        update = (first / (1 - 0.9**step)) / ((second / (1 - 0.999**step)).sqrt() + 1e-8)
        with torch.no_grad():
            parameters.sub_(rate * update)


def maximise_information(
    image0: np.ndarray,
    image1: np.ndarray,
    H_1to0: np.ndarray,
    transform: TransformType,
    config: InformationConfig,
) -> tuple[np.ndarray | None, str]:
    """Polish ``H_1to0`` by gradient ascent on the registered images' information.

    The correction C (a transform of ``transform``'s kind, in fixed-image coordinates
    centred on the image and scaled by half its longer side) is optimised with Adam on
    each pyramid level in turn; the result is C · H_1to0.

    Args:
        image0, image1: [H, W] float32 fixed / moving images in [0, 1].
        H_1to0: [3, 3] the registration to start from.
        transform: the model of ``H_1to0``; the correction keeps it.
        config: the refinement's settings.
    Returns:
        (the refined transform, "information x -> y") when it raises the exact
        normalised mutual information by more than ``config.min_gain`` and moves the
        grid by at most ``config.max_change``; otherwise (None, why it was not kept).
    """
    height0, width0 = image0.shape
    half = max(height0, width0) / 2
    to_unit = torch.tensor(
        [
            [1 / half, 0, -(width0 - 1) / 2 / half],
            [0, 1 / half, -(height0 - 1) / 2 / half],
            [0, 0, 1],
        ],
        dtype=torch.float64,
    )
    start = torch.from_numpy(np.asarray(H_1to0, dtype=np.float64))
    basis = _basis(transform)
    parameters = torch.zeros(len(basis), dtype=torch.float64, requires_grad=True)

    from_unit = torch.linalg.inv(to_unit)

    def corrected(values: torch.Tensor) -> torch.Tensor:
        correction = torch.eye(3, dtype=torch.float64) + (values[:, None, None] * basis).sum(0)
        return from_unit @ correction @ to_unit @ start

    with torch.enable_grad(), _one_thread():
        for size, steps, rate in zip(
            config.sizes, config.iterations, config.learning_rates, strict=True
        ):
            level = _Level(image0, image1, size, config)
            _ascend(level.information, corrected, parameters, steps, rate)
    refined = normalize_homography(corrected(parameters.detach()).numpy())
    before = mutual_information(image0, image1, H_1to0, config.bins, config.background)
    after = mutual_information(image0, image1, refined, config.bins, config.background)
    if not after > before + config.min_gain:
        return None, f"kept: information {before:.4f} -> {after:.4f}"
    moved = grid_error(refined, H_1to0, (image1.shape[1], image1.shape[0]))
    if not moved <= config.max_change * max(height0, width0):
        return None, f"kept: information refinement moved the grid {moved:.1f} px"
    return refined, f"information {before:.4f} -> {after:.4f}"
