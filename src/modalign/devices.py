"""Where the learned networks run: a device name of a setting, checked and resolved.

Registration runs on the CPU unless a setting names a GPU: ``matcher_conf.device`` of
the learned matchers, ``--device`` of ``modalign register``, ``match`` and ``bench``.
"""

from __future__ import annotations

import re

import torch

from .errors import ConfigError

DEVICE_HELP = "cpu, cuda, cuda:N, or auto: a GPU when torch sees one"


def torch_device(name: str, setting: str = "device") -> torch.device:
    """The torch device of ``name``: "cpu", "cuda", "cuda:N" or "auto" (the first GPU
    when torch sees one, else the CPU).

    Raises:
        ConfigError naming ``setting``: an unknown name, or a GPU that is not there.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if not re.fullmatch(r"cuda(:\d+)?", name):
        raise ConfigError(f"{setting}: unknown device {name!r} (use {DEVICE_HELP})")
    if not torch.cuda.is_available():
        raise ConfigError(f"{setting}: {name!r}, but torch sees no GPU here (use cpu or auto)")
    device = torch.device(name)
    if device.index is not None and device.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ConfigError(f"{setting}: {name!r}, but torch sees {count} GPU(s) here")
    return device
