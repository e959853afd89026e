"""Score a translator on the held-out test pairs against the two simple alternatives, and
draw the visible | pseudo-infrared | real infrared sheet (``make docs-translator``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.synthetic.simulators import SIMULATORS
from ..data.synthetic.tone import gray
from ..io import write_image
from .api import load_translator, translate_batch
from .data import load_pair, similarity, split_pairs
from .train import sample_sheet


def compare_on_test_pairs(data: str | Path, model: str = "v2i") -> dict[str, dict[str, float]]:
    """Mean SSIM / L1 (normalised intensities) to the real infrared of the test pairs for:
    the translator, the analytic thermal simulator (seeded per pair) and grayscale visible."""
    split = split_pairs(data)
    pairs = [load_pair(p) for p in split.test]
    translator = load_translator(model)
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


def write_sheet(data: str | Path, model: str, path: str | Path, rows: int = 6) -> None:
    """visible | pseudo-infrared | real infrared for the first ``rows`` test pairs."""
    split = split_pairs(data)
    pairs = [load_pair(p) for p in split.test[:rows]]
    write_image(path, sample_sheet(load_translator(model), pairs))
