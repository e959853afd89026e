"""The visible -> pseudo-infrared translator: any size, gray/RGB, strict offline weights,
a resumable training loop."""

import csv

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from modalign import hub
from modalign.cli import app
from modalign.errors import InputError
from modalign.translate import Translator, TranslatorConfig, load_translator, save_translator
from modalign.translate.api import translate_batch

runner = CliRunner()
TINY = TranslatorConfig(width=8, depth=2, residual_blocks=1)


@pytest.mark.parametrize("size", [(37, 53), (64, 64), (101, 77)])
def test_generator_runs_on_odd_sizes_and_gray_or_rgb(size):
    model = Translator(TINY).eval()
    rgb = np.random.default_rng(0).random((*size, 3), dtype=np.float32)
    gray = rgb.mean(axis=2)
    out_rgb, out_gray = translate_batch(model, [rgb, gray])
    assert out_rgb.shape == size == out_gray.shape and out_rgb.dtype == np.float32
    assert out_rgb.min() >= 0 and out_rgb.max() <= 1
    with torch.inference_mode():  # the padding does not leak: a crop of a batch is the same
        batched = model(torch.from_numpy(np.stack([rgb, rgb]).transpose(0, 3, 1, 2)))
    assert torch.allclose(batched[0, 0], torch.from_numpy(out_rgb), atol=1e-5)


def test_weights_round_trip_strictly_and_offline(tmp_path, monkeypatch):
    model = Translator(TINY)
    path = tmp_path / "tiny.safetensors"
    save_translator(model, path)
    loaded = load_translator(path)
    assert loaded.config == TINY
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key])

    from safetensors.torch import save_file

    state = dict(model.state_dict())
    state.pop(next(iter(state)))
    save_file(state, str(tmp_path / "broken.safetensors"), metadata={"config": "{}"})
    with pytest.raises(RuntimeError, match="Missing key"):
        load_translator(tmp_path / "broken.safetensors")

    monkeypatch.setenv("MODALIGN_OFFLINE", "1")
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: pytest.fail("downloaded"))
    shipped = load_translator("v2i")  # the shipped file, verified against the table
    assert isinstance(shipped, Translator)
    monkeypatch.setitem(hub.WEIGHTS, "v2i", hub.WEIGHTS["v2i"].__class__(
        "v2i", "translator", "v2i.safetensors", "0" * 64, "tampered"))  # fmt: skip
    with pytest.raises(InputError, match="checksum"):
        load_translator("v2i")


