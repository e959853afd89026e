"""The learned cross-modal matcher, split by stage: backbone (1), interaction (2-3:
modality injection, prompts, linear attention), matching (4: coarse dual-softmax, fine
refinement) and the module-tier model that chains them."""

from .backbone import Backbone, BackboneConfig, load_backbone, xfeat_backbone_state
from .checkpoint import load_model, save_model
from .model import CrossModalMatcher, ModelConfig

__all__ = [
    "Backbone",
    "BackboneConfig",
    "CrossModalMatcher",
    "ModelConfig",
    "load_backbone",
    "load_model",
    "save_model",
    "xfeat_backbone_state",
]
