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


def coarse_matching(
    tokens0: torch.Tensor, tokens1: torch.Tensor, valid0: torch.Tensor, valid1: torch.Tensor,
    temperature: float, threshold: float, dense: bool,
) -> tuple[torch.Tensor, ...]:  # fmt: skip
    """Dual-softmax mutual nearest neighbours of [B, N, D] cell tokens over the valid cells.

    The dual-softmax confidence ``softmax_0(S) · softmax_1(S)`` is computed in log space
    from one similarity matrix; mutual maxima come from two argmaxes, so no dense mask is
    built. Returns (batch, index0, index1, score) of the matches above ``threshold`` and,
    if ``dense``, the [B, N0, N1] confidence (0 at invalid cells) for the training loss.
    """
    cells0, cells1 = valid0.nonzero()[:, 0], valid1.nonzero()[:, 0]
    scale = tokens0.shape[-1] ** -0.5 / temperature
    similarity = torch.einsum("bnd,bmd->bnm", tokens0[:, cells0], tokens1[:, cells1]) * scale
    log_confidence = (
        2 * similarity - similarity.logsumexp(dim=1, keepdim=True)
        - similarity.logsumexp(dim=2, keepdim=True)
    )  # fmt: skip
    best1, best0 = log_confidence.argmax(dim=2), log_confidence.argmax(dim=1)
    mutual = best0.gather(1, best1) == torch.arange(len(cells0))
    scores = log_confidence.gather(2, best1[..., None])[..., 0].exp()
    batch, row = (mutual & (scores > threshold)).nonzero(as_tuple=True)
    matches = (batch, cells0[row], cells1[best1[batch, row]], scores[batch, row])
    if not dense:
        return (*matches, None)
    confidence = tokens0.new_zeros(len(tokens0), tokens0.shape[1], tokens1.shape[1])
    confidence[:, cells0[:, None], cells1[None, :]] = log_confidence.exp()
    return (*matches, confidence)


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
