"""Export-then-score benchmark runner with a per-(matcher config, pair) cache.

Each prediction is stored as ``OUT/cache/<matcher>-<config hash>/<set>/<pair_id>.json``;
a later run with the same matcher configuration, registration configuration, protocol
and package files (code and shipped weights) reuses it, so adding a matcher only
computes the new one.
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
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from ..config import to_dict
from ..geometry.refine import StructureMaps
from ..hub import sha256_of
from ..pipeline import RegisterConfig, needs_structure, pair_structure_maps, register
from ..registry import get_spec, matcher_config, shared_matcher
from ..types import Registration
from .datasets import Pair, holdout, read_set
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
        held_out: names of sets (folder names) reduced to their seeded 20% validation split
            (:func:`modalign.eval.datasets.holdout`, the pairs training never sees).
        tuning: names of sets reduced to the other 80%, the part training and tuning may
            use (so that settings are chosen without looking at the held-out pairs).
        workers: parallel processes (1 runs in this process).
        overwrite: recompute even what is cached.
        precision: if set ("fp32" or "bf16"), the precision of every matcher whose config
            has a ``precision`` field (the learned ones); others are unaffected.
        device: likewise, the device of every matcher whose config has a ``device`` field
            ("cpu", "cuda", "cuda:N" or "auto"; :mod:`modalign.devices`).
    """

    data: tuple[str, ...]
    matchers: tuple[str, ...]
    register: RegisterConfig = field(default_factory=RegisterConfig)
    seed: int = 0
    limit: int = 0
    categories: tuple[str, ...] = ()
    held_out: tuple[str, ...] = ()
    tuning: tuple[str, ...] = ()
    workers: int = 1
    overwrite: bool = False
    precision: str = ""
    device: str = ""


def _within(part: list[Pair], chosen: list[Pair]) -> list[Pair]:
    """The pairs of ``part`` that are also in ``chosen``, in ``part``'s order."""
    keys = {p.key for p in chosen}
    return [p for p in part if p.key in keys]


@functools.lru_cache(maxsize=1)
def package_digest() -> str:
    """Hash of the files of the installed package (its code, shipped weights and
    configurations): a change to the pipeline changes predictions as much as a setting."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(f"{path.relative_to(root).as_posix()} {sha256_of(path)}\n".encode())
    return digest.hexdigest()


def config_hash(matcher: str, register_config: RegisterConfig, seed: int) -> str:
    """Hash of everything that decides a prediction: matcher preset and overrides,
    registration settings, protocol version, seed and the package's files."""
    spec = get_spec(matcher)
    content = {
        "matcher": matcher,
        "target": spec.target,
        "preset": spec.preset,
        "register": to_dict(register_config),
        "protocol": PROTOCOL_VERSION,
        "seed": seed,
        "package": package_digest(),
    }
    if not spec.missing():
        resolved = matcher_config(matcher, register_config.matcher_conf)
        content["config"] = to_dict(resolved)
        if spec.kind == "learned":  # retrained weights must not reuse cached results
            from ..models.checkpoint import model_path

            content["weights"] = sha256_of(model_path(resolved.weights))
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    return digest[:10]


def evaluate_pair(pair: Pair, jobs: Sequence[tuple[str, RegisterConfig]], seed: int) -> list[dict]:
    """Register one pair with each (matcher, configuration) and score it (in a worker).

    The protocol's warped images and the structure maps used by refinement and
    verification are computed once per pair; each record's time includes the maps' time
    when its registration used them, so it is what a lone ``register`` call would take.
    """
    problem = make_problem(pair, seed)
    shared: dict[str, tuple[StructureMaps, float]] = {}
    records = []
    for matcher, register_config in jobs:
        maps, maps_seconds = None, 0.0
        if needs_structure(register_config):
            key = json.dumps(
                [to_dict(register_config.refine), to_dict(register_config.normalization0),
                 to_dict(register_config.normalization1)], sort_keys=True,
            )  # fmt: skip
            if key not in shared:
                start = time.perf_counter()
                maps = pair_structure_maps(problem.fixed, problem.moving, register_config)
                shared[key] = (maps, time.perf_counter() - start)
            maps, maps_seconds = shared[key]
        matcher_object = shared_matcher(matcher, register_config.matcher_conf)
        start = time.perf_counter()
        registration = register(
            problem.fixed, problem.moving, matcher=matcher_object, config=register_config, maps=maps
        )
        elapsed = time.perf_counter() - start
        if registration.structure_correlation is not None:
            elapsed += maps_seconds
        records.append(_record(pair, matcher, registration, problem.error(registration.H_1to0)))
        records[-1]["time"] = elapsed
    return records


