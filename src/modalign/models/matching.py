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


def cell_positions(index: torch.Tensor, width: int) -> torch.Tensor:
    """[M, 2] (x, y) pixel centres of the coarse cells ``index`` (row-major, ``width`` cells a
    row). Arithmetic on the indexes, so an exported graph keeps the grid size symbolic."""
    y = torch.div(index, width, rounding_mode="floor")
    x = index - y * width
    return torch.stack([x, y], dim=-1).float() * COARSE + (COARSE - 1) / 2


def cell_centres(height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """[h·w, 2] (x, y) pixel centres of the coarse cells, row-major."""
    return cell_positions(torch.arange(height * width, device=device), width)


def valid_cells(
    grid: tuple[int, int], size: tuple[int, int], device: torch.device | None = None
) -> torch.Tensor:
    """[h·w] bool: cells whose centre lies inside an image of ``size`` = (height, width)."""
    centres = cell_centres(*grid, device=device)
    return (centres[:, 0] <= size[1] - 1) & (centres[:, 1] <= size[0] - 1)


def coarse_matching(
    tokens0: torch.Tensor, tokens1: torch.Tensor, valid0: torch.Tensor, valid1: torch.Tensor,
    temperature: float, threshold: float, dense: bool, max_matches: int = 2048,
) -> tuple[torch.Tensor, ...]:  # fmt: skip
    """Dual-softmax mutual nearest neighbours of [B, N, D] cell tokens over the valid cells.

    The tokens are L2-normalised, so the similarity ``cos / temperature`` is bounded and the
    dual-softmax confidence ``E² / (rowsum(E) · colsum(E))`` with ``E = exp(similarity)``
    needs one exponential and no log-sum-exp. At inference (``dense`` False) the matches are
    those of :func:`top_coarse_matches` above ``threshold``, the same as the exported graph.
    Returns (batch, index0, index1, score) of the matches and, if ``dense``, the
    [B, N0, N1] confidence (0 at invalid cells) for the training loss.
    """
    if not dense:
        rows, columns, scores = top_coarse_matches(
            tokens0, tokens1, valid0, valid1, temperature, max_matches
        )
        batch, k = (scores > threshold).nonzero(as_tuple=True)
        return batch, rows[batch, k], columns[batch, k], scores[batch, k], None
    cells0, cells1 = valid0.nonzero()[:, 0], valid1.nonzero()[:, 0]
    tokens0 = F.normalize(tokens0[:, cells0].float(), dim=-1)
    tokens1 = F.normalize(tokens1[:, cells1].float(), dim=-1)
    similarity = (tokens0 @ tokens1.transpose(1, 2)).float() / temperature  # fp32 under autocast
    log_confidence = (
        2 * similarity - similarity.logsumexp(dim=1, keepdim=True)
        - similarity.logsumexp(dim=2, keepdim=True)
    )  # fmt: skip
    best1, best0 = log_confidence.argmax(dim=2), log_confidence.argmax(dim=1)
    mutual = best0.gather(1, best1) == torch.arange(len(cells0), device=best0.device)
    scores = log_confidence.gather(2, best1[..., None])[..., 0].exp()
    batch, row = (mutual & (scores > threshold)).nonzero(as_tuple=True)
    confidence = tokens0.new_zeros(len(tokens0), valid0.numel(), valid1.numel())
    confidence[:, cells0[:, None], cells1[None, :]] = log_confidence.exp()
    return batch, cells0[row], cells1[best1[batch, row]], scores[batch, row], confidence


def sample_features(
    features: torch.Tensor, batch: torch.Tensor, points: torch.Tensor
) -> torch.Tensor:
    """Bilinear samples of [B, C, Hf, Wf] fine features at [M, K, 2] pixel positions of the
    padded image (fine cell (u, v) is centred at pixel 4u + 1.5), point m read from map
    ``batch[m]``: [M, K, C]."""
    # per axis with the (symbolic when exported) sizes: torch.tensor(size) would freeze them
    width, height = features.shape[-1] * FINE, features.shape[-2] * FINE
    grid = torch.stack(
        [(points[..., 0] + 0.5) / width * 2 - 1, (points[..., 1] + 0.5) / height * 2 - 1], dim=-1
    )

    def sample(feature_map: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
        out = F.grid_sample(feature_map, where[None], mode="bilinear", align_corners=False)
        return out[0].permute(1, 2, 0)  # [C, M, K] -> [M, K, C]

    if features.shape[0] == 1:
        return sample(features, grid)
    out = grid.new_zeros(*grid.shape[:2], features.shape[1])
    for index in range(features.shape[0]):
        chosen = batch == index
        out[chosen] = sample(features[index : index + 1], grid[chosen])
    return out


def refine(
    fine0: torch.Tensor, fine1: torch.Tensor, batch: torch.Tensor, points0: torch.Tensor,
    points1: torch.Tensor, radius: int, temperature: float,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Sub-pixel positions in image 1 of ``points0`` ([M, 2]), searched in a (2r+1)² window of
    fine cells around ``points1``. Returns ([M, 2] positions, [M] expected spread in px)."""
    offsets = torch.arange(-radius, radius + 1, dtype=points1.dtype, device=points1.device)
    offsets = offsets * FINE
    window = torch.stack(torch.meshgrid(offsets, offsets, indexing="xy"), dim=-1).reshape(-1, 2)
    query = sample_features(fine0, batch, points0[:, None])  # [M, 1, C]
    candidates = sample_features(fine1, batch, points1[:, None] + window)  # [M, K, C]
    scores = (candidates @ query.transpose(1, 2))[..., 0] * query.shape[-1] ** -0.5 / temperature
    probability = scores.softmax(dim=1)
    expected = probability @ window  # [M, 2]
    spread = (probability * ((window[None] - expected[:, None]) ** 2).sum(-1)).sum(-1).sqrt()
    return points1 + expected, spread


def top_coarse_matches(
    tokens0: torch.Tensor, tokens1: torch.Tensor, valid0: torch.Tensor, valid1: torch.Tensor,
    temperature: float, max_matches: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
    """The ``K = min(N0, max_matches)`` best dual-softmax matches with fixed-size outputs (no
    data-dependent shapes, so the same code is exported to ONNX): for the K cells of image 0
    with the highest confidence, the cell [B, K], its best cell of image 1 [B, K] and the
    score [B, K], set to 0 unless the pair is mutual and both cells are valid.

    Every pass over the [N0, N1] matrix runs along its last axis (ONNX Runtime reduces
    other axes several times slower): invalid cells get a -1e4 bias through two extra token
    dimensions, column sums are a matrix-vector product, and the mutual check
    recomputes the K chosen columns as rows of a [K, N0] product. ONNX Runtime's ArgMax is
    about five times slower than its ReduceMax, so only the K chosen rows take an argmax, and
    the mutual check compares with the maximum (a tie counts as mutual)."""
    with torch.autocast(tokens0.device.type, enabled=False):  # exp of a bf16 product is too coarse
        return _top_coarse_matches(
            tokens0.float(), tokens1.float(), valid0, valid1, temperature, max_matches
        )


def _top_coarse_matches(tokens0, tokens1, valid0, valid1, temperature, max_matches):
    batch, cells0 = tokens0.shape[0], tokens0.shape[1]
    ones0, ones1 = tokens0.new_ones(batch, cells0, 1), tokens1.new_ones(batch, tokens1.shape[1], 1)
    bias0 = ((~valid0).to(tokens0.dtype) * -1e4)[None, :, None].expand(batch, -1, -1)
    bias1 = ((~valid1).to(tokens1.dtype) * -1e4 - 1 / temperature)[None, :, None]
    augmented0 = torch.cat([F.normalize(tokens0, dim=-1) / temperature, ones0, bias0], dim=-1)
    augmented1 = torch.cat(
        [F.normalize(tokens1, dim=-1), bias1.expand(batch, -1, -1), ones1], dim=-1
    )
    # cos / temperature - 1 / temperature <= 0, so exp lies in (0, 1] (0 at invalid cells)
    exp = (augmented0 @ augmented1.transpose(1, 2)).exp()
    row_sum = exp.sum(dim=2).clamp_min(1e-30)  # [B, N0]
    column_sum = (ones0.transpose(1, 2) @ exp).clamp_min(1e-30)  # [B, 1, N1]
    weighted = exp * column_sum.rsqrt()  # [B, N0, N1]
    scores = weighted.amax(dim=2).square() / row_sum  # = exp² / (row_sum · column_sum)
    top, rows = scores.topk(min(cells0, max_matches), dim=1)
    # the chosen rows by a plain row gather of the flattened matrix (no [B, K, N1] index)
    flat_rows = (rows + torch.arange(batch, device=rows.device)[:, None] * cells0).flatten()
    chosen_rows = weighted.flatten(0, 1).index_select(0, flat_rows).view(batch, -1, exp.shape[2])
    columns = chosen_rows.argmax(dim=2)
    chosen = augmented1.gather(1, columns[..., None].expand(-1, -1, augmented1.shape[-1]))
    # the confidence of every image-0 cell in each chosen column, up to a factor that is the
    # same along the row (column_sum): cos / temperature - 0.5 log(row_sum), through one
    # more token dimension
    back0 = torch.cat([augmented0, -0.5 * row_sum.log()[..., None]], dim=-1)
    back = torch.cat([chosen, torch.ones_like(chosen[..., :1])], dim=-1) @ back0.transpose(1, 2)
    mutual = back.gather(2, rows[..., None])[..., 0] >= back.amax(dim=2)
    return rows, columns, torch.where(mutual & valid0[rows], top, torch.zeros_like(top))
