"""Other views of the moving image: matching it turned by quarter turns, turned and
scaled when a scan's registration is unsure, and warped by its registration (the
rematch): steps 2, 9 and 10 of the README's "How a registration is decided"."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

from .errors import ConfigError
from .eval.metrics import grid_error
from .geometry.estimate import Estimate, GeometryConfig, estimate_transform
from .geometry.information import scans
from .geometry.transforms import rotate90, rotation90_transform, transform_points
from .matchers.base import Matcher
from .types import MatchResult

if TYPE_CHECKING:
    from .pipeline import RegisterConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ViewSearchConfig:
    """Matching again with the moving image seen at other scales and angles, when a
    registration is unsure.

    A learned matcher reads a small scan at the scale and orientation it was shown: on
    the aanlib slices its failures are far more frequent when the moving slice was
    turned by more than 20° or shrunk below 0.85 (docs/model_card.md, "Views of unsure
    scans"). Each view is matched and fitted on its own; its matches are mapped back to
    the moving image, so that the refinements, checks and confidence run on the images
    as given; the registration of highest confidence is kept.

    Attributes:
        mode: "scans" searches pairs of scans (both images on a dark surround, see
            ``InformationConfig.dark_ring``); "all" any pair; "none" never.
        views: (scale, degrees) of each view: the moving image scaled and turned
            clockwise about its centre.
        below_confidence: only registrations that failed or whose confidence is below
            this are searched (needs the confidence model of the matcher in use), and a
            view replaces them only with a confidence of at least this (an unsure view
            is no better evidence than an unsure registration).
    """

    mode: Literal["scans", "all", "none"] = "scans"
    views: tuple[tuple[float, float], ...] = ((1.0, -20.0), (1.0, 20.0), (1.25, 0.0))
    below_confidence: float = 0.5

    def __post_init__(self) -> None:
        _check_views("view_search.views", self.views)


def _check_views(key: str, views: tuple[tuple[float, float], ...]) -> None:
    for scale, _ in views:
        if not 0.1 <= scale <= 10:
            raise ConfigError(f"{key}: scale {scale} is outside [0.1, 10]")


@dataclass(frozen=True)
class RematchConfig:
    """Matching again with the moving image warped onto the fixed one by the registration.

    Warped by its registration, the moving image is nearly upright and at the fixed
    image's scale, where a learned matcher reads it best: on the aanlib slices the
    matches of that view fit estimates several pixels closer to the truth
    (docs/model_card.md, "Rematching in the registered frame"). The view's matches are
    mapped back to the moving image and fitted, refined, checked and rated as the first
    ones were; the result replaces the first registration unless it fails or moves the
    moving image's grid too far.

    Attributes:
        mode: "scans" rematches pairs of scans (both images on a dark surround, see
            ``InformationConfig.dark_ring``); "all" any registered pair; "none" never.
        max_move: the farthest the rematch may move the moving image's grid (mean over
            10 × 10 points) from the first registration, as a fraction of the fixed
            image's longer side.
        views: (scale, degrees) of further views of the registered frame (the moving
            image warped by the registration kept after the rematch, then scaled and
            turned clockwise about the fixed image's centre), each registered as the
            rematch is; the kept transform is replaced by the mean of its own and theirs
            (:func:`modalign.checks.averaged`; those within ``max_move`` of it) if that
            passes the structure check. Each view's matches err in their own way, so
            their mean lies closer to the truth (docs/model_card.md, "Averaging views of
            the registered frame"); each view costs another registration of the pair.
            A registration a modality translator refined (``TranslationConfig``) is
            not averaged: its dense alignment is finer than the views' matches, and on
            the PET-MRI tuning slices skipping them changed no result at 5, 10 or 20 px
            and took 40% less time (same section).
    """

    mode: Literal["scans", "all", "none"] = "scans"
    max_move: float = 0.15
    views: tuple[tuple[float, float], ...] = ((1.0, 0.0), (1.0, 6.0), (1.0, -6.0))

    def __post_init__(self) -> None:
        if not self.max_move > 0:
            raise ConfigError(f"rematch.max_move: {self.max_move} is not positive")
        _check_views("rematch.views", self.views)


def _rank(estimate: Estimate) -> tuple[bool, int]:
    return estimate.H_1to0 is not None, estimate.num_inliers


def match_with_rotations(
    matcher: Matcher,
    image0: np.ndarray,
    image1: np.ndarray,
    geometry: GeometryConfig,
    rotation_search: bool,
    view: tuple[np.ndarray, tuple[int, int]] | None = None,
) -> tuple[MatchResult, Estimate, int, dict[str, float]]:
    """Match and fit for each tried rotation of image 1; keep the best.

    Args:
        image0, image1: normalised float32 images.
        view: match this view of image 1: the [3, 3] map from its pixels to the view's
            and the view's (width, height) (e.g. ``similarity_view``).
    Returns:
        (matches in original moving pixels, estimate, quarter turns applied, timings).
    """
    height1, width1 = image1.shape[:2]
    timings = {"match": 0.0, "estimate": 0.0}
    seen, to_seen = image1, np.eye(3)
    if view is not None:
        to_seen, size = view
        seen = cv2.warpPerspective(image1, to_seen, size, flags=cv2.INTER_LINEAR)
    best: tuple[MatchResult, Estimate, int] | None = None
    for quarter in range(4) if rotation_search else (0,):
        start = time.perf_counter()
        result = matcher.match_normalized(image0, rotate90(seen, quarter))
        turn = rotation90_transform(quarter, seen.shape[1], seen.shape[0])
        to_original = np.linalg.inv(turn @ to_seen)
        keypoints1 = transform_points(to_original, result.keypoints1)
        matches = MatchResult(
            result.keypoints0, keypoints1, result.confidence, result.image_size0, (width1, height1)
        )
        timings["match"] += time.perf_counter() - start
        start = time.perf_counter()
        estimate = estimate_transform(
            keypoints1, matches.keypoints0, (width1, height1), geometry, matches.image_size0
        )
        timings["estimate"] += time.perf_counter() - start
        logger.debug("rotation %d°: %d matches, %s", 90 * quarter, len(matches), estimate.reason)
        if best is None or _rank(estimate) > _rank(best[1]):
            best = (matches, estimate, quarter)
    assert best is not None
    return (*best, timings)


@dataclass(frozen=True)
class Outcome:
    """One attempt at the registration: matches, fit, and the findings about it."""

    matches: MatchResult
    estimate: Estimate
    quarter: int
    refinement: str
    correlation: float | None
    sharpness: float | None
    confidence: float | None
    view: tuple[float, float] | None = None
    translated: bool = False  # its transform was last refined through a translator


def surety(outcome: Outcome) -> float:
    """How sure a registration is: its confidence; -1 if it failed."""
    if outcome.estimate.H_1to0 is None or outcome.confidence is None:
        return -1.0
    return outcome.confidence


def wants_views(
    outcome: Outcome, gray0: np.ndarray, gray1: np.ndarray, config: RegisterConfig, rated: bool
) -> bool:
    """Whether ``config.view_search`` matches this pair again (see its docstring); ``rated``:
    the registration has a confidence (a model for its matcher, structure maps computed)."""
    search = config.view_search
    if search.mode == "none" or not search.views or not rated:
        return False
    if surety(outcome) >= search.below_confidence:
        return False
    if search.mode == "all":
        return True
    return scans(gray0, gray1, config.information)


def wants_rematch(
    outcome: Outcome, gray0: np.ndarray, gray1: np.ndarray, config: RegisterConfig
) -> bool:
    """Whether ``config.rematch`` matches this registered pair again (see its docstring)."""
    if config.rematch.mode == "none" or outcome.estimate.H_1to0 is None:
        return False
    if config.rematch.mode == "all":
        return True
    return scans(gray0, gray1, config.information)


def rematched(
    first: Outcome, second: Outcome, config: RegisterConfig, size0: tuple[int, int]
) -> Outcome:
    """The rematch ``second`` in place of ``first`` unless it failed or moved too far."""
    if second.estimate.H_1to0 is None:
        return replace(first, refinement=f"{first.refinement}; kept: rematch failed")
    assert first.estimate.H_1to0 is not None
    moved = grid_error(second.estimate.H_1to0, first.estimate.H_1to0, first.matches.image_size1)
    if moved > config.rematch.max_move * max(size0):
        note = f"kept: rematch moved the grid {moved:.1f} px"
        return replace(first, refinement=f"{first.refinement}; {note}")
    note = f"rematched, {moved:.1f} px from the first registration ({first.refinement})"
    return replace(second, refinement=f"{second.refinement}; {note}")


def view_note(first: Outcome, chosen: Outcome, config: RegisterConfig) -> str:
    tried = len(config.view_search.views)
    if chosen is first:
        return f"views: none of {tried} sure"
    scale, degrees = chosen.view
    return (
        f"view: moving ×{scale:g} turned {degrees:g}° "
        f"(confidence {max(surety(first), 0):.2f} -> {chosen.confidence:.2f})"
    )
