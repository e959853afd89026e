"""The one interface every matcher implements, classical or learned.

A subclass declares a frozen ``Config`` dataclass (deriving from :class:`MatcherConfig`)
and implements :meth:`Matcher._match` on normalised images at working resolution; the
base class handles reading, normalisation, resizing and mapping results back to the
original pixels.
"""

from __future__ import annotations

import copy
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import cv2
import numpy as np

from ..config import from_dict, to_dict
from ..geometry.transforms import transform_points
from ..geometry.warp import working_size
from ..io import NormalizationConfig, check_image, read_image, to_float, to_gray
from ..types import MatchResult

ImageInput = str | os.PathLike | np.ndarray


UNIFORM = 1e-3  # images whose value range (of [0, 1]) is below this are uniform


@dataclass(frozen=True)
class MatcherConfig:
    """Settings every matcher has.

    Attributes:
        max_size: images whose longer side exceeds this are matched at reduced
            resolution (aspect kept) and the keypoints mapped back.
        min_size: images whose longer side is below this are upsampled to it (0: never;
            never beyond ``max_size``).
        extra_min_sizes: match again with each of these as ``min_size`` and pool all the
            correspondences. Upsampling adds no detail, so no one factor is right for a
            small image; a pass whose working images are those of an earlier pass is
            skipped, so images at least as large as every size are matched once.
        min_texture: drop a match if the intensity around either keypoint (standard
            deviation of the gray working image, of [0, 1], over a square of
            ``texture_radius`` px each side) is below this (0: keep all). A uniform
            region (black background, padding, saturation) holds nothing to match.
        texture_radius: half-side of that square, in working pixels.
    """

    max_size: int = 1024
    min_size: int = 0
    extra_min_sizes: tuple[int, ...] = ()
    min_texture: float = 0.0
    texture_radius: int = 8


