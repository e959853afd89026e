"""Save and load the matcher as safetensors with its config in the metadata; the model is
rebuilt from that config (never from a file name) and loaded strictly."""

from __future__ import annotations

import json
from pathlib import Path

from ..config import from_dict
from ..errors import InputError
from ..hub import save_safetensors, weight_path
from .model import CrossModalMatcher, ModelConfig

FORMAT = "modalign-matcher-1"


def save_model(model: CrossModalMatcher, path: str | Path, training: dict | None = None) -> None:
    """Write the student's weights and config (and how it was trained), atomically.
    A teacher is never part of it: it is not a submodule of the student."""
    save_safetensors(model, path, model.config, training, FORMAT)


def model_path(name_or_path: str | Path) -> Path:
    """The weights file of a weight-table name, or a ``.safetensors`` path as given."""
    path = Path(name_or_path)
    if path.suffix != ".safetensors":
        return weight_path(str(name_or_path))
    if not path.is_file():
        raise InputError(str(path), "no such matcher weights file")
    return path


def read_training(path: str | Path) -> dict:
    """How the weights in ``path`` were trained (the ``training`` metadata), or {}."""
    return json.loads(_metadata(Path(path)).get("training", "{}"))


def _metadata(path: Path) -> dict:
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as handle:
            return handle.metadata() or {}
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise InputError(str(path), f"not a readable safetensors file ({err})") from None


def load_model(name_or_path: str | Path) -> CrossModalMatcher:
    """The matcher of a weight-table name or ``.safetensors`` file, in eval mode (strict;
    no pretrained download)."""
    from safetensors.torch import load_file

    path = model_path(name_or_path)
    metadata = _metadata(path)
    if metadata.get("format") != FORMAT:
        raise InputError(str(path), "not a modalign matcher checkpoint (format metadata missing)")
    config = from_dict(ModelConfig, json.loads(metadata["config"]))
    model = CrossModalMatcher(config, pretrained_backbone=False)
    model.load_state_dict(load_file(str(path)), strict=True)
    return model.eval()
