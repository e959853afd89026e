"""modalign synth end to end, and the streaming dataset."""

import numpy as np
import torch
from typer.testing import CliRunner

from modalign.cli import app
from modalign.data.synthetic import PairGenerator, ProceduralSource, SynthConfig, holdout
from modalign.data.synthetic.dataset import SyntheticPairDataset
from modalign.eval.datasets import read_set
from modalign.io import read_image

runner = CliRunner()


def test_synth_writes_a_set_the_benchmark_reader_accepts(tmp_path):
    out = tmp_path / "syn"
    sheet = tmp_path / "sheet.png"
    args = ["synth", "-o", str(out), "--pairs", "6", "--seed", "2", "--size", "96",
            "--modalities", "thermal,sar,map", "--preview", str(sheet)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    pairs = read_set(out)
    assert len(pairs) == 6
    for pair in pairs:
        names = set(pair.category.split("-"))
        assert names <= {"visible", "thermal", "sar", "map"}
        truth = np.load(pair.fixed.parent / "correspondence.npz")
        assert truth["correspondence_1to0"].shape == (96, 96, 2)
        assert truth["covisible1"].dtype == bool
        moving = read_image(pair.moving)
        assert moving.dtype == (np.uint16 if pair.category.endswith("thermal") else np.uint8)
    sheet = read_image(sheet)
    assert sheet.ndim == 3 and sheet.shape[0] > 3 * 96

    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "not an empty folder" in again.stderr
    bad = runner.invoke(app, ["synth", "-o", str(tmp_path / "x"), "--modalities", "xray"])
    assert bad.exit_code == 2 and "unknown modality 'xray'" in bad.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / ".x.partial").exists()
    missing = runner.invoke(
        app, ["synth", "-o", str(tmp_path / "y"), "--images", str(tmp_path / "none")]
    )
    assert missing.exit_code == 2 and "none" in missing.stderr


def test_synth_uses_the_training_split_of_aligned_sets(tmp_path):
    aligned = tmp_path / "aligned"  # a set of pre-aligned visible/thermal pairs (H = identity)
    still = [
        f"warp.{k}=0" for k in ("rotation", "anisotropy", "shear", "perspective", "translation")
    ]
    args = ["synth", "-o", str(aligned), "--pairs", "10", "--size", "80", "--modalities",
            "thermal", "--set", "visible_fixed=1", "--set", "warp.scale=[1,1]"]  # fmt: skip
    for item in still:
        args += ["--set", item]
    assert runner.invoke(app, args).exit_code == 0
    assert all(p.pre_aligned for p in read_set(aligned))
    out = tmp_path / "o"
    result = runner.invoke(app, ["synth", "-o", str(out), "--pairs", "8", "--size", "64",
                                 "--aligned", str(aligned)])  # fmt: skip
    assert result.exit_code == 0, result.output
    pairs = read_set(out)
    assert {p.category for p in pairs} <= {"visible-infrared", "infrared-visible"}
    sources = {line.split(",")[11] for line in (out / "pairs.csv").read_text().splitlines()[1:]}
    _, validation = holdout(read_set(aligned), 0.2, seed=0)
    assert len(validation) == 2
    assert not sources & {f"modalign-synth:{p.key}" for p in validation}

    generated = tmp_path / "generated"  # pairs with homographies cannot serve as sources
    runner.invoke(app, ["synth", "-o", str(generated), "--pairs", "3", "--size", "64"])
    result = runner.invoke(app, ["synth", "-o", str(tmp_path / "x"), "--aligned", str(generated)])
    assert result.exit_code == 2 and "no pre-aligned pairs" in result.stderr


def test_dataset_streams_the_same_pairs_with_any_number_of_workers():
    generator = PairGenerator(SynthConfig(size=64), [ProceduralSource(size=128, count=4)])
    dataset = SyntheticPairDataset(generator, start=3, length=6)
    alone = list(torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=0))
    parallel = list(  # spawn: forked workers can hang on thread pools the parent has used
        torch.utils.data.DataLoader(
            dataset, batch_size=None, num_workers=2, multiprocessing_context="spawn"
        )
    )
    assert [int(s["index"]) for s in alone] == list(range(3, 9))
    by_index = {int(s["index"]): s for s in parallel}
    assert sorted(by_index) == list(range(3, 9))
    for sample in alone:
        other = by_index[int(sample["index"])]
        assert torch.equal(sample["image1"], other["image1"])
        assert sample["image0"].shape == (3, 64, 64)
        assert sample["correspondence_1to0"].shape == (64, 64, 2)
        assert sample["covisible1"].dtype == torch.bool
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=4)))
    assert batch["image0"].shape == (4, 3, 64, 64) and batch["modality1"].shape == (4,)
