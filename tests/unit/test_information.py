"""Normalised mutual information, the pipeline's choice among fitted models by it, and the
refinement of blurred scans by maximising it."""

import threading
from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from modalign.checks import (
    Checked,
    information_refined,
    most_informative,
    registered,
    wants_information,
)
from modalign.config import build, parse_overrides
from modalign.errors import ConfigError
from modalign.eval.metrics import grid_error
from modalign.geometry.estimate import Estimate, GeometryConfig, estimate_transform
from modalign.geometry.information import (
    InformationConfig,
    blurred_scans,
    dark_surround,
    fine_detail,
    mutual_information,
)
from modalign.geometry.information_refine import _one_thread, _parzen, maximise_information
from modalign.geometry.refine import structure_maps
from modalign.geometry.transforms import resize_transform, transform_points
from modalign.pipeline import RegisterConfig
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


def test_large_images_are_counted_at_the_working_size(camera):
    """Above ``max_size`` the images are reduced first: the information of a 2048-px pair
    counted at 1024 px is that counted at full size, and it still falls as the
    registration goes wrong (by 12 px of the 2048-px images)."""
    image = camera.astype(np.float32) / 255
    H = similarity(6.0, 1.05, (10.0, -7.0), (255.5, 255.5))
    moving = 1 - cv2.warpPerspective(image, np.linalg.inv(H), (512, 512))
    enlarge = resize_transform(4.0, 4.0)
    large0, large1 = (cv2.resize(i, (2048, 2048)) for i in (image, moving))
    H_large = enlarge @ H @ np.linalg.inv(enlarge)
    full = mutual_information(large0, large1, H_large, max_size=4096)
    reduced = mutual_information(large0, large1, H_large, max_size=1024)
    assert reduced == pytest.approx(full, abs=0.01)
    shifted = np.array([[1, 0, 12.0], [0, 1, 0], [0, 0, 1]]) @ H_large
    assert mutual_information(large0, large1, shifted, max_size=1024) < reduced - 0.2


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
    checked = registered(estimate, matches, maps, config)
    result = most_informative(checked, estimate, matches, maps, fixed, moving, config)
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
    checked = registered(estimate, matches, maps, config)
    result = most_informative(checked, estimate, matches, maps, fixed, moving, config)
    assert result is checked and result.estimate.transform is TransformType.SIMILARITY


SCAN1 = (210, 190)


@pytest.fixture(scope="module")
def scan_pair():
    """An MR-like slice (bright scalp ring around a textured brain, black surround), a
    PET-like moving slice (brain only, inverted and blurred) under a known homography,
    and a start 5 px off it (slightly enlarged and shifted, as PET matches come out)."""
    yy, xx = np.mgrid[0:200, 0:200]
    head = ((xx - 100) / 70) ** 2 + ((yy - 100) / 80) ** 2 <= 1
    brain = ((xx - 100) / 58) ** 2 + ((yy - 100) / 68) ** 2 <= 1
    texture = _texture((200, 200))
    mri = np.where(head, 0.9, 0.0).astype(np.float32)
    mri[brain] = 0.2 + 0.6 * texture[brain]
    pet = cv2.GaussianBlur(
        np.where(brain, 1.0 - 0.7 * texture, 0.0).astype(np.float32), (0, 0), 2.5
    )
    H = similarity(8.0, 1.1, (6.0, -4.0), (100, 100))
    H[2, :2] = [2e-4, -1e-4]
    start = similarity(1.5, 1.03, (3.0, 2.0), (100, 100)) @ H
    assert grid_error(start, H, SCAN1) > 4
    return mri, warp_to_moving(pet, H, SCAN1), H, start


def test_scans_have_a_dark_surround_and_photographs_do_not(scan_pair, camera):
    mri, pet, _, _ = scan_pair
    config = InformationConfig()
    assert dark_surround(mri, config) and dark_surround(pet, config)
    assert not dark_surround(camera.astype(np.float32) / 255, config)
    assert not dark_surround(_texture((200, 200)), config)