def _aligned_visible_infrared_set(path):
    args = ["synth", "-o", str(path), "--pairs", "8", "--size", "72", "--modalities", "thermal",
            "--set", "visible_fixed=1", "--set", "swap=0", "--set", "warp.scale=[1,1]"]  # fmt: skip
    for key in ("rotation", "anisotropy", "shear", "perspective", "translation"):
        args += ["--set", f"warp.{key}=0"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output


def test_training_runs_and_resumes(tmp_path):
    data, run = tmp_path / "vis_ir", tmp_path / "run"
    _aligned_visible_infrared_set(data)
    common = ["train-translator", "--data", str(data), "-o", str(run), "--set", "crop=32",
              "--set", "batch_size=2", "--set", "log_every=1", "--set", "validate_every=2",
              "--set", "model.width=8", "--set", "model.depth=2"]  # fmt: skip
    result = runner.invoke(app, [*common, "--steps", "2"])
    assert result.exit_code == 0, result.output
    checkpoint = torch.load(run / "checkpoint.pt", weights_only=True)
    assert checkpoint["step"] == 2 and (run / "best.safetensors").is_file()
    assert list((run / "samples").glob("*.png"))
    result = runner.invoke(app, [*common, "--steps", "3"])
    assert result.exit_code == 0, result.output
    steps = [int(row[0]) for row in csv.reader((run / "log.csv").open())]
    assert steps == [1, 2, 3]  # resumed at step 3, not restarted
    other = runner.invoke(app, [*common[:-4], "--steps", "4", "--set", "model.width=16"])
    assert other.exit_code == 2 and "another model config" in other.stderr


def test_another_seed_trains_on_the_benchmarks_split(tmp_path, monkeypatch):
    from modalign.translate import train as training
    from modalign.translate.data import split_pairs

    data, run = tmp_path / "vis_ir", tmp_path / "run"
    _aligned_visible_infrared_set(data)
    used = []

    def recorded(*args):
        used.append(split_pairs(*args))
        return used[-1]

    monkeypatch.setattr(training, "split_pairs", recorded)
    result = runner.invoke(app, ["train-translator", "--data", str(data), "-o", str(run),
                                 "--steps", "1", "--set", "seed=5", "--set", "crop=32",
                                 "--set", "batch_size=2", "--set", "model.width=8",
                                 "--set", "model.depth=2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    benchmark = split_pairs(data)  # holdout seed 0, as `modalign bench --held-out`
    assert [p.key for p in used[0].train] == [p.key for p in benchmark.train]
    assert [p.key for p in used[0].validation] == [p.key for p in benchmark.validation]
    assert [p.key for p in split_pairs(data, seed=5).train] != [p.key for p in benchmark.train]


def test_translate_command_on_a_file_and_a_folder(tmp_path):
    from modalign.io import read_image, write_image

    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    image = (np.random.default_rng(1).random((40, 50, 3)) * 255).astype(np.uint8)
    write_image(folder / "a.jpg", image)
    write_image(folder / "sub" / "b.png", image[..., 0])
    result = runner.invoke(app, ["translate", str(folder / "a.jpg"), "-o", str(tmp_path / "a.png")])
    assert result.exit_code == 0, result.output
    assert read_image(tmp_path / "a.png").shape == (40, 50)
    result = runner.invoke(app, ["translate", str(folder), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0 and (tmp_path / "out" / "sub" / "b.png").is_file()
    (folder / "bad.png").write_bytes(b"not an image")
    result = runner.invoke(app, ["translate", str(folder), "-o", str(tmp_path / "out2")])
    assert result.exit_code == 2 and "bad.png" in result.stderr
    assert not (tmp_path / "out2").exists()


def test_translator_is_a_modality_of_the_data_engine(tmp_path):
    from modalign.data.synthetic import PairGenerator, ProceduralSource, SynthConfig
    from modalign.translate import translator_simulator
    from modalign.types import Modality

    save_translator(Translator(TINY), tmp_path / "tiny.safetensors")
    simulator = translator_simulator(str(tmp_path / "tiny.safetensors"), "v2i")
    generator = PairGenerator(
        SynthConfig(size=64, modalities=("v2i", "sar")),
        [ProceduralSource(size=96, count=2)],
        extra_simulators={"v2i": simulator},
    )
    pair = generator.pair(0, ("visible", "v2i"))
    assert pair.modality1 is Modality.INFRARED and pair.simulator1 == "v2i"
    assert pair.image1.shape == (64, 64, 3) and pair.image1.dtype == np.float32
    assert {generator.pair(i).simulator1 for i in range(12)} <= {"visible", "v2i", "sar"}


def test_the_scan_translators_ship_in_the_weight_table():
    from modalign.translated import TranslationConfig

    slice_ = np.zeros((96, 80), np.float32)
    slice_[20:76, 16:64] = np.random.default_rng(0).random((56, 48))
    for name in TranslationConfig().translators:
        translator = load_translator(name)  # shipped, verified against the table, strict
        rendering = translate_batch(translator, [slice_])[0]
        assert rendering.shape == slice_.shape and 0 <= rendering.min() <= rendering.max() <= 1


def test_training_pairs_of_two_modalities_keep_the_sets_split(tmp_path):
    from modalign.eval.datasets import holdout, read_set
    from modalign.io import write_image
    from modalign.translate.data import load_pair, split_pairs

    rows, rng = [], np.random.default_rng(0)
    for i in range(30):
        target = ("pet", "ct")[i % 2]
        folder = tmp_path / "scans" / f"p{i:02d}"
        folder.mkdir(parents=True)
        write_image(folder / "fixed.png", (rng.random((24, 20)) * 255).astype(np.uint8))
        write_image(folder / "moving.png", np.full((24, 20, 3), 40 * (i % 2), np.uint8))
        np.savetxt(folder / "H.txt", np.eye(3))
        rows.append(f"dev,{target.upper()}-MRI,p{i:02d},mri,{target},p{i:02d},20,24,20,24,0,t")
    header = "split,category,pair_id,modality_fixed,modality_moving,path,width_fixed," \
             "height_fixed,width_moving,height_moving,has_landmarks,source"  # fmt: skip
    (tmp_path / "scans" / "pairs.csv").write_text("\n".join([header, *rows]) + "\n")
    split = split_pairs(tmp_path / "scans", test=1, source="mri", target="ct")
    train, held = holdout(read_set(tmp_path / "scans"))  # the whole set's split
    assert {p.key for p in split.train} == {p.key for p in train if p.modality_moving == "ct"}
    chosen = {p.key for p in split.validation + split.test}
    assert chosen == {p.key for p in held if p.modality_moving == "ct"} and len(split.test) == 1
    source, target = load_pair(split.train[0], "mri")
    assert source.shape == (24, 20, 3) and source.std() > 0.1  # the MRI side, as RGB
    assert target.shape == (24, 20) and np.allclose(target, 40 / 255)  # the CT side
    with pytest.raises(InputError, match="pre-aligned mri/sar pairs"):
        split_pairs(tmp_path / "scans", source="mri", target="sar")
