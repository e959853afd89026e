"""User tier of modalign's own learned cross-modal matcher (``modalign.models``).

Two backends of the same network: torch and ONNX Runtime (fp32 only; about a quarter
faster on a CPU). The ONNX graph of a weights file is named after the file's sha256
(:func:`onnx_file_name`), so it is rebuilt whenever the weights change; the package ships
the graph of its default weights, other graphs are exported into the cache folder on
first use of ``backend="onnx"``; ``onnx`` may also name a file. ``backend="auto"`` (the
default) runs ONNX Runtime when it is installed and a graph is ready (shipped or
cached; it never exports), else torch.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..devices import torch_device
from ..errors import ConfigError, InputError
from .base import Matcher, MatcherConfig


def _has_runtime() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def onnx_file_name(weights: Path) -> str:
    """The file name of the ONNX graph exported from a weights file."""
    from ..hub import sha256_of

    return _onnx_name(sha256_of(weights))


def _onnx_name(sha256: str) -> str:
    return f"matcher-{sha256[:16]}.onnx"


def _weights_sha256(weights: str) -> str:
    """sha256 of the weights file of a weight-table name or a ``.safetensors`` path."""
    from ..hub import sha256_of
    from ..models.checkpoint import model_path

    return sha256_of(model_path(weights))


@dataclass(frozen=True)
class LearnedConfig(MatcherConfig):
    """Attributes:
    weights: weight-table name (``modalign list``) or a ``.safetensors`` file.
    backend: "torch" or "onnx" (ONNX Runtime on the CPU).
    onnx: ONNX file of the network ("": the shipped or cached graph of ``weights``; the
        onnx backend exports one into the cache when there is none).
    threshold: coarse match confidence threshold (None: the one stored with the weights).
    threads: CPU threads of torch / ONNX Runtime (0: their default).
    precision: "fp32" (default) or "bf16" autocast (torch backend; "auto" picks torch).
    device: where the torch backend runs: "cpu" (default), "cuda", "cuda:N" or "auto"
        (a GPU when torch sees one). ONNX Runtime runs on the CPU, so a GPU makes
        "auto" pick torch, and "onnx" with a GPU is refused. A model passed in memory
        runs on the device it is on.

    Images smaller than ``min_size`` (512) are upsampled to it: on 256-px images the 1/8
    coarse grid has too few cells. No one size suits every small image (aanlib tuning
    part, SR@10 alone: CT-MRI 53/61/69% and PET-MRI 21/21/16% at 384/512/640 in an early
    pipeline), so they are also matched at 384 and 640 (``extra_min_sizes``) and the
    matches pooled: SR@10 on the tuning parts, one size → three, CT-MRI 72 → 78 of 118,
    PET-MRI 29 → 42 of 140, roadscene 114 → 117 of 145 (docs/model_card.md). By the
    longer side: under 512 px three passes, 512–639 two (native and 640), 640 or more one.

    Matches in uniform regions are dropped (``min_texture`` 0.01): the network also pairs
    cells of a black background, where only their position tells them apart, and on
    brain slices such matches outvoted the real ones (SR@10 on the tuning parts,
    CT-MRI 78 → 85 of 118, PET-MRI 42 → 44 of 140, roadscene 117 → 121 of 145,
    visnir_country 35 → 34 of 42; docs/model_card.md).
    """

    max_size: int = 640
    min_size: int = 512
    extra_min_sizes: tuple[int, ...] = (384, 640)
    min_texture: float = 0.01
    weights: str = "modalign"
    backend: Literal["auto", "torch", "onnx"] = "auto"
    onnx: str = ""
    threshold: float | None = None
    threads: int = 0
    precision: Literal["fp32", "bf16"] = "fp32"
    device: str = "cpu"


class LearnedMatcher(Matcher):
    """The detector-free cross-modal matcher; pass ``model`` to wrap one in memory (e.g. a
    model being trained) instead of loading ``config.weights``."""

    Config = LearnedConfig
    grayscale = True

    def __init__(self, config=None, name: str = "", model=None):
        super().__init__(config, name)
        from ..models import load_model

        c = self.config
        # weights_sha256 identifies the loaded weights (names the ONNX graph, keys the
        # confidence); empty for a model passed in memory
        self.weights_sha256 = ""
        if model is None:
            from ..hub import sha256_of
            from ..models.checkpoint import model_path

            self.device = torch_device(c.device, "matcher_conf.device")
            if c.backend == "onnx" and self.device.type != "cpu":
                raise ConfigError(
                    f"matcher_conf.device: {c.device!r} with backend 'onnx', which runs on "
                    "the CPU (use backend torch or auto on a GPU)"
                )
            path = model_path(c.weights)  # resolved (and a named file verified) once
            model, self.weights_sha256 = load_model(path), sha256_of(path)
            model.to(self.device)
        else:
            self.device = next(model.parameters()).device
        self.model = model
        self.threshold = c.threshold
        if self.threshold is None:
            self.threshold = self.model.config.coarse_threshold
        self.session = None
        onnx = None
        on_cpu = self.device.type == "cpu"
        if c.backend == "onnx":
            onnx = self._onnx_path(export=True)
        elif (
            c.backend == "auto"
            and self.weights_sha256
            and c.precision == "fp32"
            and on_cpu
            and _has_runtime()
        ):
            onnx = self._onnx_path(export=False)
        if onnx is not None:
            from ..models.export import OnnxMatcherSession

            self.session = OnnxMatcherSession(onnx, c.threads)
        self.backend = "torch" if self.session is None else "onnx"

    def _onnx_path(self, export: bool) -> Path | None:
        """The ONNX graph of the weights: the configured file, else the shipped or cached
        graph, else (if ``export``) a new export into the cache, else None."""
        if self.config.onnx:
            path = Path(self.config.onnx)
            if not path.is_file():
                raise InputError(str(path), "no such ONNX file")
            return path
        from ..hub import cache_dir, shipped_dir
        from ..models.export import export_onnx

        name = _onnx_name(self.weights_sha256 or _weights_sha256(self.config.weights))
        for folder in (shipped_dir(), cache_dir() / "onnx"):
            if (folder / name).is_file():
                return folder / name
        return export_onnx(self.model, cache_dir() / "onnx" / name) if export else None

    def _match(
        self, image0: np.ndarray, image1: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.session is not None:
            from ..models.export import select_matches

            return select_matches(*self.session(image0, image1), self.threshold)
        if self.config.threads > 0:
            torch.set_num_threads(self.config.threads)
        device = self.device
        batch = {"image0": torch.from_numpy(image0)[None, None].to(device),
                 "image1": torch.from_numpy(image1)[None, None].to(device)}  # fmt: skip
        training = self.model.training
        self.model.eval()
        bf16 = self.config.precision == "bf16"
        with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=bf16):
            out = self.model(batch, self.threshold)
        self.model.train(training)
        keys = ("keypoints0", "keypoints1", "confidence")
        return tuple(out[k].float().cpu().numpy() for k in keys)
