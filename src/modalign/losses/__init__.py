"""Training losses of the learned matcher: matching (coarse, fine), distillation, modality."""

from .matching import (
    LossConfig,
    coarse_ground_truth,
    coarse_loss,
    distillation_loss,
    fine_loss,
    fine_targets,
)

__all__ = [
    "LossConfig",
    "coarse_ground_truth",
    "coarse_loss",
    "distillation_loss",
    "fine_loss",
    "fine_targets",
]
