"""The search of other views of the moving image when a registration is unsure, and the
failure of a registration that stays unsure."""

from dataclasses import replace

import numpy as np
import pytest

from modalign import RegisterConfig, register
from modalign.confidence import ConfidenceModel, matcher_key
from modalign.config import build, parse_overrides
from modalign.errors import ConfigError
from modalign.eval.metrics import grid_error
from modalign.geometry.transforms import similarity_view, transform_points
from modalign.matchers.base import Matcher
from modalign.pipeline import RematchConfig, ViewSearchConfig

from ..conftest import head_slice_pair, warp_to_moving

SIZE1 = (180, 200)  # moving (width, height)


class OneViewMatcher(Matcher):
    """Finds the true correspondences only in the moving image's view ×``scale``, turned
    ``degrees``; in any other view it returns too few scattered wrong matches to fit (a matcher that
    reads a scan at one scale only)."""

    def __init__(self, H_1to0: np.ndarray, scale: float, degrees: float, count: int = 200):
        super().__init__()
        self.H_1to0, self.view, self.count = H_1to0, (scale, degrees), count
        self.calls: list[tuple[int, int]] = []

    def _match(self, image0, image1):
        self.calls.append((image1.shape[1], image1.shape[0]))
        to_view, size = similarity_view(*SIZE1, *self.view)
        rng = np.random.default_rng(len(self.calls))
        if (image1.shape[1], image1.shape[0]) != size:
            return rng.random((12, 2)) * 150 + 25, rng.random((12, 2)) * 150 + 15, np.ones(12)
        points0 = rng.random((self.count, 2)) * 100 + 50  # inside the head
        points1 = transform_points(to_view @ np.linalg.inv(self.H_1to0), points0)
        return points0, points1, np.ones(len(points0))


@pytest.fixture(scope="module")
def slices():
    """A textured head slice on a black surround, its moving view and H_1to0."""
    return head_slice_pair(SIZE1)


def _rated(tmp_path, matcher: Matcher) -> str:
    """A confidence model for ``matcher`` that is sure of registrations with many inliers."""
    model = ConfidenceModel(
        matcher_key(matcher), (0.0, 0.0, 3.0, 0.5), (1.0, 1.0, 1.0, 1.0), (0, 0, 3.0, 0), 0.0
    )
    path = tmp_path / "confidence.json"
    model.save(path)
    return str(path)


def test_an_unsure_scan_is_registered_from_the_view_the_matcher_reads(slices, tmp_path):
    fixed, moving, H = slices
    matcher = OneViewMatcher(H, 1.25, 0.0)
    config = RegisterConfig(confidence=_rated(tmp_path, matcher))
    registration = register(fixed, moving, matcher=matcher, config=config)
    assert registration.success and registration.confidence > 0.99
    assert grid_error(registration.H_1to0, H, SIZE1) < 0.5
    assert "view: moving ×1.25 turned 0° (confidence 0.00 -> 1.00)" in registration.refinement
    # the matches are the moving image's own pixels, whatever view found them
    assert registration.image_size1 == SIZE1
    inliers = registration.matches.keypoints1[registration.inliers]
    np.testing.assert_allclose(
        transform_points(registration.H_1to0, inliers),
        registration.matches.keypoints0[registration.inliers],
        atol=0.5,
    )
    assert registration.timings["views"] > 0
    # the base view, each configured view once, then the winner's registered view and
    # the views of that frame (which this matcher does not read: the rematch and they
    # fail and the view's registration is kept, then translated once more, which the
    # shipped translators' bar keeps from this slice)
    frame_views = len(RematchConfig().views)
    assert len(matcher.calls) == 1 + len(ViewSearchConfig().views) + 1 + frame_views
    kept = f"; kept: rematch failed; views of the registered frame: none of {frame_views} "
    assert kept + "registered near it; polish: kept: " in registration.refinement


