"""Dense ECC refinement on phase-congruency maps: coarse to fine, its change gate, and the
structure check on the same maps."""

import cv2
import numpy as np
import pytest

from modalign.checks import verify
from modalign.eval.metrics import grid_error
from modalign.geometry.estimate import Estimate, GeometryConfig
from modalign.geometry.refine import (
    RefineConfig,
    refine_transform,
    structure_agreement,
    structure_correlation,
    structure_maps,
)
from modalign.geometry.transforms import grid_points, transform_points
from modalign.pipeline import RegisterConfig
from modalign.structure import PhaseConfig, phase_congruency
from modalign.types import TransformType

from ..conftest import similarity, warp_to_moving


def _inverted_pair(camera, H_1to0, size1):
    """A cross-modal-like pair: the moving image has inverted intensities."""
    moving = 255 - warp_to_moving(camera, H_1to0, size1)
    return camera.astype(np.float32) / 255, moving.astype(np.float32) / 255


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_refinement_recovers_a_rough_homography_to_subpixel(camera, levels):
    H = similarity(6.0, 0.95, (10.0, -7.0), (255.5, 255.5))
    H[2, :2] = [1e-4, -5e-5]
    fixed, moving = _inverted_pair(camera, H, (440, 400))
    rough = np.array([[1, 0, 3.0], [0, 1, -2.5], [0, 0, 1]]) @ H  # off by ~4 px
    assert grid_error(rough, H, (440, 400)) > 3.5
    config = RefineConfig(levels=levels, fine_iterations=10 if levels > 1 else 60)
    maps = structure_maps(fixed, moving, config)
    refined, note = refine_transform(maps, rough, TransformType.HOMOGRAPHY, config)
    assert note == "refined"
    assert grid_error(refined, H, (440, 400)) < 0.3


def test_moves_outside_the_overlap_do_not_veto_a_refinement(camera):
    # the moving image extends far beyond the fixed one (only its left half overlaps)
    H = np.array([[1.0, 0, -250.0], [0, 1, 0], [0, 0, 1]])
    fixed = camera[:, 250:].astype(np.float32) / 255  # moving pixel x is fixed pixel x - 250
    moving = (255 - camera).astype(np.float32) / 255
    # a rough estimate whose perspective error is small where the images overlap and
    # large over the moving image's far side
    centre = np.array([[1.0, 0, -380], [0, 1, -255.5], [0, 0, 1]])  # of the overlap
    perspective = np.array([[1.0, 0, 0], [0, 1, 0], [2.5e-4, 0, 1]])
    rough = H @ np.linalg.inv(centre) @ perspective @ centre
    points = grid_points(512, 512, 20)
    change = np.linalg.norm(transform_points(rough, points) - transform_points(H, points), axis=1)
    assert change.max() > 2 * RefineConfig().max_change
    config = RefineConfig()
    maps = structure_maps(fixed, moving, config)
    refined, note = refine_transform(maps, rough, TransformType.HOMOGRAPHY, config)
    assert note == "refined"
    overlap = points[points[:, 0] >= 250]
    error = transform_points(refined, overlap) - transform_points(H, overlap)
    error = np.linalg.norm(error, axis=1)
    assert np.median(error) < 0.5


def test_a_refinement_that_moves_the_overlap_too_far_is_refused(camera):
    H = similarity(0.0, 1.0, (0.0, 0.0), (255.5, 255.5))
    fixed, moving = _inverted_pair(camera, H, (512, 512))
    config = RefineConfig(max_change=2.0)
    rough = np.array([[1, 0, 5.0], [0, 1, 0], [0, 0, 1]])
    refined, note = refine_transform(
        structure_maps(fixed, moving, config), rough, TransformType.HOMOGRAPHY, config
    )
    assert note.startswith("kept: refinement moved too far") and np.array_equal(refined, rough)


def test_structure_maps_use_the_configured_filter_bank(camera):
    image = camera.astype(np.float32) / 255  # 512 px: already at working size
    bank = PhaseConfig(orientations=4)
    maps = structure_maps(image, image, RefineConfig(phase=bank))
    expected = np.sqrt(np.maximum(phase_congruency(image, bank).max_moment, 0))
    assert np.allclose(maps.structure0, expected, atol=1e-6)
    default = structure_maps(image, image, RefineConfig())
    assert not np.allclose(default.structure0, expected, atol=1e-3)


def test_structure_check_keeps_the_true_transform_and_refuses_another_scene(camera):
    from skimage import data

    H = similarity(6.0, 0.95, (10.0, -7.0), (255.5, 255.5))
    fixed, moving = _inverted_pair(camera, H, (440, 400))
    other = cv2.resize(data.coins(), (440, 400)).astype(np.float32) / 255
    config = RegisterConfig()
    threshold = GeometryConfig().min_structure_correlation
    right = structure_maps(fixed, moving, config.refine)
    assert structure_correlation(right, H) > 0.8
    wrong = structure_maps(fixed, other, config.refine)
    assert structure_correlation(wrong, np.eye(3)) < threshold
    inliers = np.ones(20, bool)
    for maps, H_1to0, passes in ((right, H, True), (wrong, np.eye(3), False)):
        estimate = Estimate(TransformType.HOMOGRAPHY, H_1to0, inliers, 1.0, "ok")
        checked, correlation, _ = verify(estimate, maps, config)
        assert (checked.H_1to0 is not None) == passes == (correlation >= threshold)
        assert passes or checked.reason.startswith("registered structures do not agree")


def test_structure_sharpness_is_high_only_at_a_right_registration(camera):
    from skimage import data

    H = similarity(6.0, 0.95, (10.0, -7.0), (255.5, 255.5))
    fixed, moving = _inverted_pair(camera, H, (440, 400))
    maps = structure_maps(fixed, moving, RefineConfig())
    correlation, sharpness = structure_agreement(maps, H)
    assert correlation == structure_correlation(maps, H) and sharpness > 0.2
    off = np.array([[1, 0, 40.0], [0, 1, 25.0], [0, 0, 1]]) @ H
    assert structure_agreement(maps, off)[1] < 0.05
    other = cv2.resize(data.coins(), (440, 400)).astype(np.float32) / 255
    unrelated = structure_maps(fixed, other, RefineConfig())
    assert abs(structure_agreement(unrelated, np.eye(3))[1]) < 0.02
