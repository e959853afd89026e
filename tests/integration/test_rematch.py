"""Matching again with the moving image warped onto the fixed one by its registration."""

from dataclasses import replace

import cv2
import numpy as np
import pytest

from modalign import RegisterConfig, register
from modalign.config import build, parse_overrides
from modalign.errors import ConfigError
from modalign.eval.metrics import grid_error
from modalign.geometry.estimate import GeometryConfig
from modalign.geometry.refine import RefineConfig
from modalign.geometry.transforms import transform_points
from modalign.matchers.base import Matcher
from modalign.pipeline import RematchConfig
from modalign.translated import TranslationConfig

from ..conftest import head_slice_pair, warp_to_moving

SIZE1 = (180, 200)  # moving (width, height)
BIAS = np.array([6.0, -4.0])  # fixed pixels


class BiasedMatcher(Matcher):
    """Matches a pair that is far from registered with a bias (its fixed keypoints ``BIAS``
    off the truth, as a learned matcher's scale bias on a small turned scan); a pair of the
    fixed image's size, as good as registered, exactly (its shift by phase correlation)."""

    def __init__(self, H_1to0: np.ndarray, rematch_fails: bool = False):
        super().__init__()
        self.H_1to0, self.rematch_fails = H_1to0, rematch_fails
        self.calls = 0

    def _match(self, image0, image1):
        self.calls += 1
        points0 = np.stack(np.meshgrid(np.arange(60, 141, 10.0), np.arange(50, 151, 10.0)), -1)
        points0 = points0.reshape(-1, 2)
        if image1.shape[:2] != image0.shape[:2]:
            points1 = transform_points(np.linalg.inv(self.H_1to0), points0)
            return points0 + BIAS, points1, np.ones(len(points0))
        if self.rematch_fails:
            rng = np.random.default_rng(0)
            return rng.random((12, 2)) * 150, rng.random((12, 2)) * 150, np.ones(12)
        (dx, dy), _ = cv2.phaseCorrelate(image0.astype(np.float64), image1.astype(np.float64))
        return points0, points0 + (dx, dy), np.ones(len(points0))


@pytest.fixture(scope="module")
def slices():
    """A textured head slice on a black surround, its moving view and H_1to0."""
    return head_slice_pair(SIZE1)


def _config(**rematch) -> RegisterConfig:
    """Matches alone decide (no dense refinement, no structure check), so that only the
    rematch can remove the bias."""
    return RegisterConfig(
        geometry=GeometryConfig(min_structure_correlation=0.0),
        refine=RefineConfig(enabled=False),
        rematch=RematchConfig(**rematch),
    )


def test_a_scan_is_rematched_in_its_registered_frame(slices):
    fixed, moving, H = slices
    matcher = BiasedMatcher(H)
    first = register(fixed, moving, matcher=matcher, config=_config(mode="none"))
    assert first.success and grid_error(first.H_1to0, H, SIZE1) > 5
    assert matcher.calls == 1
    registration = register(fixed, moving, matcher=matcher, config=_config())
    assert matcher.calls == 3  # the pair, then its registered view
    assert registration.success and grid_error(registration.H_1to0, H, SIZE1) < 0.3
    moved = grid_error(first.H_1to0, registration.H_1to0, SIZE1)
    note = f"rematched, {moved:.1f} px from the first registration (off)"
    assert registration.refinement == f"off; {note}"
    assert registration.timings["rematch"] > 0
    # the matches are the moving image's own pixels
    assert registration.image_size1 == SIZE1
    inliers = registration.inliers
    np.testing.assert_allclose(
        transform_points(registration.H_1to0, registration.matches.keypoints1[inliers]),
        registration.matches.keypoints0[inliers],
        atol=0.3,
    )


def test_a_rematch_that_fails_or_moves_too_far_is_not_kept(slices):
    fixed, moving, H = slices
    lost = BiasedMatcher(H, rematch_fails=True)
    failing = register(fixed, moving, matcher=lost, config=_config())
    assert failing.success and failing.refinement == "off; kept: rematch failed"
    assert grid_error(failing.H_1to0, H, SIZE1) > 5
    matcher = BiasedMatcher(H)
    far = register(fixed, moving, matcher=matcher, config=_config(max_move=0.01))
    assert far.success and far.refinement.startswith("off; kept: rematch moved the grid ")
    assert grid_error(far.H_1to0, H, SIZE1) > 5 and matcher.calls == 2


