"""Export-then-score benchmark runner with a per-(matcher config, pair) cache.

Each prediction is stored as ``OUT/cache/<matcher>-<config hash>/<set>/<pair_id>.json``;
a later run with the same matcher configuration, registration configuration and protocol
reuses it, so adding a matcher only computes the new one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config import to_dict
from ..pipeline import RegisterConfig, register
from ..registry import get_spec, load_matcher, matcher_config
from .datasets import Pair, read_set
from .metrics import THRESHOLDS
from .protocol import PROTOCOL_VERSION, make_problem

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchConfig:
    """What a benchmark run evaluates.

    Attributes:
        data: set folders (pairs.csv layout).
        matchers: registry names.
        register: the registration configuration applied to every matcher (its
            ``matcher`` field is replaced by each name in turn).
        seed: seed of the random homographies of pre-aligned pairs.
        limit: at most this many pairs per set (0: all), for quick looks.
        categories: keep only categories containing one of these strings.
        workers: parallel processes (1 runs in this process).
        overwrite: recompute even what is cached.
    """

    data: tuple[str, ...]
    matchers: tuple[str, ...]
    register: RegisterConfig = field(default_factory=RegisterConfig)
    seed: int = 0
    limit: int = 0
    categories: tuple[str, ...] = ()
    workers: int = 1
    overwrite: bool = False


def config_hash(matcher: str, register_config: RegisterConfig, seed: int) -> str:
    """Hash of everything that decides a prediction: matcher preset and overrides,
    registration settings, protocol version and seed."""
    spec = get_spec(matcher)
    content = {
        "matcher": matcher,
        "target": spec.target,
        "preset": spec.preset,
        "register": to_dict(register_config),
        "protocol": PROTOCOL_VERSION,
        "seed": seed,
    }
    if not spec.missing():
        content["config"] = to_dict(matcher_config(matcher, register_config.matcher_conf))
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return digest[:10]


@functools.lru_cache(maxsize=8)
def _matcher(name: str, conf_json: str):
    return load_matcher(name, json.loads(conf_json))


def evaluate_pair(pair: Pair, matcher: str, register_config: RegisterConfig, seed: int) -> dict:
    """Register one pair with one matcher and score it (runs in a worker process)."""
    problem = make_problem(pair, seed)
    matcher_object = _matcher(matcher, json.dumps(register_config.matcher_conf, sort_keys=True))
    start = time.perf_counter()
    registration = register(
        problem.fixed, problem.moving, matcher=matcher_object, config=register_config
    )
    elapsed = time.perf_counter() - start
    error = problem.error(registration.H_1to0)
    return {
        "set": pair.set_name,
        "category": pair.category,
        "pair_id": pair.pair_id,
        "matcher": matcher,
        "error": error if math.isfinite(error) else None,
        **{f"success@{t:g}": bool(error < t) for t in THRESHOLDS},
        "num_matches": registration.num_matches,
        "num_inliers": registration.num_inliers,
        "transform": registration.transform.value if registration.transform else None,
        "reason": registration.reason,
        "refinement": registration.refinement,
        "rotation_degrees": registration.rotation_degrees,
        "H_1to0": None if registration.H_1to0 is None else registration.H_1to0.tolist(),
        "time": elapsed,
    }


def _worker_setup() -> None:
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def _cache_path(out: Path, matcher: str, digest: str, pair: Pair) -> Path:
    return out / "cache" / f"{matcher}-{digest}" / pair.set_name / f"{pair.pair_id}.json"


def _write_json(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record))
    os.replace(temporary, path)


def run_benchmark(
    config: BenchConfig,
    out: str | Path,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[list[dict], int]:
    """Evaluate every matcher on every pair, reusing cached predictions.

    Returns:
        One record per (pair, matcher), in set / pair / matcher order, and how many of
        them were computed (the others came from the cache).
    """
    out = Path(out)
    pairs: list[Pair] = []
    for directory in config.data:
        found = read_set(directory, config.categories)
        pairs.extend(found[: config.limit] if config.limit else found)
    tasks, records = [], {}
    for matcher in config.matchers:
        register_config = replace(config.register, matcher=matcher)
        digest = config_hash(matcher, register_config, config.seed)
        for pair in pairs:
            path = _cache_path(out, matcher, digest, pair)
            if path.is_file() and not config.overwrite:
                records[(pair.key, matcher)] = json.loads(path.read_text())
            else:
                tasks.append((pair, matcher, register_config, path))
    total, done = len(pairs) * len(config.matchers), len(records)
    logger.info("%d predictions cached, %d to compute", done, len(tasks))
    notify = on_progress or (lambda done, total: None)
    notify(done, total)
    if config.workers <= 1:
        for pair, matcher, register_config, path in tasks:
            record = evaluate_pair(pair, matcher, register_config, config.seed)
            _write_json(path, record)
            records[(pair.key, matcher)] = record
            done += 1
            notify(done, total)
    else:
        with ProcessPoolExecutor(config.workers, initializer=_worker_setup) as pool:
            futures = {
                pool.submit(evaluate_pair, pair, matcher, register_config, config.seed): (
                    pair,
                    matcher,
                    path,
                )
                for pair, matcher, register_config, path in tasks
            }
            for future in as_completed(futures):
                pair, matcher, path = futures[future]
                record = future.result()
                _write_json(path, record)
                records[(pair.key, matcher)] = record
                done += 1
                notify(done, total)
    return [records[(pair.key, m)] for pair in pairs for m in config.matchers], len(tasks)


def matcher_names(names: Sequence[str]) -> tuple[str, ...]:
    """Expand "all" to every registered matcher whose dependencies are installed."""
    from ..registry import MATCHERS

    expanded: list[str] = []
    for name in names:
        if name == "all":
            expanded += [n for n, spec in MATCHERS.items() if not spec.missing()]
        else:
            get_spec(name)
            expanded.append(name)
    return tuple(dict.fromkeys(expanded))
