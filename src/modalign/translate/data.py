"""Aligned pairs of two modalities for the translator: split, loading, crops, metrics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from skimage.metrics import structural_similarity

from ..errors import InputError
from ..eval.datasets import Pair, holdout, read_set
from ..io import read_image, to_float


@dataclass(frozen=True)
class Split:
    """Training, validation (checkpoint choice) and test (reported) pairs of one set."""

    train: list[Pair]
    validation: list[Pair]
    test: list[Pair]


def split_pairs(
    data: str | Path,
    fraction: float = 0.2,
    test: int = 20,
    seed: int = 0,
    source: str = "visible",
    target: str = "infrared",
) -> Split:
    """Pre-aligned ``source``/``target`` pairs of ``data`` (modality names of its
    pairs.csv): a seeded ``fraction`` of the set's pre-aligned pairs is held out (the same
    pairs as every other user of :func:`holdout`, whatever their modalities); the first
    ``test`` held-out pairs of these modalities, by key, are the test pairs, the rest
    validate during training."""
    aligned = [p for p in read_set(data) if p.pre_aligned]
    train, held = holdout(aligned, fraction, seed)
    wanted = {source, target}
    train = [p for p in train if {p.modality_fixed, p.modality_moving} == wanted]
    held = sorted(
        (p for p in held if {p.modality_fixed, p.modality_moving} == wanted), key=lambda p: p.key
    )
    if len(train) < 6 or len(held) < 2:
        need = "at least 6 in training and 2 held out"
        raise InputError(str(data), f"needs pre-aligned {source}/{target} pairs: {need}")
    count = min(test, len(held) - 1)  # at least one pair validates
    return Split(train, held[count:], held[:count])


def load_pair(pair: Pair, source: str = "visible") -> tuple[np.ndarray, np.ndarray]:
    """(source RGB [H, W, 3], target [H, W]) float32 in [0, 1], same size: the side of
    modality ``source`` and the other one (a colour-mapped target read as its scalar)."""
    first, second = (pair.fixed, pair.moving)
    if pair.modality_fixed != source:
        first, second = second, first
    source_image = to_float(read_image(first))
    if source_image.ndim == 2:
        source_image = cv2.merge([source_image] * 3)
    target_image = to_float(read_image(second))
    if target_image.ndim == 3:
        target_image = target_image.mean(axis=2)
    if target_image.shape != source_image.shape[:2]:
        size = (source_image.shape[1], source_image.shape[0])
        target_image = cv2.resize(target_image, size)
    return (
        np.ascontiguousarray(source_image, np.float32),
        np.ascontiguousarray(target_image, np.float32),
    )


def random_crops(
    pairs: list[tuple[np.ndarray, np.ndarray]], size: int, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` aligned crops ([N, 3, S, S], [N, 1, S, S]) at random scale 0.5–1, flipped."""
    visible_batch, infrared_batch = [], []
    for _ in range(count):
        visible, infrared = pairs[rng.integers(len(pairs))]
        height, width = infrared.shape
        scale = rng.uniform(max(0.5, (size + 1) / min(height, width)), 1.0)
        new = (max(size, round(width * scale)), max(size, round(height * scale)))
        visible = cv2.resize(visible, new, interpolation=cv2.INTER_AREA)
        infrared = cv2.resize(infrared, new, interpolation=cv2.INTER_AREA)
        top, left = rng.integers(0, new[1] - size + 1), rng.integers(0, new[0] - size + 1)
        visible = visible[top : top + size, left : left + size]
        infrared = infrared[top : top + size, left : left + size]
        if rng.random() < 0.5:
            visible, infrared = visible[:, ::-1], infrared[:, ::-1]
        visible_batch.append(visible.transpose(2, 0, 1))
        infrared_batch.append(infrared[None])
    return np.stack(visible_batch), np.stack(infrared_batch)


def normalised(image: np.ndarray) -> np.ndarray:
    """1–99 percentile stretch to [0, 1] (the metrics compare normalised intensities)."""
    low, high = np.percentile(image, [1, 99])
    return np.clip((image - low) / max(high - low, 1e-6), 0, 1).astype(np.float32)


def similarity(prediction: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """(SSIM, mean L1) of two [H, W] images after :func:`normalised`."""
    a, b = normalised(prediction), normalised(target)
    return float(structural_similarity(a, b, data_range=1.0)), float(np.abs(a - b).mean())
