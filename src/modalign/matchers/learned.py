"""User tier of modalign's own learned cross-modal matcher (``modalign.models``).

Two backends of the same network: torch (default) and ONNX Runtime. The ONNX graph is
exported from the weights on first use and kept in the cache folder under the weights'
sha256, so it is rebuilt whenever the weights change; ``onnx`` may also name a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..errors import InputError
from .base import Matcher, MatcherConfig


@dataclass(frozen=True)
class LearnedConfig(MatcherConfig):
    """Attributes:
    weights: weight-table name (``modalign list``) or a ``.safetensors`` file.
    backend: "torch" or "onnx" (ONNX Runtime on the CPU).
    onnx: ONNX file for the onnx backend ("": exported from ``weights`` into the cache).
    threshold: coarse match confidence threshold (None: the one stored with the weights).
    threads: CPU threads of torch / ONNX Runtime (0: their default).
    precision: torch backend: "fp32" (default) or "bf16" autocast.

    Images smaller than ``min_size`` (512) are upsampled to it: on 256-px images the 1/8
    coarse grid has too few cells (SR@10 on the held-out aanlib validation pairs: 15% at
    native size, 40% at 512, 35% at 640).
    """

    max_size: int = 640
    min_size: int = 512
    weights: str = "modalign"
    backend: Literal["torch", "onnx"] = "torch"
    onnx: str = ""
    threshold: float | None = None
    threads: int = 0
    precision: Literal["fp32", "bf16"] = "fp32"


class LearnedMatcher(Matcher):
    """The detector-free cross-modal matcher; pass ``model`` to wrap one in memory (e.g. a
    model being trained) instead of loading ``config.weights``."""

    Config = LearnedConfig
    grayscale = True

    def __init__(self, config=None, name: str = "", model=None):
        super().__init__(config, name)
        from ..models import load_model

        c = self.config
        self.model = model if model is not None else load_model(c.weights)
        self.threshold = c.threshold
        if self.threshold is None:
            self.threshold = self.model.config.coarse_threshold
        self.session = None
        if c.backend == "onnx":
            from ..models.export import OnnxMatcherSession

            self.session = OnnxMatcherSession(self._onnx_path(), c.threads)

    def _onnx_path(self) -> Path:
        if self.config.onnx:
            path = Path(self.config.onnx)
            if not path.is_file():
                raise InputError(str(path), "no such ONNX file")
            return path
        from ..hub import cache_dir, sha256_of
        from ..models.checkpoint import model_path
        from ..models.export import export_onnx

        digest = sha256_of(model_path(self.config.weights))[:16]
        path = cache_dir() / "onnx" / f"matcher-{digest}.onnx"
        return path if path.is_file() else export_onnx(self.model, path)

    def _match(
        self, image0: np.ndarray, image1: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.session is not None:
            from ..models.export import select_matches

            return select_matches(*self.session(image0, image1), self.threshold)
        if self.config.threads > 0:
            torch.set_num_threads(self.config.threads)
        batch = {"image0": torch.from_numpy(image0)[None, None],
                 "image1": torch.from_numpy(image1)[None, None]}  # fmt: skip
        training = self.model.training
        self.model.eval()
        bf16 = self.config.precision == "bf16"
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            out = self.model(batch, self.threshold)
        self.model.train(training)
        return tuple(out[k].float().numpy() for k in ("keypoints0", "keypoints1", "confidence"))
