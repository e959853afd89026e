"""RIFT-style radiation-invariant matcher for cross-modal pairs.

After Li, Hu & Ai, "RIFT: Multi-modal image matching based on radiation-variation
insensitive feature transform", IEEE TIP 2020:

1. Kovesi's phase congruency (PC) from a log-Gabor bank (:mod:`modalign.structure`),
   which responds to structure independently of the intensity mapping of each sensor.
2. Keypoints: FAST on the PC maximum moment (edges + corners), strongest first.
3. Descriptor: the maximum index map (MIM) — per pixel, the orientation with the largest
   summed log-Gabor amplitude — histogrammed over a ``grid``×``grid`` layout of cells
   around the keypoint (one bin per orientation), computed with integral images.
4. Beyond the paper: image 1 is also described with patches scaled by
   ``descriptor_scales`` (the MIM histogram is not scale invariant); the copies compete
   in the nearest-neighbour search. Large rotations are left to the pipeline's
   rotation search.
5. Mutual nearest neighbour with a ratio test; geometry is left to the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..geometry.transforms import transform_points
from ..structure import PhaseConfig, PhaseCongruency, phase_congruency
from .base import Matcher, MatcherConfig, mutual_ratio_match


@dataclass(frozen=True)
class RIFTConfig(MatcherConfig):
    """Settings of the RIFT-style matcher (lengths in working-resolution pixels)."""

    max_size: int = 640
    phase: PhaseConfig = field(default_factory=PhaseConfig)
    max_keypoints: int = 2000
    fast_threshold: int = 5
    patch_size: int = 56
    grid: int = 6
    descriptor_scales: tuple[float, ...] = (1.0, 0.8, 1.25)
    descriptor_rotations: tuple[float, ...] = (0.0,)
    ratio: float = 0.97
    mutual: bool = True


def detect(pc: PhaseCongruency, config: RIFTConfig) -> np.ndarray:
    """[K, 2] keypoints: FAST corners of the normalised maximum moment, strongest first."""
    moment = pc.max_moment
    peak = np.percentile(moment, 99.5)
    image = np.round(np.clip(moment / max(peak, 1e-8), 0, 1) * 255).astype(np.uint8)
    fast = cv2.FastFeatureDetector_create(config.fast_threshold, nonmaxSuppression=True)
    keypoints = fast.detect(image, None)
    if not keypoints:
        return np.zeros((0, 2))
    response = np.array([k.response for k in keypoints])
    points = np.array([k.pt for k in keypoints])
    order = np.argsort(-response)[: config.max_keypoints]
    return points[order]


def _integral_one_hot(index_map: np.ndarray, orientations: int) -> np.ndarray:
    """[H+1, W+1, O] integral images of the one-hot maximum index map."""
    height, width = index_map.shape
    integral = np.zeros((height + 1, width + 1, orientations), np.float32)
    one_hot = (index_map[..., None] == np.arange(orientations)).astype(np.float32)
    integral[1:, 1:] = one_hot.cumsum(0).cumsum(1)
    return integral


def describe(
    pc: PhaseCongruency, keypoints: np.ndarray, config: RIFTConfig, scale: float = 1.0
) -> np.ndarray:
    """[K, grid² × O] L2-normalised MIM histograms around each keypoint.

    ``scale`` multiplies the patch size (to describe image 1 at other scales).
    """
    orientations, grid = config.phase.orientations, config.grid
    assert pc.index_map is not None, "describe needs phase_congruency(..., index_map=True)"
    height, width = pc.index_map.shape
    integral = _integral_one_hot(pc.index_map, orientations)
    half = config.patch_size * scale / 2
    edges = np.linspace(-half, half, grid + 1)
    x = np.clip(np.round(keypoints[:, 0:1] + edges[None]).astype(int), 0, width)
    y = np.clip(np.round(keypoints[:, 1:2] + edges[None]).astype(int), 0, height)
    x0, x1 = x[:, None, :-1], x[:, None, 1:]  # [K, 1, grid]
    y0, y1 = y[:, :-1, None], y[:, 1:, None]  # [K, grid, 1]
    histogram = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    descriptor = histogram.reshape(len(keypoints), -1)
    norm = np.linalg.norm(descriptor, axis=1, keepdims=True)
    return (descriptor / np.maximum(norm, 1e-8)).astype(np.float32)


class RIFTMatcher(Matcher):
    """Radiation-invariant phase-congruency matcher (RIFT-style) for cross-modal pairs."""

    Config = RIFTConfig

    def _describe_rotated(self, image1: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints of image 1 (in its own pixels) and descriptors computed on image 1
        turned by ``angle`` degrees (counter-clockwise), at every descriptor scale."""
        config = self.config
        height, width = image1.shape
        if angle == 0:
            rotated, to_original = image1, np.eye(3)
        else:
            centre = ((width - 1) / 2, (height - 1) / 2)
            rotation = cv2.getRotationMatrix2D(centre, angle, 1.0)
            corners = np.array([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1.0]])
            extent = corners @ rotation.T
            size = np.ceil(extent.max(0) - extent.min(0)).astype(int)
            rotation[:, 2] -= extent.min(0)
            rotated = cv2.warpAffine(
                image1, rotation, (int(size[0]), int(size[1])), flags=cv2.INTER_LINEAR
            )
            to_original = np.linalg.inv(np.vstack([rotation, [0, 0, 1]]))
        pc = phase_congruency(rotated, config.phase)
        keypoints = detect(pc, config)
        if angle != 0 and len(keypoints):
            inside = transform_points(to_original, keypoints)
            keep = (inside >= 0).all(1) & (inside[:, 0] <= width - 1) & (inside[:, 1] <= height - 1)
            keypoints, original = keypoints[keep], inside[keep]
        else:
            original = keypoints
        descriptors = [describe(pc, keypoints, config, s) for s in config.descriptor_scales]
        return np.tile(original, (len(descriptors), 1)), np.concatenate(descriptors)

    def _match(self, image0, image1):
        config = self.config
        pc0 = phase_congruency(image0, config.phase)
        keypoints0 = detect(pc0, config)
        if len(keypoints0) < 2:
            return np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0)
        descriptors0 = describe(pc0, keypoints0, config)
        # image 1 is described at every scale and rotation; all copies compete in the search
        described = [self._describe_rotated(image1, a) for a in config.descriptor_rotations]
        candidates1 = np.concatenate([k for k, _ in described])
        descriptors1 = np.concatenate([d for _, d in described])
        if len(candidates1) < 2:
            return np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0)
        index0, index1, confidence = mutual_ratio_match(
            descriptors0, descriptors1, config.ratio, config.mutual
        )
        return keypoints0[index0], candidates1[index1], confidence
