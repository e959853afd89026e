"""The translator commands: translate files or folders, train, report."""

from __future__ import annotations

import logging
from pathlib import Path

from ..config import build
from ..errors import InputError
from ..eval.datasets import IMAGE_SUFFIXES, new_set_folder
from ..io import read_image, to_float, to_uint8, write_image
from ..progress import progress_bar
from .api import load_translator, translate_batch
from .train import TrainTranslatorConfig, train_translator


def translate_command(source: Path, out: Path, model: str, show_progress: bool = False) -> int:
    """Translate one image file to ``out`` (a .png file), or every image under a folder to
    the same relative paths under the folder ``out``; returns the number of images."""
    translator = load_translator(model)
    if source.is_file():
        if out.suffix.lower() != ".png":
            raise InputError(str(out), "the output of a single image must be a .png file")
        image = to_float(read_image(source))
        partial = out.with_name(f".{out.name}.partial.png")
        write_image(partial, to_uint8(translate_batch(translator, [image])[0]))
        partial.replace(out)
        return 1
    if not source.is_dir():
        raise InputError(str(source), "no such file or folder")
    files = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(str(source), "contains no images (png, jpg, tif, bmp)")
    with new_set_folder(out) as staging, progress_bar("translate", show_progress) as progress:
        task = progress.add_task("translate", total=len(files))
        for path in files:
            image = to_float(read_image(path))
            target = (staging / path.relative_to(source)).with_suffix(".png")
            target.parent.mkdir(parents=True, exist_ok=True)
            write_image(target, to_uint8(translate_batch(translator, [image])[0]))
            progress.advance(task)
    return len(files)


def train_command(data: Path, run: Path, overrides: dict, show_progress: bool = False) -> dict:
    """Train or resume the translator in ``run``; returns the last validation scores."""
    config = build(TrainTranslatorConfig, overrides)
    logging.getLogger("modalign.translate").setLevel(logging.INFO)
    with progress_bar("train", show_progress) as progress:
        task = progress.add_task("train", total=config.steps)
        return train_translator(
            data, run, config, lambda step, total: progress.update(task, completed=step)
        )
