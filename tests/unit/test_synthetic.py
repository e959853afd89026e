"""The synthetic data engine: exact ground truth, determinism, simulator contracts."""

from dataclasses import replace

import numpy as np
import pytest

from modalign.data.synthetic import (
    SIMULATORS,
    PairGenerator,
    ProceduralSource,
    SourceItem,
    SynthConfig,
    WarpConfig,
    holdout,
)
from modalign.data.synthetic.procedural import SCENES
from modalign.data.synthetic.renders import PETConfig, pet, uptake_region
from modalign.data.synthetic.tone import gray
from modalign.data.synthetic.warp import bilinear, pixel_grid
from modalign.errors import ConfigError
from modalign.geometry.transforms import transform_points
from modalign.pseudocolour import colour_map_scalar
from modalign.types import Modality

# simulators meant to break the intensity relation with the visible source
BREAKING = ("thermal", "sar", "depth", "map", "pet", "sketch")


class RampSource:
    """One noise-free source whose intensity is linear in x (so bilinear sampling is exact)."""

    def __len__(self):
        return 1

    def get(self, index, rng):
        x = pixel_grid(480, 384)[..., 0].astype(np.float32) / 1000
        return SourceItem((np.stack([x, x, x], -1),), (Modality.VISIBLE,), "ramp")


@pytest.mark.parametrize("nonrigid", [0.0, 6.0])
def test_dense_ground_truth_is_exact(nonrigid):
    warp = WarpConfig(nonrigid=nonrigid, nonrigid_probability=1.0)
    config = SynthConfig(modalities=("visible",), photometric=0.0, source_scale=(1.5, 1.5),
                         warp=warp, visible_fixed=1.0)  # fmt: skip
    generator = PairGenerator(config, [RampSource()])
    for index in range(5):
        pair = generator.pair(index)
        assert pair.nonrigid == (nonrigid > 0)
        resampled = bilinear(pair.image0[..., 0], pair.correspondence_1to0)
        covisible = pair.covisible1
        assert covisible.mean() >= config.min_covisible
        error_px = np.abs(resampled - pair.image1[..., 0])[covisible] * 1000
        assert error_px.max() < 0.01
        if nonrigid == 0:  # the homography is then the whole ground truth
            grid = pixel_grid(256, 256).reshape(-1, 2)
            expected = transform_points(pair.H_1to0, grid).reshape(256, 256, 2)
            assert np.abs(expected - pair.correspondence_1to0).max() < 1e-3


class BrightRampSource(RampSource):
    """The ramp lifted off zero, so that only a canvas border is black."""

    def get(self, index, rng):
        item = super().get(index, rng)
        return SourceItem((item.views[0] + 0.1,), item.modalities, item.name)


def test_a_canvas_border_is_black_and_never_covisible():
    config = SynthConfig(modalities=("visible",), photometric=0.0, source_scale=(1.0, 1.0),
                         canvas=1.0, canvas_margin=0.3, visible_fixed=1.0)  # fmt: skip
    generator = PairGenerator(config, [BrightRampSource()])
    with_border = 0
    for index in range(8):
        pair = generator.pair(index)
        black0, black1 = ((image == 0).all(-1) for image in (pair.image0, pair.image1))
        covisible = pair.covisible1
        assert covisible.mean() >= config.min_covisible
        assert not (black1 & covisible).any()
        landing = pair.correspondence_1to0[covisible].round().astype(int)
        assert not black0[landing[:, 1], landing[:, 0]].any()
        # the ground truth stays exact on what is covisible
        resampled = bilinear(pair.image0[..., 0], pair.correspondence_1to0)
        assert np.abs(resampled - pair.image1[..., 0])[covisible].max() * 1000 < 0.01
        with_border += black0.any()
    assert with_border >= 4  # the fixed windows show the border at various offsets


