"""OpenCV's SIFT and ORB behind the :class:`~modalign.matchers.base.Matcher` interface."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..io import to_uint8
from .base import Matcher, MatcherConfig, mutual_ratio_match


@dataclass(frozen=True)
class SIFTConfig(MatcherConfig):
    """SIFT keypoints and descriptors; ratio test (and optional mutual check)."""

    max_keypoints: int = 8000
    ratio: float = 0.85
    mutual: bool = False
    contrast_threshold: float = 0.04
    root_sift: bool = False


class SIFTMatcher(Matcher):
    """Lowe's SIFT (OpenCV), optionally with RootSIFT descriptors."""

    Config = SIFTConfig

    def _match(self, image0, image1):
        sift = cv2.SIFT_create(
            nfeatures=self.config.max_keypoints, contrastThreshold=self.config.contrast_threshold
        )
        points, descriptors = [], []
        for image in (image0, image1):
            keypoints, desc = sift.detectAndCompute(to_uint8(image), None)
            if desc is None:
                desc = np.zeros((0, 128), np.float32)
            if self.config.root_sift and len(desc):
                desc = np.sqrt(desc / np.maximum(desc.sum(axis=1, keepdims=True), 1e-12))
            points.append(np.array([k.pt for k in keypoints], dtype=np.float64).reshape(-1, 2))
            descriptors.append(desc.astype(np.float32))
        index0, index1, confidence = mutual_ratio_match(
            descriptors[0], descriptors[1], self.config.ratio, self.config.mutual
        )
        return points[0][index0], points[1][index1], confidence


@dataclass(frozen=True)
class ORBConfig(MatcherConfig):
    """ORB keypoints and binary descriptors; Hamming ratio test."""

    max_keypoints: int = 8000
    ratio: float = 0.85
    mutual: bool = False
    fast_threshold: int = 10


class ORBMatcher(Matcher):
    """ORB (oriented FAST + rotated BRIEF), OpenCV."""

    Config = ORBConfig

    def _match(self, image0, image1):
        orb = cv2.ORB_create(
            nfeatures=self.config.max_keypoints, fastThreshold=self.config.fast_threshold
        )
        points, descriptors = [], []
        for image in (image0, image1):
            keypoints, desc = orb.detectAndCompute(to_uint8(image), None)
            if desc is None:
                desc = np.zeros((0, 32), np.uint8)
            points.append(np.array([k.pt for k in keypoints], dtype=np.float64).reshape(-1, 2))
            descriptors.append(desc)
        index0, index1, confidence = mutual_ratio_match(
            descriptors[0], descriptors[1], self.config.ratio, self.config.mutual, cv2.NORM_HAMMING
        )
        return points[0][index0], points[1][index1], confidence
