"""On-disk cache of a teacher's features for a source set (computed once per image)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from .base import FrozenTeacher


class FeatureCache:
    """Teacher features of source images on disk, keyed by (teacher, image bytes)."""

    def __init__(self, folder: str | Path, teacher: FrozenTeacher, tag: str):
        self.folder, self.teacher, self.tag = Path(folder), teacher, tag

    def features(self, image: torch.Tensor) -> torch.Tensor:
        """[C, H, W] image -> [D, h, w] features, computed once and then read from disk."""
        digest = hashlib.sha256(image.float().contiguous().numpy().tobytes()).hexdigest()[:24]
        path = self.folder / self.tag / f"{digest}.pt"
        if path.is_file():
            return torch.load(path, weights_only=True)
        features = self.teacher(image[None])[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        torch.save(features, partial)
        partial.replace(path)
        return features
