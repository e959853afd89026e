"""Save and load the matcher as safetensors with its config in the metadata; the model is
rebuilt from that config (never from a file name) and loaded strictly."""

from __future__ import annotations

import json
from pathlib import Path

from ..config import from_dict, to_dict
from ..errors import InputError
from .model import CrossModalMatcher, ModelConfig


def save_model(model: CrossModalMatcher, path: str | Path, training: dict | None = None) -> None:
    """Write the student's weights and config (and how it was trained), atomically.
    A teacher is never part of it: it is not a submodule of the student."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    metadata = {"config": json.dumps(to_dict(model.config)), "format": "modalign-matcher-1"}
    if training is not None:
        metadata["training"] = json.dumps(training)
    partial = path.with_name(f".{path.name}.partial")
    save_file(state, str(partial), metadata=metadata)
    partial.replace(path)


def load_model(path: str | Path) -> CrossModalMatcher:
    """The matcher stored in ``path``, in eval mode (strict; no pretrained download)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "no such matcher weights file")
    try:
        with safe_open(str(path), "pt") as handle:
            metadata = handle.metadata() or {}
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise InputError(str(path), f"not a readable safetensors file ({err})") from None
    if metadata.get("format") != "modalign-matcher-1":
        raise InputError(str(path), "not a modalign matcher checkpoint (format metadata missing)")
    config = from_dict(ModelConfig, json.loads(metadata["config"]))
    model = CrossModalMatcher(config, pretrained_backbone=False)
    model.load_state_dict(load_file(str(path)), strict=True)
    return model.eval()
