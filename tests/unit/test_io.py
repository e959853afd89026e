import cv2
import numpy as np
import pytest

from modalign.errors import InputError
from modalign.io import NormalizationConfig, read_image, to_float, write_image


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.png", None, "no such file"),
        ("missing.gif", None, "no such file"),
        ("empty.png", b"", "file is empty"),
        ("corrupt.png", b"\x89PNG not really", "cannot decode"),
        ("picture.gif", b"GIF89a", "unsupported format"),
    ],
)
def test_read_image_errors_name_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        read_image(path)
    assert str(path) in str(info.value)


def test_a_corrupt_file_is_reported_once_not_by_the_decoder_too(tmp_path, capfd):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n garbage")  # a PNG signature, then no IHDR
    with pytest.raises(InputError, match="cannot decode"):
        read_image(path)
    captured = capfd.readouterr()  # what reached the process's own stdout and stderr
    assert captured.err == "" and captured.out == ""
    level = cv2.utils.logging.getLogLevel()
    assert level != cv2.utils.logging.LOG_LEVEL_SILENT  # logging is back as it was


def test_read_image_rejects_tiny_nonfinite_and_folders(tmp_path):
    cv2.imwrite(str(tmp_path / "one.png"), np.zeros((1, 1), np.uint8))
    with pytest.raises(InputError, match="1x1 pixels"):
        read_image(tmp_path / "one.png")
    values = np.ones((20, 20), np.float32)
    values[3, 4] = np.inf
    cv2.imwrite(str(tmp_path / "inf.tif"), values)
    with pytest.raises(InputError, match="NaN or infinite"):
        read_image(tmp_path / "inf.tif")
    for folder in ("folder.png", "folder"):
        (tmp_path / folder).mkdir()
        with pytest.raises(InputError, match="is a directory"):
            read_image(tmp_path / folder)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(40 * 30, dtype=np.uint16).reshape(30, 40) * 50,
        np.random.default_rng(0).random((30, 40)).astype(np.float32),
        np.random.default_rng(1).integers(0, 255, (30, 40, 4), dtype=np.uint8),
        np.random.default_rng(2).integers(0, 255, (30, 40, 3), dtype=np.uint8),
    ],
    ids=["uint16", "float32", "rgba", "rgb"],
)
def test_read_write_round_trip_keeps_dtype_and_channels(tmp_path, array):
    path = tmp_path / ("image.tif" if array.dtype == np.float32 else "image.png")
    write_image(path, array)
    loaded = read_image(path)
    assert loaded.dtype == array.dtype and loaded.shape == array.shape
    np.testing.assert_array_equal(loaded, array)


def test_normalisation_methods():
    ramp16 = np.linspace(1000, 3000, 101, dtype=np.float64).astype(np.uint16)[None].repeat(9, 0)
    stretched = to_float(ramp16)  # auto -> percentile 1..99
    assert stretched.dtype == np.float32 and stretched.min() == 0.0 and stretched.max() == 1.0
    assert to_float(np.full((9, 9), 51, np.uint8)).max() == pytest.approx(0.2)
    sar = np.exp(np.random.default_rng(0).normal(0, 3, (50, 50))).astype(np.float32)
    db = to_float(sar)  # auto -> dB: the log compresses four decades into [0, 1]
    assert 0.3 < np.median(db) < 0.7
    ct = np.array([[-1000.0, 0.0, 40.0, 240.0, 3000.0]] * 8)
    window = to_float(ct, NormalizationConfig.parse("window:40,400"))
    np.testing.assert_allclose(window[0], [0.0, 0.4, 0.5, 1.0, 1.0], atol=1e-6)


@pytest.mark.parametrize("spec", ["window:3", "percentile:50,10", "gamma", "db:2"])
def test_normalisation_spec_errors(spec):
    with pytest.raises(InputError, match="--normalize"):
        NormalizationConfig.parse(spec)


