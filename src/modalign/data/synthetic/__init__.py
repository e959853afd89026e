"""Synthetic cross-modal pairs with exact dense ground truth (MatchAnything-style signals).

``PairGenerator(SynthConfig(...), sources)`` makes pair ``i`` deterministically from a
source image (a folder of images, the real aligned pairs of a set, or procedural scenes):
a fixed window, a moving view under a random homography (and optional smooth non-rigid
field), a modality simulator per side and per-side camera changes. ``write_set`` writes a
set in the benchmark layout, ``SyntheticPairDataset`` streams pairs to PyTorch, and
``contact_sheet`` draws every modality. The simulators are listed in :data:`SIMULATORS`.
"""

from ...eval.datasets import holdout
from .generator import PairGenerator, SynthConfig, SyntheticPair
from .simulators import SIMULATOR_NAMES, SIMULATORS, Simulator
from .sources import AlignedPairSource, FolderSource, ProceduralSource, SourceItem
from .warp import WarpConfig
from .writer import contact_sheet, write_set

__all__ = [
    "SIMULATORS",
    "SIMULATOR_NAMES",
    "AlignedPairSource",
    "FolderSource",
    "PairGenerator",
    "ProceduralSource",
    "Simulator",
    "SourceItem",
    "SynthConfig",
    "SyntheticPair",
    "WarpConfig",
    "contact_sheet",
    "holdout",
    "write_set",
]
