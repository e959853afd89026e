"""The command line end to end in temporary folders."""

import csv
import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from modalign.cli import app
from modalign.confidence import ConfidenceModel, matcher_key
from modalign.eval.metrics import grid_error
from modalign.geometry.transforms import transform_points
from modalign.registry import shared_matcher

runner = CliRunner()
PRODUCTS = {
    "moving_registered.png",
    "checkerboard.png",
    "overlay.png",
    "matches.png",
    "registration.json",
}


@pytest.fixture(scope="module")
def pair_files(tmp_path_factory, homography_pair):
    folder = tmp_path_factory.mktemp("pair")
    fixed, moving, H = homography_pair
    cv2.imwrite(str(folder / "fixed.png"), fixed)
    cv2.imwrite(str(folder / "moving.png"), moving)
    return folder / "fixed.png", folder / "moving.png", H


def test_register_writes_exactly_the_products(tmp_path, pair_files):
    fixed, moving, H = pair_files
    out = tmp_path / "out"
    result = runner.invoke(app, ["register", str(fixed), str(moving), "-o", str(out), "-m", "sift"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == PRODUCTS
    report = json.loads((out / "registration.json").read_text())
    assert report["success"] and report["matcher"] == "sift" and report["version"]
    assert grid_error(np.array(report["H_1to0"]), H, tuple(report["image_size1"])) < 0.5
    assert set(report["timings"]) >= {"read", "match", "estimate"}
    assert report["num_inliers"] <= report["num_matches"] and report["rmse"] < 3
    registered = cv2.imread(str(out / "moving_registered.png"), cv2.IMREAD_UNCHANGED)
    assert registered.shape == (512, 512) and registered.dtype == np.uint8


def test_register_json_to_stdout_and_16bit_output(tmp_path, pair_files):
    fixed, moving, _ = pair_files
    moving16 = tmp_path / "moving16.png"
    cv2.imwrite(str(moving16), cv2.imread(str(moving), 0).astype(np.uint16) * 257)
    out = tmp_path / "out"
    args = ["register", str(fixed), str(moving16), "-o", str(out), "--json", "-t", "affine"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["transform"] == "affine"
    registered = cv2.imread(str(out / "moving_registered.png"), cv2.IMREAD_UNCHANGED)
    assert registered.dtype == np.uint16


def test_float_input_is_registered_as_tiff(tmp_path, pair_files):
    fixed, moving, _ = pair_files
    moving_float = tmp_path / "moving.tif"
    cv2.imwrite(str(moving_float), cv2.imread(str(moving), 0).astype(np.float32) * 3.5)
    out = tmp_path / "out"
    result = runner.invoke(app, ["register", str(fixed), str(moving_float), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    registered = cv2.imread(str(out / "moving_registered.tif"), cv2.IMREAD_UNCHANGED)
    assert registered.dtype == np.float32


def test_a_moving_photo_stored_sideways_registers_as_it_is_shown(tmp_path, pair_files):
    """A camera's JPEG stored turned, with an EXIF orientation that turns it back (as
    viewers show it): the transform is that of the image as shown."""
    from PIL import Image

    fixed, moving, H = pair_files
    stored = np.rot90(cv2.imread(str(moving), cv2.IMREAD_GRAYSCALE), 1)  # a quarter anticlockwise
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter clockwise: upright again
    sideways = tmp_path / "moving.jpg"
    Image.fromarray(stored).save(sideways, exif=exif.tobytes(), quality=98)
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["register", str(fixed), str(sideways), "-o", str(out), "-m", "sift"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "registration.json").read_text())
    assert tuple(report["image_size1"]) == stored.shape  # (width, height) as shown
    assert grid_error(np.array(report["H_1to0"]), H, tuple(report["image_size1"])) < 1.0


def test_match_writes_csv(tmp_path, pair_files):
    fixed, moving, H = pair_files
    out = tmp_path / "matches.csv"
    result = runner.invoke(app, ["match", str(fixed), str(moving), "-o", str(out), "-m", "orb"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) > 50 and set(rows[0]) == {"x0", "y0", "x1", "y1", "confidence"}


def test_list_shows_every_matcher_and_availability():
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0
    for name in ("rift", "sift", "orb"):
        assert name in result.stdout
    assert "built in" in result.stdout


def test_demo_reports_a_subpixel_error(tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "-o", str(out)])
    assert result.exit_code == 0, result.output
    error = float(result.stdout.split("error:")[1].split("px")[0])
    assert error < 1.0
    assert "trust:   confidence over 99% that it is within 10 px" in result.stdout
    report = json.loads((out / "registration.json").read_text())
    assert report["confidence"] > 0.99 and report["structure_sharpness"] > 0.1
    assert {"demo_fixed.png", "demo_moving.png"} | PRODUCTS == {p.name for p in out.iterdir()}


@pytest.fixture(scope="module")
def registered_pair(tmp_path_factory, pair_files):
    """registration.json of the pair (sift) and its folder of products."""
    out = tmp_path_factory.mktemp("registered") / "out"
    fixed, moving, _ = pair_files
    result = runner.invoke(app, ["register", str(fixed), str(moving), "-o", str(out), "-m", "sift"])
    assert result.exit_code == 0, result.output
    return out / "registration.json"


def test_warp_applies_a_saved_registration_to_other_images(tmp_path, pair_files, registered_pair):
    fixed, moving, H = pair_files
    warped = tmp_path / "warped.png"
    result = runner.invoke(app, ["warp", str(registered_pair), str(moving), "-o", str(warped)])
    assert result.exit_code == 0, result.output
    product = registered_pair.parent / "moving_registered.png"
    assert np.array_equal(cv2.imread(str(warped), -1), cv2.imread(str(product), -1))
    # a label map of the moving image, nearest neighbour: its labels and nothing between
    labels = tmp_path / "labels.png"
    cv2.imwrite(str(labels), (cv2.imread(str(moving), 0) > 128).astype(np.uint8) * 7)
    args = ["warp", str(registered_pair), str(labels), "-o", str(tmp_path / "l.png")]
    assert runner.invoke(app, [*args, "--interpolation", "nearest"]).exit_code == 0
    assert set(np.unique(cv2.imread(str(tmp_path / "l.png"), -1))) == {0, 7}
    # the fixed image onto the moving grid, as the true transform puts it there
    back = tmp_path / "back.tif"
    args = ["warp", str(registered_pair), str(fixed), "-o", str(back), "--inverse"]
    assert runner.invoke(app, args).exit_code == 0
    image0 = cv2.imread(str(fixed), 0).astype(np.float32)
    truth = cv2.warpPerspective(image0, np.linalg.inv(H), (460, 420), flags=cv2.INTER_LINEAR)
    inside = cv2.warpPerspective(np.ones_like(image0), np.linalg.inv(H), (460, 420)) == 1
    difference = np.abs(cv2.imread(str(back), -1).astype(np.float32) - truth)[inside]
    assert difference.mean() < 3  # gray levels of 255


def test_warp_maps_the_points_of_a_csv_file_either_way(tmp_path, registered_pair):
    H = np.array(json.loads(registered_pair.read_text())["H_1to0"])
    points = tmp_path / "landmarks.csv"
    points.write_text("name,X,y,note\nnose,10.5,20,a\neye,300,400.25,b\n")
    mapped, back = tmp_path / "mapped.csv", tmp_path / "back.csv"
    result = runner.invoke(app, ["warp", str(registered_pair), str(points), "-o", str(mapped)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(mapped.open()))
    assert rows[0] == ["name", "X", "y", "note"] and [r[0] for r in rows[1:]] == ["nose", "eye"]
    expected = transform_points(H, [[10.5, 20.0], [300.0, 400.25]])
    np.testing.assert_allclose([[float(r[1]), float(r[2])] for r in rows[1:]], expected, atol=1e-4)
    args = ["warp", str(registered_pair), str(mapped), "-o", str(back), "--inverse"]
    assert runner.invoke(app, args).exit_code == 0
    rows = list(csv.reader(back.open()))
    np.testing.assert_allclose(
        [[float(r[1]), float(r[2])] for r in rows[1:]], [[10.5, 20.0], [300.0, 400.25]], atol=1e-3
    )
    assert [r[3] for r in rows[1:]] == ["a", "b"]


def test_warp_refuses_bad_inputs_in_one_line_and_writes_nothing(
    tmp_path, pair_files, registered_pair
):
    fixed, moving, _ = pair_files
    failed = tmp_path / "failed.json"
    report = {"success": False, "reason": "too unsure", "H_1to0": None}
    failed.write_text(json.dumps({**report, "image_size0": [512, 512], "image_size1": [460, 420]}))
    (tmp_path / "corrupt.json").write_text("{not json")
    no_columns, not_numbers = tmp_path / "no_columns.csv", tmp_path / "not_numbers.csv"
    no_columns.write_text("u,v\n1,2\n")
    not_numbers.write_text("x,y\n1,2\n3,four\n")
    float_image = tmp_path / "float.tif"
    cv2.imwrite(str(float_image), np.zeros((420, 460), np.float32))
    cases = [
        ([str(registered_pair), str(fixed)], "is 512×512, the registration's moving image 460×420"),
        ([str(failed), str(moving)], "records a failed registration (too unsure)"),
        ([str(tmp_path / "corrupt.json"), str(moving)], "not a registration.json"),
        ([str(tmp_path / "missing.json"), str(moving)], "no such file"),
        ([str(registered_pair), str(float_image)], ".png cannot hold a float32 image"),
        ([str(registered_pair), str(moving), "--interpolation", "spline"], "unknown 'spline'"),
        ([str(registered_pair), str(no_columns)], "needs a header row with columns x and y"),
        ([str(registered_pair), str(not_numbers)], "line 3: x or y is not a number"),
    ]
    for arguments, message in cases:
        out = tmp_path / ("out.csv" if arguments[1].endswith(".csv") else "out.png")
        result = runner.invoke(app, ["warp", *arguments, "-o", str(out)])
        assert result.exit_code == 2, (arguments, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (arguments, lines)
        assert not out.exists() and not list(tmp_path.glob(".modalign-*"))


def _bad_inputs(folder):
    (folder / "empty.png").write_bytes(b"")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (folder / "image.gif").write_bytes(b"GIF89a")
    cv2.imwrite(str(folder / "pixel.png"), np.zeros((1, 1), np.uint8))
    nan = np.ones((64, 64), np.float32)
    nan[5, 5] = np.nan
    cv2.imwrite(str(folder / "nan.tif"), nan)
    return {
        "missing.png": "no such file",
        "empty.png": "file is empty",
        "corrupt.png": "cannot decode",
        "image.gif": "unsupported format",
        "pixel.png": "1x1 pixels",
        "nan.tif": "NaN or infinite",
    }


def test_every_bad_input_gives_one_line_exit_2_and_no_output(tmp_path, pair_files):
    fixed, _, _ = pair_files
    for name, message in _bad_inputs(tmp_path).items():
        out = tmp_path / f"out_{name}"
        result = runner.invoke(app, ["register", str(fixed), str(tmp_path / name), "-o", str(out)])
        assert result.exit_code == 2, (name, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and name in lines[0] and message in lines[0]
        assert not out.exists()


@pytest.mark.parametrize(
    "options, message",
    [
        (["-m", "surf"], "unknown matcher"),
        (["-t", "projective"], "not one of"),
        (["--set", "geometry.thresh=2"], "unknown key"),
        (["--normalize-moving", "window:1"], "unknown normalisation"),
        (["--modality-moving", "ultrasound"], "ultrasound"),
        (["--set", "confidence=missing.json"], "missing.json: not a confidence model"),
        (["--device", "gpu"], "matcher_conf.device: unknown device 'gpu'"),
        (["--device", "cuda", "-m", "sift"], "unknown key(s) device for SIFTConfig"),
    ],
)
def test_bad_options_exit_2(tmp_path, pair_files, options, message):
    fixed, moving, _ = pair_files
    out = tmp_path / "out"
    result = runner.invoke(app, ["register", str(fixed), str(moving), "-o", str(out), *options])
    assert result.exit_code == 2 and message in result.stderr
    assert not out.exists()


def test_failed_registration_exits_3_and_writes_nothing(tmp_path, pair_files):
    fixed, _, _ = pair_files
    noise = tmp_path / "noise.png"
    cv2.imwrite(str(noise), np.random.default_rng(0).integers(0, 255, (300, 300), dtype=np.uint8))
    out = tmp_path / "existing"
    out.mkdir()
    result = runner.invoke(app, ["register", str(fixed), str(noise), "-o", str(out), "-m", "sift"])
    assert result.exit_code == 3 and "registration failed" in result.stderr
    assert list(out.iterdir()) == []


def test_an_unsure_registration_exits_3_says_why_and_writes_nothing(tmp_path, pair_files):
    fixed, moving, _ = pair_files
    doubtful = tmp_path / "doubtful.json"  # rates every registration of the default matcher 5%
    key = matcher_key(shared_matcher("modalign"))
    ConfidenceModel(key, (0.0,) * 4, (1.0,) * 4, (0.0,) * 4, float(np.log(0.05 / 0.95))).save(
        doubtful
    )
    out = tmp_path / "out"
    args = ["register", str(fixed), str(moving), "-o", str(out), "--set", f"confidence={doubtful}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 3 and not out.exists()
    assert result.stderr.strip() == (
        "modalign: error: registration failed: too unsure: confidence 0.05 < 0.3; "
        "nothing written "
        "(do both images show the same scene? --set min_confidence=0 keeps it)"
    )
    kept = runner.invoke(app, [*args, "--set", "min_confidence=0"])
    assert kept.exit_code == 0 and "confidence 5% that it is within 10 px" in kept.stdout


def test_flat_images_fail_cleanly(tmp_path):
    flat = tmp_path / "flat.png"
    cv2.imwrite(str(flat), np.full((100, 100), 90, np.uint8))
    result = runner.invoke(app, ["register", str(flat), str(flat), "-o", str(tmp_path / "o")])
    assert result.exit_code == 3 and len(result.stderr.strip().splitlines()) == 1


def test_modality_option_sets_the_normalisation(tmp_path, pair_files):
    fixed, moving, _ = pair_files
    out = tmp_path / "out"
    args = [
        "register",
        str(fixed),
        str(moving),
        "-o",
        str(out),
        "-m",
        "sift",
        "--modality-moving",
        "infrared",
    ]
    result = runner.invoke(app, [*args, "--json", "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["success"]
