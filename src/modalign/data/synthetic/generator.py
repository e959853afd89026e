"""The pair generator: source -> fixed window + warped moving view -> modalities -> pair.

Pair ``index`` of a generator is a pure function of (config, sources, index): its
generator is seeded with ``[config.seed, index]``, so any worker can make any pair and a
set is reproducible whatever the number of processes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np

from ...errors import ConfigError
from ...pseudocolour import colour_map_scalar
from ...types import Modality
from .simulators import SIMULATOR_NAMES, Simulator, simulator_table
from .sources import SourceItem
from .tone import photometric, to_rgb
from .warp import WarpConfig, bilinear, correspondence, sample_warp


class Source(Protocol):
    def __len__(self) -> int: ...

    def get(self, index: int, rng: np.random.Generator) -> SourceItem: ...


@dataclass(frozen=True)
class SynthConfig:
    """What the generator makes.

    Attributes:
        size: side of the square fixed and moving images, px.
        seed: seed of the whole stream (pair i uses [seed, i]).
        modalities: simulator names to draw from (see ``modalign synth --help``).
        visible_fixed: probability that the other side of a simulated pair stays visible
            (otherwise both sides get a drawn modality, e.g. thermal vs SAR).
        swap: probability of exchanging the roles of the two sides.
        source_scale: (min, max) ratio of the resized source's shorter side to ``size``.
        warp: the view change of the moving image.
        photometric: strength of the per-side camera changes (0: none).
        min_covisible: least fraction of the moving image visible in the fixed one; the
            geometry is redrawn (up to 10 times) below it.
        canvas: probability that the source is set in a black canvas first (a zero border
            of ``canvas_margin`` × ``size`` on every side), so that the fixed window and
            the moving view may show its edge at any offset, as a scanned slice or a
            cropped scene does. The border is black in both images after simulation and
            never counts as covisible: its positions are learned from the content, not
            from the distance to a black edge.
        canvas_margin: that border as a fraction of ``size``.
        simulators: per-simulator config overrides, e.g. {"sar": {"looks": [1, 2]}}.
    """

    size: int = 256
    seed: int = 0
    modalities: tuple[str, ...] = SIMULATOR_NAMES
    visible_fixed: float = 0.7
    swap: float = 0.5
    source_scale: tuple[float, float] = (1.1, 1.8)
    warp: WarpConfig = field(default_factory=WarpConfig)
    photometric: float = 1.0
    min_covisible: float = 0.3
    canvas: float = 0.0
    canvas_margin: float = 0.3
    simulators: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class SyntheticPair:
    """One generated pair with dense ground truth.

    Attributes:
        image0, image1: fixed / moving RGB float32 [S, S, 3] in [0, 1].
        correspondence_1to0: [S, S, 2] float32, the fixed-image (x, y) of every moving pixel.
        covisible1: [S, S] bool, moving pixels that land inside the fixed image.
        H_1to0: [3, 3] homography part of the warp (exact when ``nonrigid`` is False).
        modality0, modality1: sensor modalities.
        simulator0, simulator1: simulator names ("real" for a real view).
        nonrigid: whether a non-rigid field was added.
        source: name of the source item.
    """

    image0: np.ndarray
    image1: np.ndarray
    correspondence_1to0: np.ndarray
    covisible1: np.ndarray
    H_1to0: np.ndarray
    modality0: Modality
    modality1: Modality
    simulator0: str
    simulator1: str
    nonrigid: bool
    source: str


class PairGenerator:
    """Makes :class:`SyntheticPair` s from weighted sources.

    Args:
        config: what to make.
        sources: image sources (folder, aligned pairs, procedural).
        weights: relative sampling weight of each source (default: equal).
        extra_simulators: learned simulators (e.g. the visible->infrared translator) by name;
            they may then be listed in ``config.modalities``.
    """

    def __init__(
        self,
        config: SynthConfig,
        sources: Sequence[Source],
        weights: Sequence[float] | None = None,
        extra_simulators: Mapping[str, Simulator] | None = None,
    ):
        if not sources:
            raise ConfigError("the synthetic generator needs at least one source")
        if not config.modalities:
            raise ConfigError("modalities: give at least one simulator name")
        self.config, self.sources = config, list(sources)
        weights = np.asarray(weights if weights is not None else [1.0] * len(sources), float)
        if len(weights) != len(sources) or weights.min() < 0 or weights.sum() <= 0:
            raise ConfigError("source weights: one non-negative weight per source, not all 0")
        self.weights = weights / weights.sum()
        names = tuple(dict.fromkeys(("visible", *config.modalities, *(extra_simulators or {}))))
        self.simulators = simulator_table(names, config.simulators, extra_simulators)

    def pair(self, index: int, simulators: tuple[str, str] | None = None) -> SyntheticPair:
        """Pair number ``index``; ``simulators`` forces (fixed, moving) simulator names."""
        c = self.config
        rng = np.random.default_rng([c.seed, index])
        source = self.sources[rng.choice(len(self.sources), p=self.weights)]
        item = source.get(int(rng.integers(len(source))), rng)
        views, names, modalities = self._views(item, simulators, rng)
        views = _resize_source(views, c.size * rng.uniform(*c.source_scale))
        margin = 0
        if c.canvas > 0 and rng.random() < c.canvas:  # no draw at 0: older streams stay
            margin = round(c.canvas_margin * c.size)
            views = _in_canvas(views, margin)
        height, width = views[0].shape[:2]
        left, top = (
            int(rng.integers(0, width - c.size + 1)),
            int(rng.integers(0, height - c.size + 1)),
        )
        in_content = _inside(margin, width - 1 - margin, height - 1 - margin)
        for _ in range(10):
            warp = sample_warp(c.warp, (c.size, c.size), (c.size, c.size), rng)
            points = correspondence(warp, (c.size, c.size))
            in_source = points + np.float32([left, top])
            covisible = _inside(0, c.size - 1, c.size - 1)(points) & in_content(in_source)
            if covisible.mean() >= c.min_covisible:
                break
        image0 = np.ascontiguousarray(views[0][top : top + c.size, left : left + c.size])
        image1 = bilinear(views[1], in_source)
        valid1 = in_content(in_source)
        out = []
        for side, (image, name) in enumerate(zip((image0, image1), names, strict=True)):
            if name != "real":
                image = self.simulators[name](image, rng)
                modalities[side] = self.simulators[name].modality
            out.append(photometric(image, c.photometric, rng))
        out[1][~valid1] = 0
        if margin:  # the content is a rectangle of the window: black around it
            content0 = np.zeros((c.size, c.size), bool)
            rows = slice(max(margin - top, 0), max(height - margin - top, 0))
            content0[rows, slice(max(margin - left, 0), max(width - margin - left, 0))] = True
            out[0][~content0] = 0
        out = [_as_register_reads(image) for image in out]
        return SyntheticPair(
            out[0], out[1], points, covisible, warp.H_1to0,
            modalities[0], modalities[1], names[0], names[1],
            warp.displacement is not None, item.name,
        )  # fmt: skip

    def _views(
        self, item: SourceItem, forced: tuple[str, str] | None, rng: np.random.Generator
    ) -> tuple[list[np.ndarray], tuple[str, str], list[Modality]]:
        """Source views of (fixed, moving), each side's simulator name and modality."""
        c = self.config
        if len(item.views) > 1 and forced is None:  # a real second modality
            order = (0, 1) if rng.random() >= c.swap else (1, 0)
            views = [item.views[i] for i in order]
            return views, ("real", "real"), [item.modalities[i] for i in order]
        if forced is not None:
            for name in forced:
                if name not in self.simulators:
                    raise ConfigError(f"unknown modality {name!r}")
            names = forced
        else:
            drawn = [str(m) for m in rng.choice(c.modalities, 2)]
            names = ("visible" if rng.random() < c.visible_fixed else drawn[0], drawn[1])
            if rng.random() < c.swap:
                names = names[::-1]
        return [item.views[0]] * 2, names, [item.modalities[0]] * 2