class Matcher(ABC):
    """Finds correspondences between image 0 (fixed) and image 1 (moving)."""

    Config: ClassVar[type[MatcherConfig]] = MatcherConfig
    grayscale: ClassVar[bool] = True  # whether _match receives [H, W] or [H, W, 3]

    def __init__(self, config: MatcherConfig | dict[str, Any] | None = None, name: str = ""):
        if config is None:
            config = self.Config()
        elif isinstance(config, dict):
            config = from_dict(self.Config, config)
        elif not isinstance(config, self.Config):
            raise TypeError(f"expected {self.Config.__name__}, got {type(config).__name__}")
        self.config = config
        self.name = name or type(self).__name__

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, config={to_dict(self.config)})"

    @staticmethod
    def prepare(
        image: ImageInput, normalization: NormalizationConfig | None = None, source: str = "image"
    ) -> np.ndarray:
        """Read (if a path) and normalise an image to float32 [0, 1], [H, W] or [H, W, 3]."""
        if isinstance(image, str | os.PathLike):
            array = read_image(image)
        else:
            array = check_image(image, source)
        return to_float(array, normalization)

    def single_pass(self) -> Matcher:
        """This matcher matching at its first working size only (``extra_min_sizes``
        off), sharing its network and state: a quicker, rougher look."""
        if not self.config.extra_min_sizes:
            return self
        quick = copy.copy(self)
        quick.config = replace(self.config, extra_min_sizes=())
        return quick

    def match(
        self,
        image0: ImageInput,
        image1: ImageInput,
        normalization0: NormalizationConfig | None = None,
        normalization1: NormalizationConfig | None = None,
    ) -> MatchResult:
        """Match two images given as paths or arrays (any dtype, gray/RGB/RGBA).

        Returns:
            A :class:`MatchResult` in original-image pixel coordinates.
        """
        float0 = self.prepare(image0, normalization0, "image0")
        float1 = self.prepare(image1, normalization1, "image1")
        return self.match_normalized(float0, float1)

    def match_normalized(self, image0: np.ndarray, image1: np.ndarray) -> MatchResult:
        """Match float32 [0, 1] images ([H, W] or [H, W, 3]) already normalised."""
        size0 = (image0.shape[1], image0.shape[0])
        size1 = (image1.shape[1], image1.shape[0])
        if np.ptp(image0) < UNIFORM or np.ptp(image1) < UNIFORM:
            # a uniform image has nothing to match: any correspondence would be invented
            return MatchResult.empty(size0, size1)
        image0, image1 = self._colour(image0), self._colour(image1)  # once, not per pass
        passes, found = [], []
        for min_size in (self.config.min_size, *self.config.extra_min_sizes):
            work0, to_work0 = self._to_working(image0, min_size)
            work1, to_work1 = self._to_working(image1, min_size)
            shapes = (work0.shape, work1.shape)
            if shapes in passes:
                continue
            passes.append(shapes)
            keypoints0, keypoints1, confidence = self._match(work0, work1)
            if self.config.min_texture > 0 and len(keypoints0):
                textured = self._textured(work0, keypoints0) & self._textured(work1, keypoints1)
                keypoints0, keypoints1 = keypoints0[textured], keypoints1[textured]
                confidence = confidence[textured]
            if len(keypoints0):
                keypoints0 = transform_points(np.linalg.inv(to_work0), keypoints0)
                keypoints1 = transform_points(np.linalg.inv(to_work1), keypoints1)
                found.append((keypoints0, keypoints1, confidence))
        if not found:
            return MatchResult.empty(size0, size1)
        keypoints0, keypoints1, confidence = (
            np.concatenate(part) for part in zip(*found, strict=True)
        )
        return MatchResult(keypoints0, keypoints1, confidence, size0, size1)

    def _textured(self, image: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """[N] bool: keypoints (working pixels) whose neighbourhood is not uniform."""
        gray = to_gray(image)
        side = 2 * self.config.texture_radius + 1
        mean = cv2.blur(gray, (side, side), borderType=cv2.BORDER_REFLECT)
        variance = cv2.blur(gray * gray, (side, side), borderType=cv2.BORDER_REFLECT) - mean**2
        height, width = gray.shape
        x = np.clip(np.round(keypoints[:, 0]).astype(int), 0, width - 1)
        y = np.clip(np.round(keypoints[:, 1]).astype(int), 0, height - 1)
        return variance[y, x] >= self.config.min_texture**2

    def _colour(self, image: np.ndarray) -> np.ndarray:
        """The image as ``_match`` takes it: gray [H, W] or [H, W, 3] (a no-op if it is)."""
        if self.grayscale:
            return to_gray(image)
        return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image

    def _to_working(
        self, image: np.ndarray, min_size: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Resizing to the working range (``min_size`` overrides the config's); returns the
        image and the original->working map. Colour is handled before (:meth:`_colour`)."""
        min_size = min(self.config.min_size if min_size is None else min_size, self.config.max_size)
        resized, to_work = working_size(image, self.config.max_size, min_size)
        if resized is image:
            return np.ascontiguousarray(image, dtype=np.float32), to_work
        return resized, to_work

    @abstractmethod
    def _match(
        self, image0: np.ndarray, image1: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Match working-resolution images.

        Args:
            image0, image1: float32 [H, W] (or [H, W, 3] if not ``grayscale``) in [0, 1].
        Returns:
            keypoints0 [N, 2], keypoints1 [N, 2] in working pixels, confidence [N] in [0, 1].
        """


def mutual_ratio_match(
    descriptors0: np.ndarray,
    descriptors1: np.ndarray,
    ratio: float,
    mutual: bool,
    norm: int = cv2.NORM_L2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest-neighbour matching with Lowe's ratio test and an optional mutual check.

    Args:
        descriptors0: [N0, D], descriptors1: [N1, D] (float32, or uint8 for NORM_HAMMING).
        ratio: keep a match if d1 < ratio · d2 (1.0 disables the test).
    Returns:
        index0 [M], index1 [M], confidence [M] = 1 - d1 / d2 (clipped to [0, 1]).
    """
    empty = np.zeros(0, dtype=int), np.zeros(0, dtype=int), np.zeros(0)
    if len(descriptors0) < 2 or len(descriptors1) < 2:
        return empty
    matcher = cv2.BFMatcher(norm)
    knn = matcher.knnMatch(descriptors0, descriptors1, k=2)
    pairs = [
        (m[0].queryIdx, m[0].trainIdx, m[0].distance, m[1].distance) for m in knn if len(m) == 2
    ]
    if not pairs:
        return empty
    index0, index1, first, second = (np.array(v) for v in zip(*pairs, strict=True))
    keep = first < ratio * np.maximum(second, 1e-12)
    if mutual:
        reverse = matcher.match(descriptors1, descriptors0)
        best0_of1 = np.full(len(descriptors1), -1)
        for m in reverse:
            best0_of1[m.queryIdx] = m.trainIdx
        keep &= best0_of1[index1] == index0
    confidence = np.clip(1.0 - first / np.maximum(second, 1e-12), 0.0, 1.0)
    return index0[keep].astype(int), index1[keep].astype(int), confidence[keep]
