"""Procedural source images, so training can run with no image files at all.

Five scene families, each drawn from a seeded generator: random shapes, lines and
curves, multi-scale textures, terrain-like land cover (elevation bands, fields, rivers,
hill shading) and street-like layouts (blocks, buildings with windows, roads, trees, cars).
All return RGB float32 [size, size, 3] in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from .tone import smooth_noise


def _colour(rng: np.random.Generator) -> tuple[float, float, float]:
    return tuple(float(c) for c in rng.random(3))


def _fractal(size: int, rng: np.random.Generator, octaves: int = 5) -> np.ndarray:
    """[size, size] fractal noise in [0, 1] (octaves of smooth noise, amplitude halving)."""
    out = np.zeros((size, size), np.float32)
    for octave in range(octaves):
        out += smooth_noise((size, size), 3 * 2**octave, rng) / 2**octave
    out -= out.min()
    return out / max(float(out.max()), 1e-6)


def _background(size: int, rng: np.random.Generator) -> np.ndarray:
    base = np.array(_colour(rng), np.float32)
    return np.clip(base + 0.4 * (smooth_noise((size, size), 3, rng, 3) - 0.5), 0, 1)


def shapes(size: int, rng: np.random.Generator) -> np.ndarray:
    image = _background(size, rng)
    for _ in range(rng.integers(10, 40)):
        colour, kind = _colour(rng), rng.integers(3)
        centre = rng.integers(0, size, 2)
        extent = rng.integers(size // 30, size // 5, 2)
        if kind == 0:
            cv2.rectangle(image, tuple(centre - extent), tuple(centre + extent), colour, -1)
        elif kind == 1:
            angle = float(rng.uniform(0, 180))
            cv2.ellipse(image, tuple(centre), tuple(extent), angle, 0, 360, colour, -1)
        else:
            corners = centre + rng.integers(-size // 6, size // 6, (rng.integers(3, 7), 2))
            cv2.fillPoly(image, [corners.astype(np.int32)], colour)
    return image


def lines(size: int, rng: np.random.Generator) -> np.ndarray:
    image = _background(size, rng)
    for _ in range(rng.integers(15, 60)):
        points = rng.integers(-size // 4, size + size // 4, (rng.integers(2, 6), 2))
        thickness = int(rng.integers(1, max(2, size // 40)))
        cv2.polylines(image, [points.astype(np.int32)], False, _colour(rng), thickness)
    return image


def texture(size: int, rng: np.random.Generator) -> np.ndarray:
    field = _fractal(size, rng)
    x, y = np.meshgrid(np.arange(size), np.arange(size))
    angle, frequency = rng.uniform(0, np.pi), rng.uniform(0.05, 0.4)
    stripes = 0.5 + 0.5 * np.sin(frequency * (np.cos(angle) * x + np.sin(angle) * y))
    mix = rng.uniform(0.2, 0.8)
    field = np.clip(mix * field + (1 - mix) * stripes.astype(np.float32) * field, 0, 1)
    ramp = np.stack([np.linspace(*rng.random(2), 256) for _ in range(3)], -1)
    return ramp[(field * 255).astype(np.int32)].astype(np.float32)


def terrain(size: int, rng: np.random.Generator) -> np.ndarray:
    height = _fractal(size, rng, 6)
    bands = np.sort(np.array([0.0, 0.3, 0.36, 0.6, 0.8, 1.01]) + rng.uniform(-0.03, 0.03, 6))
    colours = np.array([[0.1, 0.2, 0.45], [0.76, 0.7, 0.5], [0.25, 0.5, 0.2], [0.4, 0.38, 0.3],
                        [0.92, 0.92, 0.95]], np.float32)  # fmt: skip
    image = colours[np.clip(np.digitize(height, bands[1:-1]), 0, 4)]
    for _ in range(rng.integers(3, 15)):  # fields
        corner, extent = rng.integers(0, size, 2), rng.integers(size // 20, size // 6, 2)
        tint = np.array([0.3, 0.55, 0.2]) + rng.uniform(-0.15, 0.15, 3)
        cv2.rectangle(image, tuple(corner), tuple(corner + extent), tuple(tint.tolist()), -1)
    for _ in range(rng.integers(0, 3)):  # rivers
        points = np.cumsum(rng.integers(-size // 8, size // 8, (8, 2)), 0) + rng.integers(
            0, size, 2
        )
        cv2.polylines(
            image, [points.astype(np.int32)], False, (0.15, 0.25, 0.5), int(rng.integers(1, 5))
        )
    gy, gx = np.gradient(height * size / 20)
    shade = np.clip(1 - 0.5 * (gx + gy) / np.sqrt(gx**2 + gy**2 + 1), 0.4, 1.3)
    return np.clip(image * shade[..., None], 0, 1).astype(np.float32)


def street(size: int, rng: np.random.Generator) -> np.ndarray:
    image = np.full((size, size, 3), rng.uniform(0.25, 0.45), np.float32)
    block = int(rng.integers(size // 6, size // 3))
    road = int(rng.integers(block // 8, block // 4))
    for top in range(0, size, block):
        for left in range(0, size, block):
            inner = (left + road, top + road), (left + block - road, top + block - road)
            cv2.rectangle(image, *inner, _colour(rng), -1)
            for _ in range(rng.integers(1, 5)):  # buildings with windows
                corner = np.array(inner[0]) + rng.integers(0, block // 2, 2)
                extent = rng.integers(block // 8, block // 3, 2)
                roof = tuple(0.3 + 0.6 * rng.random(3))
                cv2.rectangle(image, tuple(corner), tuple(corner + extent), roof, -1)
                step = max(3, int(extent.min() // 4))
                for wx in range(corner[0] + 2, corner[0] + extent[0] - 2, step):
                    for wy in range(corner[1] + 2, corner[1] + extent[1] - 2, step):
                        cv2.rectangle(image, (wx, wy), (wx + 1, wy + 1), (0.1, 0.1, 0.15), -1)
            for _ in range(rng.integers(0, 4)):  # trees
                centre = tuple(np.array(inner[0]) + rng.integers(0, block - 2 * road, 2))
                cv2.circle(
                    image, centre, int(rng.integers(2, 1 + block // 10)), (0.15, 0.4, 0.15), -1
                )
        for _ in range(rng.integers(0, 6)):  # cars on the roads
            x, y = int(rng.integers(0, size)), top + road // 4
            cv2.rectangle(image, (x, y), (x + road, y + road // 2), _colour(rng), -1)
    return np.clip(image, 0, 1)


SCENES: dict[str, Callable[[int, np.random.Generator], np.ndarray]] = {
    "shapes": shapes,
    "lines": lines,
    "texture": texture,
    "terrain": terrain,
    "street": street,
}
