"""A PyTorch ``IterableDataset`` that streams generated pairs (nothing written to disk).

With ``DataLoader(dataset, num_workers=N)`` worker ``k`` makes pairs ``start + k``,
``start + k + N``, ...; pair ``i`` is the same whatever ``N``, so a run is reproducible and
resumes exactly from ``start`` (e.g. ``start = step × batch size``). Create the loader
with ``multiprocessing_context="spawn"`` (or "forkserver") when the parent process has
already run torch or OpenCV code: workers forked from a process whose thread pools were
in use can deadlock.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import torch

from .generator import PairGenerator, SyntheticPair
from .simulators import SIMULATOR_NAMES

MODALITY_LABELS = {name: i for i, name in enumerate(("real", *SIMULATOR_NAMES))}


def pair_to_tensors(pair: SyntheticPair, index: int) -> dict[str, torch.Tensor]:
    """Training sample of one pair.

    Returns:
        image0, image1: [3, S, S] float32 in [0, 1];
        correspondence_1to0: [S, S, 2] float32 fixed-image (x, y) of each moving pixel;
        covisible1: [S, S] bool; H_1to0: [3, 3] float64;
        modality0, modality1: int64 simulator labels (:data:`MODALITY_LABELS`, extra
        simulators after the built-in ones); index: int64.
    """
    return {
        "image0": torch.from_numpy(np.ascontiguousarray(pair.image0.transpose(2, 0, 1))),
        "image1": torch.from_numpy(np.ascontiguousarray(pair.image1.transpose(2, 0, 1))),
        "correspondence_1to0": torch.from_numpy(pair.correspondence_1to0),
        "covisible1": torch.from_numpy(pair.covisible1),
        "H_1to0": torch.from_numpy(pair.H_1to0),
        "modality0": torch.tensor(_label(pair.simulator0)),
        "modality1": torch.tensor(_label(pair.simulator1)),
        "index": torch.tensor(index),
    }


def _label(name: str) -> int:
    return MODALITY_LABELS.get(name, len(MODALITY_LABELS))


class SyntheticPairDataset(torch.utils.data.IterableDataset):
    """Stream of :func:`pair_to_tensors` samples of a :class:`PairGenerator`.

    Args:
        generator: makes pair ``i`` deterministically.
        start: first pair index (to resume).
        length: number of pairs, or None for an endless stream.
    """

    def __init__(self, generator: PairGenerator, start: int = 0, length: int | None = None):
        super().__init__()
        self.generator, self.start, self.length = generator, start, length

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        if info is not None:  # a worker process: one thread each, the workers share the cores
            cv2.setNumThreads(1)
        index = self.start + worker
        end = None if self.length is None else self.start + self.length
        while end is None or index < end:
            yield pair_to_tensors(self.generator.pair(index), index)
            index += workers
