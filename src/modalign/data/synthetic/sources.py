"""Where the underlying images come from: a folder of images, the real pre-aligned pairs of
a benchmark-layout set (a real second modality), or the procedural generator.

A source returns :class:`SourceItem` s: one or more pixel-aligned views of one scene with
their modalities. Nothing is ever downloaded.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ...errors import InputError
from ...eval.datasets import IMAGE_SUFFIXES, Pair, holdout, read_set
from ...io import read_image, to_float
from ...types import Modality
from .procedural import SCENES


@dataclass(frozen=True)
class SourceItem:
    """Aligned views of one scene.

    Attributes:
        views: RGB float32 [H, W, 3] images in [0, 1], all the same size, pixel-aligned.
        modalities: the Modality of each view.
        name: where it came from (for analysis).
    """

    views: tuple[np.ndarray, ...]
    modalities: tuple[Modality, ...]
    name: str


def as_rgb_float(image: np.ndarray) -> np.ndarray:
    """RGB float32 [H, W, 3] in [0, 1] from any image array read by :func:`read_image`."""
    image = to_float(image)
    if image.ndim == 2:
        image = cv2.merge([image, image, image])
    elif image.shape[2] == 4:
        image = image[..., :3]
    return np.ascontiguousarray(image, dtype=np.float32)


class _Cache:
    """A small least-recently-used cache of decoded images (per worker process)."""

    def __init__(self, size: int):
        self.size, self.items = size, OrderedDict()

    def get(self, key, load):
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        value = load()
        if self.size > 0:
            self.items[key] = value
            if len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


class FolderSource:
    """Every image file under a folder (recursively), as visible views."""

    def __init__(self, root: str | Path, cache_size: int = 512, min_size: int = 64):
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(str(root), "is not a folder of images")
        self.files = sorted(
            p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
        if not self.files:
            raise InputError(str(root), "contains no images (png, jpg, tif, bmp)")
        self.min_size = min_size
        self._cache = _Cache(cache_size)

    def __len__(self) -> int:
        return len(self.files)

    def get(self, index: int, rng: np.random.Generator) -> SourceItem:
        path = self.files[index]
        image = self._cache.get(index, lambda: as_rgb_float(read_image(path)))
        return SourceItem((image,), (Modality.VISIBLE,), str(path))


def _modality(value: str) -> Modality:
    try:
        return Modality(value)
    except ValueError:
        return Modality.UNKNOWN


class AlignedPairSource:
    """The pre-aligned pairs (H = identity) of a set in the layout of ../shared/data.

    Args:
        split: "train" (default), "validation" (the seeded held-out ``holdout`` fraction) or
            "all". Training never sees the validation pairs of the same fraction and seed.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        holdout_fraction: float = 0.2,
        seed: int = 0,
        cache_size: int = 512,
    ):
        pairs = [p for p in read_set(root) if p.pre_aligned]
        if not pairs:
            raise InputError(str(root), "has no pre-aligned pairs (H = identity) to train on")
        if split not in ("train", "validation", "all"):
            raise InputError(str(root), f"unknown split {split!r}", "use train, validation or all")
        if split != "all":
            train, validation = holdout(pairs, holdout_fraction, seed)
            pairs = train if split == "train" else validation
        self.pairs = pairs
        self._cache = _Cache(cache_size)

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self, pair: Pair) -> tuple[np.ndarray, np.ndarray]:
        fixed = as_rgb_float(read_image(pair.fixed))
        moving = as_rgb_float(read_image(pair.moving))
        if moving.shape != fixed.shape:
            moving = cv2.resize(moving, (fixed.shape[1], fixed.shape[0]))
        return fixed, moving

    def get(self, index: int, rng: np.random.Generator) -> SourceItem:
        pair = self.pairs[index]
        views = self._cache.get(index, lambda: self._load(pair))
        modalities = (_modality(pair.modality_fixed), _modality(pair.modality_moving))
        return SourceItem(views, modalities, pair.key)


class ProceduralSource:
    """Scenes drawn on demand (shapes, lines, textures, terrain, streets).

    Args:
        size: side of the drawn scenes, px.
        count: number of distinct scenes (an index picks the scene's seed); each is
            reused under many warps and modalities.
        scenes: which families to draw.
        cache_size: scenes kept in memory once drawn (drawing costs 10-100 ms).
    """

    def __init__(
        self,
        size: int = 384,
        count: int = 5000,
        scenes: tuple[str, ...] = (),
        cache_size: int = 1024,
    ):
        self.size, self.count = size, count
        self._cache = _Cache(cache_size)
        self.scenes = scenes or tuple(SCENES)
        unknown = set(self.scenes) - set(SCENES)
        if unknown:
            raise InputError("procedural source", f"unknown scene(s) {sorted(unknown)}")

    def __len__(self) -> int:
        return self.count

    def get(self, index: int, rng: np.random.Generator) -> SourceItem:
        scene = self.scenes[index % len(self.scenes)]
        image = self._cache.get(
            index, lambda: SCENES[scene](self.size, np.random.default_rng([index, 7]))
        )
        return SourceItem((image,), (Modality.VISIBLE,), f"procedural/{scene}/{index}")
