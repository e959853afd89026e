"""ONNX export of the matcher and an ONNX Runtime session that runs it.

The exported graph is the whole network with fixed-size outputs (no data-dependent
shapes): for the ``min(N0, max_matches)`` most confident coarse cells of image 0, the
cell centre, the refined position in image 1 and the mutual dual-softmax score (0 when
not mutual). :func:`select_matches` then keeps the
cells above the threshold, as the torch model does. Inputs: ``image0`` [1, 1, H0, W0],
``image1`` [1, 1, H1, W1], gray in [0, 1], any size (dynamic axes).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from .matching import cell_positions, refine, top_coarse_matches, valid_cells
from .model import CrossModalMatcher, clamp_to_image

OUTPUTS = ("keypoints0", "keypoints1", "scores")


class DenseMatcher(nn.Module):
    """The matcher with one output row per candidate coarse match (batch of one)."""

    def __init__(self, model: CrossModalMatcher):
        super().__init__()
        self.model = model.eval()

    def forward(self, image0: torch.Tensor, image1: torch.Tensor) -> tuple[torch.Tensor, ...]:
        c = self.model.config
        encoded = self.model.encode(image0, image1)
        grid0 = encoded["coarse_features0"].shape[-2:]
        grid1 = encoded["coarse_features1"].shape[-2:]
        valid0 = valid_cells((grid0[0], grid0[1]), (image0.shape[-2], image0.shape[-1]))
        valid1 = valid_cells((grid1[0], grid1[1]), (image1.shape[-2], image1.shape[-1]))
        rows, columns, scores = top_coarse_matches(
            encoded["tokens0"], encoded["tokens1"], valid0, valid1, c.coarse_temperature,
            c.max_matches,
        )  # fmt: skip
        keypoints0 = cell_positions(rows[0], grid0[1])
        batch = torch.zeros_like(rows[0])
        keypoints1, _ = refine(
            encoded["fine0"], encoded["fine1"], batch, keypoints0,
            cell_positions(columns[0], grid1[1]), c.fine_radius, c.fine_temperature,
        )  # fmt: skip
        keypoints1 = clamp_to_image(keypoints1, (image1.shape[-2], image1.shape[-1]))
        return keypoints0, keypoints1, scores[0]


def select_matches(
    keypoints0: np.ndarray, keypoints1: np.ndarray, scores: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of :class:`DenseMatcher`'s outputs whose score exceeds ``threshold``."""
    keep = scores > threshold
    return keypoints0[keep], keypoints1[keep], scores[keep]


def export_onnx(model: CrossModalMatcher, path: str | Path, opset: int = 18) -> Path:
    """Write ``model`` as an ONNX graph with dynamic image sizes, atomically; returns path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")  # processes may race
    dense = DenseMatcher(model).eval()
    example = (torch.rand(1, 1, 96, 128), torch.rand(1, 1, 104, 120))
    dims = {2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO}
    with torch.no_grad():
        program = torch.onnx.export(
            dense, example, input_names=["image0", "image1"], output_names=list(OUTPUTS),
            dynamic_shapes={"image0": dims, "image1": dims}, opset_version=opset, dynamo=True,
        )  # fmt: skip
    program.save(str(partial))
    partial.replace(path)
    return path


class OnnxMatcherSession:
    """ONNX Runtime session of an exported matcher (CPU, ``threads`` intra-op threads)."""

    def __init__(self, path: str | Path, threads: int = 0):
        try:
            import onnxruntime
        except ImportError:
            raise InputError(
                "onnxruntime", "is not installed", "pip install 'modalign[onnx]'"
            ) from None
        options = onnxruntime.SessionOptions()
        if threads > 0:
            options.intra_op_num_threads = threads
        # ONNX Runtime's idle threads otherwise spin after each run and take the cores from
        # what follows a match (the structure maps of register: 0.05 s at 640×480)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime raises its own error types for bad files
            raise InputError(str(path), f"not a loadable ONNX model ({err})") from None

    def __call__(self, image0: np.ndarray, image1: np.ndarray) -> tuple[np.ndarray, ...]:
        """Gray float32 [H, W] images -> keypoints0 [N0, 2], keypoints1 [N0, 2], scores [N0]."""
        feeds = {"image0": image0[None, None].astype(np.float32),
                 "image1": image1[None, None].astype(np.float32)}  # fmt: skip
        return tuple(self.session.run(list(OUTPUTS), feeds))