def test_no_view_is_searched_when_off_sure_or_unrated(slices, tmp_path):
    fixed, moving, H = slices
    matcher = OneViewMatcher(H, 1.25, 0.0)
    rated = RegisterConfig(confidence=_rated(tmp_path, matcher))
    off = replace(rated, view_search=ViewSearchConfig(mode="none"))
    assert not register(fixed, moving, matcher=matcher, config=off).success
    assert len(matcher.calls) == 1
    unrated = register(fixed, moving, matcher=OneViewMatcher(H, 1.25, 0.0))  # no model for it
    assert not unrated.success and "views" not in unrated.timings
    # a registration sure enough is not searched
    sure = OneViewMatcher(H, 1.0, 0.0)
    registration = register(fixed, moving, matcher=sure, config=rated)
    searched = ("view: ", "views: ")  # the notes of the view search
    assert registration.success and not any(note in registration.refinement for note in searched)
    # the pair, then only the rematch and the views of its registered frame
    assert sure.calls == [SIZE1] + [fixed.shape[::-1]] * (1 + len(RematchConfig().views))


def test_a_view_must_itself_be_sure_to_replace_a_registration(slices, tmp_path):
    fixed, moving, H = slices
    matcher = OneViewMatcher(H, 1.25, 0.0, count=16)  # right, but too few matches to be sure
    config = RegisterConfig(confidence=_rated(tmp_path, matcher))
    registration = register(fixed, moving, matcher=matcher, config=config)
    assert not registration.success and registration.refinement.endswith("views: none of 3 sure")
    lenient = replace(config, view_search=ViewSearchConfig(below_confidence=0.2))
    registration = register(fixed, moving, matcher=matcher, config=lenient)
    assert registration.success and 0.2 <= registration.confidence < 0.5


def test_a_registration_rated_below_min_confidence_fails_and_keeps_its_rating(slices, tmp_path):
    fixed, moving, H = slices
    matcher = OneViewMatcher(H, 1.0, 0.0, count=24)  # right, but few matches: rated unsure
    config = RegisterConfig(
        confidence=_rated(tmp_path, matcher), view_search=ViewSearchConfig(mode="none")
    )
    lenient = register(fixed, moving, matcher=matcher, config=replace(config, min_confidence=0))
    assert lenient.success and 0.05 < lenient.confidence < 0.95
    assert grid_error(lenient.H_1to0, H, SIZE1) < 0.5
    # the same registration, judged: a failure without a transform, its rating kept
    minimum = round(lenient.confidence + 0.02, 2)
    strict = register(
        fixed, moving, matcher=matcher, config=replace(config, min_confidence=minimum)
    )
    assert not strict.success and strict.H_1to0 is None and strict.to_dict()["H_1to0"] is None
    assert strict.confidence == pytest.approx(lenient.confidence)
    assert strict.reason == f"too unsure: confidence {lenient.confidence:.2f} < {minimum:g}"
    assert strict.num_inliers == lenient.num_inliers
    # just under its rating, it stands
    passing = replace(config, min_confidence=round(lenient.confidence - 0.02, 2))
    assert register(fixed, moving, matcher=matcher, config=passing).success
    with pytest.raises(ConfigError, match=r"min_confidence: 1.0 is not in \[0, 1\)"):
        replace(config, min_confidence=1.0)


def test_photographs_are_searched_only_in_mode_all(slices, tmp_path, camera):
    _, _, H = slices
    photo = camera[:200, :200].astype(np.float32) / 255
    moving = warp_to_moving(photo, H, SIZE1)
    matcher = OneViewMatcher(H, 0.8, 0.0)
    config = RegisterConfig(confidence=_rated(tmp_path, matcher))
    assert not register(photo, moving, matcher=matcher, config=config).success
    views = ViewSearchConfig(mode="all", views=((1.25, 0.0), (0.8, 0.0)))
    everywhere = replace(config, view_search=views)
    registration = register(photo, moving, matcher=matcher, config=everywhere)
    assert registration.success and "moving ×0.8 turned 0°" in registration.refinement
    assert grid_error(registration.H_1to0, H, SIZE1) < 0.5


def test_views_come_from_the_command_line_and_are_checked():
    config = build(RegisterConfig, parse_overrides(["view_search.views=[[1.5, 0], [1, 45]]"]))
    assert config.view_search.views == ((1.5, 0.0), (1.0, 45.0))
    with pytest.raises(ConfigError, match=r"view_search.views: scale 0.0 is outside"):
        build(RegisterConfig, parse_overrides(["view_search.views=[[0, 10]]"]))
