"""Simulators of renderings and other contrasts: map, medical (MR/CT), PET/SPECT, sketch,
painting, season. Same contract as :mod:`.sensors`: RGB float32 [H, W, 3] in [0, 1] in,
same shape, dtype and range out."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .tone import blur, gray, random_curve, remap, smooth_noise, stretch, to_rgb


@dataclass(frozen=True)
class MapConfig:
    """Vector map rendering: flat colours per posterised region, edge lines, no texture.

    Attributes:
        levels: (min, max) quantisation levels per channel before the palette.
        smoothing: (min, max) sigma removing texture before posterising, px.
        line_width: (min, max) width of the drawn boundaries, px (0 in the range: none).
    """

    levels: tuple[int, int] = (2, 4)
    smoothing: tuple[float, float] = (1.5, 4.0)
    line_width: tuple[int, int] = (0, 2)


def map_render(image: np.ndarray, config: MapConfig, rng: np.random.Generator) -> np.ndarray:
    smooth = blur(image, rng.uniform(*config.smoothing))
    levels = int(rng.integers(config.levels[0], config.levels[1] + 1))
    codes = np.minimum((smooth * levels).astype(np.int32), levels - 1)
    index = (codes[..., 0] * levels + codes[..., 1]) * levels + codes[..., 2]
    palette = (0.55 + 0.45 * rng.random((levels**3, 3))).astype(np.float32)  # pastel fills
    out = palette[index]
    width = int(rng.integers(config.line_width[0], config.line_width[1] + 1))
    if width > 0:
        edges = cv2.Canny((gray(smooth) * 255).astype(np.uint8), 30, 90)
        if width > 1:
            edges = cv2.dilate(edges, np.ones((width, width), np.uint8))
        out[edges > 0] = rng.uniform(0.1, 0.5, 3).astype(np.float32)
    return out


@dataclass(frozen=True)
class MedicalConfig:
    """MR (T1/T2/PD) and CT-like contrasts: non-monotonic intensity relations, bias field,
    Rician noise.

    Attributes:
        variants: contrasts to draw from; "t2" inverts dark tissue, "pd" flattens contrast,
            "ct" makes one upper band bone-bright (clipped) and compresses the rest.
        jitter: perturbation of the variant's curve control points.
        bias: (min, max) amplitude of the smooth multiplicative bias field (MR).
        noise: (min, max) Rician noise sigma.
    """

    variants: tuple[str, ...] = ("t1", "t2", "pd", "ct")
    jitter: float = 0.1
    bias: tuple[float, float] = (0.0, 0.3)
    noise: tuple[float, float] = (0.0, 0.04)


MEDICAL_CURVES = {  # y at x = 0, .2, .4, .6, .8, 1
    "t1": (0.0, 0.15, 0.45, 0.7, 0.85, 1.0),
    "t2": (0.0, 0.95, 0.55, 0.35, 0.5, 0.7),
    "pd": (0.0, 0.6, 0.7, 0.6, 0.75, 0.8),
    "ct": (0.0, 0.45, 0.35, 0.4, 1.0, 0.55),
}


def medical_variant(rng: np.random.Generator, config: MedicalConfig) -> str:
    """The contrast drawn for one image (decides the Modality: CT or MRI)."""
    return str(config.variants[rng.integers(len(config.variants))])


def medical(
    image: np.ndarray, config: MedicalConfig, rng: np.random.Generator, variant: str = ""
) -> np.ndarray:
    variant = variant or medical_variant(rng, config)
    height, width = image.shape[:2]
    curve_y = np.array(MEDICAL_CURVES[variant]) + rng.uniform(-config.jitter, config.jitter, 6)
    out = remap(stretch(gray(image)), (np.linspace(0, 1, 6), np.clip(curve_y, 0, 1)))
    if variant == "ct":
        out = np.where(out > 0.8, 1.0, out).astype(np.float32)
    else:
        out = out * (1 + rng.uniform(*config.bias) * (smooth_noise((height, width), 3, rng) - 0.5))
    sigma = rng.uniform(*config.noise)
    noise = rng.standard_normal((2, height, width), dtype=np.float32) * sigma
    return to_rgb(np.sqrt((out + noise[0]) ** 2 + noise[1] ** 2))


@dataclass(frozen=True)
class PETConfig:
    """PET/SPECT: low-resolution, blurred tracer activity, Poisson counts, often colour-mapped.

    Attributes:
        downsample: (min, max) resolution loss factor.
        knots: control points of the tissue-to-uptake curve (hot spots in some bands).
        counts: (min, max) mean counts per low-resolution pixel (Poisson noise level).
        colormap: probability of a pseudo-colour rendering (hot, jet or rainbow).
        confined: probability that the tracer is taken up only inside an inner region (see
            :func:`uptake_region`), as FDG stays in the brain and leaves scalp and skull
            cold: the activity's outline then lies inside the object's, on no edge of the
            other image, and matching has to rely on the structure within it.
        inset: (min, max) depth of that region's outline inside the object's, a fraction
            of the shorter side.
    """

    downsample: tuple[float, float] = (3.0, 8.0)
    knots: int = 5
    counts: tuple[float, float] = (20.0, 200.0)
    colormap: float = 0.5
    confined: float = 0.0
    inset: tuple[float, float] = (0.03, 0.12)


COLORMAPS = (cv2.COLORMAP_HOT, cv2.COLORMAP_JET, cv2.COLORMAP_RAINBOW)


def pet(image: np.ndarray, config: PETConfig, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    factor = rng.uniform(*config.downsample)
    size = (max(4, round(width / factor)), max(4, round(height / factor)))
    luminance = gray(image)
    small = cv2.resize(luminance, size, interpolation=cv2.INTER_AREA)
    activity = remap(stretch(small), random_curve(rng, config.knots))
    if rng.random() < config.confined:
        region = uptake_region(luminance, rng.uniform(*config.inset), rng)
        activity = activity * cv2.resize(region, size, interpolation=cv2.INTER_AREA)
    activity = blur(activity, rng.uniform(0.5, 1.2))
    counts = rng.uniform(*config.counts)
    activity = rng.poisson(activity * counts).astype(np.float32) / counts
    out = stretch(cv2.resize(activity, (width, height), interpolation=cv2.INTER_CUBIC), 0, 99.8)
    if rng.random() < config.colormap:
        colormap = COLORMAPS[rng.integers(len(COLORMAPS))]
        bgr = cv2.applyColorMap((out * 255).astype(np.uint8), colormap)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255
    return to_rgb(out)


def uptake_region(image: np.ndarray, inset: float, rng: np.random.Generator) -> np.ndarray:
    """A soft [H, W] float32 mask of where a confined tracer is taken up.

    An object on an empty (dark) background keeps its interior deeper than ``inset`` ×
    the shorter side from its outline; an image filled to its borders (a photograph)
    gets a random smooth blob covering about half of it instead, so that the outline of
    the activity is never an edge of the source. The mask's edge is blurred over a third
    of the inset, as the tracer fades out.
    """
    height, width = image.shape
    depth = inset * min(height, width)
    inside = (blur(image, 2.0) > 0.05).astype(np.uint8)
    if inside.mean() > 0.9:  # no empty background: an irregular blob about the centre
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        centre = rng.uniform(0.35, 0.65, 2) * (width, height)
        radii = rng.uniform(0.25, 0.45, 2) * (width, height)
        ellipse = ((xs - centre[0]) / radii[0]) ** 2 + ((ys - centre[1]) / radii[1]) ** 2
        wobble = 0.6 * (smooth_noise((height, width), 4, rng) - 0.5)
        region = (ellipse + wobble < 1.0).astype(np.float32)
    else:
        region = (cv2.distanceTransform(inside, cv2.DIST_L2, 5) > depth).astype(np.float32)
    return blur(region, max(1.0, depth / 3))


@dataclass(frozen=True)
class SketchConfig:
    """Pencil sketch (colour-dodge) or edge drawing on paper.

    Attributes:
        edges: probability of a line drawing (Canny) instead of the pencil rendering.
        stroke: (min, max) pencil stroke width (dodge blur sigma), px.
        paper: (min, max) amplitude of the paper texture.
    """

    edges: float = 0.4
    stroke: tuple[float, float] = (2.0, 8.0)
    paper: tuple[float, float] = (0.0, 0.08)


def sketch(image: np.ndarray, config: SketchConfig, rng: np.random.Generator) -> np.ndarray:
    luminance = gray(image)
    height, width = luminance.shape
    if rng.random() < config.edges:
        lines = cv2.Canny((blur(luminance, 1.0) * 255).astype(np.uint8), 20, 60)
        out = 1 - blur(lines.astype(np.float32) / 255, 0.6) * rng.uniform(0.6, 1.0)
    else:
        inverted = blur(1 - luminance, rng.uniform(*config.stroke))
        out = np.clip(luminance / np.maximum(1 - inverted, 1e-3), 0, 1) ** rng.uniform(1.5, 4)
    paper = rng.uniform(*config.paper)
    out = out - paper * smooth_noise((height, width), 24, rng)
    return to_rgb(out)


@dataclass(frozen=True)
class PaintingConfig:
    """Painting / style change: edge-preserving smoothing, fewer colours, a colour cast,
    brush texture.

    Attributes:
        levels: (min, max) colour levels per channel.
        colour_shift: amplitude of the random 3×3 colour matrix around the identity.
        brush: (min, max) amplitude of the oriented brush texture.
    """

    levels: tuple[int, int] = (5, 12)
    colour_shift: float = 0.3
    brush: tuple[float, float] = (0.02, 0.1)


def painting(image: np.ndarray, config: PaintingConfig, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    smooth = cv2.bilateralFilter(image, 7, 0.15, 5)
    levels = rng.integers(config.levels[0], config.levels[1] + 1)
    out = np.round(smooth * levels) / levels
    matrix = np.eye(3) + rng.uniform(-config.colour_shift, config.colour_shift, (3, 3))
    out = out @ (matrix / matrix.sum(axis=1, keepdims=True)).T.astype(np.float32)
    angle = rng.uniform(0, 180)
    kernel = np.zeros((9, 9), np.float32)
    kernel[4] = 1 / 9
    rotation = cv2.getRotationMatrix2D((4, 4), angle, 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (9, 9))
    strokes = cv2.filter2D(rng.standard_normal((height, width), dtype=np.float32), -1, kernel)
    out = out + rng.uniform(*config.brush) * strokes[..., None]
    return np.clip(out, 0, 1).astype(np.float32)


@dataclass(frozen=True)
class SeasonConfig:
    """Season and colour shift: vegetation hue moves (autumn), snow on flat bright ground
    (winter), white balance and saturation change.

    Attributes:
        hue_shift: (min, max) degrees by which green hues move towards orange.
        snow: probability of a winter rendering.
        saturation: (min, max) saturation gain.
        white_balance: maximum per-channel gain deviation.
    """

    hue_shift: tuple[float, float] = (30.0, 90.0)
    snow: float = 0.3
    saturation: tuple[float, float] = (0.5, 1.5)
    white_balance: float = 0.15


def season(image: np.ndarray, config: SeasonConfig, rng: np.random.Generator) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)  # H in degrees for float images
    hue, saturation, value = cv2.split(hsv)
    green = np.clip(1 - np.abs(hue - 110) / 60, 0, 1) * (saturation > 0.15)
    hue = np.mod(hue - green * rng.uniform(*config.hue_shift), 360)
    saturation = np.clip(saturation * rng.uniform(*config.saturation), 0, 1)
    out = cv2.cvtColor(cv2.merge([hue, saturation, value]), cv2.COLOR_HSV2RGB)
    if rng.random() < config.snow:
        flat = 1 - np.clip(blur(np.abs(cv2.Laplacian(gray(image), cv2.CV_32F)), 2) * 8, 0, 1)
        cover = np.clip(flat * (0.4 + value), 0, 1)[..., None] * rng.uniform(0.5, 1.0)
        out = out * (1 - cover) + cover * np.float32(0.95)
    gains = 1 + rng.uniform(-config.white_balance, config.white_balance, 3)
    return np.clip(out * gains.astype(np.float32), 0, 1).astype(np.float32)
