"""Normalised mutual information and the pipeline's choice among fitted models by it."""

from dataclasses import replace

import cv2
import numpy as np
import pytest

from modalign.eval.metrics import grid_error
from modalign.geometry.estimate import GeometryConfig, estimate_transform
from modalign.geometry.information import mutual_information
from modalign.geometry.refine import structure_maps
from modalign.geometry.transforms import transform_points
from modalign.pipeline import RegisterConfig, _most_informative, _registered
from modalign.types import MatchResult, TransformType

from ..conftest import similarity, warp_to_moving

SIZE1 = (440, 400)


def _texture(shape, seed=0):
    noise = np.random.default_rng(seed).random(shape).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 3)
    return (smooth - smooth.min()) / (smooth.max() - smooth.min())


def test_an_image_shares_all_its_information_with_itself_and_with_its_negative():
    image = _texture((120, 160))
    identity = np.eye(3)
    assert mutual_information(image, image, identity) == pytest.approx(2.0)
    # another sensor: a different intensity mapping of the same structure
    assert mutual_information(image, 1 - image, identity) > 1.9
    assert mutual_information(image, _texture((120, 160), seed=1), identity) < 1.1


def test_information_falls_as_the_registration_goes_wrong():
    image = _texture((120, 160))
    moving = np.sqrt(image)
    values = [
        mutual_information(image, moving, np.array([[1, 0, shift], [0, 1, 0], [0, 0, 1.0]]))
        for shift in (0.0, 1.0, 3.0, 8.0)
    ]
    assert values == sorted(values, reverse=True) and values[0] - values[-1] > 0.2


def test_pixels_dark_in_both_images_do_not_count():
    content = 0.1 + 0.9 * _texture((100, 100))
    other = content**2
    padded, padded_other = (np.pad(image, 60) for image in (content, other))  # black surround
    identity = np.eye(3)
    assert mutual_information(padded, padded_other, identity) == pytest.approx(
        mutual_information(content, other, identity)
    )


def test_no_information_without_overlap():
    image = _texture((120, 160))
    away = np.array([[1, 0, 400.0], [0, 1, 0], [0, 0, 1]])
    assert mutual_information(image, image, away) == 0.0


def test_auto_estimates_carry_the_other_valid_models():
    H = similarity(5.0, 1.1, (12.0, -4.0), (200, 150))
    rng = np.random.default_rng(0)
    points1 = rng.uniform([0, 0], (400, 300), (200, 2))
    points0 = transform_points(H, points1) + rng.normal(0, 0.3, (200, 2))
    estimate = estimate_transform(points1, points0, (400, 300), GeometryConfig())
    others = {alternative.transform for alternative in estimate.alternatives}
    assert others == set(TransformType) - {estimate.transform}
    assert all(alternative.H_1to0 is not None for alternative in estimate.alternatives)
    fixed_model = GeometryConfig(transform="homography")
    assert estimate_transform(points1, points0, (400, 300), fixed_model).alternatives == ()


@pytest.fixture(scope="module")
def perspective_pair(camera):
    """A pair with strong perspective (inverted intensities) and noisy matches of it; the
    similarity fit to them is several pixels off, the homography fit is not."""
    H = similarity(4.0, 0.95, (8.0, -6.0), (255.5, 255.5))
    H[2, :2] = [3e-4, -2e-4]
    fixed = camera.astype(np.float32) / 255
    moving = 1 - warp_to_moving(camera, H, SIZE1).astype(np.float32) / 255
    rng = np.random.default_rng(0)
    points1 = rng.uniform([60, 60], np.array(SIZE1) - 60, (300, 2))
    points0 = transform_points(H, points1) + rng.normal(0, 1.0, (300, 2))
    matches = MatchResult(points0, points1, np.ones(300), (512, 512), SIZE1)
    fits = {
        model: estimate_transform(points1, points0, SIZE1, GeometryConfig(transform=model.value))
        for model in (TransformType.SIMILARITY, TransformType.HOMOGRAPHY)
    }
    assert grid_error(fits[TransformType.SIMILARITY].H_1to0, H, SIZE1) > 5
    return fixed, moving, H, matches, fits


@pytest.mark.parametrize("chosen", [TransformType.SIMILARITY, TransformType.HOMOGRAPHY])
def test_the_model_under_which_the_images_share_more_information_wins(perspective_pair, chosen):
    fixed, moving, H, matches, fits = perspective_pair
    other = next(model for model in fits if model is not chosen)
    estimate = replace(fits[chosen], alternatives=(fits[other],))
    config = RegisterConfig()
    maps = structure_maps(fixed, moving, config.refine)
    checked = _registered(estimate, matches, maps, config)
    result = _most_informative(checked, estimate, matches, maps, fixed, moving, config)
    assert result.estimate.transform is TransformType.HOMOGRAPHY
    assert grid_error(result.estimate.H_1to0, H, SIZE1) < 1.0
    if chosen is TransformType.HOMOGRAPHY:
        assert result is checked


def test_a_margin_out_of_reach_keeps_the_chosen_model(perspective_pair):
    fixed, moving, _, matches, fits = perspective_pair
    estimate = replace(
        fits[TransformType.SIMILARITY], alternatives=(fits[TransformType.HOMOGRAPHY],)
    )
    config = RegisterConfig()
    config = replace(config, geometry=replace(config.geometry, information_margin=1.0))
    maps = structure_maps(fixed, moving, config.refine)
    checked = _registered(estimate, matches, maps, config)
    result = _most_informative(checked, estimate, matches, maps, fixed, moving, config)
    assert result is checked and result.estimate.transform is TransformType.SIMILARITY
