"""Device names of the learned matchers' ``device`` settings (no GPU needed)."""

import pytest
import torch

from modalign.devices import torch_device
from modalign.errors import ConfigError


def test_device_names_resolve_or_fail_naming_the_setting(monkeypatch):
    assert torch_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert torch_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"^matcher_conf.device: 'cuda', but torch sees no GPU"):
        torch_device("cuda", "matcher_conf.device")
    for name in ("gpu", "cuda:x", "CPU", ""):
        with pytest.raises(ConfigError, match=f"^--device: unknown device '{name}'"):
            torch_device(name, "--device")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert torch_device("auto") == torch.device("cuda")
    assert torch_device("cuda") == torch.device("cuda")
    assert torch_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match=r"'cuda:2', but torch sees 2 GPU"):
        torch_device("cuda:2")


def test_the_learned_matchers_take_a_device_and_refuse_onnx_on_a_gpu(monkeypatch, tmp_path):
    from modalign.matchers.learned import LearnedMatcher
    from modalign.registry import load_matcher

    assert LearnedMatcher({"backend": "torch"}).device == torch.device("cpu")
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        load_matcher("modalign", {"device": "tpu"})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(ConfigError, match="backend 'onnx', which runs on the CPU"):
        load_matcher("modalign-onnx", {"device": "cuda"})


def test_training_refuses_an_unknown_device_instead_of_training_on_the_cpu():
    from modalign.train.distributed import setup

    with pytest.raises(ConfigError, match="^--device: unknown device 'gpu'"):
        setup("gpu")
    assert setup("cpu").device == torch.device("cpu")
