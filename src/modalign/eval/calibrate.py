"""Fit and check the confidence model: ``python -m modalign.eval.calibrate``.

Fitting registers every pair of the *tuning* part (:func:`~modalign.eval.datasets.holdout`)
of each ``--data`` set under the benchmark's protocol, plus ``--unrelated`` pairs per
set made of one pair's fixed image and another pair's moving image (always wrong), with
the default pipeline; every successful registration is one sample (right: within 10 px).
The model is written to ``--out`` (the shipped one: ``modalign/weights/confidence.json``).
``--weights FILE`` fits it for other weights of the default matcher (a ``modalign train``
run's, say); a run uses the two together with ``--set matcher_conf.weights=FILE --set
confidence=MODEL``, as the model holds the key of the weights it was fitted for.

``--check FOLDER`` instead reads the records of a ``modalign bench`` output folder (they
hold each registration's confidence) and prints, per set, how the predicted confidence
compares with the observed success rate.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ..confidence import FEATURES, RIGHT_PX, features, fit, matcher_key
from .datasets import Pair, holdout, read_set


def unrelated_pairs(pairs: list[Pair], count: int, seed: int) -> list[tuple[Pair, Pair]]:
    """``count`` (fixed-image pair, moving-image pair) couples of different pairs.

    Pairs are ordered by key and the partner lies a quarter to three quarters of the list
    away, so that neighbours (adjacent slices, consecutive video frames) are not drawn.
    """
    ordered = sorted(pairs, key=lambda p: p.key)
    n = len(ordered)
    if n < 4:
        return []
    rng = np.random.default_rng(seed)
    firsts = rng.choice(n, min(count, n), replace=False)
    offsets = rng.integers(n // 4, n - n // 4 + 1, len(firsts))
    return [(ordered[i], ordered[(i + o) % n]) for i, o in zip(firsts, offsets, strict=True)]


def _sample(job: tuple[Pair, Pair | None, int, str]) -> dict | None:
    """Register one job; its features and label, or None if it failed."""
    from ..pipeline import RegisterConfig, register
    from ..registry import shared_matcher
    from .protocol import make_problem

    pair, other, seed, weights = job
    problem = make_problem(pair, seed)
    moving = make_problem(other, seed).moving if other is not None else problem.moving
    config = RegisterConfig(matcher_conf=matcher_settings(weights), confidence="none")
    matcher = shared_matcher(config.matcher, config.matcher_conf)
    registration = register(problem.fixed, moving, matcher=matcher, config=config)
    if not registration.success or registration.structure_sharpness is None:
        return None
    values = features(
        registration.structure_correlation,
        registration.structure_sharpness,
        registration.num_inliers,
        registration.num_matches,
    )
    right = other is None and problem.error(registration.H_1to0) < RIGHT_PX
    return {
        "set": pair.set_name,
        "kind": "unrelated" if other is not None else "pair",
        "right": bool(right),
        "matcher": matcher_key(matcher),
        **values,
    }


def matcher_settings(weights: str) -> dict:
    """``matcher_conf`` of the fit: the default matcher on one thread, with ``weights``
    (a weights file of the learned matcher) where given."""
    return {"threads": 1, **({"weights": weights} if weights else {})}


def collect(
    data: list[str], unrelated: int, seed: int, workers: int, weights: str = ""
) -> list[dict]:
    """Samples of the tuning parts of ``data`` and of their unrelated couples, registered
    with the default matcher (``weights``: other weights for it, see ``matcher_settings``)."""
    from .bench import _worker_setup

    jobs: list[tuple[Pair, Pair | None, int, str]] = []
    for directory in data:
        tuning = holdout(read_set(directory))[0]
        jobs += [(pair, None, seed, weights) for pair in tuning]
        jobs += [(a, b, seed, weights) for a, b in unrelated_pairs(tuning, unrelated, seed)]
    if workers <= 1:
        samples = [_sample(job) for job in jobs]
    else:
        with ProcessPoolExecutor(workers, initializer=_worker_setup) as pool:
            samples = list(pool.map(_sample, jobs, chunksize=4))
    return [s for s in samples if s is not None]


def reliability(confidence: np.ndarray, right: np.ndarray, bins: int = 5) -> list[tuple]:
    """(low, high, count, mean confidence, success rate) per confidence bin."""
    rows = []
    edges = np.linspace(0, 1, bins + 1)
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence >= low) & ((confidence < high) | (high == 1))
        if inside.any():
            rows.append(
                (low, high, int(inside.sum()), confidence[inside].mean(), right[inside].mean())
            )
    return rows


def auroc(score: np.ndarray, label: np.ndarray) -> float:
    """Probability that a right sample scores above a wrong one (ties count half)."""
    positive, negative = score[label], score[~label]
    if not len(positive) or not len(negative):
        return float("nan")
    above = (positive[:, None] > negative[None]).mean()
    return float(above + 0.5 * (positive[:, None] == negative[None]).mean())


def report(name: str, confidence: np.ndarray, right: np.ndarray) -> str:
    """A few lines on how well ``confidence`` predicts ``right``."""
    confidence, right = np.asarray(confidence, float), np.asarray(right, bool)
    area = auroc(confidence, right)
    # AUROC needs both right and wrong registrations
    ranking = f"AUROC {area:.3f}" if np.isfinite(area) else "AUROC n/a (one outcome only)"
    lines = [
        f"{name}: {len(right)} registrations, {right.mean():.0%} right, mean confidence "
        f"{confidence.mean():.2f}, Brier {np.mean((confidence - right) ** 2):.3f}, {ranking}"
    ]
    for low, high, count, mean, rate in reliability(confidence, right):
        lines.append(
            f"  confidence {low:.1f}-{high:.1f}: {count:4d}, mean {mean:.2f}, right {rate:.2f}"
        )
    return "\n".join(lines)


def check(folder: Path) -> str:
    """Calibration of the confidences recorded in a benchmark output folder."""
    from .report import load_results

    records = [
        r
        for r in load_results(folder)["records"]
        if r.get("confidence") is not None and r["error"] is not None
    ]
    if not records:
        return f"{folder}: no registration with a confidence"
    blocks = []
    for name in sorted({r["set"] for r in records}) + ["all"]:
        chosen = [r for r in records if name in ("all", r["set"])]
        confidence = np.array([r["confidence"] for r in chosen])
        right = np.array([r["error"] < RIGHT_PX for r in chosen])
        blocks.append(report(name, confidence, right))
    return "\n".join(blocks)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append", default=[], help="set folder (repeat)")
    parser.add_argument("--unrelated", type=int, default=20, help="unrelated couples per set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default="", help="model file to write")
    parser.add_argument("--check", default="", help="a bench output folder to check")
    parser.add_argument(
        "--weights", default="", help="fit for these weights of the default matcher (file)"
    )
    args = parser.parse_args(argv)
    if args.check:
        print(check(Path(args.check)))
        return
    if not args.data or not args.out:
        parser.error("fitting needs --data and --out (or give --check)")
    if args.weights and not Path(args.weights).is_file():
        sys.exit(f"calibrate: {args.weights}: no such weights file")
    samples = collect(args.data, args.unrelated, args.seed, args.workers, args.weights)
    keys = {s["matcher"] for s in samples}
    if len(keys) != 1:
        sys.exit(f"calibrate: no successful registration, or several matchers ({keys})")
    X = np.array([[s[name] for name in FEATURES] for s in samples])
    y = np.array([s["right"] for s in samples])
    fitted_on = {
        "command": "python -m modalign.eval.calibrate " + shlex.join(argv or sys.argv[1:]),
        "sets": [Path(d).name for d in args.data],
        "samples": len(samples),
        "right": int(y.sum()),
        "unrelated": sum(s["kind"] == "unrelated" for s in samples),
        "right_px": RIGHT_PX,
    }
    model = fit(X, y, keys.pop(), fitted_on=fitted_on)
    model.save(args.out)
    confidence = np.array([model(dict(zip(FEATURES, row, strict=True))) for row in X])
    print(report("fitted samples", confidence, y))
    for name in fitted_on["sets"]:
        chosen = np.array([s["set"] == name for s in samples])
        print(report(name, confidence[chosen], y[chosen]))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
