"""Refining and checking a fitted estimate: the dense refinement, the structure check,
the choice among fitted models by mutual information, the refinement of scans through
modality translators and that of blurred scans by mutual information (steps 4-7 of the
README's "How a registration is decided"), the rating of a checked registration, the
mean over views of its registered frame and the last translation of the one kept (end of
step 10)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from .confidence import ConfidenceModel, features
from .eval.metrics import grid_error
from .geometry.estimate import Estimate, degeneracy, residuals
from .geometry.information import blurred_scans, mutual_information, scans
from .geometry.information_refine import maximise_information
from .geometry.refine import StructureMaps, refine_transform, structure_agreement
from .geometry.transforms import mean_transform
from .translated import translated_transform
from .types import MatchResult, TransformType
from .views import Outcome

if TYPE_CHECKING:
    from .pipeline import RegisterConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checked:
    """An estimate after refinement and the structure check, with their findings."""

    estimate: Estimate
    refinement: str
    correlation: float
    sharpness: float
    unverified: Estimate | None = None  # the transform the structure check refused

    def dense_start(self, config: RegisterConfig) -> Checked:
        """Where a dense refinement of scans starts: this registration, or, if the
        structure check refused it and ``translation.refused_scans`` is set, the estimate
        it refused (a refinement from it is kept only if it passes the check, or for
        the translators' refinement the correlation that stands in for it)."""
        refused = self.estimate.H_1to0 is None and self.unverified is not None
        if refused and config.translation.refused_scans:
            return replace(self, estimate=self.unverified)
        return self


def registered(
    estimate: Estimate, matches: MatchResult, maps: StructureMaps, config: RegisterConfig
) -> Checked:
    """Refine (if enabled) and check an estimate that has a transform."""
    refinement = "off"
    if config.refine.enabled:
        estimate, refinement = refine_estimate(estimate, matches, maps, config)
    verified, correlation, sharpness = verify(estimate, maps, config)
    unverified = estimate if verified.H_1to0 is None else None
    return Checked(verified, refinement, correlation, sharpness, unverified)


def most_informative(
    checked: Checked,
    estimate: Estimate,
    matches: MatchResult,
    maps: StructureMaps,
    gray0: np.ndarray,
    gray1: np.ndarray,
    config: RegisterConfig,
) -> Checked:
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
        candidate = registered(alternative, matches, maps, config)
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


def wants_information(
    checked: Checked, gray0: np.ndarray, gray1: np.ndarray, config: RegisterConfig
) -> bool:
    """Whether ``config.information`` refines this registration (see its docstring)."""
    information = config.information
    if information.mode != "scans":
        return information.mode == "all"
    return checked.sharpness < information.max_sharpness and blurred_scans(
        gray0, gray1, information
    )


def information_refined(
    checked: Checked,
    matches: MatchResult,
    maps: StructureMaps,
    images: tuple[np.ndarray, np.ndarray],
    config: RegisterConfig,
) -> Checked:
    """``checked``, or its transform refined by mutual information between ``images``
    (gray fixed and moving) if that passes the checks of a dense refinement
    (:func:`_refined_to`)."""
    estimate = checked.estimate
    assert estimate.H_1to0 is not None
    model = _dense_model(estimate, config)
    H, note = maximise_information(*images, estimate.H_1to0, model, config.information)
    return _refined_to(checked, H, model, note, matches, maps, config)


def densely_refined(
    refinement: Callable[..., Checked],
    checked: Checked,
    matches: MatchResult,
    maps: StructureMaps,
    images: tuple[np.ndarray, np.ndarray],
    config: RegisterConfig,
) -> tuple[Checked, bool]:
    """``checked`` refined by ``refinement`` (:func:`translation_refined` or
    :func:`information_refined`) from its dense start (:meth:`Checked.dense_start`), and
    whether the transform was replaced. A refused registration stays refused unless the
    refined transform passed the structure check (or the check that stands in for it,
    ``translation.structure_check``)."""
    start = checked.dense_start(config)
    if start.estimate.H_1to0 is None:
        return checked, False
    refined = refinement(start, matches, maps, images, config)
    if refined.estimate is start.estimate:
        return replace(checked, refinement=refined.refinement), False
    return refined, True


def _dense_model(estimate: Estimate, config: RegisterConfig) -> TransformType:
    """The model a dense refinement of ``estimate`` fits: under "auto" the matches' choice
    of model is no bound on what the images may correct, so a homography."""
    automatic = config.geometry.transform == "auto"
    return TransformType.HOMOGRAPHY if automatic else estimate.transform


def wants_translation(gray0: np.ndarray, gray1: np.ndarray, config: RegisterConfig) -> bool:
    """Whether ``config.translation`` refines this pair's registration (see its docstring)."""
    translation = config.translation
    if translation.mode == "none" or not translation.translators:
        return False
    return translation.mode == "all" or scans(gray0, gray1, config.information)


def translation_refined(
    checked: Checked,
    matches: MatchResult,
    maps: StructureMaps,
    images: tuple[np.ndarray, np.ndarray],
    config: RegisterConfig,
) -> Checked:
    """``checked``, or its transform refined through a modality translator
    (:mod:`modalign.translated`) if that moves the moving image's grid at most
    ``translation.max_move`` and passes the checks of a dense refinement."""
    estimate = checked.estimate
    assert estimate.H_1to0 is not None
    model = _dense_model(estimate, config)
    H, note = translated_transform(
        *images, estimate.H_1to0, model, config.translation, config.refine
    )
    if H is not None:
        moved = grid_error(H, estimate.H_1to0, matches.image_size1)
        if moved > config.translation.max_move * max(matches.image_size0):
            H, note = None, f"kept: translation moved the grid {moved:.1f} px"
    structure_checked = config.translation.structure_check
    return _refined_to(checked, H, model, note, matches, maps, config, structure_checked)


def _refined_to(
    checked: Checked,
    H: np.ndarray | None,
    model: TransformType,
    note: str,
    matches: MatchResult,
    maps: StructureMaps,
    config: RegisterConfig,
    structure_checked: bool = True,
) -> Checked:
    """``checked`` with its transform replaced by the dense refinement ``H`` (None: kept,
    ``note`` says why) if that is not degenerate and passes the structure check (unless
    ``structure_checked`` is False: the refinement's own criterion stands in for it). The
    inliers stay those of the robust fit (the refinement moves the transform off matches
    whose bias it corrects); the RMSE is theirs under ``H``. What is kept comes back with
    the same ``estimate`` object and only its note added, which is how
    :func:`densely_refined` tells the two apart."""
    estimate = checked.estimate
    if H is None or degeneracy(H, matches.image_size1, config.geometry, matches.image_size0):
        note = note if H is None else "kept: refined transform is degenerate"
        return replace(checked, refinement=f"{checked.refinement}; {note}")
    error = residuals(H, matches.keypoints1, matches.keypoints0)
    rmse = float(np.sqrt(np.mean(error[estimate.inliers] ** 2)))
    refined = Estimate(model, H, estimate.inliers, rmse, estimate.reason)
    verified, correlation, sharpness = verify(refined, maps, config)
    if verified.H_1to0 is None and structure_checked:
        return replace(checked, refinement=f"{checked.refinement}; kept: {verified.reason}")
    return Checked(refined, f"{checked.refinement}; {note}", correlation, sharpness)


def verify(
    estimate: Estimate, maps: StructureMaps, config: RegisterConfig
) -> tuple[Estimate, float, float]:
    """The estimate, or a failure if the structures of the registered images disagree;
    with the structure maps' correlation and sharpness under it."""
    assert estimate.H_1to0 is not None
    correlation, sharpness = structure_agreement(maps, estimate.H_1to0, config.refine.smoothing)
    minimum = config.geometry.min_structure_correlation
    if correlation < minimum:
        reason = f"registered structures do not agree (correlation {correlation:.2f} < {minimum})"
        return estimate.refused(reason), correlation, sharpness
    return estimate, correlation, sharpness


def refine_estimate(
    estimate: Estimate, matches: MatchResult, maps: StructureMaps, config: RegisterConfig
) -> tuple[Estimate, str]:
    """The estimate after dense refinement, if the refined transform passes the checks."""
    assert estimate.H_1to0 is not None
    H, note = refine_transform(maps, estimate.H_1to0, estimate.transform, config.refine)
    if note != "refined":
        return estimate, note
    problem = degeneracy(H, matches.image_size1, config.geometry, matches.image_size0)
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


def rated(
    checked: Checked, matches: MatchResult, quarter: int, model: ConfidenceModel | None
) -> Outcome:
    """The outcome of a checked registration, with its confidence under ``model``."""
    confidence = None
    if checked.estimate.H_1to0 is not None and model is not None:
        num_inliers = checked.estimate.num_inliers
        confidence = model(
            features(checked.correlation, checked.sharpness, num_inliers, len(matches))
        )
    return Outcome(
        matches, checked.estimate, quarter, checked.refinement, checked.correlation,
        checked.sharpness, confidence,
    )  # fmt: skip


def wants_polish(
    outcome: Outcome, gray0: np.ndarray, gray1: np.ndarray, config: RegisterConfig
) -> bool:
    """Whether the registration kept is translated once more (``translation.polish``): a
    registration that was checked (so has structure maps) of a pair the translators
    refine."""
    if not config.translation.polish or outcome.estimate.H_1to0 is None:
        return False
    return outcome.correlation is not None and wants_translation(gray0, gray1, config)


def polished(
    outcome: Outcome,
    maps: StructureMaps,
    grays: tuple[np.ndarray, np.ndarray],
    config: RegisterConfig,
    model: ConfidenceModel | None,
) -> Outcome:
    """``outcome`` with its transform translated once more (``translation.polish``), rated
    again if that replaced it; the note says what the last pass found."""
    checked = _as_checked(outcome)
    again = translation_refined(checked, outcome.matches, maps, grays, config)
    return _continued(outcome, checked, again, "polish: ", model, translated=True)


def averaged(
    kept: Outcome,
    others: Sequence[Outcome],
    maps: StructureMaps,
    config: RegisterConfig,
    model: ConfidenceModel | None,
    size0: tuple[int, int],
) -> Outcome:
    """``kept`` with its transform replaced by the mean of its own and those of ``others``
    (registrations of views of its registered frame, ``rematch.views``) that succeeded
    within ``rematch.max_move`` of it, if that mean passes the checks of a dense
    refinement; rated again if so. The note says how many views were averaged."""
    H = kept.estimate.H_1to0
    assert H is not None
    size1, bound = kept.matches.image_size1, config.rematch.max_move * max(size0)
    near = [
        other.estimate
        for other in others
        if other.estimate.H_1to0 is not None
        and grid_error(other.estimate.H_1to0, H, size1) <= bound
    ]
    if not near:
        note = f"views of the registered frame: none of {len(others)} registered near it"
        return replace(kept, refinement=f"{kept.refinement}; {note}")
    kinds = [kept.estimate.transform, *(estimate.transform for estimate in near)]
    kind = TransformType.most_general(kinds)
    mean = mean_transform([H, *(estimate.H_1to0 for estimate in near)], size1)
    moved = grid_error(mean, H, size1)
    note = f"averaged with {len(near)} of {len(others)} views, {moved:.1f} px from it"
    checked = _as_checked(kept)
    again = _refined_to(checked, mean, kind, note, kept.matches, maps, config)
    label = "views of the registered frame: "
    return _continued(kept, checked, again, label, model, translated=False)


def _as_checked(outcome: Outcome) -> Checked:
    """A checked outcome as the start of a further refinement (an empty note)."""
    assert outcome.correlation is not None and outcome.sharpness is not None
    return Checked(outcome.estimate, "", outcome.correlation, outcome.sharpness)


def _continued(
    outcome: Outcome,
    checked: Checked,
    again: Checked,
    label: str,
    model: ConfidenceModel | None,
    translated: bool,
) -> Outcome:
    """``outcome`` after the further refinement ``again`` of ``checked`` (its
    :func:`_as_checked`): with the refined transform, rated again (``translated``: whether
    that transform came from a translator), if it was replaced; its note, after
    ``label``, added to the refinement either way."""
    refinement = f"{outcome.refinement}; {label}{again.refinement.removeprefix('; ')}"
    if again.estimate is checked.estimate:
        return replace(outcome, refinement=refinement)
    again = replace(again, refinement=refinement)
    rerated = rated(again, outcome.matches, outcome.quarter, model)
    return replace(rerated, view=outcome.view, translated=translated)
