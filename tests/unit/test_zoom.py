"""The tiles of the zoom search and its settings."""

import pytest

from modalign.errors import ConfigError
from modalign.zoom import ZoomSearchConfig, tiles


@pytest.mark.parametrize("zoom", [2, 3])
def test_tiles_cover_the_image_half_a_tile_apart(zoom):
    width, height = 2047, 1365
    found = tiles(width, height, zoom)
    assert len(found) == (2 * zoom - 1) ** 2
    tile_width, tile_height = found[0][2:]
    assert (tile_width, tile_height) == (-(-width // zoom), -(-height // zoom))  # ceil
    xs, ys = sorted({t[0] for t in found}), sorted({t[1] for t in found})
    assert xs[0] == 0 and xs[-1] + tile_width == width  # from edge to edge
    assert ys[0] == 0 and ys[-1] + tile_height == height
    assert max(b - a for a, b in zip(xs, xs[1:], strict=False)) <= tile_width / 2 + 1
    assert found == sorted(found, key=lambda t: (t[1], t[0]))  # row by row


def test_a_small_image_gives_no_duplicate_tiles():
    found = tiles(5, 4, 3)
    assert len(found) == len(set(found)) and all(t[2:] == (2, 2) for t in found)


@pytest.mark.parametrize(
    "settings, message",
    [({"zooms": (1, 2)}, "zoom under 2"), ({"candidates": 0}, "under 1"),
     ({"min_confidence": 1.0}, "not in")],
)  # fmt: skip
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        ZoomSearchConfig(**settings)


def _outcome(confidence):
    """An outcome with a transform rated ``confidence`` (None: a failed registration)."""
    import numpy as np

    from modalign.geometry.estimate import Estimate
    from modalign.types import MatchResult, TransformType
    from modalign.views import Outcome

    H = None if confidence is None else np.eye(3)
    estimate = Estimate(TransformType.SIMILARITY, H, np.ones(20, bool), 1.0, "ok")
    matches = MatchResult.empty((2048, 2048), (640, 640))
    return Outcome(matches, estimate, 0, "refined", 0.5, 0.1, confidence)


def test_only_failed_or_refused_registrations_with_a_large_image_are_searched():
    from modalign import RegisterConfig
    from modalign.zoom import zoom_side

    config = RegisterConfig()  # min_confidence 0.3, zoom_search.min_size 1024
    small = (640, 480)
    assert zoom_side(_outcome(None), (2048, 1365), small, config, rated=True) == 0
    assert zoom_side(_outcome(0.29), (1024, 680), small, config, rated=True) == 0  # refused
    assert zoom_side(_outcome(None), small, (2048, 1365), config, rated=True) == 1  # moving
    assert zoom_side(_outcome(None), (1500, 1500), (2048, 1365), config, rated=True) == 1
    assert zoom_side(_outcome(None), (2048, 1365), (1365, 2048), config, rated=True) == 0  # tie
    assert zoom_side(_outcome(0.31), (2048, 1365), small, config, rated=True) is None  # stands
    assert zoom_side(_outcome(None), (1023, 1023), small, config, rated=True) is None  # small
    assert zoom_side(_outcome(None), small, (1023, 900), config, rated=True) is None
    assert zoom_side(_outcome(None), (2048, 1365), small, config, rated=False) is None
    off = RegisterConfig(zoom_search=ZoomSearchConfig(mode="none"))
    assert zoom_side(_outcome(None), (2048, 1365), small, off, rated=True) is None
