"""Small image operations shared by the modality simulators (float32 [H, W(, 3)] in [0, 1])."""

from __future__ import annotations

import cv2
import numpy as np

from ...pseudocolour import LUMA as _LUMA

LUMA = _LUMA.astype(np.float32)  # the same Rec. 601 weights, float32 as the images


def gray(image: np.ndarray) -> np.ndarray:
    """[H, W] luminance of an [H, W, 3] image."""
    return image @ LUMA


def to_rgb(image: np.ndarray) -> np.ndarray:
    """[H, W, 3] float32 in [0, 1] from an [H, W] image (clipped)."""
    image = np.clip(image, 0, 1).astype(np.float32)
    return cv2.merge([image, image, image])


def stretch(image: np.ndarray, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """Linear stretch of the ``low``..``high`` percentiles to [0, 1], clipped."""
    sample = image[::4, ::4]
    lo, hi = np.percentile(sample, [low, high])
    return np.clip((image - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32)


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (no-op for sigma <= 0)."""
    if sigma <= 0:
        return image
    return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def smooth_noise(
    shape: tuple[int, int], cells: int, rng: np.random.Generator, channels: int = 0
) -> np.ndarray:
    """Low-frequency noise in [0, 1]: ``cells``×``cells`` random values, cubic-upsampled."""
    size = (cells, cells, channels) if channels else (cells, cells)
    control = rng.random(size).astype(np.float32)
    out = cv2.resize(control, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return np.clip(out, 0, 1)


def random_curve(
    rng: np.random.Generator, knots: int, monotonic: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Control points (x, y) of a random piecewise-linear intensity remap of [0, 1]."""
    x = np.linspace(0, 1, knots)
    y = rng.random(knots)
    if monotonic:
        y = np.sort(y)
    return x, y.astype(np.float32)


def remap(image: np.ndarray, curve: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Apply an intensity curve from :func:`random_curve` (via a 1024-entry table)."""
    table = np.interp(np.linspace(0, 1, 1024), *curve).astype(np.float32)
    index = np.clip(image * 1023 + 0.5, 0, 1023).astype(np.int32)
    return table[index]


def gradient_magnitude(image: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of an [H, W] image."""
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3)
    return cv2.magnitude(gx, gy)


def photometric(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Per-side camera changes: gain, offset, gamma, blur and noise, scaled by ``strength``."""
    if strength <= 0:
        return image
    s = strength
    gain = np.exp(rng.uniform(-0.3, 0.3) * s)
    offset = rng.uniform(-0.1, 0.1) * s
    gamma = np.exp(rng.uniform(-0.4, 0.4) * s)
    out = cv2.pow(np.clip(image * np.float32(gain) + np.float32(offset), 0, 1), gamma)
    if rng.random() < 0.3 * s:
        out = blur(out, rng.uniform(0.3, 1.2))
    if rng.random() < 0.5:  # sensor noise, the same in every channel
        sigma = np.float32(rng.uniform(0, 0.03) * s)
        noise = rng.standard_normal(out.shape[:2], dtype=np.float32) * sigma
        out = out + (noise[..., None] if out.ndim == 3 else noise)
    return np.clip(out, 0, 1, out=out).astype(np.float32, copy=False)