def test_modality_defaults_choose_the_normalisation():
    from modalign.io import normalization_for
    from modalign.types import Modality

    assert normalization_for(Modality.SAR).method == "db"
    assert normalization_for(Modality.CT) == NormalizationConfig(
        method="window", window=(40.0, 80.0)
    )
    assert normalization_for(Modality.INFRARED).method == "percentile"
    assert normalization_for(Modality.VISIBLE) == NormalizationConfig()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_photo_stored_sideways_is_read_as_viewers_show_it(tmp_path, orientation):
    """A camera's EXIF orientation is applied, alpha and all: JPEG as OpenCV's own
    colour decoding turns it, PNG and TIFF as Pillow's ``exif_transpose`` does."""
    from PIL import Image, ImageOps

    rng = np.random.default_rng(orientation)
    rgb = rng.integers(0, 256, (30, 50, 3), np.uint8)
    rgba = np.dstack([rgb, rng.integers(0, 256, (30, 50), np.uint8)])
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(rgb).save(tmp_path / "photo.jpg", exif=exif.tobytes(), quality=95)
    Image.fromarray(rgba).save(tmp_path / "layer.png", exif=exif.tobytes())
    Image.fromarray(rgb).save(tmp_path / "scan.tif", tiffinfo={0x0112: orientation})

    opencv = cv2.cvtColor(cv2.imread(str(tmp_path / "photo.jpg")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(read_image(tmp_path / "photo.jpg"), opencv)
    for name in ("layer.png", "scan.tif"):
        with Image.open(tmp_path / name) as image:
            shown = np.asarray(ImageOps.exif_transpose(image))
        assert np.array_equal(read_image(tmp_path / name), shown), name
    turned = orientation >= 5
    assert read_image(tmp_path / "layer.png").shape == ((50, 30, 4) if turned else (30, 50, 4))


def test_the_orientation_of_an_image_beyond_pillows_size_limit_is_read(tmp_path, monkeypatch):
    """Only the EXIF block is parsed: Pillow's decompression-bomb limit (a warning, or an
    error at twice it) does not apply to a large photograph's orientation."""
    import warnings

    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.zeros((30, 50), np.uint8)).save(tmp_path / "large.jpg", exif=exif.tobytes())
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 1,500 pixels: over twice the limit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(tmp_path / "large.jpg").shape == (50, 30)


@pytest.mark.parametrize(
    "name, dtype, message",
    [("a.png", np.float32, ".png cannot hold a float32"), ("a.jpg", np.uint16, "cannot hold"),
     ("a.bmp", np.int16, "cannot hold"), ("a.webp", np.uint8, "cannot write .webp"),
     ("a", np.uint8, "without a suffix")],
)  # fmt: skip
def test_a_format_that_cannot_hold_the_image_is_refused_not_converted(
    tmp_path, name, dtype, message
):
    with pytest.raises(InputError, match=message):
        write_image(tmp_path / name, np.zeros((8, 8), dtype))
    assert not (tmp_path / name).exists()
    write_image(tmp_path / "a.tif", np.zeros((8, 8), dtype))  # TIFF holds every dtype


def test_a_tiff_stack_is_refused_and_a_tiff_with_overviews_or_a_mask_reads_its_image(tmp_path):
    import tifffile

    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (64, 80, 3), np.uint8)
    stack = tmp_path / "bands.tif"
    assert cv2.imwritemulti(str(stack), [image, image[..., ::-1].copy(), image // 2])
    with pytest.raises(InputError, match=r"bands\.tif: holds 3 images.*80×64.*file of its own"):
        read_image(stack)
    geotiff = tmp_path / "cog.tif"  # GDAL's layout: the image, its mask, reduced overviews
    with tifffile.TiffWriter(geotiff) as tiff:
        tiff.write(image, photometric="rgb")
        tiff.write(np.ones((64, 80), bool), subfiletype=4)
        tiff.write(image[::2, ::2], subfiletype=1, photometric="rgb")
        tiff.write(image[::4, ::4], subfiletype=1, photometric="rgb")
    np.testing.assert_array_equal(read_image(geotiff), image)
    single = tmp_path / "single.tiff"
    cv2.imwrite(str(single), image)
    np.testing.assert_array_equal(read_image(single), image[..., ::-1])  # BGR file -> RGB