def _as_register_reads(image: np.ndarray) -> np.ndarray:
    """The view as ``register`` reads it: a colour-mapped rendering (a jet-coloured PET
    slice) becomes its scalar, in three equal channels; the network then trains on what
    it is given at inference, not on the luminance of the map."""
    scalar = colour_map_scalar(image)
    return image if scalar is None else to_rgb(scalar)


def _resize_source(views: list[np.ndarray], shorter_side: float) -> list[np.ndarray]:
    """Resize all views so that the shorter side is ``shorter_side`` px (area filter when
    shrinking more than twofold, bilinear otherwise); the fixed window is cut at 1:1."""
    height, width = views[0].shape[:2]
    scale = shorter_side / min(height, width)
    size = (
        max(round(width * scale), int(shorter_side)),
        max(round(height * scale), int(shorter_side)),
    )
    interpolation = cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR
    return _once_per_view(views, lambda v: cv2.resize(v, size, interpolation=interpolation))


def _in_canvas(views: list[np.ndarray], margin: int) -> list[np.ndarray]:
    """The views with a black border of ``margin`` px on every side."""
    border = (margin, margin, margin, margin, cv2.BORDER_CONSTANT)
    return _once_per_view(views, lambda v: cv2.copyMakeBorder(v, *border, value=0))


def _once_per_view(
    views: list[np.ndarray], function: Callable[[np.ndarray], np.ndarray]
) -> list[np.ndarray]:
    """``function`` of each view, computed once for a view listed twice (both sides of
    a simulated pair share their source), which stays shared."""
    unique = {id(view): view for view in views}
    done = {key: function(view) for key, view in unique.items()}
    return [done[id(view)] for view in views]


def _inside(low: float, right: float, bottom: float) -> Callable[[np.ndarray], np.ndarray]:
    """Test of [..., 2] (x, y) positions against the box [low, right] × [low, bottom]."""

    def test(points: np.ndarray) -> np.ndarray:
        x, y = points[..., 0], points[..., 1]
        return (x >= low) & (x <= right) & (y >= low) & (y <= bottom)

    return test
