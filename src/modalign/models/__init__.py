"""The learned cross-modal matcher, split by stage (see the issue "The learned cross-modal
matcher"): so far the backbone (:mod:`.backbone`)."""

from .backbone import Backbone, BackboneConfig, xfeat_backbone_state

__all__ = ["Backbone", "BackboneConfig", "xfeat_backbone_state"]
