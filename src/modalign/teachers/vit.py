"""Vision-transformer teachers (DINOv2, DINOv3 via ``transformers``).

Built from a local checkpoint folder (``local_files_only``, never a download) or, when
``source`` is not a folder and ``allow_download`` is set, from the Hugging Face hub.
Features: the last layer's patch tokens [B, D, H/p, W/p]. Tests build tiny random
teachers from configs.
"""

from __future__ import annotations

import torch

from ..errors import ConfigError
from .base import FrozenTeacher, TeacherConfig, imagenet_normalised, is_local


class Teacher(FrozenTeacher):
    """A frozen ViT giving [B, D, h, w] patch features (no register / class tokens)."""

    def __init__(self, model: torch.nn.Module, config: TeacherConfig):
        super().__init__(model, config, int(model.config.patch_size))
        self.skip = 1 + int(getattr(model.config, "num_register_tokens", 0) or 0)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        tokens = self.model(pixel_values=imagenet_normalised(images)).last_hidden_state
        h, w = images.shape[-2] // self.stride, images.shape[-1] // self.stride
        return tokens[:, self.skip :].transpose(1, 2).reshape(len(images), -1, h, w)


def _classes(kind: str):
    import transformers

    if kind == "dinov2":
        return transformers.Dinov2Config, transformers.Dinov2Model
    if kind == "dinov3":
        return transformers.DINOv3ViTConfig, transformers.DINOv3ViTModel
    raise ConfigError(f"teacher.kind: {kind!r} is not dinov2 or dinov3")


def load_vit_teacher(config: TeacherConfig) -> Teacher:
    """A DINOv2 / DINOv3 teacher from a local folder or (allowed) hub name, frozen."""
    _, model_class = _classes(config.kind)
    model = model_class.from_pretrained(config.source, local_files_only=is_local(config))
    return Teacher(model, config)


def random_vit_teacher(kind: str = "dinov2", **sizes) -> Teacher:
    """A tiny randomly initialised teacher (tests, dry runs): no files, no download."""
    config_class, model_class = _classes(kind)
    defaults = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64, patch_size=8, image_size=64)  # fmt: skip
    model = model_class(config_class(**{**defaults, **sizes}))
    return Teacher(model, TeacherConfig(kind=kind, source="random", resolution=64))
