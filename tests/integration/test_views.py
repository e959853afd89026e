"""The search of other views of the moving image when a registration is unsure."""

from dataclasses import replace

import cv2
import numpy as np
import pytest

from modalign import RegisterConfig, register
from modalign.confidence import ConfidenceModel, matcher_key
from modalign.config import build, parse_overrides
from modalign.errors import ConfigError
from modalign.eval.metrics import grid_error
from modalign.geometry.transforms import similarity_view, transform_points
from modalign.matchers.base import Matcher
from modalign.pipeline import ViewSearchConfig

from ..conftest import similarity, warp_to_moving

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
    """A textured head slice on a black surround, its moving view under a known
    similarity, and a confidence file rating registrations by their inliers."""
    yy, xx = np.mgrid[0:200, 0:200]
    head = ((xx - 100) / 70) ** 2 + ((yy - 100) / 80) ** 2 <= 1
    noise = np.random.default_rng(0).random((200, 200)).astype(np.float32)
    texture = cv2.GaussianBlur(noise, (0, 0), 2)
    texture = (texture - texture.min()) / np.ptp(texture)
    fixed = np.where(head, 0.2 + 0.8 * texture, 0.0).astype(np.float32)
    H = similarity(10.0, 0.9, (4.0, -3.0), (100, 100))
    return fixed, warp_to_moving(fixed, H, SIZE1), H


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
    # the base view, then each configured view once
    assert len(matcher.calls) == 1 + len(ViewSearchConfig().views)


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
    assert registration.success and len(sure.calls) == 1 and "view" not in registration.refinement


def test_a_view_must_itself_be_sure_to_replace_a_registration(slices, tmp_path):
    fixed, moving, H = slices
    matcher = OneViewMatcher(H, 1.25, 0.0, count=16)  # right, but too few matches to be sure
    config = RegisterConfig(confidence=_rated(tmp_path, matcher))
    registration = register(fixed, moving, matcher=matcher, config=config)
    assert not registration.success and registration.refinement.endswith("views: none of 3 sure")
    lenient = replace(config, view_search=ViewSearchConfig(below_confidence=0.2))
    registration = register(fixed, moving, matcher=matcher, config=lenient)
    assert registration.success and 0.2 <= registration.confidence < 0.5


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