def test_photographs_are_rematched_only_in_mode_all(slices, camera):
    _, _, H = slices
    photo = camera[:200, :200].astype(np.float32) / 255
    moving = warp_to_moving(photo, H, SIZE1)
    matcher = BiasedMatcher(H)
    registration = register(photo, moving, matcher=matcher, config=_config())
    assert matcher.calls == 1 and "rematch" not in registration.refinement
    registration = register(photo, moving, matcher=matcher, config=_config(mode="all"))
    assert "rematched" in registration.refinement
    assert grid_error(registration.H_1to0, H, SIZE1) < 0.3


class DriftingMatcher(BiasedMatcher):
    """As ``BiasedMatcher``, but each match of a registered view errs by the next of
    ``drifts`` (fixed pixels), as a learned matcher's matches of one view err in their
    own way; a drift of None fails that view."""

    def __init__(self, H_1to0: np.ndarray, drifts: list[tuple[float, float] | None]):
        super().__init__(H_1to0)
        self.drifts = list(drifts)

    def _match(self, image0, image1):
        points0, points1, confidence = super()._match(image0, image1)
        if image1.shape[:2] != image0.shape[:2]:
            return points0, points1, confidence
        drift = self.drifts.pop(0)
        if drift is None:
            rng = np.random.default_rng(0)
            return rng.random((12, 2)) * 150, rng.random((12, 2)) * 150, np.ones(12)
        return points0 + drift, points1, confidence


def _checked(**rematch) -> RegisterConfig:
    """As ``_config``, with the structure check on (the mean must pass it) and no
    translation (no translator renders this slice)."""
    config = _config(**rematch)
    geometry = replace(config.geometry, min_structure_correlation=0.05)
    return replace(config, geometry=geometry, translation=TranslationConfig(mode="none"))


def test_views_of_the_registered_frame_are_averaged(slices):
    fixed, moving, H = slices
    config = _checked(views=((1.0, 0.0),))
    matcher = DriftingMatcher(H, [(3.0, -2.0), (-3.0, 2.0)])
    registration = register(fixed, moving, matcher=matcher, config=config)
    assert matcher.drifts == []  # the rematch, then one view of its registered frame
    # each view alone is 3.6 px off; their mean is the truth
    assert registration.success and grid_error(registration.H_1to0, H, SIZE1) < 0.3
    refinement = registration.refinement.split("; ")
    assert refinement[-1].startswith("views of the registered frame: averaged with 1 of 1 views, ")
    assert float(refinement[-1].split(", ")[1].split()[0]) == pytest.approx(3.6, abs=0.1)
    assert refinement[-2].startswith("rematched, ")
    # a view that fails leaves the rematch's registration as it was
    matcher = DriftingMatcher(H, [(3.0, -2.0), None])
    kept = register(fixed, moving, matcher=matcher, config=config)
    assert kept.refinement.endswith("views of the registered frame: none of 1 registered near it")
    assert grid_error(kept.H_1to0, H, SIZE1) == pytest.approx(3.6, abs=0.1)


def test_a_turned_and_scaled_view_maps_back_to_the_moving_image(slices):
    """SIFT matches the textured slice exactly whatever the view; if the view's warp were
    composed wrongly its registration would pull the mean off the truth."""
    fixed, moving, H = slices
    config = replace(_checked(views=((1.2, 15.0), (0.9, -10.0))), matcher="sift")
    registration = register(fixed, moving, config=config)
    assert registration.refinement.split("; ")[-1].startswith(
        "views of the registered frame: averaged with 2 of 2 views"
    )
    assert grid_error(registration.H_1to0, H, SIZE1) < 0.3


def test_rematch_is_set_from_the_command_line():
    config = build(RegisterConfig, parse_overrides(["rematch.mode=none", "rematch.max_move=0.1"]))
    assert config.rematch == replace(RematchConfig(), mode="none", max_move=0.1)
    with pytest.raises(ConfigError, match=r"rematch.max_move: 0.0 is not positive"):
        build(RegisterConfig, parse_overrides(["rematch.max_move=0"]))
    config = build(RegisterConfig, parse_overrides(["rematch.views=[[1.0,6],[1.0,-6]]"]))
    assert config.rematch.views == ((1.0, 6.0), (1.0, -6.0))
    with pytest.raises(ConfigError, match=r"rematch.views: scale 0.0 is outside"):
        build(RegisterConfig, parse_overrides(["rematch.views=[[0,6]]"]))
