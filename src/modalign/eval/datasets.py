"""Reading benchmark sets laid out like ../shared/data (pairs.csv + pair folders).

A set is a folder with ``pairs.csv`` and, per pair, ``<path>/fixed.*``, ``<path>/moving.*``,
``<path>/H.txt`` (3×3 H_1to0) and, where ``has_landmarks`` is 1, ``<path>/landmarks.csv``
(x_fixed, y_fixed, x_moving, y_moving). Every problem is reported naming the file (and the
line of pairs.csv) before any pair is run.
"""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

REQUIRED_COLUMNS = (
    "split", "category", "pair_id", "modality_fixed", "modality_moving", "path",
    "width_fixed", "height_fixed", "width_moving", "height_moving", "has_landmarks", "source",
)  # fmt: skip
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


@dataclass(frozen=True)
class Pair:
    """One benchmark pair; paths are absolute."""

    set_name: str
    category: str
    pair_id: str
    modality_fixed: str
    modality_moving: str
    fixed: Path
    moving: Path
    H_1to0: np.ndarray
    landmarks: np.ndarray | None  # [N, 4] x_fixed, y_fixed, x_moving, y_moving

    @property
    def key(self) -> str:
        return f"{self.set_name}/{self.pair_id}"

    @property
    def pre_aligned(self) -> bool:
        """True for pairs whose ground truth is the identity and which have no landmarks:
        they are scored after a seeded random homography (see :mod:`.protocol`)."""
        return self.landmarks is None and np.allclose(self.H_1to0, np.eye(3))


def _image(folder: Path, stem: str, where: str) -> Path:
    found = sorted(p for p in folder.glob(stem + ".*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise InputError(str(folder / stem), f"missing {stem} image (listed at {where})")
    return found[0]


def _matrix(path: Path, where: str) -> np.ndarray:
    if not path.is_file():
        raise InputError(str(path), f"missing ground-truth transform (listed at {where})")
    try:
        H = np.loadtxt(path, dtype=np.float64)
    except ValueError as err:
        raise InputError(str(path), f"not a 3x3 matrix of numbers ({err})") from None
    if H.shape != (3, 3) or not np.isfinite(H).all() or abs(np.linalg.det(H)) < 1e-12:
        raise InputError(str(path), "not a finite, invertible 3x3 matrix")
    return H


def _landmarks(path: Path, where: str) -> np.ndarray:
    if not path.is_file():
        raise InputError(str(path), f"missing landmarks (has_landmarks=1 at {where})")
    try:
        values = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise InputError(str(path), f"malformed landmarks ({err})") from None
    if values.ndim != 2 or values.shape[1] != 4 or len(values) == 0:
        raise InputError(str(path), "expected rows x_fixed,y_fixed,x_moving,y_moving")
    return values


def read_set(directory: str | Path, categories: tuple[str, ...] = ()) -> list[Pair]:
    """All pairs of a set (optionally only categories containing one of ``categories``).

    Raises:
        InputError: missing/malformed pairs.csv, a bad row, or a missing/malformed file.
    """
    directory = Path(directory).resolve()
    table = directory / "pairs.csv"
    if not table.is_file():
        raise InputError(str(table), "no pairs.csv: not a benchmark set folder")
    with table.open(newline="") as stream:
        reader = csv.DictReader(stream)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise InputError(str(table), f"missing column(s) {', '.join(missing)}")
        rows = list(reader)
    pairs, seen = [], set()
    for number, row in enumerate(rows, start=2):
        where = f"{table}:{number}"
        if None in row or any(row[c] is None for c in REQUIRED_COLUMNS):
            raise InputError(where, "wrong number of fields")
        if not row["pair_id"] or not row["path"] or row["has_landmarks"] not in ("0", "1"):
            raise InputError(where, "empty pair_id/path or has_landmarks not 0/1")
        if row["pair_id"] in seen:
            raise InputError(where, f"duplicate pair_id {row['pair_id']!r}")
        seen.add(row["pair_id"])
        if categories and not any(c.lower() in row["category"].lower() for c in categories):
            continue
        folder = directory / row["path"]
        pairs.append(
            Pair(
                set_name=directory.name,
                category=row["category"],
                pair_id=row["pair_id"],
                modality_fixed=row["modality_fixed"],
                modality_moving=row["modality_moving"],
                fixed=_image(folder, "fixed", where),
                moving=_image(folder, "moving", where),
                H_1to0=_matrix(folder / "H.txt", where),
                landmarks=_landmarks(folder / "landmarks.csv", where)
                if row["has_landmarks"] == "1"
                else None,
            )
        )
    return pairs


@contextlib.contextmanager
def new_set_folder(out: str | Path) -> Iterator[Path]:
    """A staging folder that becomes ``out`` only when the block completes, so a failed or
    interrupted run leaves nothing half-written. ``out`` must not exist or be empty."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(str(out), "exists and is not an empty folder")
    staging = out.with_name(f".{out.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out.exists():
        out.rmdir()
    os.replace(staging, out)


def write_pairs_csv(
    folder: Path, rows: Sequence[Sequence], extra_columns: Sequence[str] = ()
) -> None:
    """Write ``pairs.csv``: the required columns (in order), then ``extra_columns``."""
    with (folder / "pairs.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow([*REQUIRED_COLUMNS, *extra_columns])
        writer.writerows(rows)


def holdout(pairs: list[Pair], fraction: float = 0.2, seed: int = 0) -> tuple[list, list]:
    """Split pairs into (training, validation) by a seeded permutation of their ids: the
    same pairs are held out on every machine, whatever order they are listed in."""
    ordered = sorted(pairs, key=lambda p: p.key)
    order = np.random.default_rng(seed).permutation(len(ordered))
    count = round(fraction * len(ordered))
    held = {ordered[i].key for i in order[:count]}
    return [p for p in pairs if p.key not in held], [p for p in pairs if p.key in held]
