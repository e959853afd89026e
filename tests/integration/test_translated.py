"""Refinement through modality translators: the rendering of one image aligned with the
other by ECC (modalign.translated), on its own and inside register."""

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from modalign import RegisterConfig, register
from modalign.checks import wants_translation
from modalign.config import build, parse_overrides
from modalign.errors import ConfigError
from modalign.eval.metrics import grid_error
from modalign.geometry.estimate import GeometryConfig
from modalign.geometry.refine import RefineConfig
from modalign.geometry.transforms import resize_transform, transform_points
from modalign.matchers.base import Matcher
from modalign.translate.api import load_translator, save_translator, translate_batch
from modalign.translate.model import Translator
from modalign.translated import TranslationConfig, translated_transform
from modalign.types import TransformType

from ..conftest import head_slice_pair, similarity

SIZE1 = (180, 200)  # moving (width, height)


@pytest.fixture(scope="module")
def translator(tmp_path_factory) -> str:
    """A small untrained translator's file: its rendering keeps the image's structure in
    other intensities, as a trained one renders another modality."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("translator") / "render.safetensors"
    save_translator(Translator(), path)
    return str(path)


@pytest.fixture(scope="module")
def rendered_pair(translator):
    """A head slice (fixed), the translator's rendering of it seen from a known
    homography (moving: another modality of the same slice) and that H_1to0."""
    fixed, _, _ = head_slice_pair(SIZE1)
    return fixed, *_rendered(translator, fixed, 1)


def _rendered(translator: str, fixed: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """The translator's rendering of ``fixed``, enlarged ``scale`` times and seen from a
    known homography (the surround filled with the rendering's background), and that
    H_1to0."""
    rendering = translate_batch(load_translator(translator), [fixed])[0]
    H = similarity(8.0, 0.95, (5.0, -4.0), (100, 100))
    H[2, :2] = (2e-4, -1e-4)
    if scale != 1:
        rendering = cv2.resize(rendering, None, fx=scale, fy=scale)
        to_large = resize_transform(scale, scale)
        H = to_large @ H @ np.linalg.inv(to_large)
    size1 = (SIZE1[0] * scale, SIZE1[1] * scale)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    surround = float(rendering[0, 0])
    moving = cv2.warpPerspective(rendering, H, size1, flags=flags, borderValue=surround)
    return moving, H


def _start(H: np.ndarray) -> np.ndarray:
    """``H`` off by a few pixels, as a registration from biased matches."""
    return similarity(2.0, 1.05, (3.0, 4.0), (100, 100)) @ H


def test_the_rendering_is_aligned_with_the_other_image(translator, rendered_pair):
    fixed, moving, H = rendered_pair
    config = TranslationConfig(translators=(translator,))
    start = _start(H)
    assert grid_error(start, H, SIZE1) > 5
    refined, note = translated_transform(
        fixed, moving, start, TransformType.HOMOGRAPHY, config, RefineConfig()
    )
    assert refined is not None and grid_error(refined, H, SIZE1) < 0.3
    assert note.startswith(f"translated ({translator} rendering the fixed image, ECC correlation")
    # images twice as large, rendered and aligned at the size above (the transform is
    # mapped through the resizing)
    large = cv2.resize(fixed, None, fx=2, fy=2)
    moving2, H2 = _rendered(translator, fixed, 2)
    to_large = resize_transform(2, 2)
    start2 = to_large @ start @ np.linalg.inv(to_large)
    small = replace(config, max_size=200)
    refined, _ = translated_transform(
        large, moving2, start2, TransformType.HOMOGRAPHY, small, RefineConfig()
    )
    size2 = (SIZE1[0] * 2, SIZE1[1] * 2)
    assert grid_error(start2, H2, size2) > 10
    assert refined is not None and grid_error(refined, H2, size2) < 1.0
    # with the roles swapped the moving image is the one rendered
    back, note = translated_transform(
        moving, fixed, np.linalg.inv(start), TransformType.HOMOGRAPHY, config, RefineConfig()
    )
    assert back is not None and "rendering the moving image" in note
    assert grid_error(back, np.linalg.inv(H), fixed.shape[::-1]) < 0.3


def test_a_rendering_that_does_not_correlate_is_not_kept(translator, rendered_pair):
    fixed, _, H = rendered_pair
    noise = np.random.default_rng(1).random(SIZE1[::-1]).astype(np.float32)
    config = TranslationConfig(translators=(translator,))
    refined, note = translated_transform(
        fixed, noise, _start(H), TransformType.HOMOGRAPHY, config, RefineConfig()
    )
    assert refined is None and note.startswith("kept: ")


@pytest.mark.parametrize(("second", "averaged"), [(0.99, True), (0.5, False), (0.99, "far")])
def test_the_alignments_of_translators_that_reach_the_bar_are_averaged(
    translator, rendered_pair, monkeypatch, second, averaged
):
    """Two translators whose alignments err by opposite shifts (ECC's result given here,
    the best side of each correlating ``second`` and 0.99): the mean of the two is the
    truth; a second translator under the bar, or one farther than ``max_move``, leaves
    the first one's alignment."""
    import modalign.translated as translated

    fixed, moving, H = rendered_pair
    step = 40.0 if averaged == "far" else 3.0
    shifted = [
        similarity(0.0, 1.0, (step, -2.0), (0, 0)) @ H,
        similarity(0.0, 1.0, (-3.0, 2.0), (0, 0)) @ H,
    ]
    results = iter([(0.99, shifted[1]), (0.2, H), (second, shifted[0]), (0.2, H)])

    def ecc(template, image, warp, model, config):
        correlation, H_found = next(results)
        return correlation, np.linalg.inv(H_found)  # ECC's warp maps fixed to moving pixels

    monkeypatch.setattr(translated, "pyramid_ecc", ecc)
    config = TranslationConfig(translators=(translator, translator + "#b"), max_move=0.1)
    monkeypatch.setattr(translated, "_translator", lambda name: load_translator(translator))
    refined, note = translated_transform(
        fixed, moving, _start(H), TransformType.HOMOGRAPHY, config, RefineConfig()
    )
    assert refined is not None and "rendering the fixed image" in note
    if averaged is True:
        assert grid_error(refined, H, SIZE1) < 1e-3 and "mean of 2 translators" in note
    else:
        assert grid_error(refined, shifted[1], SIZE1) < 1e-6 and "mean" not in note


class OffMatcher(Matcher):
    """Matches on a grid, consistent with ``H_start`` (a registration a few pixels off)."""

    def __init__(self, H_start: np.ndarray):
        super().__init__()
        self.H_start = H_start

    def _match(self, image0, image1):
        points0 = np.stack(np.meshgrid(np.arange(60, 141, 10.0), np.arange(50, 151, 10.0)), -1)
        points0 = points0.reshape(-1, 2)
        points1 = transform_points(np.linalg.inv(self.H_start), points0)
        return points0, points1, np.ones(len(points0))


def _config(translator: str, **translation) -> RegisterConfig:
    """The structure maps of an image and its rendering need not agree, and a registration
    is not rated: only the translation decides (on any pair: the rendering's surround is
    not dark)."""
    return RegisterConfig(
        geometry=GeometryConfig(min_structure_correlation=0.0, transform="homography"),
        translation=TranslationConfig(translators=(translator,), **{"mode": "all", **translation}),
        rematch=replace(RegisterConfig().rematch, mode="none"),
        confidence="none",
    )


def test_register_refines_scans_through_the_translator(translator, rendered_pair):
    fixed, moving, H = rendered_pair
    matcher = OffMatcher(_start(H))
    registration = register(fixed, moving, matcher=matcher, config=_config(translator))
    assert registration.success, registration.reason
    assert "translated (" in registration.refinement
    assert "information" not in registration.refinement  # a translated scan is not refined again
    assert grid_error(registration.H_1to0, H, SIZE1) < 0.5
    assert registration.timings["translation"] > 0
    off = register(fixed, moving, matcher=matcher, config=_config(translator, mode="none"))
    assert "translat" not in off.refinement and "translation" not in off.timings


@pytest.mark.parametrize(
    ("min_structure", "structure_check", "kept"),
    [(0.3, True, True), (0.5, True, False), (0.5, False, True)],
)
def test_a_scan_refused_by_the_structure_check_is_refined_from_its_fit(
    translator, rendered_pair, min_structure, structure_check, kept
):
    """The matches' transform fails the check (correlation 0.17); the translated one
    correlates 0.37, so it passes the check at 0.3 and not at 0.5, where only the
    rendering's ECC correlation can keep it; without ``refused_scans`` the refusal
    stands untranslated."""
    fixed, moving, H = rendered_pair
    matcher = OffMatcher(similarity(2.0, 1.05, (3.0, 4.0), (100, 100)) @ H)

    def config(**translation) -> RegisterConfig:
        base = _config(translator, structure_check=structure_check, **translation)
        geometry = replace(base.geometry, min_structure_correlation=min_structure)
        return replace(base, geometry=geometry, refine=replace(base.refine, enabled=False))

    registration = register(fixed, moving, matcher=matcher, config=config())
    if kept:
        assert registration.success, registration.reason
        assert "translated (" in registration.refinement
        assert grid_error(registration.H_1to0, H, SIZE1) < 0.5
        assert 0.3 < registration.structure_correlation < 0.5
    else:
        assert not registration.success and registration.H_1to0 is None
        assert registration.reason.startswith("registered structures do not agree")
        assert "kept: registered structures do not agree" in registration.refinement
    refused = register(fixed, moving, matcher=matcher, config=config(refused_scans=False))
    assert not refused.success and "translat" not in refused.refinement


def test_the_registration_kept_is_translated_once_more(translator, rendered_pair):
    """Three ECC iterations at one level leave the translation part of the way (its
    rendering correlates 0.80, kept at a bar of 0.5, 1.75 px off); the last pass, from
    that transform, reaches the truth. With the rematch on, only the registration finally kept is
    polished, not the rematch's own."""
    fixed, moving, H = rendered_pair
    matcher = OffMatcher(_start(H))

    def config(**changes) -> RegisterConfig:
        short = {"levels": 1, "iterations": 3, "fine_iterations": 3, "min_correlation": 0.5}
        base = _config(translator, **short, **changes)
        geometry = replace(base.geometry, min_structure_correlation=1e-3)
        return replace(base, geometry=geometry, refine=replace(base.refine, enabled=False))

    once = register(fixed, moving, matcher=matcher, config=config(polish=False))
    assert once.success and "polish" not in once.refinement
    assert grid_error(once.H_1to0, H, SIZE1) > 1.0
    polished = register(fixed, moving, matcher=matcher, config=config())
    assert polished.success, polished.reason
    assert polished.refinement.startswith(f"{once.refinement}; polish: translated (")
    assert grid_error(polished.H_1to0, H, SIZE1) < 0.3
    assert polished.structure_correlation != once.structure_correlation  # measured again
    rematched = config(polish=True)
    rematched = replace(rematched, rematch=replace(rematched.rematch, mode="all"))
    again = register(fixed, moving, matcher=matcher, config=rematched)
    assert "rematched" in again.refinement and again.refinement.count("polish:") == 1
    assert again.refinement.rindex("polish:") > again.refinement.rindex("rematched")


def test_a_translated_registration_is_not_averaged_with_views(translator, rendered_pair):
    """The views of the registered frame (``RematchConfig.views``) are averaged with the
    registration kept after the rematch unless a translator refined it. In the warped
    frame the rendering's surround is lost and the rematch translates at a correlation
    of 0.77: under a bar of 0.7 the translated rematch is kept and not averaged; under
    the default bar (0.96) the untranslated rematch replaces the first registration, is
    averaged, and the last pass translates it again."""
    fixed, moving, H = rendered_pair
    matcher = OffMatcher(_start(H))

    def config(**translation) -> RegisterConfig:
        base = _config(translator, **translation)
        return replace(base, rematch=replace(base.rematch, mode="all"))

    translated = register(fixed, moving, matcher=matcher, config=config(min_correlation=0.7))
    assert translated.success and translated.translated, translated.refinement
    assert translated.to_dict()["translated"] and "rematched, " in translated.refinement
    assert "views of the registered frame" not in translated.refinement
    assert grid_error(translated.H_1to0, H, SIZE1) < 0.5
    averaged = register(fixed, moving, matcher=matcher, config=config())
    assert averaged.success and averaged.translated  # by the last pass
    assert "views of the registered frame: " in averaged.refinement
    assert "; polish: translated (" in averaged.refinement
    matched = register(fixed, moving, matcher=matcher, config=config(mode="none"))
    assert matched.success and not matched.translated
    assert "views of the registered frame: " in matched.refinement


def test_only_scans_are_translated_unless_mode_is_all(rendered_pair, camera):
    scan = rendered_pair[0]
    photo = camera[100:300, 150:350].astype(np.float32) / 255
    config = RegisterConfig()
    assert wants_translation(scan, scan, config)
    assert not wants_translation(scan, photo, config)
    everything = replace(config, translation=TranslationConfig(mode="all"))
    assert wants_translation(scan, photo, everything)
    for translation in (TranslationConfig(mode="none"), TranslationConfig(translators=())):
        assert not wants_translation(scan, scan, replace(config, translation=translation))


def test_translation_is_set_from_the_command_line():
    overrides = ["translation.mode=none", "translation.translators=[a.safetensors]"]
    config = build(RegisterConfig, parse_overrides(overrides))
    assert config.translation == TranslationConfig(mode="none", translators=("a.safetensors",))
    with pytest.raises(ConfigError, match=r"translation.min_correlation: 1.5 not in"):
        build(RegisterConfig, parse_overrides(["translation.min_correlation=1.5"]))
