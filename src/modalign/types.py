"""Result types shared by every matcher and by the registration pipeline.

Coordinate convention (stated once, used everywhere):
- image 0 is the *fixed* image, image 1 the *moving* image;
- a pixel position is (x, y) with the origin at the centre of the top-left pixel,
  x to the right, y down (OpenCV's convention);
- ``H_1to0`` maps moving pixels to fixed pixels: ``[x0, y0, 1]^T ~ H_1to0 @ [x1, y1, 1]^T``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class Modality(str, enum.Enum):
    """Sensor / rendering modality of an image, used for normalisation defaults."""

    UNKNOWN = "unknown"
    VISIBLE = "visible"
    INFRARED = "infrared"
    NIR = "nir"
    SAR = "sar"
    DEPTH = "depth"
    MAP = "map"
    NIGHT = "night"
    MRI = "mri"
    PET = "pet"
    CT = "ct"
    SKETCH = "sketch"
    PAINTING = "painting"


class TransformType(str, enum.Enum):
    """Geometric models that the registration pipeline can estimate."""

    SIMILARITY = "similarity"
    AFFINE = "affine"
    HOMOGRAPHY = "homography"

    @property
    def degrees_of_freedom(self) -> int:
        return {"similarity": 4, "affine": 6, "homography": 8}[self.value]

    @staticmethod
    def most_general(kinds: Iterable[TransformType]) -> TransformType:
        """The model of most degrees of freedom among ``kinds``: that of a composition or
        a mean of their transforms."""
        return max(kinds, key=lambda kind: kind.degrees_of_freedom)


@dataclass(frozen=True)
class MatchResult:
    """Correspondences between image 0 and image 1, in original-image pixels.

    Attributes:
        keypoints0: [N, 2] float64 (x, y) in image 0.
        keypoints1: [N, 2] float64 (x, y) in image 1; row i corresponds to keypoints0[i].
        confidence: [N] float64 in [0, 1], higher is more certain.
        image_size0: (width, height) of image 0.
        image_size1: (width, height) of image 1.
    """

    keypoints0: np.ndarray
    keypoints1: np.ndarray
    confidence: np.ndarray
    image_size0: tuple[int, int]
    image_size1: tuple[int, int]

    def __post_init__(self) -> None:
        k0 = np.asarray(self.keypoints0, dtype=np.float64).reshape(-1, 2)
        k1 = np.asarray(self.keypoints1, dtype=np.float64).reshape(-1, 2)
        conf = np.asarray(self.confidence, dtype=np.float64).reshape(-1)
        if not (len(k0) == len(k1) == len(conf)):
            raise ValueError(
                f"MatchResult: {len(k0)} keypoints0, {len(k1)} keypoints1, {len(conf)} confidences"
            )
        object.__setattr__(self, "keypoints0", k0)
        object.__setattr__(self, "keypoints1", k1)
        object.__setattr__(self, "confidence", conf)

    def __len__(self) -> int:
        return len(self.keypoints0)

    @classmethod
    def empty(cls, image_size0: tuple[int, int], image_size1: tuple[int, int]) -> MatchResult:
        return cls(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0), image_size0, image_size1)

    def subset(self, mask_or_index: np.ndarray) -> MatchResult:
        """The matches selected by a boolean mask or an index array."""
        return MatchResult(
            self.keypoints0[mask_or_index],
            self.keypoints1[mask_or_index],
            self.confidence[mask_or_index],
            self.image_size0,
            self.image_size1,
        )


@dataclass
class Registration:
    """Outcome of registering a moving image onto a fixed image.

    ``H_1to0`` is None when the registration failed: a failure is never reported as a
    transform. ``reason`` says why it failed (or ``"ok"``); ``refinement`` says whether
    the dense refinement replaced the robust estimate ("refined") or why not, followed,
    for scans, by the outcome of the refinement through modality translators ("; translated
    (mri2pet rendering the fixed image, ECC correlation 0.98)", or "; kept: ..." and why;
    ``RegisterConfig.translation``), for blurred scans not so refined by that of the
    refinement by mutual information ("; information 1.0412 -> 1.0466", or "; kept: ..."
    and why), and, for unsure
    scans, by that of the search of other views of the moving image ("; view: moving
    ×1.25 turned 0° (confidence 0.31 -> 0.74)" when one was sure and surer, "; views:
    none of 3 sure" when none was; ``RegisterConfig.view_search``). A registration found
    on a tile of the larger image (``RegisterConfig.zoom_search``) reports the tile's
    registration, then "; zoom: found in the fixed image's 1024×1024 tile at (512, 512),
    zoom 2 (confidence 0.05 -> 1.00)" (or "the moving image's"); a search that found
    none adds "; zoom: none of 4 tiles sure" to the failed registration. A scan matched again
    in its registered frame (``RegisterConfig.rematch``) reports the second
    registration's refinement, then "; rematched, 6.7 px from the first registration
    (...)" with the first's in brackets, or the first's followed by "; kept: rematch
    failed" or "; kept: rematch moved the grid 47.8 px"; then by "; views of the
    registered frame: averaged with 3 of 3 views, 1.2 px from it" (or "...: kept: ..."
    and why, or "...: none of 3 registered near it"; ``RematchConfig.views``; none for a
    translated registration) and, for scans the translators refine, "; polish: ..."
    (``TranslationConfig.polish``). ``translated``: ``H_1to0`` was last refined through
    a modality translator.
    ``rotation_degrees`` is the clockwise quarter-turn rotation of the moving image
    relative to the fixed one found by the rotation search (0 without it); ``H_1to0``
    already includes it. ``structure_correlation`` is the agreement of the two images'
    phase-congruency maps under ``H_1to0`` (1 = identical structure; failures below
    ``GeometryConfig.min_structure_correlation``), an independent check of the match;
    ``structure_sharpness`` how much of that correlation is lost when the moving image is
    displaced by 1/80 of its size (near 0 where it comes from blurred shapes or from
    chance). ``confidence`` is the calibrated probability that ``H_1to0`` is within 10 px
    of the truth (:mod:`modalign.confidence`); None for a failure before the rating,
    without the structure check, or for a matcher the shipped model was not fitted for.
    A registration rated below ``RegisterConfig.min_confidence`` fails ("too unsure:
    confidence 0.12 < 0.3") and keeps its confidence.
    """

    success: bool
    reason: str
    refinement: str
    matcher: str
    transform: TransformType | None
    H_1to0: np.ndarray | None
    num_matches: int
    num_inliers: int
    inlier_ratio: float
    rmse: float | None
    structure_correlation: float | None
    rotation_degrees: int
    image_size0: tuple[int, int]
    image_size1: tuple[int, int]
    timings: dict[str, float] = field(default_factory=dict)
    matches: MatchResult | None = field(default=None, repr=False)
    inliers: np.ndarray | None = field(default=None, repr=False)
    version: str = ""
    structure_sharpness: float | None = None
    confidence: float | None = None
    translated: bool = False

    def warp(
        self, image: np.ndarray, interpolation: str = "linear", inverse: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Warp a moving-image-sized array onto the fixed grid (``inverse``: a
        fixed-image-sized one onto the moving grid).

        Args:
            image: [H1, W1] or [H1, W1, C] array of any dtype OpenCV can warp ([H0, W0,
                ...] if ``inverse``): another band of the moving image, a label map, ...
            interpolation: "linear", "nearest" (label maps) or "cubic".
        Returns:
            (warped [H0, W0(, C)] same dtype as ``image``, valid [H0, W0] bool mask where
            it has data), or [H1, W1, ...] and its mask if ``inverse``.
        Raises:
            RegistrationError: the registration failed; InputError: ``image`` is not the
            size of the image it stands for.
        """
        from .errors import InputError, RegistrationError
        from .geometry.warp import warp_image

        if self.H_1to0 is None:
            raise RegistrationError(f"cannot warp: registration failed ({self.reason})")
        size, into, H = self.image_size1, self.image_size0, self.H_1to0
        if inverse:
            size, into, H = into, size, np.linalg.inv(H)
        height, width = image.shape[:2]
        if (width, height) != tuple(size):
            kind = "fixed" if inverse else "moving"
            raise InputError(
                "image", f"is {width}×{height}, the registration's {kind} image {size[0]}×{size[1]}"
            )
        return warp_image(image, H, into, interpolation)

    def map_points(self, points: np.ndarray, inverse: bool = False) -> np.ndarray:
        """[N, 2] (x, y) moving-image pixels mapped to fixed-image pixels by ``H_1to0``
        (``inverse``: fixed to moving); inf where a point maps to infinity.

        Raises:
            RegistrationError: the registration failed.
        """
        from .errors import RegistrationError
        from .geometry.transforms import transform_points

        if self.H_1to0 is None:
            raise RegistrationError(f"cannot map points: registration failed ({self.reason})")
        return transform_points(np.linalg.inv(self.H_1to0) if inverse else self.H_1to0, points)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (no arrays of matches)."""
        return {
            "version": self.version,
            "success": self.success,
            "reason": self.reason,
            "refinement": self.refinement,
            "matcher": self.matcher,
            "transform": self.transform.value if self.transform else None,
            "H_1to0": None if self.H_1to0 is None else np.asarray(self.H_1to0).tolist(),
            "num_matches": self.num_matches,
            "num_inliers": self.num_inliers,
            "inlier_ratio": self.inlier_ratio,
            "rmse": self.rmse,
            "structure_correlation": self.structure_correlation,
            "structure_sharpness": self.structure_sharpness,
            "confidence": self.confidence,
            "translated": self.translated,
            "rotation_degrees": self.rotation_degrees,
            "image_size0": list(self.image_size0),
            "image_size1": list(self.image_size1),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }
