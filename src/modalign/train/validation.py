"""Periodic validation of the matcher being trained: real pairs, the benchmark's metric.

Each pair is registered through :func:`modalign.pipeline.register` with the model wrapped
in :class:`~modalign.matchers.learned.LearnedMatcher`, under the benchmark's protocol
(random homography for pre-aligned pairs, landmark or grid error).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..eval.datasets import Pair, holdout, read_set
from ..eval.metrics import error_auc, success_rate
from ..eval.protocol import make_problem
from .config import ValidationConfig


def validation_pairs(config: ValidationConfig, training_sets: tuple[str, ...]) -> list[Pair]:
    """Up to ``config.pairs`` pairs of each validation set (seeded choice); a set that also
    feeds training contributes only its held-out split."""
    training = {Path(s).resolve() for s in training_sets}
    chosen = []
    for folder in config.sets:
        pairs = read_set(folder)
        if Path(folder).resolve() in training:
            pairs = holdout(pairs)[1]
        order = np.random.default_rng(0).permutation(len(pairs))[: config.pairs]
        chosen += [pairs[i] for i in sorted(order)]
    return chosen


def validate(model, pairs: list[Pair], config: ValidationConfig) -> dict[str, float]:
    """SR and AUC at ``config.threshold`` px and the median error over ``pairs``."""
    from ..matchers.learned import LearnedMatcher
    from ..pipeline import register

    matcher = LearnedMatcher({"max_size": config.max_size}, name="training", model=model)
    errors = []
    for pair in pairs:
        problem = make_problem(pair, seed=0)
        registration = register(problem.fixed, problem.moving, matcher=matcher)
        errors.append(problem.error(registration.H_1to0))
    errors = np.asarray(errors, dtype=float)
    threshold = config.threshold
    return {
        f"sr@{threshold:g}": success_rate(errors, threshold),
        f"auc@{threshold:g}": error_auc(errors, threshold),
        "median_error": float(np.median(errors)) if len(errors) else float("inf"),
    }
