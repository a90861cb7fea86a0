"""Writers: atomic, calibrated for Fiji, previews with a correct scale bar."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from PIL import Image

from ddcsem.errors import OutputError
from ddcsem.read import read_sem
from ddcsem.report import atomic_path, scale_bar_length, write_json, write_preview_png, write_tiff


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_unwritable_folder_is_an_output_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write"):
        write_json(blocker / "sub" / "m.json", {})


def test_rgb_tiff_is_calibrated_and_reads_back(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    write_tiff(tmp_path / "x.tif", rgb, pixel_size_nm=25.0)
    with tifffile.TiffFile(tmp_path / "x.tif") as tif:
        np.testing.assert_array_equal(tif.asarray(), rgb)
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.RGB
        assert tif.imagej_metadata["unit"] == "micron"
        num, den = tif.pages[0].tags["XResolution"].value
        assert den / num == pytest.approx(0.025)  # µm per pixel


def test_uncalibrated_tiff_has_no_unit(tmp_path):
    write_tiff(tmp_path / "x.tif", np.zeros((4, 4, 3), np.uint8), pixel_size_nm=None)
    with tifffile.TiffFile(tmp_path / "x.tif") as tif:
        assert not tif.is_imagej


@pytest.mark.parametrize(("width_nm", "bar"), [(10_240, 2000), (1000, 200), (4500, 500), (52_000, 10_000)])
def test_scale_bar_length(width_nm, bar):
    assert scale_bar_length(width_nm) == bar


def test_preview_scale_bar_has_the_right_length(tmp_path):
    rgb = np.zeros((200, 400, 3), np.uint8)
    write_preview_png(tmp_path / "p.png", rgb, pixel_size_nm=10.0)  # field 4 µm -> 500 nm bar
    img = np.asarray(Image.open(tmp_path / "p.png"))
    white = np.all(img == 255, axis=-1)
    row = white.sum(axis=1).argmax()
    assert white[row].sum() == pytest.approx(50, abs=1)  # 500 nm at 10 nm/px
    assert row > 150  # bottom of the frame


def test_json_is_utf8(tmp_path):
    write_json(tmp_path / "m.json", {"unit": "µm"})
    assert json.loads((tmp_path / "m.json").read_text(encoding="utf-8")) == {"unit": "µm"}


def test_ddcsem_reads_its_own_output_calibration(tmp_path):
    write_tiff(tmp_path / "x.tif", np.dstack([np.arange(64, dtype=np.uint8).reshape(8, 8)] * 3),
                   pixel_size_nm=12.5)
    assert read_sem(tmp_path / "x.tif").pixel_size.nm == pytest.approx(12.5)
