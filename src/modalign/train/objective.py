"""The training objective of one batch: matching losses, distillation, modality labels."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..losses import (
    LossConfig,
    coarse_ground_truth,
    coarse_loss,
    distillation_loss,
    fine_loss,
    fine_targets,
)
from ..models.matching import FINE


def batch_losses(
    output: dict[str, torch.Tensor],
    batch: dict[str, torch.Tensor],
    config: LossConfig,
    radius: int,
    teacher: tuple[torch.Tensor, torch.Tensor] | None = None,
    projection: torch.nn.Module | None = None,
) -> dict[str, torch.Tensor]:
    """Loss terms and their weighted sum ("total") for a model output on a synthetic batch.

    Args:
        output: :class:`~modalign.models.CrossModalMatcher` output.
        batch: image0, image1, correspondence_1to0, covisible1, H_1to0, modality0/1.
        radius: the model's fine search radius in fine cells.
        teacher: frozen teacher features of image 0 and image 1 ([B, Dt, ht, wt]), with the
            student-to-teacher ``projection``; None skips distillation.
    """
    grid0 = tuple(output["coarse_features0"].shape[-2:])
    grid1 = tuple(output["coarse_features1"].shape[-2:])
    truth = coarse_ground_truth(
        batch["correspondence_1to0"], batch["covisible1"], grid0, grid1,
        tuple(batch["image0"].shape[-2:]),
    )  # fmt: skip
    terms = {"coarse": coarse_loss(output["coarse_confidence"], truth, config)}
    target = fine_targets(batch["H_1to0"], output["batch_indexes"], output["keypoints0"])
    terms["fine"] = fine_loss(output["keypoints1"], target, radius * FINE)
    terms["modality"] = 0.5 * (
        F.cross_entropy(output["modality_logits0"], batch["modality0"])
        + F.cross_entropy(output["modality_logits1"], batch["modality1"])
    )
    if teacher is not None and projection is not None:
        terms["distill"] = 0.5 * (
            distillation_loss(output["coarse_features0"], teacher[0], projection)
            + distillation_loss(output["coarse_features1"], teacher[1], projection)
        )
    weights = {"coarse": config.coarse, "fine": config.fine, "modality": config.modality,
               "distill": config.distill}  # fmt: skip
    terms["total"] = sum(weights[name] * value for name, value in terms.items())
    return terms
