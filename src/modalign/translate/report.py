"""Score a translator on the held-out test pairs against the two simple alternatives, and
draw the visible | pseudo-infrared | real infrared sheet (``make docs-translator``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.synthetic.simulators import SIMULATORS
from ..data.synthetic.tone import gray
from ..io import write_image
from .api import translate_batch
from .data import load_pair, similarity, split_pairs
from .model import Translator
from .train import sample_sheet


def held_out_pairs(data: str | Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(visible, infrared) images of the held-out test pairs of ``data``, loaded once."""
    return [load_pair(p) for p in split_pairs(data).test]


def compare_on_test_pairs(
    pairs: list[tuple[np.ndarray, np.ndarray]], translator: Translator
) -> dict[str, dict[str, float]]:
    """Mean SSIM / L1 (normalised intensities) to the real infrared of the test pairs for:
    the translator, the analytic thermal simulator (seeded per pair) and grayscale visible."""
    outputs = {
        "translator": translate_batch(translator, [v for v, _ in pairs]),
        "thermal simulator": [
            SIMULATORS["thermal"](v, np.random.default_rng(i))[..., 0]
            for i, (v, _) in enumerate(pairs)
        ],
        "grayscale visible": [gray(v) for v, _ in pairs],
    }
    table = {}
    for name, images in outputs.items():
        scores = [similarity(o, ir) for o, (_, ir) in zip(images, pairs, strict=True)]
        ssim, l1 = (float(np.mean(column)) for column in zip(*scores, strict=True))
        table[name] = {"ssim": ssim, "l1": l1, "pairs": len(pairs)}
    return table


def report_markdown(table: dict[str, dict[str, float]], data: str, model: str) -> str:
    """The comparison table with how it was measured (the body of docs/translator.md)."""
    lines = [
        "| output compared with the real infrared | SSIM ↑ | L1 ↓ |",
        "|---|---|---|",
        *(f"| {name} | {v['ssim']:.3f} | {v['l1']:.3f} |" for name, v in table.items()),
    ]
    pairs = next(iter(table.values()))["pairs"]
    return (
        f"Measured on the {pairs} test pairs of `{data}` (the first {pairs} by id of its "
        f"seeded 20% hold-out, never used in training), model `{model}`; each image's "
        "intensities are stretched between its 1st and 99th percentile before comparing, "
        "SSIM as in scikit-image (7×7 windows), L1 = mean absolute difference. The thermal "
        "simulator is the data engine's analytic one, seeded per pair.\n\n"
        + "\n".join(lines)
        + "\n"
    )


def write_sheet(
    pairs: list[tuple[np.ndarray, np.ndarray]], translator: Translator, path: str | Path
) -> None:
    """visible | pseudo-infrared | real infrared, one row per pair."""
    write_image(path, sample_sheet(translator, pairs))
