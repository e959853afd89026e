"""modalign bench and bench-make end to end on tiny generated sets."""

import json

import numpy as np
from typer.testing import CliRunner

from modalign.cli import app
from modalign.eval import bench
from modalign.eval.datasets import read_set

runner = CliRunner()


def test_multi_instance_set_is_valid_and_deterministic(tmp_path):
    for name in ("a", "b"):
        result = runner.invoke(app, ["bench-make", "multi-instance", "-o", str(tmp_path / name),
                                     "--pairs", "3", "--seed", "5", "--size", "256"])  # fmt: skip
        assert result.exit_code == 0, result.output
    pairs = read_set(tmp_path / "a")
    assert len(pairs) == 3 and not pairs[0].pre_aligned
    for a, b in zip(pairs, read_set(tmp_path / "b"), strict=True):
        assert a.moving.read_bytes() == b.moving.read_bytes()
        assert np.array_equal(a.H_1to0, b.H_1to0)
    again = runner.invoke(app, ["bench-make", "multi-instance", "-o", str(tmp_path / "a")])
    assert again.exit_code == 2 and "not an empty folder" in again.stderr


def test_bench_runs_caches_and_compares(tmp_path, monkeypatch):
    data = tmp_path / "mi"
    runner.invoke(
        app, ["bench-make", "multi-instance", "-o", str(data), "--pairs", "2", "--size", "256"]
    )
    out = tmp_path / "run"
    args = [
        "bench",
        "-d",
        str(data),
        "-m",
        "sift",
        "-m",
        "orb",
        "-o",
        str(out),
        "--markdown",
        str(tmp_path / "b.md"),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} >= {
        "results.json",
        "summary.md",
        "success_curves.png",
        "categories.png",
        "cache",
    }
    records = json.loads((out / "results.json").read_text())["records"]
    assert len(records) == 4 and {r["matcher"] for r in records} == {"sift", "orb"}
    for record in records:
        assert record["success@5"] <= record["success@10"] <= record["success@20"]
        assert (record["error"] is None) == (record["H_1to0"] is None)
    assert "| sift |" in (out / "summary.md").read_text()
    page = (tmp_path / "b.md").read_text()
    assert "modalign bench" in page and "cores" in page

    cached = sorted((out / "cache").rglob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in cached]
    result = runner.invoke(app, args)  # every prediction comes from the cache
    assert result.exit_code == 0 and [p.stat().st_mtime_ns for p in cached] == stamps
    assert len(list((out / "cache").iterdir())) == 2
    monkeypatch.setattr(bench, "package_digest", lambda: "other code")
    result = runner.invoke(app, args)  # the package changed: nothing is reused
    assert result.exit_code == 0 and len(list((out / "cache").iterdir())) == 4
    monkeypatch.undo()

    other = tmp_path / "other"
    runner.invoke(
        app,
        [
            "bench",
            "-d",
            str(data),
            "-m",
            "sift",
            "-o",
            str(other),
            "--set",
            "geometry.threshold=1.5",
            "--device",
            "cpu",
        ],
    )
    assert len(list((other / "cache").iterdir())) == 1
    meta = json.loads((other / "results.json").read_text())["meta"]
    assert meta["device"] == "cpu" and meta["command"].endswith(
        "--device cpu --seed 0 --workers 1 --out " + str(other)
    )
    result = runner.invoke(app, ["bench", "--compare", str(out), str(other)])
    assert result.exit_code == 0 and "2 pairs in common" in result.stdout
    assert "wins of B" in result.stdout and "losses of B" in result.stdout


