"""The learned cross-modal matcher, module tier: ``model(batch) -> dict``.

Stages: (1) backbone, (2) modality injection, (3) cross-image interaction, (4) coarse
matching and fine refinement. Inputs ``image0``, ``image1``: [B, C, H, W] in [0, 1] (the
two sides may differ in size and channels). The input dict is never modified.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .backbone import Backbone, BackboneConfig, load_backbone
from .interaction import FiLM, Interaction, ModalityEncoder
from .matching import cell_centres, coarse_matching, refine, valid_cells


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and matching thresholds (stored with every checkpoint).

    Attributes:
        backbone: stage 1 and its initial weights.
        dim: width of the coarse tokens.
        heads, prompts, layers: interaction attention heads, prompt tokens, self/cross pairs.
        modality_embedding: size of the modality embedding injected into the other image.
        modalities: outputs of the auxiliary modality classifier.
        fine_dim: width of the fine features.
        coarse_temperature, coarse_threshold: dual-softmax temperature, match threshold.
        fine_radius, fine_temperature: search window (fine cells each side), softmax temperature.
    """

    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    dim: int = 128
    heads: int = 4
    prompts: int = 16
    layers: int = 2
    modality_embedding: int = 32
    modalities: int = 16
    fine_dim: int = 32
    coarse_temperature: float = 0.1
    coarse_threshold: float = 0.2
    fine_radius: int = 2
    fine_temperature: float = 0.1


class CrossModalMatcher(nn.Module):
    """Detector-free matcher; see the module docstring for inputs and :meth:`forward`."""

    def __init__(self, config: ModelConfig | None = None, pretrained_backbone: bool = True):
        super().__init__()
        self.config = c = config or ModelConfig()
        self.backbone = load_backbone(c.backbone) if pretrained_backbone else Backbone(c.backbone)
        self.coarse_projection = nn.Conv2d(64, c.dim, 1)
        self.fine_projection = nn.Conv2d(24, c.fine_dim, 1)
        self.modality = ModalityEncoder(c.dim, c.modality_embedding, c.modalities)
        self.inject = FiLM(c.modality_embedding, c.dim)
        self.interaction = Interaction(c.dim, c.heads, c.prompts, c.layers)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Returns:
        keypoints0, keypoints1: [M, 2] (x, y) in input pixels; confidence: [M];
        batch_indexes: [M]; training extras: coarse_confidence [B, N0, N1] (training mode),
        coarse_index0/1 [M], modality_logits0/1 [B, K], coarse_features0/1 [B, dim, h, w]
        (before interaction, for distillation), fine_spread [M] (px).
        """
        c = self.config
        image0, image1 = batch["image0"], batch["image1"]
        # 1. backbone: coarse (1/8) and fine (1/4) features of each image
        coarse0, fine0 = self.backbone(image0)
        coarse1, fine1 = self.backbone(image1)
        coarse0, coarse1 = self.coarse_projection(coarse0), self.coarse_projection(coarse1)
        fine0, fine1 = self.fine_projection(fine0), self.fine_projection(fine1)
        grid0, grid1 = tuple(coarse0.shape[-2:]), tuple(coarse1.shape[-2:])
        # 2. modality injection: each image's modality modulates the other's features
        embedding0, logits0 = self.modality(coarse0)
        embedding1, logits1 = self.modality(coarse1)
        tokens0 = self.inject(coarse0.flatten(2).transpose(1, 2), embedding1)
        tokens1 = self.inject(coarse1.flatten(2).transpose(1, 2), embedding0)
        # 3. cross-image interaction
        tokens0, tokens1 = self.interaction(tokens0, tokens1)
        # 4a. coarse matching, padded cells excluded
        valid0 = valid_cells(grid0, tuple(image0.shape[-2:]))
        valid1 = valid_cells(grid1, tuple(image1.shape[-2:]))
        batch_indexes, index0, index1, scores, confidence = coarse_matching(
            tokens0, tokens1, valid0, valid1, c.coarse_temperature, c.coarse_threshold,
            dense=self.training,
        )  # fmt: skip
        # 4b. fine refinement of the image-1 position of each coarse match
        keypoints0 = cell_centres(*grid0)[index0]
        keypoints1, spread = refine(
            fine0, fine1, batch_indexes, keypoints0, cell_centres(*grid1)[index1],
            c.fine_radius, c.fine_temperature,
        )  # fmt: skip
        height1, width1 = image1.shape[-2:]
        limit = torch.tensor([width1 - 0.5, height1 - 0.5])
        keypoints1 = torch.maximum(torch.minimum(keypoints1, limit), torch.tensor(-0.5))
        out = {
            "keypoints0": keypoints0, "keypoints1": keypoints1, "confidence": scores,
            "batch_indexes": batch_indexes,
            "coarse_index0": index0, "coarse_index1": index1,
            "modality_logits0": logits0, "modality_logits1": logits1,
            "coarse_features0": coarse0, "coarse_features1": coarse1, "fine_spread": spread,
        }  # fmt: skip
        if confidence is not None:
            out["coarse_confidence"] = confidence
        return out
