import cv2
import numpy as np
import pytest
from scipy.stats import spearmanr

from modalign.io import NormalizationConfig, to_float, to_gray
from modalign.pseudocolour import colour_map_curve, colour_map_scalar, project


def scalar_field(
    seed: int = 0, size: tuple[int, int] = (120, 150), edge: bool = False
) -> np.ndarray:
    """A smooth [H, W] uint8 scalar spanning 0..255 (with ``edge``, zero outside an
    ellipse: a sharp edge that skips the low values, as a masked slice has)."""
    rng = np.random.default_rng(seed)
    height, width = size
    y, x = np.mgrid[:height, :width].astype(np.float32)
    field = x / width  # a ramp, so that every value is present
    for _ in range(12):
        cx, cy, sigma = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(6, 25)
        field += rng.uniform(0.3, 1.0) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
    field = (field - field.min()) / (field.max() - field.min())
    if edge:
        field *= ((x - width / 2) / (0.4 * width)) ** 2 + (
            (y - height / 2) / (0.4 * height)
        ) ** 2 < 1
    return np.round(255 * field).astype(np.uint8)


def rendered(scalar: np.ndarray, colour_map: int) -> np.ndarray:
    """The scalar through an OpenCV colour map, as read_image returns it: RGB uint8."""
    return cv2.cvtColor(cv2.applyColorMap(scalar, colour_map), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("colour_map", [cv2.COLORMAP_JET, cv2.COLORMAP_RAINBOW, cv2.COLORMAP_TURBO])
def test_a_jet_like_rendering_is_mapped_back_to_its_scalar(colour_map):
    truth = scalar_field()
    image = rendered(truth, colour_map)
    colour = image.astype(np.float32) / 255
    luminance = to_gray(colour)
    # the premise: luminance does not order the values of these maps
    assert spearmanr(luminance.ravel(), truth.ravel()).statistic < 0.9
    scalar = colour_map_scalar(colour)
    assert scalar is not None and scalar.shape == truth.shape and scalar.dtype == np.float32
    assert scalar.min() >= 0 and scalar.max() <= 1
    assert spearmanr(scalar.ravel(), truth.ravel()).statistic > 0.99
    # the arc length is a monotonic, not a linear, function of the value: check the order
    # of the mean scalar over the value's deciles
    deciles = np.digitize(truth, np.percentile(truth, np.arange(10, 100, 10)))
    means = [scalar[deciles == d].mean() for d in np.unique(deciles)]
    assert np.all(np.diff(means) > 0)


@pytest.mark.parametrize("colour_map", [cv2.COLORMAP_JET, cv2.COLORMAP_RAINBOW, cv2.COLORMAP_TURBO])
def test_a_map_that_jumps_at_a_sharp_edge_is_recovered_or_left_alone(colour_map):
    # the slice is zero outside an ellipse, so the map's colours jump at its edge:
    # the result may fall back to the luminance (None) but never orders values wrongly
    truth = scalar_field(edge=True)
    scalar = colour_map_scalar(rendered(truth, colour_map).astype(np.float32) / 255)
    if scalar is not None:
        assert spearmanr(scalar.ravel(), truth.ravel()).statistic > 0.99


@pytest.mark.parametrize("colour_map", [cv2.COLORMAP_HOT, cv2.COLORMAP_VIRIDIS, cv2.COLORMAP_BONE])
def test_maps_whose_luminance_rises_are_left_to_the_luminance(colour_map):
    colour = rendered(scalar_field(1), colour_map).astype(np.float32) / 255
    assert colour_map_scalar(colour) is None


def test_photographs_and_gray_images_are_not_colour_maps():
    rng = np.random.default_rng(2)
    # three independent smooth channels: colours fill a volume, as in a photograph
    channels = [cv2.GaussianBlur(rng.random((120, 150), np.float32), (0, 0), 4) for _ in range(3)]
    photo = np.stack([(c - c.min()) / (c.max() - c.min()) for c in channels], axis=2)
    assert colour_map_curve(photo) is None
    gray = np.repeat(scalar_field(3)[..., None], 3, axis=2).astype(np.float32) / 255
    assert colour_map_curve(gray) is None
    # a photograph tinted along one hue is one curve, but its luminance only rises
    tint = (
        scalar_field(4).astype(np.float32)[..., None] / 255 * np.array([1.0, 0.8, 0.5], np.float32)
    )
    assert colour_map_curve(tint) is None


def test_to_float_returns_the_scalar_of_a_colour_map_unless_turned_off():
    image = rendered(scalar_field(5), cv2.COLORMAP_JET)
    before = image.copy()
    scalar = to_float(image)
    assert scalar.shape == image.shape[:2]
    np.testing.assert_array_equal(image, before)
    off = to_float(image, NormalizationConfig(colour_map=False))
    assert off.shape == image.shape
    np.testing.assert_allclose(off, image / 255, atol=1e-6)


def test_projection_onto_a_polyline():
    curve = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    colours = np.array([[0.5, 0.1, 0.0], [1.2, 0.5, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.3]])
    distance, position = project(colours, curve)
    np.testing.assert_allclose(distance, [0.1, 0.2, 0.0, 0.3], atol=1e-12)
    np.testing.assert_allclose(position, [0.25, 0.75, 0.0, 1.0], atol=1e-12)