def test_pairs_are_deterministic_under_a_seed():
    make = lambda seed: PairGenerator(SynthConfig(seed=seed), [ProceduralSource(count=8)])  # noqa: E731
    a, b, c = make(3).pair(5), make(3).pair(5), make(4).pair(5)
    for field in ("image0", "image1", "correspondence_1to0", "covisible1", "H_1to0"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert (a.simulator0, a.simulator1) == (b.simulator0, b.simulator1)
    assert not np.array_equal(a.image1, c.image1)


@pytest.mark.parametrize("name", list(SIMULATORS))
def test_simulators_keep_shape_dtype_range_and_change_the_image(name, astronaut):
    image = astronaut.astype(np.float32) / 255
    source_gray = gray(image).ravel()
    correlations, changes = [], []
    for seed in range(6):
        out = SIMULATORS[name](image, np.random.default_rng(seed))
        assert out.shape == image.shape and out.dtype == np.float32
        assert out.min() >= 0 and out.max() <= 1 and np.isfinite(out).all()
        again = SIMULATORS[name](image, np.random.default_rng(seed))
        # OpenCV's multi-threaded filters may round the last bit differently from run to run
        assert np.allclose(out, again, rtol=0, atol=1e-6)
        correlations.append(abs(np.corrcoef(gray(out).ravel(), source_gray)[0, 1]))
        changes.append(np.abs(out - image).mean())
    if name == "visible":
        assert max(changes) == 0
    else:
        assert min(changes) > 0.02
    if name in BREAKING:
        assert np.mean(correlations) < 0.65, correlations


@pytest.mark.parametrize("scene", list(SCENES))
def test_procedural_scenes(scene):
    image = SCENES[scene](128, np.random.default_rng(0))
    assert image.shape == (128, 128, 3) and image.dtype == np.float32
    assert image.min() >= 0 and image.max() <= 1 and image.std() > 0.03


def test_modalities_are_recorded_and_unknown_names_rejected():
    generator = PairGenerator(
        SynthConfig(modalities=("thermal", "sar")), [ProceduralSource(count=4)]
    )
    pair = generator.pair(0, ("visible", "sar"))
    assert (pair.modality0, pair.modality1) == (Modality.VISIBLE, Modality.SAR)
    for index in range(20):
        pair = generator.pair(index)
        assert {pair.simulator0, pair.simulator1} <= {"visible", "thermal", "sar"}
    with pytest.raises(ConfigError, match="unknown modality"):
        PairGenerator(SynthConfig(modalities=("xray",)), [ProceduralSource(count=4)])
    with pytest.raises(ConfigError, match="looks"):
        PairGenerator(SynthConfig(simulators={"sar": {"looks": "many"}}), [ProceduralSource()])


def test_holdout_split_is_seeded_disjoint_and_order_free():
    class P:
        def __init__(self, key):
            self.key = key

    pairs = [P(f"set/{i}") for i in range(50)]
    train, validation = holdout(pairs, 0.2, seed=0)
    assert len(validation) == 10 and len(train) == 40
    assert not {p.key for p in train} & {p.key for p in validation}
    _, shuffled = holdout(pairs[::-1], 0.2, seed=0)
    assert {p.key for p in shuffled} == {p.key for p in validation}


def test_colour_mapped_renderings_reach_training_as_register_reads_them():
    # PET is colour-mapped (hot, jet or rainbow) in every rendering here; register reads a
    # jet or rainbow image as its scalar, so training must see the same: no view leaves
    # the generator as a colour map that register would have turned into its scalar
    config = SynthConfig(
        modalities=("pet",), simulators={"pet": {"colormap": 1.0}}, photometric=0.0, seed=1
    )
    generator = PairGenerator(config, [ProceduralSource(count=4)])
    scalars = 0
    for index in range(12):
        image = generator.pair(index, ("visible", "pet")).image1
        assert colour_map_scalar(image) is None
        scalars += bool(np.ptp(image, axis=2).max() == 0)
    assert scalars > 0  # some jet or rainbow renderings were turned into their scalar


def test_confined_tracer_leaves_the_outline_of_an_object_cold():
    # a bright disc on black, as a head on a scan's empty background: confined uptake stays
    # deeper than the inset inside the disc, so the activity's outline is on no edge of it
    size, radius = 256, 90
    ys, xs = np.mgrid[0:size, 0:size]
    distance = np.hypot(xs - size / 2, ys - size / 2)
    disc = np.where(distance < radius, 0.5 + 0.4 * np.sin(xs / 7.0) ** 2, 0.0)
    image = np.repeat(disc[..., None], 3, axis=2).astype(np.float32)
    config = PETConfig(confined=1.0, colormap=0.0, inset=(0.1, 0.1), counts=(1e4, 1e4))
    region = uptake_region(gray(image), 0.1, np.random.default_rng(0))
    assert region[distance < radius - 60].min() > 0.99
    assert region[distance > radius - 5].max() < 0.05  # rim of 25.6 px: none in its outer 5
    confined = gray(pet(image, config, np.random.default_rng(1)))
    free = gray(pet(image, replace(config, confined=0.0), np.random.default_rng(1)))
    rim = (distance > radius - 10) & (distance < radius - 3)
    centre = distance < radius - 40
    assert confined[rim].mean() < 0.2 * confined[centre].mean()
    assert free[rim].mean() > 0.5 * free[centre].mean()  # unconfined: the rim is as hot


def test_confined_tracer_in_a_photograph_fills_part_of_it():
    # an image filled to its borders gets an irregular blob, never the whole frame
    rng = np.random.default_rng(2)
    photo = 0.3 + 0.4 * rng.random((200, 300)).astype(np.float32)
    for seed in range(5):
        region = uptake_region(photo, 0.05, np.random.default_rng(seed))
        assert region.shape == photo.shape and region.dtype == np.float32
        assert 0.1 < (region > 0.5).mean() < 0.8
        border = np.concatenate([region[0], region[-1], region[:, 0], region[:, -1]])
        assert (border < 0.5).mean() > 0.5  # most of the frame's border stays cold
