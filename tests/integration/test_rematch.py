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


def test_rematch_is_set_from_the_command_line():
    config = build(RegisterConfig, parse_overrides(["rematch.mode=none", "rematch.max_move=0.1"]))
    assert config.rematch == replace(RematchConfig(), mode="none", max_move=0.1)
    with pytest.raises(ConfigError, match=r"rematch.max_move: 0.0 is not positive"):
        build(RegisterConfig, parse_overrides(["rematch.max_move=0"]))
