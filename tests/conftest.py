"""Shared fixtures: generated images and pairs with known transforms (no copied assets)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest


def warp_to_moving(fixed: np.ndarray, H_1to0: np.ndarray, size1: tuple[int, int]) -> np.ndarray:
    """The moving image that H_1to0 maps onto ``fixed``: moving(x1) = fixed(H_1to0 · x1)."""
    return cv2.warpPerspective(
        fixed, H_1to0, size1, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=0
    )


def similarity(
    angle_degrees: float, scale: float, shift: tuple[float, float], centre
) -> np.ndarray:
    """3×3 rotation+scale about ``centre`` followed by ``shift``."""
    angle = np.deg2rad(angle_degrees)
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    H = np.eye(3)
    H[:2, :2] = rotation
    H[:2, 2] = np.asarray(centre) - rotation @ np.asarray(centre) + np.asarray(shift)
    return H


def head_slice_pair(size1: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured 200 × 200 head slice on a black surround (a scan), its moving view of
    ``size1`` under a known similarity, and that similarity H_1to0."""
    yy, xx = np.mgrid[0:200, 0:200]
    head = ((xx - 100) / 70) ** 2 + ((yy - 100) / 80) ** 2 <= 1
    noise = np.random.default_rng(0).random((200, 200)).astype(np.float32)
    texture = cv2.GaussianBlur(noise, (0, 0), 2)
    texture = (texture - texture.min()) / np.ptp(texture)
    fixed = np.where(head, 0.2 + 0.8 * texture, 0.0).astype(np.float32)
    H = similarity(10.0, 0.9, (4.0, -3.0), (100, 100))
    return fixed, warp_to_moving(fixed, H, size1), H


@pytest.fixture(scope="session")
def camera() -> np.ndarray:
    """512×512 uint8 grayscale photograph shipped with scikit-image."""
    from skimage import data

    return data.camera()


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """512×512×3 uint8 RGB photograph shipped with scikit-image."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def pair(astronaut) -> tuple[np.ndarray, np.ndarray]:
    """Two gray uint8 views of the astronaut (203 × 161 and 150 × 133: sizes that are not
    multiples of 8), for the learned matcher's contracts."""
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    return cv2.resize(gray, (203, 161)), cv2.resize(gray[20:420, 30:480], (150, 133))


@pytest.fixture(scope="session")
def homography_pair(camera):
    """Same-modality pair: (fixed, moving, H_1to0) with a mild perspective homography."""
    H = similarity(8.0, 0.9, (12.0, -9.0), (255.5, 255.5))
    H[2, :2] = [1.5e-4, -1.0e-4]
    moving = warp_to_moving(camera, H, (460, 420))
    return camera, moving, H
