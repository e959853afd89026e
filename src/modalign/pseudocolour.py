"""Pseudo-colour images mapped back to the scalar they render.

PET and SPECT slices, thermal camera exports and many scientific figures show one scalar
through a colour map. Where the map's luminance is not monotonic (jet, rainbow and their
kin: blue and red are both darker than yellow), the luminance that a matcher takes from
a colour image draws a false contour at every crossing of the bright hue and loses the
order of the values. :func:`colour_map_scalar` recovers the scalar without knowing the
map: the image's colours lie on a curve in RGB space, traced as the longest shortest
path of a nearest-neighbour graph of its quantised colours and smoothed as a principal
curve; a pixel's value is the arc length of its colour's projection onto that curve,
from the curve's darker end. Photographs are left alone: their colours fill a volume
around the curve (residual), or their luminance rises along it anyway (monotonic).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class ColourMapConfig:
    """When an image counts as a colour-mapped scalar, and how its curve is traced.

    Attributes:
        sample: at most this many pixels (a regular subsample) trace the curve.
        min_colourful: fraction of sampled pixels with chroma (max − min channel) above
            0.15 below which the image counts as gray.
        max_colours: images with more distinct colours (32 levels per channel, two
            sampled pixels or more) than this are photographs: an 8-bit colour map has
            256 entries (the PET slices here show 50–250 such colours); the test is
            what keeps the check near 1 ms for most photographs.
        max_residual: largest mean distance (RGB in [0, 1]) of the pixels to the curve.
        max_outliers: largest fraction of pixels farther than 0.1 from the curve.
        min_luminance_drop: smallest fall of luminance along the curve after a rise; a
            map whose luminance only rises (gray, hot, viridis) is left to the luminance,
            which already orders its values.

    On ../shared/data (sampled images of every set and 1,695 source photographs): the
    PET slices show 50–250 colours, a residual of 0.0002–0.017 with up to 6.9% outliers
    once warped by the benchmark's homography (bilinear blends of distant map colours),
    and luminance drops of about 0.5 where the map's bright hue is crossed; one
    photograph passes the colour count with a drop of 0.2 or more, at a residual of 0.054
    with 33% outliers.
    """

    sample: int = 16384
    min_colourful: float = 0.02
    max_colours: int = 400
    max_residual: float = 0.025
    max_outliers: float = 0.1
    min_luminance_drop: float = 0.2


LEVELS = 32  # quantisation of the colours that trace the curve
LUT_LEVELS = 64  # quantisation of the colours that are looked up


def _keys(colours: np.ndarray, levels: int) -> np.ndarray:
    q = np.clip(np.rint(colours * (levels - 1)), 0, levels - 1).astype(np.int32)
    return (q[..., 0] * levels + q[..., 1]) * levels + q[..., 2]


def _colours(keys: np.ndarray, levels: int) -> np.ndarray:
    channels = (keys // (levels * levels), (keys // levels) % levels, keys % levels)
    return np.stack(channels, axis=-1) / (levels - 1)


def project(colours: np.ndarray, curve: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each colour [N, 3] to the polyline ``curve`` [P, 3] and the arc length
    (in [0, 1]) of its nearest point on it."""
    start, segment = curve[:-1], np.diff(curve, axis=0)  # [P-1, 3]
    length2 = np.maximum((segment**2).sum(axis=1), 1e-12)
    u = np.einsum("npc,pc->np", colours[:, None] - start[None], segment) / length2
    u = np.clip(u, 0.0, 1.0)  # [N, P-1]
    nearest = start[None] + u[..., None] * segment[None]
    distance = np.sqrt(((colours[:, None] - nearest) ** 2).sum(axis=2))
    best = distance.argmin(axis=1)
    rows = np.arange(len(colours))
    arc = np.concatenate([[0.0], np.cumsum(np.sqrt(length2))])
    position = (arc[best] + u[rows, best] * np.sqrt(length2[best])) / max(arc[-1], 1e-12)
    return distance[rows, best], position


