"""Visible -> pseudo-infrared translation (DistillMatch's V2I-GAN idea), trained on real
aligned visible/infrared pairs; plugs into the synthetic data engine as a modality."""

from .api import load_translator, save_translator, translate_batch
from .model import PatchDiscriminator, Translator, TranslatorConfig
from .simulator import translator_simulator

__all__ = [
    "PatchDiscriminator",
    "Translator",
    "TranslatorConfig",
    "load_translator",
    "save_translator",
    "translate_batch",
    "translator_simulator",
]
