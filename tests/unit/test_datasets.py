"""The set reader rejects malformed input naming the file; the protocol is seeded."""

import numpy as np
import pytest

from modalign.errors import InputError
from modalign.eval.datasets import REQUIRED_COLUMNS, read_set
from modalign.eval.protocol import make_problem, pair_rng, random_homography
from modalign.geometry.estimate import _jacobian
from modalign.geometry.transforms import transform_points
from modalign.io import write_image

ROW = ["dev", "Cat/A", "p1", "visible", "infrared", "Cat/A/p1", 64, 48, 64, 48, 0, "test"]


def make_set(folder, rows=(ROW,), header=REQUIRED_COLUMNS, files=True):
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pairs.csv").write_text("\n".join(lines) + "\n")
    if files:
        pair = folder / "Cat/A/p1"
        pair.mkdir(parents=True)
        image = (np.random.default_rng(0).random((48, 64)) * 255).astype(np.uint8)
        write_image(pair / "fixed.png", image)
        write_image(pair / "moving.png", image)
        np.savetxt(pair / "H.txt", np.eye(3))
    return folder


def test_reads_a_valid_set(tmp_path):
    pairs = read_set(make_set(tmp_path / "tiny"))
    assert len(pairs) == 1 and pairs[0].key == "tiny/p1" and pairs[0].pre_aligned
    assert read_set(tmp_path / "tiny", categories=("other",)) == []


@pytest.mark.parametrize(
    "mutate, needle, message",
    [
        (lambda f: (f / "pairs.csv").unlink(), "pairs.csv", "no pairs.csv"),
        (
            lambda f: (f / "pairs.csv").write_text("split,category\ndev,x\n"),
            "pairs.csv",
            "missing column",
        ),
        (
            lambda f: (f / "pairs.csv").write_text((f / "pairs.csv").read_text() + "dev,x\n"),
            "pairs.csv:3",
            "wrong number",
        ),
        (lambda f: (f / "Cat/A/p1/moving.png").unlink(), "moving", "missing moving image"),
        (lambda f: (f / "Cat/A/p1/H.txt").write_text("1 0\n0 1\n"), "H.txt", "3x3"),
        (lambda f: (f / "Cat/A/p1/H.txt").unlink(), "H.txt", "missing ground-truth"),
    ],
    ids=["no-csv", "columns", "short-row", "no-image", "bad-H", "no-H"],
)
def test_malformed_sets_are_rejected_naming_the_file(tmp_path, mutate, needle, message):
    folder = make_set(tmp_path / "tiny")
    mutate(folder)
    with pytest.raises(InputError, match=message) as info:
        read_set(folder)
    assert needle in str(info.value)


def test_landmarks_listed_but_missing(tmp_path):
    row = ROW[:10] + [1, "test"]
    with pytest.raises(InputError, match="landmarks.csv"):
        read_set(make_set(tmp_path / "tiny", rows=(row,)))


def test_random_homography_is_deterministic_under_its_seed_and_in_range(tmp_path):
    first = random_homography(pair_rng(3, "set/p1"), 640, 480)
    assert np.array_equal(first, random_homography(pair_rng(3, "set/p1"), 640, 480))
    assert not np.allclose(first, random_homography(pair_rng(4, "set/p1"), 640, 480))
    assert not np.allclose(first, random_homography(pair_rng(3, "set/p2"), 640, 480))
    centre = np.array([319.5, 239.5])
    for seed in range(50):
        H = random_homography(pair_rng(seed, "k"), 640, 480)
        # the README's ranges, about the image centre
        moved = transform_points(H, [centre])[0] - centre
        assert abs(moved[0]) <= 0.2 * 640 + 1e-9 and abs(moved[1]) <= 0.2 * 480 + 1e-9
        jacobian = _jacobian(H, centre)
        assert 0.7 - 1e-9 <= np.sqrt(np.linalg.det(jacobian)) <= 1.4 + 1e-9
        assert abs(np.degrees(np.arctan2(jacobian[1, 0], jacobian[0, 0]))) <= 30 + 1e-9
        shift = np.array([[1, 0, centre[0] + moved[0]], [0, 1, centre[1] + moved[1]], [0, 0, 1]])
        unshift = np.array([[1, 0, -centre[0]], [0, 1, -centre[1]], [0, 0, 1]])
        centred = np.linalg.inv(shift) @ H @ np.linalg.inv(unshift)
        perspective = (
            centred[2, :2] / centred[2, 2] @ np.linalg.inv(centred[:2, :2] / centred[2, 2])
        )
        assert np.abs(perspective).max() <= 1e-3 + 1e-12
    pair = read_set(make_set(tmp_path / "tiny"))[0]
    one, two = make_problem(pair, seed=7), make_problem(pair, seed=7)
    assert np.array_equal(one.moving, two.moving) and np.array_equal(one.H_1to0, two.H_1to0)
    assert not np.allclose(one.H_1to0, np.eye(3))
