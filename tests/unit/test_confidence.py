"""The confidence model: fitting, saving and loading, and the calibration helpers."""

import json
from pathlib import Path

import numpy as np
import pytest

from modalign.confidence import (
    DEFAULT_PATH,
    FEATURES,
    ConfidenceModel,
    describe,
    features,
    fit,
    load_model,
)
from modalign.errors import InputError
from modalign.eval.calibrate import (
    auroc,
    main,
    matcher_settings,
    reliability,
    report,
    unrelated_pairs,
)
from modalign.eval.datasets import Pair
from modalign.hub import WEIGHTS
from modalign.models.checkpoint import model_path


def _samples(n=400, seed=0):
    """Right registrations have sharper structure; the other features are noise."""
    rng = np.random.default_rng(seed)
    right = rng.random(n) < 0.5
    sharpness = np.where(right, 0.2, 0.0) + rng.normal(0, 0.05, n)
    X = np.column_stack(
        [rng.normal(0.3, 0.1, n), sharpness, rng.normal(5, 1, n), rng.uniform(0, 1, n)]
    )
    return X, right


def test_fit_learns_which_feature_tells_right_from_wrong():
    X, right = _samples()
    model = fit(X, right, "m:w")
    p = np.array([model(dict(zip(FEATURES, row, strict=True))) for row in X])
    assert ((p > 0.5) == right).mean() > 0.9
    informative = FEATURES.index("structure_sharpness")
    assert abs(model.weights[informative]) == max(abs(w) for w in model.weights)
    sharp, flat = dict(zip(FEATURES, X[0], strict=True)), dict(zip(FEATURES, X[0], strict=True))
    sharp["structure_sharpness"], flat["structure_sharpness"] = 0.3, -0.05
    assert model(sharp) > 0.95 and model(flat) < 0.05


def test_fit_refuses_samples_of_one_kind():
    X, _ = _samples(20)
    with pytest.raises(ValueError, match="both right and wrong"):
        fit(X, np.ones(20, bool), "m:w")


def test_a_saved_model_loads_with_the_same_predictions(tmp_path):
    X, right = _samples()
    model = fit(X, right, "m:w", fitted_on={"samples": len(X)})
    path = tmp_path / "confidence.json"
    model.save(path)
    loaded = ConfidenceModel.load(path)
    assert loaded == model
    values = features(0.3, 0.1, 120, 400)
    assert values["log_inliers"] == pytest.approx(np.log(121)) and values["inlier_ratio"] == 0.3
    assert loaded(values) == model(values)


def test_a_file_that_is_no_model_is_an_input_error_naming_it(tmp_path):
    path = tmp_path / "confidence.json"
    path.write_text(json.dumps({"features": ["structure_correlation"], "weights": [1.0]}))
    with pytest.raises(InputError, match="confidence.json.*not a confidence model"):
        ConfidenceModel.load(path)
    with pytest.raises(InputError, match="not a confidence model"):
        ConfidenceModel.load(tmp_path / "missing.json")


def test_the_shipped_model_is_for_the_default_matcher_and_says_how_it_was_fitted():
    model = load_model()
    assert model == ConfidenceModel.load(DEFAULT_PATH)
    assert model.matcher == f"LearnedMatcher:{WEIGHTS['modalign'].sha256[:16]}"
    assert model.fitted_on["command"].startswith("python -m modalign.eval.calibrate")
    assert 0 < model.fitted_on["right"] < model.fitted_on["samples"]


def test_unrelated_couples_are_never_neighbours():
    pairs = [
        Pair("s", "c", f"{i:03d}", "a", "b", Path("f.png"), Path("m.png"), np.eye(3), None)
        for i in range(40)
    ]
    couples = unrelated_pairs(pairs, 30, seed=0)
    assert len(couples) == 30
    for a, b in couples:
        distance = abs(int(a.pair_id) - int(b.pair_id))
        assert min(distance, 40 - distance) >= 10
    assert unrelated_pairs(pairs[:3], 5, seed=0) == []


def test_reliability_and_auroc_on_known_values():
    confidence = np.array([0.1, 0.15, 0.9, 0.95, 0.5])
    right = np.array([False, False, True, True, True])
    assert auroc(confidence, right) == 1.0
    assert auroc(1 - confidence, right) == 0.0
    rows = reliability(confidence, right, bins=2)
    assert [(count, rate) for _, _, count, _, rate in rows] == [(2, 0.0), (3, 1.0)]


def test_report_says_when_auroc_is_undefined():
    every_one_right = report("mmim", np.array([0.9, 0.6]), np.array([True, True]))
    assert "AUROC n/a (one outcome only)" in every_one_right.splitlines()[0]
    assert "nan" not in every_one_right
    mixed = report("aanlib", np.array([0.2, 0.9]), np.array([False, True]))
    assert "AUROC 1.000" in mixed.splitlines()[0]


def test_people_read_a_percentage_that_is_never_a_flat_100():
    assert describe(0.42) == "confidence 42% that it is within 10 px"
    assert describe(0.9996) == "confidence over 99% that it is within 10 px"


def test_a_fit_for_other_weights_is_keyed_to_them(tmp_path):
    """``--weights``: the matcher the fit registers with is the one a run with
    ``matcher_conf.weights=FILE`` uses, so the fitted model is found for it (and only it)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from modalign.confidence import matcher_key
    from modalign.registry import shared_matcher

    shipped = model_path("modalign")
    with safe_open(shipped, "pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(shipped)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 1e-3
    other = tmp_path / "other.safetensors"
    save_file(tensors, other, metadata=metadata)

    assert matcher_settings("") == {"threads": 1}
    fitted = shared_matcher("modalign", matcher_settings(str(other)))
    used = shared_matcher("modalign", {"weights": str(other), "threads": 2})
    default = shared_matcher("modalign", matcher_settings(""))
    assert matcher_key(fitted) == matcher_key(used) != matcher_key(default)
    assert matcher_key(default) == load_model().matcher


def test_a_missing_weights_file_is_a_one_line_error(tmp_path):
    with pytest.raises(SystemExit, match="missing.safetensors: no such weights file"):
        main(["--data", str(tmp_path), "--out", str(tmp_path / "c.json"),
              "--weights", str(tmp_path / "missing.safetensors")])  # fmt: skip
    assert not (tmp_path / "c.json").exists()
