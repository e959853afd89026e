"""The ``modalign synth`` command: build sources and generator, write a set and/or a sheet."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ...config import build
from ...errors import InputError
from ...io import write_image
from ...progress import progress_bar
from .generator import PairGenerator, SynthConfig
from .sources import AlignedPairSource, FolderSource, ProceduralSource
from .writer import contact_sheet, write_set


def make_generator(
    config: SynthConfig,
    images: list[Path] = (),
    aligned: list[Path] = (),
    procedural: bool = False,
) -> PairGenerator:
    """A generator over the given sources (procedural scenes when none is given).

    ``aligned`` sets contribute their training split only (a seeded 20% is held out)."""
    sources = [FolderSource(path) for path in images]
    sources += [AlignedPairSource(path, split="train") for path in aligned]
    if procedural or not sources:
        sources.append(ProceduralSource())
    return PairGenerator(config, sources, extra_simulators=learned_simulators(config.modalities))


def learned_simulators(names: tuple[str, ...]) -> dict:
    """Translators of the weight table that ``names`` asks for, as simulators."""
    from ...hub import WEIGHTS

    wanted = [n for n in names if n in WEIGHTS and WEIGHTS[n].kind == "translator"]
    if not wanted:
        return {}
    from ...translate import translator_simulator

    return {name: translator_simulator(name, name) for name in wanted}


def synth_command(
    out: Path | None,
    pairs: int,
    overrides: dict,
    images: list[Path] = (),
    aligned: list[Path] = (),
    procedural: bool = False,
    preview: Path | None = None,
    real: Path | None = None,
    show_progress: bool = False,
) -> None:
    """Write ``pairs`` pairs into ``out`` and/or a contact sheet of every modality."""
    if out is None and preview is None:
        raise InputError("synth", "needs --out (a set to write) and/or --preview (a sheet)")
    if out is not None and pairs < 1:
        raise InputError("--pairs", f"must be at least 1, got {pairs}")
    config = build(SynthConfig, overrides)
    if config.size < 64:
        raise InputError("--size", f"must be at least 64, got {config.size}")
    generator = make_generator(config, images, aligned, procedural)
    if out is not None:
        with progress_bar("synth", show_progress) as progress:
            task = progress.add_task("synth", total=pairs)
            write_set(out, generator, pairs, lambda done: progress.update(task, completed=done))
        print(f"{pairs} pairs -> {out}/pairs.csv")
    if preview is not None:
        if preview.suffix.lower() not in (".png", ".jpg", ".jpeg"):
            raise InputError(str(preview), "the contact sheet must be a .png or .jpg file")
        names = tuple(dict.fromkeys(("visible", *config.modalities)))
        sheet_generator = PairGenerator(
            replace(config, photometric=0.0), generator.sources,
            extra_simulators=learned_simulators(config.modalities),
        )  # fmt: skip
        sheet = contact_sheet(sheet_generator, names, real)
        preview.parent.mkdir(parents=True, exist_ok=True)
        temporary = preview.with_name(f".{preview.name}.partial{preview.suffix}")
        write_image(temporary, sheet)
        temporary.replace(preview)
        print(f"contact sheet of {len(names)} modalities -> {preview}")
