"""The learned cross-modal matcher, module tier: ``model(batch) -> dict``.

Stages: (1) backbone, (2) modality injection, (3) cross-image interaction, (4) coarse
matching and fine refinement. Inputs ``image0``, ``image1``: [B, C, H, W] in [0, 1] (the
two sides may differ in size and channels). The input dict is never modified.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .backbone import BACKBONE_DIM, Backbone, BackboneConfig, load_backbone
from .interaction import FiLM, Interaction, ModalityEncoder
from .matching import cell_positions, coarse_matching, refine, valid_cells


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
        match_dim: width of the descriptors compared by the coarse matcher.
        descriptor_skip: the match descriptor is the backbone's own (L2-normalised) coarse
            descriptor plus a learned, per-channel gated (initially 0) correction from the
            interaction tokens, so training starts from the pretrained backbone's matching
            and only has to learn what crosses modalities; needs ``match_dim`` 64.
        coarse_temperature, coarse_threshold: dual-softmax temperature and the confidence a
            match needs (0: every mutual match among the ``max_matches`` most confident;
            the dual-softmax confidence shrinks with the number of cells, so a threshold
            tuned at training size is too strict at 640 px).
        max_matches: at most this many coarse matches (the most confident) per pair.
        fine_radius, fine_temperature: search window (fine cells each side), softmax temperature.
    """

    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    dim: int = 96
    heads: int = 4
    prompts: int = 16
    layers: int = 2
    modality_embedding: int = 32
    modalities: int = 16
    fine_dim: int = 32
    match_dim: int = 64
    descriptor_skip: bool = True
    coarse_temperature: float = 0.1
    coarse_threshold: float = 0.0
    max_matches: int = 2048
    fine_radius: int = 2
    fine_temperature: float = 0.1

    def __post_init__(self):
        # the coarse matcher exponentiates cos / temperature - 1 / temperature in float32
        if not 0.025 <= self.coarse_temperature <= 1:
            raise ConfigError(f"coarse_temperature: {self.coarse_temperature} is not in [0.025, 1]")
        if self.descriptor_skip and self.match_dim != BACKBONE_DIM:
            raise ConfigError(
                f"descriptor_skip needs match_dim {BACKBONE_DIM}, not {self.match_dim}"
            )


