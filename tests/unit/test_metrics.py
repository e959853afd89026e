import numpy as np

from modalign.eval.metrics import grid_error, landmark_error

H = np.array([[0.9, -0.1, 12.0], [0.1, 0.95, -4.0], [1e-4, 0.0, 1.0]])


def test_exact_transform_has_zero_error():
    assert grid_error(H, H, (320, 240)) < 1e-9
    landmarks1 = np.array([[10.0, 20.0], [200.0, 100.0]])
    from modalign.geometry.transforms import transform_points

    assert landmark_error(H, transform_points(H, landmarks1), landmarks1) < 1e-9


def test_offset_and_missing_estimate():
    landmarks1 = np.array([[10.0, 20.0], [50.0, 60.0], [90.0, 5.0]])
    landmarks0 = landmarks1 + [6.0, 0.0]
    assert landmark_error(np.eye(3), landmarks0, landmarks1) == 6.0
    shifted = np.eye(3) + [[0, 0, 3.0], [0, 0, 4.0], [0, 0, 0]]
    assert np.isclose(grid_error(shifted, np.eye(3), (100, 100)), 5.0)
    assert grid_error(None, H, (100, 100)) == float("inf")
