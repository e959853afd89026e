"""Stage 4 of the learned matcher: coarse matching and sub-pixel fine refinement.

Coarse: dual-softmax over the similarity of the two images' cell features, cells whose
centre lies outside the unpadded image masked out, mutual nearest neighbours above a
confidence threshold. Fine: the fine feature at the coarse cell centre of image 0 is
correlated with a window of fine features around the matched cell centre of image 1; the
expectation of the softmax over the window gives the sub-pixel position.
Pixel convention: coarse cell (i, j) is centred at x = 8j + 3.5, y = 8i + 3.5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

COARSE = 8  # pixels per coarse cell
FINE = 4  # pixels per fine cell


def cell_centres(height: int, width: int) -> torch.Tensor:
    """[h·w, 2] (x, y) pixel centres of the coarse cells, row-major."""
    y, x = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    return torch.stack([x, y], dim=-1).reshape(-1, 2).float() * COARSE + (COARSE - 1) / 2


def valid_cells(grid: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """[h·w] bool: cells whose centre lies inside an image of ``size`` = (height, width)."""
    centres = cell_centres(*grid)
    return (centres[:, 0] <= size[1] - 1) & (centres[:, 1] <= size[0] - 1)


def dual_softmax(
    features0: torch.Tensor, features1: torch.Tensor, valid0: torch.Tensor, valid1: torch.Tensor,
    temperature: float,
) -> torch.Tensor:  # fmt: skip
    """[B, N0, N1] matching probabilities of [B, N, D] features (invalid cells get 0)."""
    scale = features0.shape[-1] ** -0.5 / temperature
    similarity = torch.einsum("bnd,bmd->bnm", features0, features1) * scale
    mask = valid0[:, None] & valid1[None, :]
    similarity = similarity.masked_fill(~mask, -1e4)
    confidence = similarity.softmax(dim=1) * similarity.softmax(dim=2)
    return confidence * mask


def mutual_matches(confidence: torch.Tensor, threshold: float) -> tuple[torch.Tensor, ...]:
    """(batch, index0, index1, score) of mutual maxima of [B, N0, N1] above ``threshold``."""
    keep = confidence > threshold
    keep &= confidence == confidence.amax(dim=2, keepdim=True)
    keep &= confidence == confidence.amax(dim=1, keepdim=True)
    batch, index0, index1 = keep.nonzero(as_tuple=True)
    return batch, index0, index1, confidence[batch, index0, index1]


def sample_features(
    features: torch.Tensor, batch: torch.Tensor, points: torch.Tensor
) -> torch.Tensor:
    """Bilinear samples of [B, C, Hf, Wf] fine features at [M, K, 2] pixel positions of the
    padded image (fine cell (u, v) is centred at pixel 4u + 1.5): [M, K, C]."""
    size = torch.tensor([features.shape[-1], features.shape[-2]], dtype=points.dtype) * FINE
    grid = (points + 0.5) / size * 2 - 1
    out = F.grid_sample(features[batch], grid[:, :, None], mode="bilinear", align_corners=False)
    return out[..., 0].transpose(1, 2)


def refine(
    fine0: torch.Tensor, fine1: torch.Tensor, batch: torch.Tensor, points0: torch.Tensor,
    points1: torch.Tensor, radius: int, temperature: float,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Sub-pixel positions in image 1 of ``points0`` ([M, 2]), searched in a (2r+1)² window of
    fine cells around ``points1``. Returns ([M, 2] positions, [M] expected spread in px)."""
    offsets = torch.arange(-radius, radius + 1, dtype=points1.dtype) * FINE
    window = torch.stack(torch.meshgrid(offsets, offsets, indexing="xy"), dim=-1).reshape(-1, 2)
    query = sample_features(fine0, batch, points0[:, None])  # [M, 1, C]
    candidates = sample_features(fine1, batch, points1[:, None] + window)  # [M, K, C]
    scores = (candidates @ query.transpose(1, 2))[..., 0] * query.shape[-1] ** -0.5 / temperature
    probability = scores.softmax(dim=1)
    expected = probability @ window  # [M, 2]
    spread = (probability * ((window[None] - expected[:, None]) ** 2).sum(-1)).sum(-1).sqrt()
    return points1 + expected, spread
