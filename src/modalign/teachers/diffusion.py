"""Diffusion-feature teacher (IMD, DIFT): decoder features of a latent-diffusion UNet.

From a checkpoint folder in diffusers' layout (``unet/`` and ``vae/`` subfolders, e.g. a
Stable Diffusion 1.x/2.x snapshot) or, when allowed, a hub name. The image is encoded by
the VAE, noised to ``timestep`` with the checkpoint's DDPM schedule (a fixed seed: the
teacher is deterministic), and the output of UNet decoder block ``layer`` is the feature
map. The prompt embedding is zeros (an unconditional pass), so no text encoder is needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..errors import InputError
from .base import FrozenTeacher, TeacherConfig, is_local


class DiffusionTeacher(FrozenTeacher):
    def __init__(self, unet, vae, config: TeacherConfig, alphas_cumprod: torch.Tensor):
        # input sizes must survive the VAE's and the UNet's downsampling exactly
        vae_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        stride = vae_factor * 2 ** (len(unet.config.block_out_channels) - 1)
        super().__init__(unet, config, stride)
        self.vae = vae.eval().requires_grad_(False)
        if not 0 <= config.layer < len(unet.up_blocks):
            raise InputError(f"teacher.layer {config.layer}", f"must be < {len(unet.up_blocks)}")
        alpha = alphas_cumprod[config.timestep]
        self.signal, self.noise = alpha.sqrt(), (1 - alpha).sqrt()

    def to(self, device: torch.device) -> DiffusionTeacher:
        self.model.to(device)
        self.vae.to(device)
        return self

    def features(self, images: torch.Tensor) -> torch.Tensor:
        latents = self.vae.encode(images * 2 - 1).latent_dist.mean
        latents = latents * getattr(self.vae.config, "scaling_factor", 1.0)
        noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(0))
        noise = noise.to(latents.device)
        noisy = self.signal * latents + self.noise * noise
        captured = {}
        hook = self.model.up_blocks[self.config.layer].register_forward_hook(
            lambda module, args, output: captured.setdefault("features", output)
        )
        try:
            prompt = latents.new_zeros(len(latents), 77, self.model.config.cross_attention_dim)
            timestep = torch.full((len(latents),), self.config.timestep, device=latents.device)
            self.model(noisy, timestep, encoder_hidden_states=prompt)
        finally:
            hook.remove()
        return captured["features"]


def ddpm_alphas(scheduler: dict | None, steps: int = 1000) -> torch.Tensor:
    """Cumulative alphas of a DDPM schedule config (Stable Diffusion's when None)."""
    scheduler = scheduler or {}
    start = scheduler.get("beta_start", 0.00085)
    end = scheduler.get("beta_end", 0.012)
    steps = scheduler.get("num_train_timesteps", steps)
    if scheduler.get("beta_schedule", "scaled_linear") == "linear":
        betas = torch.linspace(start, end, steps, dtype=torch.float64)
    else:
        betas = torch.linspace(start**0.5, end**0.5, steps, dtype=torch.float64) ** 2
    return torch.cumprod(1 - betas, dim=0).float()


def load_diffusion_teacher(config: TeacherConfig) -> DiffusionTeacher:
    from diffusers import AutoencoderKL, UNet2DConditionModel

    local = is_local(config)
    kwargs = {"local_files_only": local}
    unet = UNet2DConditionModel.from_pretrained(config.source, subfolder="unet", **kwargs)
    vae = AutoencoderKL.from_pretrained(config.source, subfolder="vae", **kwargs)
    scheduler_file = Path(config.source) / "scheduler" / "scheduler_config.json"
    scheduler = json.loads(scheduler_file.read_text()) if scheduler_file.is_file() else None
    alphas = ddpm_alphas(scheduler)
    if not 0 <= config.timestep < len(alphas):
        raise InputError(f"teacher.timestep {config.timestep}", f"must be < {len(alphas)}")
    return DiffusionTeacher(unet, vae, config, alphas)


def random_diffusion_teacher(**config) -> DiffusionTeacher:
    """A tiny randomly initialised UNet + VAE (tests): no files, no download."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16),
        layers_per_block=1, norm_num_groups=4, cross_attention_dim=8, attention_head_dim=2,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    )  # fmt: skip
    vae = AutoencoderKL(
        block_out_channels=(8,), norm_num_groups=4, latent_channels=4, layers_per_block=1
    )
    settings = {"kind": "diffusion", "source": "random", "resolution": 64, "layer": 0,
                "timestep": 261, **config}  # fmt: skip
    return DiffusionTeacher(unet, vae, TeacherConfig(**settings), ddpm_alphas(None))
