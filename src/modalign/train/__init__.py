"""Training of the learned matcher (so far: the loss of one batch, :func:`batch_losses`)."""

from .objective import batch_losses

__all__ = ["batch_losses"]
