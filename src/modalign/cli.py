"""Command-line interface: one typer app; each subcommand calls the library."""

from __future__ import annotations

import csv
import functools
import io as text_io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from .confidence import describe
from .config import build, load_yaml, merge, parse_overrides, to_dict
from .devices import DEVICE_HELP
from .errors import InputError, ModalignError, RegistrationError
from .io import NormalizationConfig, normalization_for, read_image, write_atomic
from .types import Modality

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Cross-modal image matching and registration. Image 0 = fixed, image 1 = moving.",
)
stderr = Console(stderr=True)


def _reports_errors(command: Callable) -> Callable:
    """Turn a ModalignError into one line on stderr and its exit code."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ModalignError as err:
            print(f"modalign: error: {err}", file=sys.stderr)
            raise typer.Exit(err.exit_code) from None

    return wrapper


@contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[str], None]]:
    """A spinner with the current stage on a terminal; silent otherwise."""
    if quiet or not stderr.is_terminal:
        yield lambda stage: None
        return
    with stderr.status("starting") as status:
        yield lambda stage: status.update(f"[bold]{stage}…")


def _register_config(
    config_file: Path | None,
    overrides: list[str],
    options: dict[str, Any],
) -> Any:
    from .pipeline import RegisterConfig

    file_layer = load_yaml(config_file) if config_file else {}
    option_layer = {k: v for k, v in options.items() if v is not None}
    for key, modality_key in (("normalization0", "modality0"), ("normalization1", "modality1")):
        modality = option_layer.pop(modality_key, None)
        if key in option_layer:
            flag = "--normalize-fixed" if key.endswith("0") else "--normalize-moving"
            option_layer[key] = to_dict(NormalizationConfig.parse(option_layer[key], flag))
        elif modality is not None:
            option_layer[key] = to_dict(normalization_for(Modality(modality)))
    if "transform" in option_layer:
        option_layer["geometry"] = {"transform": option_layer.pop("transform")}
    return build(RegisterConfig, file_layer, parse_overrides(overrides), option_layer)


MATCHER_HELP = "matcher name (see `modalign list`)"
DEVICE_OPTION_HELP = f"where the learned matchers run: {DEVICE_HELP} (default cpu)"
SET_HELP = "config override KEY=VALUE, repeatable (e.g. geometry.threshold=5)"


@app.command()
@_reports_errors
def register(
    fixed: Path = typer.Argument(..., help="fixed image (image 0), onto whose grid to warp"),
    moving: Path = typer.Argument(..., help="moving image (image 1)"),
    out: Path = typer.Option(..., "--out", "-o", help="output folder for the products"),
    matcher: str = typer.Option(None, "--matcher", "-m", help=MATCHER_HELP),
    transform: str = typer.Option(
        None, "--transform", "-t", help="auto | similarity | affine | homography"
    ),
    rotation_search: bool = typer.Option(
        None, "--rotation-search/--no-rotation-search", help="also try 90/180/270° turns"
    ),
    normalize_fixed: str = typer.Option(
        None, help="auto, none, minmax, db, percentile:LO,HI, window:C,W"
    ),
    normalize_moving: str = typer.Option(None, help="as --normalize-fixed, for the moving image"),
    modality_fixed: Modality = typer.Option(
        None, help="sets the fixed image's normalisation default (sar: dB, ct: window, ...)"
    ),
    modality_moving: Modality = typer.Option(
        None, help="as --modality-fixed, for the moving image"
    ),
    config_file: Path = typer.Option(None, "--config", help="YAML file with a RegisterConfig"),
    overrides: list[str] = typer.Option([], "--set", help=SET_HELP),
    device: str = typer.Option(None, help=DEVICE_OPTION_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="print nothing but errors"),
    as_json: bool = typer.Option(False, "--json", help="print registration.json to stdout"),
) -> None:
    """Register MOVING onto FIXED and write the products into OUT/."""
    from .pipeline import register as run_register
    from .products import save_registration

    config = _register_config(
        config_file, overrides,
        {"matcher": matcher, "transform": transform, "rotation_search": rotation_search,
         "normalization0": normalize_fixed, "normalization1": normalize_moving,
         "modality0": modality_fixed and modality_fixed.value,
         "modality1": modality_moving and modality_moving.value,
         "matcher_conf": None if device is None else {"device": device}},
    )  # fmt: skip
    image0, image1 = read_image(fixed), read_image(moving)
    with _progress(quiet or as_json) as on_stage:
        registration = run_register(image0, image1, config=config, on_stage=on_stage)
        if registration.success:
            on_stage("writing products")
            report = save_registration(
                out, registration, image0, image1, config.normalization0, config.normalization1,
                inputs={"fixed": str(fixed), "moving": str(moving)},
            )  # fmt: skip
    if as_json:
        print(json.dumps(report if registration.success else registration.to_dict(), indent=2))
    if not registration.success:
        hint = "try --rotation-search, another --matcher, or --transform similarity"
        if registration.confidence is not None:  # rated, then found too unsure
            hint = "do both images show the same scene? --set min_confidence=0 keeps it"
        raise RegistrationError(
            f"registration failed: {registration.reason}; nothing written ({hint})"
        )
    if not quiet and not as_json:
        _print_summary(registration, out)


def _print_summary(registration: Any, out: Path) -> None:
    rmse = f"{registration.rmse:.2f} px" if registration.rmse is not None else "n/a"
    trust = ""
    if registration.confidence is not None:
        trust = f"; {describe(registration.confidence)}"
    print(
        f"{registration.transform.value}: {registration.num_inliers} inliers of "
        f"{registration.num_matches} matches (RMSE {rmse}, rotation "
        f"{registration.rotation_degrees}°, matcher {registration.matcher}{trust}) -> {out}/"
    )


@app.command()
@_reports_errors
def match(
    fixed: Path = typer.Argument(..., help="image 0"),
    moving: Path = typer.Argument(..., help="image 1"),
    out: Path = typer.Option(..., "--out", "-o", help="CSV file: x0,y0,x1,y1,confidence"),
    matcher: str = typer.Option(None, "--matcher", "-m", help=MATCHER_HELP),
    overrides: list[str] = typer.Option([], "--set", help="matcher config override KEY=VALUE"),
    device: str = typer.Option(None, help=DEVICE_OPTION_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Match two images (no geometry) and write the correspondences as CSV."""
    from .registry import DEFAULT_MATCHER, load_matcher

    conf = parse_overrides(overrides) | ({} if device is None else {"device": device})
    matcher_object = load_matcher(matcher or DEFAULT_MATCHER, conf)
    image0, image1 = read_image(fixed), read_image(moving)
    with _progress(quiet) as on_stage:
        on_stage("matching")
        result = matcher_object.match(image0, image1)
    buffer = text_io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["x0", "y0", "x1", "y1", "confidence"])
    for row in zip(result.keypoints0, result.keypoints1, result.confidence, strict=True):
        writer.writerow([f"{row[0][0]:.3f}", f"{row[0][1]:.3f}", f"{row[1][0]:.3f}",
                         f"{row[1][1]:.3f}", f"{row[2]:.4f}"])  # fmt: skip
    write_atomic(out, buffer.getvalue().encode())
    if not quiet:
        print(f"{len(result)} matches ({matcher_object.name}) -> {out}")


