"""Load a translator (shipped by name, or a safetensors file) and translate images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..config import from_dict
from ..errors import InputError
from ..hub import read_metadata, save_safetensors, weight_path
from .model import Translator, TranslatorConfig


def save_translator(model: Translator, path: str | Path, training: dict | None = None) -> None:
    """Write the generator's weights, config and (optionally) how it was trained into a
    safetensors file (metadata ``config`` and ``training``, JSON), atomically."""
    save_safetensors(model, path, model.config, training)


def load_translator(name_or_path: str | Path = "v2i") -> Translator:
    """A translator in eval mode, from a weight-table name or a .safetensors file (strict)."""
    from safetensors.torch import load_file

    path = Path(name_or_path)
    if path.suffix != ".safetensors":
        path = weight_path(str(name_or_path))
    elif not path.is_file():
        raise InputError(str(path), "no such weights file")
    model = Translator(from_dict(TranslatorConfig, read_metadata(path)))
    model.load_state_dict(load_file(str(path)), strict=True)
    return model.eval()


def to_model_input(image: np.ndarray) -> torch.Tensor:
    """[H, W] or [H, W, 3] float32 in [0, 1] -> [1, 3, H, W] tensor."""
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].float()


@torch.inference_mode()
def translate_batch(model: Translator, images: list[np.ndarray]) -> list[np.ndarray]:
    """Translate RGB/gray float32 images in [0, 1] (same-size images run as one batch).

    Returns:
        [H, W] float32 pseudo-infrared images in [0, 1].
    """
    out: list[np.ndarray | None] = [None] * len(images)
    by_size: dict[tuple[int, int], list[int]] = {}
    for i, image in enumerate(images):
        by_size.setdefault(image.shape[:2], []).append(i)
    for indices in by_size.values():
        batch = torch.cat([to_model_input(images[i]) for i in indices])
        result = model(batch)[:, 0].numpy()
        for i, translated in zip(indices, result, strict=True):
            out[i] = translated
    return out