def test_bench_usage_errors(tmp_path):
    result = runner.invoke(
        app, ["bench", "-d", str(tmp_path), "-m", "sift", "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "pairs.csv" in result.stderr
    result = runner.invoke(app, ["bench", "-m", "sift"])
    assert result.exit_code == 2 and "--data" in result.stderr
    result = runner.invoke(app, ["bench", "--compare", str(tmp_path), str(tmp_path)])
    assert result.exit_code == 2 and "results.json" in result.stderr


def test_bench_precision_device_and_threads_reach_only_learned_matchers():
    from dataclasses import replace

    from modalign.eval.bench import BenchConfig, _register_config
    from modalign.pipeline import RegisterConfig
    from modalign.registry import MATCHERS

    config = BenchConfig(data=(), matchers=("sift", "xfeat"), precision="bf16", device="cpu")
    assert _register_config(config, "sift").matcher_conf == {}
    if not MATCHERS["xfeat"].missing():
        expected = {"precision": "bf16", "device": "cpu"}
        assert _register_config(config, "xfeat").matcher_conf == expected
    assert _register_config(config, "modalign").matcher_conf == {
        "precision": "bf16",
        "device": "cpu",
    }
    parallel = BenchConfig(data=(), matchers=("modalign",), workers=2)
    assert _register_config(parallel, "modalign").matcher_conf == {"threads": 1}
    assert _register_config(parallel, "sift").matcher_conf == {}
    chosen = replace(parallel, register=RegisterConfig(matcher_conf={"threads": 2}))
    assert _register_config(chosen, "modalign").matcher_conf == {"threads": 2}


def test_bench_held_out_and_tuning_parts_split_a_set(tmp_path):
    from modalign.eval.datasets import holdout, read_set

    data = tmp_path / "mi"
    made = runner.invoke(
        app, ["bench-make", "multi-instance", "-o", str(data), "--pairs", "10", "--size", "128"]
    )
    assert made.exit_code == 0, made.output
    out = tmp_path / "run"
    args = ["bench", "-d", str(data), "-m", "orb", "-o", str(out), "--held-out", "mi"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    meta_records = json.loads((out / "results.json").read_text())
    expected = {p.pair_id for p in holdout(read_set(data))[1]}
    assert len(expected) == 2 and {r["pair_id"] for r in meta_records["records"]} == expected
    assert "--held-out mi" in meta_records["meta"]["command"]
    result = runner.invoke(app, [*args[:-1], "nope"])
    assert result.exit_code == 2 and "--held-out nope" in result.stderr
    tuned = tmp_path / "tuned"
    args = ["bench", "-d", str(data), "-m", "orb", "-o", str(tuned), "--tuning", "mi"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    tuned_records = json.loads((tuned / "results.json").read_text())["records"]
    assert {r["pair_id"] for r in tuned_records} == {p.pair_id for p in read_set(data)} - expected
    result = runner.invoke(app, [*args, "--held-out", "mi"])
    assert result.exit_code == 2 and "--tuning mi" in result.stderr
    # with --category the split is still the whole set's, not one drawn within the category
    category = next(p.category for p in read_set(data) if p.pair_id in expected)
    within = {p.pair_id for p in read_set(data, (category,)) if p.pair_id in expected}
    assert within != {p.pair_id for p in holdout(read_set(data, (category,)))[1]}
    one = tmp_path / "one"
    args = ["bench", "-d", str(data), "-m", "orb", "-o", str(one), "--held-out", "mi",
            "--category", category]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    one_records = json.loads((one / "results.json").read_text())["records"]
    assert {r["pair_id"] for r in one_records} == within


def test_register_timing_on_a_set(tmp_path):
    from modalign.models.timing import register_times

    data = tmp_path / "mi"
    made = runner.invoke(
        app, ["bench-make", "multi-instance", "-o", str(data), "--pairs", "2", "--size", "128"]
    )
    assert made.exit_code == 0, made.output
    times = register_times(str(data), pairs=5, threads=1, repeats=1)
    assert times["pairs"] == 2
    assert 0 < times["register_640x480_median_s"] <= times["register_640x480_max_s"] < 60
    # the stages of the fastest calls, in the order register runs them
    stages = [name for name in times if name.startswith("stage_")]
    assert stages[:3] == ["stage_read_s", "stage_match_s", "stage_estimate_s"]
    assert all(0 <= times[name] <= times["register_640x480_max_s"] for name in stages)
    assert times["stage_match_s"] > 0