@app.command()
@_reports_errors
def warp(
    registration_file: Path = typer.Argument(..., help="registration.json of `register`"),
    image: Path = typer.Argument(
        ..., help="an image of the moving image's size, or a CSV file with x, y columns"
    ),
    out: Path = typer.Option(..., "--out", "-o", help="output image file (.png, .tif, ...)"),
    interpolation: str = typer.Option("linear", help="linear | nearest (label maps) | cubic"),
    inverse: bool = typer.Option(
        False, "--inverse", help="IMAGE is on the fixed grid: warp it onto the moving one"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Warp IMAGE (another band of the moving image, a label map) onto the fixed image's
    grid with a saved registration, or map the x, y columns of a CSV file of points."""
    from .io import encode_image
    from .products import mapped_points_csv, read_registration

    if interpolation not in ("linear", "nearest", "cubic"):
        raise InputError(
            "--interpolation", f"unknown {interpolation!r}", "linear, nearest or cubic"
        )
    registration = read_registration(registration_file)
    if image.suffix.lower() == ".csv":
        if out.suffix.lower() != ".csv":
            raise InputError(str(out), "points are written as .csv")
        count, text = mapped_points_csv(registration, image, inverse)
        write_atomic(out, text.encode())
        if not quiet:
            pixels = "moving" if inverse else "fixed"
            print(f"{count} points of {image} mapped to {pixels}-image pixels -> {out}")
        return
    array = read_image(image)
    try:
        warped, _ = registration.warp(array, interpolation, inverse=inverse)
    except InputError as err:
        raise InputError(str(image), err.problem) from None
    write_atomic(out, encode_image(out, warped))
    if not quiet:
        height, width = warped.shape[:2]
        grid = "moving" if inverse else "fixed"
        print(f"{image} warped onto the {grid} grid ({width}×{height}) -> {out}")


@app.command(name="list")
def list_matchers() -> None:
    """Show every registered matcher and whether it can run offline here."""
    from .registry import DEFAULT_MATCHER, MATCHERS

    table = Table("name", "kind", "available", "description", box=None)
    for spec in MATCHERS.values():
        available, note = spec.availability()
        name = spec.name + (" (default)" if spec.name == DEFAULT_MATCHER else "")
        table.add_row(name, spec.kind, ("yes: " if available else "no: ") + note, spec.description)
    from .hub import WEIGHTS, weight_path

    for spec in WEIGHTS.values():
        try:
            weight_path(spec.name)
            note = "yes: weights installed, checksum verified"
        except InputError as err:
            note = f"no: {err}"
        table.add_row(spec.name, spec.kind, note, spec.description)
    Console(width=max(120, Console().width)).print(table)


@app.command()
@_reports_errors
def demo(
    out: Path = typer.Option(Path("modalign-demo"), "--out", "-o", help="output folder"),
    matcher: str = typer.Option(None, "--matcher", "-m", help=MATCHER_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Register a built-in visible / simulated-thermal pair and report the error."""
    from .demo import run_demo

    with _progress(quiet) as on_stage:
        result = run_demo(out, matcher, on_stage)
    print(result.summary())


@app.command()
@_reports_errors
def bench(
    data: list[Path] = typer.Option(
        [], "--data", "-d", help="set folder (pairs.csv layout), repeatable"
    ),
    matchers: list[str] = typer.Option(
        [], "--matcher", "-m", help="matcher name or 'all', repeatable"
    ),
    out: Path = typer.Option(
        None, "--out", "-o", help="output folder (results, summary, plots, cache)"
    ),
    limit: int = typer.Option(0, help="at most N pairs per set (0: all)"),
    categories: list[str] = typer.Option([], "--category", help="only categories containing this"),
    held_out: list[str] = typer.Option(
        [], "--held-out", help="set name: only its seeded 20% validation split (repeatable)"
    ),
    tuning: list[str] = typer.Option(
        [], "--tuning", help="set name: only the other 80%, which tuning may use (repeatable)"
    ),
    workers: int = typer.Option(1, help="parallel worker processes"),
    seed: int = typer.Option(0, help="seed of the random homographies of pre-aligned pairs"),
    overwrite: bool = typer.Option(False, help="recompute cached predictions"),
    overrides: list[str] = typer.Option([], "--set", help="registration config override KEY=VALUE"),
    precision: str = typer.Option(
        "", help="fp32 or bf16 for the learned matchers (bf16: ~2x faster on AMX CPUs)"
    ),
    device: str = typer.Option("", help=DEVICE_OPTION_HELP),
    markdown: Path = typer.Option(
        None, help="also write the results page (e.g. docs/benchmarks.md)"
    ),
    compare_runs: tuple[Path, Path] | None = typer.Option(
        None, "--compare", help="compare two bench output folders A B instead"
    ),
) -> None:
    """Score matchers on benchmark sets, or --compare two runs pair by pair."""
    from .eval.runner import compare_command, run_command

    if compare_runs:
        compare_command(*compare_runs)
        return
    if not data or not matchers or out is None:
        raise InputError("bench", "needs --data, --matcher and --out (or --compare A B)")
    options = {"limit": limit, "categories": categories, "workers": workers, "seed": seed}
    options |= {"held_out": held_out, "tuning": tuning}
    if precision not in ("", "fp32", "bf16"):
        raise InputError("--precision", f"unknown precision {precision!r}", "use fp32 or bf16")
    options |= {"overwrite": overwrite, "overrides": overrides, "markdown": markdown}
    options |= {"precision": precision, "device": device}
    run_command(data, matchers, out, show_progress=stderr.is_terminal, **options)


bench_make = typer.Typer(no_args_is_help=True, help="Generate benchmark sets.")
app.add_typer(bench_make, name="bench-make")


@bench_make.command("multi-instance")
@_reports_errors
def bench_make_multi_instance(
    out: Path = typer.Option(..., "--out", "-o", help="set folder to create"),
    pairs: int = typer.Option(20, help="number of pairs"),
    seed: int = typer.Option(0, help="random seed"),
    size: int = typer.Option(512, help="longer side of the images"),
) -> None:
    """Repeated-instance scenes, known homographies, cross-modal restyle (IMD's IMIM idea)."""
    from .eval.multi_instance import MultiInstanceConfig, write_multi_instance_set

    written = write_multi_instance_set(out, MultiInstanceConfig(pairs=pairs, seed=seed, size=size))
    print(f"{len(written)} pairs -> {out}/pairs.csv")


@app.command()
@_reports_errors
def synth(
    out: Path = typer.Option(None, "--out", "-o", help="set folder to create"),
    pairs: int = typer.Option(100, help="number of pairs"),
    seed: int = typer.Option(0, help="random seed (pair i is the same for any run length)"),
    modalities: str = typer.Option(
        "", help="comma-separated simulators (default: all; see the README)"
    ),
    size: int = typer.Option(256, help="side of the square images, px"),
    images: list[Path] = typer.Option([], "--images", help="folder of source images"),
    aligned: list[Path] = typer.Option(
        [], "--aligned", help="set with pre-aligned real pairs (training split used)"
    ),
    procedural: bool = typer.Option(False, help="add procedural scenes (default if no source)"),
    nonrigid: float = typer.Option(0.0, help="max smooth non-rigid displacement, px"),
    preview: Path = typer.Option(None, help="also write a contact sheet PNG of every modality"),
    real: Path = typer.Option(None, help="../shared/data: add a real example to each sheet row"),
    overrides: list[str] = typer.Option([], "--set", help="generator config override KEY=VALUE"),
) -> None:
    """Generate synthetic cross-modal pairs with exact dense ground truth."""
    from .data.synthetic.runner import synth_command

    options = {"size": size, "seed": seed, "warp": {"nonrigid": nonrigid}}
    if modalities:
        options["modalities"] = [m.strip() for m in modalities.split(",") if m.strip()]
    options = merge(options, parse_overrides(overrides))
    synth_command(out, pairs, options, images, aligned, procedural, preview, real,
                  show_progress=stderr.is_terminal)  # fmt: skip


from . import cli_learning  # noqa: E402, F401  (registers its commands on app)


def main() -> None:
    """Entry point with logging configured for the command line."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()
