"""Reading images of any modality, normalising them, and writing products.

Arrays returned by :func:`read_image` keep the file's dtype and channel count, with
colour in RGB(A) order, turned upright as the file's EXIF orientation says (as image
viewers show it). Matchers work on :func:`to_float` output: float32 in [0, 1].
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from .errors import InputError
from .pseudocolour import colour_map_scalar
from .types import Modality

SUPPORTED_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
MIN_SIDE = 8
NormMethod = Literal["auto", "none", "minmax", "percentile", "db", "window"]


@dataclass(frozen=True)
class NormalizationConfig:
    """How raw intensities become [0, 1].

    Attributes:
        method: "auto" picks from the dtype and value range (uint8: /255; uint16 and
            float: percentile stretch; float with a high dynamic range, as SAR amplitude:
            dB); "none" divides by the dtype's maximum; "minmax"; "percentile" stretches
            ``percentiles``; "db" applies 10*log10 then a percentile stretch; "window"
            clips to ``window`` = (centre, width), the CT convention.
        percentiles: (low, high) percentiles for "percentile" and "db".
        window: (centre, width) for "window".
        colour_map: a colour image that renders one scalar through a colour map whose
            luminance is not monotonic (jet, rainbow: PET, SPECT, thermal palettes)
            becomes that scalar, [H, W] (:mod:`modalign.pseudocolour`); off, its
            luminance is matched, with a false contour at each crossing of the bright hue.
    """

    method: NormMethod = "auto"
    percentiles: tuple[float, float] = (1.0, 99.0)
    window: tuple[float, float] | None = None
    colour_map: bool = True

    @classmethod
    def parse(cls, spec: str, source: str = "--normalize") -> NormalizationConfig:
        """Parse ``auto``, ``none``, ``minmax``, ``db``, ``percentile[:lo,hi]``, ``window:c,w``."""
        name, _, arguments = spec.partition(":")
        name = name.strip().lower()
        try:
            values = tuple(float(v) for v in arguments.split(",")) if arguments else ()
        except ValueError:
            raise InputError(source, f"cannot read numbers in {spec!r}") from None
        if name in ("auto", "none", "minmax", "db") and not values:
            return cls(method=name)  # type: ignore[arg-type]
        if name == "percentile" and len(values) in (0, 2):
            low, high = values or (1.0, 99.0)
            if not 0 <= low < high <= 100:
                raise InputError(source, f"percentiles must satisfy 0 <= low < high <= 100: {spec}")
            return cls(method="percentile", percentiles=(low, high))
        if name == "window" and len(values) == 2 and values[1] > 0:
            return cls(method="window", window=(values[0], values[1]))
        raise InputError(
            source,
            f"unknown normalisation {spec!r}",
            "use auto, none, minmax, db, percentile[:LOW,HIGH] or window:CENTRE,WIDTH",
        )


def normalization_for(modality: Modality) -> NormalizationConfig:
    """The default normalisation of a modality: dB for SAR amplitude, a brain window
    (centre 40, width 80 HU) for CT, a 1–99 percentile stretch for thermal infrared (often
    16-bit with a narrow used range); "auto" for the others."""
    if modality is Modality.SAR:
        return NormalizationConfig(method="db")
    if modality is Modality.CT:
        return NormalizationConfig(method="window", window=(40.0, 80.0))
    if modality is Modality.INFRARED:
        return NormalizationConfig(method="percentile", percentiles=(1.0, 99.0))
    return NormalizationConfig()


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as [H, W] or [H, W, C] (RGB/RGBA order), keeping its dtype,
    upright: a camera's EXIF orientation (a phone photograph taken sideways) is applied,
    so pixel coordinates are those of the image as viewers show it.

    Raises:
        InputError: missing, unreadable, unsupported, corrupt, too small, or non-finite.
    """
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise InputError(source, "no such file")
    if path.is_dir():
        raise InputError(source, "is a directory, not an image")
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise InputError(
            source,
            f"unsupported format {path.suffix or '(no extension)'!r}",
            "use PNG, JPEG, TIFF or BMP",
        )
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as err:
        raise InputError(source, f"cannot read ({err.strerror})") from None
    if data.size == 0:
        raise InputError(source, "file is empty")
    with _opencv_silenced():  # its decoders log their complaints to stderr themselves
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise InputError(source, "cannot decode: corrupt or not really a PNG/JPEG/TIFF/BMP")
    if path.suffix.lower() in (".tif", ".tiff"):
        _check_single_page(source)
    return check_image(upright(_to_rgb(image), exif_orientation(path)), source)


