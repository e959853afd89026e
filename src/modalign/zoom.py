"""Searching a large fixed image tile by tile for a moving image that shows a small part
of it (step 9 of the README's "How a registration is decided").

A matcher reads each image at its working size (the default one: 640 px on the longer
side). When the moving image covers a small part of a large fixed image, as a drone's
thermal frame does within an orthophoto or a microscope field within its overview, that
part is left with a hundred or two of the fixed image's working pixels against the
moving image's 512 or more: too great a change of scale, and too little detail, for the
matches. Cut into tiles, each matched at the working size, the fixed image is read two
or three times closer; the tile that holds the moving image then registers like any
pair, and its transform, composed with the tile's place, is the registration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from .errors import ConfigError
from .views import Outcome, surety

if TYPE_CHECKING:
    from .pipeline import RegisterConfig


@dataclass(frozen=True)
class ZoomSearchConfig:
    """Registering the moving image onto tiles of a large fixed image, when the
    registration onto the whole of it failed.

    For each zoom z in turn, the fixed image is cut into tiles of 1/z its width and height,
    overlapping by half a tile ((2z − 1)² tiles), and the moving image is matched against
    each and fitted (steps 1–3). The ``candidates`` tiles with the most inliers are
    registered in full (steps 1–10, each tile with its own structure maps), and the most
    confident registration is kept if its confidence reaches ``min_confidence``; a zoom
    that keeps one ends the search.

    Attributes:
        mode: "all" searches every pair whose fixed image is large enough and whose
            registration failed or is too unsure to be kept (below
            ``RegisterConfig.min_confidence``); "none" never. A registration that stands
            is never replaced, so a pair can only be won. The tiles are chosen by their
            confidence, so only a matcher with a confidence model searches (the
            default one).
        zooms: the zooms tried, in order (each at least 2).
        min_size: only fixed images whose longer side is at least this are searched: a
            smaller one is matched near its full resolution already.
        candidates: tiles registered in full at each zoom.
        min_confidence: the confidence a tile's registration needs to be kept, above
            the usual bar: the search gives a wrong match many chances.
    """

    mode: Literal["all", "none"] = "all"
    zooms: tuple[int, ...] = (2, 3)
    min_size: int = 1024
    candidates: int = 2
    min_confidence: float = 0.5

    def __post_init__(self) -> None:
        if any(zoom < 2 for zoom in self.zooms):
            raise ConfigError(f"zoom_search.zooms: {list(self.zooms)} has a zoom under 2")
        if self.candidates < 1:
            raise ConfigError(f"zoom_search.candidates: {self.candidates} is under 1")
        if not 0 <= self.min_confidence < 1:
            raise ConfigError(f"zoom_search.min_confidence: {self.min_confidence} not in [0, 1)")


Tile = tuple[int, int, int, int]  # x, y, width, height in fixed-image pixels


def tiles(width: int, height: int, zoom: int) -> list[Tile]:
    """The tiles of a ``width`` × ``height`` image at ``zoom``: 1/zoom of its size each
    way, spaced half a tile apart, covering it; row by row."""
    size = (math.ceil(width / zoom), math.ceil(height / zoom))
    starts = [
        np.unique(np.linspace(0, full - part, 2 * zoom - 1).round().astype(int))
        for full, part in zip((width, height), size, strict=True)
    ]
    return [(int(x), int(y), *size) for y in starts[1] for x in starts[0]]


def crop(image: np.ndarray, tile: Tile) -> np.ndarray:
    """The part of an [H, W] or [H, W, C] image under ``tile`` (a contiguous copy)."""
    x, y, width, height = tile
    return np.ascontiguousarray(image[y : y + height, x : x + width])


def wants_zoom(
    outcome: Outcome, size0: tuple[int, int], config: RegisterConfig, rated: bool
) -> bool:
    """Whether ``config.zoom_search`` searches this pair (see its docstring); ``rated``:
    registrations get a confidence (a model for the matcher, structure maps computed)."""
    search = config.zoom_search
    if search.mode == "none" or not search.zooms or not rated:
        return False
    return max(size0) >= search.min_size and surety(outcome) < config.min_confidence


def zoom_note(first: Outcome, chosen: Outcome, tile: Tile | None, zoom: int, tried: int) -> str:
    """What the zoom search did, for ``Registration.refinement``."""
    if tile is None:
        return f"zoom: none of {tried} tiles sure"
    x, y, width, height = tile
    return (
        f"zoom: found in the fixed image's {width}×{height} tile at ({x}, {y}), zoom {zoom} "
        f"(confidence {max(surety(first), 0):.2f} -> {surety(chosen):.2f})"
    )
