"""Dense refinement through modality translators (step 7 of the README's "How a
registration is decided").

A translator trained on aligned pairs of two modalities (``modalign train-translator``)
renders an image of the first as the second would show it: an MRI slice as the PET
activity of the same anatomy (``mri2pet``). Between the rendering and the other image
the intensities correspond, so ECC, a single-modality criterion, aligns them directly
from the registration, without the matches. Matches between a blurred PET slice
and an MRI tie the activity's edge to the skull and enlarge the PET
(docs/model_card.md, "Why PET-MRI estimates miss by 5–15 px"); the rendering has the
activity's own edge, so this removes that bias where mutual information could not.

Every shipped translator is tried on either image, and each gives the alignment of its
rendering that correlates best. Those that reach ``min_correlation``, a bar that
renderings compared with another modality stay under, are averaged: two translators of
one modality pair, trained apart, render the anatomy with errors of their own, and the
mean of their alignments is closer to the truth than either (docs/model_card.md, "Scans
refined through modality translators").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Literal

import cv2
import numpy as np

from .errors import ConfigError
from .eval.metrics import grid_error
from .geometry.refine import RefineConfig, closest_similarity, pyramid_ecc
from .geometry.transforms import mean_transform, normalize_homography
from .geometry.warp import working_size
from .translate.api import load_translator, translate_batch
from .translate.model import Translator
from .types import TransformType


@dataclass(frozen=True)
class TranslationConfig:
    """Refinement of scans through modality translators.

    Attributes:
        mode: "scans" refines pairs of scans (both images on a dark surround, see
            ``InformationConfig.dark_ring``); "all" any registered pair; "none" never.
        translators: weight-table names or .safetensors files of the translators tried
            (the shipped two render an MRI slice as its PET activity; trained alike from
            different seeds).
        min_correlation: the least ECC correlation between a rendering and the other image
            that replaces the registration: on the aanlib tuning slices right PET-MRI
            alignments reach 0.97–0.99, the shipped translators' renderings aligned with
            CT slices at most 0.95 (``mri2pet``) and 0.93 (``mri2pet-b``).
        max_size: both images are rendered and aligned with the longer side at most this.
        levels, iterations, fine_iterations: ECC's pyramid levels and iteration caps at
            the coarse levels and at the finest (as in ``RefineConfig``).
        max_move: the farthest the refinement may move the moving image's grid (mean over
            10 × 10 points) from the registration, as a fraction of the fixed image's
            longer side.
        refused_scans: a scan whose fitted transform the structure check refused is
            still refined from it (through the translators and by mutual information);
            the refined transform is kept only if it passes the check (or, for the
            translators' refinement, reaches ``min_correlation`` where ``structure_check``
            is off).
        structure_check: whether a translated transform must also pass the structure
            check. Off by default: the rendering's ECC correlation stands in for it, and
            the structure maps of a PET slice (a blob of activity) and of its MRI can
            disagree even at the truth (docs/model_card.md, "Scans refined through
            modality translators").
        polish: the registration finally kept (after the views and the rematch) is
            translated once more from its transform, under the same bar and bounds: the
            rematch can replace a translated registration by an untranslated one, and
            ECC restarted from a translated transform's coarse level can still improve it.
    """

    mode: Literal["scans", "all", "none"] = "scans"
    translators: tuple[str, ...] = ("mri2pet", "mri2pet-b")
    min_correlation: float = 0.96
    max_size: int = 512
    levels: int = 3
    iterations: int = 100
    fine_iterations: int = 50
    max_move: float = 0.15
    refused_scans: bool = True
    structure_check: bool = False
    polish: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.min_correlation <= 1:
            raise ConfigError(f"translation.min_correlation: {self.min_correlation} not in (0, 1]")
        if self.max_size < 32 or self.levels < 1 or not self.max_move > 0:
            raise ConfigError("translation: max_size >= 32, levels >= 1 and max_move > 0")


@functools.lru_cache(maxsize=8)
def _translator(name: str) -> Translator:
    return load_translator(name)


def translated_transform(
    gray0: np.ndarray,
    gray1: np.ndarray,
    H_1to0: np.ndarray,
    model: TransformType,
    config: TranslationConfig,
    refine: RefineConfig,
) -> tuple[np.ndarray | None, str]:
    """The transform of ``model`` aligning translators' renderings of one image with the
    other image, from ``H_1to0``: for each translator, the alignment of its rendering of
    either image that correlates best (ECC); of those that reach ``min_correlation``, the
    mean of the best one and the others within ``max_move`` of it.

    Args:
        gray0, gray1: [H, W] float32 fixed and moving images in [0, 1].
        refine: ECC's convergence threshold and smoothing come from it.
    Returns:
        (refined H_1to0, what rendered which image) or (None, why nothing was kept).
    """
    (small0, to_work0), (small1, to_work1) = (
        working_size(gray, config.max_size, min_side=8) for gray in (gray0, gray1)
    )
    warp = np.linalg.inv(to_work0 @ H_1to0 @ np.linalg.inv(to_work1))  # fixed -> moving
    ecc = replace(
        refine,
        levels=config.levels,
        iterations=config.iterations,
        fine_iterations=config.fine_iterations,
    )
    aligned: list[tuple[float, np.ndarray, str]] = []  # each translator's best alignment
    for name in config.translators:
        translator = _translator(name)
        own: tuple[float, np.ndarray, str] | None = None
        for side, image in enumerate((small0, small1)):
            rendered = translate_batch(translator, [image])[0]
            template, moving = (rendered, small1) if side == 0 else (small0, rendered)
            try:
                correlation, found = pyramid_ecc(template, moving, warp, model, ecc)
            except cv2.error:
                continue
            if own is None or correlation > own[0]:
                which = "fixed" if side == 0 else "moving"
                H = normalize_homography(np.linalg.inv(to_work0) @ np.linalg.inv(found) @ to_work1)
                own = (correlation, H, f"{name} rendering the {which} image")
        if own is not None:
            aligned.append(own)
    if not aligned:
        return None, "kept: no translated alignment converged"
    aligned.sort(key=lambda found: found[0], reverse=True)
    correlation, H, what = aligned[0]
    if correlation < config.min_correlation:
        return None, f"kept: translations correlate at most {correlation:.2f}"
    size1 = (gray1.shape[1], gray1.shape[0])
    bound = config.max_move * max(gray0.shape)
    others = [
        other
        for score, other, _ in aligned[1:]
        if score >= config.min_correlation and grid_error(other, H, size1) <= bound
    ]
    if others:
        H = mean_transform([H, *others], size1)
        what = f"{what}, mean of {len(others) + 1} translators"
    if model is TransformType.SIMILARITY:
        H = closest_similarity(H, size1)
    return H, f"translated ({what}, ECC correlation {correlation:.2f})"
