"""How far to trust a registration: a calibrated probability that it is right.

``Registration.confidence`` estimates the probability that the transform is within
10 px of the truth (the benchmark's grid error, fixed-image pixels). It is a logistic
model over four quantities the pipeline measures anyway:

- ``structure_correlation``: agreement of the phase-congruency maps under the transform;
- ``structure_sharpness``: how much of it is lost when the moving map is displaced by
  1/80 of the image (:func:`modalign.geometry.refine.structure_agreement`);
- ``log_inliers``: log(1 + robust inliers);
- ``inlier_ratio``: inliers / matches.

The coefficients are fitted by ``python -m modalign.eval.calibrate`` on registrations of
the tuning parts of real cross-modal sets plus pairs of unrelated images (always wrong),
and ship as ``modalign/weights/confidence.json``. They describe one matcher with one set
of weights (the default matcher, on either backend); other matchers get no confidence
(None) rather than a wrong one.
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError

FEATURES = ("structure_correlation", "structure_sharpness", "log_inliers", "inlier_ratio")
RIGHT_PX = 10.0  # a registration is right within this grid error (fixed-image pixels)
DEFAULT_PATH = Path(__file__).parent / "weights" / "confidence.json"


def features(
    correlation: float, sharpness: float, num_inliers: int, num_matches: int
) -> dict[str, float]:
    """The model's inputs for one registration."""
    return {
        "structure_correlation": float(correlation),
        "structure_sharpness": float(sharpness),
        "log_inliers": math.log1p(num_inliers),
        "inlier_ratio": num_inliers / num_matches if num_matches else 0.0,
    }


def describe(confidence: float) -> str:
    """One line for people: the probability as a percentage, never a flat 100%."""
    share = "over 99%" if confidence > 0.99 else f"{confidence:.0%}"
    return f"confidence {share} that it is within {RIGHT_PX:g} px"


@dataclass(frozen=True)
class ConfidenceModel:
    """Logistic model p = σ(bias + Σ weight · (feature − mean) / scale).

    Attributes:
        matcher: the matcher key it was fitted for (:func:`matcher_key`).
        mean, scale, weights: per feature of ``FEATURES``.
        fitted_on: how it was fitted (command, pair counts), for the record.
    """

    matcher: str
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    fitted_on: dict[str, Any] = field(default_factory=dict)

    def __call__(self, values: dict[str, float]) -> float:
        x = (np.array([values[name] for name in FEATURES]) - self.mean) / self.scale
        return float(1.0 / (1.0 + np.exp(-(self.bias + x @ np.array(self.weights)))))

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(FEATURES),
            "matcher": self.matcher,
            "mean": list(self.mean),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "bias": self.bias,
            "fitted_on": self.fitted_on,
        }

    def save(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> ConfidenceModel:
        """Read a model written by :meth:`save`; InputError if it is not one."""
        try:
            data = json.loads(Path(path).read_text())
            if tuple(data["features"]) != FEATURES:
                raise ValueError(f"features {data['features']} are not {list(FEATURES)}")
            model = cls(
                str(data["matcher"]),
                *(tuple(float(v) for v in data[k]) for k in ("mean", "scale", "weights")),
                float(data["bias"]),
                dict(data.get("fitted_on", {})),
            )
            if not len(model.mean) == len(model.scale) == len(model.weights) == len(FEATURES):
                raise ValueError("mean, scale and weights need one value per feature")
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InputError(str(path), f"not a confidence model ({error})") from None
        return model


@functools.lru_cache(maxsize=4)
def load_model(path: str = "") -> ConfidenceModel:
    """The model at ``path``, or the shipped one for an empty path."""
    return ConfidenceModel.load(path or DEFAULT_PATH)


def matcher_key(matcher: object) -> str:
    """What identifies a matcher's calibration: its kind and, if it has them, its weights
    by content (the first 16 hex digits of their sha256), else by name. So ``modalign``
    and ``modalign-onnx``, one network on two backends, share one, a copy of the weights
    elsewhere keeps it, and new weights under the same name get none until the confidence
    is fitted again."""
    digest = getattr(matcher, "weights_sha256", "")[:16]
    weights = digest or getattr(getattr(matcher, "config", None), "weights", "")
    return f"{type(matcher).__name__}:{weights}"


def fit(
    X: np.ndarray, y: np.ndarray, matcher: str, l2: float = 0.01, fitted_on: dict | None = None
) -> ConfidenceModel:
    """Fit the logistic model by L2-regularised maximum likelihood.

    Args:
        X: [N, len(FEATURES)] feature values; y: [N] 1 for a right registration, else 0.
        l2: penalty on the weights of the standardised features.
    """
    from scipy.optimize import minimize

    X, y = np.asarray(X, np.float64), np.asarray(y, np.float64)
    if len(np.unique(y)) < 2:
        raise ValueError("fitting a confidence model needs both right and wrong registrations")
    mean, scale = X.mean(0), X.std(0) + 1e-9
    Z = np.hstack([(X - mean) / scale, np.ones((len(X), 1))])

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = Z @ w
        # log(1 + e^z) − y·z, stable for large |z|
        value = np.mean(np.logaddexp(0.0, z) - y * z) + l2 * (w[:-1] ** 2).sum()
        p = 1.0 / (1.0 + np.exp(-z))
        gradient = Z.T @ (p - y) / len(y)
        gradient[:-1] += 2 * l2 * w[:-1]
        return value, gradient

    w = minimize(loss, np.zeros(Z.shape[1]), jac=True, method="L-BFGS-B").x
    return ConfidenceModel(
        matcher,
        tuple(mean.tolist()),
        tuple(scale.tolist()),
        tuple(w[:-1].tolist()),
        float(w[-1]),
        fitted_on or {},
    )
