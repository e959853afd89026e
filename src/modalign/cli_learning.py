"""Command-line commands of the learned parts: the translator (translate, train-translator,
translate-report) and the matcher (train, export). Registered on :data:`modalign.cli.app`."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import typer

from .cli import _reports_errors, app, stderr
from .config import load_yaml, merge, parse_overrides
from .devices import DEVICE_HELP
from .errors import InputError
from .io import write_atomic


@app.command()
@_reports_errors
def translate(
    source: Path = typer.Argument(..., help="image file or folder of images"),
    out: Path = typer.Option(..., "--out", "-o", help="output .png (file) or folder"),
    model: str = typer.Option("v2i", help="weights name (modalign list) or .safetensors file"),
) -> None:
    """Translate visible images into pseudo-infrared."""
    from .translate.runner import translate_command

    count = translate_command(source, out, model, show_progress=stderr.is_terminal)
    print(f"{count} image(s) -> {out}")


@app.command("train-translator")
@_reports_errors
def train_translator(
    data: Path = typer.Option(
        ..., help="set with pre-aligned pairs of the two modalities (--set source=... target=...)"
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="run folder (resumed if it has a checkpoint)"
    ),
    steps: int = typer.Option(6000, help="total training steps"),
    max_minutes: float = typer.Option(0.0, help="stop after this many minutes (0: no limit)"),
    overrides: list[str] = typer.Option([], "--set", help="training config override KEY=VALUE"),
) -> None:
    """Train a modality translator (pix2pix-style; visible -> infrared unless --set source=...
    --set target=... name two modalities of the set), resumable."""
    from .translate.runner import train_command

    options = merge({"steps": steps, "max_minutes": max_minutes}, parse_overrides(overrides))
    scores = train_command(data, out, options, show_progress=stderr.is_terminal)
    weights = f"{out}/best.safetensors (lowest validation L1), {out}/last.safetensors"
    print(f"validation: {json.dumps(scores)}; weights -> {weights}")


@app.command("translate-report")
@_reports_errors
def translate_report(
    data: Path = typer.Option(..., help="the set the translator was trained on"),
    model: str = typer.Option("v2i", help="weights name or .safetensors file"),
    markdown: Path = typer.Option(None, help="write the comparison table here"),
    sheet: Path = typer.Option(None, help="write visible | pseudo-IR | real IR rows here"),
) -> None:
    """Compare the translator with the thermal simulator and grayscale on held-out pairs."""
    from .translate import load_translator
    from .translate.report import (
        compare_on_test_pairs,
        held_out_pairs,
        report_markdown,
        write_sheet,
    )

    pairs, translator = held_out_pairs(data), load_translator(model)
    text = report_markdown(compare_on_test_pairs(pairs, translator), str(data), model)
    print(text)
    if markdown is not None:
        write_atomic(markdown, text.encode())
    if sheet is not None:
        write_sheet(pairs[:6], translator, sheet)


@app.command()
@_reports_errors
def train(
    out: Path = typer.Option(
        ..., "--out", "-o", help="run folder (resumed if it has a checkpoint)"
    ),
    preset: str = typer.Option("default", help="training preset (modalign/configs/train_*.yaml)"),
    config: Path = typer.Option(None, help="YAML file of settings over the preset"),
    overrides: list[str] = typer.Option([], "--set", help="training config override KEY=VALUE"),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    devices: int = typer.Option(1, help="local processes (one per GPU or CPU group), torchrun"),
) -> None:
    """Train the cross-modal matcher on streamed synthetic pairs, resumable.

    One CPU or GPU by default; --devices N starts N local processes, and for several nodes
    run `torchrun --nnodes M --nproc-per-node N ... -m modalign train ...` on each node.
    """
    from .train import train as run_training
    from .train import train_config

    if devices > 1 and "WORLD_SIZE" not in os.environ:
        from .train.distributed import launch_local

        arguments = _without_option(sys.argv[1:], "--devices")
        raise typer.Exit(launch_local(devices, arguments))
    settings = merge(load_yaml(config) if config else {}, parse_overrides(overrides))
    options = train_config(preset, settings)
    logging.getLogger("modalign.train").setLevel(logging.INFO)
    scores = run_training(options, out, device=device)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"validation: {json.dumps(scores)}; weights -> {out}/last.safetensors")


def _without_option(arguments: list[str], name: str) -> list[str]:
    """``arguments`` without ``name VALUE`` / ``name=VALUE``."""
    out, skip = [], False
    for argument in arguments:
        if skip:
            skip = False
        elif argument == name:
            skip = True
        elif not argument.startswith(name + "="):
            out.append(argument)
    return out


@app.command()
@_reports_errors
def export(
    onnx: Path = typer.Option(None, "--onnx", help="the .onnx file to write"),
    into: Path = typer.Option(
        None, "--into", help="...or this folder, under the name the auto backend looks for"
    ),
    weights: str = typer.Option(
        "modalign", help="matcher weights name (modalign list) or .safetensors file"
    ),
) -> None:
    """Export the learned matcher's network as ONNX (dynamic image size)."""
    from .matchers.learned import onnx_file_name
    from .models import load_model
    from .models.checkpoint import model_path
    from .models.export import export_onnx

    if (onnx is None) == (into is None):
        raise InputError("export", "needs exactly one of --onnx FILE and --into FOLDER")
    if into is not None:
        onnx = into / onnx_file_name(model_path(weights))
    if onnx.suffix.lower() != ".onnx":
        raise InputError(str(onnx), "the output must be a .onnx file")
    export_onnx(load_model(weights), onnx)
    print(f"ONNX model -> {onnx} (run it with --matcher modalign-onnx --set onnx={onnx})")
