"""Training of the learned matcher: configuration and presets, the objective of a batch,
the loop (one process per device, torchrun for many) and periodic validation."""

from .config import DataConfig, TrainConfig, ValidationConfig, preset_names, train_config
from .objective import batch_losses
from .trainer import train

__all__ = [
    "DataConfig",
    "TrainConfig",
    "ValidationConfig",
    "batch_losses",
    "preset_names",
    "train",
    "train_config",
]
