"""Losses of the learned matcher and the ground truth they need.

Ground truth comes from the synthetic engine: ``correspondence_1to0`` ([B, H1, W1, 2],
fixed-image position of every moving pixel), ``covisible1`` ([B, H1, W1]) and ``H_1to0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..models.matching import COARSE, cell_centres


@dataclass(frozen=True)
class LossConfig:
    """Weights of the loss terms and the focal-loss shape.

    Attributes:
        coarse, fine, distill, modality: weights of the four terms.
        focal_alpha, focal_gamma: focal loss on the dual-softmax confidence (LoFTR).
    """

    coarse: float = 1.0
    fine: float = 1.0
    distill: float = 0.5
    modality: float = 0.1
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0


def _sample(values: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of [B, H, W, C] at [B, N, 2] pixel positions: [B, N, C]."""
    height, width = values.shape[1:3]
    scale = points.new_tensor([width - 1, height - 1])
    grid = (points / scale * 2 - 1)[:, :, None]
    out = F.grid_sample(values.permute(0, 3, 1, 2), grid, mode="bilinear", align_corners=True)
    return out[..., 0].transpose(1, 2)


def coarse_ground_truth(
    correspondence_1to0: torch.Tensor,
    covisible1: torch.Tensor,
    grid0: tuple[int, int],
    grid1: tuple[int, int],
    size0: tuple[int, int],
) -> torch.Tensor:
    """[B, N0, N1] bool: cell j of image 1 matches the image-0 cell its centre lands in.

    Args:
        correspondence_1to0: [B, H1, W1, 2]; covisible1: [B, H1, W1].
        grid0, grid1: (rows, columns) of the coarse grids; size0: (H0, W0) of image 0.
    """
    batch, height1, width1 = covisible1.shape
    centres1 = cell_centres(*grid1, device=covisible1.device)
    limit = centres1.new_tensor([width1 - 1, height1 - 1])
    inside1 = (centres1 <= limit).all(dim=1)
    points = centres1.clamp(max=limit)[None].expand(batch, -1, -1)
    landing = _sample(correspondence_1to0.float(), points)  # [B, N1, 2]
    visible = _sample(covisible1[..., None].float(), points)[..., 0] > 0.999
    height0, width0 = size0
    x, y = landing[..., 0], landing[..., 1]
    valid = visible & inside1[None] & (x >= 0) & (y >= 0) & (x <= width0 - 1) & (y <= height0 - 1)
    row, column = (torch.div(v, COARSE, rounding_mode="floor").long() for v in (y, x))
    cell0 = (row * grid0[1] + column).clamp(0, grid0[0] * grid0[1] - 1)
    truth = torch.zeros(
        batch, grid0[0] * grid0[1], len(centres1), dtype=torch.bool, device=covisible1.device
    )
    b, j = valid.nonzero(as_tuple=True)
    truth[b, cell0[b, j], j] = True
    return truth


def coarse_loss(confidence: torch.Tensor, truth: torch.Tensor, config: LossConfig) -> torch.Tensor:
    """Focal loss of the [B, N0, N1] dual-softmax confidence: positives and negatives
    averaged separately, then summed."""
    p = confidence.clamp(1e-6, 1 - 1e-6)
    alpha, gamma = config.focal_alpha, config.focal_gamma
    positive = -alpha * (1 - p[truth]) ** gamma * p[truth].log()
    negative = -(1 - alpha) * p[~truth] ** gamma * (1 - p[~truth]).log()
    loss = negative.mean() if negative.numel() else confidence.sum() * 0
    return loss + (positive.mean() if positive.numel() else 0)


def fine_targets(
    H_1to0: torch.Tensor, batch_indexes: torch.Tensor, keypoints0: torch.Tensor
) -> torch.Tensor:
    """[M, 2] exact image-1 positions of image-0 keypoints, from the pairs' [B, 3, 3] H_1to0."""
    H_0to1 = torch.linalg.inv(H_1to0.double())[batch_indexes]
    points = torch.cat(
        [keypoints0.double(), keypoints0.new_ones(len(keypoints0), 1, dtype=torch.float64)], 1
    )
    mapped = (H_0to1 @ points[:, :, None])[..., 0]
    return (mapped[:, :2] / mapped[:, 2:]).to(keypoints0.dtype)


def fine_loss(predicted: torch.Tensor, target: torch.Tensor, radius_px: float) -> torch.Tensor:
    """Mean L2 error in units of the search radius, over matches whose target lies inside
    the search window (others cannot be reached by the fine stage)."""
    error = (predicted - target).norm(dim=-1) / radius_px
    reachable = error <= 1.5
    return error[reachable].mean() if reachable.any() else predicted.sum() * 0


def distillation_loss(
    student: torch.Tensor, teacher: torch.Tensor, projection: torch.nn.Module
) -> torch.Tensor:
    """1 − cosine between projected student features [B, D, h, w] and teacher features
    [B, Dt, ht, wt] resized to the student grid; the teacher gets no gradient."""
    projected = projection(student)
    target = F.interpolate(teacher.detach().float(), size=projected.shape[-2:], mode="bilinear")
    return (1 - F.cosine_similarity(projected, target, dim=1)).mean()
