"""Vision-transformer teachers (DINOv2, DINOv3) behind one frozen interface.

``load_teacher(TeacherConfig(kind="dinov2", source=DIR_OR_NAME))`` builds the model from a
local checkpoint folder (``local_files_only``, never a download) or, when ``source`` is not
a folder and ``allow_download`` is set, from the Hugging Face hub. ``Teacher`` returns patch
features [B, D, H/p, W/p] of ImageNet-normalised images and is frozen: no gradients, eval
mode, and it is never part of the student's state dict (it is not an ``nn.Module`` child
of the student; the training loop owns it). Tests build tiny random teachers from configs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import ConfigError, InputError

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@dataclass(frozen=True)
class TeacherConfig:
    """Attributes:
    kind: "dinov2" or "dinov3".
    source: checkpoint folder (config.json + weights) or hub model name.
    allow_download: permit fetching ``source`` from the hub when it is not a folder.
    resolution: longer side the teacher sees (rounded to a multiple of the patch size).
    """

    kind: str = "dinov2"
    source: str = ""
    allow_download: bool = False
    resolution: int = 448


class Teacher:
    """A frozen ViT giving [B, D, h, w] patch features (no register / class tokens)."""

    def __init__(self, model: torch.nn.Module, config: TeacherConfig):
        self.model, self.config = model.eval().requires_grad_(False), config
        self.patch = int(model.config.patch_size)
        self.skip = 1 + int(getattr(model.config, "num_register_tokens", 0) or 0)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """images: [B, C, H, W] in [0, 1] (gray repeated to RGB) -> [B, D, h, w]."""
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        height, width = images.shape[-2:]
        scale = self.config.resolution / max(height, width)
        size = [
            max(self.patch, round(s * scale / self.patch) * self.patch) for s in (height, width)
        ]
        x = F.interpolate(images[:, :3].float(), size=size, mode="bilinear", antialias=True)
        tokens = self.model(pixel_values=(x - MEAN) / STD).last_hidden_state[:, self.skip :]
        h, w = size[0] // self.patch, size[1] // self.patch
        return tokens.transpose(1, 2).reshape(len(images), -1, h, w)


def _classes(kind: str):
    import transformers

    if kind == "dinov2":
        return transformers.Dinov2Config, transformers.Dinov2Model
    if kind == "dinov3":
        return transformers.DINOv3ViTConfig, transformers.DINOv3ViTModel
    raise ConfigError(f"teacher.kind: {kind!r} is not dinov2 or dinov3")


def load_teacher(config: TeacherConfig) -> Teacher:
    """The configured teacher, frozen. Raises InputError for a missing local checkpoint."""
    if not config.source:
        raise InputError("teacher.source", "needs a checkpoint folder or a model name")
    _, model_class = _classes(config.kind)
    local = Path(config.source).is_dir()
    if not local and not config.allow_download:
        raise InputError(
            config.source, "is not a checkpoint folder", "set teacher.allow_download=true"
        )
    model = model_class.from_pretrained(config.source, local_files_only=local)
    return Teacher(model, config)


def random_teacher(kind: str = "dinov2", **sizes) -> Teacher:
    """A tiny randomly initialised teacher (tests, dry runs): no files, no download."""
    config_class, model_class = _classes(kind)
    defaults = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64, patch_size=8, image_size=64)  # fmt: skip
    model = model_class(config_class(**{**defaults, **sizes}))
    return Teacher(model, TeacherConfig(kind=kind, source="random", resolution=64))


class FeatureCache:
    """Teacher features of source images on disk, keyed by (teacher, image bytes)."""

    def __init__(self, folder: str | Path, teacher: Teacher, tag: str):
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