def _check_single_page(source: str) -> None:
    """Refuse a TIFF that holds more than one image: a stack of bands, slices or frames
    would otherwise be registered by its first page alone. Pages a TIFF marks as a
    reduced-resolution overview or a transparency mask (a GeoTIFF's, GDAL's) belong to the
    first image and are not counted."""
    import tifffile

    try:
        with tifffile.TiffFile(source) as tiff:
            images = [p.shape for p in tiff.pages if not p.is_reduced and not p.is_mask]
    except (tifffile.TiffFileError, ValueError, OSError):  # OpenCV read its first page
        return
    if len(images) > 1:
        height, width = images[0][:2]
        raise InputError(
            source,
            f"holds {len(images)} images, not one (pages of {width}×{height}: bands or slices?)",
            "save the page to register as a file of its own",
        )


def exif_orientation(path: str | os.PathLike) -> int:
    """The EXIF orientation (1–8) that OpenCV's ``IMREAD_UNCHANGED`` decoding of this
    file leaves to apply: a JPEG's or PNG's tag; 1 for a file without one, or a TIFF
    (OpenCV's TIFF decoder turns it itself). OpenCV applies the tag to JPEG and PNG only
    when it also converts the image to 8-bit colour or gray, dropping alpha and depth.
    The EXIF block is found by walking the file's segments, and only it is parsed
    (Pillow's ``Exif``), so no image size limit applies."""
    from PIL import Image

    try:
        block = _exif_block(path)
        if block is None:
            return 1
        exif = Image.Exif()
        exif.load(block)
        orientation = exif.get(0x0112, 1)
    except Exception:  # metadata only: a block that cannot be parsed has no tag
        return 1
    return orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1


def _exif_block(path: str | os.PathLike) -> bytes | None:
    """The EXIF block of a JPEG (an APP1 segment "Exif") or PNG (an eXIf chunk), or None."""
    with open(path, "rb") as file:
        signature = file.read(8)
        if signature[:2] == b"\xff\xd8":  # JPEG: segments up to the start of the scan
            file.seek(2)
            while (marker := file.read(4))[:1] == b"\xff" and len(marker) == 4:
                kind, length = marker[1], int.from_bytes(marker[2:], "big")
                if kind in (0xDA, 0xD9):
                    return None
                data = file.read(length - 2)
                if kind == 0xE1 and data.startswith(b"Exif\x00\x00"):
                    return data
        elif signature == b"\x89PNG\r\n\x1a\n":  # PNG: chunks up to the end
            while len(header := file.read(8)) == 8 and header[4:] != b"IEND":
                length = int.from_bytes(header[:4], "big")
                if header[4:] == b"eXIf":
                    return file.read(length)
                file.seek(length + 4, os.SEEK_CUR)  # the data and its CRC
    return None


def upright(image: np.ndarray, orientation: int) -> np.ndarray:
    """An [H, W] or [H, W, C] image as EXIF ``orientation`` says it is displayed: 1 as
    stored, 2 mirrored, 3 turned half round, 4 flipped, 5 transposed, 6 turned a quarter
    clockwise, 7 transversed, 8 a quarter anticlockwise."""
    turned = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }[orientation](image)
    return turned if turned is image else np.ascontiguousarray(turned)


