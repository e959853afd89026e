"""Frozen teachers for distillation: DINOv2 / DINOv3 vision transformers (transformers),
from a local checkpoint folder or, with internet, a model name; features cacheable."""

from .vit import FeatureCache, Teacher, TeacherConfig, load_teacher

__all__ = ["FeatureCache", "Teacher", "TeacherConfig", "load_teacher"]
