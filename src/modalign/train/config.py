"""Configuration of a training run of the matcher, with YAML presets.

``modalign train --preset NAME --set key=value`` builds :class:`TrainConfig` from the class
defaults, then ``modalign/configs/train_NAME.yaml``, then the overrides (strictly: unknown
keys and wrong types are errors).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

from ..config import build, load_yaml
from ..data.synthetic import SynthConfig
from ..errors import InputError
from ..losses import LossConfig
from ..models import ModelConfig
from ..teachers import TeacherConfig


@dataclass(frozen=True)
class DataConfig:
    """Where the training pairs come from (all streamed through the synthetic engine).

    Attributes:
        synth: the engine's settings (size, modalities, warps, ...).
        images: folders of ordinary images used as sources.
        aligned: real pre-aligned cross-modal sets (their training split only).
        procedural: add the procedural scene source.
        workers: DataLoader worker processes per device (0: in the training process).
    """

    synth: SynthConfig = field(default_factory=SynthConfig)
    images: tuple[str, ...] = ()
    aligned: tuple[str, ...] = ()
    procedural: bool = True
    workers: int = 1


@dataclass(frozen=True)
class ValidationConfig:
    """Periodic validation on real pairs with the benchmark's metric.

    Attributes:
        sets: benchmark set folders; a set that is also a training source (``aligned``)
            contributes its held-out split only.
        pairs: at most this many pairs per set (seeded choice).
        every: validate every this many steps (and at the end).
        threshold: success threshold in px of SR (the selection metric).
        max_size: the matcher's working resolution during validation.
    """

    sets: tuple[str, ...] = ()
    pairs: int = 16
    every: int = 1000
    threshold: float = 10.0
    max_size: int = 640


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (stored in the checkpoint).

    Attributes:
        backbone_learning_rate: learning rate of the pretrained backbone (the rest uses
            ``learning_rate``); warm-up then cosine decay to 10% over ``steps``.
        batch_size: pairs per device and step.
        precision: "fp32" or "bf16" (autocast; on CPUs with AMX about twice as fast).
        max_minutes: stop (with a checkpoint) after this long (0: no limit).
        budget_minutes: size the schedule to this many minutes of steps (a lease's
            length, say; 0: ``steps`` decides). After ``timing_steps`` steps of the run,
            ``steps`` is set from their mean time so that the cosine ends, at a tenth of
            the rate, as the budget does (the value given is only the first guess); the
            run then ends with its schedule (``max_minutes`` stays the hard stop). The
            budget counts steps only, not validation or checkpoints, summed over resumes;
            the sized schedule is kept in the checkpoint, so a resumed run continues it.
        timing_steps: steps timed before the schedule is sized (the first fifth of them,
            when the loader and caches warm up, are left out of the mean).
        threads: torch CPU threads per process (0: torch's default).
        tensorboard: also write TensorBoard event files (RUN/tensorboard).
        init: matcher weights (``.safetensors``) a new run starts from: every tensor whose
            name and shape match is copied, except those under ``init_exclude`` (e.g. keep
            the pretrained backbone); "" starts from the pretrained backbone alone. A run
            that resumes from its checkpoint ignores it.
        freeze_batchnorm: keep the backbone's batch-norm statistics (the pretrained ones)
            fixed while its weights train.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    data: DataConfig = field(default_factory=DataConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    steps: int = 100_000
    batch_size: int = 8
    learning_rate: float = 3e-4
    backbone_learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_steps: int = 500
    clip_grad: float = 1.0
    precision: Literal["fp32", "bf16"] = "fp32"
    seed: int = 0
    max_minutes: float = 0.0
    budget_minutes: float = 0.0
    timing_steps: int = 20
    threads: int = 0
    log_every: int = 20
    checkpoint_every: int = 250
    tensorboard: bool = True
    init: str = ""
    init_exclude: tuple[str, ...] = ()
    freeze_batchnorm: bool = True


def preset_names() -> list[str]:
    """Names of the shipped training presets."""
    folder = resources.files("modalign") / "configs"
    return sorted(
        p.name[len("train_") : -len(".yaml")]
        for p in folder.iterdir()
        if p.name.startswith("train_") and p.name.endswith(".yaml")
    )


def train_config(preset: str = "default", overrides: dict | None = None) -> TrainConfig:
    """The preset's configuration with ``overrides`` applied."""
    if preset not in preset_names():
        raise InputError(
            f"--preset {preset}", "unknown preset", f"known: {', '.join(preset_names())}"
        )
    path = resources.files("modalign") / "configs" / f"train_{preset}.yaml"
    return build(TrainConfig, load_yaml(str(path)), overrides or {})
