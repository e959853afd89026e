import numpy as np
import pytest

from modalign.geometry.estimate import GeometryConfig, degeneracy, estimate_transform
from modalign.geometry.transforms import transform_points
from modalign.types import TransformType

SIZE = (400, 300)


def correspondences(H, count=200, outliers=0.3, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    points1 = rng.uniform([0, 0], SIZE, (count, 2))
    points0 = transform_points(H, points1) + rng.normal(0, noise, (count, 2))
    bad = rng.random(count) < outliers
    points0[bad] = rng.uniform([0, 0], SIZE, (bad.sum(), 2))
    return points1, points0, ~bad


SIMILARITY = np.array([[0.9, -0.2, 30.0], [0.2, 0.9, -10.0], [0, 0, 1]])
PERSPECTIVE = np.array([[1.0, 0.05, 10.0], [-0.03, 0.95, 5.0], [4e-4, -3e-4, 1.0]])


@pytest.mark.parametrize("model", list(TransformType))
def test_each_model_recovers_its_transform(model):
    H = PERSPECTIVE if model is TransformType.HOMOGRAPHY else SIMILARITY
    points1, points0, good = correspondences(H)
    estimate = estimate_transform(points1, points0, SIZE, GeometryConfig(transform=model.value))
    assert estimate.reason == "ok" and estimate.transform is model
    assert estimate.inliers[good].mean() > 0.95 and estimate.inliers[~good].mean() < 0.05
    grid = np.random.default_rng(1).uniform([0, 0], SIZE, (50, 2))
    error = np.linalg.norm(
        transform_points(estimate.H_1to0, grid) - transform_points(H, grid), axis=1
    )
    assert error.max() < 0.5


def test_auto_prefers_fewer_degrees_of_freedom_unless_more_explain_more():
    points1, points0, _ = correspondences(SIMILARITY)
    assert (
        estimate_transform(points1, points0, SIZE, GeometryConfig()).transform
        is TransformType.SIMILARITY
    )
    points1, points0, _ = correspondences(PERSPECTIVE)
    assert (
        estimate_transform(points1, points0, SIZE, GeometryConfig()).transform
        is TransformType.HOMOGRAPHY
    )


def test_degenerate_transforms_are_refused():
    config = GeometryConfig()
    flip = np.diag([-1.0, 1.0, 1.0])
    assert "flips" in degeneracy(flip, SIZE, config)
    assert "scale" in degeneracy(np.diag([20.0, 20.0, 1.0]), SIZE, config)
    assert "shear" in degeneracy(np.array([[1.0, 6.0, 0], [0, 1.0, 0], [0, 0, 1]]), SIZE, config)
    horizon = np.array([[1.0, 0, 0], [0, 1.0, 0], [-0.004, 0, 1.0]])
    assert "infinity" in degeneracy(horizon, SIZE, config)
    assert degeneracy(SIMILARITY, SIZE, config) is None


def test_scale_changes_count_relative_to_the_images_sizes():
    config = GeometryConfig()  # max_scale 8
    tenfold = np.diag([10.0, 10.0, 1.0])
    assert degeneracy(tenfold, SIZE, config) == "extreme scale change (10–10)"
    assert "scale" in degeneracy(tenfold, SIZE, config, SIZE)  # same sizes: as without
    # a fixed image ten times larger: the same scene at ten times the resolution
    assert degeneracy(tenfold, SIZE, config, (4000, 3000)) is None
    # ...where a moving image shown at its own size is a tenfold shrink
    shrunk = degeneracy(np.eye(3), SIZE, config, (4000, 3000))
    assert shrunk == "extreme scale change (0.1–0.1, for the images' sizes)"
    points1, points0, _ = correspondences(tenfold, outliers=0.0)
    assert estimate_transform(points1, points0, SIZE, config).H_1to0 is None
    estimate = estimate_transform(points1, points0, SIZE, config, (4000, 3000))
    assert estimate.reason == "ok" and np.allclose(estimate.H_1to0, tenfold, atol=0.05)


def test_failures_give_no_transform_and_a_reason():
    rng = np.random.default_rng(0)
    random1, random0 = rng.uniform(0, 300, (300, 2)), rng.uniform(0, 300, (300, 2))
    estimate = estimate_transform(random1, random0, SIZE, GeometryConfig())
    assert estimate.H_1to0 is None and estimate.reason != "ok"
    rigid = estimate_transform(random1, random0, SIZE, GeometryConfig(transform="similarity"))
    assert rigid.H_1to0 is None and "too few inliers" in rigid.reason
    few = estimate_transform(random1[:5], random0[:5], SIZE, GeometryConfig())
    assert few.H_1to0 is None and "too few matches" in few.reason
    flipped1, flipped0, _ = correspondences(
        np.diag([-1.0, 1.0, 1.0]) + [[0, 0, 400], [0, 0, 0], [0, 0, 0]]
    )
    flipped = estimate_transform(flipped1, flipped0, SIZE, GeometryConfig(transform="affine"))
    assert flipped.H_1to0 is None and "flips" in flipped.reason


def test_threshold_scales_with_the_fixed_image_but_not_below_the_floor():
    config = GeometryConfig(threshold=5.0, threshold_size=640, min_threshold=3.0)
    assert config.for_image((1024, 680)).threshold == pytest.approx(8.0)
    assert config.for_image((480, 640)).threshold == pytest.approx(5.0)
    assert config.for_image((256, 256)).threshold == pytest.approx(3.0)  # 2.0 is below 3
    assert config.for_image((256, 256)).threshold_size == 0  # already in pixels: no rescaling
    fixed = GeometryConfig(threshold=4.0, threshold_size=0)
    assert fixed.for_image((4000, 3000)).threshold == 4.0
    strict = GeometryConfig(threshold=1.0, threshold_size=640, min_threshold=3.0)
    assert strict.for_image((320, 240)).threshold == pytest.approx(1.0)  # a lower threshold wins