def test_a_blurred_scan_has_less_fine_detail(scan_pair):
    mri, pet, _, _ = scan_pair
    config = InformationConfig()
    blurred = cv2.GaussianBlur(mri, (0, 0), 2.0)
    assert fine_detail(blurred) < config.max_detail_ratio * fine_detail(mri)
    # measured at one working size: the same slice twice as large has the same detail
    larger = cv2.resize(mri, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
    assert fine_detail(larger) == pytest.approx(fine_detail(mri), rel=0.15)
    assert fine_detail(np.zeros((50, 50), np.float32)) == 0.0
    assert blurred_scans(mri, pet, config) and blurred_scans(pet, mri, config)
    sharp_other = np.where(mri > 0, 1.0 - mri, 0.0).astype(np.float32)  # another MR contrast
    assert not blurred_scans(mri, sharp_other, config)


def test_the_parzen_window_is_a_gaussian_one_bin_wide_and_never_subnormal():
    values = torch.linspace(0, 1, 1001, dtype=torch.float32)
    weights = _parzen(values, 32)
    centres = np.linspace(0, 1, 32)
    exact = np.exp(-0.5 * ((values.numpy()[:, None].astype(np.float64) - centres) * 32) ** 2)
    exact /= exact.sum(axis=1, keepdims=True)
    assert np.allclose(weights.numpy(), exact, rtol=0, atol=1e-6)
    assert torch.allclose(weights.sum(dim=1), torch.ones(1001))
    # subnormal floats make exp and its gradient several times slower: a weight is either
    # exactly 0 (more than 12.6 bins from the value) or a normal float
    assert not ((weights > 0) & (weights < torch.finfo(torch.float32).tiny)).any()
    values.requires_grad_(True)
    (gradient,) = torch.autograd.grad((_parzen(values, 32) ** 2).sum(), values)
    assert torch.isfinite(gradient).all()
    assert not ((gradient.abs() > 0) & (gradient.abs() < torch.finfo(torch.float32).tiny)).any()


@pytest.mark.parametrize("model", list(TransformType))
def test_maximising_the_information_undoes_the_matches_bias(scan_pair, model):
    mri, pet, H, start = scan_pair
    refined, note = maximise_information(mri, pet, start, model, InformationConfig())
    assert refined is not None and note.startswith("information")
    assert grid_error(refined, H, SCAN1) < 1.5
    if model is not TransformType.HOMOGRAPHY:  # the correction keeps the start's model
        correction = refined @ np.linalg.inv(start)
        assert np.allclose(correction[2], [0, 0, 1], atol=1e-9)
    if model is TransformType.SIMILARITY:
        linear = correction[:2, :2]
        assert linear[0, 0] == pytest.approx(linear[1, 1]) and linear[0, 1] == pytest.approx(
            -linear[1, 0]
        )


def test_the_refinement_is_the_same_on_any_number_of_threads(scan_pair):
    mri, pet, _, start = scan_pair
    threads = torch.get_num_threads()
    results = []
    try:
        for count in (1, 3, 2):
            torch.set_num_threads(count)
            refined, _ = maximise_information(
                mri, pet, start, TransformType.HOMOGRAPHY, InformationConfig()
            )
            results.append(refined)
            assert torch.get_num_threads() == count  # restored
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(results[0], results[1]) and np.array_equal(results[0], results[2])


def test_one_thread_holds_for_concurrent_callers_and_is_restored_after_the_last():
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    inside, entered, left = [], threading.Barrier(2), threading.Event()

    def caller(first: bool) -> None:
        with _one_thread():
            entered.wait()
            inside.append(torch.get_num_threads())
            if not first:
                left.wait()  # the first has left while this one is still inside
                inside.append(torch.get_num_threads())
        if first:
            left.set()

    try:
        workers = [threading.Thread(target=caller, args=(f,)) for f in (True, False)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert inside == [1, 1, 1]
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(threads)


def test_a_refinement_that_loses_information_or_moves_too_far_is_not_kept(scan_pair):
    mri, pet, H, _ = scan_pair
    # from the truth there is nothing to gain
    strict = InformationConfig(min_gain=0.05)
    assert maximise_information(mri, pet, H, TransformType.HOMOGRAPHY, strict)[0] is None
    far = similarity(0.0, 1.0, (25.0, 0.0), (100, 100)) @ H
    bounded = InformationConfig(max_change=0.05)
    refined, note = maximise_information(mri, pet, far, TransformType.HOMOGRAPHY, bounded)
    assert refined is None and "moved the grid" in note


def _checked_at(start, sharpness):
    estimate = Estimate(TransformType.SIMILARITY, start, np.ones(50, bool), 1.0, "ok")
    return Checked(estimate, "refined", 0.3, sharpness)


def _matches_of(H, count=50):
    points1 = np.random.default_rng(0).uniform(60, 150, (count, 2))
    return MatchResult(transform_points(H, points1), points1, np.ones(count), (200, 200), SCAN1)


def test_the_pipeline_refines_blurred_scans_only(scan_pair, camera):
    mri, pet, H, start = scan_pair
    config = RegisterConfig()
    assert wants_information(_checked_at(start, 0.01), mri, pet, config)
    assert not wants_information(_checked_at(start, 0.1), mri, pet, config)  # sharp agreement
    sharp_other = np.where(mri > 0, 1.0 - mri, 0.0).astype(np.float32)
    assert not wants_information(_checked_at(start, 0.01), mri, sharp_other, config)
    photo = camera.astype(np.float32) / 255
    assert not wants_information(_checked_at(start, 0.01), photo, photo, config)
    off = replace(config, information=InformationConfig(mode="none"))
    assert not wants_information(_checked_at(start, 0.01), mri, pet, off)
    everywhere = replace(config, information=InformationConfig(mode="all"))
    assert wants_information(_checked_at(start, 0.01), photo, photo, everywhere)


def test_the_information_refined_registration_is_checked_and_reported(scan_pair):
    mri, pet, H, start = scan_pair
    config = RegisterConfig()
    maps = structure_maps(mri, pet, config.refine)
    result = information_refined(_checked_at(start, 0.01), _matches_of(H), maps, (mri, pet), config)
    # "auto" lets the information correct the perspective the similarity lacked
    assert result.estimate.transform is TransformType.HOMOGRAPHY
    assert grid_error(result.estimate.H_1to0, H, SCAN1) < 1.5
    assert result.refinement.startswith("refined; information")
    assert result.estimate.rmse < 1.5 and result.estimate.num_inliers == 50
    strict = replace(config, geometry=replace(config.geometry, min_structure_correlation=0.99))
    kept = information_refined(_checked_at(start, 0.01), _matches_of(H), maps, (mri, pet), strict)
    assert (
        kept.estimate.H_1to0 is start
        and "kept: registered structures do not agree" in kept.refinement
    )


@pytest.mark.parametrize("mode", ["scans", "all", "none"])
def test_every_mode_can_be_set_on_the_command_line(mode):
    # "--set information.mode=none": words YAML reads as booleans (off, no) are not modes
    config = build(RegisterConfig, parse_overrides([f"information.mode={mode}"]))
    assert config.information.mode == mode


def test_a_pyramid_of_unequal_lengths_is_a_config_error():
    with pytest.raises(ConfigError, match="differ in length"):
        build(RegisterConfig, parse_overrides(["information.sizes=[64, 128]"]))
