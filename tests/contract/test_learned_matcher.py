"""The learned matcher at the user tier (torch and ONNX Runtime backends) and its export."""

import importlib.util

import numpy as np
import pytest
import torch

from modalign.errors import InputError
from modalign.models import save_model

from .test_models import tiny_model

HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_model(tiny_model(coarse_threshold=0.001), path)
    return path


def test_torch_backend_through_the_matcher_interface(weights, pair):
    from modalign.matchers.learned import LearnedMatcher

    matcher = LearnedMatcher({"weights": str(weights)})
    result = matcher.match(*pair)
    assert len(result.keypoints0) > 0
    assert result.keypoints0.shape == result.keypoints1.shape and result.keypoints0.shape[1] == 2
    assert np.all(result.confidence > 0.001) and np.all(result.confidence <= 1)
    assert np.all(result.keypoints1 >= -0.5) and np.all(result.keypoints1[:, 0] <= 149.5)
    blank = matcher.match(np.zeros((64, 64), np.uint8), np.zeros((64, 64), np.uint8))
    assert blank.keypoints0.shape[1] == 2  # uniform images: whatever it finds is well-formed
    with pytest.raises(InputError, match="no such matcher weights"):
        LearnedMatcher({"weights": "missing.safetensors"})


@pytest.mark.skipif(not HAS_ONNX, reason="needs the onnx extra")
def test_onnx_export_matches_torch_within_a_tenth_of_a_pixel(weights, pair, tmp_path):
    from modalign.matchers.learned import LearnedMatcher
    from modalign.models.export import export_onnx

    model = tiny_model(coarse_threshold=0.001)
    path = export_onnx(model, tmp_path / "m.onnx")
    # native sizes (no upsampling): image sizes other than the export example, both orders,
    # run through the same graph
    conf = {"weights": str(weights), "min_size": 0}
    torch_matcher = LearnedMatcher({**conf, "backend": "torch"})
    onnx_matcher = LearnedMatcher({**conf, "backend": "onnx", "onnx": str(path)})
    assert_same_matches(
        torch_matcher, onnx_matcher, (pair, pair[::-1], (pair[0][:, :120], pair[1][5:]))
    )


def assert_same_matches(torch_matcher, onnx_matcher, image_pairs, confidence_rtol=0.0):
    """Both backends find the same coarse cells, refined to within 0.1 px, with confidences
    within 1e-4 (and ``confidence_rtol``)."""
    for images in image_pairs:
        torch_result, onnx_result = torch_matcher.match(*images), onnx_matcher.match(*images)
        found = {tuple(k): i for i, k in enumerate(np.round(onnx_result.keypoints0, 3))}
        common = [(i, found[tuple(k)]) for i, k in enumerate(np.round(torch_result.keypoints0, 3))
                  if tuple(k) in found]  # fmt: skip
        assert len(common) >= 0.98 * max(len(torch_result), len(onnx_result)) > 0
        a, b = (np.array(i) for i in zip(*common, strict=True))
        assert np.abs(torch_result.keypoints1[a] - onnx_result.keypoints1[b]).max() < 0.1
        assert np.allclose(
            torch_result.confidence[a], onnx_result.confidence[b], confidence_rtol, atol=1e-4
        )


