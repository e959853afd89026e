"""Stages 2 and 3 of the learned matcher: modality injection and cross-image interaction.

Modality injection (DistillMatch): a small encoder summarises each image's coarse features
into a modality embedding (trained with the synthetic modality labels through
``modality_logits``) and modulates the *other* image's features with it (FiLM).
Cross-image interaction (IMD): learnable prompt tokens read the other image, this image's
features read the prompts, then interleaved self / cross attention layers. Attention is
linear (elu + 1 feature map), so the cost grows linearly with the number of cells.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ModalityEncoder(nn.Module):
    """[B, D, h, w] features -> ([B, E] embedding, [B, K] modality logits)."""

    def __init__(self, dim: int, embedding: int, modalities: int):
        super().__init__()
        self.embed = nn.Sequential(
            nn.Linear(2 * dim, embedding), nn.SiLU(), nn.Linear(embedding, embedding)
        )
        self.classify = nn.Linear(embedding, modalities)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = torch.cat([features.mean(dim=(2, 3)), features.amax(dim=(2, 3))], dim=1)
        embedding = self.embed(pooled)
        return embedding, self.classify(embedding)


class FiLM(nn.Module):
    """Scale and shift [B, N, D] tokens by an embedding [B, E] (identity at initialisation)."""

    def __init__(self, embedding: int, dim: int):
        super().__init__()
        self.project = nn.Linear(embedding, 2 * dim)
        nn.init.zeros_(self.project.weight)
        nn.init.zeros_(self.project.bias)

    def forward(self, tokens: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        scale, shift = self.project(embedding)[:, None].chunk(2, dim=-1)
        return tokens * (1 + scale) + shift


def linear_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Linear attention over [B, H, N, d] heads (LoFTR's elu + 1 kernel); O(N·d²)."""
    query, key = F.elu(query) + 1, F.elu(key) + 1
    context = key.transpose(-2, -1) @ value  # [B, H, d, d]
    normaliser = query @ key.sum(dim=2)[..., None]  # [B, H, N, 1]
    return (query @ context) / (normaliser + 1e-6)


class AttentionBlock(nn.Module):
    """Pre-norm multi-head linear attention of ``x`` over ``source`` plus an MLP."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm_query, self.norm_source = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.query, self.key_value = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim)
        self.merge = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim)
        )

    def forward(self, x: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        split = lambda t: t.view(b, -1, self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        query = split(self.query(self.norm_query(x)))
        key, value = (split(t) for t in self.key_value(self.norm_source(source)).chunk(2, dim=-1))
        x = x + self.merge(linear_attention(query, key, value).transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(x)


class Interaction(nn.Module):
    """Prompt tokens conditioned on the other image, then ``layers`` × (self, cross)."""

    def __init__(self, dim: int, heads: int, prompts: int, layers: int):
        super().__init__()
        self.prompts = nn.Parameter(torch.randn(prompts, dim) * 0.02)
        self.prompts_read_other = AttentionBlock(dim, heads)
        self.features_read_prompts = AttentionBlock(dim, heads)
        self.self_blocks = nn.ModuleList(AttentionBlock(dim, heads) for _ in range(layers))
        self.cross_blocks = nn.ModuleList(AttentionBlock(dim, heads) for _ in range(layers))

    def forward(
        self, tokens0: torch.Tensor, tokens1: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, N0, D], [B, N1, D] -> the same, each conditioned on the other image."""
        prompts = self.prompts[None].expand(len(tokens0), -1, -1)
        prompts0 = self.prompts_read_other(prompts, tokens1)  # what image 0 should look for
        prompts1 = self.prompts_read_other(prompts, tokens0)
        tokens0 = self.features_read_prompts(tokens0, prompts0)
        tokens1 = self.features_read_prompts(tokens1, prompts1)
        for self_block, cross_block in zip(self.self_blocks, self.cross_blocks, strict=True):
            tokens0, tokens1 = self_block(tokens0, tokens0), self_block(tokens1, tokens1)
            tokens0, tokens1 = cross_block(tokens0, tokens1), cross_block(tokens1, tokens0)
        return tokens0, tokens1
