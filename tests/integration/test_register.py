"""Registration accuracy on generated pairs with known transforms."""

import threading
import time

import numpy as np
import pytest

from modalign import RegisterConfig, pipeline, register
from modalign.demo import make_demo_pair
from modalign.errors import RegistrationError
from modalign.eval.metrics import grid_error
from modalign.geometry.transforms import rotate90, rotation90_transform
from modalign.zoom import ZoomSearchConfig

from ..conftest import similarity, warp_to_moving


def test_sift_recovers_a_known_homography_subpixel(homography_pair):
    fixed, moving, H = homography_pair
    registration = register(fixed, moving, matcher="sift", transform="homography")
    assert registration.success and registration.reason == "ok"
    assert grid_error(registration.H_1to0, H, registration.image_size1) < 0.5
    assert registration.num_inliers > 100 and 0 < registration.inlier_ratio <= 1
    warped, valid = registration.warp(moving)
    assert warped.shape == fixed.shape and warped.dtype == fixed.dtype and valid.mean() > 0.5


def test_rotation_search_finds_a_quarter_turn(camera):
    H_small = similarity(4.0, 0.95, (6.0, -4.0), (255.5, 255.5))
    base = warp_to_moving(camera, H_small, (480, 440))  # base(x) = camera(H_small x)
    moving = rotate90(base, 1)
    R = rotation90_transform(1, 480, 440)  # base pixels -> moving pixels
    H_true = H_small @ np.linalg.inv(R)
    config = RegisterConfig(matcher="rift", rotation_search=True)
    registration = register(camera, moving, config=config)
    assert registration.success and registration.rotation_degrees == 90
    assert grid_error(registration.H_1to0, H_true, registration.image_size1) < 2.0
    without_search = register(camera, moving, matcher="rift")  # RIFT is not rotation invariant
    assert grid_error(without_search.H_1to0, H_true, (440, 480)) > 2.0


def test_default_matcher_registers_the_cross_modal_demo_subpixel():
    pair = make_demo_pair()
    registration = register(pair.fixed, pair.moving)
    assert registration.success and registration.refinement == "refined"
    assert grid_error(registration.H_1to0, pair.H_1to0, registration.image_size1) < 1.0
    assert registration.confidence > 0.9 and registration.structure_sharpness > 0.1
    assert registration.to_dict()["confidence"] == registration.confidence
    unscored = register(pair.fixed, pair.moving, config=RegisterConfig(confidence="none"))
    assert unscored.confidence is None and np.array_equal(unscored.H_1to0, registration.H_1to0)
    assert register(pair.fixed, pair.moving, matcher="modalign-onnx").confidence > 0.9


def test_a_fixed_image_at_nine_times_the_resolution_is_registered(camera):
    import cv2

    H = similarity(6.0, 0.9, (10.0, -8.0), (255.5, 255.5))  # moving -> camera pixels
    moving = 255 - warp_to_moving(camera, H, (480, 440))  # inverted: another "modality"
    fixed = cv2.resize(camera, (9 * 512, 9 * 512), interpolation=cv2.INTER_LINEAR)
    upscale = np.array([[9.0, 0, 4.0], [0, 9.0, 4.0], [0, 0, 1]])  # camera -> fixed pixels
    registration = register(fixed, moving)
    # a scale change of 8.1 in pixels, 1.01 for the images' sizes (4608 against 480)
    assert registration.success, registration.reason
    assert grid_error(registration.H_1to0, upscale @ H, registration.image_size1) < 9.0


def test_a_moving_image_of_a_small_part_of_a_large_fixed_one_is_found_by_tiles(camera):
    import cv2

    fixed = cv2.resize(camera, (2048, 2048), interpolation=cv2.INTER_LINEAR)
    x, y, side = 900, 700, 600  # the moving image shows 29% of the fixed one's width
    moving = 255 - cv2.resize(fixed[y : y + side, x : x + side], (640, 640), cv2.INTER_AREA)
    scale = side / 640
    H = np.array([[scale, 0, x + scale / 2 - 0.5], [0, scale, y + scale / 2 - 0.5], [0, 0, 1]])
    whole = register(fixed, moving, config=RegisterConfig(zoom_search=ZoomSearchConfig("none")))
    assert not whole.success  # onto the whole fixed image, read at 640 px, it fails
    registration = register(fixed, moving)
    assert registration.success and "zoom: found in the fixed image's" in registration.refinement
    assert grid_error(registration.H_1to0, H, registration.image_size1) < 1.0
    assert registration.confidence > 0.9 and registration.image_size0 == (2048, 2048)
    inliers = registration.matches.keypoints0[registration.inliers]
    assert (inliers.min(0) > [x - 20, y - 20]).all() and (inliers.max(0) < [x + 620, y + 620]).all()