@pytest.mark.skipif(not HAS_ONNX, reason="needs the onnx extra")
def test_onnx_backend_exports_into_the_cache_once(weights, pair, tmp_path, monkeypatch):
    from modalign.matchers.learned import LearnedMatcher

    monkeypatch.setenv("MODALIGN_CACHE", str(tmp_path))
    assert LearnedMatcher({"weights": str(weights)}).backend == "torch"  # auto never exports
    assert LearnedMatcher({"weights": str(weights), "backend": "onnx"}).backend == "onnx"
    files = list((tmp_path / "onnx").glob("*.onnx"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    LearnedMatcher({"weights": str(weights), "backend": "onnx"})
    assert files[0].stat().st_mtime_ns == stamp
    assert LearnedMatcher({"weights": str(weights)}).backend == "onnx"  # auto finds it now
    bf16 = LearnedMatcher({"weights": str(weights), "precision": "bf16"})
    assert bf16.backend == "torch"  # ONNX Runtime runs fp32 only
    (tmp_path / "bad.onnx").write_bytes(b"junk")
    with pytest.raises(InputError, match="not a loadable ONNX"):
        LearnedMatcher(
            {"weights": str(weights), "backend": "onnx", "onnx": str(tmp_path / "bad.onnx")}
        )


def test_dense_export_path_equals_the_sparse_matching():
    from modalign.models.export import DenseMatcher, select_matches

    model = tiny_model(coarse_threshold=0.001)
    image0, image1 = torch.rand(1, 1, 70, 90), torch.rand(1, 1, 64, 61)
    with torch.inference_mode():
        sparse = model({"image0": image0, "image1": image1})
        dense = [t.numpy() for t in DenseMatcher(model)(image0, image1)]
    keypoints0, keypoints1, scores = select_matches(*dense, 0.001)
    assert np.allclose(keypoints0, sparse["keypoints0"].numpy())
    assert np.allclose(keypoints1, sparse["keypoints1"].numpy(), atol=1e-4)
    assert np.allclose(scores, sparse["confidence"].numpy(), atol=1e-5)


@pytest.mark.skipif(not HAS_ONNX, reason="needs the onnx extra")
def test_the_package_ships_the_onnx_graph_of_its_default_weights(pair, tmp_path, monkeypatch):
    from modalign.hub import shipped_dir, weight_path
    from modalign.matchers.learned import LearnedMatcher, onnx_file_name

    monkeypatch.setenv("MODALIGN_CACHE", str(tmp_path))  # only the shipped graph counts
    assert (shipped_dir() / onnx_file_name(weight_path("modalign"))).is_file()
    default = LearnedMatcher()
    assert default.backend == "onnx" and not (tmp_path / "onnx").exists()
    conf = {"min_size": 0}
    assert_same_matches(
        LearnedMatcher({**conf, "backend": "torch"}), LearnedMatcher(conf), (pair, pair[::-1])
    )


@pytest.mark.skipif(not HAS_ONNX, reason="needs the onnx extra")
def test_export_into_a_folder_names_the_graph_for_the_auto_backend(weights, tmp_path):
    from typer.testing import CliRunner

    from modalign.cli import app
    from modalign.matchers.learned import onnx_file_name

    runner = CliRunner()
    result = runner.invoke(app, ["export", "--into", str(tmp_path), "--weights", str(weights)])
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.glob("*.onnx")] == [onnx_file_name(weights)]
    for options in ([], ["--into", str(tmp_path), "--onnx", str(tmp_path / "x.onnx")]):
        result = runner.invoke(app, ["export", "--weights", str(weights), *options])
        assert result.exit_code == 2 and "exactly one of --onnx" in result.stderr


def test_the_confidence_model_follows_the_weights_content_not_their_name(weights, tmp_path):
    import shutil

    from modalign.confidence import load_model, matcher_key
    from modalign.hub import WEIGHTS, weight_path
    from modalign.matchers.learned import LearnedMatcher

    shipped = load_model()
    assert shipped.matcher == f"LearnedMatcher:{WEIGHTS['modalign'].sha256[:16]}"
    copy = tmp_path / "copy.safetensors"
    shutil.copy(weight_path("modalign"), copy)
    torch_backend = {"backend": "torch"}
    assert matcher_key(LearnedMatcher(torch_backend)) == shipped.matcher
    assert matcher_key(LearnedMatcher({**torch_backend, "weights": str(copy)})) == shipped.matcher
    other = LearnedMatcher({**torch_backend, "weights": str(weights)})
    assert matcher_key(other) != shipped.matcher
    in_memory = LearnedMatcher(torch_backend, model=other.model)
    assert in_memory.weights_sha256 == "" and matcher_key(in_memory) == "LearnedMatcher:modalign"