def _record(pair: Pair, matcher: str, registration: Registration, error: float) -> dict:
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
        "structure_correlation": registration.structure_correlation,
        "structure_sharpness": registration.structure_sharpness,
        "confidence": registration.confidence,
        "translated": registration.translated,
        "rotation_degrees": registration.rotation_degrees,
        "H_1to0": None if registration.H_1to0 is None else registration.H_1to0.tolist(),
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
        # the split is drawn over the whole set, as training draws it, then the categories
        # are kept: split after filtering, a category's held-out pairs would differ
        if Path(directory).name in config.held_out:
            found = _within(holdout(read_set(directory))[1], found)
        elif Path(directory).name in config.tuning:
            found = _within(holdout(read_set(directory))[0], found)
        pairs.extend(found[: config.limit] if config.limit else found)
    tasks: dict[str, tuple[Pair, list[tuple[str, RegisterConfig, Path]]]] = {}
    records = {}
    for matcher in config.matchers:
        register_config = _register_config(config, matcher)
        digest = config_hash(matcher, register_config, config.seed)
        for pair in pairs:
            path = _cache_path(out, matcher, digest, pair)
            if path.is_file() and not config.overwrite:
                records[(pair.key, matcher)] = json.loads(path.read_text())
            else:
                tasks.setdefault(pair.key, (pair, []))[1].append((matcher, register_config, path))
    total, done = len(pairs) * len(config.matchers), len(records)
    computed = total - done
    logger.info("%d predictions cached, %d to compute", done, computed)
    notify = on_progress or (lambda done, total: None)
    notify(done, total)

    def collect(pair: Pair, paths: list[Path], results: list[dict]) -> None:
        nonlocal done
        for path, record in zip(paths, results, strict=True):
            _write_json(path, record)
            records[(pair.key, record["matcher"])] = record
        done += len(results)
        notify(done, total)

    def arguments(pair: Pair, jobs: list) -> tuple:
        return pair, [(m, c) for m, c, _ in jobs], config.seed

    if config.workers <= 1:
        for pair, jobs in tasks.values():
            collect(pair, [p for *_, p in jobs], evaluate_pair(*arguments(pair, jobs)))
    else:
        with ProcessPoolExecutor(config.workers, initializer=_worker_setup) as pool:
            futures = {
                pool.submit(evaluate_pair, *arguments(pair, jobs)): (pair, [p for *_, p in jobs])
                for pair, jobs in tasks.values()
            }
            for future in as_completed(futures):
                collect(*futures[future], future.result())
    return [records[(pair.key, m)] for pair in pairs for m in config.matchers], computed


def _register_config(config: BenchConfig, matcher: str) -> RegisterConfig:
    """The registration configuration of one matcher in a benchmark run."""
    matcher_conf = dict(config.register.matcher_conf)
    names = set()
    if not get_spec(matcher).missing():
        names = {f.name for f in fields(matcher_config(matcher, matcher_conf))}
    for setting in ("precision", "device"):
        if getattr(config, setting) and setting in names:
            matcher_conf[setting] = getattr(config, setting)
    if config.workers > 1 and "threads" in names:  # one core per worker (ONNX Runtime's
        matcher_conf.setdefault("threads", 1)  # default is every core, as torch's)
    return replace(config.register, matcher=matcher, matcher_conf=matcher_conf)


def matcher_names(names: Sequence[str]) -> tuple[str, ...]:
    """Expand "all" to every registered matcher whose dependencies are installed."""
    from ..registry import MATCHERS

    expanded: list[str] = []
    for name in names:
        if name == "all":
            expanded += [n for n, spec in MATCHERS.items() if spec.availability()[0]]
        else:
            get_spec(name)
            expanded.append(name)
    return tuple(dict.fromkeys(expanded))
