"""The benchmark's metric functions against hand-computed values."""

import numpy as np
import pytest

from modalign.eval.metrics import error_auc, grid_error, landmark_error, success_rate
from modalign.eval.protocol import Problem


def test_exact_transform_gives_zero_error_and_succeeds_everywhere():
    H = np.array([[1.02, 0.1, 4.0], [-0.1, 0.98, 7.0], [1e-5, 0, 1]])
    problem = Problem(np.zeros((50, 60)), np.zeros((40, 30)), H, None)
    assert problem.error(H) < 1e-9
    assert all(success_rate([problem.error(H)], t) == 1.0 for t in (5, 10, 20))


def test_a_landmark_six_pixels_off_fails_at_5_and_passes_at_10():
    landmarks = np.array(
        [[16.0, 20.0, 10.0, 20.0], [56.0, 80.0, 50.0, 80.0]]
    )  # fixed = moving + (6, 0)
    problem = Problem(np.zeros((100, 100)), np.zeros((100, 100)), np.eye(3), landmarks)
    error = problem.error(np.eye(3))
    assert error == pytest.approx(6.0)
    assert success_rate([error], 5) == 0.0 and success_rate([error], 10) == 1.0


def test_a_missing_estimate_fails_at_every_threshold():
    problem = Problem(np.zeros((10, 10)), np.zeros((10, 10)), np.eye(3), None)
    error = problem.error(None)
    assert error == float("inf")
    assert landmark_error(None, np.zeros((1, 2)), np.zeros((1, 2))) == float("inf")
    assert grid_error(None, np.eye(3), (10, 10)) == float("inf")
    assert all(success_rate([error], t) == 0.0 for t in (5, 10, 20))
    assert error_auc([error], 10) == 0.0


def test_auc_of_a_known_error_list():
    # errors 2, 4, inf: the curve is 0 on [0,2), 1/3 on [2,4), 2/3 on [4,10];
    # trapezoids from (0,0): 0→2 rising to 1/3, 2→4 from 1/3 to 2/3, then flat 2/3 to 10
    expected = (0.5 * 2 * (1 / 3) + 2 * (1 / 3 + 2 / 3) / 2 + 6 * (2 / 3)) / 10
    assert error_auc([4.0, np.inf, 2.0], 10) == pytest.approx(expected)
    assert error_auc([0.0, 0.0], 5) == pytest.approx(1.0)
    assert error_auc([], 5) == 0.0
