"""The registration pipeline: normalise -> match (with optional rotation search) -> fit."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ._version import __version__
from .confidence import features, load_model, matcher_key
from .eval.metrics import grid_error
from .geometry.estimate import (
    Estimate,
    GeometryConfig,
    degeneracy,
    estimate_transform,
    residuals,
)
from .geometry.information import (
    InformationConfig,
    blurred_scans,
    maximise_information,
    mutual_information,
)
from .geometry.refine import (
    RefineConfig,
    StructureMaps,
    refine_transform,
    structure_agreement,
    structure_maps,
)
from .geometry.transforms import rotate90, rotation90_transform, transform_points
from .io import NormalizationConfig, to_gray
from .matchers.base import ImageInput, Matcher
from .registry import DEFAULT_MATCHER, shared_matcher
from .types import MatchResult, Registration, TransformType

logger = logging.getLogger(__name__)

# Computes a pair's structure maps while the matcher runs: neither needs the other, the
# matcher's network and the maps' FFTs leave each other idle cores, and both release the
# GIL, so a registration takes about the longer of the two rather than their sum.
_BACKGROUND = ThreadPoolExecutor(max_workers=4, thread_name_prefix="modalign-structure")


@dataclass(frozen=True)
class RegisterConfig:
    """Everything that decides a registration.

    Attributes:
        matcher: registry name.
        matcher_conf: overrides of that matcher's config.
        geometry: robust estimation settings (transform model, threshold, checks).
        refine: dense sub-pixel refinement of the robust estimate.
        information: refinement by mutual information, after the dense refinement and
            the structure check (by default for scans on a dark surround).
        rotation_search: also try the moving image turned by 90, 180 and 270 degrees.
        normalization0, normalization1: intensity normalisation of fixed / moving.
        confidence: file of the confidence model (:mod:`modalign.confidence`); empty for
            the shipped one (fitted for the default matcher), "none" for no confidence.
    """

    matcher: str = DEFAULT_MATCHER
    matcher_conf: dict[str, Any] = field(default_factory=dict)
    geometry: GeometryConfig = field(default_factory=GeometryConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)
    information: InformationConfig = field(default_factory=InformationConfig)
    rotation_search: bool = False
    normalization0: NormalizationConfig = field(default_factory=NormalizationConfig)
    normalization1: NormalizationConfig = field(default_factory=NormalizationConfig)
    confidence: str = ""


def _rank(estimate: Estimate) -> tuple[bool, int]:
    return estimate.H_1to0 is not None, estimate.num_inliers


def match_with_rotations(
    matcher: Matcher,
    image0: np.ndarray,
    image1: np.ndarray,
    geometry: GeometryConfig,
    rotation_search: bool,
) -> tuple[MatchResult, Estimate, int, dict[str, float]]:
    """Match and fit for each tried rotation of image 1; keep the best.

    Args:
        image0, image1: normalised float32 images.
    Returns:
        (matches in original moving pixels, estimate, quarter turns applied, timings).
    """
    height1, width1 = image1.shape[:2]
    timings = {"match": 0.0, "estimate": 0.0}
    best: tuple[MatchResult, Estimate, int] | None = None
    for quarter in range(4) if rotation_search else (0,):
        start = time.perf_counter()
        result = matcher.match_normalized(image0, rotate90(image1, quarter))
        to_original = np.linalg.inv(rotation90_transform(quarter, width1, height1))
        keypoints1 = transform_points(to_original, result.keypoints1)
        matches = MatchResult(
            result.keypoints0, keypoints1, result.confidence, result.image_size0, (width1, height1)
        )
        timings["match"] += time.perf_counter() - start
        start = time.perf_counter()
        estimate = estimate_transform(keypoints1, matches.keypoints0, (width1, height1), geometry)
        timings["estimate"] += time.perf_counter() - start
        logger.debug("rotation %d°: %d matches, %s", 90 * quarter, len(matches), estimate.reason)
        if best is None or _rank(estimate) > _rank(best[1]):
            best = (matches, estimate, quarter)
    assert best is not None
    return (*best, timings)


def register(
    fixed: ImageInput,
    moving: ImageInput,
    matcher: str | Matcher | None = None,
    transform: str | None = None,
    rotation_search: bool | None = None,
    config: RegisterConfig | None = None,
    on_stage: Callable[[str], None] | None = None,
    maps: StructureMaps | None = None,
) -> Registration:
    """Register ``moving`` (image 1) onto ``fixed`` (image 0).

    Args:
        fixed, moving: file paths or arrays ([H, W] or [H, W, C], any dtype).
        matcher: registry name or a :class:`Matcher`; overrides ``config.matcher``.
        transform: "auto", "similarity", "affine" or "homography"; overrides the config.
        rotation_search: overrides ``config.rotation_search``.
        config: the full configuration (defaults if None).
        on_stage: called with the name of each stage as it starts (for progress display).
        maps: structure maps of these two images under ``config`` (from
            :func:`pair_structure_maps`), when one pair is registered several times.
    Returns:
        A :class:`Registration`; ``success`` False and ``H_1to0`` None if it failed.
    """
    config = config or RegisterConfig()
    if transform is not None:
        config = replace(config, geometry=replace(config.geometry, transform=transform))
    if rotation_search is not None:
        config = replace(config, rotation_search=rotation_search)
    notify = on_stage or (lambda stage: None)

    notify("reading")
    model = load_model(config.confidence) if config.confidence != "none" else None
    start = time.perf_counter()
    image0 = Matcher.prepare(fixed, config.normalization0, "fixed image")
    image1 = Matcher.prepare(moving, config.normalization1, "moving image")
    timings = {"read": time.perf_counter() - start}
    height0, width0 = image0.shape[:2]
    config = replace(config, geometry=config.geometry.for_image((width0, height0)))
    if isinstance(matcher, Matcher):
        matcher_object = matcher
    else:
        matcher_object = shared_matcher(matcher or config.matcher, config.matcher_conf)

    gray0, gray1 = to_gray(image0), to_gray(image1)
    pending: Future[tuple[StructureMaps, float]] | None = None
    if maps is None and needs_structure(config):
        pending = _BACKGROUND.submit(_timed_structure_maps, gray0, gray1, config.refine)

    notify("matching")
    try:
        matches, estimate, quarter, stage_timings = match_with_rotations(
            matcher_object, image0, image1, config.geometry, config.rotation_search
        )
    except BaseException:
        _settle(pending)
        raise
    timings.update(stage_timings)
    refinement, correlation, sharpness, confidence = "off", None, None, None
    if estimate.H_1to0 is not None and needs_structure(config):
        notify("refining and verifying")
        start = time.perf_counter()
        if pending is not None:  # computed beside the matching: "structure" overlaps it
            maps, timings["structure"] = pending.result()
        assert maps is not None
        checked = _registered(estimate, matches, maps, config)
        if config.geometry.information_choice and checked.estimate.H_1to0 is not None:
            checked = _most_informative(checked, estimate, matches, maps, gray0, gray1, config)
        timings["refine"] = time.perf_counter() - start
        if checked.estimate.H_1to0 is not None and _wants_information(
            checked, gray0, gray1, config
        ):
            start = time.perf_counter()
            checked = _information_refined(checked, matches, maps, (gray0, gray1), config)
            timings["information"] = time.perf_counter() - start
        estimate, refinement = checked.estimate, checked.refinement
        correlation, sharpness = checked.correlation, checked.sharpness
    else:
        _settle(pending)
    num_inliers = estimate.num_inliers
    known = model is not None and model.matcher == matcher_key(matcher_object)
    if estimate.H_1to0 is not None and sharpness is not None and known:
        confidence = model(features(correlation, sharpness, num_inliers, len(matches)))
    return Registration(
        success=estimate.H_1to0 is not None,
        reason=estimate.reason,
        refinement=refinement,
        matcher=matcher_object.name,
        transform=estimate.transform,
        H_1to0=estimate.H_1to0,
        num_matches=len(matches),
        num_inliers=num_inliers,
        inlier_ratio=num_inliers / len(matches) if len(matches) else 0.0,
        rmse=estimate.rmse,
        structure_correlation=correlation,
        structure_sharpness=sharpness,
        confidence=confidence,
        rotation_degrees=(360 - 90 * quarter) % 360,
        image_size0=matches.image_size0,
        image_size1=matches.image_size1,
        timings=timings,
        matches=matches,
        inliers=estimate.inliers,
        version=__version__,
    )


def _timed_structure_maps(
    gray0: np.ndarray, gray1: np.ndarray, config: RefineConfig
) -> tuple[StructureMaps, float]:
    start = time.perf_counter()
    return structure_maps(gray0, gray1, config), time.perf_counter() - start


def _settle(pending: Future | None) -> None:
    """Cancel background work a registration no longer needs, or wait for it to end, so
    that none outlives the call that started it."""
    if pending is not None and not pending.cancel():
        wait([pending])


def needs_structure(config: RegisterConfig) -> bool:
    """Whether a successful registration under ``config`` computes structure maps."""
    return config.refine.enabled or config.geometry.min_structure_correlation > 0


def pair_structure_maps(
    fixed: ImageInput, moving: ImageInput, config: RegisterConfig
) -> StructureMaps:
    """The structure maps that :func:`register` would compute for this pair and config."""
    image0 = Matcher.prepare(fixed, config.normalization0, "fixed image")
    image1 = Matcher.prepare(moving, config.normalization1, "moving image")
    return structure_maps(to_gray(image0), to_gray(image1), config.refine)


@dataclass(frozen=True)
class _Checked:
    """An estimate after refinement and the structure check, with their findings."""

    estimate: Estimate
    refinement: str
    correlation: float
    sharpness: float


def _registered(
    estimate: Estimate, matches: MatchResult, maps: StructureMaps, config: RegisterConfig
) -> _Checked:
    """Refine (if enabled) and check an estimate that has a transform."""
    refinement = "off"
    if config.refine.enabled:
        estimate, refinement = _refined(estimate, matches, maps, config)
    estimate, correlation, sharpness = _verified(estimate, maps, config)
    return _Checked(estimate, refinement, correlation, sharpness)


def _most_informative(
    checked: _Checked,
    estimate: Estimate,
    matches: MatchResult,
    maps: StructureMaps,
    gray0: np.ndarray,
    gray1: np.ndarray,
    config: RegisterConfig,
) -> _Checked:
    """``checked`` (the registration of ``estimate``), or that of one of the estimate's
    alternative models if the registered images share clearly more information under it
    (see ``GeometryConfig.information_choice``)."""
    assert estimate.H_1to0 is not None and checked.estimate.H_1to0 is not None
    geometry = config.geometry
    chosen_information = mutual_information(gray0, gray1, checked.estimate.H_1to0)
    needed = chosen_information + geometry.information_margin
    best, best_information = checked, needed
    for alternative in estimate.alternatives:
        assert alternative.H_1to0 is not None
        change = grid_error(alternative.H_1to0, estimate.H_1to0, matches.image_size1)
        if change <= geometry.information_min_change:
            continue
        information = mutual_information(gray0, gray1, alternative.H_1to0)
        if information + geometry.information_refine_gain < needed:
            continue  # refinement would have to raise it more than it usually does
        candidate = _registered(alternative, matches, maps, config)
        if candidate.estimate.H_1to0 is None:
            continue
        if candidate.correlation < checked.correlation - geometry.information_tolerance:
            continue
        if candidate.estimate is not alternative:  # refined: measure again
            information = mutual_information(gray0, gray1, candidate.estimate.H_1to0)
        if information >= best_information:
            best, best_information = candidate, information
    if best is checked:
        return checked
    logger.debug(
        "%s preferred to %s: normalised mutual information %.4f vs %.4f",
        best.estimate.transform.value, checked.estimate.transform.value,
        best_information, chosen_information,
    )  # fmt: skip
    return best


def _wants_information(
    checked: _Checked, gray0: np.ndarray, gray1: np.ndarray, config: RegisterConfig
) -> bool:
    """Whether ``config.information`` refines this registration (see its docstring)."""
    information = config.information
    if information.mode != "scans":
        return information.mode == "all"
    return checked.sharpness < information.max_sharpness and blurred_scans(
        gray0, gray1, information
    )


def _information_refined(
    checked: _Checked,
    matches: MatchResult,
    maps: StructureMaps,
    images: tuple[np.ndarray, np.ndarray],
    config: RegisterConfig,
) -> _Checked:
    """``checked``, or its transform refined by mutual information between ``images``
    (gray fixed and moving) if that passes the same checks as a dense refinement (not
    degenerate, structure check). The inliers stay those of the robust fit (the
    refinement moves the transform off matches whose bias it corrects); the RMSE is
    theirs under the refined transform."""
    estimate = checked.estimate
    assert estimate.H_1to0 is not None
    # "auto": the matches' choice of model is no bound on what the information may correct
    automatic = config.geometry.transform == "auto"
    model = TransformType.HOMOGRAPHY if automatic else estimate.transform
    H, note = maximise_information(*images, estimate.H_1to0, model, config.information)
    if H is None or degeneracy(H, matches.image_size1, config.geometry):
        note = note if H is None else "kept: information-refined transform is degenerate"
        return replace(checked, refinement=f"{checked.refinement}; {note}")
    error = residuals(H, matches.keypoints1, matches.keypoints0)
    rmse = float(np.sqrt(np.mean(error[estimate.inliers] ** 2)))
    refined = Estimate(model, H, estimate.inliers, rmse, estimate.reason)
    verified, correlation, sharpness = _verified(refined, maps, config)
    if verified.H_1to0 is None:
        return replace(checked, refinement=f"{checked.refinement}; kept: {verified.reason}")
    return _Checked(verified, f"{checked.refinement}; {note}", correlation, sharpness)


def _verified(
    estimate: Estimate, maps: StructureMaps, config: RegisterConfig
) -> tuple[Estimate, float, float]:
    """The estimate, or a failure if the structures of the registered images disagree;
    with the structure maps' correlation and sharpness under it."""
    assert estimate.H_1to0 is not None
    correlation, sharpness = structure_agreement(maps, estimate.H_1to0, config.refine.smoothing)
    minimum = config.geometry.min_structure_correlation
    if correlation < minimum:
        reason = f"registered structures do not agree (correlation {correlation:.2f} < {minimum})"
        failed = Estimate(estimate.transform, None, estimate.inliers, estimate.rmse, reason)
        return failed, correlation, sharpness
    return estimate, correlation, sharpness


def _refined(
    estimate: Estimate, matches: MatchResult, maps: StructureMaps, config: RegisterConfig
) -> tuple[Estimate, str]:
    """The estimate after dense refinement, if the refined transform passes the checks."""
    assert estimate.H_1to0 is not None
    H, note = refine_transform(maps, estimate.H_1to0, estimate.transform, config.refine)
    if note != "refined":
        return estimate, note
    problem = degeneracy(H, matches.image_size1, config.geometry)
    if problem:
        return estimate, f"kept: refined transform is degenerate ({problem})"
    error = residuals(H, matches.keypoints1, matches.keypoints0)
    inliers = error < config.geometry.threshold
    near = error < 2 * config.geometry.threshold
    kept = (near & estimate.inliers).sum() / max(estimate.num_inliers, 1)
    if kept < config.refine.min_inlier_fraction or inliers.sum() < config.geometry.min_inliers:
        return estimate, f"kept: refined transform keeps only {kept:.0%} of the inliers"
    rmse = float(np.sqrt(np.mean(error[inliers] ** 2)))
    return Estimate(estimate.transform, H, inliers, rmse, estimate.reason), note
