"""Products for checking a registration by eye."""

import numpy as np

from modalign.viz import draw_matches


def _lit(canvas: np.ndarray, x: float, y: float) -> bool:
    """Whether the canvas is coloured (drawn on) at pixel (x, y)."""
    pixel = canvas[round(y), round(x)].astype(int)
    return pixel.max() - pixel.min() > 100  # the images are gray; the matches coloured


def test_matches_of_two_resolutions_are_drawn_at_one_height():
    fixed = np.zeros((1200, 900), np.float32)  # 1200 px high: shown at 1024
    moving = np.full((300, 200), 0.5, np.float32)  # shown at the same height: ×3.41
    keypoints0 = np.array([[450.0, 600.0]])
    keypoints1 = np.array([[100.0, 150.0]])
    canvas = draw_matches(fixed, moving, keypoints0, keypoints1)
    scale0, scale1 = 1024 / 1200, 1024 / 300
    width0 = round(900 * scale0)
    assert canvas.shape == (1024, width0 + round(200 * scale1), 3) and canvas.dtype == np.uint8
    assert _lit(canvas, scale0 * 450.5 - 0.5, scale0 * 600.5 - 0.5)
    assert _lit(canvas, width0 + scale1 * 100.5 - 0.5, scale1 * 150.5 - 0.5)
    assert canvas[5, width0 + 5, 0] == 128  # the moving image, scaled up, fills its side


def test_matches_of_images_under_the_cap_keep_their_pixels():
    rng = np.random.default_rng(0)
    fixed, moving = rng.random((240, 320), np.float32), rng.random((240, 200), np.float32)
    canvas = draw_matches(fixed, moving, np.zeros((0, 2)), np.zeros((0, 2)))
    assert canvas.shape == (240, 520, 3)
    assert np.array_equal(
        canvas[..., 0], np.hstack([np.round(fixed * 255), np.round(moving * 255)])
    )
