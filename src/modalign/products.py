"""Writing the registration products into an output folder, all or nothing."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError
from .io import NormalizationConfig, encode_image, to_float, to_gray
from .types import Registration, TransformType
from .viz import checkerboard, draw_matches, overlay

REGISTERED_NAME = "moving_registered"
DISPLAY_PRODUCTS = ("checkerboard.png", "overlay.png", "matches.png")
JSON_NAME = "registration.json"


def registered_name(moving: np.ndarray) -> str:
    """PNG for 8/16-bit images (dtype kept); TIFF for any other dtype, e.g. float32."""
    suffix = ".png" if moving.dtype in (np.uint8, np.uint16) else ".tif"
    return REGISTERED_NAME + suffix


def render_products(
    registration: Registration,
    fixed: np.ndarray,
    moving: np.ndarray,
    normalization0: NormalizationConfig | None = None,
    normalization1: NormalizationConfig | None = None,
) -> dict[str, np.ndarray]:
    """Image products of a successful registration, by file name."""
    gray0 = to_gray(to_float(fixed, normalization0))
    gray1 = to_gray(to_float(moving, normalization1))
    warped, valid = registration.warp(moving)
    warped_gray, _ = registration.warp(gray1)
    products = {registered_name(moving): warped}
    products["checkerboard.png"] = checkerboard(gray0, warped_gray, valid)
    products["overlay.png"] = overlay(gray0, warped_gray, valid)
    matches = registration.matches
    inliers = registration.inliers
    if matches is not None and inliers is not None:
        kept = matches.subset(inliers)
        products["matches.png"] = draw_matches(gray0, gray1, kept.keypoints0, kept.keypoints1)
    return products


def write_products(
    out_dir: str | os.PathLike,
    images: dict[str, np.ndarray],
    report: dict[str, Any],
) -> list[Path]:
    """Write images and ``registration.json`` into ``out_dir`` atomically.

    Everything is encoded first and staged in a hidden folder inside ``out_dir``, then
    moved into place; on any error nothing is left behind (and a folder this call
    created is removed).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(str(out), "exists and is not a folder")
    encoded = {name: encode_image(name, image) for name, image in images.items()}
    encoded[JSON_NAME] = (json.dumps(report, indent=2) + "\n").encode()
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".modalign-", dir=out))
    except OSError as err:
        raise InputError(str(out), f"cannot create output folder ({err.strerror})") from None
    written: list[Path] = []
    try:
        for name, data in encoded.items():
            (staging / name).write_bytes(data)
        for name in encoded:
            target = out / name
            os.replace(staging / name, target)
            written.append(target)
    except OSError as err:
        for path in written:
            path.unlink(missing_ok=True)
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise InputError(str(out), f"cannot write products ({err.strerror})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def save_registration(
    out_dir: str | os.PathLike,
    registration: Registration,
    fixed: np.ndarray,
    moving: np.ndarray,
    normalization0: NormalizationConfig | None = None,
    normalization1: NormalizationConfig | None = None,
    inputs: dict[str, str] | None = None,
    extra_images: dict[str, np.ndarray] | None = None,
    extra_report: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Render and write every product of a successful registration; returns the report.

    ``extra_images`` (by file name) are written with the products, all or nothing;
    ``extra_report`` entries are added to registration.json.

    Raises:
        RegistrationError: if the registration failed (nothing is written then).
    """
    from .errors import RegistrationError

    if not registration.success:
        raise RegistrationError(f"registration failed: {registration.reason}")
    images = render_products(registration, fixed, moving, normalization0, normalization1)
    images.update(extra_images or {})
    report = registration.to_dict()
    report["inputs"] = inputs or {}
    report["products"] = sorted([*images, JSON_NAME])
    report.update(extra_report or {})
    write_products(out_dir, images, report)
    return report


def read_registration(path: str | os.PathLike) -> Registration:
    """The successful registration a ``registration.json`` records (its transform and
    image sizes, for :meth:`Registration.warp`; no matches).

    Raises:
        InputError: the file is missing, not such a report, or records a failure.
    """
    source = str(path)
    try:
        report = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(source, "no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(source, f"not a registration.json ({err})") from None
    if not isinstance(report, dict) or not {"H_1to0", "image_size0", "image_size1"} <= set(report):
        raise InputError(source, "not a registration.json (no H_1to0 and image sizes)")
    if not report.get("success") or report["H_1to0"] is None:
        raise InputError(source, f"records a failed registration ({report.get('reason')})")
    try:
        H = np.array(report["H_1to0"], dtype=np.float64)
        sizes = [tuple(int(v) for v in report[key]) for key in ("image_size0", "image_size1")]
        transform = report.get("transform")
        registration = Registration(
            success=True,
            reason=str(report.get("reason", "ok")),
            refinement=str(report.get("refinement", "")),
            matcher=str(report.get("matcher", "")),
            transform=TransformType(transform) if transform else None,
            H_1to0=H,
            num_matches=int(report.get("num_matches") or 0),
            num_inliers=int(report.get("num_inliers") or 0),
            inlier_ratio=float(report.get("inlier_ratio") or 0.0),
            rmse=report.get("rmse"),
            structure_correlation=report.get("structure_correlation"),
            rotation_degrees=int(report.get("rotation_degrees") or 0),
            image_size0=sizes[0],
            image_size1=sizes[1],
            version=str(report.get("version", "")),
            structure_sharpness=report.get("structure_sharpness"),
            confidence=report.get("confidence"),
            translated=bool(report.get("translated", False)),
        )
    except (TypeError, ValueError) as err:
        raise InputError(source, f"a field has the wrong type or value ({err})") from None
    if H.shape != (3, 3) or not np.isfinite(H).all() or abs(np.linalg.det(H)) < 1e-12:
        raise InputError(source, "H_1to0 is not an invertible 3×3 transform")
    if any(len(size) != 2 or min(size) < 1 for size in sizes):
        raise InputError(source, "image sizes must be [width, height] of positive integers")
    return registration


def mapped_points_csv(
    registration: Registration, path: str | os.PathLike, inverse: bool = False
) -> tuple[int, str]:
    """(rows, CSV text) of the CSV file ``path`` with its x and y columns (named in a
    header row; other columns kept as they are) mapped by the registration from moving
    to fixed pixels (``inverse``: the other way).

    Raises:
        InputError: the file is missing or unreadable, lacks the columns, or a row's x or
            y is not a number or maps to infinity.
    """
    try:
        rows = list(csv.reader(io.StringIO(Path(path).read_text())))
    except FileNotFoundError:
        raise InputError(str(path), "no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise InputError(str(path), f"cannot read as CSV ({err})") from None
    header = [name.strip().lower() for name in rows[0]] if rows else []
    if "x" not in header or "y" not in header:
        raise InputError(str(path), "needs a header row with columns x and y")
    x, y = header.index("x"), header.index("y")
    points = []
    for number, row in enumerate(rows[1:], start=2):
        try:
            points.append((float(row[x]), float(row[y])))
        except (IndexError, ValueError):
            raise InputError(str(path), f"line {number}: x or y is not a number") from None
    mapped = registration.map_points(np.array(points).reshape(-1, 2), inverse=inverse)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(rows[0])
    for number, (row, point) in enumerate(zip(rows[1:], mapped, strict=True), start=2):
        if not np.isfinite(point).all():
            raise InputError(str(path), f"line {number}: the point maps to infinity")
        row = list(row)
        row[x], row[y] = f"{point[0]:.4f}", f"{point[1]:.4f}"
        writer.writerow(row)
    return len(points), buffer.getvalue()
