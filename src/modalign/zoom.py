"""Searching a large image tile by tile for the other image of a pair, which shows a
small part of it (step 9 of the README's "How a registration is decided").

A matcher reads each image at its working size (the default one: 640 px on the longer
side). When the moving image covers a small part of a large fixed image, as a drone's
thermal frame does within an orthophoto or a microscope field within its overview, that
part is left with a hundred or two of the fixed image's working pixels against the
moving image's 512 or more: too great a change of scale, and too little detail, for the
matches. Cut into tiles, each matched at the working size, the fixed image is read two
or three times closer; the tile that holds the moving image then registers like any
pair, and its transform, composed with the tile's place, is the registration. The same
holds the other way round (the orthophoto warped onto the drone's frame): then the
moving image is cut into tiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

import numpy as np

from .errors import ConfigError
from .geometry.estimate import Estimate
from .geometry.transforms import normalize_homography
from .matchers.base import Matcher
from .types import MatchResult, TransformType
from .views import Outcome, match_with_rotations, surety

if TYPE_CHECKING:
    from .pipeline import RegisterConfig


@dataclass(frozen=True)
class ZoomSearchConfig:
    """Registering one image of a pair onto tiles of the other, large one, when the
    registration of the whole images failed.

    The larger image of the two (by the longer side; the fixed one on a tie) is cut into
    tiles: for each zoom z in turn, tiles of 1/z its width and height, overlapping by
    half a tile ((2z − 1)² tiles), and the other image is matched against each and
    fitted (steps 1–3). The ``candidates`` tiles with the most inliers are registered in
    full (steps 1–10, each tile with its own structure maps), and the most confident
    registration, composed with its tile's place, is kept if its confidence reaches
    ``min_confidence``; a zoom that keeps one ends the search.

    Attributes:
        mode: "all" searches every pair whose larger image is large enough and whose
            registration failed or is too unsure to be kept (below
            ``RegisterConfig.min_confidence``); "none" never. A registration that stands
            is never replaced, so a pair can only be won. The tiles are chosen by their
            confidence, so only a matcher with a confidence model searches (the
            default one).
        zooms: the zooms tried, in order (each at least 2).
        min_size: only a larger image whose longer side is at least this is searched: a
            smaller one is matched near its full resolution already.
        candidates: tiles registered in full at each zoom.
        min_confidence: the confidence a tile's registration needs to be kept, above
            the usual bar: the search gives a wrong match many chances.
        single_pass: rank the tiles by matches at the matcher's first working size only
            (``Matcher.single_pass``: a small image is not also matched at two more
            sizes), a third of the matching; the candidates are registered in full.
    """

    mode: Literal["all", "none"] = "all"
    zooms: tuple[int, ...] = (2, 3)
    min_size: int = 1024
    candidates: int = 2
    min_confidence: float = 0.5
    single_pass: bool = True

    def __post_init__(self) -> None:
        if any(zoom < 2 for zoom in self.zooms):
            raise ConfigError(f"zoom_search.zooms: {list(self.zooms)} has a zoom under 2")
        if self.candidates < 1:
            raise ConfigError(f"zoom_search.candidates: {self.candidates} is under 1")
        if not 0 <= self.min_confidence < 1:
            raise ConfigError(f"zoom_search.min_confidence: {self.min_confidence} not in [0, 1)")


Tile = tuple[int, int, int, int]  # x, y, width, height in pixels of the image cut


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


def zoom_side(
    outcome: Outcome,
    size0: tuple[int, int],
    size1: tuple[int, int],
    config: RegisterConfig,
    rated: bool,
) -> int | None:
    """The image that ``config.zoom_search`` cuts into tiles for this pair (0 the fixed,
    1 the moving one; see its docstring), or None if it does not search; ``rated``:
    registrations get a confidence (a model for the matcher, structure maps computed)."""
    search = config.zoom_search
    if search.mode == "none" or not search.zooms or not rated:
        return None
    side = 1 if max(size1) > max(size0) else 0
    if max((size0, size1)[side]) < search.min_size or surety(outcome) >= config.min_confidence:
        return None
    return side


def zoom_note(
    first: Outcome, chosen: Outcome, side: int, tile: Tile | None, zoom: int, tried: int
) -> str:
    """What the zoom search did, for ``Registration.refinement``."""
    if tile is None:
        return f"zoom: none of {tried} tiles sure"
    x, y, width, height = tile
    image = ("fixed", "moving")[side]
    return (
        f"zoom: found in the {image} image's {width}×{height} tile at ({x}, {y}), zoom {zoom} "
        f"(confidence {max(surety(first), 0):.2f} -> {surety(chosen):.2f})"
    )


def zoomed(
    image0: np.ndarray,
    image1: np.ndarray,
    first: Outcome,
    matcher: Matcher,
    config: RegisterConfig,
    side: int = 0,
) -> Outcome:
    """``first``, or the most confident registration of one image onto a tile of the
    other (``side``: 0 the fixed image is cut, 1 the moving one), composed with the
    tile's place (see ``ZoomSearchConfig``).

    Args:
        image0, image1: the fixed and moving images as ``register`` normalised them.
        config: the configuration ``register`` was given (its threshold still relative
            to the image size, so that each tile of a fixed image scales it to its own).
    """
    from .pipeline import AS_GIVEN

    search = config.zoom_search
    height, width = (image0, image1)[side].shape[:2]
    once = replace(
        config,
        zoom_search=replace(search, mode="none"),
        min_confidence=0.0,  # rated here, judged once by ``register`` on the outcome kept
        normalization0=AS_GIVEN,
        normalization1=AS_GIVEN,
    )
    quick = matcher.single_pass() if search.single_pass else matcher
    best, best_tile, best_zoom, tried = first, None, 0, 0
    for zoom in search.zooms:
        fitted = []
        for tile in tiles(width, height, zoom):
            pair = _pair(image0, image1, side, tile)
            geometry = config.geometry.for_image((pair[0].shape[1], pair[0].shape[0]))
            _, estimate, _, _ = match_with_rotations(quick, *pair, geometry, config.rotation_search)
            if estimate.H_1to0 is not None:
                fitted.append((estimate.num_inliers, tile))
        fitted.sort(key=lambda found: found[0], reverse=True)  # stable: ties row by row
        for _, tile in fitted[: search.candidates]:
            tried += 1
            candidate = _on_tile(image0, image1, side, tile, matcher, once)
            if surety(candidate) >= search.min_confidence and surety(candidate) > surety(best):
                best, best_tile, best_zoom = candidate, tile, zoom
        if best_tile is not None:
            break
    note = zoom_note(first, best, side, best_tile, best_zoom, tried)
    return replace(best, refinement=f"{best.refinement}; {note}")


def _pair(
    image0: np.ndarray, image1: np.ndarray, side: int, tile: Tile
) -> tuple[np.ndarray, np.ndarray]:
    """The pair with image ``side`` replaced by its part under ``tile``."""
    return (crop(image0, tile), image1) if side == 0 else (image0, crop(image1, tile))


def _on_tile(
    image0: np.ndarray,
    image1: np.ndarray,
    side: int,
    tile: Tile,
    matcher: Matcher,
    config: RegisterConfig,
) -> Outcome:
    """The registration of one image onto a tile of the other, in the two images' own
    pixels: a tile of the fixed image (``side`` 0) is placed by H_1to0 = offset ·
    H_1toTile, one of the moving image (1) by H_1to0 = H_Tileto0 · offset⁻¹."""
    from .pipeline import register

    x, y = tile[:2]
    part = register(*_pair(image0, image1, side, tile), matcher, config=config)
    offset = np.array([[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]])  # tile -> image
    shift0, shift1 = ([x, y], [0, 0]) if side == 0 else ([0, 0], [x, y])
    matches = MatchResult(
        part.matches.keypoints0 + shift0,
        part.matches.keypoints1 + shift1,
        part.matches.confidence,
        (image0.shape[1], image0.shape[0]),
        (image1.shape[1], image1.shape[0]),
    )
    H = None
    if part.H_1to0 is not None:
        placed = offset @ part.H_1to0 if side == 0 else part.H_1to0 @ np.linalg.inv(offset)
        H = normalize_homography(placed)
    transform = part.transform or TransformType.HOMOGRAPHY
    estimate = Estimate(transform, H, part.inliers, part.rmse, part.reason)
    quarter = (360 - part.rotation_degrees) % 360 // 90
    return Outcome(
        matches, estimate, quarter, part.refinement, part.structure_correlation,
        part.structure_sharpness, part.confidence, translated=part.translated,
    )  # fmt: skip