@contextmanager
def _opencv_silenced() -> Iterator[None]:
    """OpenCV's own logging off for the block: a corrupt file is reported once, by the
    :class:`InputError` that names it, not also by the decoder's warnings."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


def _to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 1:
        return image[..., 0]
    if image.ndim == 3 and image.shape[2] == 2:  # gray + alpha
        return image[..., 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return image


def check_image(image: np.ndarray, source: str = "image") -> np.ndarray:
    """Validate an in-memory image array: shape, size, dtype and finiteness."""
    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise InputError(source, f"expected an H×W or H×W×{{1,3,4}} image, got shape {image.shape}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise InputError(
            source, f"image is {width}x{height} pixels", f"need at least {MIN_SIDE}x{MIN_SIDE}"
        )
    if image.dtype == bool or not (
        np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)
    ):
        raise InputError(source, f"unsupported pixel type {image.dtype}")
    if np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
        raise InputError(source, "contains NaN or infinite values", "mask or fill them first")
    return image


def _stretch(values: np.ndarray, low: float, high: float) -> np.ndarray:
    if high <= low:
        return np.zeros_like(values, dtype=np.float32)
    return np.clip((values - low) / (high - low), 0.0, 1.0).astype(np.float32)


def _auto_method(image: np.ndarray) -> NormMethod:
    if image.dtype == np.uint8:
        return "none"
    if np.issubdtype(image.dtype, np.floating) and image.min() >= 0:
        positive = image[image > 0]
        if positive.size and np.percentile(positive, 99.9) > 100 * np.median(positive):
            return "db"  # amplitude data spanning decades, e.g. SAR
    return "percentile"


def to_float(image: np.ndarray, config: NormalizationConfig | None = None) -> np.ndarray:
    """Normalise intensities to float32 in [0, 1], keeping shape (alpha is dropped) unless
    the image is a colour-mapped scalar (``config.colour_map``), which comes back as [H, W].

    Args:
        image: [H, W] or [H, W, C] of any integer or float dtype.
    Returns:
        [H, W] or [H, W, 3] float32 in [0, 1].
    """
    config = config or NormalizationConfig()
    values = _normalised(image, config)
    if config.colour_map and values.ndim == 3:
        scalar = colour_map_scalar(values)
        if scalar is not None:
            return scalar
    return values


def _normalised(image: np.ndarray, config: NormalizationConfig) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    method = _auto_method(image) if config.method == "auto" else config.method
    values = image.astype(np.float32)
    if method == "none":
        scale = np.iinfo(image.dtype).max if np.issubdtype(image.dtype, np.integer) else 1.0
        return np.clip(values / scale, 0.0, 1.0)
    if method == "minmax":
        return _stretch(values, float(values.min()), float(values.max()))
    if method == "window":
        if config.window is None:
            raise InputError("normalisation", "window needs (centre, width)")
        centre, width = config.window
        return _stretch(values, centre - width / 2, centre + width / 2)
    if method == "db":
        floor = np.percentile(values[values > 0], 0.1) if (values > 0).any() else 1.0
        values = 10.0 * np.log10(np.maximum(values, floor))
    low, high = np.percentile(values, config.percentiles)
    return _stretch(values, float(low), float(high))


def to_gray(image: np.ndarray) -> np.ndarray:
    """[H, W] float32 luminance of a float [0, 1] image ([H, W] or [H, W, 3])."""
    if image.ndim == 2:
        return image.astype(np.float32, copy=False)
    return cv2.cvtColor(image.astype(np.float32, copy=False), cv2.COLOR_RGB2GRAY)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float [0, 1] to uint8 for display products."""
    scaled = np.clip(image, 0.0, 1.0)  # one float copy, then in place (large products)
    scaled *= 255.0
    return np.round(scaled, out=scaled).astype(np.uint8)


def encode_image(path: str | os.PathLike, image: np.ndarray) -> bytes:
    """Encode an RGB(A)/gray array in the format given by ``path``'s suffix: TIFF for any
    dtype, PNG for 8- and 16-bit, JPEG and BMP for 8-bit (OpenCV would silently convert
    what a format cannot hold to 8 bits; that is refused instead)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise InputError(str(path), f"cannot write {suffix or 'a file without a suffix'}",
                         "use .png, .tif, .jpg or .bmp")  # fmt: skip
    holds = {".png": (np.uint8, np.uint16), ".tif": None, ".tiff": None}.get(suffix, (np.uint8,))
    if holds is not None and image.dtype not in holds:
        raise InputError(str(path), f"{suffix} cannot hold a {image.dtype} image", "use .tif")
    array = image
    if image.ndim == 3 and image.shape[2] == 3:
        array = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        array = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA)
    ok, buffer = cv2.imencode(path.suffix, array)
    if not ok:
        raise InputError(str(path), f"cannot encode a {image.dtype} image as {path.suffix}")
    return buffer.tobytes()


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an RGB(A)/gray array; the format follows the suffix."""
    Path(path).write_bytes(encode_image(path, image))


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (a temporary file beside it, then
    renamed). Raises InputError naming ``path`` if its folder is missing or unwritable."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError(str(path), "its folder does not exist")
    try:
        handle, temporary = tempfile.mkstemp(prefix=".modalign-", dir=directory)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as err:
        raise InputError(str(path), f"cannot write ({err.strerror})") from None
