"""Every registered matcher satisfies the MatchResult contract."""

import numpy as np
import pytest

from modalign import MATCHERS, MatchResult, load_matcher, register
from modalign.errors import ConfigError, InputError
from modalign.geometry.transforms import resize_transform, transform_points
from modalign.matchers.base import Matcher, MatcherConfig

from ..conftest import warp_to_moving

AVAILABLE = [name for name, spec in MATCHERS.items() if spec.availability()[0]]
MISSING = [name for name, spec in MATCHERS.items() if spec.missing()]


def check_contract(result: MatchResult, size0, size1):
    assert isinstance(result, MatchResult)
    assert result.keypoints0.shape == (len(result), 2) == result.keypoints1.shape
    assert result.confidence.shape == (len(result),)
    assert result.image_size0 == size0 and result.image_size1 == size1
    assert np.all((result.confidence >= 0) & (result.confidence <= 1))
    for keypoints, (width, height) in ((result.keypoints0, size0), (result.keypoints1, size1)):
        assert np.all(keypoints >= -0.5) and np.all(keypoints <= [width - 0.5, height - 0.5])


@pytest.mark.parametrize("name", AVAILABLE)
def test_contract_on_odd_sizes_and_inputs_untouched(name, camera):
    image0 = camera[3:400, 5:371].copy()  # 366 × 397: not a multiple of 8
    image1 = np.ascontiguousarray(camera[20:301, 30:333][::-1, ::-1])
    copies = image0.copy(), image1.copy()
    result = load_matcher(name).match(image0, image1)
    check_contract(result, (366, 397), (303, 281))
    np.testing.assert_array_equal(image0, copies[0])
    np.testing.assert_array_equal(image1, copies[1])


@pytest.mark.parametrize("name", AVAILABLE)
def test_featureless_images_give_a_valid_result_and_no_registration(name):
    flat = np.full((120, 90), 128, np.uint8)
    result = load_matcher(name).match(flat, flat)
    check_contract(result, (90, 120), (90, 120))
    assert len(result) == 0  # nothing to match: no invented correspondences
    registration = register(flat, flat, matcher=name)
    assert not registration.success and registration.H_1to0 is None


@pytest.mark.parametrize("name", AVAILABLE)
def test_accepts_rgb_rgba_16bit_and_float(name, astronaut):
    rgba = np.concatenate([astronaut, np.full((*astronaut.shape[:2], 1), 255, np.uint8)], -1)
    sixteen = astronaut[..., 1].astype(np.uint16) * 257
    result = load_matcher(name).match(rgba, sixteen.astype(np.float32) / 65535.0)
    check_contract(result, (512, 512), (512, 512))
    result16 = load_matcher(name).match(astronaut, sixteen)
    assert len(result16) > 20


@pytest.mark.parametrize("name", AVAILABLE)
def test_downscaled_matching_maps_back_to_original_pixels(name, camera):
    import cv2

    big = cv2.resize(camera, (900, 900), interpolation=cv2.INTER_CUBIC)
    H = np.array([[1.0, 0.0, 40.0], [0.0, 1.0, 25.0], [0.0, 0.0, 1.0]])
    moving = warp_to_moving(big, H, (800, 820))
    result = load_matcher(name, {"max_size": 400}).match(big, moving)
    error = np.linalg.norm(transform_points(H, result.keypoints1) - result.keypoints0, axis=1)
    # modalign's matches are coarse cells whose fine stage is still weak (docs/model_card.md,
    # limits): about 3 px at the working scale, i.e. 7 px here; registration refines them
    bound = 8.0 if MATCHERS[name].kind == "learned" else 3.0
    assert len(result) > 20 and np.median(error) < bound


def test_small_images_are_upsampled_to_min_size_but_never_beyond_max_size():
    image = np.zeros((100, 200), np.uint8)
    working, to_working = load_matcher("sift", {"min_size": 512})._to_working(image)
    assert working.shape == (256, 512)
    np.testing.assert_allclose(to_working, resize_transform(512 / 200, 256 / 100))
    working, _ = load_matcher("sift", {"min_size": 512, "max_size": 400})._to_working(image)
    assert working.shape == (200, 400)
    assert load_matcher("modalign").config.min_size == 512  # 256-px medical slices


class _Recorder(Matcher):
    """Returns one match at working pixel (10, 20) of both images and records the shapes."""

    def __init__(self, config):
        super().__init__(config)
        self.shapes = []

    def _match(self, image0, image1):
        self.shapes.append(image0.shape)
        point = np.array([[10.0, 20.0]])
        return point, point, np.ones(1)


def test_extra_min_sizes_pool_one_pass_per_distinct_working_size():
    config = MatcherConfig(max_size=640, min_size=512, extra_min_sizes=(384, 640))
    small = _Recorder(config)
    noise = np.random.default_rng(0).integers(0, 255, (480, 700), dtype=np.uint8)
    result = small.match(noise[:100, :200], noise[:100, :200])
    assert small.shapes == [(256, 512), (192, 384), (320, 640)]
    expected = [  # each pass's working pixel mapped back (pixel-centre origin)
        transform_points(np.linalg.inv(resize_transform(w / 200, h / 100)), [[10.0, 20.0]])[0]
        for h, w in small.shapes
    ]
    np.testing.assert_allclose(result.keypoints1, expected)
    np.testing.assert_allclose(result.keypoints0, expected)
    large = _Recorder(config)  # at or above every size: the passes coincide, one is run
    assert len(large.match(noise, noise)) == 1
    assert large.shapes == [(439, 640)]
    assert load_matcher("modalign").config.extra_min_sizes == (384, 640)