def test_a_large_moving_image_that_holds_the_fixed_one_is_cut_into_tiles(camera):
    """The other way round: the large image warped onto a small part of itself."""
    import cv2

    large = cv2.resize(camera, (2048, 2048), interpolation=cv2.INTER_LINEAR)
    x, y, side = 900, 700, 600
    fixed = 255 - cv2.resize(large[y : y + side, x : x + side], (640, 640), cv2.INTER_AREA)
    scale = side / 640
    H_part = np.array([[scale, 0, x + scale / 2 - 0.5], [0, scale, y + scale / 2 - 0.5], [0, 0, 1]])
    whole = register(fixed, large, config=RegisterConfig(zoom_search=ZoomSearchConfig("none")))
    assert not whole.success
    registration = register(fixed, large)
    assert registration.success and "zoom: found in the moving image's" in registration.refinement
    # measured where the images overlap: over the fixed image, in the large image's pixels
    error = grid_error(np.linalg.inv(registration.H_1to0), H_part, registration.image_size0)
    assert error < 1.0 and registration.image_size1 == (2048, 2048)
    inliers = registration.matches.keypoints1[registration.inliers]
    assert (inliers.min(0) > [x - 20, y - 20]).all() and (inliers.max(0) < [x + 620, y + 620]).all()


def test_unrelated_images_fail_without_a_transform(camera):
    noise = np.random.default_rng(0).integers(0, 255, camera.shape, dtype=np.uint8)
    registration = register(camera, noise, matcher="sift")
    assert not registration.success and registration.H_1to0 is None
    assert registration.to_dict()["H_1to0"] is None
    try:
        registration.warp(noise)
    except RegistrationError as err:
        assert "failed" in str(err)
    else:
        raise AssertionError("warping a failed registration must raise")


def test_rift_descriptor_rotations_handle_a_25_degree_turn(camera):
    H = similarity(25.0, 1.0, (5.0, 3.0), (255.5, 255.5))
    moving = warp_to_moving(camera, H, (512, 512))
    rotated = RegisterConfig(
        matcher="rift", matcher_conf={"descriptor_rotations": (-30.0, 0.0, 30.0)}
    )
    registration = register(camera, moving, config=rotated)
    assert registration.success
    assert grid_error(registration.H_1to0, H, registration.image_size1) < 1.0


def test_precomputed_structure_maps_give_the_same_registration(homography_pair):
    from modalign.pipeline import pair_structure_maps

    fixed, moving, _ = homography_pair
    config = RegisterConfig(matcher="sift")
    alone = register(fixed, moving, config=config)
    shared = register(fixed, moving, config=config, maps=pair_structure_maps(fixed, moving, config))
    assert alone.success and np.array_equal(alone.H_1to0, shared.H_1to0)
    assert alone.structure_correlation == shared.structure_correlation
    # maps computed beside the matching report their own time; given maps cost none
    assert alone.timings["structure"] > 0 and "structure" not in shared.timings
    # the shipped confidence model describes the default matcher only
    assert alone.structure_sharpness > 0.1 and alone.confidence is None


def test_structure_maps_computed_beside_the_matching_never_outlive_the_call(camera, monkeypatch):
    running = threading.Event()
    finished = []

    def slow_maps(*args):
        running.set()
        time.sleep(0.3)
        finished.append(True)
        return None, 0.3

    def failing_match(*args):
        running.wait(5)  # the maps have started: the call must wait for them
        raise ValueError("matcher failed")

    monkeypatch.setattr(pipeline, "_timed_structure_maps", slow_maps)
    monkeypatch.setattr(pipeline, "match_with_rotations", failing_match)
    with pytest.raises(ValueError, match="matcher failed"):
        register(camera, camera, matcher="sift")
    assert finished == [True]
    monkeypatch.undo()
    noise = np.random.default_rng(1).integers(0, 255, camera.shape, dtype=np.uint8)
    monkeypatch.setattr(pipeline, "_timed_structure_maps", slow_maps)
    running.clear()
    finished.clear()
    failed = register(camera, noise, matcher="sift")  # no estimate: the maps go unused
    assert not failed.success
    assert finished == ([True] if running.is_set() else [])  # cancelled or waited for
