"""A compact, fully convolutional visible -> pseudo-infrared generator and a patch critic.

Generator: a light U-Net (3×3 convolutions, GroupNorm, SiLU): a stride-``stem_stride`` stem,
``depth`` stride-2 stages, residual blocks at the bottleneck, a decoder that reduces
channels before upsampling, and an output at the stem's resolution upsampled bilinearly
(infrared images carry little fine texture). Any input size works (reflect-padded to a
multiple of stem_stride·2**depth, cropped back). About 1 GFLOP per 256×256 image.
Discriminator: a PatchGAN on (visible, infrared) judging
overlapping patches, as in pix2pix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class TranslatorConfig:
    """Architecture of the generator.

    Attributes:
        width: channels after the stem (doubled at each stage).
        stem_stride: 1 (work at full resolution) or 2 (at half resolution).
        depth: number of stride-2 stages after the stem.
        residual_blocks: residual blocks at the bottleneck.
        in_channels: input channels (RGB; gray input is repeated).
        out_channels: output channels (1: infrared intensity).
    """

    width: int = 16
    stem_stride: int = 2
    depth: int = 3
    residual_blocks: int = 2
    in_channels: int = 3
    out_channels: int = 1


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
        nn.GroupNorm(min(8, cout // 4), cout),
        nn.SiLU(inplace=True),
    )


class _Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(_conv(channels, channels), _conv(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Translator(nn.Module):
    """Visible [B, 3, H, W] in [0, 1] -> pseudo-infrared [B, 1, H, W] in [0, 1]."""

    def __init__(self, config: TranslatorConfig | None = None):
        super().__init__()
        self.config = c = config or TranslatorConfig()
        widths = [c.width * 2**i for i in range(c.depth + 1)]
        self.stem = _conv(c.in_channels, widths[0], c.stem_stride)
        self.down = nn.ModuleList(
            nn.Sequential(_conv(widths[i], widths[i + 1], 2), _conv(widths[i + 1], widths[i + 1]))
            for i in range(c.depth)
        )
        self.bottleneck = nn.Sequential(*(_Residual(widths[-1]) for _ in range(c.residual_blocks)))
        self.reduce = nn.ModuleList(_conv(widths[i + 1], widths[i]) for i in range(c.depth))
        self.fuse = nn.ModuleList(_conv(2 * widths[i], widths[i]) for i in range(c.depth))
        self.head = nn.Conv2d(widths[0], c.out_channels, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        multiple = self.config.stem_stride * 2**self.config.depth
        pad_h, pad_w = (-height) % multiple, (-width) % multiple
        mode = "reflect" if min(height, width) > max(pad_h, pad_w) else "replicate"
        x = F.pad(image, (0, pad_w, 0, pad_h), mode=mode)
        # 1. encoder, keeping the skips
        skips = [self.stem(x)]
        for stage in self.down:
            skips.append(stage(skips[-1]))
        # 2. bottleneck
        x = self.bottleneck(skips.pop())
        # 3. decoder: reduce channels, upsample, fuse with the skip of the same scale
        for i in reversed(range(self.config.depth)):
            skip = skips.pop()
            x = F.interpolate(self.reduce[i](x), size=skip.shape[-2:], mode="bilinear")
            x = self.fuse[i](torch.cat([x, skip], dim=1))
        # 4. output at the padded input size, in [0, 1], cropped to the input size
        x = self.head(x)
        padded = (height + pad_h, width + pad_w)
        if tuple(x.shape[-2:]) != padded:
            x = F.interpolate(x, size=padded, mode="bilinear")
        return torch.sigmoid(x)[..., :height, :width]


class PatchDiscriminator(nn.Module):
    """(visible [B, 3, H, W], infrared [B, 1, H, W]) -> [B, 1, H/4, W/4] realness logits."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(4, width, 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False),
            nn.GroupNorm(8, 2 * width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * width, 4 * width, 3, 1, 1, bias=False),
            nn.GroupNorm(8, 4 * width),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4 * width, 1, 3, 1, 1),
        )

    def forward(self, visible: torch.Tensor, infrared: torch.Tensor) -> torch.Tensor:
        return self.layers(torch.cat([visible, infrared], dim=1))
