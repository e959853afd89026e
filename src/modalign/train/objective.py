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
from ..models.matching import COARSE, FINE, cell_centres, refine


def fine_on_truth(
    output: dict[str, torch.Tensor], H_1to0: torch.Tensor, truth: torch.Tensor,
    grid0: tuple[int, int], grid1: tuple[int, int], fine: tuple[int, float],
    max_points: int = 2048,
) -> torch.Tensor:  # fmt: skip
    """Fine loss on ground-truth coarse matches (as LoFTR trains its fine stage), so the
    fine stage learns before the coarse stage is confident: for up to ``max_points``
    image-0 cells with a true match, refine from the centre of the image-1 cell holding
    the exact position and compare with that position."""
    batch, cell0, _ = truth.nonzero(as_tuple=True)
    if len(batch) > max_points:
        keep = torch.randperm(len(batch), generator=torch.Generator().manual_seed(0))
        keep = keep.to(batch.device)
        batch, cell0 = batch[keep[:max_points]], cell0[keep[:max_points]]
    points0 = cell_centres(*grid0, device=cell0.device)[cell0]
    target = fine_targets(H_1to0, batch, points0)
    column = torch.div(target[:, 0], COARSE, rounding_mode="floor").clamp(0, grid1[1] - 1)
    row = torch.div(target[:, 1], COARSE, rounding_mode="floor").clamp(0, grid1[0] - 1)
    start = torch.stack([column, row], dim=1) * COARSE + (COARSE - 1) / 2
    radius, temperature = fine
    predicted, _ = refine(output["fine0"], output["fine1"], batch, points0, start, radius,
                          temperature)  # fmt: skip
    return fine_loss(predicted, target, radius * FINE)


def batch_losses(
    output: dict[str, torch.Tensor],
    batch: dict[str, torch.Tensor],
    config: LossConfig,
    fine: tuple[int, float],
    teacher: tuple[torch.Tensor, torch.Tensor] | None = None,
    projection: torch.nn.Module | None = None,
) -> dict[str, torch.Tensor]:
    """Loss terms and their weighted sum ("total") for a model output on a synthetic batch.

    Args:
        output: :class:`~modalign.models.CrossModalMatcher` output.
        batch: image0, image1, correspondence_1to0, covisible1, H_1to0, modality0/1.
        fine: the model's fine search radius (fine cells) and softmax temperature.
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
    terms["fine"] = fine_on_truth(output, batch["H_1to0"], truth, grid0, grid1, fine)
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
