"""Frozen teachers for distillation, one interface (:class:`FrozenTeacher`): DINOv2 /
DINOv3 vision transformers (transformers), diffusion UNet features (diffusers), both from
a local checkpoint folder or, with internet, a model name, and an ImageNet MobileNetV2
that installs offline. Features can be cached on disk for a source set."""

from .base import FrozenTeacher, TeacherConfig
from .cache import FeatureCache


def load_teacher(config: TeacherConfig) -> FrozenTeacher | None:
    """The configured teacher, frozen (None for kind "none").

    Raises:
        InputError: a missing checkpoint, package or file.
    """
    if config.kind == "none":
        return None
    if config.kind == "mobilenetv2":
        from .cnn import load_cnn_teacher

        return load_cnn_teacher(config)
    if config.kind == "diffusion":
        from .diffusion import load_diffusion_teacher

        return load_diffusion_teacher(config)
    from .vit import load_vit_teacher

    return load_vit_teacher(config)


def random_teacher(kind: str = "dinov2", **sizes) -> FrozenTeacher:
    """A tiny randomly initialised teacher of ``kind`` (tests, dry runs): no files."""
    if kind == "mobilenetv2":
        from .cnn import load_cnn_teacher

        return load_cnn_teacher(TeacherConfig(kind=kind, resolution=64, **sizes), random=True)
    if kind == "diffusion":
        from .diffusion import random_diffusion_teacher

        return random_diffusion_teacher(**sizes)
    from .vit import random_vit_teacher

    return random_vit_teacher(kind, **sizes)


__all__ = ["FeatureCache", "FrozenTeacher", "TeacherConfig", "load_teacher", "random_teacher"]