def test_a_single_pass_matcher_shares_the_matcher_and_matches_at_its_first_size():
    config = MatcherConfig(max_size=640, min_size=512, extra_min_sizes=(384, 640))
    matcher = _Recorder(config)
    quick = matcher.single_pass()
    assert quick is not matcher and quick.config.extra_min_sizes == ()
    assert matcher.config.extra_min_sizes == (384, 640)  # the original is left as it was
    noise = np.random.default_rng(0).integers(0, 255, (100, 200), dtype=np.uint8)
    assert len(quick.match(noise, noise)) == 1
    assert matcher.shapes == [(256, 512)]  # one pass, recorded by the shared state
    assert quick.single_pass() is quick  # nothing more to drop


def test_matches_in_uniform_regions_are_dropped_when_min_texture_is_set():
    noise = np.random.default_rng(0).integers(0, 255, (100, 200), dtype=np.uint8)
    half_black = noise.copy()
    half_black[:, :100] = 0  # the recorder's match at (10, 20) lies in the black half
    config = MatcherConfig(min_texture=0.01, texture_radius=8)
    assert len(_Recorder(config).match(noise, noise)) == 1
    assert len(_Recorder(config).match(noise, half_black)) == 0
    assert len(_Recorder(config).match(half_black, noise)) == 0
    assert len(_Recorder(MatcherConfig()).match(noise, half_black)) == 1  # 0: keep all
    faint = (noise // 64 + 100).astype(np.uint8)  # faint texture (std about 1.1 grey levels)
    faint[0, 0] = 255  # full range, so normalisation does not stretch it
    assert len(_Recorder(config).match(noise, faint)) == 0
    assert len(_Recorder(MatcherConfig(min_texture=0.002)).match(noise, faint)) == 1
    assert load_matcher("modalign").config.min_texture == 0.01


def test_registry_presets_and_strict_overrides():
    matcher = load_matcher("sift", {"max_keypoints": 100})
    assert matcher.config.max_keypoints == 100 and matcher.name == "sift"
    with pytest.raises(ConfigError, match="unknown key"):
        load_matcher("sift", {"max_keypoint": 100})
    with pytest.raises(InputError, match="unknown matcher"):
        load_matcher("surf")
    assert all(spec.availability()[0] for spec in MATCHERS.values() if spec.kind == "classical")


def test_shared_matchers_are_built_once_per_configuration():
    from modalign.registry import shared_matcher

    first = shared_matcher("sift", {"max_keypoints": 100})
    assert shared_matcher("sift", {"max_keypoints": 100}) is first
    assert shared_matcher("sift", {"max_keypoints": 200}).config.max_keypoints == 200
    with pytest.raises(ConfigError, match="unknown key"):
        shared_matcher("sift", {"max_keypoint": 100})


@pytest.mark.parametrize("name", MISSING or ["(all installed)"])
def test_matchers_with_missing_dependencies_fail_cleanly(name, monkeypatch):
    from modalign import registry

    if not MISSING:  # `make test` installs every extra; simulate one that is absent
        spec = registry.MatcherSpec(
            "fake", "no_such_module:Nothing", "a fake", requires=("no_such_module",), extra="peers"
        )
        monkeypatch.setitem(registry.MATCHERS, "fake", spec)
        name = "fake"
    available, note = MATCHERS[name].availability()
    assert not available and "not installed" in note and "pip install" in note
    with pytest.raises(InputError, match="pip install"):
        load_matcher(name)


def test_weight_loading_is_strict():
    import torch

    from modalign.matchers.peers import lightglue_state, load_strict

    module = torch.nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="Missing key"):
        load_strict(module, {"weight": torch.zeros(2, 2)})
    with pytest.raises(RuntimeError, match="Unexpected key"):
        load_strict(
            module, {"weight": torch.zeros(2, 2), "bias": torch.zeros(2), "extra": torch.zeros(1)}
        )
    renamed = lightglue_state(
        {"matcher.self_attn.0.Wqkv.weight": torch.zeros(1), "extractor.x": torch.zeros(1)}, 1
    )
    assert list(renamed) == ["transformers.0.self_attn.Wqkv.weight"]


@pytest.mark.parametrize("name", [n for n in AVAILABLE if MATCHERS[n].kind == "peer"][:2])
def test_peers_in_bf16_match_like_fp32(name, homography_pair):
    fixed, moving, H = homography_pair
    result = load_matcher(name, {"precision": "bf16", "max_keypoints": 1024}).match(fixed, moving)
    check_contract(result, (512, 512), (460, 420))
    errors = np.linalg.norm(transform_points(H, result.keypoints1) - result.keypoints0, axis=1)
    assert len(result) > 100 and np.median(errors) < 1.5