class CrossModalMatcher(nn.Module):
    """Detector-free matcher; see the module docstring for inputs and :meth:`forward`."""

    def __init__(self, config: ModelConfig | None = None, pretrained_backbone: bool = True):
        super().__init__()
        self.config = c = config or ModelConfig()
        self.backbone = load_backbone(c.backbone) if pretrained_backbone else Backbone(c.backbone)
        self.coarse_projection = nn.Conv2d(BACKBONE_DIM, c.dim, 1)
        self.fine_projection = nn.Conv2d(24, c.fine_dim, 1)
        self.modality = ModalityEncoder(c.dim, c.modality_embedding, c.modalities)
        self.inject = FiLM(c.modality_embedding, c.dim)
        self.interaction = Interaction(c.dim, c.heads, c.prompts, c.layers)
        self.match_projection = nn.Linear(c.dim, c.match_dim)
        if c.descriptor_skip:
            self.match_gate = nn.Parameter(torch.zeros(c.match_dim))

    def encode(self, image0: torch.Tensor, image1: torch.Tensor) -> dict[str, torch.Tensor]:
        """Stages 1-3: conditioned coarse descriptors [B, N, match_dim] and fine maps."""
        # 1. backbone: coarse (1/8) and fine (1/4) features of each image
        c = self.config
        raw0, fine0 = self.backbone(image0)
        raw1, fine1 = self.backbone(image1)
        coarse0, coarse1 = self.coarse_projection(raw0), self.coarse_projection(raw1)
        # 2. modality injection: each image's modality modulates the other's features
        embedding0, logits0 = self.modality(coarse0)
        embedding1, logits1 = self.modality(coarse1)
        tokens0 = self.inject(coarse0.flatten(2).transpose(1, 2), embedding1)
        tokens1 = self.inject(coarse1.flatten(2).transpose(1, 2), embedding0)
        # 3. cross-image interaction
        tokens0, tokens1 = self.interaction(tokens0, tokens1)
        match0, match1 = self.match_projection(tokens0), self.match_projection(tokens1)
        if c.descriptor_skip:
            match0 = self.match_gate * match0 + F.normalize(raw0.flatten(2).transpose(1, 2), dim=-1)
            match1 = self.match_gate * match1 + F.normalize(raw1.flatten(2).transpose(1, 2), dim=-1)
        return {
            "tokens0": match0, "tokens1": match1,
            "fine0": self.fine_projection(fine0), "fine1": self.fine_projection(fine1),
            "coarse_features0": coarse0, "coarse_features1": coarse1,
            "modality_logits0": logits0, "modality_logits1": logits1,
        }  # fmt: skip

    def forward(
        self, batch: dict[str, torch.Tensor], threshold: float | None = None
    ) -> dict[str, torch.Tensor]:
        """``threshold`` overrides the config's coarse threshold. Returns:
        keypoints0, keypoints1: [M, 2] (x, y) in input pixels; confidence: [M];
        batch_indexes: [M]; training extras: coarse_confidence [B, N0, N1] and fine0/1
        [B, fine_dim, H/4, W/4] (training mode),
        coarse_index0/1 [M], modality_logits0/1 [B, K], coarse_features0/1 [B, dim, h, w]
        (before interaction, for distillation), fine_spread [M] (px).
        """
        c = self.config
        image0, image1 = batch["image0"], batch["image1"]
        encoded = self.encode(image0, image1)
        grid0 = tuple(encoded["coarse_features0"].shape[-2:])
        grid1 = tuple(encoded["coarse_features1"].shape[-2:])
        # 4a. coarse matching, padded cells excluded
        device = image0.device
        valid0 = valid_cells(grid0, tuple(image0.shape[-2:]), device)
        valid1 = valid_cells(grid1, tuple(image1.shape[-2:]), device)
        batch_indexes, index0, index1, scores, confidence = coarse_matching(
            encoded["tokens0"], encoded["tokens1"], valid0, valid1, c.coarse_temperature,
            c.coarse_threshold if threshold is None else threshold, self.training, c.max_matches,
        )  # fmt: skip
        # 4b. fine refinement of the image-1 position of each coarse match
        keypoints0 = cell_positions(index0, grid0[1])
        keypoints1, spread = refine(
            encoded["fine0"], encoded["fine1"], batch_indexes, keypoints0,
            cell_positions(index1, grid1[1]), c.fine_radius, c.fine_temperature,
        )  # fmt: skip
        out = {
            "keypoints0": keypoints0,
            "keypoints1": clamp_to_image(keypoints1, tuple(image1.shape[-2:])),
            "confidence": scores, "batch_indexes": batch_indexes,
            "coarse_index0": index0, "coarse_index1": index1, "fine_spread": spread,
            **{k: encoded[k] for k in ("modality_logits0", "modality_logits1",
                                       "coarse_features0", "coarse_features1")},
        }  # fmt: skip
        if confidence is not None:
            out["coarse_confidence"] = confidence
            out["fine0"], out["fine1"] = encoded["fine0"], encoded["fine1"]
        return out


def clamp_to_image(points: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[M, 2] pixel positions clamped to the image of ``size`` = (height, width)."""
    # per axis with the (symbolic when exported) sizes: new_tensor(size) would freeze them
    x = points[:, 0].clamp_min(-0.5).clamp_max(size[1] - 0.5)
    y = points[:, 1].clamp_min(-0.5).clamp_max(size[0] - 0.5)
    return torch.stack([x, y], dim=-1)
