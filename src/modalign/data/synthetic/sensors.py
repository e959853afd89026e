"""Simulators of other sensors: thermal, near-infrared, SAR, night, depth/shading.

Every simulator takes an RGB float32 [H, W, 3] image in [0, 1], its config and a seeded
generator, and returns an image of the same shape, dtype and range (gray modalities
repeat their one channel). The ranges in each config are what the generator samples from.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .tone import (
    blur,
    gradient_magnitude,
    gray,
    random_curve,
    remap,
    smooth_noise,
    stretch,
    to_rgb,
)


@dataclass(frozen=True)
class ThermalConfig:
    """Long-wave infrared: temperature from material (colour), not from brightness.

    Attributes:
        knots: control points of the non-monotonic material-to-temperature curve.
        ambient: amplitude of the low-frequency temperature field.
        blur: (min, max) optical blur sigma, px (thermal images carry little texture).
        halo: (min, max) strength of the halo (bright/dark ring) around warm objects.
        invert: probability of black-hot polarity (hot = dark).
        noise: (min, max) sensor noise sigma; column (fixed-pattern) noise is a third.
        used_range: (min, max) fraction of the full 16-bit range the scene occupies.
    """

    knots: int = 6
    ambient: float = 0.25
    blur: tuple[float, float] = (0.8, 2.5)
    halo: tuple[float, float] = (0.2, 1.0)
    invert: float = 0.3
    noise: tuple[float, float] = (0.005, 0.03)
    used_range: tuple[float, float] = (0.15, 0.6)


def thermal(image: np.ndarray, config: ThermalConfig, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    weights = rng.normal(0, 1, 3).astype(np.float32)  # "material" axis in colour space
    material = stretch(image @ weights)
    temperature = remap(material, random_curve(rng, config.knots))
    sunlit = rng.uniform(0, 0.3)  # sunlit surfaces warm up a little
    temperature = (1 - sunlit) * temperature + sunlit * gray(image)
    temperature += config.ambient * (smooth_noise((height, width), 3, rng) - 0.5)
    temperature = blur(temperature, rng.uniform(*config.blur))
    halo = rng.uniform(*config.halo)
    temperature = temperature + halo * (temperature - blur(temperature, 0.05 * max(height, width)))
    temperature = stretch(temperature, 0.5, 99.5)
    if rng.random() < config.invert:
        temperature = 1 - temperature
    sigma = rng.uniform(*config.noise)
    temperature = temperature + rng.standard_normal((height, width), dtype=np.float32) * sigma
    temperature += rng.standard_normal((1, width), dtype=np.float32) * sigma / 3
    used = rng.uniform(*config.used_range)
    low = rng.uniform(0.05, 0.95 - used)
    return to_rgb(low + used * np.clip(temperature, 0, 1))


@dataclass(frozen=True)
class NIRConfig:
    """Near-infrared (~850 nm): vegetation bright, sky and water dark.

    Attributes:
        red: (min, max) weight of the red channel (NIR correlates best with red).
        vegetation: (min, max) brightening per unit of excess green (2G - R - B).
        sky: (min, max) darkening per unit of excess blue (B - R).
        blur: (min, max) sigma, px.
    """

    red: tuple[float, float] = (0.4, 0.8)
    vegetation: tuple[float, float] = (1.0, 2.5)
    sky: tuple[float, float] = (0.5, 1.5)
    blur: tuple[float, float] = (0.0, 0.8)


def nir(image: np.ndarray, config: NIRConfig, rng: np.random.Generator) -> np.ndarray:
    red, green, blue = cv2.split(image)
    weight = rng.uniform(*config.red)
    base = weight * red + (1 - weight) * (0.7 * green + 0.3 * blue)
    vegetation = np.maximum(2 * green - red - blue, 0)
    sky = np.maximum(blue - red, 0)
    out = base + rng.uniform(*config.vegetation) * vegetation - rng.uniform(*config.sky) * sky
    return to_rgb(stretch(blur(out, rng.uniform(*config.blur)), 0.5, 99.5))


@dataclass(frozen=True)
class SARConfig:
    """Synthetic aperture radar amplitude: backscatter by surface, strong returns at edges
    and corners, multiplicative speckle, log (dB) compression, no colour.

    Attributes:
        knots: control points of the surface-to-backscatter curve (non-monotonic).
        smoothing: (min, max) sigma of the surface estimate, px.
        returns: (min, max) gain of the edge/corner (double-bounce) returns.
        looks: (min, max) number of looks L of the Gamma(L, 1/L) speckle (1 = strongest).
        dynamic_range: (min, max) dB range mapped to [0, 1].
    """

    knots: int = 5
    smoothing: tuple[float, float] = (1.0, 3.0)
    returns: tuple[float, float] = (2.0, 8.0)
    looks: tuple[float, float] = (1.0, 4.0)
    dynamic_range: tuple[float, float] = (20.0, 35.0)


def sar(image: np.ndarray, config: SARConfig, rng: np.random.Generator) -> np.ndarray:
    surface = blur(gray(image), rng.uniform(*config.smoothing))
    backscatter = 0.05 + remap(surface, random_curve(rng, config.knots))
    edges = gradient_magnitude(surface)
    edges = edges / (np.percentile(edges[::4, ::4], 99) + 1e-6)
    intensity = backscatter**2 + rng.uniform(*config.returns) * np.clip(edges, 0, 3) ** 3
    looks = rng.uniform(*config.looks)
    intensity *= rng.gamma(looks, 1 / looks, intensity.shape).astype(np.float32)
    decibels = 10 * np.log10(intensity + 1e-4)
    top = np.percentile(decibels[::4, ::4], 99.5)
    span = rng.uniform(*config.dynamic_range)
    return to_rgb((decibels - (top - span)) / span)


@dataclass(frozen=True)
class NightConfig:
    """Night or low light: dark, noisy, tinted, with bright light sources and glows.

    Attributes:
        gamma: (min, max) darkening exponent.
        gain: (min, max) exposure of the scene.
        lights: (min, max) number of light sources.
        glow: (min, max) glow radius, fraction of the image size.
        noise: (min, max) noise sigma (grows with the square root of the signal).
    """

    gamma: tuple[float, float] = (1.8, 3.0)
    gain: tuple[float, float] = (0.15, 0.5)
    lights: tuple[int, int] = (2, 12)
    glow: tuple[float, float] = (0.01, 0.06)
    noise: tuple[float, float] = (0.01, 0.05)


def night(image: np.ndarray, config: NightConfig, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    tint = np.array([1.0, 0.75, 0.45] if rng.random() < 0.6 else [0.6, 0.75, 1.0], np.float32)
    out = image ** rng.uniform(*config.gamma) * rng.uniform(*config.gain) * tint
    lights = np.zeros((height, width), np.float32)
    for _ in range(rng.integers(config.lights[0], config.lights[1] + 1)):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(lights, centre, int(rng.integers(1, 4)), float(rng.uniform(0.6, 1.0)), -1)
    glow = blur(lights, rng.uniform(*config.glow) * max(height, width))
    lights = lights + 4 * glow
    out = out + lights[..., None] * np.array([1.0, 0.85, 0.6], np.float32)
    sigma = rng.uniform(*config.noise)
    out = out + np.sqrt(np.clip(out, 0, 1) + 0.01) * sigma * rng.standard_normal(
        out.shape, dtype=np.float32
    )
    return np.clip(out, 0, 1).astype(np.float32)


@dataclass(frozen=True)
class DepthConfig:
    """Depth map or its shading, from image structure: smooth layered surfaces.

    Attributes:
        layers: (min, max) number of depth layers (posterised smoothed luminance).
        smoothing: (min, max) sigma of the structure, fraction of the image size.
        ground: (min, max) weight of the ground-plane ramp (farther towards the top).
        shading: probability of rendering Lambertian shading instead of depth.
    """

    layers: tuple[int, int] = (3, 7)
    smoothing: tuple[float, float] = (0.01, 0.04)
    ground: tuple[float, float] = (0.0, 1.0)
    shading: float = 0.3


def depth(image: np.ndarray, config: DepthConfig, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    structure = stretch(blur(gray(image), rng.uniform(*config.smoothing) * max(height, width)))
    levels = rng.integers(config.layers[0], config.layers[1] + 1)
    layered = np.floor(structure * levels) / levels
    ramp = np.linspace(1, 0, height, dtype=np.float32)[:, None]
    value = blur(layered + rng.uniform(*config.ground) * ramp, 1.5)
    value = stretch(value, 0, 100)
    if rng.random() < config.shading:
        gx = cv2.Sobel(value, cv2.CV_32F, 1, 0, ksize=3) * 20
        gy = cv2.Sobel(value, cv2.CV_32F, 0, 1, ksize=3) * 20
        light = rng.normal(0, 1, 3)
        light[2] = abs(light[2]) + 0.5
        light /= np.linalg.norm(light)
        shade = (-gx * light[0] - gy * light[1] + light[2]) / np.sqrt(gx**2 + gy**2 + 1)
        return to_rgb(stretch(shade, 0.5, 99.5))
    return to_rgb(value if rng.random() < 0.5 else 1 - value)
