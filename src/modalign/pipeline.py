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
from .checks import (
    averaged,
    densely_refined,
    information_refined,
    most_informative,
    polished,
    rated,
    registered,
    translation_refined,
    wants_information,
    wants_polish,
    wants_translation,
)
from .confidence import ConfidenceModel, load_model, matcher_key
from .errors import ConfigError
from .geometry.estimate import (
    Estimate,
    GeometryConfig,
)
from .geometry.information import (
    InformationConfig,
)
from .geometry.refine import (
    RefineConfig,
    StructureMaps,
    structure_maps,
)
from .geometry.transforms import (
    normalize_homography,
    similarity_view,
    transform_points,
)
from .geometry.warp import warp_image
from .io import NormalizationConfig, to_gray
from .matchers.base import ImageInput, Matcher
from .registry import DEFAULT_MATCHER, shared_matcher
from .translated import TranslationConfig
from .types import MatchResult, Registration, TransformType
from .views import (
    Outcome,
    RematchConfig,
    ViewSearchConfig,
    match_with_rotations,
    rematched,
    surety,
    view_note,
    wants_rematch,
    wants_views,
)
from .zoom import ZoomSearchConfig, zoom_side, zoomed

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
        translation: refinement through modality translators, after the dense refinement
            and the structure check (by default for scans on a dark surround, also from
            a transform the check refused; a translated transform is verified by the
            rendering's correlation instead of the check); the registration finally kept
            is translated once more (``translation.polish``).
        information: refinement by mutual information, after the dense refinement and
            the structure check, unless the translation refined the registration (by
            default for scans on a dark surround).
        rotation_search: also try the moving image turned by 90, 180 and 270 degrees.
        view_search: match unsure registrations again with other views of the moving
            image (by default for scans).
        rematch: match again with the moving image warped by the registration, and
            average the registrations of turned views of that frame with it (by
            default for scans).
        zoom_search: register one image onto tiles of the other, larger one when the
            registration of the whole images failed (by default when the larger image
            is 1024 px or more).
        normalization0, normalization1: intensity normalisation of fixed / moving.
        confidence: file of the confidence model (:mod:`modalign.confidence`); empty for
            the shipped one (fitted for the default matcher), "none" for no confidence.
        min_confidence: a registration rated below this confidence is reported as failed
            (its confidence kept for the record); 0 never. Unrelated images can pass the
            structure check, rarely with a confidence above 0.3, and on the tuning parts
            no registration within 10 px of the truth was rated below 0.34
            (docs/model_card.md, "Unsure registrations fail").
    """

    matcher: str = DEFAULT_MATCHER
    matcher_conf: dict[str, Any] = field(default_factory=dict)
    geometry: GeometryConfig = field(default_factory=GeometryConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)
    translation: TranslationConfig = field(default_factory=TranslationConfig)
    information: InformationConfig = field(default_factory=InformationConfig)
    rotation_search: bool = False
    view_search: ViewSearchConfig = field(default_factory=ViewSearchConfig)
    rematch: RematchConfig = field(default_factory=RematchConfig)
    zoom_search: ZoomSearchConfig = field(default_factory=ZoomSearchConfig)
    normalization0: NormalizationConfig = field(default_factory=NormalizationConfig)
    normalization1: NormalizationConfig = field(default_factory=NormalizationConfig)
    confidence: str = ""
    min_confidence: float = 0.3

    def __post_init__(self) -> None:
        if not 0 <= self.min_confidence < 1:
            raise ConfigError(f"min_confidence: {self.min_confidence} is not in [0, 1)")


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
    (height0, width0), (height1, width1) = image0.shape[:2], image1.shape[:2]
    given = config  # its threshold still relative to the image size (for tiles)
    config = replace(config, geometry=config.geometry.for_image((width0, height0)))
    if isinstance(matcher, Matcher):
        matcher_object = matcher
    else:
        matcher_object = shared_matcher(matcher or config.matcher, config.matcher_conf)
    if model is not None and model.matcher != matcher_key(matcher_object):
        model = None  # fitted for another matcher: its confidence would mean nothing here

    gray0, gray1 = to_gray(image0), to_gray(image1)
    pending: Future[tuple[StructureMaps, float]] | None = None
    if maps is None and needs_structure(config):
        pending = _BACKGROUND.submit(_timed_structure_maps, gray0, gray1, config.refine)

    def structure() -> StructureMaps:
        """The pair's structure maps, waiting for the background computation if needed."""
        nonlocal maps, pending
        if maps is None:
            assert pending is not None
            maps, timings["structure"] = pending.result()
            pending = None
        return maps

    def attempt(view: tuple[float, float] | None) -> Outcome:
        """Match (this view of the moving image), fit, refine, check, rate."""
        seen = None if view is None else similarity_view(width1, height1, *view)
        matches, estimate, quarter, stage_timings = match_with_rotations(
            matcher_object, image0, image1, config.geometry, config.rotation_search, seen
        )
        for stage, seconds in stage_timings.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
        if estimate.H_1to0 is None or not needs_structure(config):
            return Outcome(matches, estimate, quarter, "off", None, None, None, view)
        notify("refining and verifying")
        grays = (gray0, gray1)
        concluded = _concluded(
            matches, estimate, quarter, structure(), grays, config, model, timings
        )
        return replace(concluded, view=view)

    notify("matching")
    try:
        outcome = attempt(None)
        rated = model is not None and needs_structure(config)
        if wants_views(outcome, gray0, gray1, config, rated):
            notify("searching other views")
            start = time.perf_counter()
            first = outcome
            sure = config.view_search.below_confidence
            for view in config.view_search.views:
                candidate = attempt(view)
                rating = surety(candidate)
                if rating >= sure and rating > surety(outcome):
                    outcome = candidate
            timings["views"] = time.perf_counter() - start
            note = view_note(first, outcome, config)
            outcome = replace(outcome, refinement=f"{outcome.refinement}; {note}")
        side = zoom_side(outcome, (width0, height0), (width1, height1), config, rated)
        if side is not None:
            notify(f"searching tiles of the {('fixed', 'moving')[side]} image")
            start = time.perf_counter()
            outcome = zoomed(image0, image1, outcome, matcher_object, given, side)
            timings["zoom"] = time.perf_counter() - start
        if wants_rematch(outcome, gray0, gray1, config):
            notify("matching again in the registered frame")
            start = time.perf_counter()
            second = _rematch(image0, image1, outcome, matcher_object, config)
            outcome = rematched(outcome, second, config, (width0, height0))
            if config.rematch.views and outcome.correlation is not None and not outcome.translated:
                views = config.rematch.views
                others = [
                    _rematch(image0, image1, outcome, matcher_object, config, v) for v in views
                ]
                outcome = averaged(outcome, others, structure(), config, model, (width0, height0))
            timings["rematch"] = time.perf_counter() - start
        if wants_polish(outcome, gray0, gray1, config):
            start = time.perf_counter()
            outcome = polished(outcome, structure(), (gray0, gray1), config, model)
            timings["translation"] = timings.get("translation", 0.0) + time.perf_counter() - start
    finally:
        _settle(pending)
    outcome = _trusted(outcome, config.min_confidence)
    estimate, matches = outcome.estimate, outcome.matches
    num_inliers = estimate.num_inliers
    return Registration(
        success=estimate.H_1to0 is not None,
        reason=estimate.reason,
        refinement=outcome.refinement,
        matcher=matcher_object.name,
        transform=estimate.transform,
        H_1to0=estimate.H_1to0,
        num_matches=len(matches),
        num_inliers=num_inliers,
        inlier_ratio=num_inliers / len(matches) if len(matches) else 0.0,
        rmse=estimate.rmse,
        structure_correlation=outcome.correlation,
        structure_sharpness=outcome.sharpness,
        confidence=outcome.confidence,
        translated=outcome.translated and estimate.H_1to0 is not None,
        rotation_degrees=(360 - 90 * outcome.quarter) % 360,
        image_size0=matches.image_size0,
        image_size1=matches.image_size1,
        timings=timings,
        matches=matches,
        inliers=estimate.inliers,
        version=__version__,
    )


def _concluded(
    matches: MatchResult,
    estimate: Estimate,
    quarter: int,
    maps: StructureMaps,
    grays: tuple[np.ndarray, np.ndarray],
    config: RegisterConfig,
    model: ConfidenceModel | None,
    timings: dict[str, float],
) -> Outcome:
    """Refine and check a fitted estimate, then rate it (``timings`` accumulate)."""
    start = time.perf_counter()
    checked = registered(estimate, matches, maps, config)
    if config.geometry.information_choice and checked.estimate.H_1to0 is not None:
        checked = most_informative(checked, estimate, matches, maps, *grays, config)
    timings["refine"] = timings.get("refine", 0.0) + time.perf_counter() - start
    translated = False
    if wants_translation(*grays, config):
        start = time.perf_counter()
        checked, translated = densely_refined(
            translation_refined, checked, matches, maps, grays, config
        )
        timings["translation"] = timings.get("translation", 0.0) + time.perf_counter() - start
    if not translated and wants_information(checked, *grays, config):
        start = time.perf_counter()
        checked, _ = densely_refined(information_refined, checked, matches, maps, grays, config)
        timings["information"] = timings.get("information", 0.0) + time.perf_counter() - start
    return replace(rated(checked, matches, quarter, model), translated=translated)


def _trusted(outcome: Outcome, minimum: float) -> Outcome:
    """``outcome``, failed if its confidence is below ``minimum``."""
    estimate, confidence = outcome.estimate, outcome.confidence
    if estimate.H_1to0 is None or confidence is None or confidence >= minimum:
        return outcome
    reason = f"too unsure: confidence {confidence:.2f} < {minimum:g}"
    return replace(outcome, estimate=estimate.refused(reason))


# Images already normalised to [0, 1] (and colour-mapped ones read as their scalar).
AS_GIVEN = NormalizationConfig(method="none", colour_map=False)


def _rematch(
    image0: np.ndarray,
    image1: np.ndarray,
    first: Outcome,
    matcher: Matcher,
    config: RegisterConfig,
    view: tuple[float, float] | None = None,
) -> Outcome:
    """Register the moving image warped onto the fixed one by ``first``'s transform
    (nothing searched again), in the moving image's own pixels: the transform composed
    with the warp, the matches mapped back through it. ``view``: (scale, degrees), the
    warped image also scaled and turned clockwise about the fixed image's centre."""
    height0, width0 = image0.shape[:2]
    to_view, size = similarity_view(width0, height0, *(view or (1.0, 0.0)))
    assert first.estimate.H_1to0 is not None
    H = to_view @ first.estimate.H_1to0
    warped, _ = warp_image(image1, H, size)
    once = replace(
        config,
        rotation_search=False,
        view_search=replace(config.view_search, mode="none"),
        rematch=replace(config.rematch, mode="none"),
        translation=replace(config.translation, polish=False),  # polished once, at the end
        min_confidence=0.0,  # rated here, judged once on the outcome kept (``_trusted``)
        normalization0=AS_GIVEN,
        normalization1=AS_GIVEN,
    )
    second = register(image0, warped, matcher, config=once)
    matches = second.matches
    size1 = (image1.shape[1], image1.shape[0])
    matches = MatchResult(
        matches.keypoints0,
        transform_points(np.linalg.inv(H), matches.keypoints1),
        matches.confidence,
        matches.image_size0,
        size1,
    )
    composed = None if second.H_1to0 is None else normalize_homography(second.H_1to0 @ H)
    kinds = (second.transform or first.estimate.transform, first.estimate.transform)
    estimate = Estimate(
        TransformType.most_general(kinds), composed, second.inliers, second.rmse, second.reason
    )
    return Outcome(
        matches, estimate, first.quarter, second.refinement, second.structure_correlation,
        second.structure_sharpness, second.confidence, translated=second.translated,
    )  # fmt: skip


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
