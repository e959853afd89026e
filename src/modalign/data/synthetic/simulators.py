"""The table of modality simulators: name -> function, default config, produced Modality.

A learned translator plugs in as one more :class:`Simulator` (its ``function`` ignores the
config and generator or uses them for its own sampling), passed to the pair generator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...config import from_dict, to_dict
from ...errors import ConfigError
from ...types import Modality
from .renders import (
    MapConfig,
    MedicalConfig,
    PaintingConfig,
    PETConfig,
    SeasonConfig,
    SketchConfig,
    map_render,
    medical,
    painting,
    pet,
    season,
    sketch,
)
from .sensors import (
    DepthConfig,
    NightConfig,
    NIRConfig,
    SARConfig,
    ThermalConfig,
    depth,
    night,
    nir,
    sar,
    thermal,
)


@dataclass(frozen=True)
class VisibleConfig:
    """The source image itself (photometric changes are applied to every side anyway)."""


def visible(image: np.ndarray, config: VisibleConfig, rng: np.random.Generator) -> np.ndarray:
    return image


@dataclass(frozen=True)
class Simulator:
    """One modality simulator.

    Attributes:
        name: what configs and the CLI call it; also the pair's category and training label.
        function: (RGB float32 [H, W, 3] in [0, 1], config, generator) -> same shape and range.
        config: its parameters (a frozen dataclass).
        modality: the sensor modality its images stand for.
        aims_at: the real imagery it imitates (documentation).
    """

    name: str
    function: Callable[[np.ndarray, Any, np.random.Generator], np.ndarray]
    config: Any
    modality: Modality
    aims_at: str

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.function(image, self.config, rng)


SIMULATORS: dict[str, Simulator] = {
    s.name: s
    for s in (
        Simulator("visible", visible, VisibleConfig(), Modality.VISIBLE, "photographs"),
        Simulator("thermal", thermal, ThermalConfig(), Modality.INFRARED,
                  "LWIR cameras: RoadScene/FLIR, mmim VIS_IR and Infrared_Optical"),
        Simulator("nir", nir, NIRConfig(), Modality.NIR, "RGB-NIR (EPFL), mmim RGB_NIR"),
        Simulator("sar", sar, SARConfig(), Modality.SAR, "mmim SAR_Optical"),
        Simulator("depth", depth, DepthConfig(), Modality.DEPTH,
                  "depth maps / DSM renderings, mmim DepthOptical"),
        Simulator("map", map_render, MapConfig(), Modality.MAP, "map tiles vs satellite"),
        Simulator("night", night, NightConfig(), Modality.NIGHT,
                  "night photos and night-light imagery, mmim DayNight"),
        Simulator("mri", medical, MedicalConfig(variants=("t1", "t2", "pd")), Modality.MRI,
                  "MR T1/T2/PD, mmim PD_T1 and T1_T2, AANLIB MRI"),
        Simulator("ct", medical, MedicalConfig(variants=("ct",)), Modality.CT, "AANLIB CT"),
        Simulator("pet", pet, PETConfig(), Modality.PET, "PET/SPECT, mmim MR_PET, AANLIB PET"),
        Simulator("sketch", sketch, SketchConfig(), Modality.SKETCH, "drawings, line art"),
        Simulator("painting", painting, PaintingConfig(), Modality.PAINTING,
                  "paintings, style transfer, rendered views"),
        Simulator("season", season, SeasonConfig(), Modality.VISIBLE,
                  "mmim CrossSeason, multi-temporal remote sensing"),
    )
}  # fmt: skip

SIMULATOR_NAMES = tuple(SIMULATORS)


def simulator_table(
    names: tuple[str, ...],
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    extra: Mapping[str, Simulator] | None = None,
) -> dict[str, Simulator]:
    """The simulators called ``names``, with config overrides, learned ones from ``extra``.

    Raises:
        ConfigError: unknown name, or an override key the simulator's config lacks.
    """
    known = {**SIMULATORS, **(extra or {})}
    table = {}
    for name in names:
        if name not in known:
            raise ConfigError(f"unknown modality {name!r}; known: {', '.join(known)}")
        simulator = known[name]
        changes = (overrides or {}).get(name)
        if changes:
            merged = {**to_dict(simulator.config), **changes}
            simulator = Simulator(
                name, simulator.function, from_dict(type(simulator.config), merged),
                simulator.modality, simulator.aims_at,
            )  # fmt: skip
        table[name] = simulator
    return table
