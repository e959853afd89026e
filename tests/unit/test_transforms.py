import cv2
import numpy as np
import pytest

from modalign.geometry.transforms import (
    grid_points,
    resize_transform,
    rotate90,
    rotation90_transform,
    transform_points,
)


@pytest.mark.parametrize("quarter_turns", [0, 1, 2, 3, 5])
def test_rotation90_transform_follows_the_pixels(quarter_turns):
    image = np.zeros((7, 11), np.uint8)
    image[2, 9] = 255  # pixel (x=9, y=2)
    rotated = rotate90(image, quarter_turns)
    y, x = np.argwhere(rotated == 255)[0]
    H = rotation90_transform(quarter_turns, width=11, height=7)
    np.testing.assert_allclose(transform_points(H, [[9, 2]]), [[x, y]], atol=1e-12)


def test_resize_transform_matches_cv2_pixel_centres():
    image = np.zeros((40, 60), np.float32)
    image[10:14, 20:24] = 1.0  # a block whose centre is (21.5, 11.5)
    small = cv2.resize(image, (30, 20), interpolation=cv2.INTER_AREA)
    ys, xs = np.indices(small.shape)
    centre = [(xs * small).sum() / small.sum(), (ys * small).sum() / small.sum()]
    np.testing.assert_allclose(
        transform_points(resize_transform(0.5, 0.5), [[21.5, 11.5]]), [centre], atol=1e-9
    )


def test_transform_points_round_trip_and_grid():
    H = np.array([[1.1, 0.1, 5.0], [-0.05, 0.95, -3.0], [1e-4, 2e-4, 1.0]])
    points = grid_points(100, 50, 10)
    assert points.shape == (100, 2)
    assert points.min(axis=0).tolist() == [0, 0] and points.max(axis=0).tolist() == [99, 49]
    back = transform_points(np.linalg.inv(H), transform_points(H, points))
    np.testing.assert_allclose(back, points, atol=1e-9)
