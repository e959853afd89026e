import cv2
import numpy as np
import pytest

from modalign.geometry.transforms import (
    grid_points,
    resize_transform,
    rotate90,
    rotation90_transform,
    similarity_view,
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


@pytest.mark.parametrize(("scale", "degrees"), [(1.0, 0.0), (1.25, 0.0), (0.8, 90.0), (1.0, -20.0)])
def test_similarity_view_follows_the_pixels(scale, degrees):
    image = np.zeros((50, 70), np.float32)
    image[12:15, 50:53] = 1.0  # a block centred on (51, 13)
    H, size = similarity_view(70, 50, scale, degrees)
    assert size == (round(70 * scale), round(50 * scale))
    view = cv2.warpPerspective(image, H, size, flags=cv2.INTER_LINEAR)
    ys, xs = np.indices(view.shape)
    centre = [(xs * view).sum() / view.sum(), (ys * view).sum() / view.sum()]
    np.testing.assert_allclose(transform_points(H, [[51, 13]]), [centre], atol=0.05)
    # the image's centre stays the view's; clockwise as displayed (y down)
    np.testing.assert_allclose(
        transform_points(H, [[34.5, 24.5]]), [[(size[0] - 1) / 2, (size[1] - 1) / 2]], atol=1e-9
    )
    if degrees == 90.0:
        right_of_centre = transform_points(H, [[44.5, 24.5]])[0]
        centre_of_view = [(size[0] - 1) / 2, (size[1] - 1) / 2]
        np.testing.assert_allclose(right_of_centre - centre_of_view, [0, 8], atol=1e-9)


def test_working_size_reduces_enlarges_or_keeps_and_maps_the_pixels():
    from modalign.geometry.warp import working_size

    image = np.zeros((300, 900), np.float32)
    image[100:104, 600:604] = 1.0  # a block whose centre is (601.5, 101.5)
    kept, to_work = working_size(image, 900, 256)
    assert kept is image and np.array_equal(to_work, np.eye(3))
    for max_size, min_size, shape in [(450, 0, (150, 450)), (1800, 1800, (600, 1800))]:
        resized, to_work = working_size(image, max_size, min_size)
        assert resized.shape == shape
        ys, xs = np.indices(resized.shape)
        centre = [(xs * resized).sum() / resized.sum(), (ys * resized).sum() / resized.sum()]
        np.testing.assert_allclose(transform_points(to_work, [[601.5, 101.5]]), [centre], atol=0.05)
    thin, to_work = working_size(np.zeros((4, 900), np.float32), 90, min_side=8)
    assert thin.shape == (8, 90)  # no side under min_side; the map follows the real sizes
    np.testing.assert_allclose(to_work[:2, :2], np.diag([90 / 900, 8 / 4]))