def _longest_path(nodes: np.ndarray, neighbours: int = 6, longest_edge: float = 0.12) -> np.ndarray:
    """The node colours along the longest shortest path of the k-nearest-neighbour graph
    (double sweep from the darkest node) of its largest connected piece, [P, 3]. Edges
    longer than ``longest_edge`` (four quantisation steps) are dropped, and colours off
    the piece (a jump of the map at a sharp edge) are left to the residual test: joining
    pieces by their closest colours can join them at the wrong end."""
    distance, index = cKDTree(nodes).query(nodes, k=min(neighbours + 1, len(nodes)))
    rows = np.repeat(np.arange(len(nodes)), distance.shape[1] - 1)
    distance, index = distance[:, 1:].ravel(), index[:, 1:].ravel()
    short = distance <= longest_edge
    weights = distance[short] + 1e-9  # duplicates would read as missing edges
    shape = (len(nodes),) * 2
    graph = coo_matrix((weights, (rows[short], index[short])), shape=shape).tocsr()
    graph = graph.maximum(graph.T)
    _, labels = connected_components(graph, directed=False)
    piece = np.flatnonzero(labels == np.bincount(labels).argmax())
    graph, nodes = graph[piece][:, piece], nodes[piece]
    from_dark = dijkstra(graph, indices=int(np.argmin(nodes @ LUMA)))
    first = int(np.argmax(from_dark))
    from_first, predecessors = dijkstra(graph, indices=first, return_predecessors=True)
    node = int(np.argmax(from_first))
    path = [node]
    while node != first:
        node = int(predecessors[node])
        path.append(node)
    return nodes[path]


def _principal_curve(
    colours: np.ndarray, weights: np.ndarray, curve: np.ndarray, bins: int = 48, rounds: int = 2
) -> np.ndarray:
    """The curve moved to the weighted mean colour of each stretch of arc length (ends
    kept), from the colours within 0.1 of it."""
    for _ in range(rounds):
        distance, position = project(colours, curve)
        near = distance < 0.1
        colours, weights, position = colours[near], weights[near], position[near]
        stretch = np.minimum((position * bins).astype(int), bins - 1)
        mass = np.bincount(stretch, weights=weights, minlength=bins)
        sums = np.stack(
            [
                np.bincount(stretch, weights=weights * colours[:, c], minlength=bins)
                for c in range(3)
            ],
            axis=1,
        )
        means = sums[mass > 0] / mass[mass > 0, None]
        curve = np.vstack([curve[:1], means, curve[-1:]])
    return curve


def _luminance_drop(curve: np.ndarray) -> float:
    """Largest fall of luminance along the curve after its running maximum."""
    luminance = curve @ LUMA
    return float((np.maximum.accumulate(luminance) - luminance).max())


def colour_map_curve(image: np.ndarray, config: ColourMapConfig | None = None) -> np.ndarray | None:
    """The colour map's curve [P, 3] (darker end first) if ``image`` ([H, W, 3] float in
    [0, 1]) renders one scalar through a map whose luminance is not monotonic, else None."""
    config = config or ColourMapConfig()
    pixels = image.reshape(-1, 3)[:: max(1, image.shape[0] * image.shape[1] // config.sample)]
    red, green, blue = (np.ascontiguousarray(pixels[:, c]) for c in range(3))
    chroma = np.maximum(np.maximum(red, green), blue) - np.minimum(np.minimum(red, green), blue)
    if np.count_nonzero(chroma > 0.15) < config.min_colourful * len(chroma):
        return None
    keys = _keys(pixels, LEVELS)
    histogram = np.bincount(keys, minlength=LEVELS**3)  # a sort (np.unique) costs 5× more
    present = histogram > 0
    inverse = (np.cumsum(present) - 1)[keys]
    counts = histogram[present]
    if not 8 <= np.count_nonzero(counts >= 2) <= config.max_colours:
        return None
    # each quantised colour at the mean of its pixels: the bin centres would add a
    # quantisation residual of ~0.01 to maps whose colours are not on the lattice
    colours = (
        np.stack([np.bincount(inverse, weights=c) for c in (red, green, blue)], axis=1)
        / counts[:, None]
    )
    weights = counts.astype(np.float64)
    path = _longest_path(colours[counts >= 2])
    if len(path) < 4:
        return None
    curve = _principal_curve(colours, weights, path)
    if curve[0] @ LUMA > curve[-1] @ LUMA:
        curve = curve[::-1]
    distance, _ = project(colours, curve)
    residual = float((distance * weights).sum() / weights.sum())
    outliers = float(weights[distance > 0.1].sum() / weights.sum())
    if residual > config.max_residual or outliers > config.max_outliers:
        return None
    if _luminance_drop(curve) < config.min_luminance_drop:
        return None
    return curve


def colour_map_scalar(
    image: np.ndarray, config: ColourMapConfig | None = None
) -> np.ndarray | None:
    """[H, W] float32 scalar in [0, 1] that a colour-mapped ``image`` ([H, W, 3] float in
    [0, 1]) renders (0 at the map's darker end), or None if it is not one (see
    :func:`colour_map_curve`)."""
    curve = colour_map_curve(image, config)
    if curve is None:
        return None
    keys = _keys(image, LUT_LEVELS)
    present = np.flatnonzero(np.bincount(keys.ravel(), minlength=LUT_LEVELS**3))
    table = np.zeros(LUT_LEVELS**3, dtype=np.float32)
    table[present] = project(_colours(present, LUT_LEVELS), curve)[1]
    return table[keys]
