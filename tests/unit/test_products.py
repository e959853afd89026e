"""A saved registration read back, and warping with it either way."""

import json

import numpy as np
import pytest

from modalign.errors import InputError
from modalign.products import read_registration
from modalign.types import Registration, TransformType


def _registration(H):
    return Registration(
        success=True, reason="ok", refinement="refined", matcher="modalign",
        transform=TransformType.AFFINE, H_1to0=H, num_matches=50, num_inliers=40,
        inlier_ratio=0.8, rmse=0.7, structure_correlation=0.4, rotation_degrees=0,
        image_size0=(64, 48), image_size1=(40, 30), confidence=0.97,
    )  # fmt: skip


def test_a_saved_registration_reads_back(tmp_path):
    H = np.array([[1.2, 0.1, 5.0], [-0.05, 1.1, 3.0], [0.0, 0.0, 1.0]])
    path = tmp_path / "registration.json"
    path.write_text(json.dumps(_registration(H).to_dict()))
    again = read_registration(path)
    assert np.array_equal(again.H_1to0, H) and again.transform is TransformType.AFFINE
    assert again.image_size0 == (64, 48) and again.image_size1 == (40, 30)
    assert again.confidence == 0.97 and again.matches is None


def test_warping_either_way_checks_the_size_it_is_given():
    shift = np.array([[1.0, 0, 10.0], [0, 1.0, 5.0], [0, 0, 1.0]])  # moving (x, y) -> fixed
    registration = _registration(shift)
    moving = np.arange(30 * 40, dtype=np.float32).reshape(30, 40)
    warped, valid = registration.warp(moving, "nearest")
    assert warped.shape == (48, 64) and warped[5 + 7, 10 + 3] == moving[7, 3]
    assert valid.sum() == 30 * 40
    fixed = np.arange(48 * 64, dtype=np.float32).reshape(48, 64)
    back, _ = registration.warp(fixed, "nearest", inverse=True)
    assert back.shape == (30, 40) and back[7, 3] == fixed[5 + 7, 10 + 3]
    with pytest.raises(InputError, match="is 64×48, the registration's moving image 40×30"):
        registration.warp(fixed)
    with pytest.raises(InputError, match="the registration's fixed image 64×48"):
        registration.warp(moving, inverse=True)


@pytest.mark.parametrize(
    "report, message",
    [({"H_1to0": [[1, 0], [0, 1]], "success": True}, "not an invertible 3×3"),
     ({"H_1to0": [[0, 0, 0]] * 3, "success": True}, "not an invertible 3×3"),
     ({"H_1to0": "eye", "success": True}, "wrong type or value"),
     ({"H_1to0": None, "success": False, "reason": "no matches"}, "failed registration"),
     ({"success": True}, "no H_1to0")],
)  # fmt: skip
def test_a_report_that_is_not_a_usable_registration_is_refused(tmp_path, report, message):
    path = tmp_path / "registration.json"
    sizes = {"image_size0": [64, 48], "image_size1": [40, 30]} if "H_1to0" in report else {}
    path.write_text(json.dumps({**report, **sizes}))
    with pytest.raises(InputError, match=message):
        read_registration(path)


def test_points_map_either_way_and_a_failed_registration_maps_none():
    from modalign.errors import RegistrationError

    H = np.array([[1.2, 0.1, 5.0], [-0.05, 1.1, 3.0], [1e-4, 0.0, 1.0]])
    registration = _registration(H)
    points = np.array([[0.0, 0.0], [39.0, 29.0], [12.5, 7.25]])
    there = registration.map_points(points)
    np.testing.assert_allclose(registration.map_points(there, inverse=True), points, atol=1e-9)
    assert there[0].tolist() == [5.0, 3.0]
    failed = Registration(**{**registration.__dict__, "success": False, "H_1to0": None})
    with pytest.raises(RegistrationError, match="cannot map points"):
        failed.map_points(points)
