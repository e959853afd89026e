"""A self-contained cross-modal demo pair with a known transform (no files, no network).

The fixed image is scikit-image's bundled astronaut photograph (visible, RGB). The
moving image is a simulated thermal view of it: luminance with inverted, non-linear
contrast (as hot/cold renders differ from reflectance), blurred and noisy, then
resampled through a known homography onto a differently sized 16-bit grid.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .confidence import describe
from .errors import RegistrationError
from .eval.metrics import grid_error
from .geometry.transforms import normalize_homography
from .pipeline import register
from .products import save_registration
from .types import Registration


@dataclass(frozen=True)
class DemoPair:
    """fixed: [H0, W0, 3] uint8; moving: [H1, W1] uint16; H_1to0 the true transform."""

    fixed: np.ndarray
    moving: np.ndarray
    H_1to0: np.ndarray
    description: str


def demo_transform(width0: int, height0: int) -> np.ndarray:
    """True H_1to0: 10° rotation, 0.85 scale, a shift and mild perspective."""
    angle = np.deg2rad(10.0)
    scale = 0.85
    centre = np.array([(width0 - 1) / 2, (height0 - 1) / 2])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    H = np.eye(3)
    H[:2, :2] = rotation
    H[:2, 2] = centre - rotation @ centre + [18.0, -12.0]
    H[2, :2] = [2e-4, -1e-4]
    return normalize_homography(H)


def make_demo_pair(seed: int = 0) -> DemoPair:
    """Build the visible / pseudo-thermal pair (deterministic under ``seed``)."""
    from skimage import data

    fixed = data.astronaut()
    height0, width0 = fixed.shape[:2]
    luminance = cv2.cvtColor(fixed, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    thermal = 1.0 - luminance**0.7  # contrast reversal and non-linear response
    thermal = cv2.GaussianBlur(thermal, (0, 0), 1.2)
    H_1to0 = demo_transform(width0, height0)
    size1 = (440, 400)  # (width, height) of the moving image
    moving = cv2.warpPerspective(
        thermal, H_1to0, size1, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=0.0
    )
    noise = np.random.default_rng(seed).normal(0.0, 0.02, moving.shape).astype(np.float32)
    moving = np.clip(moving + noise, 0.0, 1.0)
    moving16 = np.round(8000 + moving * 20000).astype(np.uint16)  # thermal-camera-like range
    return DemoPair(
        fixed=fixed,
        moving=moving16,
        H_1to0=H_1to0,
        description="visible astronaut (scikit-image) vs. simulated 16-bit thermal view, "
        "10° rotation, 0.85 scale, perspective",
    )


@dataclass(frozen=True)
class DemoResult:
    """What the demo did: the registration, its error against the truth, where it wrote."""

    registration: Registration
    error: float
    out: Path
    description: str

    def summary(self) -> str:
        registration = self.registration
        return "\n".join(
            [
                f"pair:    {self.description}",
                f"matcher: {registration.matcher}, {registration.transform.value}, "
                f"{registration.num_inliers} inliers of {registration.num_matches} matches",
                f"error:   {self.error:.3f} px (mean over a 10x10 grid on the moving image, "
                "against the known transform)",
                *(
                    [f"trust:   {describe(registration.confidence)}"]
                    if registration.confidence is not None
                    else []
                ),
                f"output:  {self.out}/ ({', '.join(DEMO_FILES)} and the products)",
            ]
        )


DEMO_FILES = ("demo_fixed.png", "demo_moving.png")


def run_demo(
    out: str | os.PathLike,
    matcher: str | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> DemoResult:
    """Make the demo pair, register it, write inputs and products into ``out``.

    Raises:
        RegistrationError: if the registration fails (nothing is written then).
    """
    pair = make_demo_pair()
    registration = register(pair.fixed, pair.moving, matcher=matcher, on_stage=on_stage)
    if not registration.success:
        raise RegistrationError(f"demo registration failed: {registration.reason}")
    if on_stage:
        on_stage("writing products")
    error = grid_error(registration.H_1to0, pair.H_1to0, registration.image_size1)
    save_registration(
        out, registration, pair.fixed, pair.moving,
        inputs=dict(zip(("fixed", "moving"), DEMO_FILES, strict=True)),
        extra_images=dict(zip(DEMO_FILES, (pair.fixed, pair.moving), strict=True)),
        extra_report={"demo": {"H_1to0_true": pair.H_1to0.tolist(), "grid_error_px": error}},
    )  # fmt: skip
    return DemoResult(registration, error, Path(out), pair.description)
