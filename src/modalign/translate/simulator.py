"""The translator as a modality of the synthetic data engine ("v2i")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.synthetic.simulators import Simulator
from ..data.synthetic.tone import to_rgb
from ..types import Modality
from .api import load_translator, translate_batch
from .model import Translator


@dataclass(frozen=True)
class TranslatorSimulatorConfig:
    """Attributes:
    invert: probability of black-hot polarity.
    noise: (min, max) sensor noise sigma added to the translation.
    """

    invert: float = 0.2
    noise: tuple[float, float] = (0.0, 0.02)


class _Translate:
    """Picklable callable holding the model (one copy per data worker)."""

    def __init__(self, model: Translator):
        self.model = model

    def __call__(
        self, image: np.ndarray, config: TranslatorSimulatorConfig, rng: np.random.Generator
    ) -> np.ndarray:
        out = translate_batch(self.model, [image])[0]
        if rng.random() < config.invert:
            out = 1 - out
        sigma = rng.uniform(*config.noise)
        return to_rgb(out + rng.standard_normal(out.shape, dtype=np.float32) * sigma)


def translator_simulator(model: str = "v2i", name: str = "v2i") -> Simulator:
    """A :class:`Simulator` producing pseudo-infrared with the named (or file) translator;
    pass it as ``PairGenerator(..., extra_simulators={"v2i": translator_simulator()})``."""
    return Simulator(
        name, _Translate(load_translator(model)), TranslatorSimulatorConfig(),
        Modality.INFRARED, "LWIR cameras, learned from RoadScene",
    )  # fmt: skip
