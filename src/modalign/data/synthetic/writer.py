"""Write generated pairs as a set in the layout of ../shared/data, and contact sheets.

Per pair: ``fixed.png``, ``moving.png`` (simulated thermal as 16-bit PNG with a narrow used
range, like raw radiometric frames), ``H.txt`` (H_1to0) and ``correspondence.npz`` with
``correspondence_1to0`` ([H, W, 2] float32 fixed-image (x, y) of every moving pixel) and
``covisible1`` ([H, W] bool). ``pairs.csv`` adds the columns ``simulator_fixed``,
``simulator_moving`` and ``nonrigid`` to the benchmark columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from ...eval.datasets import new_set_folder, read_set, write_pairs_csv
from ...io import read_image, to_uint8, write_image
from ...types import Modality
from .generator import PairGenerator, SyntheticPair
from .sources import as_rgb_float
from .warp import bilinear

EXTRA_COLUMNS = ("simulator_fixed", "simulator_moving", "nonrigid")


def _side_name(simulator: str, modality: Modality) -> str:
    return modality.value if simulator == "real" else simulator


def _encode(image: np.ndarray, simulator: str) -> np.ndarray:
    if simulator == "thermal":
        return np.round(image[..., 0] * 65535).astype(np.uint16)
    return to_uint8(image)


def write_set(
    out: str | Path,
    generator: PairGenerator,
    count: int,
    on_progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Write pairs 0..count-1 of ``generator`` into ``out`` (must not exist or be empty)."""
    rows, names = [], []
    with new_set_folder(out) as staging:
        for index in range(count):
            pair = generator.pair(index)
            name0 = _side_name(pair.simulator0, pair.modality0)
            name1 = _side_name(pair.simulator1, pair.modality1)
            category, pair_id = f"{name0}-{name1}", f"{index:06d}"
            relative = f"{category}/{pair_id}"
            folder = staging / relative
            folder.mkdir(parents=True)
            write_image(folder / "fixed.png", _encode(pair.image0, pair.simulator0))
            write_image(folder / "moving.png", _encode(pair.image1, pair.simulator1))
            np.savetxt(folder / "H.txt", pair.H_1to0)
            np.savez_compressed(
                folder / "correspondence.npz",
                correspondence_1to0=pair.correspondence_1to0,
                covisible1=pair.covisible1,
            )
            height, width = pair.image0.shape[:2]
            rows.append(["synthetic", category, pair_id, pair.modality0.value,
                         pair.modality1.value, relative, width, height, width, height, 0,
                         f"modalign-synth:{pair.source}", pair.simulator0, pair.simulator1,
                         int(pair.nonrigid)])  # fmt: skip
            names.append(pair_id)
            if on_progress:
                on_progress(index + 1)
        write_pairs_csv(staging, rows, EXTRA_COLUMNS)
    return names


def alignment_check(pair: SyntheticPair) -> np.ndarray:
    """The fixed image resampled into the moving frame through the dense ground truth,
    interleaved with the moving image in a checkerboard (edges must continue across)."""
    resampled = bilinear(pair.image0, pair.correspondence_1to0)
    height, width = pair.covisible1.shape
    cell = max(8, width // 8)
    y, x = np.mgrid[:height, :width]
    board = ((x // cell + y // cell) % 2 == 0) & pair.covisible1
    return np.where(board[..., None], resampled, pair.image1)


# real examples shown beside each simulator: set, category substring, side
REAL_EXAMPLES = {
    "thermal": ("roadscene", "VIS_IR", "moving"),
    "v2i": ("roadscene", "VIS_IR", "moving"),
    "nir": ("visnir_country", "country", "fixed"),
    "sar": ("mmim", "SAR_Optical", "fixed"),
    "depth": ("mmim", "DepthOptical", "fixed"),
    "night": ("mmim", "RemoteSensing/DayNight", "fixed"),
    "mri": ("mmim", "T1_T2", "moving"),
    "ct": ("aanlib", "CT-MRI", "moving"),
    "pet": ("aanlib", "PET-MRI", "moving"),
    "season": ("mmim", "ComputerVision/CrossSeason", "moving"),
    "visible": ("mmim", "Optical_Optical", "moving"),
}


def _tile(image: np.ndarray, size: int, label: str) -> np.ndarray:
    """Letterboxed uint8 RGB tile with a caption."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    resized = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))))
    tile = np.full((size + 18, size, 3), 255, np.uint8)
    top, left = (size - resized.shape[0]) // 2, (size - resized.shape[1]) // 2
    tile[top : top + resized.shape[0], left : left + resized.shape[1]] = to_uint8(resized)
    cv2.putText(tile, label, (3, size + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1,
                cv2.LINE_AA)  # fmt: skip
    return tile


def _real_example(root: Path, simulator: str) -> np.ndarray | None:
    if simulator not in REAL_EXAMPLES:
        return None
    set_name, category, side = REAL_EXAMPLES[simulator]
    if not (root / set_name / "pairs.csv").is_file():
        return None
    pairs = read_set(root / set_name, (category,))
    if not pairs:
        return None
    return as_rgb_float(read_image(pairs[0].fixed if side == "fixed" else pairs[0].moving))


def contact_sheet(
    generator: PairGenerator,
    names: Sequence[str],
    real_root: str | Path | None = None,
    examples: int = 2,
    tile: int = 128,
) -> np.ndarray:
    """One row per simulator: ``examples`` × (visible fixed, simulated moving, alignment
    check), then a real image of that modality from ``real_root`` (../shared/data) if any.

    Returns:
        uint8 RGB image.
    """
    rows = []
    for row, name in enumerate(names):
        tiles = []
        for example in range(examples):
            pair = generator.pair(10_000 * row + example, ("visible", name))
            tiles += [_tile(pair.image0, tile, "visible (fixed)"),
                      _tile(pair.image1, tile, f"{name} (moving)"),
                      _tile(alignment_check(pair), tile, "ground-truth check")]  # fmt: skip
        if real_root is not None:
            real = _real_example(Path(real_root), name)
            caption = f"real {REAL_EXAMPLES[name][0]}" if real is not None else "no real example"
            blank = np.ones((tile, tile, 3), np.float32)
            tiles.append(_tile(real if real is not None else blank, tile, caption))
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)
