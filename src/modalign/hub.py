"""Weight table: name -> file shipped in the package (or a URL) + sha256; offline first.

Shipped files live in ``modalign/weights/``. A URL entry is fetched only when the file is
not already in the local cache and downloads are allowed (``MODALIGN_OFFLINE=1`` forbids
them); either way the file's sha256 must match the table. Every file is safetensors with
its model config in the metadata, so the model is rebuilt from the file, never from its name.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import InputError


@dataclass(frozen=True)
class WeightSpec:
    """One row of the weight table.

    Attributes:
        name: what users type (``--model NAME``).
        kind: what it loads into ("translator", ...).
        file: file name inside ``modalign/weights`` (shipped) or of the cached download.
        sha256: hex digest the file must have.
        description: one line for ``modalign list``.
        url: where to download it from if it is not shipped (empty: shipped only).
    """

    name: str
    kind: str
    file: str
    sha256: str
    description: str
    url: str = ""


WEIGHTS: dict[str, WeightSpec] = {
    spec.name: spec
    for spec in (
        WeightSpec(
            "v2i",
            "translator",
            "v2i.safetensors",
            "e3b734eea6421cc481738d9a209e9ad70298f69c875b70d26ad945ec9f6004b7",
            "visible -> pseudo-infrared translator (DistillMatch's V2I-GAN idea), trained on "
            "RoadScene; docs/translator.md",
        ),
        WeightSpec(
            "mri2pet",
            "translator",
            "mri2pet.safetensors",
            "36b88be752f8389422f4d83d46750c6d7bd9474ec3f1a48a331f1d8a45b9665f",
            "MRI -> PET activity translator for refining PET-MRI registrations, trained on "
            "the AANLIB tuning pairs; docs/translator.md",
        ),
        WeightSpec(
            "mri2pet-b",
            "translator",
            "mri2pet-b.safetensors",
            "1f846a964045831bd4ceec397b4402e34b689090201316e9a82d7bc52963d1a3",
            "a second MRI -> PET activity translator (mri2pet's training, another seed), "
            "averaged with it; docs/translator.md",
        ),
        WeightSpec(
            "modalign",
            "matcher",
            "modalign.safetensors",
            "0de166680668b0c1a722feabd14fce6098af971b66c1d5ba3b800623be08efd9",
            "modalign's cross-modal matcher, trained on synthetic cross-modal pairs; "
            "docs/model_card.md",
        ),
    )
}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_dir() -> Path:
    """Where downloaded weights are kept (``MODALIGN_CACHE`` or ~/.cache/modalign)."""
    return Path(os.environ.get("MODALIGN_CACHE", Path.home() / ".cache" / "modalign"))


def shipped_dir() -> Path:
    """The package's own weights folder."""
    return Path(str(resources.files("modalign") / "weights"))


def weight_path(name: str) -> Path:
    """The verified local file of weight ``name``.

    Raises:
        InputError: unknown name, file missing (and not downloadable), or checksum mismatch.
    """
    if name not in WEIGHTS:
        raise InputError(f"--model {name}", "unknown weights", f"known: {', '.join(WEIGHTS)}")
    spec = WEIGHTS[name]
    shipped = shipped_dir() / spec.file
    path = shipped if shipped.is_file() else cache_dir() / spec.file
    if not path.is_file():
        if not spec.url or os.environ.get("MODALIGN_OFFLINE") == "1":
            raise InputError(str(path), f"weights {name!r} are not installed", "reinstall modalign")
        _download(spec.url, path)
    if sha256_of(path) != spec.sha256:
        raise InputError(str(path), f"checksum of weights {name!r} does not match the table")
    return path


def _download(url: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
            while block := response.read(1 << 20):
                out.write(block)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise InputError(url, f"cannot download weights ({err})", "check the connection") from None
    partial.replace(path)


def save_safetensors(
    module, path: str | Path, config, training: dict | None = None, file_format: str = ""
) -> None:
    """Write a module's weights with its config (and how it was trained, and a format tag)
    as JSON metadata into a safetensors file, atomically."""
    from safetensors.torch import save_file

    from .config import to_dict

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in module.state_dict().items()}
    metadata = {"config": json.dumps(to_dict(config))}
    if file_format:
        metadata["format"] = file_format
    if training is not None:
        metadata["training"] = json.dumps(training)
    partial = path.with_name(f".{path.name}.partial")
    save_file(state, str(partial), metadata=metadata)
    umask = os.umask(0)
    os.umask(umask)
    partial.chmod(0o666 & ~umask)  # safetensors writes owner-only files
    partial.replace(path)


def read_metadata(path: Path) -> dict:
    """The JSON ``config`` stored in a safetensors file's metadata."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata() or {}
    if "config" not in metadata:
        raise InputError(str(path), "safetensors file without a model config in its metadata")
    return json.loads(metadata["config"])
