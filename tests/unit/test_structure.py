"""Phase congruency: where it responds, and its invariance to the intensity mapping."""

import numpy as np
import pytest

from modalign.structure import PhaseConfig, phase_congruency


def _step_edge(size: int = 96, column: int = 48) -> np.ndarray:
    image = np.full((size, size), 0.2, np.float32)
    image[:, column:] = 0.7
    return image


@pytest.mark.parametrize("orientations", [4, 6])
def test_a_vertical_step_edge_is_found_at_its_column_with_orientation_zero(orientations):
    result = phase_congruency(_step_edge(), PhaseConfig(orientations=orientations))
    row = result.max_moment[48]
    # the step lies between columns 47 and 48; the image is periodic for the FFT, so the
    # wrap-around at column 0 is an edge too: look away from it
    assert int(np.argmax(row[24:72])) + 24 in (47, 48)
    assert row[47:49].max() > 10 * np.median(row[24:72])
    assert result.index_map[48, 47] == 0  # filters of angle 0 vary along x
    assert np.all(result.min_moment <= result.max_moment + 1e-6)


def test_it_is_the_same_for_an_inverted_and_rescaled_image(camera):
    image = camera[:200, :240].astype(np.float32) / 255
    config = PhaseConfig()
    original = phase_congruency(image, config)
    inverted = phase_congruency(1 - image, config)
    assert np.allclose(inverted.max_moment, original.max_moment, atol=1e-4)
    assert np.mean(inverted.index_map == original.index_map) > 0.99
    # lower contrast: only the filters' small regularising constant tells them apart
    rescaled = phase_congruency(0.2 + 0.5 * image, config)
    difference = np.abs(rescaled.max_moment - original.max_moment)
    assert difference.max() < 0.05 and difference.mean() < 0.005


def test_without_the_index_map_the_moments_are_the_same(camera):
    image = camera[:120, :150].astype(np.float32) / 255
    full = phase_congruency(image, PhaseConfig())
    moments_only = phase_congruency(image, PhaseConfig(), index_map=False)
    assert moments_only.index_map is None
    assert np.array_equal(moments_only.max_moment, full.max_moment)
    assert np.array_equal(moments_only.min_moment, full.min_moment)
